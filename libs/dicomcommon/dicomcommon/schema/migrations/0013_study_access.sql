-- Study-level access groups (issue 12). Each study row carries its groups; a GIN index answers
-- "studies of these groups" (&&) for study searches, and lower levels probe the study row by
-- its primary key. Readers add these conditions only when study groups are enabled.
ALTER TABLE study ADD COLUMN access_groups text[] NOT NULL DEFAULT '{}';
CREATE INDEX study_access_groups ON study USING gin (access_groups);

-- Each change-feed entry keeps the groups its study had when the entry was written, so the
-- entries of a deleted study stay visible to the groups that could see it (while the study
-- exists, its current groups decide).
ALTER TABLE change_feed ADD COLUMN access_groups text[] NOT NULL DEFAULT '{}';
