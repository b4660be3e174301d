DROP INDEX requests_queue;
ALTER TABLE staff
    DROP COLUMN failed_sign_ins,
    DROP COLUMN locked_until,
    DROP COLUMN totp_secret,
    DROP COLUMN totp_enabled_at,
    DROP COLUMN totp_last_step;
DROP TABLE staff_sessions;
