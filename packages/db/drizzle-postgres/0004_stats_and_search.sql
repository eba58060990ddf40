CREATE TABLE "stats_position" (
	"only_row" boolean PRIMARY KEY DEFAULT true NOT NULL,
	"tx" "xid8" NOT NULL,
	"id" bigint NOT NULL
);
--> statement-breakpoint
CREATE TABLE "task_search" (
	"task_id" bigint PRIMARY KEY NOT NULL,
	"doc" "tsvector" NOT NULL
);
--> statement-breakpoint
CREATE TABLE "task_stats" (
	"task_type_id" bigint NOT NULL,
	"minute" text COLLATE "C" NOT NULL,
	"completed" integer DEFAULT 0 NOT NULL,
	"failed" integer DEFAULT 0 NOT NULL,
	"retried" integer DEFAULT 0 NOT NULL,
	"wait_hist" text NOT NULL,
	"run_hist" text NOT NULL,
	CONSTRAINT "task_stats_task_type_id_minute_pk" PRIMARY KEY("task_type_id","minute")
);
--> statement-breakpoint
ALTER TABLE "task_search" ADD CONSTRAINT "task_search_task_id_task_list_id_fk" FOREIGN KEY ("task_id") REFERENCES "public"."task_list"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "task_search_doc_idx" ON "task_search" USING gin ("doc");--> statement-breakpoint
-- What search (`q`) finds tasks by (see task_search in src/postgres/schema.ts): kept by triggers
-- in the transaction of every write that changes a task's parameters, metadata, result or error
-- message, the same text as SQLite indexes (drizzle/0008), cut into words the same way: runs of
-- letters and digits (so that an e-mail address or a URL is its words, not one token), in lower
-- case, without stemming. New rows a statement at a time.
CREATE FUNCTION "task_search_doc"("parameters" text, "metadata" text, "result" text, "error_message" text) RETURNS tsvector
	LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
	SELECT to_tsvector('simple', regexp_replace(
		left("parameters" || ' ' || "metadata" || ' ' || coalesce("result", '') || ' ' || coalesce("error_message", ''), 65536),
		'[^[:alnum:]]+', ' ', 'g'))
$$;
--> statement-breakpoint
CREATE FUNCTION "task_search_inserted"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO "task_search" ("task_id", "doc")
		SELECT "id", "task_search_doc"("parameters", "metadata", "result", "error_message") FROM "new_rows";
	RETURN NULL;
END $$;
--> statement-breakpoint
CREATE FUNCTION "task_search_updated"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	UPDATE "task_search" SET "doc" = "task_search_doc"(NEW."parameters", NEW."metadata", NEW."result", NEW."error_message")
		WHERE "task_id" = NEW."id";
	RETURN NULL;
END $$;
--> statement-breakpoint
CREATE TRIGGER "task_search_insert" AFTER INSERT ON "task_list"
	REFERENCING NEW TABLE AS "new_rows" FOR EACH STATEMENT EXECUTE FUNCTION "task_search_inserted"();
--> statement-breakpoint
CREATE TRIGGER "task_search_update" AFTER UPDATE OF "parameters", "metadata", "result", "error_message" ON "task_list"
	FOR EACH ROW WHEN (NEW."parameters" IS DISTINCT FROM OLD."parameters" OR NEW."metadata" IS DISTINCT FROM OLD."metadata"
		OR NEW."result" IS DISTINCT FROM OLD."result" OR NEW."error_message" IS DISTINCT FROM OLD."error_message")
	EXECUTE FUNCTION "task_search_updated"();
--> statement-breakpoint
-- Tasks that predate the index (none in a new database).
INSERT INTO "task_search" ("task_id", "doc")
	SELECT "id", "task_search_doc"("parameters", "metadata", "result", "error_message") FROM "task_list";
