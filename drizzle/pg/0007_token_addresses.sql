ALTER TABLE "tokens" ADD COLUMN "host_label" text;--> statement-breakpoint
CREATE UNIQUE INDEX "tokens_url_path_uq" ON "tokens" USING btree ("url_path");--> statement-breakpoint
CREATE UNIQUE INDEX "tokens_host_label_uq" ON "tokens" USING btree ("host_label");