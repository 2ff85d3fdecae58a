CREATE TABLE `incident_entities` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`incident_id` integer NOT NULL,
	`key` text NOT NULL,
	`kind` text NOT NULL,
	`label` text NOT NULL,
	`claimed` integer DEFAULT false NOT NULL,
	`first_at` integer NOT NULL,
	`last_at` integer NOT NULL,
	`first_hit_id` integer,
	`hits` integer DEFAULT 1 NOT NULL,
	`data` text,
	FOREIGN KEY (`incident_id`) REFERENCES `incidents`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE UNIQUE INDEX `entities_incident_key_uq` ON `incident_entities` (`incident_id`,`key`);--> statement-breakpoint
CREATE INDEX `entities_key_idx` ON `incident_entities` (`key`,`last_at`);--> statement-breakpoint
ALTER TABLE `alerts` ADD `thread` text;--> statement-breakpoint
CREATE INDEX `alerts_thread_idx` ON `alerts` (`thread`,`channel`,`target`,`id`);--> statement-breakpoint
CREATE INDEX `alerts_kind_created_idx` ON `alerts` (`kind`,`created_at`);--> statement-breakpoint
ALTER TABLE `incidents` ADD `merged_into` integer;--> statement-breakpoint
ALTER TABLE `incidents` ADD `reasons` text DEFAULT '[]' NOT NULL;--> statement-breakpoint
ALTER TABLE `incidents` ADD `machine_count` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `incidents` ADD `alert_group` text;--> statement-breakpoint
UPDATE `alerts` SET `thread` = 'incident:' || `incident_id` WHERE `thread` IS NULL AND `incident_id` IS NOT NULL;--> statement-breakpoint
INSERT OR IGNORE INTO `incident_entities` (`incident_id`, `key`, `kind`, `label`, `claimed`, `first_at`, `last_at`, `hits`) SELECT `id`, `actor_key`, substr(`actor_key`, 1, instr(`actor_key`, ':') - 1), coalesce(`actor_label`, `actor_key`), 0, `first_at`, `last_at`, `hit_count` FROM `incidents` WHERE `actor_key` LIKE 'host:%' OR `actor_key` LIKE 'ip:%';
