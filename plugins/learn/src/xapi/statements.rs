//! The Statement resource: PUT one by id, POST one or many, GET one by id (or a voided one) or a
//! filtered page of them, in `exact`, `ids` or `canonical` format, with their attachments as
//! `multipart/mixed` when asked. Statements are immutable: the same id again is accepted only
//! with the same statement (204/200), a different one is 409. A voiding statement hides its
//! target from every read but `voidedStatementId`.
//!
//! Filters are indexes, never scans: `verb` and `registration` on the statement row, `agent` and
//! `activity` through the rows [`agents::Index`] lists for each statement, each keyed
//! `(key, seq)` so a page reads in `seq` order. A statement whose object is a StatementRef to a
//! statement that matches the filters matches too (xAPI 1.0.3 Communication 2.1.4): those few are
//! listed apart (`learn_xapi_statement_refs`), so finding them reads only them.

use std::collections::{BTreeMap, HashSet};

use base64::Engine;
use mobieus_sdk::json::{Map, Value};
use mobieus_sdk::prelude::*;
use mobieus_sdk::{ToSql, Value as Sql};

use super::agents::{self, Index};
use super::multipart::{self, Part};
use super::request::XRequest;
use super::{BASE, conflict, invalid, not_found, signature, validate};

pub const MIGRATION: &str = "
CREATE TABLE learn_xapi_statements (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    stored_ms INTEGER NOT NULL,
    verb TEXT NOT NULL,
    registration TEXT,
    voiding INTEGER NOT NULL DEFAULT 0,
    voided INTEGER NOT NULL DEFAULT 0,
    timestamp_given INTEGER NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX learn_xapi_statements_verb ON learn_xapi_statements (verb, seq);
CREATE INDEX learn_xapi_statements_registration ON learn_xapi_statements (registration, seq) WHERE registration IS NOT NULL;
CREATE TABLE learn_xapi_statement_refs (
    seq INTEGER PRIMARY KEY,
    target TEXT NOT NULL,
    voiding INTEGER NOT NULL
);
CREATE INDEX learn_xapi_statement_refs_target ON learn_xapi_statement_refs (target);
CREATE TABLE learn_xapi_statement_agents (
    agent TEXT NOT NULL,
    seq INTEGER NOT NULL,
    related INTEGER NOT NULL,
    PRIMARY KEY (agent, seq)
) WITHOUT ROWID;
CREATE TABLE learn_xapi_statement_activities (
    activity TEXT NOT NULL,
    seq INTEGER NOT NULL,
    related INTEGER NOT NULL,
    PRIMARY KEY (activity, seq)
) WITHOUT ROWID;
CREATE TABLE learn_xapi_attachments (
    sha2 TEXT PRIMARY KEY,
    content_type TEXT NOT NULL,
    content BLOB NOT NULL
);
CREATE TABLE learn_xapi_activities (
    id TEXT PRIMARY KEY,
    definition TEXT NOT NULL
);
CREATE TABLE learn_xapi_agent_names (
    agent TEXT NOT NULL,
    name TEXT NOT NULL,
    PRIMARY KEY (agent, name)
) WITHOUT ROWID;
";

/// The most statements one page answers (`limit=0` asks for this many).
const MAX_PAGE: i64 = 100;

/// The most statements one POST stores: each is several writes in the request's one
/// transaction, which must end well within the plugin's deadline.
const MAX_BATCH: usize = 1000;

/// Statements and the attachments that came with them.
struct Incoming {
    statements: Vec<Value>,
    /// By SHA-2, content type and bytes.
    parts: BTreeMap<String, (String, Vec<u8>)>,
}

/// `PUT /statements?statementId=…`
pub fn put(cx: &Ctx, req: &XRequest) -> Result<Reply> {
    req.allow_only(&["statementId"])?;
    let Some(id) = req.param("statementId") else {
        return Err(invalid("PUT needs the `statementId` parameter."));
    };
    if !validate::is_uuid(id) {
        return Err(invalid("`statementId` must be a UUID."));
    }
    let mut incoming = incoming(req)?;
    let [statement] = incoming.statements.as_mut_slice() else {
        return Err(invalid("PUT takes one statement, not an array."));
    };
    match statement.get("id").and_then(Value::as_str) {
        Some(given) if !given.eq_ignore_ascii_case(id) => {
            return Err(invalid("The statement's `id` differs from `statementId`."));
        }
        Some(_) => {}
        None => {
            statement["id"] = Value::from(id);
        }
    }
    store_all(cx, incoming)?;
    Reply::no_content()
}

/// `POST /statements`: one statement or an array; answers their ids in order.
pub fn post(cx: &Ctx, req: &XRequest) -> Result<Reply> {
    req.allow_only(&[])?;
    let incoming = incoming(req)?;
    let ids = store_all(cx, incoming)?;
    Reply::ok(&ids)
}

/// The statements of a PUT or POST body, JSON or `multipart/mixed` with attachments; each
/// attachment without a `fileUrl` must come as a part, and every part must be an attachment's.
fn incoming(req: &XRequest) -> Result<Incoming> {
    let (json_body, parts) = match req.content_type().as_str() {
        "application/json" => (req.body.clone(), Vec::new()),
        "multipart/mixed" => {
            let mut parts = multipart::parse(&req.header("content-type").unwrap_or_default(), &req.body).map_err(|why| invalid(&why))?;
            if parts.is_empty() {
                return Err(invalid("The multipart body has no parts."));
            }
            let first = parts.remove(0);
            if first.essence() != "application/json" {
                return Err(invalid("The first part of a multipart body must be the statements, as application/json."));
            }
            (first.body, parts)
        }
        "" => return Err(invalid("Send statements as application/json (or multipart/mixed with attachments).")),
        other => return Err(invalid(&format!("Statements are application/json or multipart/mixed, not {other}."))),
    };
    let parsed: Value = json::from_slice(&json_body).map_err(|e| invalid(&format!("The body is not JSON: {e}")))?;
    let statements = match parsed {
        Value::Array(list) => list,
        one @ Value::Object(_) => vec![one],
        _ => return Err(invalid("Send a statement object or an array of them.")),
    };
    if statements.len() > MAX_BATCH {
        return Err(Error::new(413, "xapi_batch_too_large", format!("One POST stores at most {MAX_BATCH} statements; send the rest in another.")));
    }
    for (i, s) in statements.iter().enumerate() {
        validate::statement(s).map_err(|why| invalid(&format!("Statement {i}: {why}")))?;
    }
    let mut by_hash = BTreeMap::new();
    for part in parts {
        let Some(hash) = part.hash.clone() else {
            return Err(invalid("Each attachment part needs an X-Experience-API-Hash header."));
        };
        if part.transfer_encoding.as_deref().is_some_and(|e| !e.eq_ignore_ascii_case("binary")) {
            return Err(invalid("Attachment parts are sent with Content-Transfer-Encoding: binary."));
        }
        if multipart::sha2_hex(&hash, &part.body).as_deref() != Some(hash.to_ascii_lowercase().as_str()) {
            return Err(invalid("An attachment part's content does not match its X-Experience-API-Hash."));
        }
        by_hash.insert(hash.to_ascii_lowercase(), (part.essence(), part.body));
    }
    let mut used = HashSet::new();
    let mut signatures = signature::Signatures::default();
    for s in &statements {
        for attachment in attachments_of(s) {
            let sha2 = attachment["sha2"].as_str().unwrap_or_default().to_ascii_lowercase();
            let is_signature = attachment["usageType"] == signature::USAGE_TYPE;
            match by_hash.get(&sha2) {
                Some((_, content)) => {
                    used.insert(sha2.clone());
                    if is_signature {
                        if attachment["contentType"] != "application/octet-stream" {
                            return Err(invalid("A signature attachment's contentType must be application/octet-stream."));
                        }
                        signatures.verify(content, s).map_err(|refused| match refused {
                            signature::Refused::Invalid(why) => invalid(&why),
                            signature::Refused::TooMany => Error::new(
                                413,
                                "xapi_batch_too_large",
                                format!("One request verifies at most {} signatures with certificates; send the rest in another.", signature::MAX_CHECKED),
                            ),
                        })?;
                    }
                }
                None if attachment.get("fileUrl").is_none() => {
                    return Err(invalid(&format!("The attachment with sha2 {sha2} has no fileUrl and no part in the body.")));
                }
                None if is_signature => return Err(invalid("A signature attachment must come as a part.")),
                None => {}
            }
        }
    }
    if let Some(unused) = by_hash.keys().find(|h| !used.contains(*h)) {
        return Err(invalid(&format!("The part with hash {unused} is no statement's attachment.")));
    }
    Ok(Incoming { statements, parts: by_hash })
}

/// Stores a statement Learn makes of its own progress ([`super::progress`]), as a POST would.
pub fn record(cx: &Ctx, statement: Value) -> Result<()> {
    validate::statement(&statement).map_err(|why| Error::internal(format!("Learn made an invalid statement: {why}")))?;
    store_all(cx, Incoming { statements: vec![statement], parts: BTreeMap::new() }).map(drop)
}

fn attachments_of(s: &Value) -> impl Iterator<Item = &Value> {
    s.get("attachments").and_then(Value::as_array).into_iter().flatten()
}

/// Stores each statement (one already stored the same is skipped; a different one is 409) and
/// its attachments; answers the ids in order.
fn store_all(cx: &Ctx, incoming: Incoming) -> Result<Vec<String>> {
    let now_ms = cx.now_ms();
    let stored = cx.time_at(now_ms);
    let authority = authority(cx);
    let mut ids = Vec::with_capacity(incoming.statements.len());
    let mut given_ids = Vec::new();
    let mut batch = Vec::with_capacity(incoming.statements.len());
    for mut s in incoming.statements {
        arrays_of_context_activities(&mut s);
        let id = match s.get("id").and_then(Value::as_str) {
            Some(id) => {
                given_ids.push(id.to_ascii_lowercase());
                id.to_ascii_lowercase()
            }
            None => {
                let id = super::uuid(cx);
                s["id"] = Value::from(id.clone());
                id
            }
        };
        ids.push(s["id"].as_str().unwrap_or_default().to_owned());
        batch.push((id, s));
    }
    let mut seen = HashSet::new();
    if let Some((twice, _)) = batch.iter().find(|(id, _)| !seen.insert(id.as_str())) {
        return Err(invalid(&format!("The batch has statement {twice} twice.")));
    }
    let held = stored_already(cx, &given_ids)?;
    let mut fresh = Vec::new();
    for (id, s) in batch {
        if let Some((body, timestamp_given)) = held.get(&id) {
            let held: Value = json::from_str(body)?;
            if comparable(&held, *timestamp_given, s.get("timestamp").is_some()) == comparable(&s, true, true) {
                continue;
            }
            return Err(conflict(&format!("Statement {id} is stored already, with other content: statements are immutable.")));
        }
        fresh.push((id, s));
    }
    // Voiding checks before any write: a voiding statement may not target another one.
    for (_, s) in &fresh {
        if let Some(target) = voided_target(s) {
            let target_is_voiding = cx
                .db()
                .query_one("SELECT voiding FROM learn_xapi_statements WHERE id = ?1", &[&target])?
                .map(|r| r.get::<i64>("voiding"))
                .transpose()?
                == Some(1)
                || fresh.iter().any(|(id, other)| *id == target && voided_target(other).is_some());
            if target_is_voiding {
                return Err(invalid("A voiding statement cannot target another voiding statement."));
            }
        }
    }
    for (id, mut s) in fresh {
        let timestamp_given = s.get("timestamp").is_some();
        if !timestamp_given {
            s["timestamp"] = Value::from(stored.clone());
        }
        s["stored"] = Value::from(stored.clone());
        s["authority"] = authority.clone();
        if s.get("version").is_none() {
            s["version"] = Value::from("1.0.0");
        }
        insert(cx, &id, &s, now_ms, timestamp_given)?;
    }
    for (sha2, (content_type, content)) in incoming.parts {
        cx.db().execute(
            "INSERT OR IGNORE INTO learn_xapi_attachments (sha2, content_type, content) VALUES (?1, ?2, ?3)",
            &[&sha2, &content_type, &content],
        )?;
    }
    Ok(ids)
}

/// Of these ids, the statements stored already: their JSON and whether their timestamp was
/// given. One query for a whole batch.
fn stored_already(cx: &Ctx, ids: &[String]) -> Result<std::collections::HashMap<String, (String, bool)>> {
    let mut held = std::collections::HashMap::new();
    for chunk in ids.chunks(500) {
        let marks: Vec<String> = (1..=chunk.len()).map(|i| format!("?{i}")).collect();
        let sql = format!("SELECT id, body, timestamp_given FROM learn_xapi_statements WHERE id IN ({})", marks.join(","));
        let params: Vec<&dyn ToSql> = chunk.iter().map(|id| id as &dyn ToSql).collect();
        for row in cx.db().query(&sql, &params)? {
            held.insert(row.get::<String>("id")?, (row.get::<String>("body")?, row.get::<i64>("timestamp_given")? == 1));
        }
    }
    Ok(held)
}

/// Context activities as the LRS answers them: each kind an array, even of one (Data 2.4.6.2).
fn arrays_of_context_activities(s: &mut Value) {
    if let Some(Value::Object(kinds)) = s.get_mut("context").and_then(|c| c.get_mut("contextActivities")) {
        for list in kinds.values_mut() {
            if !list.is_array() {
                *list = Value::Array(vec![list.take()]);
            }
        }
    }
    if s["object"]["objectType"] == "SubStatement" {
        arrays_of_context_activities(&mut s["object"]);
    }
}

/// The id a voiding statement voids.
fn voided_target(s: &Value) -> Option<String> {
    (s["verb"]["id"] == validate::VOIDED).then(|| s["object"]["id"].as_str().map(str::to_ascii_lowercase))?
}

/// Inserts one statement with its index rows, its activities' definitions and its agents'
/// names; voids its target, or is voided by a voiding statement that came first.
fn insert(cx: &Ctx, id: &str, s: &Value, now_ms: i64, timestamp_given: bool) -> Result<()> {
    let verb = s["verb"]["id"].as_str().unwrap_or_default();
    let registration = s.get("context").and_then(|c| c.get("registration")).and_then(Value::as_str).map(str::to_ascii_lowercase);
    let reference = (s["object"]["objectType"] == "StatementRef").then(|| s["object"]["id"].as_str().unwrap_or_default().to_ascii_lowercase());
    let voids = voided_target(s);
    let voided_already = cx
        .db()
        .query_one("SELECT 1 AS one FROM learn_xapi_statement_refs WHERE target = ?1 AND voiding = 1 LIMIT 1", &[&id])?
        .is_some();
    let body = json::to_string(s)?;
    let seq: i64 = cx
        .db()
        .query_one(
            "INSERT INTO learn_xapi_statements (id, stored_ms, verb, registration, voiding, voided, timestamp_given, body)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) RETURNING seq",
            &[&id, &now_ms, &verb, &registration, &(voids.is_some() as i64), &(voided_already as i64), &(timestamp_given as i64), &body],
        )?
        .ok_or_else(|| Error::internal("the statement just stored has no seq"))?
        .get("seq")?;
    if let Some(target) = &reference {
        cx.db().execute(
            "INSERT INTO learn_xapi_statement_refs (seq, target, voiding) VALUES (?1, ?2, ?3)",
            &[&seq, target, &(voids.is_some() as i64)],
        )?;
    }
    let index = Index::of(s);
    for (agent, relation) in &index.agents {
        cx.db().execute(
            "INSERT INTO learn_xapi_statement_agents (agent, seq, related) VALUES (?1, ?2, ?3)",
            &[agent, &seq, &(*relation as i64)],
        )?;
    }
    for (activity, relation) in &index.activities {
        cx.db().execute(
            "INSERT INTO learn_xapi_statement_activities (activity, seq, related) VALUES (?1, ?2, ?3)",
            &[activity, &seq, &(*relation as i64)],
        )?;
    }
    if let Some(target) = voids {
        cx.db().execute("UPDATE learn_xapi_statements SET voided = 1 WHERE id = ?1 AND voiding = 0", &[&target])?;
    }
    agents::remember_activities(cx, s)?;
    agents::remember_agent(cx, &s["actor"])?;
    Ok(())
}

/// A statement as immutability compares it: without what the LRS sets (`stored`, `authority`,
/// `version`, and `timestamp` when the LRS set it), with default objectTypes and ids in one case.
fn comparable(s: &Value, keep_timestamp: bool, incoming_has_timestamp: bool) -> Value {
    let mut s = s.clone();
    if let Some(o) = s.as_object_mut() {
        for key in ["stored", "authority", "version"] {
            o.remove(key);
        }
        if !keep_timestamp || !incoming_has_timestamp {
            o.remove("timestamp");
        }
        if let Some(Value::String(id)) = o.get_mut("id") {
            *id = id.to_ascii_lowercase();
        }
    }
    s
}

/// Who stored a statement: the API key, as an account agent of the tenant.
fn authority(cx: &Ctx) -> Value {
    let key = cx.caller().map(|c| c.key_id).unwrap_or_default();
    json!({
        "objectType": "Agent",
        "account": {"homePage": format!("{}/api/v1/keys", crate::certificates::base_url(cx)), "name": key},
    })
}

/// `GET /statements`
pub fn get(cx: &Ctx, req: &XRequest) -> Result<Reply> {
    let consistent = cx.now();
    let answer = read(cx, req);
    let reply = answer.unwrap_or_else(Reply::error);
    Ok(reply.header("X-Experience-API-Consistent-Through", &consistent))
}

fn read(cx: &Ctx, req: &XRequest) -> Result<Reply> {
    const PARAMS: [&str; 15] = [
        "statementId", "voidedStatementId", "agent", "verb", "activity", "registration", "related_activities", "related_agents", "since", "until", "limit", "format",
        "attachments", "ascending", "more",
    ];
    req.allow_only(&PARAMS)?;
    let format = Format::parse(req.param("format"))?;
    let with_attachments = flag(req, "attachments")?;
    let single = match (req.param("statementId"), req.param("voidedStatementId")) {
        (Some(_), Some(_)) => return Err(invalid("Give statementId or voidedStatementId, not both.")),
        (Some(id), None) => Some((id, false)),
        (None, Some(id)) => Some((id, true)),
        (None, None) => None,
    };
    if let Some((id, voided)) = single {
        if let Some((name, _)) = req.params.iter().find(|(k, _)| !matches!(k.as_str(), "statementId" | "voidedStatementId" | "format" | "attachments")) {
            return Err(invalid(&format!("`{name}` is not taken beside a statement id.")));
        }
        if !validate::is_uuid(id) {
            return Err(invalid("The statement id must be a UUID."));
        }
        let row = cx
            .db()
            .query_one("SELECT body, stored_ms FROM learn_xapi_statements WHERE id = ?1 AND voided = ?2", &[&id.to_ascii_lowercase(), &(voided as i64)])?
            .ok_or_else(|| not_found("No statement has this id."))?;
        let statement: Value = json::from_str(&row.get::<String>("body")?)?;
        let stored_ms: i64 = row.get("stored_ms")?;
        let out = format.apply(cx, req, statement)?;
        let reply = answer(cx, json::to_vec(&out)?, &[&out], with_attachments)?;
        return Ok(reply.header("Last-Modified", &http_date(stored_ms)));
    }
    let query = Query::parse(req)?;
    // A `more` link keeps the format and attachments of the query it continues.
    let format = Format::parse(query.format.as_deref())?;
    let with_attachments = query.attachments.as_deref().is_some_and(|a| a.eq_ignore_ascii_case("true"));
    let (stored, more) = query.run(cx)?;
    let more = json::to_string(&more.map(|after| query.more_link(after)).unwrap_or_default())?;
    // Exact and without attachments, the statements go out as stored, never parsed.
    if format == Format::Exact && !with_attachments {
        let body = format!("{{\"statements\":[{}],\"more\":{more}}}", stored.join(","));
        return answer(cx, body.into_bytes(), &[], false);
    }
    let mut out = Vec::with_capacity(stored.len());
    for body in stored {
        out.push(format.apply(cx, req, json::from_str(&body)?)?);
    }
    let result = json!({"statements": out, "more": json::from_str::<Value>(&more)?});
    let refs: Vec<&Value> = out.iter().collect();
    answer(cx, json::to_vec(&result)?, &refs, with_attachments)
}

/// JSON, or with `attachments=true` a `multipart/mixed` of the JSON and each attachment's bytes.
fn answer(cx: &Ctx, json_body: Vec<u8>, statements: &[&Value], with_attachments: bool) -> Result<Reply> {
    if !with_attachments {
        return Reply::bytes(200, json_body).map(|r| r.header("Content-Type", "application/json"));
    }
    let mut parts = vec![Part::json(json_body)];
    let mut seen = HashSet::new();
    for s in statements {
        for a in attachments_of(s) {
            let Some(sha2) = a.get("sha2").and_then(Value::as_str).map(str::to_ascii_lowercase) else {
                continue;
            };
            if !seen.insert(sha2.clone()) {
                continue;
            }
            if let Some(row) = cx.db().query_one("SELECT content_type, content FROM learn_xapi_attachments WHERE sha2 = ?1", &[&sha2])? {
                parts.push(Part::attachment(row.get("content_type")?, sha2, row.get("content")?));
            }
        }
    }
    let boundary = format!("xapi-{}", hex(&cx.random_bytes(12)));
    let body = multipart::write(&boundary, &parts);
    Reply::bytes(200, body).map(|r| r.header("Content-Type", &format!("multipart/mixed; boundary={boundary}")))
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// An HTTP date (RFC 9110 §5.6.7).
pub fn http_date(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).map(|t| t.format("%a, %d %b %Y %H:%M:%S GMT").to_string()).unwrap_or_default()
}

fn flag(req: &XRequest, name: &str) -> Result<bool> {
    match req.param(name) {
        None => Ok(false),
        Some(v) if v.eq_ignore_ascii_case("true") => Ok(true),
        Some(v) if v.eq_ignore_ascii_case("false") => Ok(false),
        Some(_) => Err(invalid(&format!("`{name}` is true or false."))),
    }
}

/// How statements are answered.
#[derive(Clone, Copy, PartialEq)]
enum Format {
    Exact,
    Ids,
    Canonical,
}

impl Format {
    fn parse(v: Option<&str>) -> Result<Format> {
        match v {
            None | Some("exact") => Ok(Format::Exact),
            Some("ids") => Ok(Format::Ids),
            Some("canonical") => Ok(Format::Canonical),
            Some(_) => Err(invalid("`format` is ids, exact or canonical.")),
        }
    }

    fn apply(self, cx: &Ctx, req: &XRequest, mut s: Value) -> Result<Value> {
        match self {
            Format::Exact => {}
            Format::Ids => ids_only(&mut s),
            Format::Canonical => {
                let languages = accepted_languages(req.header("accept-language").as_deref());
                canonical(cx, &mut s, &languages)?;
            }
        }
        Ok(s)
    }
}

/// `ids`: agents, groups, verbs and activities reduced to their identifiers (an anonymous
/// group keeps its members, reduced too).
fn ids_only(s: &mut Value) {
    fn agent(a: &mut Value) {
        let Some(o) = a.as_object_mut() else {
            return;
        };
        o.retain(|k, _| matches!(k.as_str(), "objectType" | "mbox" | "mbox_sha1sum" | "openid" | "account" | "member"));
        if let Some(Value::Array(members)) = o.get_mut("member") {
            members.iter_mut().for_each(agent);
        }
    }
    fn activity(a: &mut Value) {
        if let Some(o) = a.as_object_mut() {
            o.retain(|k, _| k == "id");
        }
    }
    fn statement(s: &mut Value) {
        if let Some(a) = s.get_mut("actor") {
            agent(a);
        }
        if let Some(v) = s.get_mut("verb").and_then(Value::as_object_mut) {
            v.retain(|k, _| k == "id");
        }
        if let Some(o) = s.get_mut("object") {
            match o.get("objectType").and_then(Value::as_str) {
                Some("Agent") | Some("Group") => agent(o),
                Some("SubStatement") => statement(o),
                Some("StatementRef") => {}
                _ => activity(o),
            }
        }
        if let Some(a) = s.get_mut("authority") {
            agent(a);
        }
        if let Some(c) = s.get_mut("context") {
            for who in ["instructor", "team"] {
                if let Some(a) = c.get_mut(who) {
                    agent(a);
                }
            }
            if let Some(Value::Object(kinds)) = c.get_mut("contextActivities") {
                for list in kinds.values_mut() {
                    match list {
                        Value::Array(all) => all.iter_mut().for_each(activity),
                        one => activity(one),
                    }
                }
            }
        }
    }
    statement(s);
}

/// `canonical`: each activity's definition as the LRS knows it, and every language map cut to
/// the one language the caller prefers.
fn canonical(cx: &Ctx, s: &mut Value, languages: &[String]) -> Result<()> {
    fn activities<'a>(s: &'a mut Value, out: &mut Vec<&'a mut Value>) {
        let Some(o) = s.as_object_mut() else {
            return;
        };
        let mut context = None;
        let mut object = None;
        for (k, v) in o.iter_mut() {
            match k.as_str() {
                "object" => object = Some(v),
                "context" => context = Some(v),
                _ => {}
            }
        }
        if let Some(object) = object {
            match object.get("objectType").and_then(Value::as_str) {
                None | Some("Activity") => out.push(object),
                Some("SubStatement") => activities(object, out),
                _ => {}
            }
        }
        if let Some(Value::Object(kinds)) = context.and_then(|c| c.get_mut("contextActivities")) {
            for list in kinds.values_mut() {
                match list {
                    Value::Array(all) => out.extend(all.iter_mut()),
                    one => out.push(one),
                }
            }
        }
    }
    let mut found = Vec::new();
    activities(s, &mut found);
    for a in found {
        let Some(id) = a.get("id").and_then(Value::as_str) else {
            continue;
        };
        if let Some(definition) = agents::canonical_definition(cx, id)? {
            a["definition"] = definition;
        }
    }
    cut_languages(s, languages);
    Ok(())
}

