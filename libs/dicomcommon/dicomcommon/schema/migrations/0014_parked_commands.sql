-- Ingest faults: a command the index cannot take waits here instead of jamming the stream,
-- and long values are indexed by their prefix, so no value is refused by a btree row limit.

-- Parked commands: applying them failed with an error that is not an outage (a value the
-- schema refuses, a limit it exceeds, a bug). An operator lists and retries them through the
-- indexer's admin API; a retry applies the command with its original stream sequence.
CREATE TABLE parked_command (
    command_id              text PRIMARY KEY,
    stream_sequence         bigint NOT NULL,  -- the command's version, kept for a retry
    kind                    text NOT NULL,    -- store | delete
    study_instance_uid      text NOT NULL,
    sop_instance_uid        text,
    blob_key                text,             -- a store's blob: never swept as an orphan
    metadata_key            text,             -- its metadata's blob, if it travelled in one
    command                 text NOT NULL,    -- JSON as sent (jsonb would refuse \u0000)
    error                   text NOT NULL,
    attempts                integer NOT NULL DEFAULT 1,
    parked_at               timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX parked_command_blob_key ON parked_command (blob_key);
CREATE INDEX parked_command_metadata_key ON parked_command (metadata_key);

-- A btree row holds at most about 2.7 kB: a PatientID, AccessionNumber, Modality or StudyDate
-- of a few kB made the whole insert fail. The indexes now hold the first 256 characters
-- (at most 1 kB in UTF-8); QIDO matches on that prefix through the index and compares the
-- whole value on the rows it finds (services/qido/qido/sql.py, ``indexed_prefix``).
DROP INDEX study_patient_id;
CREATE INDEX study_patient_id ON study (left(patient_id, 256));
DROP INDEX study_accession_number;
CREATE INDEX study_accession_number ON study (left(accession_number, 256));
DROP INDEX study_study_date;
CREATE INDEX study_study_date ON study (left(study_date, 256), study_instance_uid);
DROP INDEX series_modality;
DROP INDEX series_modality_uid;
CREATE INDEX series_modality_uid ON series (left(modality, 256), series_instance_uid);

-- A GIN entry holds at most about 8 kB: ModalitiesInStudy is indexed by its values' prefixes.
CREATE FUNCTION dicom_prefixes(vals text[]) RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT coalesce(array_agg(left(v, 256)), '{}') FROM unnest(vals) v
$$;
DROP INDEX study_modalities;
CREATE INDEX study_modalities ON study USING gin (dicom_prefixes(modalities_in_study));
