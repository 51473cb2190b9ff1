-- The instance metadata also as the text it was stored as: retrieval (WADO metadata) sends it
-- as is, instead of PostgreSQL rendering jsonb to text for every read (most of a large
-- study's metadata time). The jsonb column stays for matching. Rows stored before have NULL
-- here and are read through metadata::text.
ALTER TABLE instance ADD COLUMN metadata_text text;
ALTER TABLE instance ALTER COLUMN metadata_text SET STORAGE EXTERNAL;