/// Every language map (verb display, names, descriptions, attachment texts) cut to one language.
fn cut_languages(v: &mut Value, languages: &[String]) {
    match v {
        Value::Object(o) => {
            for (k, child) in o.iter_mut() {
                if matches!(k.as_str(), "display" | "name" | "description") && child.is_object() {
                    pick_language(child, languages);
                } else if k != "extensions" {
                    cut_languages(child, languages);
                }
            }
        }
        Value::Array(list) => list.iter_mut().for_each(|c| cut_languages(c, languages)),
        _ => {}
    }
}

fn pick_language(map: &mut Value, languages: &[String]) {
    let Some(o) = map.as_object() else {
        return;
    };
    if o.len() <= 1 {
        return;
    }
    let chosen = languages
        .iter()
        .find_map(|want| {
            o.keys()
                .find(|k| k.eq_ignore_ascii_case(want))
                .or_else(|| o.keys().find(|k| k.split('-').next().is_some_and(|p| p.eq_ignore_ascii_case(want.split('-').next().unwrap_or("")))))
        })
        .or_else(|| o.keys().next())
        .cloned();
    if let Some(tag) = chosen {
        let text = o[&tag].clone();
        let mut one = Map::new();
        one.insert(tag, text);
        *map = Value::Object(one);
    }
}

