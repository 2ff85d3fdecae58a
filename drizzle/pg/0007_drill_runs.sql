CREATE TABLE "drill_runs" (
	"id" text PRIMARY KEY NOT NULL,
	"scenario" text NOT NULL,
	"status" text DEFAULT 'running' NOT NULL,
	"started_at" timestamp (3) with time zone NOT NULL,
	"finished_at" timestamp (3) with time zone,
	"created_by" text,
	"report" jsonb DEFAULT '{}'::jsonb NOT NULL
);
--> statement-breakpoint
CREATE INDEX "drill_runs_started_idx" ON "drill_runs" USING btree ("started_at");