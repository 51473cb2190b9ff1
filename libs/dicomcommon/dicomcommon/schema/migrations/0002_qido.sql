-- QIDO-RS search indexes (issue 4). Expression and operator-class indexes only, so the
-- indexer fills no new column. Owned by the QIDO service; applied with the indexer's migrations.

-- Wildcard and fuzzy matching on person names is case-insensitive (PS3.4 C.2.2.2.1), so it
-- reads lower(name) through trigrams, like study_patient_name_trgm in 0001.
CREATE INDEX study_referring_physician_name_trgm
    ON study USING gin (lower(referring_physician_name) gin_trgm_ops);

-- Wildcards on descriptions are case-sensitive (LO): trigrams on the value itself.
CREATE INDEX study_description_trgm ON study USING gin (study_description gin_trgm_ops);
CREATE INDEX series_description_trgm ON series USING gin (series_description gin_trgm_ops);

-- Series by modality come back in series UID order: one index gives both.
CREATE INDEX series_modality_uid ON series (modality, series_instance_uid);

-- Keys without a typed column (and sequence matching) use jsonb containment on the level's
-- DICOM JSON; jsonb_path_ops keeps that index-backed for studies and series.
CREATE INDEX study_attributes_path ON study USING gin (attributes jsonb_path_ops);
CREATE INDEX series_attributes_path ON series USING gin (attributes jsonb_path_ops);
