//! The desk's set-up: queues, agents, help topics, canned responses, and the tag vocabulary.

use mobieus_sdk::check::{not_blank, not_blank_if_given};
use mobieus_sdk::prelude::*;
use mobieus_sdk::{ToSql, User};

use crate::audit::{self, Actor};
use crate::tickets::{self, Ticket, UNRESOLVED};
use crate::assign;

const QUEUE_NOT_FOUND: &str = "No queue has this id.";

/// A queue: where tickets wait, how they are handed out, and how fast they should be answered.
#[derive(Serialize, Deserialize, JsonSchema, Clone)]
pub struct Queue {
    #[schemars(regex(pattern = "^que_[0-9A-Z]{26}$"))]
    pub id: String,
    pub name: String,
    pub description: String,
    pub mode: Mode,
    /// In `balanced` mode, the most unresolved tickets one agent gets from this queue's
    /// automatic assignment (their own capacity applies too).
    pub agent_cap: Option<i64>,
    /// Minutes to an agent's first public reply; sets a ticket's `first_response_due_at`.
    pub first_response_minutes: Option<i64>,
    /// Minutes to solved; sets a ticket's `resolution_due_at`.
    pub resolution_minutes: Option<i64>,
    #[schemars(extend("format" = "date-time"))]
    pub created_at: String,
    #[schemars(extend("format" = "date-time"))]
    pub updated_at: String,
}

impl HasId for Queue {
    fn id(&self) -> &str {
        &self.id
    }
}

/// How a queue assigns its tickets: `manual` (never by itself), `round_robin` (each available
/// agent with room in turn), `balanced` (the agent with the fewest unresolved tickets, under
/// the queue's `agent_cap`).
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    Manual,
    RoundRobin,
    Balanced,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Manual => "manual",
            Mode::RoundRobin => "round_robin",
            Mode::Balanced => "balanced",
        }
    }
}

pub fn find_queue(cx: &Ctx, id: &str) -> Result<Queue> {
    cx.db()
        .select_one("helpdesk_queues", "WHERE id = ?1", &[&id])?
        .ok_or_else(|| Error::new(404, "queue_not_found", QUEUE_NOT_FOUND))
}

pub fn list_queues(cx: &mut Ctx) -> Result<Page<Queue>> {
    let page = PageRequest::from(cx)?;
    let filter = page.time_filter("created_at");
    page.fetch_as(&cx.db(), "helpdesk_queues", &filter)
}

#[derive(Deserialize, JsonSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct NewQueue {
    #[garde(length(chars, min = 1, max = 100), custom(not_blank))]
    name: String,
    #[serde(default)]
    #[garde(length(chars, max = 1000))]
    description: String,
    #[garde(skip)]
    mode: Mode,
    #[garde(range(min = 1, max = 10_000))]
    agent_cap: Option<i64>,
    #[garde(range(min = 1, max = 525_600))]
    first_response_minutes: Option<i64>,
    #[garde(range(min = 1, max = 525_600))]
    resolution_minutes: Option<i64>,
}

pub fn create_queue(cx: &mut Ctx, Json(new): Json<NewQueue>) -> Result<Created<Queue>> {
    let name = new.name.trim().to_owned();
    unique_name(cx, "helpdesk_queues", &name, None)?;
    let now = cx.now();
    let queue = Queue {
        id: cx.new_id("que_"),
        name,
        description: new.description,
        mode: new.mode,
        agent_cap: new.agent_cap,
        first_response_minutes: new.first_response_minutes,
        resolution_minutes: new.resolution_minutes,
        created_at: now.clone(),
        updated_at: now,
    };
    cx.db().insert("helpdesk_queues", &queue)?;
    let to = mobieus_sdk::json::to_string(&queue)?;
    audit::record(cx, None, &Actor::of(cx, None), "queue", None, Some(&to))?;
    Ok(Created(queue))
}

/// What may change; a `null` clears a cap or a target.
#[derive(Deserialize, JsonSchema, Validate)]
#[serde(deny_unknown_fields)]
#[schemars(extend("minProperties" = 1))]
pub struct QueuePatch {
    #[garde(length(chars, min = 1, max = 100), custom(not_blank_if_given))]
    name: Option<String>,
    #[garde(length(chars, max = 1000))]
    description: Option<String>,
    #[garde(skip)]
    mode: Option<Mode>,
    #[serde(default, deserialize_with = "nullable::deserialize")]
    #[schemars(with = "Option<i64>")]
    #[garde(skip)]
    agent_cap: Option<Option<i64>>,
    #[serde(default, deserialize_with = "nullable::deserialize")]
    #[schemars(with = "Option<i64>")]
    #[garde(skip)]
    first_response_minutes: Option<Option<i64>>,
    #[serde(default, deserialize_with = "nullable::deserialize")]
    #[schemars(with = "Option<i64>")]
    #[garde(skip)]
    resolution_minutes: Option<Option<i64>>,
}

