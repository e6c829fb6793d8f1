-- Each recording's media type, as its provider declared it. Every recording so far is the builtin provider's WebM.
ALTER TABLE "room_recordings" ADD COLUMN "media_type" text;--> statement-breakpoint
UPDATE "room_recordings" SET "media_type" = 'video/webm';--> statement-breakpoint
ALTER TABLE "room_recordings" ALTER COLUMN "media_type" SET NOT NULL;