/// `Accept-Language` in order of preference (`*` and weights of 0 left out).
fn accepted_languages(header: Option<&str>) -> Vec<String> {
    let mut weighted: Vec<(f32, usize, String)> = header
        .unwrap_or("")
        .split(',')
        .enumerate()
        .filter_map(|(i, item)| {
            let mut parts = item.split(';');
            let tag = parts.next()?.trim();
            let q = parts.find_map(|p| p.trim().strip_prefix("q=").and_then(|q| q.parse::<f32>().ok())).unwrap_or(1.0);
            (!tag.is_empty() && tag != "*" && q > 0.0).then(|| (q, i, tag.to_owned()))
        })
        .collect();
    weighted.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    weighted.into_iter().map(|(_, _, tag)| tag).collect()
}

/// A statement query's filters and window.
#[derive(Serialize, Deserialize, Default, Clone)]
struct Query {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    agent: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    verb: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    activity: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    registration: Option<String>,
    #[serde(default)]
    related_agents: bool,
    #[serde(default)]
    related_activities: bool,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    since: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    until: Option<i64>,
    limit: i64,
    #[serde(default)]
    ascending: bool,
    /// The last `seq` the page before answered.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    after: Option<i64>,
    /// The parameters the page after keeps as given.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    format: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    attachments: Option<String>,
}

