//! The document resources (xAPI 1.0.3 Communication 2.2, 2.3, 2.6, 2.7): a learner's state in
//! an activity, an activity's profiles, an agent's profiles. A document is any bytes with a
//! content type; GET answers one by id (with `ETag`, a quoted SHA-1, and `Last-Modified`) or the
//! ids stored (`since` a time); PUT replaces; POST merges JSON objects one level deep; DELETE
//! removes one (or, for state, every one of the activity, agent and registration). `If-Match`
//! and `If-None-Match` guard every write; a profile PUT must send one (without, 409 over an
//! existing document, 400 otherwise).

use mobieus_sdk::json::{Map, Value};
use mobieus_sdk::prelude::*;
use mobieus_sdk::ToSql;
use sha1::Digest;

use super::request::XRequest;
use super::statements::{hex, http_date};
use super::{agents, invalid, not_found, validate};

pub const MIGRATION: &str = "
CREATE TABLE learn_xapi_documents (
    kind TEXT NOT NULL,
    activity_id TEXT NOT NULL,
    agent TEXT NOT NULL,
    registration TEXT NOT NULL,
    document_id TEXT NOT NULL,
    content_type TEXT NOT NULL,
    content BLOB NOT NULL,
    etag TEXT NOT NULL,
    updated_ms INTEGER NOT NULL,
    PRIMARY KEY (kind, activity_id, agent, registration, document_id)
);
CREATE INDEX learn_xapi_documents_updated ON learn_xapi_documents (kind, activity_id, agent, registration, updated_ms);
";

#[derive(Clone, Copy, PartialEq)]
pub enum Kind {
    State,
    ActivityProfile,
    AgentProfile,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::State => "state",
            Kind::ActivityProfile => "activity_profile",
            Kind::AgentProfile => "agent_profile",
        }
    }

    fn id_param(self) -> &'static str {
        match self {
            Kind::State => "stateId",
            _ => "profileId",
        }
    }

    fn params(self) -> &'static [&'static str] {
        match self {
            Kind::State => &["activityId", "agent", "registration", "stateId", "since"],
            Kind::ActivityProfile => &["activityId", "profileId", "since"],
            Kind::AgentProfile => &["agent", "profileId", "since"],
        }
    }
}

/// Where documents live: kind, activity, agent, registration ('' where the kind has none).
struct Scope {
    kind: Kind,
    /// `kind` as stored.
    kind_name: &'static str,
    activity: String,
    agent: String,
    registration: String,
}

impl Scope {
    fn of(kind: Kind, req: &XRequest) -> Result<Scope> {
        req.allow_only(kind.params())?;
        let activity = if kind == Kind::AgentProfile {
            String::new()
        } else {
            let id = req.param("activityId").ok_or_else(|| invalid("`activityId` is required."))?;
            if !validate::is_iri(id) {
                return Err(invalid("`activityId` must be an absolute IRI."));
            }
            id.to_owned()
        };
        let agent = if kind == Kind::ActivityProfile {
            String::new()
        } else {
            agent_key(req)?
        };
        let registration = match req.param("registration") {
            Some(r) if validate::is_uuid(r) => r.to_ascii_lowercase(),
            Some(_) => return Err(invalid("`registration` must be a UUID.")),
            None => String::new(),
        };
        Ok(Scope { kind, kind_name: kind.name(), activity, agent, registration })
    }

    fn key<'a>(&'a self, id: &'a &'a str) -> [&'a dyn ToSql; 5] {
        [&self.kind_name, &self.activity, &self.agent, &self.registration, id]
    }
}

/// The `agent` parameter: an Agent (or identified Group) as JSON, by its identifier.
fn agent_key(req: &XRequest) -> Result<String> {
    let text = req.param("agent").ok_or_else(|| invalid("`agent` is required."))?;
    let agent: Value = json::from_str(text).map_err(|_| invalid("`agent` must be an Agent as JSON."))?;
    validate::actor(&agent).map_err(|why| invalid(&why))?;
    agents::ifi(&agent).ok_or_else(|| invalid("`agent` must have an identifier."))
}

