-- The orphan sweeper asks "does any instance use this blob?" for every old blob it finds.
CREATE INDEX instance_blob_key ON instance (blob_key);
