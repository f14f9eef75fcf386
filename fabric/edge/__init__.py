"""The gRPC edge: TLS, credentials, role checks, error mapping, metrics, server assembly.

Generic machinery only: the servicers that turn requests into actor messages live in
``actors.api`` (``fabric`` never imports ``actors``).
"""
