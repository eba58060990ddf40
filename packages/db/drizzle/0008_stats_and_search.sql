CREATE TABLE `stats_position` (
	`id` integer PRIMARY KEY NOT NULL,
	`position` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `task_stats` (
	`task_type_id` integer NOT NULL,
	`minute` text NOT NULL,
	`completed` integer DEFAULT 0 NOT NULL,
	`failed` integer DEFAULT 0 NOT NULL,
	`retried` integer DEFAULT 0 NOT NULL,
	`wait_hist` text NOT NULL,
	`run_hist` text NOT NULL,
	PRIMARY KEY(`task_type_id`, `minute`)
);
--> statement-breakpoint
-- What search (`q`) finds tasks by: each task's parameters, metadata, result and error message
-- as words (runs of letters and digits, in lower case, accents kept, as PostgreSQL's
-- drizzle-postgres/0004 cuts them), in an FTS5 index that keeps no copy of the text (contentless, rowid = task id), kept
-- by triggers in the transaction of every write that changes that text, and nothing else: a
-- claim or a heartbeat does not touch it. The first 64 KiB of a task's text are indexed.
CREATE VIRTUAL TABLE `task_search` USING fts5(`body`, content='', contentless_delete=1, tokenize='unicode61 remove_diacritics 0');
--> statement-breakpoint
CREATE TRIGGER `task_search_insert` AFTER INSERT ON `task_list` BEGIN
	INSERT INTO `task_search` (`rowid`, `body`) VALUES (NEW.`id`,
		substr(NEW.`parameters` || ' ' || NEW.`metadata` || ' ' || coalesce(NEW.`result`, '') || ' ' || coalesce(NEW.`error_message`, ''), 1, 65536));
END;--> statement-breakpoint
CREATE TRIGGER `task_search_update` AFTER UPDATE OF `parameters`, `metadata`, `result`, `error_message` ON `task_list`
	WHEN NEW.`parameters` IS NOT OLD.`parameters` OR NEW.`metadata` IS NOT OLD.`metadata`
		OR NEW.`result` IS NOT OLD.`result` OR NEW.`error_message` IS NOT OLD.`error_message` BEGIN
	INSERT OR REPLACE INTO `task_search` (`rowid`, `body`) VALUES (NEW.`id`,
		substr(NEW.`parameters` || ' ' || NEW.`metadata` || ' ' || coalesce(NEW.`result`, '') || ' ' || coalesce(NEW.`error_message`, ''), 1, 65536));
END;--> statement-breakpoint
CREATE TRIGGER `task_search_delete` AFTER DELETE ON `task_list` BEGIN
	DELETE FROM `task_search` WHERE `rowid` = OLD.`id`;
END;--> statement-breakpoint
-- Tasks that predate the index (none in a new database).
INSERT INTO `task_search` (`rowid`, `body`)
	SELECT `id`, substr(`parameters` || ' ' || `metadata` || ' ' || coalesce(`result`, '') || ' ' || coalesce(`error_message`, ''), 1, 65536) FROM `task_list`;
