//! Assignment: by hand, by a queue's mode when a ticket arrives, and the drain: when an agent
//! frees up (a ticket of theirs is solved, closed or handed on) or comes back (available again,
//! more capacity, new queues), the oldest unassigned tickets of their queues go to them first.

use mobieus_sdk::prelude::*;

use crate::audit::{self, Actor};
use crate::desk::{self, Mode, Queue};
use crate::tickets::{self, Ticket, UNRESOLVED};
use crate::notify;

/// How a ticket got its assignee.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum How {
    /// `POST /tickets/{id}/assign`.
    Manual,
    /// Its queue's round robin, when it arrived.
    RoundRobin,
    /// Its queue's balance, when it arrived.
    Balanced,
    /// The backlog drained to an agent who freed up or came back.
    Drain,
}

#[derive(Serialize, JsonSchema)]
pub struct AssignedEvent<'a> {
    pub ticket: &'a Ticket,
    pub from: Option<&'a str>,
    pub to: Option<&'a str>,
    /// The ticket's queue (que_…).
    pub queue: Option<&'a str>,
    pub how: How,
}

#[derive(Deserialize, JsonSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct Assignment {
    /// An agent (usr_… set up with PUT /agents/{user_id}), or `null` for no one.
    #[garde(skip)]
    assignee_id: Option<String>,
    /// Move it to this queue (que_…) too.
    #[garde(skip)]
    queue_id: Option<String>,
    /// The user making the change (usr_…), for the audit trail.
    #[garde(skip)]
    actor_id: Option<String>,
}

pub fn assign(cx: &mut Ctx, Path(id): Path<String>, Json(a): Json<Assignment>) -> Result<Json<Ticket>> {
    let mut ticket = tickets::find(cx, &id)?;
    if !ticket.status.unresolved() {
        return Err(tickets::state_error(ticket.status, None));
    }
    let actor = Actor::from_body(cx, a.actor_id)?;
    if let Some(to) = &a.assignee_id
        && desk::find_agent(cx, to)?.is_none()
    {
        return Err(Error::validation("assignee_id", "not an agent: set them up with PUT /agents/{user_id}"));
    }
    let mut moved_to = None;
    if let Some(queue_id) = a.queue_id
        && ticket.queue_id.as_deref() != Some(&queue_id)
    {
        let queue = desk::find_queue(cx, &queue_id)?;
        cx.db().execute("UPDATE helpdesk_tickets SET queue_id = ?2 WHERE id = ?1", &[&ticket.id, &queue.id])?;
        audit::record(cx, Some(&ticket.id), &actor, "queue_id", ticket.queue_id.as_deref(), Some(&queue.id))?;
        ticket.queue_id = Some(queue.id.clone());
        moved_to = Some(queue);
    }
    if a.assignee_id != ticket.assignee_id {
        set_assignee(cx, &mut ticket, a.assignee_id.clone(), How::Manual, &actor)?;
    }
    // Moved to a queue that assigns by itself, with no one named: it assigns now.
    if let (Some(queue), None) = (moved_to, &a.assignee_id) {
        on_intake(cx, &mut ticket, &queue, &actor)?;
    }
    tickets::touch(cx, &mut ticket)?;
    Ok(Json(ticket))
}

/// Hands the ticket to `to`, with its audit row and event; the agent it leaves drains.
fn set_assignee(cx: &Ctx, ticket: &mut Ticket, to: Option<String>, how: How, actor: &Actor) -> Result<()> {
    // Only a hand-made assignment is the named user's doing; the others are the desk's, made
    // during the request of that key.
    let desk = Actor { user_id: None, key_id: actor.key_id.clone() };
    let actor = if how == How::Manual { actor } else { &desk };
    let from = std::mem::replace(&mut ticket.assignee_id, to);
    cx.db().execute(
        "UPDATE helpdesk_tickets SET assignee_id = ?2 WHERE id = ?1",
        &[&ticket.id, &ticket.assignee_id],
    )?;
    audit::record(cx, Some(&ticket.id), actor, "assignee_id", from.as_deref(), ticket.assignee_id.as_deref())?;
    notify::emit(
        cx,
        "ticket.assigned",
        &AssignedEvent {
            ticket,
            from: from.as_deref(),
            to: ticket.assignee_id.as_deref(),
            queue: ticket.queue_id.as_deref(),
            how,
        },
    )?;
    notify::assigned(cx, ticket)?;
    if let Some(freed) = from
        && ticket.status.unresolved()
    {
        drain(cx, &freed, actor)?;
    }
    Ok(())
}

/// A ticket arrived in `queue` (created, or moved there with no one named): its mode picks.
pub fn on_intake(cx: &Ctx, ticket: &mut Ticket, queue: &Queue, actor: &Actor) -> Result<()> {
    let how = match queue.mode {
        Mode::Manual => return Ok(()),
        Mode::RoundRobin => How::RoundRobin,
        Mode::Balanced => How::Balanced,
    };
    if let Some(agent) = pick(cx, queue)? {
        set_assignee(cx, ticket, Some(agent), how, actor)?;
    }
    Ok(())
}