impl QueuePatch {
    fn is_empty(&self) -> bool {
        self.name.is_none()
            && self.description.is_none()
            && self.mode.is_none()
            && self.agent_cap.is_none()
            && self.first_response_minutes.is_none()
            && self.resolution_minutes.is_none()
    }
}

/// `Option<Option<T>>` for PATCH: absent (`None`), `null` (`Some(None)`), or a value.
mod nullable {
    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
        Option::<T>::deserialize(d).map(Some)
    }
}

fn check_range(field: &str, value: Option<i64>, max: i64) -> Result<()> {
    match value {
        Some(v) if !(1..=max).contains(&v) => Err(Error::validation(field, format!("from 1 to {max}"))),
        _ => Ok(()),
    }
}

pub fn update_queue(cx: &mut Ctx, Path(id): Path<String>, Json(patch): Json<QueuePatch>) -> Result<Json<Queue>> {
    let mut queue = find_queue(cx, &id)?;
    if patch.is_empty() {
        return Err(Error::validation(
            "body",
            "nothing to change: give name, description, mode, agent_cap, first_response_minutes or resolution_minutes",
        ));
    }
    let before = mobieus_sdk::json::to_string(&queue)?;
    if let Some(name) = patch.name {
        let name = name.trim().to_owned();
        unique_name(cx, "helpdesk_queues", &name, Some(&id))?;
        queue.name = name;
    }
    if let Some(d) = patch.description {
        queue.description = d;
    }
    let was_manual = queue.mode == Mode::Manual;
    if let Some(mode) = patch.mode {
        queue.mode = mode;
    }
    if let Some(cap) = patch.agent_cap {
        check_range("agent_cap", cap, 10_000)?;
        queue.agent_cap = cap;
    }
    if let Some(m) = patch.first_response_minutes {
        check_range("first_response_minutes", m, 525_600)?;
        queue.first_response_minutes = m;
    }
    if let Some(m) = patch.resolution_minutes {
        check_range("resolution_minutes", m, 525_600)?;
        queue.resolution_minutes = m;
    }
    queue.updated_at = cx.now();
    cx.db().execute(
        "UPDATE helpdesk_queues SET name = ?2, description = ?3, mode = ?4, agent_cap = ?5,
             first_response_minutes = ?6, resolution_minutes = ?7, updated_at = ?8 WHERE id = ?1",
        &[
            &queue.id,
            &queue.name,
            &queue.description,
            &queue.mode.as_str(),
            &queue.agent_cap,
            &queue.first_response_minutes,
            &queue.resolution_minutes,
            &queue.updated_at,
        ],
    )?;
    let actor = Actor::of(cx, None);
    let after = mobieus_sdk::json::to_string(&queue)?;
    audit::record(cx, None, &actor, "queue", Some(&before), Some(&after))?;
    // A queue that starts assigning by itself hands out its backlog now.
    if was_manual && queue.mode != Mode::Manual {
        assign::drain_queue(cx, &queue, &actor)?;
    }
    Ok(Json(queue))
}

/// An agent: a host user who works queues.
#[derive(Serialize, Deserialize, JsonSchema)]
pub struct Agent {
    /// The host user (usr_…).
    pub user_id: String,
    pub queue_ids: Vec<String>,
    /// The most unresolved tickets automatic assignment gives them.
    pub capacity: i64,
    /// Whether automatic assignment gives them tickets now.
    pub available: bool,
    /// Unresolved tickets assigned to them (new, open, pending, on hold).
    pub open_load: i64,
    #[schemars(extend("format" = "date-time"))]
    pub created_at: String,
    #[schemars(extend("format" = "date-time"))]
    pub updated_at: String,
}

fn agent_columns() -> String {
    format!(
        "id AS user_id, queue_ids, capacity, available, created_at, updated_at,
         (SELECT COUNT(*) FROM helpdesk_tickets t WHERE t.assignee_id = helpdesk_agents.id AND t.status IN {UNRESOLVED}) AS open_load"
    )
}

pub fn find_agent(cx: &Ctx, user_id: &str) -> Result<Option<Agent>> {
    let row = cx.db().query_one(
        &format!("SELECT {} FROM helpdesk_agents WHERE id = ?1", agent_columns()),
        &[&user_id],
    )?;
    row.map(|r| r.to()).transpose()
}

