-- The attributes every QIDO-RS instance match returns (PS3.18 Table 10.6.3-5), apart from the
-- computed ones: a few hundred bytes kept in line, so listing a 1,000-instance series reads no
-- out-of-line metadata. Rows stored before have NULL here and are read from ``metadata``.
ALTER TABLE instance ADD COLUMN attributes jsonb;
