ALTER TABLE "tokens" ADD COLUMN "rotate_every_days" integer;--> statement-breakpoint
ALTER TABLE "tokens" ADD COLUMN "expect_seen_every_days" integer;--> statement-breakpoint
ALTER TABLE "tokens" ADD COLUMN "planted_file" text;--> statement-breakpoint
ALTER TABLE "tokens" ADD COLUMN "generation" integer DEFAULT 1 NOT NULL;--> statement-breakpoint
ALTER TABLE "tokens" ADD COLUMN "rotated_from" text;--> statement-breakpoint
ALTER TABLE "tokens" ADD COLUMN "rotated_to" text;--> statement-breakpoint
ALTER TABLE "tokens" ADD COLUMN "rotated_at" timestamp (3) with time zone;--> statement-breakpoint
ALTER TABLE "tokens" ADD COLUMN "verified_at" timestamp (3) with time zone;--> statement-breakpoint
ALTER TABLE "tokens" ADD COLUMN "missing_at" timestamp (3) with time zone;