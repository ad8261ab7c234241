//! Tickets: intake, the thread, the state machine and tags.

use mobieus_sdk::check::{not_blank, one_line};
use mobieus_sdk::prelude::*;

use crate::audit::Actor;
use crate::{BAD_STATE, assign, audit, desk, notify};

/// `q`'s index: each ticket's subject and messages, as its thread reads, under a trigram index, so
/// "contains this text" is an index lookup instead of a read of every thread. The index's rows are
/// numbered by `helpdesk_search_docs` (an integer key survives `VACUUM`; a ticket's rowid need
/// not), and migration 2 fills both from the tickets already there.
pub const SEARCH_MIGRATION: &str = "
    CREATE TABLE helpdesk_search_docs (n INTEGER PRIMARY KEY, ticket_id TEXT NOT NULL UNIQUE);
    CREATE VIRTUAL TABLE helpdesk_search USING fts5(text, tokenize = 'trigram');
    INSERT INTO helpdesk_search_docs (ticket_id) SELECT id FROM helpdesk_tickets ORDER BY id;
    INSERT INTO helpdesk_search (rowid, text)
        SELECT d.n, t.subject || char(10) || coalesce((SELECT group_concat(body, char(10))
            FROM (SELECT body FROM helpdesk_messages m WHERE m.ticket_id = t.id ORDER BY m.id)), '')
        FROM helpdesk_search_docs d JOIN helpdesk_tickets t ON t.id = d.ticket_id;";

/// A new ticket's subject and first message into `q`'s index.
fn index_ticket(cx: &Ctx, ticket_id: &str, subject: &str, body: &str) -> Result<()> {
    cx.db().execute("INSERT INTO helpdesk_search_docs (ticket_id) VALUES (?1)", &[&ticket_id])?;
    cx.db().execute(
        "INSERT INTO helpdesk_search (rowid, text) VALUES ((SELECT n FROM helpdesk_search_docs WHERE ticket_id = ?1), ?2 || char(10) || ?3)",
        &[&ticket_id, &subject, &body],
    )?;
    Ok(())
}

/// A message added to its ticket's text in `q`'s index.
fn index_message(cx: &Ctx, ticket_id: &str, body: &str) -> Result<()> {
    cx.db().execute(
        "UPDATE helpdesk_search SET text = text || char(10) || ?2 WHERE rowid = (SELECT n FROM helpdesk_search_docs WHERE ticket_id = ?1)",
        &[&ticket_id, &body],
    )?;
    Ok(())
}