/// A stored document.
struct Document {
    content_type: String,
    content: Vec<u8>,
    etag: String,
    updated_ms: i64,
}

fn find(cx: &Ctx, scope: &Scope, id: &str) -> Result<Option<Document>> {
    let row = cx.db().query_one(
        "SELECT content_type, content, etag, updated_ms FROM learn_xapi_documents
         WHERE kind = ?1 AND activity_id = ?2 AND agent = ?3 AND registration = ?4 AND document_id = ?5",
        &scope.key(&id),
    )?;
    row.map(|r| {
        Ok(Document { content_type: r.get("content_type")?, content: r.get("content")?, etag: r.get("etag")?, updated_ms: r.get("updated_ms")? })
    })
    .transpose()
}

pub fn serve(cx: &Ctx, req: &XRequest, kind: Kind) -> Result<Reply> {
    let scope = Scope::of(kind, req)?;
    let id = req.param(kind.id_param());
    if id.is_some() && req.param("since").is_some() {
        return Err(invalid(&format!("`since` lists ids: it is not taken with `{}`.", kind.id_param())));
    }
    match (req.method.as_str(), id) {
        ("GET", Some(id)) => get_one(cx, &scope, id),
        ("GET", None) => list(cx, req, &scope),
        ("PUT", Some(id)) => write(cx, req, &scope, id, false),
        ("POST", Some(id)) => write(cx, req, &scope, id, true),
        ("DELETE", Some(id)) => delete_one(cx, req, &scope, id),
        ("DELETE", None) if kind == Kind::State => {
            if req.param("since").is_some() {
                return Err(invalid("`since` is not taken by DELETE."));
            }
            cx.db().execute(
                "DELETE FROM learn_xapi_documents WHERE kind = ?1 AND activity_id = ?2 AND agent = ?3 AND registration = ?4",
                &[&kind.name(), &scope.activity, &scope.agent, &scope.registration],
            )?;
            Reply::no_content()
        }
        (_, None) => Err(invalid(&format!("`{}` is required.", kind.id_param()))),
        _ => Err(Error::new(405, "method_not_allowed", "This resource does not take that method.")),
    }
}

fn get_one(cx: &Ctx, scope: &Scope, id: &str) -> Result<Reply> {
    let doc = find(cx, scope, id)?.ok_or_else(|| not_found("No document has this id."))?;
    Ok(Reply::bytes(200, doc.content)?
        .header("Content-Type", &doc.content_type)
        .header("ETag", &format!("\"{}\"", doc.etag))
        .header("Last-Modified", &http_date(doc.updated_ms)))
}

fn list(cx: &Ctx, req: &XRequest, scope: &Scope) -> Result<Reply> {
    let since = match req.param("since") {
        Some(t) => validate::timestamp_ms(t).ok_or_else(|| invalid("`since` must be an ISO 8601 timestamp."))?,
        None => i64::MIN,
    };
    let rows = cx.db().query(
        "SELECT document_id FROM learn_xapi_documents
         WHERE kind = ?1 AND activity_id = ?2 AND agent = ?3 AND registration = ?4 AND updated_ms > ?5 ORDER BY document_id",
        &[&scope.kind.name(), &scope.activity, &scope.agent, &scope.registration, &since],
    )?;
    let ids: Vec<String> = rows.iter().map(|r| r.get("document_id")).collect::<Result<_>>()?;
    let last = cx
        .db()
        .query_one(
            "SELECT MAX(updated_ms) AS last FROM learn_xapi_documents WHERE kind = ?1 AND activity_id = ?2 AND agent = ?3 AND registration = ?4",
            &[&scope.kind.name(), &scope.activity, &scope.agent, &scope.registration],
        )?
        .and_then(|r| r.get::<Option<i64>>("last").ok().flatten());
    let reply = Reply::ok(&ids)?;
    Ok(match last {
        Some(ms) => reply.header("Last-Modified", &http_date(ms)),
        None => reply,
    })
}

