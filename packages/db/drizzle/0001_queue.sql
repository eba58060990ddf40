ALTER TABLE `task_list` ADD `attempts` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `task_list` ADD `max_attempts` integer DEFAULT 3 NOT NULL;--> statement-breakpoint
ALTER TABLE `task_list` ADD `run_at` text DEFAULT '' NOT NULL;--> statement-breakpoint
-- Tasks created before this migration became due when they were created.
UPDATE `task_list` SET `run_at` = `created_at` WHERE `run_at` = '';--> statement-breakpoint
ALTER TABLE `task_list` ADD `worker_id` text;--> statement-breakpoint
ALTER TABLE `task_list` ADD `lease_id` text;--> statement-breakpoint
ALTER TABLE `task_list` ADD `lease_expires_at` text;--> statement-breakpoint
ALTER TABLE `task_list` ADD `idempotency_key` text;--> statement-breakpoint
CREATE INDEX `task_list_pending_idx` ON `task_list` (`priority`,`run_at`,`id`) WHERE status = 'pending';--> statement-breakpoint
CREATE INDEX `task_list_lease_idx` ON `task_list` (`lease_expires_at`) WHERE status = 'running';--> statement-breakpoint
CREATE UNIQUE INDEX `task_list_idempotency_idx` ON `task_list` (`task_type_id`,`idempotency_key`) WHERE idempotency_key IS NOT NULL;--> statement-breakpoint
ALTER TABLE `task_types` ADD `max_attempts` integer DEFAULT 3 NOT NULL;--> statement-breakpoint
ALTER TABLE `task_types` ADD `retry_base_seconds` real DEFAULT 5 NOT NULL;--> statement-breakpoint
ALTER TABLE `task_types` ADD `retry_max_seconds` real DEFAULT 3600 NOT NULL;