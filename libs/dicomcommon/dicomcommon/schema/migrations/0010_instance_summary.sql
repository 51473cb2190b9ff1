-- What every QIDO-RS instance match returns apart from the computed attributes (PS3.18 Table
-- 10.6.3-5), as the text of the members of a DICOM JSON object, without its braces: a search
-- appends it to the computed members as it is, so listing a 1,000-instance series turns no
-- jsonb into text. It replaces ``attributes`` (0009). Rows indexed before are filled from
-- ``attributes`` or, older still, from the metadata.
ALTER TABLE instance ADD COLUMN summary text;

UPDATE instance SET summary = (
    SELECT substr(doc::text, 2, length(doc::text) - 2)
    FROM (
        SELECT coalesce(
            instance.attributes,
            (SELECT jsonb_object_agg(k, instance.metadata -> k)
             FROM unnest(ARRAY['00080005', '00080016', '00080201', '00200013', '00280010',
                               '00280011', '00280100', '00280008']) k
             WHERE instance.metadata ? k),
            '{}'::jsonb) AS doc
    ) picked
);

ALTER TABLE instance ALTER COLUMN summary SET NOT NULL;
ALTER TABLE instance DROP COLUMN attributes;
