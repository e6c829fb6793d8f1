CREATE TABLE "room_routing" (
	"org_id" uuid NOT NULL,
	"room_id" uuid NOT NULL,
	"identity" text NOT NULL,
	"group_name" text,
	"audio_muted" boolean,
	"video_muted" boolean,
	"recorded" boolean,
	"tokens_revoked_before" timestamp with time zone,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "room_routing_room_id_identity_pk" PRIMARY KEY("room_id","identity")
);
--> statement-breakpoint
ALTER TABLE "rooms" ADD COLUMN "owner_kind" text;--> statement-breakpoint
ALTER TABLE "rooms" ADD COLUMN "owner_id" uuid;--> statement-breakpoint
ALTER TABLE "rooms" ADD COLUMN "recording_since" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "room_routing" ADD CONSTRAINT "room_routing_room_fk" FOREIGN KEY ("org_id","room_id") REFERENCES "public"."rooms"("org_id","id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "rooms_org_owner_idx" ON "rooms" USING btree ("org_id","owner_kind","owner_id","created_at") WHERE "rooms"."owner_id" is not null;--> statement-breakpoint
ALTER TABLE "rooms" ADD CONSTRAINT "rooms_owner_check" CHECK (("rooms"."owner_kind" is null) = ("rooms"."owner_id" is null));--> statement-breakpoint
-- Data (hand-written): rooms made for visits were found by their name `visit-<id>`; they are owned by their visit now.
UPDATE "rooms" SET "owner_kind" = 'visit', "owner_id" = v."id"
  FROM "visits" v WHERE v."org_id" = "rooms"."org_id" AND "rooms"."name" = 'visit-' || v."id"::text;
--> statement-breakpoint
-- Data (hand-written): the visits feature used to place its live visits' participants again at start-up; the rooms
-- layer now applies stored routing, so the rooms of visits live at upgrade time get the rows that placement made.
INSERT INTO "room_routing" ("org_id", "room_id", "identity", "group_name", "recorded", "tokens_revoked_before")
  SELECT r."org_id", r."id", p."id"::text,
         CASE WHEN p."role" = 'host' OR p."admission" = 'admitted' THEN 'main' ELSE 'waiting-' || p."id"::text END,
         p."role" = 'host' OR (p."admission" = 'admitted' AND p."recording_consent_at" IS NOT NULL),
         CASE WHEN p."admission" IN ('denied', 'removed') THEN p."updated_at" END
    FROM "visits" v
    JOIN "rooms" r ON r."org_id" = v."org_id" AND r."id" = v."room_id"
    JOIN "visit_participants" p ON p."org_id" = v."org_id" AND p."visit_id" = v."id"
   WHERE v."status" IN ('scheduled', 'open', 'in_progress') AND r."status" = 'in-progress';
--> statement-breakpoint
UPDATE "rooms" SET "recording_since" = v."recording_since"
  FROM "visits" v
 WHERE v."org_id" = "rooms"."org_id" AND v."room_id" = "rooms"."id" AND "rooms"."status" = 'in-progress' AND v."recording_since" IS NOT NULL;
