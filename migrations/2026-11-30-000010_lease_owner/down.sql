ALTER TABLE requests DROP COLUMN lease_owner;
