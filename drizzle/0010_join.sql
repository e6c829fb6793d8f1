ALTER TABLE "room_participants" ADD COLUMN "media_started_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "room_participants" ADD COLUMN "media_s" integer;