-- The push relay's bookkeeping and its wake-up.
-- feed_relay: the last change-feed sequence published to the DICOM_FEED stream; its row lock
-- makes one indexer replica at a time the relay (the others skip it and wait).
CREATE TABLE feed_relay (
    id                      boolean PRIMARY KEY DEFAULT true CHECK (id),
    last_sequence           bigint NOT NULL
);
INSERT INTO feed_relay VALUES (true, 0);

-- NOTIFY is delivered at commit, so listeners (the relay, QIDO's Server-Sent Events) read the
-- new rows at once; identical notifications of one transaction are folded into one.
CREATE FUNCTION notify_change_feed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('dicom_change_feed', '');
    RETURN NULL;
END $$;

CREATE TRIGGER change_feed_notify AFTER INSERT ON change_feed
    FOR EACH STATEMENT EXECUTE FUNCTION notify_change_feed();
