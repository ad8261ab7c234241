//! Help: the help desk, and eight AI assists on the tenant's own provider.
//!
//! Tickets from host users move through `new → open → pending → open`, `open|pending → on_hold`,
//! any → `solved`, `solved → open | closed` ([`tickets::Status`]); a thread of public replies and
//! internal notes; queues that assign by hand, round robin or balanced with a per-agent cap, and
//! drain their backlog oldest first when an agent frees up ([`assign`]); canned responses with
//! placeholders; help topics that route intake to a queue; notification preferences per event
//! and channel; an audit row for every change.
//!
//! The assists ([`assists`]) run only while their own flag is on, answer JSON of a published
//! schema with `{model, usage, grounding}`, ground themselves in Know search as the caller, and
//! never send anything to a requester.
//!
//! Routes under `/api/v1/helpdesk` (`helpdesk:read`, `helpdesk:write`, `helpdesk:admin`); events
//! `ticket.created`, `ticket.replied`, `ticket.status_changed`, `ticket.assigned`. Built on the
//! public SDK.

mod assign;
mod assists;
mod audit;
mod desk;
mod notify;
mod tickets;

use mobieus_sdk::prelude::*;

struct Helpdesk;

const BASE: &str = "/api/v1/helpdesk";
const READ: &str = "helpdesk:read";
const WRITE: &str = "helpdesk:write";
const ADMIN: &str = "helpdesk:admin";

const NO_TICKET: &str = "No ticket has this id.";
const NAME_TAKEN: &str = "Another one has this name (compared without case).";
const BAD_STATE: &str = "The ticket's state does not allow this: see the state machine in the description of POST /tickets/{id}/status.";

fn path(rest: &str) -> String {
    format!("{BASE}{rest}")
}

impl Plugin for Helpdesk {
    fn manifest() -> Manifest {
        let mut m = Manifest::new("helpdesk", env!("CARGO_PKG_VERSION"))
            .claims(["helpdesk", "ticket"])
            .uses([Capability::Ai, Capability::Mail, Capability::Surfaces, Capability::Search])
            .scope("helpdesk:read", "Read tickets, queues, agents, canned responses, tags, help topics, notification preferences, and the read-side AI assists.")
            .scope("helpdesk:write", "Create and update tickets, reply, change status, assign, manage canned responses and tags, and the write-side AI assists.")
            .scope("helpdesk:admin", "Set up queues, agents, topics and notification preferences, read the desk's audit log, and the admin-only AI assists.")
            .event_of::<tickets::TicketEvent>("ticket.created", "A ticket was opened.")
            .event_of::<tickets::RepliedEvent>("ticket.replied", "A public reply or an internal note was added to a ticket.")
            .event_of::<tickets::StatusEvent>("ticket.status_changed", "A ticket moved from one state to another.")
            .event_of::<assign::AssignedEvent>("ticket.assigned", "A ticket's assignee changed: by hand, by its queue's mode, or as the backlog drained to an agent who freed up.")
            .migration(1, "desk", tickets::MIGRATION)
            .migration(2, "search", tickets::SEARCH_MIGRATION);
        for assist in assists::FLAGS {
            m = m.flag(assist);
        }
        m
    }