pub const MIGRATION: &str = "
    CREATE TABLE helpdesk_queues (
        id                     TEXT PRIMARY KEY,
        name                   TEXT NOT NULL UNIQUE,
        description            TEXT NOT NULL DEFAULT '',
        mode                   TEXT NOT NULL CHECK (mode IN ('manual', 'round_robin', 'balanced')),
        agent_cap              INTEGER,
        first_response_minutes INTEGER,
        resolution_minutes     INTEGER,
        last_assigned_id       TEXT,
        created_at             TEXT NOT NULL,
        updated_at             TEXT NOT NULL
    );
    CREATE TABLE helpdesk_agents (
        id         TEXT PRIMARY KEY,
        queue_ids  TEXT NOT NULL DEFAULT '[]',
        capacity   INTEGER NOT NULL,
        available  INTEGER NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE TABLE helpdesk_topics (
        id          TEXT PRIMARY KEY,
        name        TEXT NOT NULL UNIQUE,
        description TEXT NOT NULL DEFAULT '',
        queue_id    TEXT,
        created_at  TEXT NOT NULL
    );
    CREATE TABLE helpdesk_tickets (
        id                    TEXT PRIMARY KEY,
        subject               TEXT NOT NULL,
        status                TEXT NOT NULL CHECK (status IN ('new', 'open', 'pending', 'on_hold', 'solved', 'closed')),
        priority              TEXT NOT NULL CHECK (priority IN ('low', 'normal', 'high', 'urgent')),
        requester_id          TEXT NOT NULL,
        queue_id              TEXT,
        topic_id              TEXT,
        assignee_id           TEXT,
        tags                  TEXT NOT NULL DEFAULT '[]',
        created_at            TEXT NOT NULL,
        updated_at            TEXT NOT NULL,
        first_response_due_at TEXT,
        resolution_due_at     TEXT,
        first_responded_at    TEXT,
        solved_at             TEXT,
        closed_at             TEXT
    );
    CREATE INDEX helpdesk_tickets_status ON helpdesk_tickets (status, id);
    CREATE INDEX helpdesk_tickets_queue ON helpdesk_tickets (queue_id, assignee_id, created_at);
    CREATE INDEX helpdesk_tickets_assignee ON helpdesk_tickets (assignee_id, status);
    CREATE INDEX helpdesk_tickets_requester ON helpdesk_tickets (requester_id, id);
    CREATE INDEX helpdesk_tickets_created ON helpdesk_tickets (created_at);
    CREATE TABLE helpdesk_ticket_tags (
        ticket_id TEXT NOT NULL,
        tag       TEXT NOT NULL,
        PRIMARY KEY (ticket_id, tag)
    );
    CREATE INDEX helpdesk_ticket_tags_tag ON helpdesk_ticket_tags (tag, ticket_id);
    CREATE TABLE helpdesk_messages (
        id                  TEXT PRIMARY KEY,
        ticket_id           TEXT NOT NULL,
        author_id           TEXT NOT NULL,
        author_role         TEXT NOT NULL CHECK (author_role IN ('requester', 'agent')),
        visibility          TEXT NOT NULL CHECK (visibility IN ('public', 'internal')),
        body                TEXT NOT NULL,
        canned_response_id  TEXT,
        created_at          TEXT NOT NULL
    );
    CREATE INDEX helpdesk_messages_ticket ON helpdesk_messages (ticket_id, id);
    CREATE TABLE helpdesk_canned_responses (
        id              TEXT PRIMARY KEY,
        title           TEXT NOT NULL,
        body            TEXT NOT NULL,
        active          INTEGER NOT NULL,
        source          TEXT NOT NULL CHECK (source IN ('manual', 'ai')),
        source_ticket_id TEXT,
        created_at      TEXT NOT NULL,
        updated_at      TEXT NOT NULL
    );
    CREATE TABLE helpdesk_preferences (
        event   TEXT NOT NULL,
        channel TEXT NOT NULL,
        enabled INTEGER NOT NULL,
        PRIMARY KEY (event, channel)
    );
    CREATE TABLE helpdesk_audit (
        id            TEXT PRIMARY KEY,
        ticket_id     TEXT,
        actor_user_id TEXT,
        actor_key_id  TEXT NOT NULL,
        field         TEXT NOT NULL,
        from_value    TEXT,
        to_value      TEXT,
        created_at    TEXT NOT NULL
    );
    CREATE INDEX helpdesk_audit_ticket ON helpdesk_audit (ticket_id, id);";

pub const TABLE: &str = "helpdesk_tickets";
const MAX_SUBJECT: usize = 300;
pub const MAX_BODY: usize = 50_000;
const MAX_TAGS: usize = 20;
const MAX_TAG: usize = 40;

/// A ticket, as stored (its fields are the table's columns) and as answered.
#[derive(Serialize, Deserialize, JsonSchema, Clone)]
pub struct Ticket {
    #[schemars(regex(pattern = "^tkt_[0-9A-Z]{26}$"))]
    pub id: String,
    pub subject: String,
    pub status: Status,
    pub priority: Priority,
    /// The host user who asked (usr_…).
    pub requester_id: String,
    pub queue_id: Option<String>,
    pub topic_id: Option<String>,
    /// The agent working it (usr_…), if any.
    pub assignee_id: Option<String>,
    pub tags: Vec<String>,
    #[schemars(extend("format" = "date-time"))]
    pub created_at: String,
    #[schemars(extend("format" = "date-time"))]
    pub updated_at: String,
    /// From the queue's first-response target, when it has one.
    #[schemars(extend("format" = "date-time"))]
    pub first_response_due_at: Option<String>,
    /// From the queue's resolution target, when it has one.
    #[schemars(extend("format" = "date-time"))]
    pub resolution_due_at: Option<String>,
    /// An agent's first public reply.
    #[schemars(extend("format" = "date-time"))]
    pub first_responded_at: Option<String>,
    #[schemars(extend("format" = "date-time"))]
    pub solved_at: Option<String>,
    #[schemars(extend("format" = "date-time"))]
    pub closed_at: Option<String>,
}

impl HasId for Ticket {
    fn id(&self) -> &str {
        &self.id
    }
}

#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, PartialEq, Eq, Debug)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    New,
    Open,
    Pending,
    OnHold,
    Solved,
    Closed,
}

