CREATE TABLE `task_counts` (
	`task_type_id` integer NOT NULL,
	`status` text NOT NULL,
	`count` integer NOT NULL,
	PRIMARY KEY(`task_type_id`, `status`)
);
--> statement-breakpoint
CREATE TRIGGER `task_counts_insert` AFTER INSERT ON `task_list` BEGIN
	INSERT INTO `task_counts` (`task_type_id`, `status`, `count`) VALUES (NEW.`task_type_id`, NEW.`status`, 1)
		ON CONFLICT (`task_type_id`, `status`) DO UPDATE SET `count` = `count` + 1;
END;--> statement-breakpoint
CREATE TRIGGER `task_counts_delete` AFTER DELETE ON `task_list` BEGIN
	UPDATE `task_counts` SET `count` = `count` - 1 WHERE `task_type_id` = OLD.`task_type_id` AND `status` = OLD.`status`;
END;--> statement-breakpoint
CREATE TRIGGER `task_counts_update` AFTER UPDATE OF `status`, `task_type_id` ON `task_list`
	WHEN OLD.`status` IS NOT NEW.`status` OR OLD.`task_type_id` IS NOT NEW.`task_type_id` BEGIN
	UPDATE `task_counts` SET `count` = `count` - 1 WHERE `task_type_id` = OLD.`task_type_id` AND `status` = OLD.`status`;
	INSERT INTO `task_counts` (`task_type_id`, `status`, `count`) VALUES (NEW.`task_type_id`, NEW.`status`, 1)
		ON CONFLICT (`task_type_id`, `status`) DO UPDATE SET `count` = `count` + 1;
END;--> statement-breakpoint
INSERT INTO `task_counts` (`task_type_id`, `status`, `count`)
	SELECT `task_type_id`, `status`, count(*) FROM `task_list` WHERE true GROUP BY `task_type_id`, `status`
	ON CONFLICT (`task_type_id`, `status`) DO UPDATE SET `count` = excluded.`count`;
