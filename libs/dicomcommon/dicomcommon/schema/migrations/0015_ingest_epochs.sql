-- Row versions are the ingest stream's sequences plus an offset per incarnation of the stream.
-- A stream that is recreated (or whose storage is lost) restarts its sequences at 1; its new
-- incarnation, told apart by the stream's created time, continues above every version already
-- applied, so a store after a delete is never judged older than that delete.
CREATE TABLE ingest_epoch (
    stream_created          timestamptz PRIMARY KEY,
    version_offset          bigint NOT NULL,
    recorded_at             timestamptz NOT NULL DEFAULT now()
);
