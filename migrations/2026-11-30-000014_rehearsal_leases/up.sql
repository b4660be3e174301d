-- A dry run is held like a request's run: a lease renewed while it runs, under an owner
-- token set by each claim. A dry run whose worker died is claimed again once its lease
-- lapses, and a finished run that lost its lease records nothing.
ALTER TABLE rehearsals ADD COLUMN lease_until timestamptz, ADD COLUMN lease_owner uuid;
