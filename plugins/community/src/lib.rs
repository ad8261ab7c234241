//! The Cobuntu-compatible community surface (seed 001): a Cobuntu client works against it by
//! changing only its base URL and key.
//!
//! Everything is under `/api/v1/communities/{tag}/…`, where `tag` is the community (the host
//! resolves the tenant from it and checks the key is that community's). The scopes are the
//! seed's: `READ_PUBLIC`, `WRITE_MEMBERS`, `WRITE_SALES`, `WRITE_BROADCASTS`, and `ADMIN`, which
//! the host lets satisfy the others; a publishable key (`pk_…`) gets reads only. Lists take
//! `?limit=20&offset=0` ([`paging`]).
//!
//! - [`events`]: events, their tiers and tier forms, RSVPs to free tiers;
//! - [`content`]: articles, products, the atlas's hotspots and categories;
//! - [`members`]: members (host users), rules, kicks, bans, applications;
//! - [`segments`]: segments, their forms and submissions;
//! - [`broadcasts`]: a mail to a segment's members, queued and handed on in batches.
//!
//! The community's own data is created under the same prefix with `ADMIN`.

mod broadcasts;
mod content;
mod events;
mod forms;
mod members;
mod paging;
mod segments;

use mobieus_sdk::garde;
use mobieus_sdk::prelude::*;

struct Community;

const READ: &str = "READ_PUBLIC";
const MEMBERS: &str = "WRITE_MEMBERS";
const SALES: &str = "WRITE_SALES";
const BROADCASTS: &str = "WRITE_BROADCASTS";
const ADMIN: &str = "ADMIN";

fn at(rest: &str) -> String {
    format!("/api/v1/communities/{{tag}}{rest}")
}

/// A path with the community and one id (`…/{tag}/atlas/hotspots/{id}`).
#[derive(Deserialize)]
pub struct IdPath {
    /// The host resolved the community from it; the plugin serves that tenant only.
    #[allow(dead_code)]
    tag: String,
    id: String,
}

/// A slug: a-z, 0-9 and `-`.
pub fn slug(value: &str, _: &()) -> garde::Result {
    if value.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-') {
        Ok(())
    } else {
        Err(garde::Error::new("a-z, 0-9 and -"))
    }
}

impl Plugin for Community {
    fn manifest() -> Manifest {
        Manifest::new("community", env!("CARGO_PKG_VERSION"))
            .claims(["communities", "rsvp", "member", "rules", "application", "segment", "broadcast"])
            .uses([Capability::Mail, Capability::Timers])
            .scope(READ, "List and get public resources: events, articles, products, members, atlas hotspots, segments.")
            .scope(MEMBERS, "Member-level writes: RSVPs, form submissions, rules, kicks, bans, applications.")
            .scope(SALES, "RSVP to events and checkout flows.")
            .scope(BROADCASTS, "Send emails to segments (5 per community per 24 hours).")
            .scope(ADMIN, "Everything above, and the community's own data: events, articles, products, hotspots, segments, applications.")
            .event_of::<events::RsvpEvent>("rsvp.created", "A member RSVPed to a free tier of an event.")
            .event_of::<members::MemberEvent>("rules.accepted", "A member acknowledged the community's rules.")
            .event_of::<members::MemberEvent>("member.kicked", "A member was removed; they may be admitted again.")
            .event_of::<members::MemberEvent>("member.banned", "A member was banned: refused every member action from now on.")
            .event_of::<members::ApplicationEvent>("application.approved", "A membership application was approved: the applicant is a member.")
            .event_of::<members::ApplicationEvent>("application.rejected", "A membership application was rejected.")
            .event_of::<segments::Submitted>("segment.submitted", "A member submitted a segment's form and joined it.")
            .event_of::<segments::SegmentUpdated>("segment.updated", "A segment's name, price or active flag changed.")
            .event_of::<broadcasts::Broadcast>("broadcast.sent", "A broadcast was queued: one mail per member of the segment with an address, handed to the outbox in batches.")
            .setting("broadcast_batch", "How many of a broadcast's recipients are handed to the outbox per call (1 to 500); 500 unless set (a smaller one is for trying the batches out).", "500", &[])
            .setting("broadcast_window_secs", "The window broadcasts are counted in (5 per window), in seconds; 86400 (24 hours) unless set.", "86400", &[])
            .migration(1, "events", events::MIGRATION)
            .migration(2, "content", content::MIGRATION)
            .migration(3, "members", members::MIGRATION)
            .migration(4, "segments", segments::MIGRATION)
            .migration(5, "broadcast_queue", broadcasts::MIGRATION)
    }

