-- A batch of new instances in one call (one round trip, one implicit transaction): the common
-- case of ingest, where every store names an instance the index has never seen.
--
-- The indexer computes every value in Python (study, series and instance rows, the metadata
-- text) and passes them as one array per column; this function only writes them, in the
-- order the per-command path uses: study upsert, series upsert (UID order: the lock order),
-- instance insert, extended query tags, recounts, feed rows numbered from the feed counter in
-- version order. The statements the per-command path shares come from the indexer, which
-- keeps their one text (``apply.UPSERT_STUDIES``, ``UPSERT_SERIES_MANY``, ``recounts.BOTH``,
-- ``tagindexing.STORED``), and are run with EXECUTE.
--
-- Replaces the version of migration 0019 (forty arguments, the statements written out here).
--
-- It returns NULL without writing anything when any store is not new (a row, a tombstone, a
-- deleted study or series): the caller then applies the batch on its per-command path. It
-- raises 'DW001' (everything rolled back) when, with the rows locked, a study refuses its
-- uploader or another replica inserted one of the instances meanwhile: the per-command path
-- answers those too.
DROP FUNCTION IF EXISTS ingest_new_instances(
    text[], text[], text[], text[], text[], text[], text[], text[], text[], text[], text[], text[],
    text[], text[], text[], text[], text[], text[], text[], text[], text[], text[], text[], text[],
    text[], text[], text[], text[], int[], int[], int[], text[], bigint[], text[], text[], text[],
    text[], bigint[], text[], text
);

CREATE FUNCTION ingest_new_instances(
    st_uid text[], st_patient_id text[], st_patient_name text[], st_birth_date text[],
    st_sex text[], st_date text[], st_time text[], st_accession text[], st_referring text[],
    st_study_id text[], st_description text[], st_attributes text[], st_groups text[],
    st_uploader text[],
    se_uid text[], se_study text[], se_modality text[], se_number text[], se_description text[],
    se_pps_date text[], se_pps_time text[], se_attributes text[],
    i_sop text[], i_series text[], i_study text[], i_sop_class text[], i_number text[],
    i_syntax text[], i_frame_count int[], i_row_count int[], i_column_count int[],
    i_blob_key text[], i_size bigint[], i_sha256 text[], i_text text[], i_frames text[],
    i_bulk_data text[], i_version bigint[], i_summary text[],
    tag_statement text, study_statement text, series_statement text, recount_statement text
) RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    inserted integer;
BEGIN
    IF EXISTS (
        SELECT FROM instance WHERE sop_instance_uid = ANY(i_sop)
        UNION ALL SELECT FROM tombstone WHERE sop_instance_uid = ANY(i_sop)
        UNION ALL SELECT FROM scope_tombstone
            WHERE scope_uid = ANY(st_uid) OR scope_uid = ANY(se_uid)
    ) THEN
        RETURN NULL;
    END IF;

    -- ``apply.UPSERT_STUDIES``
    EXECUTE study_statement USING st_uid, st_patient_id, st_patient_name, st_birth_date, st_sex,
        st_date, st_time, st_accession, st_referring, st_study_id, st_description,
        st_attributes, st_groups;

    -- ``studyaccess.shares_group`` (``&&``), now that the study rows are locked; a refusal
    -- rolls the whole call back (the update above included).
    IF EXISTS (
        SELECT FROM unnest(st_uid, st_uploader) AS u(uid, uploader)
        JOIN study s ON s.study_instance_uid = u.uid
        WHERE u.uploader IS NOT NULL
            AND NOT s.access_groups && ARRAY(SELECT jsonb_array_elements_text(u.uploader::jsonb))
    ) THEN
        RAISE EXCEPTION 'a study refuses its uploader' USING ERRCODE = 'DW001';
    END IF;

    -- ``apply.UPSERT_SERIES_MANY``
    EXECUTE series_statement USING se_uid, se_study, se_modality, se_number, se_description,
        se_pps_date, se_pps_time, se_attributes;

    INSERT INTO instance (sop_instance_uid, series_instance_uid, study_instance_uid,
        sop_class_uid, instance_number, transfer_syntax_uid, number_of_frames, rows, columns,
        blob_key, size, sha256, metadata, metadata_text, frames, bulk_data, version, summary)
    SELECT r.sop, r.series, r.study, r.sop_class, r.number, r.syntax, r.frame_count,
        r.row_count, r.column_count, r.blob_key, r.size, r.sha256, r.text::jsonb, r.text,
        r.frames::jsonb, r.bulk_data::jsonb, r.version, r.summary
    FROM unnest(i_sop, i_series, i_study, i_sop_class, i_number, i_syntax, i_frame_count,
        i_row_count, i_column_count, i_blob_key, i_size, i_sha256, i_text, i_frames,
        i_bulk_data, i_version, i_summary)
        AS r(sop, series, study, sop_class, number, syntax, frame_count, row_count,
            column_count, blob_key, size, sha256, text, frames, bulk_data, version, summary)
    ON CONFLICT (sop_instance_uid) DO NOTHING;
    GET DIAGNOSTICS inserted = ROW_COUNT;
    IF inserted < cardinality(i_sop) THEN
        RAISE EXCEPTION 'an instance was inserted meanwhile' USING ERRCODE = 'DW001';
    END IF;

    -- ``tagindexing``'s statement for stored instances; read only while tags exist at all.
    IF EXISTS (SELECT FROM extended_query_tag) THEN
        EXECUTE tag_statement USING i_sop;
    END IF;

    -- ``recounts.BOTH``: series, then studies.
    EXECUTE recount_statement USING se_uid, st_uid;

    -- Last: the feed counter's row lock is held only for the end of the transaction. Rows in
    -- version order; each keeps its study's access groups as they are now; no metadata copy
    -- (the instance row of its version holds it).
    WITH counter AS (
        UPDATE feed_counter SET last_sequence = last_sequence + cardinality(i_sop)
        RETURNING last_sequence - cardinality(i_sop) AS before
    )
    INSERT INTO change_feed (sequence, timestamp, action, study_instance_uid,
        series_instance_uid, sop_instance_uid, version, metadata_text, access_groups,
        sop_class_uid)
    SELECT counter.before + row_number() OVER (ORDER BY r.version), clock_timestamp(),
        'Create', r.study, r.series, r.sop, r.version, NULL, st.access_groups, r.sop_class
    FROM counter, unnest(i_sop, i_series, i_study, i_version, i_sop_class)
        AS r(sop, series, study, version, sop_class)
    JOIN study st ON st.study_instance_uid = r.study
    ORDER BY r.version;
    RETURN inserted;
END $$;
