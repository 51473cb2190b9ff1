"""Web plumbing every HTTP service wraps its routes in: the app factory and middleware,
serving, logs, tracing, the routes table, authentication, trusted proxies, the audit
trail, multipart bodies, content negotiation, query parameters, the public base URL.

Not here: handlers (each service's own), DICOM rules (``dicom``), outside systems
(``adapters``).
"""
