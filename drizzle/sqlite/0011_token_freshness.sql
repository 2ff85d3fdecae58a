ALTER TABLE `tokens` ADD `rotate_every_days` integer;--> statement-breakpoint
ALTER TABLE `tokens` ADD `expect_seen_every_days` integer;--> statement-breakpoint
ALTER TABLE `tokens` ADD `planted_file` text;--> statement-breakpoint
ALTER TABLE `tokens` ADD `generation` integer DEFAULT 1 NOT NULL;--> statement-breakpoint
ALTER TABLE `tokens` ADD `rotated_from` text;--> statement-breakpoint
ALTER TABLE `tokens` ADD `rotated_to` text;--> statement-breakpoint
ALTER TABLE `tokens` ADD `rotated_at` integer;--> statement-breakpoint
ALTER TABLE `tokens` ADD `verified_at` integer;--> statement-breakpoint
ALTER TABLE `tokens` ADD `missing_at` integer;