    fn router() -> Router {
        const NO_EVENT: &str = "No event has this slug.";
        Router::new()
            // Events.
            .route(Route::get(&at("/events"), READ, events::list).id("communityListEvents").summary("List events, soonest first"))
            .route(Route::post(&at("/events"), ADMIN, events::create).id("communityCreateEvent").summary("Create an event").error(409, "slug_taken", "Another event has this slug."))
            .route(Route::get(&at("/events/{slug}"), READ, events::get).id("communityGetEvent").summary("Event detail").error(404, "event_not_found", NO_EVENT))
            .route(Route::get(&at("/events/{slug}/tiers"), READ, events::tiers).id("communityListTiers").summary("Tier list for an event").error(404, "event_not_found", NO_EVENT))
            .route(Route::post(&at("/events/{slug}/tiers"), ADMIN, events::create_tier).id("communityCreateTier").summary("Add a tier (free, or with a price) and its form").error(404, "event_not_found", NO_EVENT))
            .route(
                Route::post(&at("/events/{slug}/rsvp"), SALES, events::rsvp)
                    .id("communityRsvp")
                    .summary("RSVP to a free event (its free tier, or the one named)")
                    .error(404, "event_not_found", NO_EVENT)
                    .error(402, "payment_required", "The tier has a price: paid tiers are bought through checkout.")
                    .error(403, "member_banned", "The member is banned from the community.")
                    .error(409, "already_rsvped", "The member has an RSVP to this event: `rsvp_id` names it.")
                    .error(409, "tier_full", "The tier has no place left."),
            )
            .route(Route::get(&at("/tiers/{tier_id}/form"), READ, events::form).id("communityGetTierForm").summary("Form schema for a tier").error(404, "tier_not_found", "No tier has this id."))
            // Content.
            .route(Route::get(&at("/articles"), READ, content::articles).id("communityListArticles").summary("List published articles, newest first"))
            .route(Route::post(&at("/articles"), ADMIN, content::create_article).id("communityCreateArticle").summary("Write an article (published unless `published` is false)").error(409, "slug_taken", "Another article has this slug."))
            .route(Route::get(&at("/products"), READ, content::products).id("communityListProducts").summary("List products"))
            .route(Route::post(&at("/products"), ADMIN, content::create_product).id("communityCreateProduct").summary("Add a product").error(409, "sku_taken", "Another product has this SKU."))
            .route(Route::get(&at("/products/{sku}"), READ, content::product).id("communityGetProduct").summary("Product detail").error(404, "product_not_found", "No product has this SKU."))
            .route(Route::get(&at("/atlas/hotspots"), READ, content::hotspots).id("communityListHotspots").summary("List atlas hotspots").query("category_id", "Only this category's (cat_…)."))
            .route(Route::post(&at("/atlas/hotspots"), ADMIN, content::create_hotspot).id("communityCreateHotspot").summary("Add a hotspot to the atlas"))
            .route(Route::get(&at("/atlas/hotspots/{id}"), READ, content::hotspot).id("communityGetHotspot").summary("Hotspot detail").error(404, "hotspot_not_found", "No hotspot has this id."))
            .route(Route::get(&at("/atlas/categories"), READ, content::categories).id("communityListCategories").summary("Atlas categories"))
            .route(Route::post(&at("/atlas/categories"), ADMIN, content::create_category).id("communityCreateCategory").summary("Add an atlas category").error(409, "name_taken", "Another category has this name."))
            // Members.
            .route(Route::get(&at("/members"), READ, members::list).id("communityListMembers").summary("List members (public fields only)"))
            .route(Route::post(&at("/members"), ADMIN, members::add).id("communityAddMember").summary("Admit a host user as a member").error(403, "member_banned", "The user is banned from the community."))
            .route(Route::post(&at("/rules/accept"), MEMBERS, members::accept_rules).id("communityAcceptRules").summary("Acknowledge community rules").error(404, "member_not_found", "The user is not a member."))
            .route(Route::post(&at("/members/{user_id}/kick"), MEMBERS, members::kick).id("communityKickMember").summary("Kick a member").error(404, "member_not_found", "The user is not a member."))
            .route(Route::post(&at("/members/{user_id}/ban"), MEMBERS, members::ban).id("communityBanMember").summary("Ban a member").error(409, "already_banned", "The member is banned already."))
            .route(Route::get(&at("/applications"), ADMIN, members::applications).id("communityListApplications").summary("List membership applications, newest first").query("status", "Only this status: pending, approved or rejected."))
            .route(Route::post(&at("/applications"), ADMIN, members::create_application).id("communityCreateApplication").summary("Record a membership application").error(403, "member_banned", "The user is banned from the community."))
            .route(
                Route::post(&at("/applications/{id}/approve"), MEMBERS, members::approve)
                    .id("communityApproveApplication")
                    .summary("Approve a membership application: the applicant becomes a member")
                    .error(404, "application_not_found", "No application has this id.")
                    .error(409, "application_decided", "The application was approved or rejected already."),
            )
            .route(
                Route::post(&at("/applications/{id}/reject"), MEMBERS, members::reject)
                    .id("communityRejectApplication")
                    .summary("Reject a membership application")
                    .error(404, "application_not_found", "No application has this id.")
                    .error(409, "application_decided", "The application was approved or rejected already."),
            )
            // Segments and broadcasts.
            .route(Route::get(&at("/segments/public"), READ, segments::public).id("communityListPublicSegments").summary("Public segments (tiers)"))
            .route(Route::get(&at("/segments"), ADMIN, segments::all).id("communityListSegments").summary("List every segment, public or not, newest first"))
            .route(Route::post(&at("/segments"), ADMIN, segments::create).id("communityCreateSegment").summary("Create a segment and its form"))
            .route(Route::get(&at("/segments/{id}/form"), READ, segments::form).id("communityGetSegmentForm").summary("Segment form schema").error(404, "segment_not_found", "No segment has this id."))
            .route(
                Route::post(&at("/segments/{id}/submit"), MEMBERS, segments::submit)
                    .id("communitySubmitSegmentForm")
                    .summary("Submit a segment's form: the member joins the segment")
                    .error(404, "segment_not_found", "No segment has this id.")
                    .error(409, "segment_inactive", "The segment takes no submissions."),
            )
            .route(Route::patch(&at("/segments/{id}"), ADMIN, segments::update).id("communityUpdateSegment").summary("Update segment (name / pricing / active)").error(404, "segment_not_found", "No segment has this id."))
            .route(Route::get(&at("/broadcasts"), ADMIN, broadcasts::list).id("communityListBroadcasts").summary("List the broadcasts sent, newest first"))
            .route(
                Route::post(&at("/broadcasts"), BROADCASTS, broadcasts::send)
                    .id("communitySendBroadcast")
                    .summary("Send a one-shot mass email to a segment's members (5 per community per 24 hours)")
                    .answers::<broadcasts::Broadcast>()
                    .status(201)
                    .error(429, "broadcast_limit", "Five broadcasts went out in the window: `retry_at` (and Retry-After) says when the next may."),
            )
    }

    fn on_timer(cx: &mut Ctx, timer: &Timer) -> std::result::Result<(), String> {
        match broadcasts::on_timer(cx, timer) {
            Ok(true) => Ok(()),
            Ok(false) => Err(format!("no timer of this plugin is named `{}`", timer.key)),
            Err(e) => Err(e.message),
        }
    }
}

mobieus_sdk::export!(Community);
