DROP INDEX `tokens_kind_idx`;--> statement-breakpoint
DROP INDEX `tokens_created_idx`;--> statement-breakpoint
CREATE INDEX `tokens_live_idx` ON `tokens` (`created_at`,`id`) WHERE "tokens"."deleted_at" is null;--> statement-breakpoint
CREATE INDEX `tokens_kind_live_idx` ON `tokens` (`kind`,`created_at`,`id`) WHERE "tokens"."deleted_at" is null;