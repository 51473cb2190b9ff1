-- Instance metadata (often 5–50 KB of DICOM JSON) is written once per store and read whole:
-- keep it out of line but uncompressed, so PostgreSQL spends no pglz CPU on the ingest path
-- (this build has no lz4). The disk cost is small next to the blobs themselves.
ALTER TABLE instance ALTER COLUMN metadata SET STORAGE EXTERNAL;
ALTER TABLE change_feed ALTER COLUMN metadata SET STORAGE EXTERNAL;
