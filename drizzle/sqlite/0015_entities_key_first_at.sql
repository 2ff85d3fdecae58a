-- Entity rows are updated by every batch that touches their intrusion (hits, last_at); indexed by
-- (key, first_at), which such an update leaves alone, the update no longer rewrites an index entry
-- (and the PostgreSQL schema, where this makes the update HOT, keeps the same indexes).
DROP INDEX `entities_key_idx`;--> statement-breakpoint
CREATE INDEX `entities_key_idx` ON `incident_entities` (`key`,`first_at`);