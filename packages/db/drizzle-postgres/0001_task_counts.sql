-- The task counts (the queue depth per type and status), kept in the transaction of every write to
-- task_list without a hot row: each statement appends what it changed to task_count_deltas, one
-- row per type and status it moved tasks in or out of, and the store folds those rows into
-- task_counts from time to time (one replica at a time). Appending takes no row lock, where an
-- UPDATE of one counter row per type and status would make every concurrent create of a type
-- wait for the one before it to commit.
CREATE FUNCTION "task_counts_inserted"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO "task_count_deltas" ("task_type_id", "status", "delta")
		SELECT "task_type_id", "status", count(*) FROM "new_rows" GROUP BY 1, 2;
	RETURN NULL;
END $$;
--> statement-breakpoint
CREATE FUNCTION "task_counts_deleted"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO "task_count_deltas" ("task_type_id", "status", "delta")
		SELECT "task_type_id", "status", -count(*) FROM "old_rows" GROUP BY 1, 2;
	RETURN NULL;
END $$;
--> statement-breakpoint
CREATE FUNCTION "task_counts_updated"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO "task_count_deltas" ("task_type_id", "status", "delta")
		SELECT "task_type_id", "status", sum("d") FROM (
			SELECT "task_type_id", "status", 1 AS "d" FROM "new_rows"
			UNION ALL
			SELECT "task_type_id", "status", -1 FROM "old_rows"
		) AS "moves" GROUP BY 1, 2 HAVING sum("d") <> 0;
	RETURN NULL;
END $$;
--> statement-breakpoint
CREATE TRIGGER "task_counts_insert" AFTER INSERT ON "task_list"
	REFERENCING NEW TABLE AS "new_rows" FOR EACH STATEMENT EXECUTE FUNCTION "task_counts_inserted"();
--> statement-breakpoint
CREATE TRIGGER "task_counts_delete" AFTER DELETE ON "task_list"
	REFERENCING OLD TABLE AS "old_rows" FOR EACH STATEMENT EXECUTE FUNCTION "task_counts_deleted"();
--> statement-breakpoint
CREATE TRIGGER "task_counts_update" AFTER UPDATE ON "task_list"
	REFERENCING OLD TABLE AS "old_rows" NEW TABLE AS "new_rows" FOR EACH STATEMENT EXECUTE FUNCTION "task_counts_updated"();
--> statement-breakpoint
-- Rows that predate the triggers (none in a new database).
INSERT INTO "task_counts" ("task_type_id", "status", "count")
	SELECT "task_type_id", "status", count(*) FROM "task_list" GROUP BY 1, 2;
--> statement-breakpoint
-- The storage probe's filler is stored as given, uncompressed, so that it needs its room.
ALTER TABLE "storage_probe" ALTER COLUMN "filler" SET STORAGE EXTERNAL;