pub const STATUSES: &[&str] = &["new", "open", "pending", "on_hold", "solved", "closed"];
/// The states that count towards an agent's load.
pub const UNRESOLVED: &str = "('new', 'open', 'pending', 'on_hold')";

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::New => "new",
            Status::Open => "open",
            Status::Pending => "pending",
            Status::OnHold => "on_hold",
            Status::Solved => "solved",
            Status::Closed => "closed",
        }
    }

    /// The state machine: `new → open → pending → open`, `open|pending → on_hold → open`, any
    /// (but closed) → `solved`, `solved → open` (reopened) or `closed` (terminal).
    pub fn may_become(self, to: Status) -> bool {
        use Status::*;
        matches!(
            (self, to),
            (New, Open)
                | (Open, Pending)
                | (Pending, Open)
                | (Open | Pending, OnHold)
                | (OnHold, Open)
                | (New | Open | Pending | OnHold, Solved)
                | (Solved, Open)
                | (Solved, Closed)
        )
    }

    pub fn unresolved(self) -> bool {
        !matches!(self, Status::Solved | Status::Closed)
    }
}

#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    Low,
    #[default]
    Normal,
    High,
    Urgent,
}

impl Priority {
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Low => "low",
            Priority::Normal => "normal",
            Priority::High => "high",
            Priority::Urgent => "urgent",
        }
    }
}

/// One message of a thread.
#[derive(Serialize, Deserialize, JsonSchema, Clone)]
pub struct Message {
    #[schemars(regex(pattern = "^msg_[0-9A-Z]{26}$"))]
    pub id: String,
    pub ticket_id: String,
    pub author_id: String,
    /// `requester` when the ticket's requester wrote it, else `agent`.
    pub author_role: Role,
    pub visibility: Visibility,
    pub body: String,
    /// The canned response it was written from.
    pub canned_response_id: Option<String>,
    #[schemars(extend("format" = "date-time"))]
    pub created_at: String,
}

impl HasId for Message {
    fn id(&self) -> &str {
        &self.id
    }
}

#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Requester,
    Agent,
}

#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum Visibility {
    #[default]
    Public,
    Internal,
}

#[derive(Serialize, JsonSchema)]
pub struct TicketEvent<'a> {
    pub ticket: &'a Ticket,
}

#[derive(Serialize, JsonSchema)]
pub struct RepliedEvent<'a> {
    pub ticket: &'a Ticket,
    pub message: &'a Message,
}

#[derive(Serialize, JsonSchema)]
pub struct StatusEvent<'a> {
    pub ticket: &'a Ticket,
    pub from: Status,
    pub to: Status,
    /// Who moved it: the user named, else the API key.
    pub actor: &'a Actor,
}

pub fn find(cx: &Ctx, id: &str) -> Result<Ticket> {
    cx.db()
        .select_one(TABLE, "WHERE id = ?1", &[&id])?
        .ok_or_else(|| Error::not_found("ticket"))
}

