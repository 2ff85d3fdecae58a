CREATE TABLE `expected_rules` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`name` text NOT NULL,
	`enabled` integer DEFAULT true NOT NULL,
	`sources` text DEFAULT '[]' NOT NULL,
	`hosts` text DEFAULT '[]' NOT NULL,
	`users` text DEFAULT '[]' NOT NULL,
	`decoys` text DEFAULT '[]' NOT NULL,
	`schedule` text,
	`evidence` text DEFAULT '["touch"]' NOT NULL,
	`tag` text,
	`note` text,
	`managed_by` text DEFAULT 'api' NOT NULL,
	`created_by` text,
	`created_at` integer DEFAULT (unixepoch('subsec') * 1000) NOT NULL,
	`updated_at` integer DEFAULT (unixepoch('subsec') * 1000) NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `expected_rules_name_uq` ON `expected_rules` (`name`);--> statement-breakpoint
ALTER TABLE `hits` ADD `expected_rule_id` integer;--> statement-breakpoint
CREATE INDEX `hits_expected_idx` ON `hits` (`expected_rule_id`,`at`) WHERE "hits"."expected_rule_id" is not null;