-- Entity rows are updated by every batch that touches their intrusion (hits, last_at). With
-- last_at indexed no such update could be HOT: each wrote new entries in every index of the table
-- (16,093 entries for 500 live rows after 8 s of the pg bench). Indexed by (key, first_at), which
-- an update leaves alone, and with room left on each page, they can stay on their page.
DROP INDEX "entities_key_idx";--> statement-breakpoint
CREATE INDEX "entities_key_idx" ON "incident_entities" USING btree ("key","first_at");--> statement-breakpoint
ALTER TABLE "incident_entities" SET (fillfactor = 80);
