//! Agents and activities as the LRS keys and indexes them: an agent by its inverse functional
//! identifier, the agents and activities a statement is about (directly, or related: authority,
//! instructor, team, context activities, a SubStatement's), the Agents resource's Person, and
//! each activity's canonical definition, merged from the statements that carried one.

use std::collections::BTreeMap;

use mobieus_sdk::json::{Map, Value};
use mobieus_sdk::prelude::*;

/// An agent's (or identified group's) key: `mbox:mailto:…`, `mbox_sha1sum:…`, `openid:…` or
/// `account:<homePage> <name>` (a homePage has no whitespace, so the space separates).
pub fn ifi(a: &Value) -> Option<String> {
    if let Some(m) = a.get("mbox").and_then(Value::as_str) {
        return Some(format!("mbox:{}", m.to_ascii_lowercase()));
    }
    if let Some(s) = a.get("mbox_sha1sum").and_then(Value::as_str) {
        return Some(format!("mbox_sha1sum:{}", s.to_ascii_lowercase()));
    }
    if let Some(o) = a.get("openid").and_then(Value::as_str) {
        return Some(format!("openid:{o}"));
    }
    let account = a.get("account")?;
    Some(format!("account:{} {}", account.get("homePage")?.as_str()?, account.get("name")?.as_str()?))
}

/// Directly about the statement (actor, object) or only related to it.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Relation {
    Direct = 0,
    Related = 1,
}

/// The agents and activities a statement is about, each once, with its closest relation.
#[derive(Default)]
pub struct Index {
    pub agents: BTreeMap<String, Relation>,
    pub activities: BTreeMap<String, Relation>,
}

impl Index {
    pub fn of(statement: &Value) -> Index {
        let mut index = Index::default();
        index.statement(statement, Relation::Direct);
        if let Some(authority) = statement.get("authority") {
            index.actor(authority, Relation::Related);
        }
        index
    }

    fn statement(&mut self, s: &Value, relation: Relation) {
        if let Some(actor) = s.get("actor") {
            self.actor(actor, relation);
        }
        if let Some(object) = s.get("object") {
            match object.get("objectType").and_then(Value::as_str) {
                Some("Agent") | Some("Group") => self.actor(object, relation),
                Some("SubStatement") => self.statement(object, Relation::Related),
                Some("StatementRef") => {}
                _ => self.activity(object, relation),
            }
        }
        let Some(context) = s.get("context") else {
            return;
        };
        for who in ["instructor", "team"] {
            if let Some(a) = context.get(who) {
                self.actor(a, Relation::Related);
            }
        }
        if let Some(Value::Object(kinds)) = context.get("contextActivities") {
            for activities in kinds.values() {
                for a in one_or_many(activities) {
                    self.activity(a, Relation::Related);
                }
            }
        }
    }

    fn actor(&mut self, a: &Value, relation: Relation) {
        if let Some(key) = ifi(a) {
            note(&mut self.agents, key, relation);
        }
        for member in a.get("member").and_then(Value::as_array).into_iter().flatten() {
            if let Some(key) = ifi(member) {
                note(&mut self.agents, key, relation);
            }
        }
    }

    fn activity(&mut self, a: &Value, relation: Relation) {
        if let Some(id) = a.get("id").and_then(Value::as_str) {
            note(&mut self.activities, id.to_owned(), relation);
        }
    }
}

fn note(map: &mut BTreeMap<String, Relation>, key: String, relation: Relation) {
    let held = map.entry(key).or_insert(relation);
    *held = (*held).min(relation);
}

/// A context activity list: one object or an array of them.
pub fn one_or_many(v: &Value) -> Vec<&Value> {
    match v {
        Value::Array(list) => list.iter().collect(),
        one => vec![one],
    }
}

/// Every activity object a statement carries with a definition, for the canonical store.
pub fn defined_activities(s: &Value) -> Vec<&Value> {
    let mut found = Vec::new();
    collect_activities(s, &mut found);
    found.retain(|a| a.get("definition").is_some());
    found
}

