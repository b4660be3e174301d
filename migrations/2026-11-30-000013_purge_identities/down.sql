ALTER TABLE requests DROP COLUMN purge_identities;
