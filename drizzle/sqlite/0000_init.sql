CREATE TABLE `alerts` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`incident_id` integer,
	`channel` text NOT NULL,
	`target` text NOT NULL,
	`kind` text DEFAULT 'first' NOT NULL,
	`status` text DEFAULT 'pending' NOT NULL,
	`attempts` integer DEFAULT 0 NOT NULL,
	`next_attempt_at` integer NOT NULL,
	`claimed_by` text,
	`claimed_until` integer,
	`last_error` text,
	`sent_at` integer,
	`idempotency_key` text NOT NULL,
	`payload` text DEFAULT '{}' NOT NULL,
	`created_at` integer DEFAULT (unixepoch('subsec') * 1000) NOT NULL,
	FOREIGN KEY (`incident_id`) REFERENCES `incidents`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE UNIQUE INDEX `alerts_idem_uq` ON `alerts` (`idempotency_key`);--> statement-breakpoint
CREATE INDEX `alerts_due_idx` ON `alerts` (`status`,`next_attempt_at`);--> statement-breakpoint
CREATE INDEX `alerts_incident_idx` ON `alerts` (`incident_id`);--> statement-breakpoint
CREATE TABLE `api_keys` (
	`id` text PRIMARY KEY NOT NULL,
	`name` text NOT NULL,
	`prefix` text NOT NULL,
	`key_hash` text NOT NULL,
	`created_at` integer DEFAULT (unixepoch('subsec') * 1000) NOT NULL,
	`created_by` text,
	`last_used_at` integer,
	`revoked_at` integer
);
--> statement-breakpoint
CREATE UNIQUE INDEX `api_keys_key_hash_unique` ON `api_keys` (`key_hash`);--> statement-breakpoint
CREATE TABLE `assets` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`cidr` text,
	`hostname` text,
	`label` text NOT NULL,
	`segment` text,
	`criticality` text DEFAULT 'medium' NOT NULL,
	`created_at` integer DEFAULT (unixepoch('subsec') * 1000) NOT NULL
);
--> statement-breakpoint
CREATE INDEX `assets_cidr_idx` ON `assets` (`cidr`);--> statement-breakpoint
CREATE INDEX `assets_hostname_idx` ON `assets` (`hostname`);--> statement-breakpoint
CREATE TABLE `audit_log` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`at` integer NOT NULL,
	`actor` text NOT NULL,
	`action` text NOT NULL,
	`target_type` text,
	`target_id` text,
	`ip` text,
	`details` text
);
--> statement-breakpoint
CREATE INDEX `audit_at_idx` ON `audit_log` (`at`);--> statement-breakpoint
CREATE TABLE `hits` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`token_id` text NOT NULL,
	`channel` text NOT NULL,
	`at` integer NOT NULL,
	`source_ip` text,
	`source_port` integer,
	`forwarded_for` text,
	`user_agent` text,
	`referer` text,
	`method` text,
	`path` text,
	`query` text,
	`qname` text,
	`qtype` text,
	`mail_from` text,
	`mail_to` text,
	`mail_subject` text,
	`actor_user` text,
	`actor_host` text,
	`actor_domain` text,
	`credential` text,
	`headers` text,
	`details` text,
	`classification` text DEFAULT 'alert' NOT NULL,
	`incident_id` integer,
	`repeat_count` integer DEFAULT 1 NOT NULL,
	`last_at` integer,
	FOREIGN KEY (`token_id`) REFERENCES `tokens`(`id`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`incident_id`) REFERENCES `incidents`(`id`) ON UPDATE no action ON DELETE set null
);
--> statement-breakpoint
CREATE INDEX `hits_token_idx` ON `hits` (`token_id`,`id`);--> statement-breakpoint
CREATE INDEX `hits_at_idx` ON `hits` (`at`);--> statement-breakpoint
CREATE INDEX `hits_incident_idx` ON `hits` (`incident_id`);--> statement-breakpoint
CREATE TABLE `incidents` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`actor_key` text NOT NULL,
	`actor_label` text,
	`first_at` integer NOT NULL,
	`last_at` integer NOT NULL,
	`hit_count` integer DEFAULT 0 NOT NULL,
	`token_count` integer DEFAULT 0 NOT NULL,
	`location_count` integer DEFAULT 0 NOT NULL,
	`host_count` integer DEFAULT 0 NOT NULL,
	`severity` text DEFAULT 'low' NOT NULL,
	`status` text DEFAULT 'open' NOT NULL,
	`lateral` integer DEFAULT false NOT NULL,
	`techniques` text DEFAULT '[]' NOT NULL,
	`summary` text,
	`updated_at` integer
);
--> statement-breakpoint
CREATE INDEX `incidents_actor_idx` ON `incidents` (`actor_key`,`last_at`);--> statement-breakpoint
CREATE INDEX `incidents_status_idx` ON `incidents` (`status`,`last_at`);--> statement-breakpoint
CREATE TABLE `sessions` (
	`id` text PRIMARY KEY NOT NULL,
	`user_id` text NOT NULL,
	`csrf_token` text NOT NULL,
	`created_at` integer DEFAULT (unixepoch('subsec') * 1000) NOT NULL,
	`expires_at` integer NOT NULL,
	`last_seen_at` integer,
	`ip` text,
	`user_agent` text,
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `sessions_user_idx` ON `sessions` (`user_id`);--> statement-breakpoint
CREATE TABLE `settings` (
	`key` text PRIMARY KEY NOT NULL,
	`value` text,
	`updated_at` integer
);
--> statement-breakpoint
CREATE TABLE `tokens` (
	`id` text PRIMARY KEY NOT NULL,
	`kind` text NOT NULL,
	`name` text NOT NULL,
	`location` text,
	`planted_host` text,
	`tags` text DEFAULT '[]' NOT NULL,
	`params` text DEFAULT '{}' NOT NULL,
	`lookup_key` text,
	`url_path` text,
	`alert_emails` text DEFAULT '[]' NOT NULL,
	`webhooks` text DEFAULT '[]' NOT NULL,
	`ignore_cidrs` text DEFAULT '[]' NOT NULL,
	`enabled` integer DEFAULT true NOT NULL,
	`expires_at` integer,
	`created_at` integer DEFAULT (unixepoch('subsec') * 1000) NOT NULL,
	`updated_at` integer,
	`created_by` text,
	`deleted_at` integer,
	`last_hit_at` integer,
	`hit_count` integer DEFAULT 0 NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `tokens_lookup_key_uq` ON `tokens` (`lookup_key`);--> statement-breakpoint
CREATE INDEX `tokens_kind_idx` ON `tokens` (`kind`,`created_at`);--> statement-breakpoint
CREATE INDEX `tokens_created_idx` ON `tokens` (`created_at`);--> statement-breakpoint
CREATE INDEX `tokens_location_idx` ON `tokens` (`location`);--> statement-breakpoint
CREATE TABLE `users` (
	`id` text PRIMARY KEY NOT NULL,
	`email` text NOT NULL,
	`password_hash` text NOT NULL,
	`role` text DEFAULT 'admin' NOT NULL,
	`created_at` integer DEFAULT (unixepoch('subsec') * 1000) NOT NULL,
	`last_login_at` integer,
	`disabled_at` integer
);
--> statement-breakpoint
CREATE UNIQUE INDEX `users_email_unique` ON `users` (`email`);