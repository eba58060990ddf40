CREATE TABLE `task_list` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`task_type_id` integer NOT NULL,
	`status` text DEFAULT 'pending' NOT NULL,
	`parameters` text DEFAULT '{}' NOT NULL,
	`priority` integer DEFAULT 100 NOT NULL,
	`metadata` text DEFAULT '{}' NOT NULL,
	`result` text,
	`error_message` text,
	`created_at` text NOT NULL,
	`updated_at` text,
	`started_at` text,
	`completed_at` text,
	FOREIGN KEY (`task_type_id`) REFERENCES `task_types`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE INDEX `task_list_created_idx` ON `task_list` (`created_at`,`id`);--> statement-breakpoint
CREATE INDEX `task_list_type_created_idx` ON `task_list` (`task_type_id`,`created_at`,`id`);--> statement-breakpoint
CREATE INDEX `task_list_status_created_idx` ON `task_list` (`status`,`created_at`,`id`);--> statement-breakpoint
CREATE TABLE `task_types` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`name` text NOT NULL,
	`description` text,
	`parameters_schema` text DEFAULT '{}' NOT NULL,
	`metadata` text DEFAULT '{}' NOT NULL,
	`is_active` integer DEFAULT true NOT NULL,
	`created_at` text NOT NULL,
	`updated_at` text
);
--> statement-breakpoint
CREATE UNIQUE INDEX `task_types_name_unique` ON `task_types` (`name`);