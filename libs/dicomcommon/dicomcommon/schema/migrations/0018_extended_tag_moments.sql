-- Extended query tags of VR DT compare as moments in time, as the DT attributes searched from
-- stored metadata do (PS3.4 C.2.2.2.5.3, ``dicom_utc_moment`` of migration 0011): each value
-- keeps, beside its text, the UTC moment it starts, read in its own offset, else in its
-- instance's TimezoneOffsetFromUTC. A value with neither is "floating": its moment is read in
-- UTC and a query that states its own timezone moves it into that one (the query side lives in
-- ``dicomcommon.searchsql``). A DT value that names no moment is an indexing error.

DO $$
DECLARE
    entity text;
BEGIN
    FOREACH entity IN ARRAY ARRAY['instance', 'series', 'study'] LOOP
        EXECUTE format($sql$
            ALTER TABLE extended_tag_%1$s
                ADD COLUMN moment_value timestamp,
                ADD COLUMN moment_floating boolean;
            CREATE INDEX extended_tag_%1$s_moment ON extended_tag_%1$s (tag_key, moment_value)
                WHERE moment_value IS NOT NULL;
        $sql$, entity);
    END LOOP;
END
$$;

-- Why a stored DICOM JSON element cannot be indexed as a value of ``vr``; NULL when it can
-- (or when it is absent or empty: nothing to index). Values longer than 256 characters are
-- refused so that every value fits a btree row; DT values must name a moment. (A database
-- that applied migration 0017 before it left this function here has 0017's first version,
-- which this replaces.)
CREATE OR REPLACE FUNCTION dicom_tag_value_error(element jsonb, vr text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE
        WHEN element IS NULL OR coalesce(jsonb_array_length(element -> 'Value'), 0) = 0 THEN NULL
        WHEN element ->> 'vr' IN ('SQ', 'UN', 'OB', 'OD', 'OF', 'OL', 'OV', 'OW')
            OR ((element ->> 'vr' = 'PN') IS DISTINCT FROM (vr = 'PN'))
            THEN 'The value has VR ' || coalesce(element ->> 'vr', 'none') || ', not ' || vr || '.'
        WHEN jsonb_array_length(element -> 'Value') > 1
            THEN 'The attribute has more than one value.'
        WHEN vr = 'PN' THEN CASE
            WHEN length(element -> 'Value' -> 0 ->> 'Alphabetic') > 256
                THEN 'The value is longer than 256 characters.' END
        -- At most 40 characters and a two-digit exponent: always a double precision.
        WHEN vr IN ('FD', 'FL', 'IS', 'DS', 'SL', 'SS', 'UL', 'US') THEN CASE
            WHEN length(element -> 'Value' ->> 0) <= 40 AND (element -> 'Value' ->> 0)
                ~ '^ *[+-]?([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][+-]?[0-9]{1,2})? *$' THEN NULL
            ELSE 'The value is not a number.' END
        WHEN jsonb_typeof(element -> 'Value' -> 0) <> 'string'
            THEN 'The value is not a string.'
        WHEN length(element -> 'Value' ->> 0) > 256 THEN 'The value is longer than 256 characters.'
        WHEN vr = 'DA' AND (element -> 'Value' ->> 0) !~ '^[0-9]{8}$'
            THEN 'The value is not a date (YYYYMMDD).'
        WHEN vr = 'TM' AND (element -> 'Value' ->> 0) !~ '^[0-9]{2}([0-9]{2}([0-9]{2}([.][0-9]{1,6})?)?)?$'
            THEN 'The value is not a time (HHMMSS.FFFFFF).'
        WHEN vr = 'DT' AND dicom_utc_moment(element -> 'Value' ->> 0, 0) IS NULL
            THEN 'The value is not a date-time (YYYYMMDDHHMMSS.FFFFFF&ZZXX).'
    END
$$;

-- DT values indexed before this migration: their moments, read in their entity's offset
-- (TimezoneOffsetFromUTC of the instance's metadata, of the series' or study's attributes).
DO $$
DECLARE
    level record;
BEGIN
    FOR level IN SELECT * FROM (VALUES
        ('instance', 'sop_instance_uid', 'metadata'),
        ('series', 'series_instance_uid', 'attributes'),
        ('study', 'study_instance_uid', 'attributes')
    ) AS levels (entity, uid, doc) LOOP
        EXECUTE format($sql$
            UPDATE extended_tag_%1$s v SET
                moment_value = dicom_utc_moment(v.text_value,
                    dicom_offset_minutes(e.%3$I -> '00080201' -> 'Value' ->> 0)),
                moment_floating = v.text_value !~ '[+-][0-9]{4}$'
                    AND dicom_offset_minutes(e.%3$I -> '00080201' -> 'Value' ->> 0) IS NULL
            FROM extended_query_tag t, %1$I e
            WHERE t.tag_key = v.tag_key AND t.vr = 'DT' AND e.%2$I = v.%2$I
        $sql$, level.entity, level.uid, level.doc);
    END LOOP;
END
$$;

-- The default order of a series search across studies (SeriesNumber, then UID, as
-- ``dicomcommon.searchorder`` sorts it): ``/series?Modality=CT&limit=100`` reads the first
-- matching rows in index order instead of sorting every series.
CREATE INDEX series_number_order ON series (
    dicom_integer(series_number) ASC NULLS FIRST,
    series_instance_uid ASC NULLS FIRST
);

-- Containment on an instance's stored metadata (an undeclared attribute's exact value): the
-- same test as ``@>``, costed as what it is, a read of a detoasted document of several KB.
-- The planner costs ``@>`` as one operator, so it would test every instance of the archive
-- before narrowing them by the query's indexed keys (a study date range, say); at this cost
-- it narrows first and reads only the candidates' documents. Study and series documents keep
-- ``@>``, which their GIN indexes serve.
CREATE FUNCTION dicom_metadata_contains(metadata jsonb, wanted jsonb) RETURNS boolean
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE COST 5000 AS $$
BEGIN
    RETURN metadata @> wanted;
END
$$;

-- A study list by patient (``orderby=PatientName`` or ``-PatientName``), in the order
-- ``dicomcommon.searchorder`` sorts it (the name's first 64 characters, then the UID): a page
-- reads its rows from the index instead of sorting every study.
CREATE INDEX study_patient_name_order ON study (
    left(patient_name, 64) ASC NULLS FIRST,
    study_instance_uid ASC NULLS FIRST
);
