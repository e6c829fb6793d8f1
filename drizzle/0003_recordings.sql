CREATE TABLE "room_recordings" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"org_id" uuid NOT NULL,
	"room_id" uuid NOT NULL,
	"identity" text NOT NULL,
	"content" text NOT NULL,
	"status" text NOT NULL,
	"provider_ref" text NOT NULL,
	"file" text,
	"started_at" timestamp with time zone NOT NULL,
	"ended_at" timestamp with time zone,
	"bytes" bigint,
	"error" text,
	CONSTRAINT "room_recordings_provider_ref_key" UNIQUE("provider_ref")
);
--> statement-breakpoint
ALTER TABLE "room_recordings" ADD CONSTRAINT "room_recordings_room_fk" FOREIGN KEY ("org_id","room_id") REFERENCES "public"."rooms"("org_id","id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "room_recordings_room_idx" ON "room_recordings" USING btree ("org_id","room_id","started_at");