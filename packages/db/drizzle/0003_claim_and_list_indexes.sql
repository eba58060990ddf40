DROP INDEX `task_list_pending_idx`;--> statement-breakpoint
CREATE INDEX `task_list_pending_type_idx` ON `task_list` (`task_type_id`,`priority`,`run_at`,`id`) WHERE status = 'pending';--> statement-breakpoint
CREATE INDEX `task_list_type_status_created_idx` ON `task_list` (`task_type_id`,`status`,`created_at`,`id`);