ALTER TABLE "tokens" ADD COLUMN "host_label" text;--> statement-breakpoint
-- Tokens made before paths were unique may share one (a portal path chosen twice): the oldest keeps it.
UPDATE "tokens" AS t SET "url_path" = NULL WHERE t."url_path" IS NOT NULL AND EXISTS (SELECT 1 FROM "tokens" AS o WHERE o."url_path" = t."url_path" AND (o."created_at", o."id") < (t."created_at", t."id"));--> statement-breakpoint
CREATE UNIQUE INDEX "tokens_url_path_uq" ON "tokens" USING btree ("url_path");--> statement-breakpoint
CREATE UNIQUE INDEX "tokens_host_label_uq" ON "tokens" USING btree ("host_label");