CREATE TABLE `intel_feed_items` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`feed_id` integer NOT NULL,
	`ref` text NOT NULL,
	`type` text NOT NULL,
	`value` text NOT NULL,
	`valid_until` integer,
	FOREIGN KEY (`feed_id`) REFERENCES `intel_feeds`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `intel_feed_items_ref_idx` ON `intel_feed_items` (`feed_id`,`ref`);--> statement-breakpoint
CREATE TABLE `intel_feeds` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`name` text NOT NULL,
	`kind` text NOT NULL,
	`url` text NOT NULL,
	`collection` text,
	`label` text NOT NULL,
	`interval_minutes` integer DEFAULT 60 NOT NULL,
	`enabled` integer DEFAULT true NOT NULL,
	`auth_type` text DEFAULT 'none' NOT NULL,
	`auth_user` text,
	`auth_secret` text,
	`cursor` text DEFAULT '{}' NOT NULL,
	`next_pull_at` integer NOT NULL,
	`claimed_by` text,
	`claimed_until` integer,
	`last_pull_at` integer,
	`last_success_at` integer,
	`last_error` text,
	`indicator_count` integer DEFAULT 0 NOT NULL,
	`last_added` integer DEFAULT 0 NOT NULL,
	`last_removed` integer DEFAULT 0 NOT NULL,
	`created_by` text,
	`created_at` integer DEFAULT (unixepoch('subsec') * 1000) NOT NULL,
	`updated_at` integer
);
--> statement-breakpoint
CREATE UNIQUE INDEX `intel_feeds_name_uq` ON `intel_feeds` (`name`);--> statement-breakpoint
CREATE INDEX `intel_feeds_due_idx` ON `intel_feeds` (`next_pull_at`);