pub fn list(cx: &mut Ctx) -> Result<Page<Ticket>> {
    let page = PageRequest::from(cx)?;
    let mut filter = page.time_filter("created_at");
    filter.and_opt("status = ?", page.filter_one_of("status", STATUSES)?);
    filter.and_opt("queue_id = ?", page.filter("queue_id"));
    match page.filter("assignee_id") {
        Some("none") => {
            filter.and("assignee_id IS ?", Value::Null);
        }
        other => {
            filter.and_opt("assignee_id = ?", other);
        }
    }
    filter.and_opt("topic_id = ?", page.filter("topic_id"));
    filter.and_opt("requester_id = ?", page.filter("requester_id"));
    if let Some(tag) = page.filter("tag") {
        filter.and(
            "id IN (SELECT ticket_id FROM helpdesk_ticket_tags WHERE tag = ?)",
            tag.to_lowercase(),
        );
    }
    if let Some(q) = page.filter("q") {
        let q = q.trim();
        let chars = q.chars().count();
        if chars == 0 || chars > 200 {
            return Err(Error::validation("q", "1 to 200 characters"));
        }
        let (matching, text) = if chars >= 3 {
            // The whole text as one quoted FTS5 string: its trigrams in a row, so a substring,
            // whatever syntax it holds (quotes doubled). The trigram index folds case.
            ("helpdesk_search MATCH ?", format!("\"{}\"", q.replace('"', "\"\"")))
        } else {
            // Shorter than a trigram: a scan of the index's text, one row per ticket.
            ("instr(lower(text), ?) > 0", q.to_lowercase())
        };
        filter.and(
            &format!("id IN (SELECT ticket_id FROM helpdesk_search_docs WHERE n IN (SELECT rowid FROM helpdesk_search WHERE {matching}))"),
            text,
        );
    }
    page.fetch_as(&cx.db(), TABLE, &filter)
}

pub fn get(cx: &mut Ctx, Path(id): Path<String>) -> Result<Json<Ticket>> {
    find(cx, &id).map(Json)
}

/// A new ticket.
#[derive(Deserialize, JsonSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct NewTicket {
    /// One line: it is the subject of the mails about the ticket.
    #[garde(length(chars, min = 1, max = MAX_SUBJECT), custom(not_blank), custom(one_line))]
    subject: String,
    /// The requester's first message.
    #[garde(length(chars, min = 1, max = MAX_BODY), custom(not_blank))]
    body: String,
    /// The host user asking (usr_…).
    #[garde(skip)]
    requester_id: String,
    /// A queue (que_…); without it the topic's queue, if any.
    #[garde(skip)]
    queue_id: Option<String>,
    /// A help topic (top_…).
    #[garde(skip)]
    topic_id: Option<String>,
    #[serde(default)]
    #[garde(skip)]
    priority: Priority,
    #[serde(default)]
    #[garde(length(max = MAX_TAGS))]
    tags: Vec<String>,
}

pub fn create(cx: &mut Ctx, Json(new): Json<NewTicket>) -> Result<Created<Ticket>> {
    cx.require_user("requester_id", &new.requester_id)?;
    let tags = normalize_tags(new.tags)?;
    let topic = match &new.topic_id {
        Some(id) => Some(desk::find_topic(cx, id).map_err(|_| Error::validation("topic_id", "no such help topic"))?),
        None => None,
    };
    let queue_id = new.queue_id.or_else(|| topic.and_then(|t| t.queue_id));
    let queue = match &queue_id {
        Some(id) => Some(desk::find_queue(cx, id).map_err(|_| Error::validation("queue_id", "no such queue"))?),
        None => None,
    };
    let now_ms = cx.now_ms();
    let now = cx.time_at(now_ms);
    let due = |minutes: Option<i64>| minutes.map(|m| cx.time_at(now_ms + m * 60_000));
    let mut ticket = Ticket {
        id: cx.new_id("tkt_"),
        subject: new.subject.trim().to_owned(),
        status: Status::New,
        priority: new.priority,
        requester_id: new.requester_id.clone(),
        queue_id,
        topic_id: new.topic_id,
        assignee_id: None,
        tags,
        created_at: now.clone(),
        updated_at: now.clone(),
        first_response_due_at: queue.as_ref().and_then(|q| due(q.first_response_minutes)),
        resolution_due_at: queue.as_ref().and_then(|q| due(q.resolution_minutes)),
        first_responded_at: None,
        solved_at: None,
        closed_at: None,
    };
    cx.db().insert(TABLE, &ticket)?;
    write_tags(cx, &ticket.id, &ticket.tags)?;
    let message = Message {
        id: cx.new_id("msg_"),
        ticket_id: ticket.id.clone(),
        author_id: new.requester_id,
        author_role: Role::Requester,
        visibility: Visibility::Public,
        body: new.body,
        canned_response_id: None,
        created_at: now,
    };
    cx.db().insert("helpdesk_messages", &message)?;
    index_ticket(cx, &ticket.id, &ticket.subject, &message.body)?;
    let actor = Actor::of(cx, Some(ticket.requester_id.clone()));
    audit::record(cx, Some(&ticket.id), &actor, "status", None, Some("new"))?;
    notify::emit(cx, "ticket.created", &TicketEvent { ticket: &ticket })?;
    notify::ticket_created(cx, &ticket)?;
    if let Some(queue) = queue {
        assign::on_intake(cx, &mut ticket, &queue, &actor)?;
    }
    Ok(Created(ticket))
}