impl Query {
    fn parse(req: &XRequest) -> Result<Query> {
        if let Some(token) = req.param("more") {
            if req.params.len() > 1 {
                return Err(invalid("A `more` link is followed as it is, with no other parameter."));
            }
            let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(token).map_err(|_| invalid("`more` is not a link this LRS gave."))?;
            let mut query: Query = json::from_slice(&bytes).map_err(|_| invalid("`more` is not a link this LRS gave."))?;
            // A link is the client's to alter: its page size stays within bounds.
            query.limit = query.limit.clamp(1, MAX_PAGE);
            return Ok(query);
        }
        let agent = match req.param("agent") {
            Some(text) => {
                let a: Value = json::from_str(text).map_err(|_| invalid("`agent` must be an Agent or Group as JSON."))?;
                validate::actor(&a).map_err(|why| invalid(&why))?;
                Some(agents::ifi(&a).ok_or_else(|| invalid("`agent` must have an identifier (an anonymous group cannot be queried)."))?)
            }
            None => None,
        };
        let iri = |name: &str| -> Result<Option<String>> {
            match req.param(name) {
                Some(v) if validate::is_iri(v) => Ok(Some(v.to_owned())),
                Some(_) => Err(invalid(&format!("`{name}` must be an absolute IRI."))),
                None => Ok(None),
            }
        };
        let registration = match req.param("registration") {
            Some(r) if validate::is_uuid(r) => Some(r.to_ascii_lowercase()),
            Some(_) => return Err(invalid("`registration` must be a UUID.")),
            None => None,
        };
        let time = |name: &str| -> Result<Option<i64>> {
            req.param(name).map(|t| validate::timestamp_ms(t).ok_or_else(|| invalid(&format!("`{name}` must be an ISO 8601 timestamp.")))).transpose()
        };
        let limit = match req.param("limit") {
            None => MAX_PAGE,
            Some(l) => match l.parse::<i64>() {
                Ok(0) => MAX_PAGE,
                Ok(n) if n > 0 => n.min(MAX_PAGE),
                _ => return Err(invalid("`limit` is a non-negative integer.")),
            },
        };
        Ok(Query {
            agent,
            verb: iri("verb")?,
            activity: iri("activity")?,
            registration,
            related_agents: flag(req, "related_agents")?,
            related_activities: flag(req, "related_activities")?,
            since: time("since")?,
            until: time("until")?,
            limit,
            ascending: flag(req, "ascending")?,
            after: None,
            format: req.param("format").map(str::to_owned),
            attachments: req.param("attachments").map(str::to_owned),
        })
    }

