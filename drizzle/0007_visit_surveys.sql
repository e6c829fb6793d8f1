CREATE TABLE "visit_surveys" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"org_id" uuid NOT NULL,
	"visit_id" uuid NOT NULL,
	"participant_id" uuid NOT NULL,
	"rating" smallint NOT NULL,
	"comment" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "visit_surveys_rating_check" CHECK ("visit_surveys"."rating" between 1 and 5)
);
--> statement-breakpoint
ALTER TABLE "visit_surveys" ADD CONSTRAINT "visit_surveys_participant_fk" FOREIGN KEY ("org_id","participant_id") REFERENCES "public"."visit_participants"("org_id","id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "visit_surveys_participant_key" ON "visit_surveys" USING btree ("participant_id");--> statement-breakpoint
CREATE INDEX "visit_surveys_visit_idx" ON "visit_surveys" USING btree ("org_id","visit_id");