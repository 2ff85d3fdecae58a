ALTER TABLE `tokens` ADD `host_label` text;--> statement-breakpoint
-- Tokens made before paths were unique may share one (a portal path chosen twice): the oldest keeps it.
UPDATE `tokens` SET `url_path` = NULL WHERE `url_path` IS NOT NULL AND `rowid` NOT IN (SELECT min(`rowid`) FROM `tokens` WHERE `url_path` IS NOT NULL GROUP BY `url_path`);--> statement-breakpoint
CREATE UNIQUE INDEX `tokens_url_path_uq` ON `tokens` (`url_path`);--> statement-breakpoint
CREATE UNIQUE INDEX `tokens_host_label_uq` ON `tokens` (`host_label`);