/// `If-Match` / `If-None-Match` against the document as it is; a profile PUT over an existing
/// document must say which version it replaces.
fn precondition(req: &XRequest, scope: &Scope, current: Option<&Document>, replacing: bool) -> Result<()> {
    let etag = current.map(|d| d.etag.as_str());
    let listed = |header: &str| header.split(',').map(|t| t.trim().trim_start_matches("W/").trim_matches('"').to_owned()).collect::<Vec<_>>();
    let if_match = req.header("if-match");
    let if_none_match = req.header("if-none-match");
    if let Some(m) = &if_match {
        let ok = match etag {
            None => false,
            Some(etag) => m.trim() == "*" || listed(m).iter().any(|t| t == etag),
        };
        if !ok {
            return Err(Error::new(412, "precondition_failed", "If-Match does not match the document's ETag."));
        }
    }
    if let Some(n) = &if_none_match {
        let fails = match etag {
            None => false,
            Some(etag) => n.trim() == "*" || listed(n).iter().any(|t| t == etag),
        };
        if fails {
            return Err(Error::new(412, "precondition_failed", "If-None-Match matches the document as it is."));
        }
    }
    if replacing && scope.kind != Kind::State && if_match.is_none() && if_none_match.is_none() {
        return Err(match current {
            Some(_) => Error::conflict(
                "document_exists",
                "The document exists: send If-Match with its ETag to replace it.",
            ),
            None => invalid("A profile PUT says what it replaces: If-Match with the document's ETag, or If-None-Match: * to create it."),
        });
    }
    Ok(())
}

fn write(cx: &Ctx, req: &XRequest, scope: &Scope, id: &str, merge: bool) -> Result<Reply> {
    let current = find(cx, scope, id)?;
    precondition(req, scope, current.as_ref(), !merge)?;
    let content_type = req.header("content-type").unwrap_or_else(|| "application/octet-stream".into());
    let is_json = req.content_type() == "application/json";
    let (content_type, content) = match (merge, &current) {
        (true, Some(doc)) => {
            let held_json = doc.content_type.split(';').next().unwrap_or("").trim().eq_ignore_ascii_case("application/json");
            if !is_json || !held_json {
                return Err(invalid("POST merges JSON documents: the stored one and this one must both be application/json."));
            }
            let mut held: Map<String, Value> = json::from_slice(&doc.content).map_err(|_| invalid("The stored document is not a JSON object."))?;
            let newer: Map<String, Value> = json::from_slice(&req.body).map_err(|_| invalid("POST merges a JSON object: the body is not one."))?;
            held.extend(newer);
            (doc.content_type.clone(), json::to_vec(&held)?)
        }
        (true, None) => {
            if is_json && json::from_slice::<Map<String, Value>>(&req.body).is_err() {
                return Err(invalid("POST merges a JSON object: the body is not one."));
            }
            (content_type, req.body.clone())
        }
        (false, _) => (content_type, req.body.clone()),
    };
    let etag = hex(&sha1::Sha1::digest(&content));
    let now = cx.now_ms();
    let key = scope.key(&id);
    cx.db().execute(
        "INSERT INTO learn_xapi_documents (kind, activity_id, agent, registration, document_id, content_type, content, etag, updated_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
         ON CONFLICT (kind, activity_id, agent, registration, document_id)
         DO UPDATE SET content_type = excluded.content_type, content = excluded.content, etag = excluded.etag, updated_ms = excluded.updated_ms",
        &[key[0], key[1], key[2], key[3], key[4], &content_type, &content, &etag, &now],
    )?;
    Reply::no_content()
}

fn delete_one(cx: &Ctx, req: &XRequest, scope: &Scope, id: &str) -> Result<Reply> {
    let current = find(cx, scope, id)?;
    precondition(req, scope, current.as_ref(), false)?;
    cx.db().execute(
        "DELETE FROM learn_xapi_documents WHERE kind = ?1 AND activity_id = ?2 AND agent = ?3 AND registration = ?4 AND document_id = ?5",
        &scope.key(&id),
    )?;
    Reply::no_content()
}
