ALTER TABLE "organizations" ADD COLUMN "group_name_policy" text DEFAULT 'first_initial' NOT NULL;--> statement-breakpoint
ALTER TABLE "organizations" ADD COLUMN "group_self_names" boolean DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE "organizations" ADD COLUMN "group_max_participants" integer DEFAULT 50 NOT NULL;--> statement-breakpoint
ALTER TABLE "rooms" ADD COLUMN "media_policy" jsonb;--> statement-breakpoint
ALTER TABLE "visit_participants" ADD COLUMN "hand_raised_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "visit_participants" ADD COLUMN "chosen_name" text;--> statement-breakpoint
ALTER TABLE "visits" ADD COLUMN "max_participants" integer;--> statement-breakpoint
ALTER TABLE "visits" ADD COLUMN "spotlight_participant_id" uuid;--> statement-breakpoint
ALTER TABLE "visits" ADD COLUMN "muted_all" boolean DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE "visits" ADD COLUMN "self_unmute" boolean DEFAULT true NOT NULL;--> statement-breakpoint
ALTER TABLE "visits" ADD COLUMN "media_mode" text DEFAULT 'collaboration' NOT NULL;--> statement-breakpoint
ALTER TABLE "organizations" ADD CONSTRAINT "organizations_group_max_participants_check" CHECK ("organizations"."group_max_participants" between 2 and 50);--> statement-breakpoint
ALTER TABLE "visits" ADD CONSTRAINT "visits_max_participants_check" CHECK ("visits"."max_participants" is null or "visits"."max_participants" between 1 and 50);