fn collect_activities<'a>(s: &'a Value, found: &mut Vec<&'a Value>) {
    if let Some(object) = s.get("object") {
        match object.get("objectType").and_then(Value::as_str) {
            None | Some("Activity") => found.push(object),
            Some("SubStatement") => collect_activities(object, found),
            _ => {}
        }
    }
    if let Some(Value::Object(kinds)) = s.get("context").and_then(|c| c.get("contextActivities")) {
        for activities in kinds.values() {
            found.extend(one_or_many(activities));
        }
    }
}

/// Merges a definition into the canonical one: language maps by language, everything else
/// replaced by the newer value.
pub fn merge_definition(canonical: &mut Map<String, Value>, newer: &Map<String, Value>) {
    for (key, value) in newer {
        match (canonical.get_mut(key), value) {
            (Some(Value::Object(held)), Value::Object(more)) if key == "name" || key == "description" || key == "extensions" => {
                for (k, v) in more {
                    held.insert(k.clone(), v.clone());
                }
            }
            _ => {
                canonical.insert(key.clone(), value.clone());
            }
        }
    }
}

/// Stores the canonical definitions of the statement's activities.
pub fn remember_activities(cx: &Ctx, statement: &Value) -> Result<()> {
    for activity in defined_activities(statement) {
        let (Some(id), Some(Value::Object(definition))) = (activity.get("id").and_then(Value::as_str), activity.get("definition")) else {
            continue;
        };
        let held = cx.db().query_one("SELECT definition FROM learn_xapi_activities WHERE id = ?1", &[&id])?;
        let stored = held.is_some();
        let mut canonical = match held {
            Some(row) => json::from_str::<Map<String, Value>>(&row.get::<String>("definition")?)?,
            None => Map::new(),
        };
        let before = canonical.clone();
        merge_definition(&mut canonical, definition);
        if stored && before == canonical {
            continue;
        }
        let text = json::to_string(&canonical)?;
        cx.db().execute(
            "INSERT INTO learn_xapi_activities (id, definition) VALUES (?1, ?2) ON CONFLICT (id) DO UPDATE SET definition = excluded.definition",
            &[&id, &text],
        )?;
    }
    Ok(())
}

/// The canonical definition of an activity, if any statement gave one.
pub fn canonical_definition(cx: &Ctx, id: &str) -> Result<Option<Value>> {
    let row = cx.db().query_one("SELECT definition FROM learn_xapi_activities WHERE id = ?1", &[&id])?;
    row.map(|r| Ok(json::from_str(&r.get::<String>("definition")?)?)).transpose()
}

/// Records the names an agent was given, for the Agents resource's Person.
pub fn remember_agent(cx: &Ctx, actor: &Value) -> Result<()> {
    let (Some(key), Some(name)) = (ifi(actor), actor.get("name").and_then(Value::as_str)) else {
        return Ok(());
    };
    cx.db().execute("INSERT OR IGNORE INTO learn_xapi_agent_names (agent, name) VALUES (?1, ?2)", &[&key, &name])?;
    Ok(())
}

/// The Person object of an agent: every name it was given, and its identifier, each an array.
pub fn person(cx: &Ctx, agent: &Value) -> Result<Value> {
    let key = ifi(agent).unwrap_or_default();
    let mut names: Vec<Value> = cx
        .db()
        .query("SELECT name FROM learn_xapi_agent_names WHERE agent = ?1 ORDER BY name", &[&key])?
        .iter()
        .map(|r| r.get::<String>("name").map(Value::from))
        .collect::<Result<_>>()?;
    if let Some(name) = agent.get("name").filter(|n| !names.contains(n)) {
        names.push(name.clone());
    }
    let mut person = Map::new();
    person.insert("objectType".into(), "Person".into());
    if !names.is_empty() {
        person.insert("name".into(), Value::Array(names));
    }
    for key in ["mbox", "mbox_sha1sum", "openid", "account"] {
        if let Some(v) = agent.get(key) {
            person.insert(key.into(), Value::Array(vec![v.clone()]));
        }
    }
    Ok(Value::Object(person))
}