pub fn messages(cx: &mut Ctx, Path(id): Path<String>) -> Result<Page<Message>> {
    find(cx, &id)?;
    let page = PageRequest::from(cx)?;
    let mut filter = page.time_filter("created_at");
    filter.and("ticket_id = ?", id.as_str());
    filter.and_opt("visibility = ?", page.filter_one_of("visibility", &["public", "internal"])?);
    // Oldest first reads as a thread; the list's own order is newest first.
    let mut listed: Page<Message> = page.fetch_as(&cx.db(), "helpdesk_messages", &filter)?;
    listed.data.reverse();
    Ok(listed)
}

/// The whole thread, oldest first (for the assists).
pub fn thread(cx: &Ctx, ticket_id: &str) -> Result<Vec<Message>> {
    cx.db()
        .select("helpdesk_messages", "WHERE ticket_id = ?1 ORDER BY id LIMIT 500", &[&ticket_id])
}

#[derive(Deserialize, JsonSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct NewReply {
    /// Who wrote it (usr_…): the requester, or an agent.
    #[garde(skip)]
    author_id: String,
    /// The text; left out when `canned_response_id` gives it.
    #[garde(length(chars, max = MAX_BODY))]
    body: Option<String>,
    /// `public` (default) or `internal` (a note requesters never see).
    #[serde(default)]
    #[garde(skip)]
    visibility: Visibility,
    /// An active canned response (can_…), rendered for this ticket as the body.
    #[garde(skip)]
    canned_response_id: Option<String>,
    /// A state to move to after the reply (the state machine applies).
    #[garde(skip)]
    status: Option<Status>,
}

/// What a reply answers: the message, and the ticket after it.
#[derive(Serialize, JsonSchema)]
pub struct Replied {
    pub message: Message,
    pub ticket: Ticket,
}

