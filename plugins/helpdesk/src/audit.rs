//! The desk's audit trail: one row per change of a ticket or of the desk's set-up, with who made
//! it (the user named in the request, and always the API key), when, the field, from and to.

use mobieus_sdk::prelude::*;

use crate::tickets;

/// Who made a change: the user the request names (`actor_id`, `author_id`), and the key.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug)]
pub struct Actor {
    /// The host user named in the request (usr_…), if one was.
    pub user_id: Option<String>,
    /// The API key that made the request (`key_…`); empty for the desk's own changes.
    pub key_id: String,
}

impl Actor {
    pub fn of(cx: &Ctx, user_id: Option<String>) -> Actor {
        Actor {
            user_id,
            key_id: cx.caller().map(|c| c.key_id).unwrap_or_default(),
        }
    }

    /// From a body's optional `actor_id`, which must name a user who may act.
    pub fn from_body(cx: &Ctx, actor_id: Option<String>) -> Result<Actor> {
        if let Some(id) = &actor_id {
            cx.require_user("actor_id", id)?;
        }
        Ok(Actor::of(cx, actor_id))
    }
}

/// One change.
#[derive(Serialize, Deserialize, JsonSchema)]
pub struct Change {
    #[schemars(regex(pattern = "^aud_[0-9A-Z]{26}$"))]
    pub id: String,
    /// The ticket changed; `null` for the desk's set-up (queues, agents, topics, preferences).
    pub ticket_id: Option<String>,
    pub actor_user_id: Option<String>,
    pub actor_key_id: String,
    /// `status`, `assignee_id`, `queue_id`, `topic_id`, `tags`, `queue`, `agent`, `topic`,
    /// `notification_preferences`, `canned_response`.
    pub field: String,
    pub from_value: Option<String>,
    pub to_value: Option<String>,
    #[schemars(extend("format" = "date-time"))]
    pub created_at: String,
}

impl HasId for Change {
    fn id(&self) -> &str {
        &self.id
    }
}

pub fn record(
    cx: &Ctx,
    ticket_id: Option<&str>,
    actor: &Actor,
    field: &str,
    from: Option<&str>,
    to: Option<&str>,
) -> Result<()> {
    let change = Change {
        id: cx.new_id("aud_"),
        ticket_id: ticket_id.map(str::to_owned),
        actor_user_id: actor.user_id.clone(),
        actor_key_id: actor.key_id.clone(),
        field: field.to_owned(),
        from_value: from.map(str::to_owned),
        to_value: to.map(str::to_owned),
        created_at: cx.now(),
    };
    cx.db().insert("helpdesk_audit", &change)?;
    Ok(())
}

pub fn for_ticket(cx: &mut Ctx, Path(id): Path<String>) -> Result<Page<Change>> {
    tickets::find(cx, &id)?;
    let page = PageRequest::from(cx)?;
    let mut filter = page.time_filter("created_at");
    filter.and("ticket_id = ?", id.as_str());
    page.fetch_as(&cx.db(), "helpdesk_audit", &filter)
}

pub fn list(cx: &mut Ctx) -> Result<Page<Change>> {
    let page = PageRequest::from(cx)?;
    let mut filter = page.time_filter("created_at");
    filter.and_opt("ticket_id = ?", page.filter("ticket_id"));
    filter.and_opt("field = ?", page.filter("field"));
    page.fetch_as(&cx.db(), "helpdesk_audit", &filter)
}