    fn has_match_filters(&self) -> bool {
        self.agent.is_some() || self.verb.is_some() || self.activity.is_some() || self.registration.is_some()
    }

    /// The page's statements, and the last seq when there are more.
    /// The page's statements as stored (JSON text), and the last seq when there are more.
    fn run(&self, cx: &Ctx) -> Result<(Vec<String>, Option<i64>)> {
        let mut rows = self.select(cx, false)?;
        if self.has_match_filters() {
            rows.extend(self.select(cx, true)?);
            rows.sort_by_key(|(seq, _)| if self.ascending { *seq } else { -*seq });
            rows.dedup_by_key(|(seq, _)| *seq);
        }
        let more = (rows.len() as i64 > self.limit).then(|| rows[self.limit as usize - 1].0);
        rows.truncate(self.limit as usize);
        Ok((rows.into_iter().map(|(_, body)| body).collect(), more))
    }

    /// Statements matching the filters (`referring`: statements whose StatementRef targets one
    /// that does), in the window, one more than the page.
    fn select(&self, cx: &Ctx, referring: bool) -> Result<Vec<(i64, String)>> {
        let mut params: Vec<Sql> = Vec::new();
        let bind = |v: Sql, params: &mut Vec<Sql>| {
            params.push(v);
            format!("?{}", params.len())
        };
        // `m` is the statement the filters test; `s` the one answered.
        let mut from = String::new();
        let mut conditions = Vec::new();
        let order_key;
        // CROSS JOIN keeps the first table the outer loop (SQLite's rule): the planner cannot
        // know that the refs are few, or that an agent's rows are fewer than a verb's.
        if referring {
            from.push_str(
                "learn_xapi_statement_refs r CROSS JOIN learn_xapi_statements s ON s.seq = r.seq CROSS JOIN learn_xapi_statements m ON m.id = r.target",
            );
            order_key = "r.seq";
        } else if let Some(agent) = &self.agent {
            let p = bind(Sql::Text(agent.clone()), &mut params);
            from.push_str("learn_xapi_statement_agents a CROSS JOIN learn_xapi_statements s ON s.seq = a.seq");
            conditions.push(format!("a.agent = {p}"));
            if !self.related_agents {
                conditions.push("a.related = 0".into());
            }
            order_key = "a.seq";
        } else if let Some(activity) = &self.activity {
            let p = bind(Sql::Text(activity.clone()), &mut params);
            from.push_str("learn_xapi_statement_activities x CROSS JOIN learn_xapi_statements s ON s.seq = x.seq");
            conditions.push(format!("x.activity = {p}"));
            if !self.related_activities {
                conditions.push("x.related = 0".into());
            }
            order_key = "x.seq";
        } else {
            from.push_str("learn_xapi_statements s");
            order_key = "s.seq";
        }
        let m = if referring { "m" } else { "s" };
        if let Some(agent) = self.agent.as_ref().filter(|_| referring) {
            let p = bind(Sql::Text(agent.clone()), &mut params);
            let related = if self.related_agents { "" } else { " AND related = 0" };
            conditions.push(format!("EXISTS (SELECT 1 FROM learn_xapi_statement_agents WHERE agent = {p} AND seq = m.seq{related})"));
        }
        if let Some(activity) = self.activity.as_ref().filter(|_| referring || self.agent.is_some()) {
            let p = bind(Sql::Text(activity.clone()), &mut params);
            let related = if self.related_activities { "" } else { " AND related = 0" };
            conditions.push(format!("EXISTS (SELECT 1 FROM learn_xapi_statement_activities WHERE activity = {p} AND seq = {m}.seq{related})"));
        }
        if let Some(verb) = &self.verb {
            let p = bind(Sql::Text(verb.clone()), &mut params);
            conditions.push(format!("{m}.verb = {p}"));
        }
        if let Some(registration) = &self.registration {
            let p = bind(Sql::Text(registration.clone()), &mut params);
            conditions.push(format!("{m}.registration = {p}"));
        }
        conditions.push("s.voided = 0".into());
        if let Some(since) = self.since {
            let p = bind(Sql::Integer(since), &mut params);
            conditions.push(format!("s.stored_ms > {p}"));
        }
        if let Some(until) = self.until {
            let p = bind(Sql::Integer(until), &mut params);
            conditions.push(format!("s.stored_ms <= {p}"));
        }
        if let Some(after) = self.after {
            let p = bind(Sql::Integer(after), &mut params);
            conditions.push(format!("{order_key} {} {p}", if self.ascending { ">" } else { "<" }));
        }
        let limit = bind(Sql::Integer(self.limit + 1), &mut params);
        let sql = format!(
            "SELECT s.seq AS seq, s.body AS body FROM {from} WHERE {} ORDER BY {order_key} {} LIMIT {limit}",
            conditions.join(" AND "),
            if self.ascending { "ASC" } else { "DESC" },
        );
        let bound: Vec<&dyn ToSql> = params.iter().map(|v| v as &dyn ToSql).collect();
        cx.db()
            .query(&sql, &bound)?
            .iter()
            .map(|r| Ok((r.get::<i64>("seq")?, r.get::<String>("body")?)))
            .collect()
    }

    /// The `more` link: this query, after `seq`.
    fn more_link(&self, after: i64) -> String {
        let next = Query { after: Some(after), ..self.clone() };
        let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json::to_vec(&next).unwrap_or_default());
        format!("{BASE}/statements?more={token}")
    }

}

