"""The actor runtime's machinery; the public surface is :mod:`fabric.actor`.

Time comes from the public :mod:`fabric.clock`, stores from :mod:`fabric.storage.factory`.
Modules, from the bottom up: ``placement`` (rendezvous hashing), ``supervision`` (bounded
restarts), ``mailbox`` (bounded per-actor queue), ``metrics`` (per-host Prometheus
registry), ``wire`` (envelope encoding), ``loader`` (actor types and services named by
"module:attr"), ``endpoint`` (in-process inboxes), ``context`` (an activation's
``ActorContext``), ``host`` (``ActorHost``: the activation
table, turn scheduler, lifecycle, reminders), ``local`` (the in-process system), and the
Ray side: ``transport`` (batched outboxes and reply polling), ``registry`` (membership),
``process`` (``ProcessRouter``: routes a process's messages by placement), ``ray_host``
(``RayHostWorker``: the Ray actor that runs an ``ActorHost``), ``ray_system`` (the driver's
system).
"""
