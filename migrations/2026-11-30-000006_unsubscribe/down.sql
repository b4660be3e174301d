DELETE FROM staff_tokens WHERE staff_id IN (SELECT id FROM staff WHERE role = 'mailer');
DELETE FROM decisions WHERE staff_id IN (SELECT id FROM staff WHERE role = 'mailer');
DELETE FROM staff WHERE role = 'mailer';
ALTER TABLE staff DROP CONSTRAINT staff_role_check;
ALTER TABLE staff ADD CONSTRAINT staff_role_check CHECK (role IN ('viewer', 'reviewer', 'admin'));
UPDATE requests SET verified_via = NULL WHERE verified_via = 'unsubscribe_link';
ALTER TABLE requests DROP CONSTRAINT requests_verified_via_check;
ALTER TABLE requests ADD CONSTRAINT requests_verified_via_check
    CHECK (verified_via IN ('email_code', 'platform_assertion'));
ALTER TABLE requests DROP COLUMN categories;
DROP TABLE suppressions;
