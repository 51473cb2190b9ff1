-- Search order (QIDO) and the SOP Class UID of change-feed entries.

-- The order of QIDO matches (qido.ordering): studies newest first by StudyDate, StudyTime, then
-- arrival, with the UID as the last key so pages taken with an offset never repeat or skip a
-- study. The index has the order's exact shape (empty values lowest, so last when descending),
-- so a viewer's "newest 101 studies" reads 101 index entries instead of sorting the archive.

-- When the study first arrived; a study emptied by deletes and stored again arrives anew.
ALTER TABLE study ADD COLUMN created_at timestamptz;
UPDATE study st SET created_at = coalesce(
    (SELECT min(i.created_at) FROM instance i WHERE i.study_instance_uid = st.study_instance_uid),
    st.updated_at
);
ALTER TABLE study ALTER COLUMN created_at SET DEFAULT now();
ALTER TABLE study ALTER COLUMN created_at SET NOT NULL;

-- Dates and times by their first 64 characters (a real DA or TM has at most 16): a value of
-- several KB, which the index keeps whole elsewhere (0014), must not exceed an index row here.
CREATE INDEX study_newest_first ON study (
    left(study_date, 64) DESC NULLS LAST,
    left(study_time, 64) DESC NULLS LAST,
    created_at DESC NULLS LAST,
    study_instance_uid DESC NULLS LAST
);

-- An IS value kept as text (SeriesNumber, InstanceNumber) as the integer it holds, so series
-- and instances sort 1, 2, 10 rather than 1, 10, 2; NULL when it holds none (sorts lowest).
CREATE OR REPLACE FUNCTION dicom_integer(value text) RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN value ~ '^ *[+-]?[0-9]{1,18} *$' THEN btrim(value)::bigint END
$$;

-- Change-feed entries name the instance's SOP Class UID, so a consumer can pick the objects it
-- handles (say, only structured reports) without fetching metadata. Entries written before
-- carry it when their metadata does; older deletes stay without it.
ALTER TABLE change_feed ADD COLUMN sop_class_uid text;
UPDATE change_feed
SET sop_class_uid = coalesce(metadata, metadata_text::jsonb) -> '00080016' -> 'Value' ->> 0
WHERE metadata IS NOT NULL OR metadata_text IS NOT NULL;
