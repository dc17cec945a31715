-- A person's own IANA time zone ("America/Los_Angeles"); NULL: not set (pages use the
-- browser's zone, or UTC without JavaScript; messages say UTC only).
ALTER TABLE members ADD COLUMN time_zone TEXT;