pub fn reply(cx: &mut Ctx, Path(id): Path<String>, Json(new): Json<NewReply>) -> Result<Created<Replied>> {
    let mut ticket = find(cx, &id)?;
    if ticket.status == Status::Closed {
        return Err(state_error(ticket.status, None));
    }
    let author = cx.require_user("author_id", &new.author_id)?;
    let role = if author.id == ticket.requester_id { Role::Requester } else { Role::Agent };
    if role == Role::Requester && new.visibility == Visibility::Internal {
        return Err(Error::validation("visibility", "a requester cannot write internal notes"));
    }
    let body = match (&new.canned_response_id, new.body) {
        (Some(_), Some(_)) => {
            return Err(Error::validation("body", "give a body or a canned_response_id, not both"));
        }
        (Some(canned), None) => desk::render_canned(cx, canned, &ticket, Some(&author))?,
        (None, Some(body)) if !body.trim().is_empty() => body,
        (None, _) => return Err(Error::validation("body", "a reply needs a body or a canned_response_id")),
    };
    let actor = Actor::of(cx, Some(author.id.clone()));
    let now = cx.now();
    let message = Message {
        id: cx.new_id("msg_"),
        ticket_id: ticket.id.clone(),
        author_id: author.id.clone(),
        author_role: role,
        visibility: new.visibility,
        body,
        canned_response_id: new.canned_response_id,
        created_at: now.clone(),
    };
    cx.db().insert("helpdesk_messages", &message)?;
    index_message(cx, &ticket.id, &message.body)?;
    let public = message.visibility == Visibility::Public;
    // What a reply does to the state by itself: an agent's first public answer opens a new
    // ticket; the requester's reply brings a pending or solved one back.
    let implied = match (role, ticket.status) {
        (Role::Agent, Status::New) if public => Some(Status::Open),
        (Role::Requester, Status::Pending | Status::Solved) => Some(Status::Open),
        _ => None,
    };
    if role == Role::Agent && public && ticket.first_responded_at.is_none() {
        ticket.first_responded_at = Some(now.clone());
        cx.db().execute(
            "UPDATE helpdesk_tickets SET first_responded_at = ?2 WHERE id = ?1",
            &[&ticket.id, &now],
        )?;
    }
    if let Some(to) = implied {
        move_to(cx, &mut ticket, to, &actor)?;
    }
    if let Some(to) = new.status
        && to != ticket.status
    {
        if !ticket.status.may_become(to) {
            return Err(state_error(ticket.status, Some(to)));
        }
        move_to(cx, &mut ticket, to, &actor)?;
    }
    touch(cx, &mut ticket)?;
    notify::emit(cx, "ticket.replied", &RepliedEvent { ticket: &ticket, message: &message })?;
    notify::replied(cx, &ticket, &message)?;
    Ok(Created(Replied { message, ticket }))
}

#[derive(Deserialize, JsonSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct StatusChange {
    #[garde(skip)]
    status: Status,
    /// The user making the change (usr_…), for the audit trail; else the API key is the actor.
    #[garde(skip)]
    actor_id: Option<String>,
}

pub fn set_status(cx: &mut Ctx, Path(id): Path<String>, Json(change): Json<StatusChange>) -> Result<Json<Ticket>> {
    let mut ticket = find(cx, &id)?;
    if !ticket.status.may_become(change.status) {
        return Err(state_error(ticket.status, Some(change.status)));
    }
    let actor = Actor::from_body(cx, change.actor_id)?;
    move_to(cx, &mut ticket, change.status, &actor)?;
    touch(cx, &mut ticket)?;
    Ok(Json(ticket))
}

/// `409 invalid_ticket_state`, naming where the ticket is and what it may become.
pub fn state_error(from: Status, to: Option<Status>) -> Error {
    let allowed: Vec<&str> = STATUSES
        .iter()
        .copied()
        .filter(|s| from.may_become(parse_status(s)))
        .collect();
    let message = match to {
        Some(to) => format!("A ticket cannot go from {} to {}. {BAD_STATE}", from.as_str(), to.as_str()),
        None => format!("The ticket is {}. {BAD_STATE}", from.as_str()),
    };
    Error::conflict("invalid_ticket_state", message)
        .with("status", from.as_str())
        .with("allowed", allowed)
}

fn parse_status(s: &str) -> Status {
    mobieus_sdk::json::from_value(mobieus_sdk::json::Value::String(s.to_owned())).unwrap_or(Status::Closed)
}

