ALTER TABLE `tokens` ADD `host_label` text;--> statement-breakpoint
CREATE UNIQUE INDEX `tokens_url_path_uq` ON `tokens` (`url_path`);--> statement-breakpoint
CREATE UNIQUE INDEX `tokens_host_label_uq` ON `tokens` (`host_label`);