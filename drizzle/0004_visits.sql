CREATE TABLE "consent_texts" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"org_id" uuid NOT NULL,
	"kind" text NOT NULL,
	"version" text NOT NULL,
	"body" text NOT NULL,
	"created_by_user_id" uuid,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "consent_texts_org_id_id_key" UNIQUE("org_id","id")
);
--> statement-breakpoint
CREATE TABLE "participant_sessions" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"org_id" uuid NOT NULL,
	"visit_id" uuid NOT NULL,
	"participant_id" uuid NOT NULL,
	"token_hash" text NOT NULL,
	"link_id" uuid,
	"ip" text,
	"user_agent" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"expires_at" timestamp with time zone NOT NULL,
	"revoked_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "visit_consents" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"org_id" uuid NOT NULL,
	"visit_id" uuid NOT NULL,
	"participant_id" uuid NOT NULL,
	"kind" text NOT NULL,
	"text_version" text NOT NULL,
	"ip" text,
	"user_agent" text,
	"accepted_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "visit_links" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"org_id" uuid NOT NULL,
	"visit_id" uuid NOT NULL,
	"participant_id" uuid NOT NULL,
	"expires_at" timestamp with time zone NOT NULL,
	"revoked_at" timestamp with time zone,
	"last_used_at" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "visit_participants" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"org_id" uuid NOT NULL,
	"visit_id" uuid NOT NULL,
	"role" text NOT NULL,
	"patient_id" uuid,
	"user_id" uuid,
	"display_name" text NOT NULL,
	"admission" text DEFAULT 'invited' NOT NULL,
	"deny_message" text,
	"telehealth_consent_at" timestamp with time zone,
	"recording_consent_at" timestamp with time zone,
	"arrived_at" timestamp with time zone,
	"admitted_at" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "visit_participants_org_id_id_key" UNIQUE("org_id","id")
);
--> statement-breakpoint
CREATE TABLE "visits" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"org_id" uuid NOT NULL,
	"appointment_id" uuid,
	"kind" text NOT NULL,
	"host_user_id" uuid NOT NULL,
	"status" text DEFAULT 'scheduled' NOT NULL,
	"scheduled_start" timestamp with time zone NOT NULL,
	"duration_minutes" integer NOT NULL,
	"extended_minutes" integer DEFAULT 0 NOT NULL,
	"locked" boolean DEFAULT false NOT NULL,
	"room_id" uuid,
	"opened_at" timestamp with time zone,
	"started_at" timestamp with time zone,
	"ended_at" timestamp with time zone,
	"end_reason" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "visits_org_id_id_key" UNIQUE("org_id","id"),
	CONSTRAINT "visits_duration_check" CHECK ("visits"."duration_minutes" between 1 and 1440 and "visits"."extended_minutes" between 0 and 1440)
);
--> statement-breakpoint
ALTER TABLE "consent_texts" ADD CONSTRAINT "consent_texts_org_fk" FOREIGN KEY ("org_id") REFERENCES "public"."organizations"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "participant_sessions" ADD CONSTRAINT "participant_sessions_participant_fk" FOREIGN KEY ("org_id","participant_id") REFERENCES "public"."visit_participants"("org_id","id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "visit_consents" ADD CONSTRAINT "visit_consents_participant_fk" FOREIGN KEY ("org_id","participant_id") REFERENCES "public"."visit_participants"("org_id","id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "visit_links" ADD CONSTRAINT "visit_links_participant_fk" FOREIGN KEY ("org_id","participant_id") REFERENCES "public"."visit_participants"("org_id","id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "visit_participants" ADD CONSTRAINT "visit_participants_visit_fk" FOREIGN KEY ("org_id","visit_id") REFERENCES "public"."visits"("org_id","id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "visit_participants" ADD CONSTRAINT "visit_participants_patient_fk" FOREIGN KEY ("org_id","patient_id") REFERENCES "public"."patients"("org_id","id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "visit_participants" ADD CONSTRAINT "visit_participants_user_fk" FOREIGN KEY ("org_id","user_id") REFERENCES "public"."users"("org_id","id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "visits" ADD CONSTRAINT "visits_appointment_fk" FOREIGN KEY ("org_id","appointment_id") REFERENCES "public"."appointments"("org_id","id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "visits" ADD CONSTRAINT "visits_host_fk" FOREIGN KEY ("org_id","host_user_id") REFERENCES "public"."users"("org_id","id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "visits" ADD CONSTRAINT "visits_room_fk" FOREIGN KEY ("org_id","room_id") REFERENCES "public"."rooms"("org_id","id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "consent_texts_org_kind_version_key" ON "consent_texts" USING btree ("org_id","kind","version");--> statement-breakpoint
CREATE INDEX "consent_texts_org_kind_idx" ON "consent_texts" USING btree ("org_id","kind","created_at");--> statement-breakpoint
CREATE UNIQUE INDEX "participant_sessions_token_hash_key" ON "participant_sessions" USING btree ("token_hash");--> statement-breakpoint
CREATE INDEX "participant_sessions_participant_idx" ON "participant_sessions" USING btree ("org_id","participant_id");--> statement-breakpoint
CREATE INDEX "visit_consents_visit_idx" ON "visit_consents" USING btree ("org_id","visit_id","accepted_at");--> statement-breakpoint
CREATE INDEX "visit_links_visit_idx" ON "visit_links" USING btree ("org_id","visit_id");--> statement-breakpoint
CREATE INDEX "visit_participants_visit_idx" ON "visit_participants" USING btree ("org_id","visit_id","created_at");--> statement-breakpoint
CREATE UNIQUE INDEX "visit_participants_host_key" ON "visit_participants" USING btree ("visit_id") WHERE "visit_participants"."role" = 'host';--> statement-breakpoint
CREATE UNIQUE INDEX "visits_org_appointment_key" ON "visits" USING btree ("org_id","appointment_id") WHERE "visits"."appointment_id" is not null;--> statement-breakpoint
CREATE INDEX "visits_org_start_idx" ON "visits" USING btree ("org_id","scheduled_start","id");--> statement-breakpoint
CREATE INDEX "visits_org_host_start_idx" ON "visits" USING btree ("org_id","host_user_id","scheduled_start");