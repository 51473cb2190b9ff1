-- What an undeclared instance-level key reads first (``dicomcommon.search.terms.top_values``):
-- the small top-level elements of the stored metadata, kept in the row. Reading a whole
-- document costs some 5 µs of PostgreSQL CPU per instance (several KB, out of line); these,
-- about 2 KB uncompressed in the row, under 2 µs, so a key matched in 20,000 instances needs
-- ~35 ms of CPU instead of ~80-100 ms (README, QIDO).
--
-- Kept: each top-level element of at most 64 bytes as jsonb (a few values of a few
-- characters), as its tag -> its ``Value`` array exactly (``[]`` when it has none). Every
-- other element (a long value, bulk data, all but the smallest sequence) is there as tag -> JSON
-- null, a few bytes, and its values are read from the metadata itself; an element absent from
-- both is absent from the document, so a key that few instances carry (a private tag, say) is
-- answered without reading their documents either. A search answers the same whichever source
-- it read. A sequence path reads the metadata for its exact values, and starts from the
-- sequence's items here only when the whole sequence is this small.
--
-- A generated column: PostgreSQL fills it from the metadata on every insert and update
-- (stores and reindexes alike, with no change to the writers), and this migration fills it
-- for the rows already there (a rewrite of the table, ~0.5 ms per instance on a busy machine).
-- It costs ~100 µs of PostgreSQL CPU per stored instance: deriving the elements (a jsonb_each
-- of its ~80) and writing them. ``pg_column_size`` is only STABLE in the catalog, but of a
-- value jsonb_each has just built it is that value's plain size: the same for the same
-- document, so the function is immutable in fact, as a generated column requires.
CREATE FUNCTION dicom_search_elements(metadata jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT coalesce(jsonb_object_agg(key, CASE
        WHEN pg_column_size(value) > 64 THEN 'null'::jsonb
        WHEN value ? 'Value' THEN value -> 'Value'
        WHEN value ?| ARRAY['BulkDataURI', 'InlineBinary'] THEN 'null'::jsonb
        ELSE '[]'::jsonb
    END), '{}'::jsonb)
    FROM jsonb_each(metadata)
$$;

-- Kept in the row, uncompressed: a row whose values reach 4 KB is not toasted until the
-- metadata has gone out of line (it is EXTERNAL, 0004), so the elements stay beside the typed
-- columns and cost no pglz on a store nor on a read.
ALTER TABLE instance
    SET (toast_tuple_target = 4096),
    ADD COLUMN search_elements jsonb GENERATED ALWAYS AS (dicom_search_elements(metadata)) STORED,
    ALTER COLUMN search_elements SET STORAGE MAIN;
