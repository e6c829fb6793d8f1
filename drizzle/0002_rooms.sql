CREATE TABLE "room_participants" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"org_id" uuid NOT NULL,
	"room_id" uuid NOT NULL,
	"identity" text NOT NULL,
	"status" text NOT NULL,
	"joined_at" timestamp with time zone NOT NULL,
	"left_at" timestamp with time zone,
	"duration_s" integer,
	"leave_reason" text
);
--> statement-breakpoint
CREATE TABLE "rooms" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"org_id" uuid NOT NULL,
	"name" text NOT NULL,
	"provider" text NOT NULL,
	"provider_room_id" text,
	"status" text DEFAULT 'in-progress' NOT NULL,
	"max_participants" integer NOT NULL,
	"max_participant_duration_s" integer NOT NULL,
	"empty_room_timeout_s" integer NOT NULL,
	"unused_room_timeout_s" integer NOT NULL,
	"provider_data" jsonb,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"ended_at" timestamp with time zone,
	"end_reason" text,
	CONSTRAINT "rooms_org_id_id_key" UNIQUE("org_id","id")
);
--> statement-breakpoint
ALTER TABLE "room_participants" ADD CONSTRAINT "room_participants_room_fk" FOREIGN KEY ("org_id","room_id") REFERENCES "public"."rooms"("org_id","id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "rooms" ADD CONSTRAINT "rooms_org_id_organizations_id_fk" FOREIGN KEY ("org_id") REFERENCES "public"."organizations"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "room_participants_room_idx" ON "room_participants" USING btree ("org_id","room_id","joined_at");--> statement-breakpoint
CREATE UNIQUE INDEX "rooms_org_name_in_progress_key" ON "rooms" USING btree ("org_id","name") WHERE "rooms"."status" = 'in-progress';--> statement-breakpoint
CREATE INDEX "rooms_org_created_idx" ON "rooms" USING btree ("org_id","created_at","id");