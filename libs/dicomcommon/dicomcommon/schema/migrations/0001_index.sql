-- The index: study, series and instance rows, tombstones, the change feed and blob cleanup.
-- Only the indexer writes these tables; QIDO, WADO and DELETE read them.

CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE TABLE study (
    study_instance_uid      text PRIMARY KEY,
    patient_id              text,
    patient_name            text,
    patient_birth_date      text,
    patient_sex             text,
    study_date              text,          -- DA as stored (YYYYMMDD); ranges compare as text
    study_time              text,
    accession_number        text,
    referring_physician_name text,
    study_id                text,
    study_description       text,
    attributes              jsonb NOT NULL, -- study and patient level DICOM JSON (newest instance)
    modalities_in_study     text[] NOT NULL DEFAULT '{}',
    sop_classes_in_study    text[] NOT NULL DEFAULT '{}',
    number_of_series        integer NOT NULL DEFAULT 0,
    number_of_instances     integer NOT NULL DEFAULT 0,
    updated_at              timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX study_patient_id ON study (patient_id);
CREATE INDEX study_study_date ON study (study_date, study_instance_uid);
CREATE INDEX study_accession_number ON study (accession_number);
CREATE INDEX study_patient_name_trgm ON study USING gin (lower(patient_name) gin_trgm_ops);
CREATE INDEX study_modalities ON study USING gin (modalities_in_study);

CREATE TABLE series (
    series_instance_uid     text PRIMARY KEY,
    study_instance_uid      text NOT NULL REFERENCES study ON DELETE CASCADE,
    modality                text,
    series_number           text,
    series_description      text,
    performed_procedure_step_start_date text,
    performed_procedure_step_start_time text,
    attributes              jsonb NOT NULL, -- series level DICOM JSON (newest instance)
    number_of_instances     integer NOT NULL DEFAULT 0,
    updated_at              timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX series_study ON series (study_instance_uid, series_instance_uid);
CREATE INDEX series_modality ON series (modality);

CREATE TABLE instance (
    sop_instance_uid        text PRIMARY KEY,
    series_instance_uid     text NOT NULL REFERENCES series ON DELETE CASCADE,
    study_instance_uid      text NOT NULL,
    sop_class_uid           text NOT NULL,
    instance_number         text,
    transfer_syntax_uid     text NOT NULL,
    number_of_frames        integer,
    rows                    integer,
    columns                 integer,
    blob_key                text NOT NULL,
    size                    bigint NOT NULL,
    sha256                  text NOT NULL,
    metadata                jsonb NOT NULL, -- the whole DICOM JSON, BulkDataURIs for large values
    frames                  jsonb,          -- per frame: [[offset, length], ...] fragments in the blob
    bulk_data               jsonb,          -- BulkDataURI path -> [offset, length] in the blob
    version                 bigint NOT NULL, -- JetStream stream sequence of the command
    created_at              timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX instance_series ON instance (series_instance_uid, sop_instance_uid);
CREATE INDEX instance_study ON instance (study_instance_uid, series_instance_uid);

-- Deleted instances remember the stream sequence of their delete, so an older store that is
-- redelivered (or handled by another replica) after the delete is ignored.
CREATE TABLE tombstone (
    sop_instance_uid        text PRIMARY KEY,
    study_instance_uid      text NOT NULL,
    series_instance_uid     text NOT NULL,
    version                 bigint NOT NULL,
    deleted_at              timestamptz NOT NULL DEFAULT now()
);

-- Deletes of a study or series that named no instances: later-arriving older stores of any
-- instance in that scope are ignored too.
CREATE TABLE scope_tombstone (
    scope_uid               text PRIMARY KEY, -- study or series UID
    version                 bigint NOT NULL,
    deleted_at              timestamptz NOT NULL DEFAULT now()
);

-- The change feed: exactly the committed history; sequence is assigned in the writing
-- transaction under the feed_counter row lock, so it is strictly increasing and gap-free.
CREATE TABLE feed_counter (
    id                      boolean PRIMARY KEY DEFAULT true CHECK (id),
    last_sequence           bigint NOT NULL
);
INSERT INTO feed_counter VALUES (true, 0);

CREATE TABLE change_feed (
    sequence                bigint PRIMARY KEY,
    timestamp               timestamptz NOT NULL DEFAULT now(),
    action                  text NOT NULL,   -- Create | Update | Delete
    study_instance_uid      text NOT NULL,
    series_instance_uid     text NOT NULL,
    sop_instance_uid        text NOT NULL,
    version                 bigint NOT NULL,
    metadata                jsonb            -- the instance metadata as of this event
);
CREATE INDEX change_feed_timestamp ON change_feed (timestamp, sequence);
CREATE INDEX change_feed_instance ON change_feed (sop_instance_uid, sequence);

-- Blobs to remove (after deletes and replacements, and duplicates' extra copies),
-- retried until done.
CREATE TABLE blob_cleanup (
    blob_key                text PRIMARY KEY,
    due_at                  timestamptz NOT NULL DEFAULT now(),
    attempts                integer NOT NULL DEFAULT 0
);
