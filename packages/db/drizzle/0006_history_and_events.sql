CREATE TABLE `task_attempts` (
	`id` integer PRIMARY KEY NOT NULL,
	`task_id` integer NOT NULL,
	`attempt` integer NOT NULL,
	`worker_id` text,
	`lease_id` text NOT NULL,
	`claimed_at` text NOT NULL,
	`heartbeats` integer DEFAULT 0 NOT NULL,
	`progress` real,
	`progress_message` text,
	`finished_at` text,
	`outcome` text,
	`error_message` text,
	FOREIGN KEY (`task_id`) REFERENCES `task_list`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `task_attempts_task_idx` ON `task_attempts` (`task_id`,`lease_id`);--> statement-breakpoint
CREATE TABLE `task_events` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`task_id` integer NOT NULL,
	`task_type_id` integer NOT NULL,
	`kind` text NOT NULL,
	`at` text NOT NULL,
	`status` text NOT NULL,
	`attempt` integer NOT NULL,
	`worker_id` text,
	`progress` real,
	`message` text
);
--> statement-breakpoint
ALTER TABLE `task_list` ADD `progress` real;--> statement-breakpoint
ALTER TABLE `task_list` ADD `progress_message` text;--> statement-breakpoint
-- Each task's attempts (task_attempts) and the log of what happened to tasks (task_events), kept
-- by triggers in the transaction of every write to task_list, whichever path made it: the queue's
-- statements, a bulk action, an edit by hand, retention. The PostgreSQL migration keeps them by
-- the same rules (drizzle-postgres/0002).
CREATE TRIGGER `task_history_insert` AFTER INSERT ON `task_list` BEGIN
	INSERT INTO `task_events` (`task_id`, `task_type_id`, `kind`, `at`, `status`, `attempt`)
		VALUES (NEW.`id`, NEW.`task_type_id`, 'created', NEW.`created_at`, NEW.`status`, NEW.`attempts`);
END;--> statement-breakpoint
-- A claim: a new lease. A task that was running when claimed again had let its lease expire.
CREATE TRIGGER `task_history_claim` AFTER UPDATE OF `lease_id` ON `task_list`
	WHEN NEW.`lease_id` IS NOT NULL AND NEW.`lease_id` IS NOT OLD.`lease_id` BEGIN
	UPDATE `task_attempts` SET `finished_at` = NEW.`updated_at`, `outcome` = 'lease_expired', `error_message` = 'Lease expired'
		WHERE OLD.`status` = 'running' AND `task_id` = OLD.`id` AND `lease_id` = OLD.`lease_id` AND `finished_at` IS NULL;
	INSERT INTO `task_events` (`task_id`, `task_type_id`, `kind`, `at`, `status`, `attempt`, `worker_id`, `message`)
		SELECT OLD.`id`, OLD.`task_type_id`, 'lease_expired', NEW.`updated_at`, 'pending', OLD.`attempts`, OLD.`worker_id`, 'Lease expired'
		WHERE OLD.`status` = 'running';
	INSERT INTO `task_attempts` (`task_id`, `attempt`, `worker_id`, `lease_id`, `claimed_at`)
		VALUES (NEW.`id`, NEW.`attempts`, NEW.`worker_id`, NEW.`lease_id`, NEW.`updated_at`);
	INSERT INTO `task_events` (`task_id`, `task_type_id`, `kind`, `at`, `status`, `attempt`, `worker_id`)
		VALUES (NEW.`id`, NEW.`task_type_id`, 'claimed', NEW.`updated_at`, NEW.`status`, NEW.`attempts`, NEW.`worker_id`);
END;--> statement-breakpoint
-- Any other change of status. An attempt ends when its task leaves `running`: completed,
-- cancelled, or failed (back to pending for a retry, or failed for good), by its worker or, when
-- the sweep finds its lease expired, with the sweep's 'Lease expired…' message.
CREATE TRIGGER `task_history_status` AFTER UPDATE OF `status` ON `task_list`
	WHEN NEW.`status` IS NOT OLD.`status` AND NOT (NEW.`lease_id` IS NOT NULL AND NEW.`lease_id` IS NOT OLD.`lease_id`) BEGIN
	UPDATE `task_attempts` SET `finished_at` = coalesce(NEW.`completed_at`, NEW.`updated_at`),
			`outcome` = CASE
				WHEN NEW.`status` IN ('completed', 'cancelled') THEN NEW.`status`
				WHEN NEW.`error_message` LIKE 'Lease expired%' AND OLD.`lease_expires_at` <= NEW.`updated_at` THEN 'lease_expired'
				ELSE 'failed' END,
			`error_message` = CASE WHEN NEW.`status` IN ('pending', 'failed') THEN NEW.`error_message` END
		WHERE OLD.`status` = 'running' AND `task_id` = OLD.`id` AND `lease_id` = OLD.`lease_id` AND `finished_at` IS NULL;
	INSERT INTO `task_events` (`task_id`, `task_type_id`, `kind`, `at`, `status`, `attempt`, `worker_id`, `message`)
		VALUES (NEW.`id`, NEW.`task_type_id`,
			CASE
				WHEN OLD.`status` = 'running' AND NEW.`status` IN ('pending', 'failed') THEN
					CASE WHEN NEW.`error_message` LIKE 'Lease expired%' AND OLD.`lease_expires_at` <= NEW.`updated_at` THEN 'lease_expired' ELSE 'failed' END
				WHEN NEW.`status` IN ('completed', 'cancelled', 'failed') THEN NEW.`status`
				WHEN NEW.`status` = 'pending' AND OLD.`status` IN ('failed', 'cancelled') THEN 'retried'
				ELSE 'updated' END,
			coalesce(NEW.`updated_at`, strftime('%Y-%m-%dT%H:%M:%fZ', 'now')), NEW.`status`, NEW.`attempts`, NEW.`worker_id`,
			CASE WHEN OLD.`status` = 'running' AND NEW.`status` IN ('pending', 'failed') THEN NEW.`error_message` END);
END;--> statement-breakpoint
-- A heartbeat: the lease extended by the worker holding it, with the progress it reported.
CREATE TRIGGER `task_history_heartbeat` AFTER UPDATE OF `lease_expires_at` ON `task_list`
	WHEN NEW.`status` = 'running' AND OLD.`status` = 'running' AND NEW.`lease_id` IS OLD.`lease_id` BEGIN
	UPDATE `task_attempts` SET `heartbeats` = `heartbeats` + 1, `progress` = NEW.`progress`, `progress_message` = NEW.`progress_message`
		WHERE `task_id` = NEW.`id` AND `lease_id` = NEW.`lease_id`;
	INSERT INTO `task_events` (`task_id`, `task_type_id`, `kind`, `at`, `status`, `attempt`, `worker_id`, `progress`, `message`)
		SELECT NEW.`id`, NEW.`task_type_id`, 'progress', NEW.`updated_at`, NEW.`status`, NEW.`attempts`, NEW.`worker_id`, NEW.`progress`, NEW.`progress_message`
		WHERE NEW.`progress` IS NOT OLD.`progress` OR NEW.`progress_message` IS NOT OLD.`progress_message`;
END;--> statement-breakpoint
-- A delete (by hand, in bulk or by retention); its attempts go with it (ON DELETE CASCADE).
CREATE TRIGGER `task_history_delete` AFTER DELETE ON `task_list` BEGIN
	INSERT INTO `task_events` (`task_id`, `task_type_id`, `kind`, `at`, `status`, `attempt`)
		VALUES (OLD.`id`, OLD.`task_type_id`, 'deleted', strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), OLD.`status`, OLD.`attempts`);
END;