/// An available agent of `queue` with room: in turn after the last one (round robin), or with
/// the fewest unresolved tickets (balanced, under the queue's cap).
fn pick(cx: &Ctx, queue: &Queue) -> Result<Option<String>> {
    let rows = cx.db().query(
        &format!(
            "SELECT id, capacity,
                 (SELECT COUNT(*) FROM helpdesk_tickets t WHERE t.assignee_id = a.id AND t.status IN {UNRESOLVED}) AS load,
                 (SELECT COUNT(*) FROM helpdesk_tickets t WHERE t.assignee_id = a.id AND t.queue_id = ?1 AND t.status IN {UNRESOLVED}) AS queue_load
             FROM helpdesk_agents a
             WHERE available = 1 AND instr(queue_ids, ?2) > 0
             ORDER BY id"
        ),
        &[&queue.id, &format!("\"{}\"", queue.id)],
    )?;
    let mut with_room: Vec<(String, i64)> = vec![];
    for row in rows {
        let (id, capacity, load, queue_load) = (
            row.get::<String>("id")?,
            row.get::<i64>("capacity")?,
            row.get::<i64>("load")?,
            row.get::<i64>("queue_load")?,
        );
        let under_cap = queue.mode != Mode::Balanced || queue.agent_cap.is_none_or(|cap| queue_load < cap);
        if load < capacity && under_cap {
            with_room.push((id, load));
        }
    }
    let chosen = match queue.mode {
        Mode::Manual => None,
        Mode::Balanced => with_room.into_iter().min_by(|a, b| a.1.cmp(&b.1).then(a.0.cmp(&b.0))).map(|a| a.0),
        Mode::RoundRobin => {
            let last: Option<String> = cx
                .db()
                .query_one("SELECT last_assigned_id FROM helpdesk_queues WHERE id = ?1", &[&queue.id])?
                .map(|r| r.get::<Option<String>>("last_assigned_id"))
                .transpose()?
                .flatten();
            let next = with_room
                .iter()
                .find(|(id, _)| last.as_ref().is_none_or(|l| id > l))
                .or(with_room.first())
                .map(|(id, _)| id.clone());
            if let Some(id) = &next {
                cx.db().execute("UPDATE helpdesk_queues SET last_assigned_id = ?2 WHERE id = ?1", &[&queue.id, id])?;
            }
            next
        }
    };
    Ok(chosen)
}

/// The agent freed up or came back: while they have room, the oldest unassigned ticket of
/// their queues that assign by themselves goes to them.
pub fn drain(cx: &Ctx, agent_id: &str, actor: &Actor) -> Result<()> {
    let Some(agent) = desk::find_agent(cx, agent_id)? else { return Ok(()) };
    if !agent.available || agent.open_load >= agent.capacity {
        return Ok(());
    }
    let mut queues: Vec<Queue> = vec![];
    for id in &agent.queue_ids {
        if let Ok(queue) = desk::find_queue(cx, id)
            && queue.mode != Mode::Manual
        {
            queues.push(queue);
        }
    }
    let ids: Vec<String> = queues.iter().map(|q| q.id.clone()).collect();
    let room = agent.capacity - agent.open_load;
    let mut given = 0;
    // Fetched with slack: a balanced queue's cap may pass over some of them.
    for mut ticket in desk::backlog(cx, &ids, (room as u32).saturating_mul(4).min(400))? {
        if given >= room {
            break;
        }
        let queue = queues.iter().find(|q| ticket.queue_id.as_deref() == Some(&q.id));
        if let Some(queue) = queue
            && queue.mode == Mode::Balanced
            && let Some(cap) = queue.agent_cap
        {
            let in_queue = cx
                .db()
                .query_one(
                    &format!("SELECT COUNT(*) AS n FROM helpdesk_tickets WHERE assignee_id = ?1 AND queue_id = ?2 AND status IN {UNRESOLVED}"),
                    &[&agent_id, &queue.id],
                )?
                .map_or(Ok(0), |r| r.get::<i64>("n"))?;
            if in_queue >= cap {
                continue;
            }
        }
        set_assignee(cx, &mut ticket, Some(agent_id.to_owned()), How::Drain, actor)?;
        tickets::touch(cx, &mut ticket)?;
        given += 1;
    }
    Ok(())
}

/// A queue began assigning by itself: its backlog goes out, oldest first, while anyone has room.
pub fn drain_queue(cx: &Ctx, queue: &Queue, actor: &Actor) -> Result<()> {
    for mut ticket in desk::backlog(cx, std::slice::from_ref(&queue.id), 400)? {
        let Some(agent) = pick(cx, queue)? else { break };
        let how = if queue.mode == Mode::Balanced { How::Balanced } else { How::RoundRobin };
        set_assignee(cx, &mut ticket, Some(agent), how, actor)?;
        tickets::touch(cx, &mut ticket)?;
    }
    Ok(())
}
