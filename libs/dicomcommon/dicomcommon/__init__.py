"""What two or more services share, arranged by role so a change finds its room:

- ``dicom``: the DICOM domain, the standard's rules (no I/O);
- ``search``: the QIDO / C-FIND query model and the SQL it compiles to;
- ``adapters``: NATS, PostgreSQL, blob storage, and the store path composed of them;
- ``web``: the HTTP plumbing every service wraps its routes in;
- ``schema``: the index schema (its migrations) and the named statements that read it;
- at this level, what every room uses: ``errors``, ``settings``, ``principal``, ``studyaccess``.

Handlers and service wiring live in the services; a module only one service uses lives there.
"""
