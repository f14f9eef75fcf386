"""The audit log: append-only, hash-chained, one log per tenant plus one for the carrier.

Written in one place, the edge (:class:`fabric.audit.recorder.AuditRecorder`, called by
:class:`fabric.edge.interceptor.EdgeInterceptor` for every RPC), so a new service is audited
without doing anything. Entries say who, what (method, object class and id, never content),
when, from where and the outcome; :func:`fabric.audit.chain.verify_log` detects an edited,
inserted or removed entry.
"""
