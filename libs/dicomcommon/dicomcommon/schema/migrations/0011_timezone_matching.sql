-- Timezone query adjustment (PS3.4 C.2.2.2.1.3, C.2.2.2.5.2): a QIDO query that carries
-- TimezoneOffsetFromUTC states the timezone of its dates and times, and a study's (or series')
-- date and time are moved into that timezone before they are matched. These functions read
-- the stored text values; what they cannot read (no time, a malformed or impossible value) is
-- NULL, and the search then matches the value as stored. DT values compare as moments.

-- A DA and a TM (HH, HHMM, HHMMSS, with or without a fraction) as one local timestamp.
CREATE OR REPLACE FUNCTION dicom_local_timestamp(da text, tm text) RETURNS timestamp
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
    h integer;
    m integer;
    s integer;
BEGIN
    IF da !~ '^[0-9]{8}$' OR tm !~ '^[0-9]{2}([0-9]{2}([0-9]{2})?)?([.][0-9]{0,6})?$' THEN
        RETURN NULL;
    END IF;
    h := substr(tm, 1, 2)::int;
    m := coalesce(nullif(substr(tm, 3, 2), '')::int, 0);
    s := coalesce(nullif(substr(tm, 5, 2), '')::int, 0);
    IF h > 23 OR m > 59 OR s > 60 THEN
        RETURN NULL;
    END IF;
    RETURN make_date(substr(da, 1, 4)::int, substr(da, 5, 2)::int, substr(da, 7, 2)::int)
        + make_interval(hours => h, mins => m, secs => s);
EXCEPTION WHEN data_exception THEN
    RETURN NULL;  -- 20240230 or 20241301: digits that name no day
END
$$;

-- A TimezoneOffsetFromUTC value (+HHMM / -HHMM) in minutes east of UTC.
CREATE OR REPLACE FUNCTION dicom_offset_minutes(offset_text text) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN offset_text ~ '^[+-]([01][0-9]|2[0-3])[0-5][0-9]$' THEN
        (CASE WHEN left(offset_text, 1) = '-' THEN -1 ELSE 1 END)
        * (substr(offset_text, 2, 2)::int * 60 + substr(offset_text, 4, 2)::int)
    END
$$;

-- A DT value (YYYY[MM[DD[HH[MM[SS[.F]]]]]][&ZZXX]) as the UTC moment it starts, read in its own
-- offset, else in ``default_offset`` minutes east of UTC (PS3.4 C.2.2.2.5.3: DT values match
-- as moments in time).
CREATE OR REPLACE FUNCTION dicom_utc_moment(dt text, default_offset integer) RETURNS timestamp
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
    p text[];
BEGIN
    p := regexp_match(dt, '^([0-9]{4})([0-9]{2})?([0-9]{2})?([0-9]{2})?([0-9]{2})?'
                          '([0-9]{2}([.][0-9]{1,6})?)?([+-][0-9]{4})?$');
    IF p IS NULL THEN
        RETURN NULL;
    END IF;
    RETURN make_timestamp(p[1]::int, coalesce(p[2]::int, 1), coalesce(p[3]::int, 1),
                          coalesce(p[4]::int, 0), coalesce(p[5]::int, 0),
                          coalesce(p[6]::double precision, 0))
        - make_interval(mins => coalesce(dicom_offset_minutes(p[8]), default_offset, 0));
EXCEPTION WHEN data_exception THEN
    RETURN NULL;
END
$$;
