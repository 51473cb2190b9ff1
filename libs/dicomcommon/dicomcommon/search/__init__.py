"""Search: the QIDO / C-FIND query model (PS3.4 C.2.2.2) and the parameterized SQL it
compiles to (statement, matching, time zones, terms, the answer, order, columns,
the extended-tag catalog as searches read it).

Not here: running the statement (each service, through ``adapters.db``), the schema itself
and the named (not compiled) reads (``dicomcommon.schema``, whose test also prepares the SQL
compiled here for every typed column), and the HTTP parameters' syntax (``web.parameters``).
"""