pub fn list_agents(cx: &mut Ctx) -> Result<Page<Agent>> {
    let page = PageRequest::from(cx)?;
    let mut filter = page.time_filter("created_at");
    if let Some(queue) = page.filter("queue_id") {
        filter.and("instr(queue_ids, ?) > 0", format!("\"{queue}\""));
    }
    page.fetch(&cx.db(), "helpdesk_agents", &agent_columns(), &filter, |r| r.to(), |a: &Agent| a.user_id.clone())
}

#[derive(Deserialize, JsonSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct AgentSettings {
    /// The queues they work (que_…).
    #[garde(length(max = 50))]
    queue_ids: Vec<String>,
    #[garde(range(min = 0, max = 10_000))]
    capacity: i64,
    #[serde(default = "yes")]
    #[garde(skip)]
    available: bool,
}

fn yes() -> bool {
    true
}

pub fn put_agent(cx: &mut Ctx, Path(user_id): Path<String>, Json(set): Json<AgentSettings>) -> Result<Json<Agent>> {
    cx.require_user("user_id", &user_id)?;
    let mut queue_ids: Vec<String> = vec![];
    for id in set.queue_ids {
        find_queue(cx, &id)?;
        if !queue_ids.contains(&id) {
            queue_ids.push(id);
        }
    }
    let before = find_agent(cx, &user_id)?;
    let now = cx.now();
    cx.db().execute(
        "INSERT INTO helpdesk_agents (id, queue_ids, capacity, available, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?5)
         ON CONFLICT (id) DO UPDATE SET queue_ids = ?2, capacity = ?3, available = ?4, updated_at = ?5",
        &[&user_id, &mobieus_sdk::json::to_string(&queue_ids)?, &set.capacity, &set.available, &now],
    )?;
    let actor = Actor::of(cx, None);
    let to = format!("queues {queue_ids:?}, capacity {}, available {}", set.capacity, set.available);
    let from = before.as_ref().map(|a| format!("queues {:?}, capacity {}, available {}", a.queue_ids, a.capacity, a.available));
    audit::record(cx, None, &actor, "agent", from.as_deref(), Some(&to))?;
    // Back, with more room or new queues: the backlog drains to them, oldest first.
    assign::drain(cx, &user_id, &actor)?;
    find_agent(cx, &user_id)?.map(Json).ok_or_else(|| Error::internal("the agent just saved is gone"))
}

/// A help topic: an intake category that routes its tickets to a queue.
#[derive(Serialize, Deserialize, JsonSchema)]
pub struct Topic {
    #[schemars(regex(pattern = "^top_[0-9A-Z]{26}$"))]
    pub id: String,
    pub name: String,
    pub description: String,
    pub queue_id: Option<String>,
    #[schemars(extend("format" = "date-time"))]
    pub created_at: String,
}

impl HasId for Topic {
    fn id(&self) -> &str {
        &self.id
    }
}

pub fn find_topic(cx: &Ctx, id: &str) -> Result<Topic> {
    cx.db()
        .select_one("helpdesk_topics", "WHERE id = ?1", &[&id])?
        .ok_or_else(|| Error::not_found("topic"))
}

pub fn all_topics(cx: &Ctx) -> Result<Vec<Topic>> {
    cx.db().select("helpdesk_topics", "ORDER BY name LIMIT 200", &[])
}

pub fn list_topics(cx: &mut Ctx) -> Result<Page<Topic>> {
    let page = PageRequest::from(cx)?;
    let filter = page.time_filter("created_at");
    page.fetch_as(&cx.db(), "helpdesk_topics", &filter)
}

#[derive(Deserialize, JsonSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct NewTopic {
    #[garde(length(chars, min = 1, max = 100), custom(not_blank))]
    name: String,
    #[serde(default)]
    #[garde(length(chars, max = 1000))]
    description: String,
    /// The queue its tickets go to (que_…).
    #[garde(skip)]
    queue_id: Option<String>,
}

pub fn create_topic(cx: &mut Ctx, Json(new): Json<NewTopic>) -> Result<Created<Topic>> {
    if let Some(q) = &new.queue_id {
        find_queue(cx, q)?;
    }
    let name = new.name.trim().to_owned();
    unique_name(cx, "helpdesk_topics", &name, None)?;
    let topic = Topic {
        id: cx.new_id("top_"),
        name,
        description: new.description,
        queue_id: new.queue_id,
        created_at: cx.now(),
    };
    cx.db().insert("helpdesk_topics", &topic)?;
    audit::record(cx, None, &Actor::of(cx, None), "topic", None, Some(&topic.name))?;
    Ok(Created(topic))
}

