-- Change-feed metadata is only ever sent, never matched: keep it as the text it was stored
-- as, so neither the writing transaction (jsonb parsing) nor every read and push (jsonb to
-- text) pays for a conversion. Rows written before keep their jsonb copy.
ALTER TABLE change_feed ADD COLUMN metadata_text text;
ALTER TABLE change_feed ALTER COLUMN metadata_text SET STORAGE EXTERNAL;
