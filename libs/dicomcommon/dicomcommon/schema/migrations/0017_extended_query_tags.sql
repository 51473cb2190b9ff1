-- Extended query tags (Microsoft's DICOM server API): attributes an administrator declares
-- searchable, their values in typed tables keyed by the row of their level, the instances
-- whose value could not be indexed, and the reindex operations that fill them from the stored
-- metadata. Also the default-order indexes of series and instance searches.

CREATE TABLE extended_query_tag (
    tag_key                 serial PRIMARY KEY,
    path                    text NOT NULL UNIQUE,   -- ggggeeee, upper-case hex
    vr                      text NOT NULL,
    private_creator         text,
    level                   text NOT NULL CHECK (level IN ('Study', 'Series', 'Instance')),
    status                  text NOT NULL CHECK (status IN ('Adding', 'Ready', 'Deleting')),
    query_status            text NOT NULL CHECK (query_status IN ('Enabled', 'Disabled')),
    operation_id            text,                   -- the reindex that adds it
    created_at              timestamptz NOT NULL DEFAULT now()
);

-- Long-running operations (only reindexing so far). ``cursor`` is the last SOP Instance UID
-- reindexed: it is written in the same transaction as the values of its batch, so a reindex
-- that dies resumes after the last batch that committed.
CREATE TABLE operation (
    operation_id            text PRIMARY KEY,
    type                    text NOT NULL,
    status                  text NOT NULL
        CHECK (status IN ('NotStarted', 'Running', 'Completed', 'Failed')),
    tag_keys                integer[] NOT NULL,
    tag_paths               text[] NOT NULL,        -- kept after a tag is deleted
    -- Transactions running when the operation was created: its scan starts once all of them
    -- have ended, so no store that missed the new tags commits behind the scan.
    started_after           pg_snapshot NOT NULL,
    cursor                  text,
    done                    bigint NOT NULL DEFAULT 0,
    total                   bigint,
    error                   text,
    created_at              timestamptz NOT NULL DEFAULT now(),
    updated_at              timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX operation_pending ON operation (created_at) WHERE status IN ('NotStarted', 'Running');

-- One value per tag and entity: strings, dates and times as text (DA and TM compare as text,
-- like the study columns), person names apart (matched case-insensitively, fuzzy through
-- trigrams), numbers as double precision. ``version`` is the stream sequence of the instance
-- the value came from: study and series values are the newest instance's. One table per
-- level (``extended_tag_instance``, ``_series``, ``_study``), keyed by the level's UID, each
-- with the same indexes.
DO $$
DECLARE
    level record;
BEGIN
    FOR level IN SELECT * FROM (VALUES
        ('instance', 'sop_instance_uid'),
        ('series', 'series_instance_uid'),
        ('study', 'study_instance_uid')
    ) AS levels (entity, uid) LOOP
        EXECUTE format($sql$
            CREATE TABLE extended_tag_%1$s (
                tag_key         integer NOT NULL REFERENCES extended_query_tag ON DELETE CASCADE,
                %2$I            text NOT NULL REFERENCES %1$I ON DELETE CASCADE,
                text_value      text,
                name_value      text,
                number_value    double precision,
                version         bigint NOT NULL,
                PRIMARY KEY (tag_key, %2$I)
            );
            CREATE INDEX extended_tag_%1$s_uid ON extended_tag_%1$s (%2$I);
            CREATE INDEX extended_tag_%1$s_text ON extended_tag_%1$s (tag_key, text_value)
                WHERE text_value IS NOT NULL;
            CREATE INDEX extended_tag_%1$s_name ON extended_tag_%1$s (tag_key, lower(name_value))
                WHERE name_value IS NOT NULL;
            CREATE INDEX extended_tag_%1$s_name_trgm ON extended_tag_%1$s
                USING gin (lower(name_value) gin_trgm_ops) WHERE name_value IS NOT NULL;
            CREATE INDEX extended_tag_%1$s_number ON extended_tag_%1$s (tag_key, number_value)
                WHERE number_value IS NOT NULL;
        $sql$, level.entity, level.uid);
    END LOOP;
END
$$;

-- Instances whose value of a tag could not be indexed, and why (``GET …/errors``).
CREATE TABLE extended_tag_error (
    tag_key                 integer NOT NULL REFERENCES extended_query_tag ON DELETE CASCADE,
    sop_instance_uid        text NOT NULL REFERENCES instance ON DELETE CASCADE,
    study_instance_uid      text NOT NULL,
    series_instance_uid     text NOT NULL,
    error_message           text NOT NULL,
    created_at              timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tag_key, sop_instance_uid)
);
CREATE INDEX extended_tag_error_instance ON extended_tag_error (sop_instance_uid);

-- The default orders of series (SeriesNumber) and instance (InstanceNumber) searches within
-- their study or series, as ``dicomcommon.searchorder`` sorts them: a page of a large study
-- or series is a top-N index scan.
CREATE INDEX series_default_order ON series (
    study_instance_uid,
    dicom_integer(series_number) ASC NULLS FIRST,
    series_instance_uid ASC NULLS FIRST
);
CREATE INDEX instance_default_order ON instance (
    series_instance_uid,
    dicom_integer(instance_number) ASC NULLS FIRST,
    sop_instance_uid ASC NULLS FIRST
);
