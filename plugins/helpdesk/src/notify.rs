//! Notification preferences, per event and channel, and what they decide:
//!
//! - `mail`: the desk mails through the host's outbox, in the request's transaction (a failed
//!   request sends nothing): `ticket.created` to the requester (their ticket was received),
//!   `ticket.replied` to the requester for an agent's public reply and to the assignee for the
//!   requester's, `ticket.assigned` to the new assignee, `ticket.status_changed` to the requester.
//! - `webhook`: whether the event is appended to the tenant's event log at all, and so reaches
//!   webhook endpoints and subscribed plugins.

use mobieus_sdk::prelude::*;

use crate::audit::{self, Actor};
use crate::tickets::{Message, Role, Status, Ticket, Visibility};

pub const EVENTS: &[&str] = &["ticket.created", "ticket.replied", "ticket.status_changed", "ticket.assigned"];

/// Out of the box: every event reaches webhooks; mail for all but status changes.
fn default_on(event: &str, channel: Channel) -> bool {
    channel == Channel::Webhook || event != "ticket.status_changed"
}

#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    Mail,
    Webhook,
}

impl Channel {
    fn as_str(self) -> &'static str {
        match self {
            Channel::Mail => "mail",
            Channel::Webhook => "webhook",
        }
    }
}

#[derive(Serialize, Deserialize, JsonSchema, Validate, Clone)]
#[serde(deny_unknown_fields)]
pub struct Preference {
    /// ticket.created, ticket.replied, ticket.status_changed or ticket.assigned.
    #[garde(skip)]
    #[schemars(extend("enum" = EVENTS))]
    pub event: String,
    #[garde(skip)]
    pub channel: Channel,
    #[garde(skip)]
    pub enabled: bool,
}

#[derive(Serialize, Deserialize, JsonSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct Preferences {
    /// Every event and channel (GET); the ones to change (PUT), the rest kept.
    #[garde(length(min = 1, max = 8), dive)]
    pub preferences: Vec<Preference>,
}

pub fn enabled(cx: &Ctx, event: &str, channel: Channel) -> Result<bool> {
    let set = cx.db().query_one(
        "SELECT enabled FROM helpdesk_preferences WHERE event = ?1 AND channel = ?2",
        &[&event, &channel.as_str()],
    )?;
    match set {
        Some(row) => Ok(row.get::<i64>("enabled")? != 0),
        None => Ok(default_on(event, channel)),
    }
}

fn all(cx: &Ctx) -> Result<Preferences> {
    let mut preferences = vec![];
    for event in EVENTS {
        for channel in [Channel::Mail, Channel::Webhook] {
            preferences.push(Preference { event: (*event).to_owned(), channel, enabled: enabled(cx, event, channel)? });
        }
    }
    Ok(Preferences { preferences })
}

pub fn get_preferences(cx: &mut Ctx) -> Result<Json<Preferences>> {
    all(cx).map(Json)
}

pub fn put_preferences(cx: &mut Ctx, Json(set): Json<Preferences>) -> Result<Json<Preferences>> {
    let actor = Actor::of(cx, None);
    for (i, p) in set.preferences.iter().enumerate() {
        if !EVENTS.contains(&p.event.as_str()) {
            return Err(Error::validation(&format!("preferences[{i}].event"), format!("one of {}", EVENTS.join(", "))));
        }
        let before = enabled(cx, &p.event, p.channel)?;
        cx.db().execute(
            "INSERT INTO helpdesk_preferences (event, channel, enabled) VALUES (?1, ?2, ?3)
             ON CONFLICT (event, channel) DO UPDATE SET enabled = ?3",
            &[&p.event, &p.channel.as_str(), &p.enabled],
        )?;
        if before != p.enabled {
            let field = format!("notification_preferences.{}.{}", p.event, p.channel.as_str());
            audit::record(cx, None, &actor, &field, Some(&before.to_string()), Some(&p.enabled.to_string()))?;
        }
    }
    all(cx).map(Json)
}

/// Appends the event, unless the tenant switched its webhook channel off.
pub fn emit<T: Serialize>(cx: &Ctx, event: &str, data: &T) -> Result<()> {
    if enabled(cx, event, Channel::Webhook)? {
        cx.emit(event, data)?;
    }
    Ok(())
}

/// Mails one host user, if the event's mail is on and they have an address.
fn mail_user(cx: &Ctx, event: &str, user_id: &str, subject: &str, text: &str) -> Result<()> {
    if !enabled(cx, event, Channel::Mail)? {
        return Ok(());
    }
    let Some(user) = cx.user(user_id)? else { return Ok(()) };
    if user.email.is_none() {
        return Ok(());
    }
    cx.send_mail(Mail::new(subject, text).to_user(&user.id))?;
    Ok(())
}

pub fn ticket_created(cx: &Ctx, ticket: &Ticket) -> Result<()> {
    let text = format!(
        "We received your request \"{}\" and will answer soon.\n\nReference: {}\n",
        ticket.subject, ticket.id
    );
    mail_user(cx, "ticket.created", &ticket.requester_id, &format!("[{}] Received: {}", ticket.id, ticket.subject), &text)
}

pub fn replied(cx: &Ctx, ticket: &Ticket, message: &Message) -> Result<()> {
    if message.visibility == Visibility::Internal {
        return Ok(());
    }
    let subject = format!("[{}] Re: {}", ticket.id, ticket.subject);
    match message.author_role {
        Role::Agent => mail_user(cx, "ticket.replied", &ticket.requester_id, &subject, &message.body),
        Role::Requester => match &ticket.assignee_id {
            Some(agent) => mail_user(cx, "ticket.replied", agent, &subject, &message.body),
            None => Ok(()),
        },
    }
}

pub fn status_changed(cx: &Ctx, ticket: &Ticket, from: Status) -> Result<()> {
    let text = format!(
        "Your request \"{}\" went from {} to {}.\n",
        ticket.subject,
        from.as_str(),
        ticket.status.as_str()
    );
    mail_user(cx, "ticket.status_changed", &ticket.requester_id, &format!("[{}] {}", ticket.id, ticket.subject), &text)
}

pub fn assigned(cx: &Ctx, ticket: &Ticket) -> Result<()> {
    let Some(agent) = &ticket.assignee_id else { return Ok(()) };
    let text = format!("The ticket \"{}\" ({}) is now yours.\n", ticket.subject, ticket.id);
    mail_user(cx, "ticket.assigned", agent, &format!("[{}] Assigned to you: {}", ticket.id, ticket.subject), &text)
}
