"""Domain actors of the call fabric: tenants, calls, the number directory,
and the gRPC servicers that front them.

``actors`` builds on ``fabric`` (the runtime, storage and edge); ``fabric`` never imports
``actors``. Actor types are named to the runtime as "module:attr" strings.
"""