fn unique_name(cx: &Ctx, table: &str, name: &str, except: Option<&str>) -> Result<()> {
    let taken = cx.db().query_one(
        &format!("SELECT id FROM {table} WHERE lower(name) = lower(?1) AND id IS NOT ?2"),
        &[&name, &except],
    )?;
    match taken {
        Some(_) => Err(Error::conflict("name_taken", format!("`{name}` is taken."))),
        None => Ok(()),
    }
}

/// A canned response: a reply template. Deactivated, never deleted (replies point at them).
#[derive(Serialize, Deserialize, JsonSchema)]
pub struct CannedResponse {
    #[schemars(regex(pattern = "^can_[0-9A-Z]{26}$"))]
    pub id: String,
    pub title: String,
    /// The text, with placeholders: `{{ ticket.id }}`, `{{ ticket.subject }}`,
    /// `{{ ticket.requester.name }}`, `{{ ticket.requester.username }}`, `{{ agent.name }}`.
    pub body: String,
    pub active: bool,
    /// `manual`, or `ai` for a draft from `POST /ai/canned-generate` (inactive until reviewed).
    pub source: Source,
    /// The ticket an AI draft was written from.
    pub source_ticket_id: Option<String>,
    #[schemars(extend("format" = "date-time"))]
    pub created_at: String,
    #[schemars(extend("format" = "date-time"))]
    pub updated_at: String,
}

impl HasId for CannedResponse {
    fn id(&self) -> &str {
        &self.id
    }
}

#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    Manual,
    Ai,
}

pub fn list_canned(cx: &mut Ctx) -> Result<Page<CannedResponse>> {
    let page = PageRequest::from(cx)?;
    let mut filter = page.time_filter("created_at");
    let active = page.filter_one_of("active", &["true", "false"])?;
    filter.and_opt("active = ?", active.map(|a| i64::from(a == "true")));
    page.fetch_as(&cx.db(), "helpdesk_canned_responses", &filter)
}

#[derive(Deserialize, JsonSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct NewCanned {
    #[garde(length(chars, min = 1, max = 200), custom(not_blank))]
    title: String,
    #[garde(length(chars, min = 1, max = 20_000), custom(not_blank))]
    body: String,
    #[serde(default = "yes")]
    #[garde(skip)]
    active: bool,
}

pub fn create_canned(cx: &mut Ctx, Json(new): Json<NewCanned>) -> Result<Created<CannedResponse>> {
    check_template(&new.body).map_err(|why| Error::validation("body", why))?;
    let canned = save_canned(cx, new.title.trim(), &new.body, new.active, Source::Manual, None)?;
    Ok(Created(canned))
}

pub fn save_canned(
    cx: &Ctx,
    title: &str,
    body: &str,
    active: bool,
    source: Source,
    source_ticket_id: Option<String>,
) -> Result<CannedResponse> {
    let now = cx.now();
    let canned = CannedResponse {
        id: cx.new_id("can_"),
        title: title.to_owned(),
        body: body.to_owned(),
        active,
        source,
        source_ticket_id,
        created_at: now.clone(),
        updated_at: now,
    };
    cx.db().insert("helpdesk_canned_responses", &canned)?;
    audit::record(cx, None, &Actor::of(cx, None), "canned_response", None, Some(&canned.id))?;
    Ok(canned)
}

#[derive(Deserialize, JsonSchema, Validate)]
#[serde(deny_unknown_fields)]
#[schemars(extend("minProperties" = 1))]
pub struct CannedPatch {
    #[garde(length(chars, min = 1, max = 200), custom(not_blank_if_given))]
    title: Option<String>,
    #[garde(length(chars, min = 1, max = 20_000), custom(not_blank_if_given))]
    body: Option<String>,
    /// `false` deactivates it: replies can no longer use it; it stays listed.
    #[garde(skip)]
    active: Option<bool>,
}

