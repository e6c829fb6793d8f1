ALTER TABLE "messaging_settings" ADD COLUMN "sms_number" text;--> statement-breakpoint
ALTER TABLE "messaging_settings" ADD COLUMN "messaging_service_sid" text;--> statement-breakpoint
ALTER TABLE "organizations" ADD COLUMN "logo_url" text;--> statement-breakpoint
ALTER TABLE "visit_messages" ADD COLUMN "to_participant_id" uuid;--> statement-breakpoint
ALTER TABLE "visit_messages" ADD CONSTRAINT "visit_messages_to_participant_fk" FOREIGN KEY ("org_id","to_participant_id") REFERENCES "public"."visit_participants"("org_id","id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "messaging_settings_sms_number_key" ON "messaging_settings" USING btree ("sms_number") WHERE sms_number is not null;--> statement-breakpoint
CREATE UNIQUE INDEX "messaging_settings_service_key" ON "messaging_settings" USING btree ("messaging_service_sid") WHERE messaging_service_sid is not null;