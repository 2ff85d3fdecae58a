CREATE TABLE `drill_runs` (
	`id` text PRIMARY KEY NOT NULL,
	`scenario` text NOT NULL,
	`status` text DEFAULT 'running' NOT NULL,
	`started_at` integer NOT NULL,
	`finished_at` integer,
	`created_by` text,
	`report` text DEFAULT '{}' NOT NULL
);
--> statement-breakpoint
CREATE INDEX `drill_runs_started_idx` ON `drill_runs` (`started_at`);