    fn router() -> Router {
        let mut router = Router::new()
            .route(
                Route::get(&path("/tickets"), READ, tickets::list)
                    .id("listTickets")
                    .summary("List tickets, newest first")
                    .query("status", "new, open, pending, on_hold, solved or closed.")
                    .query("queue_id", "Only tickets in this queue (que_…).")
                    .query("assignee_id", "Only tickets assigned to this user (usr_…); `none` for the unassigned.")
                    .query("tag", "Only tickets with this tag.")
                    .query("topic_id", "Only tickets of this help topic (top_…).")
                    .query("requester_id", "Only tickets this user asked (usr_…).")
                    .query("q", "Only tickets whose subject or thread contains this text (case-insensitive)."),
            )
            .route(
                Route::post(&path("/tickets"), WRITE, tickets::create)
                    .id("createTicket")
                    .summary("Open a ticket; its topic routes it to a queue, whose mode may assign it"),
            )
            .route(
                Route::get(&path("/tickets/{id}"), READ, tickets::get)
                    .id("getTicket")
                    .summary("One ticket: status, priority, assignee, tags, due times")
                    .error(404, "ticket_not_found", NO_TICKET),
            )
            .route(
                Route::get(&path("/tickets/{id}/messages"), READ, tickets::messages)
                    .id("listTicketMessages")
                    .summary("A ticket's thread, oldest first: public replies and internal notes")
                    .query("visibility", "public or internal.")
                    .error(404, "ticket_not_found", NO_TICKET),
            )
            .route(
                Route::post(&path("/tickets/{id}/replies"), WRITE, tickets::reply)
                    .id("replyToTicket")
                    .summary("Reply (public) or add an internal note; a requester's reply reopens a pending or solved ticket")
                    .error(404, "ticket_not_found", NO_TICKET)
                    .error(404, "canned_response_not_found", "No active canned response has this id.")
                    .error(409, "invalid_ticket_state", BAD_STATE),
            )
            .route(
                Route::post(&path("/tickets/{id}/status"), WRITE, tickets::set_status)
                    .id("changeTicketStatus")
                    .summary("Move a ticket: new → open → pending → open, open|pending → on_hold → open, any → solved, solved → open | closed")
                    .error(404, "ticket_not_found", NO_TICKET)
                    .error(409, "invalid_ticket_state", BAD_STATE),
            )
            .route(
                Route::post(&path("/tickets/{id}/assign"), WRITE, assign::assign)
                    .id("assignTicket")
                    .summary("Assign a ticket to an agent, or to no one; optionally move it to another queue")
                    .error(404, "ticket_not_found", NO_TICKET)
                    .error(404, "queue_not_found", "No queue has this id.")
                    .error(409, "invalid_ticket_state", BAD_STATE),
            )
            .route(
                Route::put(&path("/tickets/{id}/tags"), WRITE, tickets::set_tags)
                    .id("setTicketTags")
                    .summary("Replace a ticket's tags")
                    .error(404, "ticket_not_found", NO_TICKET),
            )
            .route(
                Route::get(&path("/tickets/{id}/audit"), READ, audit::for_ticket)
                    .id("listTicketAudit")
                    .summary("Every change of a ticket, newest first: actor, time, field, from, to")
                    .error(404, "ticket_not_found", NO_TICKET),
            )
            .route(
                Route::get(&path("/queues"), READ, desk::list_queues)
                    .id("listQueues")
                    .summary("Queues with their assignment mode and response targets"),
            )
            .route(
                Route::post(&path("/queues"), ADMIN, desk::create_queue)
                    .id("createQueue")
                    .error(409, "name_taken", NAME_TAKEN)
                    .summary("Create a queue"),
            )
            .route(
                Route::patch(&path("/queues/{id}"), ADMIN, desk::update_queue)
                    .id("updateQueue")
                    .error(409, "name_taken", NAME_TAKEN)
                    .summary("Change a queue's name, mode, cap or targets")
                    .error(404, "queue_not_found", "No queue has this id."),
            )
            .route(
                Route::get(&path("/agents"), READ, desk::list_agents)
                    .id("listAgents")
                    .summary("Agents: queues, capacity, availability and open load")
                    .query("queue_id", "Only agents of this queue (que_…)."),
            )
            .route(
                Route::put(&path("/agents/{user_id}"), ADMIN, desk::put_agent)
                    .id("putAgent")
                    .summary("Make a host user an agent or change one; an agent who comes back or gains capacity drains their queues' backlog, oldest first")
                    .error(404, "queue_not_found", "A queue named does not exist."),
            )
            .route(
                Route::get(&path("/canned-responses"), READ, desk::list_canned)
                    .id("listCannedResponses")
                    .summary("Canned responses, newest first")
                    .query("active", "true or false."),
            )
            .route(
                Route::post(&path("/canned-responses"), WRITE, desk::create_canned)
                    .id("createCannedResponse")
                    .summary("Save a canned response; its placeholders are checked now"),
            )
            .route(
                Route::patch(&path("/canned-responses/{id}"), WRITE, desk::update_canned)
                    .id("updateCannedResponse")
                    .summary("Change or deactivate a canned response (never deleted)")
                    .error(404, "canned_response_not_found", "No canned response has this id."),
            )
            .route(
                Route::get(&path("/tags"), READ, desk::list_tags)
                    .id("listTicketTags")
                    .summary("The tag vocabulary, most used first, with counts"),
            )
            .route(
                Route::get(&path("/topics"), READ, desk::list_topics)
                    .id("listHelpTopics")
                    .summary("Help topics: intake categories, each routing to a queue"),
            )
            .route(
                Route::post(&path("/topics"), ADMIN, desk::create_topic)
                    .id("createHelpTopic")
                    .error(409, "name_taken", NAME_TAKEN)
                    .summary("Create a help topic")
                    .error(404, "queue_not_found", "No queue has this id."),
            )
            .route(
                Route::get(&path("/notification-preferences"), READ, notify::get_preferences)
                    .id("getNotificationPreferences")
                    .summary("Whether each event is mailed and sent to webhooks"),
            )
            .route(
                Route::put(&path("/notification-preferences"), ADMIN, notify::put_preferences)
                    .id("putNotificationPreferences")
                    .summary("Switch mail or webhooks on or off per event"),
            )
            .route(
                Route::get(&path("/audit"), ADMIN, audit::list)
                    .id("listHelpdeskAudit")
                    .summary("The desk's audit log across tickets, newest first")
                    .query("ticket_id", "Only changes of this ticket (tkt_…).")
                    .query("field", "Only changes of this field (status, assignee_id, queue_id, tags, topic_id, priority, …)."),
            );
        for route in assists::routes() {
            router = router.route(route);
        }
        router
    }
}

mobieus_sdk::export!(Helpdesk);
