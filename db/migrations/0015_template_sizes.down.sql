ALTER TABLE templates DROP COLUMN size_bytes;
