-- A batch of new instances in one call: ``ingest_new_instances``, first created here, is
-- created by migration 0023 (which replaces the version a database that applied this
-- migration before has), with the statements that migration hands it from the indexer.
SELECT 1;
