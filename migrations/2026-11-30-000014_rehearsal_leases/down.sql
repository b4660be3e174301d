ALTER TABLE rehearsals DROP COLUMN lease_until, DROP COLUMN lease_owner;
