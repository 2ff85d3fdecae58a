CREATE TABLE `intel_indicators` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`type` text NOT NULL,
	`value` text NOT NULL,
	`label` text NOT NULL,
	`source` text,
	`created_at` integer DEFAULT (unixepoch('subsec') * 1000) NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `intel_uq` ON `intel_indicators` (`type`,`value`,`label`);--> statement-breakpoint
ALTER TABLE `hits` ADD `intel` text;