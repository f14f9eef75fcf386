"""The call fabric runtime: virtual actors on Ray, storage, the gRPC edge, config, metrics.

``fabric`` never imports ``actors``: the domain (tenants, calls, mailboxes, media) builds
on this package, not the other way round.
"""
