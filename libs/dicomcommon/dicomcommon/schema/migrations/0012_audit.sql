-- The audit trail: one row per HTTP request on patient data (dicomcommon.audit.AuditEvent),
-- appended by the indexer from the DICOM_AUDIT stream. Append-only, enforced here rather than
-- by convention: UPDATE, DELETE and TRUNCATE raise for every role; only dropping or disabling
-- the triggers (the table owner or a superuser, a deliberate act) would allow them.
-- event_id is the publisher's, so a redelivered event is inserted once (ON CONFLICT DO NOTHING).
CREATE TABLE audit_event (
    event_id            uuid PRIMARY KEY,
    occurred_at         timestamptz NOT NULL,      -- when the request arrived
    recorded_at         timestamptz NOT NULL DEFAULT now(),
    service             text NOT NULL,
    action              text NOT NULL,             -- search, retrieve, store, delete, feed-read, audit-read
    method              text NOT NULL,
    path                text NOT NULL,
    query               text NOT NULL DEFAULT '',
    user_subject        text NOT NULL,
    user_name           text NOT NULL,
    client_address      text NOT NULL,
    study_uids          text[] NOT NULL DEFAULT '{}',
    series_uids         text[] NOT NULL DEFAULT '{}',
    instance_uids       text[] NOT NULL DEFAULT '{}',
    instance_count      integer,                   -- instances returned / stored / deleted; matches of a search
    status              integer NOT NULL,          -- the HTTP status answered
    outcome             text NOT NULL,             -- success (status < 400) or failure
    request_id          text NOT NULL
);

-- GET /audit: newest first, by time range, user, action or study.
CREATE INDEX audit_event_time ON audit_event (occurred_at DESC, event_id DESC);
CREATE INDEX audit_event_user ON audit_event (user_subject, occurred_at DESC);
CREATE INDEX audit_event_action ON audit_event (action, occurred_at DESC);
CREATE INDEX audit_event_study ON audit_event USING gin (study_uids);

CREATE FUNCTION audit_event_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_event is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;

CREATE TRIGGER audit_event_no_change BEFORE UPDATE OR DELETE ON audit_event
    FOR EACH ROW EXECUTE FUNCTION audit_event_append_only();
CREATE TRIGGER audit_event_no_truncate BEFORE TRUNCATE ON audit_event
    FOR EACH STATEMENT EXECUTE FUNCTION audit_event_append_only();