/// Moves the ticket (the caller checked the machine), with its audit row, its event and, when it
/// leaves the unresolved states, its assignee's freed capacity.
pub fn move_to(cx: &Ctx, ticket: &mut Ticket, to: Status, actor: &Actor) -> Result<()> {
    let from = ticket.status;
    let now = cx.now();
    ticket.status = to;
    match to {
        Status::Solved => ticket.solved_at = Some(now.clone()),
        Status::Closed => ticket.closed_at = Some(now.clone()),
        Status::Open if from == Status::Solved => ticket.solved_at = None,
        _ => {}
    }
    cx.db().execute(
        "UPDATE helpdesk_tickets SET status = ?2, solved_at = ?3, closed_at = ?4 WHERE id = ?1",
        &[&ticket.id, &to.as_str(), &ticket.solved_at, &ticket.closed_at],
    )?;
    audit::record(cx, Some(&ticket.id), actor, "status", Some(from.as_str()), Some(to.as_str()))?;
    notify::emit(cx, "ticket.status_changed", &StatusEvent { ticket, from, to, actor })?;
    notify::status_changed(cx, ticket, from)?;
    if from.unresolved() != to.unresolved()
        && let Some(agent) = &ticket.assignee_id
    {
        if to.unresolved() {
            // Reopened: it counts again; nothing to drain.
        } else {
            assign::drain(cx, agent, actor)?;
        }
    }
    Ok(())
}

/// Marks the ticket changed now.
pub fn touch(cx: &Ctx, ticket: &mut Ticket) -> Result<()> {
    ticket.updated_at = cx.now();
    cx.db().execute(
        "UPDATE helpdesk_tickets SET updated_at = ?2 WHERE id = ?1",
        &[&ticket.id, &ticket.updated_at],
    )?;
    Ok(())
}

#[derive(Deserialize, JsonSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct TagSet {
    /// The whole new set (lowercased, duplicates dropped).
    #[garde(length(max = MAX_TAGS))]
    tags: Vec<String>,
    /// The user making the change (usr_…), for the audit trail.
    #[garde(skip)]
    actor_id: Option<String>,
}

pub fn set_tags(cx: &mut Ctx, Path(id): Path<String>, Json(set): Json<TagSet>) -> Result<Json<Ticket>> {
    let mut ticket = find(cx, &id)?;
    let actor = Actor::from_body(cx, set.actor_id)?;
    let tags = normalize_tags(set.tags)?;
    replace_tags(cx, &mut ticket, tags, &actor)?;
    Ok(Json(ticket))
}

/// Sets the ticket's tags, with an audit row when they changed.
pub fn replace_tags(cx: &Ctx, ticket: &mut Ticket, tags: Vec<String>, actor: &Actor) -> Result<()> {
    if tags == ticket.tags {
        return Ok(());
    }
    let (from, to) = (mobieus_sdk::json::to_string(&ticket.tags)?, mobieus_sdk::json::to_string(&tags)?);
    cx.db().execute("UPDATE helpdesk_tickets SET tags = ?2 WHERE id = ?1", &[&ticket.id, &to])?;
    cx.db().execute("DELETE FROM helpdesk_ticket_tags WHERE ticket_id = ?1", &[&ticket.id])?;
    write_tags(cx, &ticket.id, &tags)?;
    audit::record(cx, Some(&ticket.id), actor, "tags", Some(&from), Some(&to))?;
    ticket.tags = tags;
    touch(cx, ticket)
}

fn write_tags(cx: &Ctx, ticket_id: &str, tags: &[String]) -> Result<()> {
    for tag in tags {
        cx.db().execute(
            "INSERT INTO helpdesk_ticket_tags (ticket_id, tag) VALUES (?1, ?2)",
            &[&ticket_id, tag],
        )?;
    }
    Ok(())
}

/// Lowercased, trimmed, each 1 to 40 characters of letters, digits, `-` and `_`; duplicates
/// dropped, order kept.
pub fn normalize_tags(tags: Vec<String>) -> Result<Vec<String>> {
    if tags.len() > MAX_TAGS {
        return Err(Error::validation("tags", format!("at most {MAX_TAGS} tags")));
    }
    let mut out: Vec<String> = vec![];
    for tag in tags {
        let tag = tag.trim().to_lowercase();
        let ok = (1..=MAX_TAG).contains(&tag.chars().count())
            && tag.chars().all(|c| c.is_alphanumeric() || c == '-' || c == '_');
        if !ok {
            return Err(Error::validation(
                "tags",
                format!("`{tag}`: a tag is 1 to {MAX_TAG} letters, digits, - or _"),
            ));
        }
        if !out.contains(&tag) {
            out.push(tag);
        }
    }
    Ok(out)
}
