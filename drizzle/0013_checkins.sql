CREATE TABLE "care_links" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"org_id" uuid NOT NULL,
	"member_id" uuid NOT NULL,
	"call_id" uuid,
	"expires_at" timestamp with time zone NOT NULL,
	"revoked_at" timestamp with time zone,
	"last_used_at" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "care_members" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"org_id" uuid NOT NULL,
	"recipient_id" uuid NOT NULL,
	"kind" text NOT NULL,
	"user_id" uuid,
	"display_name" text,
	"relationship" text,
	"phone" text,
	"can_start" boolean DEFAULT true NOT NULL,
	"can_receive" boolean DEFAULT true NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	"removed_at" timestamp with time zone,
	CONSTRAINT "care_members_org_id_id_key" UNIQUE("org_id","id"),
	CONSTRAINT "care_members_kind_check" CHECK ("care_members"."kind" in ('recipient', 'caregiver') and ("care_members"."kind" = 'caregiver' or "care_members"."user_id" is null))
);
--> statement-breakpoint
CREATE TABLE "checkin_calls" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"org_id" uuid NOT NULL,
	"recipient_id" uuid NOT NULL,
	"caller_member_id" uuid NOT NULL,
	"callee_member_id" uuid NOT NULL,
	"schedule_id" uuid,
	"room_id" uuid,
	"status" text DEFAULT 'requested' NOT NULL,
	"duration_limit_s" integer NOT NULL,
	"ring_expires_at" timestamp with time zone NOT NULL,
	"ring_started_at" timestamp with time zone,
	"caller_answered_at" timestamp with time zone,
	"callee_answered_at" timestamp with time zone,
	"caller_alerted_at" timestamp with time zone,
	"callee_alerted_at" timestamp with time zone,
	"text_queued_at" timestamp with time zone,
	"text_message_id" uuid,
	"caller_joined_at" timestamp with time zone,
	"callee_joined_at" timestamp with time zone,
	"started_at" timestamp with time zone,
	"completed_at" timestamp with time zone,
	"duration_ms" integer,
	"end_reason" text,
	"ended_by_member_id" uuid,
	"requested_by_type" text NOT NULL,
	"requested_by_id" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "checkin_calls_org_id_id_key" UNIQUE("org_id","id"),
	CONSTRAINT "checkin_calls_duration_check" CHECK ("checkin_calls"."duration_limit_s" between 5 and 600 and "checkin_calls"."caller_member_id" <> "checkin_calls"."callee_member_id")
);
--> statement-breakpoint
CREATE TABLE "checkin_schedules" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"org_id" uuid NOT NULL,
	"recipient_id" uuid NOT NULL,
	"caller_member_id" uuid NOT NULL,
	"callee_member_id" uuid NOT NULL,
	"duration_s" integer NOT NULL,
	"frequency" text NOT NULL,
	"time_of_day" text,
	"weekdays" integer[],
	"time_zone" text NOT NULL,
	"next_at" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"cancelled_at" timestamp with time zone,
	CONSTRAINT "checkin_schedules_org_id_id_key" UNIQUE("org_id","id"),
	CONSTRAINT "checkin_schedules_duration_check" CHECK ("checkin_schedules"."duration_s" between 5 and 600)
);
--> statement-breakpoint
CREATE TABLE "member_sessions" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"org_id" uuid NOT NULL,
	"member_id" uuid NOT NULL,
	"token_hash" text NOT NULL,
	"link_id" uuid,
	"ip" text,
	"user_agent" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"expires_at" timestamp with time zone NOT NULL,
	"revoked_at" timestamp with time zone
);
--> statement-breakpoint
ALTER TABLE "rooms" ADD COLUMN "ends_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "rooms" ADD COLUMN "deadline_reason" text;--> statement-breakpoint
ALTER TABLE "care_links" ADD CONSTRAINT "care_links_member_fk" FOREIGN KEY ("org_id","member_id") REFERENCES "public"."care_members"("org_id","id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "care_members" ADD CONSTRAINT "care_members_recipient_fk" FOREIGN KEY ("org_id","recipient_id") REFERENCES "public"."patients"("org_id","id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "care_members" ADD CONSTRAINT "care_members_user_fk" FOREIGN KEY ("org_id","user_id") REFERENCES "public"."users"("org_id","id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "checkin_calls" ADD CONSTRAINT "checkin_calls_recipient_fk" FOREIGN KEY ("org_id","recipient_id") REFERENCES "public"."patients"("org_id","id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "checkin_calls" ADD CONSTRAINT "checkin_calls_caller_fk" FOREIGN KEY ("org_id","caller_member_id") REFERENCES "public"."care_members"("org_id","id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "checkin_calls" ADD CONSTRAINT "checkin_calls_callee_fk" FOREIGN KEY ("org_id","callee_member_id") REFERENCES "public"."care_members"("org_id","id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "checkin_calls" ADD CONSTRAINT "checkin_calls_schedule_fk" FOREIGN KEY ("org_id","schedule_id") REFERENCES "public"."checkin_schedules"("org_id","id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "checkin_calls" ADD CONSTRAINT "checkin_calls_room_fk" FOREIGN KEY ("org_id","room_id") REFERENCES "public"."rooms"("org_id","id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "checkin_schedules" ADD CONSTRAINT "checkin_schedules_recipient_fk" FOREIGN KEY ("org_id","recipient_id") REFERENCES "public"."patients"("org_id","id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "checkin_schedules" ADD CONSTRAINT "checkin_schedules_caller_fk" FOREIGN KEY ("org_id","caller_member_id") REFERENCES "public"."care_members"("org_id","id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "checkin_schedules" ADD CONSTRAINT "checkin_schedules_callee_fk" FOREIGN KEY ("org_id","callee_member_id") REFERENCES "public"."care_members"("org_id","id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "member_sessions" ADD CONSTRAINT "member_sessions_member_fk" FOREIGN KEY ("org_id","member_id") REFERENCES "public"."care_members"("org_id","id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "care_links_member_idx" ON "care_links" USING btree ("org_id","member_id");--> statement-breakpoint
CREATE INDEX "care_members_recipient_idx" ON "care_members" USING btree ("org_id","recipient_id","created_at");--> statement-breakpoint
CREATE INDEX "care_members_user_idx" ON "care_members" USING btree ("org_id","user_id") WHERE "care_members"."user_id" is not null;--> statement-breakpoint
CREATE UNIQUE INDEX "care_members_recipient_self_key" ON "care_members" USING btree ("org_id","recipient_id") WHERE "care_members"."kind" = 'recipient' and "care_members"."removed_at" is null;--> statement-breakpoint
CREATE UNIQUE INDEX "care_members_recipient_user_key" ON "care_members" USING btree ("org_id","recipient_id","user_id") WHERE "care_members"."user_id" is not null and "care_members"."removed_at" is null;--> statement-breakpoint
CREATE INDEX "checkin_calls_org_created_idx" ON "checkin_calls" USING btree ("org_id","created_at","id");--> statement-breakpoint
CREATE INDEX "checkin_calls_recipient_idx" ON "checkin_calls" USING btree ("org_id","recipient_id","created_at");--> statement-breakpoint
CREATE INDEX "checkin_calls_caller_idx" ON "checkin_calls" USING btree ("org_id","caller_member_id","created_at");--> statement-breakpoint
CREATE INDEX "checkin_calls_callee_idx" ON "checkin_calls" USING btree ("org_id","callee_member_id","created_at");--> statement-breakpoint
CREATE INDEX "checkin_calls_room_idx" ON "checkin_calls" USING btree ("room_id") WHERE "checkin_calls"."room_id" is not null;--> statement-breakpoint
CREATE INDEX "checkin_calls_open_idx" ON "checkin_calls" USING btree ("ring_expires_at") WHERE "checkin_calls"."status" in ('requested', 'ringing');--> statement-breakpoint
CREATE INDEX "checkin_schedules_recipient_idx" ON "checkin_schedules" USING btree ("org_id","recipient_id","created_at");--> statement-breakpoint
CREATE INDEX "checkin_schedules_due_idx" ON "checkin_schedules" USING btree ("next_at") WHERE "checkin_schedules"."next_at" is not null;--> statement-breakpoint
CREATE UNIQUE INDEX "member_sessions_token_hash_key" ON "member_sessions" USING btree ("token_hash");--> statement-breakpoint
CREATE INDEX "member_sessions_member_idx" ON "member_sessions" USING btree ("org_id","member_id");--> statement-breakpoint
CREATE INDEX "rooms_ends_at_idx" ON "rooms" USING btree ("ends_at") WHERE "rooms"."status" = 'in-progress' and "rooms"."ends_at" is not null;