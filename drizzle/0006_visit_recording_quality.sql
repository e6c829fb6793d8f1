ALTER TABLE "room_participants" ADD COLUMN "quality_avg" real;--> statement-breakpoint
ALTER TABLE "room_participants" ADD COLUMN "quality_min" smallint;--> statement-breakpoint
ALTER TABLE "room_recordings" ADD COLUMN "deleted_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "visits" ADD COLUMN "recording_since" timestamp with time zone;