pub fn update_canned(cx: &mut Ctx, Path(id): Path<String>, Json(patch): Json<CannedPatch>) -> Result<Json<CannedResponse>> {
    let mut canned: CannedResponse = cx
        .db()
        .select_one("helpdesk_canned_responses", "WHERE id = ?1", &[&id])?
        .ok_or_else(|| Error::not_found("canned_response"))?;
    if patch.title.is_none() && patch.body.is_none() && patch.active.is_none() {
        return Err(Error::validation("body", "nothing to change: give title, body or active"));
    }
    if let Some(title) = patch.title {
        canned.title = title.trim().to_owned();
    }
    if let Some(body) = patch.body {
        check_template(&body).map_err(|why| Error::validation("body", why))?;
        canned.body = body;
    }
    if let Some(active) = patch.active {
        canned.active = active;
    }
    canned.updated_at = cx.now();
    cx.db().execute(
        "UPDATE helpdesk_canned_responses SET title = ?2, body = ?3, active = ?4, updated_at = ?5 WHERE id = ?1",
        &[&canned.id, &canned.title, &canned.body, &canned.active, &canned.updated_at],
    )?;
    audit::record(cx, None, &Actor::of(cx, None), "canned_response", None, Some(&canned.id))?;
    Ok(Json(canned))
}

/// The names a template may use, with example values.
fn sample() -> mobieus_sdk::json::Value {
    json!({
        "ticket": {"id": "tkt_0", "subject": "s", "requester": {"name": "n", "username": "u"}},
        "agent": {"name": "a"}
    })
}

fn environment() -> minijinja::Environment<'static> {
    let mut env = minijinja::Environment::new();
    // A name it does not know is an error, not an empty string sent to a customer.
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    env
}

/// Whether `body` renders: its syntax, and only the names of [`sample`].
pub fn check_template(body: &str) -> std::result::Result<(), String> {
    environment()
        .render_str(body, sample())
        .map(|_| ())
        .map_err(|e| format!("the template does not render: {e}"))
}

/// An active canned response rendered for `ticket`, written by `agent`.
pub fn render_canned(cx: &Ctx, id: &str, ticket: &Ticket, agent: Option<&User>) -> Result<String> {
    let canned: CannedResponse = cx
        .db()
        .select_one("helpdesk_canned_responses", "WHERE id = ?1 AND active = 1", &[&id])?
        .ok_or_else(|| Error::new(404, "canned_response_not_found", "No active canned response has this id."))?;
    let requester = cx.user(&ticket.requester_id)?;
    let name = |u: &User| u.display_name.clone().unwrap_or_else(|| u.username.clone());
    let context = json!({
        "ticket": {
            "id": ticket.id,
            "subject": ticket.subject,
            "requester": {
                "name": requester.as_ref().map(name).unwrap_or_default(),
                "username": requester.as_ref().map(|u| u.username.clone()).unwrap_or_default(),
            },
        },
        "agent": {"name": agent.map(name).unwrap_or_default()},
    });
    environment()
        .render_str(&canned.body, context)
        .map_err(|e| Error::validation("canned_response_id", format!("the template does not render: {e}")))
}

/// A tag and how many tickets carry it.
#[derive(Serialize, Deserialize, JsonSchema)]
pub struct TagCount {
    pub tag: String,
    pub count: i64,
}

/// Every tag in use, most used first (at most 1000: the vocabulary, not a list to page).
pub fn list_tags(cx: &mut Ctx) -> Result<Page<TagCount>> {
    PageRequest::parse(cx, &[])?;
    let data = vocabulary(cx, 1000)?;
    let total_count = data.len() as i64;
    Ok(Page { data, has_more: false, next_cursor: None, total_count })
}

pub fn vocabulary(cx: &Ctx, limit: u32) -> Result<Vec<TagCount>> {
    let sql = format!(
        "SELECT tag, COUNT(*) AS count FROM helpdesk_ticket_tags GROUP BY tag ORDER BY count DESC, tag LIMIT {limit}"
    );
    cx.db().query(&sql, &[])?.iter().map(|r| r.to()).collect()
}

/// The unresolved tickets of these queues without an assignee, oldest first.
pub fn backlog(cx: &Ctx, queue_ids: &[String], limit: u32) -> Result<Vec<Ticket>> {
    let mut out = vec![];
    if queue_ids.is_empty() {
        return Ok(out);
    }
    let marks: Vec<String> = (2..queue_ids.len() + 2).map(|i| format!("?{i}")).collect();
    let sql = format!(
        "WHERE assignee_id IS NULL AND status IN {UNRESOLVED} AND queue_id IN ({}) ORDER BY created_at, id LIMIT ?1",
        marks.join(", ")
    );
    let limit = i64::from(limit);
    let mut params: Vec<&dyn ToSql> = vec![&limit];
    for q in queue_ids {
        params.push(q);
    }
    out.extend(cx.db().select::<Ticket>(tickets::TABLE, &sql, &params)?);
    Ok(out)
}

