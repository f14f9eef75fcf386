"""The actor runtime's machinery; the public surface is :mod:`fabric.actor`.

Modules, from the bottom up: ``clock`` (injectable time), ``placement`` (rendezvous
hashing), ``supervision`` (bounded restarts), ``mailbox`` (bounded per-actor queue),
``metrics`` (per-host Prometheus registry), ``wire`` (envelope encoding), ``host`` (the
activation table, turn scheduler, lifecycle, reminders), ``dispatch`` (local vs remote
routing, endpoints), ``local`` (the in-process system), and the Ray side: ``transport``
(batched outboxes and reply polling), ``registry`` (membership), ``ray_host`` (the Ray actor
that runs a host), ``ray_system`` (the driver's system).
"""
