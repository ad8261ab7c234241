//! A local test harness: a plugin's routes, `on_event` and `on_timer` called natively in its own
//! `cargo test`, against an in-memory host — SQLite with the plugin's migrations applied, and
//! every capability faked in memory: users and groups, files, flags and settings, the clock,
//! events, mail and timers (kept only when the call commits, as the host keeps them), `surfaces`
//! and `ai` answered by closures the test gives.
//!
//! ```ignore
//! use mobieus_sdk::testing::Harness;
//!
//! #[test]
//! fn an_entry_is_written_and_listed() {
//!     let mut host = Harness::<Guestbook>::new();
//!     let made = host.post("/api/v1/guestbook/entries", json!({ "name": "Ada", "message": "Hi" }));
//!     assert_eq!(made.status, 201);
//!     assert_eq!(host.events()[0].event_type, "guestbook.entry_created");
//!     assert_eq!(host.get("/api/v1/guestbook/entries").json::<Value>()?["data"][0]["name"], "Ada");
//! }
//! ```
//!
//! What it is not: the sandbox. The host refuses SQL on tables a plugin does not own, enforces
//! scopes, plan gates, rate limits, limits on time and memory, seals list cursors and re-runs a
//! call that asked the AI provider; the harness does none of that (a call's `ai` question is
//! answered at once). Test those through the real binary.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::marker::PhantomData;

use serde::Serialize;
use serde_json::Value as Json;

use crate::bindings::mobieus::plugin::types as wit;
use crate::{Answer, Plugin};

/// One plugin over an in-memory host. Calls run on the test's thread; one harness per thread.
pub struct Harness<P: Plugin> {
    manifest: wit::Manifest,
    _plugin: PhantomData<P>,
}

/// An event the plugin emitted in a call that committed.
#[derive(Debug, Clone)]
pub struct Emitted {
    pub id: String,
    pub event_type: String,
    pub data: Json,
}

/// A timer the plugin set, pending.
#[derive(Debug, Clone)]
pub struct PendingTimer {
    pub key: String,
    pub at_ms: i64,
    pub payload: String,
}

type AiAnswer =
    Box<dyn FnMut(&fake::ai::CompletionRequest) -> Result<fake::ai::Completion, fake::ai::AiError>>;
type SurfaceAnswer = Box<dyn FnMut(&str) -> (u16, Vec<u8>)>;

/// What a call did besides SQL, kept if it commits.
#[derive(Default)]
struct Effects {
    events: Vec<Emitted>,
    mail: Vec<fake::mail::Message>,
    timers: Vec<(String, Option<(i64, String)>)>,
}

struct Fake {
    db: rusqlite::Connection,
    settings: HashMap<String, String>,
    users: BTreeMap<String, fake::users::User>,
    groups: HashMap<String, Vec<String>>,
    files: HashMap<String, (fake::files::FileInfo, Vec<u8>)>,
    now_ms: Option<i64>,
    /// Whether the call running may write (not a GET).
    writing: bool,
    call: Effects,
    kept: Effects,
    timers: BTreeMap<String, (i64, String)>,
    ai: Option<AiAnswer>,
    surfaces: Option<SurfaceAnswer>,
    counter: u64,
}

thread_local! {
    static HOST: RefCell<Option<Fake>> = const { RefCell::new(None) };
}

fn with<T>(f: impl FnOnce(&mut Fake) -> T) -> T {
    HOST.with(|h| {
        let mut h = h.borrow_mut();
        let fake = h
            .as_mut()
            .expect("no host: create a mobieus_sdk::testing::Harness first (outside a component, the SDK runs on it)");
        f(fake)
    })
}

impl<P: Plugin> Harness<P> {
    /// A fresh host: an empty in-memory database with the host's views (`host_users`,
    /// `host_posts`, `host_files`) and the plugin's migrations applied, in version order.
    pub fn new() -> Self {
        let declared = P::manifest().extension(&P::router()).settings;
        let manifest = P::manifest().into_wit(&P::router());
        let db = rusqlite::Connection::open_in_memory().expect("an in-memory database");
        db.execute_batch(
            "CREATE TABLE host_users (id TEXT PRIMARY KEY, username TEXT NOT NULL, display_name TEXT, created_at TEXT NOT NULL);
             CREATE TABLE host_posts (id TEXT PRIMARY KEY, author_id TEXT NOT NULL, created_at TEXT NOT NULL);
             CREATE TABLE host_files (id TEXT PRIMARY KEY, filename TEXT NOT NULL, content_type TEXT NOT NULL, size INTEGER NOT NULL, status TEXT NOT NULL, created_at TEXT NOT NULL);",
        )
        .expect("the host's views");
        let mut migrations = manifest.migrations.clone();
        migrations.sort_by_key(|m| m.version);
        for m in &migrations {
            db.execute_batch(&m.sql).unwrap_or_else(|e| {
                panic!(
                    "migration {} `{}` of {}: {e}",
                    m.version, m.name, manifest.name
                )
            });
        }
        HOST.with(|h| {
            *h.borrow_mut() = Some(Fake {
                db,
                // What `config.get` answers before the test sets anything: the declared defaults.
                settings: declared
                    .into_iter()
                    .map(|s| (s.name, s.default_value))
                    .collect(),
                users: BTreeMap::new(),
                groups: HashMap::new(),
                files: HashMap::new(),
                now_ms: None,
                writing: false,
                call: Effects::default(),
                kept: Effects::default(),
                timers: BTreeMap::new(),
                ai: None,
                surfaces: None,
                counter: 0,
            })
        });
        Harness {
            manifest,
            _plugin: PhantomData,
        }
    }

    /// A host user (in `users.get` and the `host_users` view).
    pub fn user(&mut self, id: &str, username: &str) -> &mut Self {
        let user = fake::users::User {
            id: id.to_owned(),
            username: username.to_owned(),
            display_name: None,
            email: Some(format!("{username}@example.org")),
            created_at: "2026-01-01T00:00:00Z".to_owned(),
        };
        with(|f| {
            f.db.execute(
                "INSERT INTO host_users (id, username, created_at) VALUES (?1, ?2, ?3)",
                [&user.id, &user.username, &user.created_at],
            )
            .expect("a host user");
            f.users.insert(id.to_owned(), user);
        });
        self
    }

    /// A host group and its members (for `users.group-members`).
    pub fn group(&mut self, id: &str, members: &[&str]) -> &mut Self {
        let mut members: Vec<String> = members.iter().map(|m| (*m).to_owned()).collect();
        members.sort();
        with(|f| f.groups.insert(id.to_owned(), members));
        self
    }

    /// A clean host file (for `files` and the `host_files` view).
    pub fn file(
        &mut self,
        id: &str,
        filename: &str,
        content_type: &str,
        bytes: &[u8],
    ) -> &mut Self {
        let info = fake::files::FileInfo {
            id: id.to_owned(),
            filename: filename.to_owned(),
            content_type: content_type.to_owned(),
            size: bytes.len() as u64,
            sha256: String::new(),
            status: "clean".to_owned(),
            created_at: "2026-01-01T00:00:00Z".to_owned(),
        };
        with(|f| {
            f.db.execute(
                "INSERT INTO host_files (id, filename, content_type, size, status, created_at) VALUES (?1, ?2, ?3, ?4, 'clean', ?5)",
                rusqlite::params![info.id, info.filename, info.content_type, info.size as i64, info.created_at],
            )
            .expect("a host file");
            f.files.insert(id.to_owned(), (info, bytes.to_vec()));
        });
        self
    }

    /// Switches one of the plugin's feature flags for the tenant.
    pub fn flag(&mut self, name: &str, on: bool) -> &mut Self {
        let key = format!("flag.{name}");
        with(|f| {
            if on {
                f.settings.insert(key, "on".into());
            } else {
                f.settings.remove(&key);
            }
        });
        self
    }

    /// A tenant setting for the plugin (`config.get`).
    pub fn setting(&mut self, key: &str, value: &str) -> &mut Self {
        with(|f| f.settings.insert(key.to_owned(), value.to_owned()));
        self
    }

    /// Stops the clock at `ms` since the Unix epoch (the real time otherwise).
    pub fn now(&mut self, ms: i64) -> &mut Self {
        with(|f| f.now_ms = Some(ms));
        self
    }

    /// How the AI provider answers (`ai.complete`); without it, every question is
    /// `not-configured`. The flag the prompt names must be on, as on the host.
    pub fn on_ai(
        &mut self,
        answer: impl FnMut(
            &fake::ai::CompletionRequest,
        ) -> Result<fake::ai::Completion, fake::ai::AiError>
        + 'static,
    ) -> &mut Self {
        with(|f| f.ai = Some(Box::new(answer)));
        self
    }

    /// How other surfaces answer `surfaces.get` (status and body); 404 without it.
    pub fn on_surface(
        &mut self,
        answer: impl FnMut(&str) -> (u16, Vec<u8>) + 'static,
    ) -> &mut Self {
        with(|f| f.surfaces = Some(Box::new(answer)));
        self
    }

    pub fn get(&mut self, path_and_query: &str) -> Answer {
        self.request("GET", path_and_query, None)
    }

    pub fn post(&mut self, path: &str, body: impl Serialize) -> Answer {
        self.request("POST", path, Some(serde_json::to_vec(&body).expect("JSON")))
    }

    pub fn patch(&mut self, path: &str, body: impl Serialize) -> Answer {
        self.request(
            "PATCH",
            path,
            Some(serde_json::to_vec(&body).expect("JSON")),
        )
    }

    pub fn put(&mut self, path: &str, body: impl Serialize) -> Answer {
        self.request("PUT", path, Some(serde_json::to_vec(&body).expect("JSON")))
    }

    pub fn delete(&mut self, path: &str) -> Answer {
        self.request("DELETE", path, None)
    }

    /// One request, as the host makes it: the route matched, then one call in a transaction that
    /// commits below 400 (with its events, mail and timers) and rolls back otherwise. A path
    /// no route has is 404, a method the path lacks 405.
    pub fn request(&mut self, method: &str, path_and_query: &str, body: Option<Vec<u8>>) -> Answer {
        let (path, query) = path_and_query
            .split_once('?')
            .unwrap_or((path_and_query, ""));
        // As the host's router does: a literal segment wins over a parameter.
        let mut matched: Option<(String, Vec<(String, String)>)> = None;
        let mut other_method = false;
        for route in &self.manifest.routes {
            if let Some(params) = match_path(&route.path, path) {
                if route.method != method {
                    other_method = true;
                } else if matched.as_ref().is_none_or(|(_, p)| params.len() < p.len()) {
                    matched = Some((route.path.clone(), params));
                }
            }
        }
        let Some((template, params)) = matched else {
            let (status, code) = if other_method {
                (405, "method_not_allowed")
            } else {
                (404, "not_found")
            };
            return Answer {
                status,
                headers: vec![],
                body: serde_json::to_vec(&serde_json::json!({ "error": { "code": code } }))
                    .unwrap_or_default(),
            };
        };
        let mut headers = vec![];
        if body.is_some() {
            headers.push(wit::Header {
                name: "content-type".into(),
                value: "application/json".into(),
            });
        }
        let scopes = self
            .manifest
            .scopes
            .iter()
            .map(|s| s.name.clone())
            .collect();
        let request = wit::Request {
            method: method.to_owned(),
            path: path.to_owned(),
            route: template,
            params,
            query: query.to_owned(),
            headers,
            body: body.unwrap_or_default(),
            caller: wit::Caller {
                key_id: "key_harness".into(),
                scopes,
                env: "test".into(),
                tenant: "harness".into(),
            },
            request_id: "req_harness".into(),
        };
        let writing = method != "GET";
        let response = in_call(writing, || {
            let response = crate::__private::handle::<P>(request);
            let ok = response.status < 400;
            (response, ok)
        });
        Answer {
            status: response.status,
            headers: response
                .headers
                .into_iter()
                .map(|h| (h.name, h.value))
                .collect(),
            body: response.body,
        }
    }

    /// Delivers an event to `on_event` (as the host does after the event committed), in a write
    /// transaction that commits if it succeeds.
    pub fn deliver(&mut self, event_type: &str, data: Json) -> Result<(), String> {
        let event = wit::Event {
            id: "evt_harness".into(),
            event_type: event_type.to_owned(),
            created_at: "2026-01-01T00:00:00Z".into(),
            data: data.to_string(),
        };
        in_call(true, || {
            let result = crate::__private::on_event::<P>(event);
            let ok = result.is_ok();
            (result, ok)
        })
    }

    /// Fires every pending timer due at the harness's clock, earliest first, through `on_timer`
    /// (each in its own transaction; one that fails stays pending). Their results, by key.
    pub fn fire_due_timers(&mut self) -> Vec<(String, Result<(), String>)> {
        let now = with(|f| f.now());
        let due: Vec<(String, i64, String)> = with(|f| {
            let mut due: Vec<_> = f
                .timers
                .iter()
                .filter(|(_, (at, _))| *at <= now)
                .map(|(k, (at, p))| (k.clone(), *at, p.clone()))
                .collect();
            due.sort_by_key(|(_, at, _)| *at);
            due
        });
        let mut results = vec![];
        for (key, at_ms, payload) in due {
            let timer = wit::Timer {
                key: key.clone(),
                at_ms,
                payload: payload.clone(),
            };
            // Taken off before the call: a call that sets the same key again re-arms it.
            with(|f| f.timers.remove(&key));
            let result = in_call(true, || {
                let result = crate::__private::on_timer::<P>(timer);
                let ok = result.is_ok();
                (result, ok)
            });
            if result.is_err() {
                with(|f| {
                    f.timers.entry(key.clone()).or_insert((at_ms, payload));
                });
            }
            results.push((key, result));
        }
        results
    }

    /// The events committed calls emitted, in order.
    pub fn events(&self) -> Vec<Emitted> {
        with(|f| f.kept.events.clone())
    }

    /// The mail committed calls queued, in order.
    pub fn mail(&self) -> Vec<fake::mail::Message> {
        with(|f| f.kept.mail.clone())
    }

    /// The pending timers, by key.
    pub fn timers(&self) -> Vec<PendingTimer> {
        with(|f| {
            f.timers
                .iter()
                .map(|(key, (at_ms, payload))| PendingTimer {
                    key: key.clone(),
                    at_ms: *at_ms,
                    payload: payload.clone(),
                })
                .collect()
        })
    }

    /// SQL on the database as it stands (to look at what the plugin wrote).
    pub fn db(&self) -> crate::Db {
        crate::Db
    }
}

impl<P: Plugin> Default for Harness<P> {
    fn default() -> Self {
        Self::new()
    }
}

impl<P: Plugin> Drop for Harness<P> {
    fn drop(&mut self) {
        HOST.with(|h| h.borrow_mut().take());
    }
}

/// Runs one call in a transaction: committed with its effects when `run` says so, rolled back
/// otherwise.
fn in_call<T>(writing: bool, run: impl FnOnce() -> (T, bool)) -> T {
    with(|f| {
        f.writing = writing;
        f.call = Effects::default();
        f.db.execute_batch("BEGIN").expect("BEGIN");
    });
    let (out, ok) = run();
    with(|f| {
        let call = std::mem::take(&mut f.call);
        if ok && f.writing {
            f.db.execute_batch("COMMIT").expect("COMMIT");
            f.kept.events.extend(call.events);
            f.kept.mail.extend(call.mail);
            for (key, timer) in call.timers {
                match timer {
                    Some(t) => f.timers.insert(key, t),
                    None => f.timers.remove(&key),
                };
            }
        } else {
            f.db.execute_batch("ROLLBACK").expect("ROLLBACK");
        }
        f.writing = false;
    });
    out
}

/// The params of `path` against a route template (`/api/v1/x/{id}`), if it matches.
fn match_path(template: &str, path: &str) -> Option<Vec<(String, String)>> {
    let (t, p): (Vec<&str>, Vec<&str>) = (template.split('/').collect(), path.split('/').collect());
    if t.len() != p.len() {
        return None;
    }
    let mut params = vec![];
    for (t, p) in t.iter().zip(&p) {
        match t.strip_prefix('{').and_then(|n| n.strip_suffix('}')) {
            Some(name) if !p.is_empty() => params.push((name.to_owned(), (*p).to_owned())),
            Some(_) => return None,
            None if t == p => {}
            None => return None,
        }
    }
    Some(params)
}

impl Fake {
    fn now(&self) -> i64 {
        self.now_ms.unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as i64)
        })
    }

    fn denied_in_read(&self, what: &str) -> Result<(), wit::Error> {
        if self.writing {
            Ok(())
        } else {
            Err(wit::Error::Denied(format!(
                "{what} in a read-only request (a GET)"
            )))
        }
    }
}

/// The imports, one module per interface with the contract's signatures and types.
pub mod fake {
    use super::{Emitted, with};
    use crate::bindings::mobieus::plugin::types::{Error, Response, SqlValue};

    pub mod db {
        pub use crate::bindings::mobieus::plugin::db::Rows;

        use super::*;
        use rusqlite::types::{Value, ValueRef};

        fn bind(params: &[SqlValue]) -> Vec<Value> {
            params
                .iter()
                .map(|p| match p {
                    SqlValue::Null => Value::Null,
                    SqlValue::Integer(i) => Value::Integer(*i),
                    SqlValue::Real(r) => Value::Real(*r),
                    SqlValue::Text(t) => Value::Text(t.clone()),
                    SqlValue::Blob(b) => Value::Blob(b.clone()),
                })
                .collect()
        }

        fn failed(e: rusqlite::Error) -> Error {
            Error::Failed(e.to_string())
        }

        pub fn execute(sql: &str, params: &[SqlValue]) -> Result<u64, Error> {
            with(|f| {
                f.denied_in_read("a write")?;
                f.db.execute(sql, rusqlite::params_from_iter(bind(params)))
                    .map(|n| n as u64)
                    .map_err(failed)
            })
        }

        pub fn query(sql: &str, params: &[SqlValue]) -> Result<Rows, Error> {
            with(|f| {
                let mut stmt = f.db.prepare(sql).map_err(failed)?;
                if !stmt.readonly() {
                    f.denied_in_read("a write")?;
                }
                let columns: Vec<String> = stmt
                    .column_names()
                    .iter()
                    .map(|c| (*c).to_owned())
                    .collect();
                let n = columns.len();
                let mut rows = stmt
                    .query(rusqlite::params_from_iter(bind(params)))
                    .map_err(failed)?;
                let mut out = vec![];
                while let Some(row) = rows.next().map_err(failed)? {
                    let mut values = Vec::with_capacity(n);
                    for i in 0..n {
                        values.push(match row.get_ref(i).map_err(failed)? {
                            ValueRef::Null => SqlValue::Null,
                            ValueRef::Integer(i) => SqlValue::Integer(i),
                            ValueRef::Real(r) => SqlValue::Real(r),
                            ValueRef::Text(t) => {
                                SqlValue::Text(String::from_utf8_lossy(t).into_owned())
                            }
                            ValueRef::Blob(b) => SqlValue::Blob(b.to_vec()),
                        });
                    }
                    out.push(values);
                }
                Ok(Rows { columns, rows: out })
            })
        }
    }

    pub mod events {
        use super::*;

        pub fn emit(event_type: &str, data: &str) -> Result<String, Error> {
            let data: serde_json::Value = serde_json::from_str(data)
                .map_err(|e| Error::Invalid(format!("the event data is not JSON: {e}")))?;
            with(|f| {
                f.denied_in_read("an event")?;
                f.counter += 1;
                let id = format!("evt_harness{:06}", f.counter);
                f.call.events.push(Emitted {
                    id: id.clone(),
                    event_type: event_type.to_owned(),
                    data,
                });
                Ok(id)
            })
        }
    }

    pub mod log {
        pub use crate::bindings::mobieus::plugin::log::Level;

        pub fn log(level: Level, message: &str) {
            eprintln!("[plugin {level:?}] {message}");
        }
    }

    pub mod clock {
        pub fn now_ms() -> i64 {
            super::with(|f| f.now())
        }
    }

    pub mod random {
        /// Not secure: a test's ids only need to differ.
        pub fn fill(len: u32) -> Vec<u8> {
            super::with(|f| {
                (0..len)
                    .map(|_| {
                        f.counter = f
                            .counter
                            .wrapping_mul(6364136223846793005)
                            .wrapping_add(1442695040888963407);
                        (f.counter >> 33) as u8
                    })
                    .collect()
            })
        }
    }

    pub mod config {
        pub fn get(key: &str) -> Option<String> {
            super::with(|f| f.settings.get(key).cloned())
        }

        pub fn flag(name: &str) -> bool {
            super::with(|f| {
                f.settings
                    .get(&format!("flag.{name}"))
                    .is_some_and(|v| v == "on")
            })
        }
    }

    pub mod users {
        pub use crate::bindings::mobieus::plugin::users::User;

        use super::*;

        pub fn get(id: &str) -> Result<Option<User>, Error> {
            Ok(with(|f| f.users.get(id).cloned()))
        }

        pub fn get_many(ids: &[String]) -> Result<Vec<User>, Error> {
            Ok(with(|f| {
                ids.iter()
                    .filter_map(|id| f.users.get(id).cloned())
                    .collect()
            }))
        }

        pub fn group_members(
            group_id: &str,
            after: Option<&str>,
            limit: u32,
        ) -> Result<Option<Vec<String>>, Error> {
            Ok(with(|f| {
                f.groups.get(group_id).map(|members| {
                    members
                        .iter()
                        .filter(|m| after.is_none_or(|a| m.as_str() > a))
                        .take(limit as usize)
                        .cloned()
                        .collect()
                })
            }))
        }
    }

    /// Not sealed: the harness only marks a value with its label, so a test sees a value open
    /// for its own label alone. Encryption is the host's (tested through the real binary).
    pub mod secrets {
        use super::*;

        const MARK: &str = "harness-sealed:";

        pub fn seal(label: &str, plaintext: &[u8]) -> Result<String, Error> {
            let hex: String = plaintext.iter().map(|b| format!("{b:02x}")).collect();
            Ok(format!("{MARK}{label}:{hex}"))
        }

        pub fn open(label: &str, sealed: &str) -> Result<Vec<u8>, Error> {
            let hex = sealed
                .strip_prefix(MARK)
                .and_then(|rest| rest.strip_prefix(label))
                .and_then(|rest| rest.strip_prefix(':'))
                .ok_or_else(|| Error::Invalid("not a value sealed for this label".into()))?;
            (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(hex.get(i..i + 2).unwrap_or("zz"), 16))
                .collect::<Result<_, _>>()
                .map_err(|_| Error::Invalid("not a sealed value".into()))
        }
    }

    pub mod timers {
        use super::*;

        pub fn set(key: &str, at_ms: i64, payload: &str) -> Result<(), Error> {
            with(|f| {
                f.denied_in_read("a timer")?;
                f.call
                    .timers
                    .push((key.to_owned(), Some((at_ms, payload.to_owned()))));
                Ok(())
            })
        }

        pub fn cancel(key: &str) -> Result<bool, Error> {
            with(|f| {
                f.denied_in_read("a timer")?;
                let pending = f
                    .call
                    .timers
                    .iter()
                    .rev()
                    .find(|(k, _)| k == key)
                    .map(|(_, t)| t.is_some())
                    .unwrap_or_else(|| f.timers.contains_key(key));
                f.call.timers.push((key.to_owned(), None));
                Ok(pending)
            })
        }
    }

    pub mod files {
        pub use crate::bindings::mobieus::plugin::files::FileInfo;

        use super::*;

        pub fn get(id: &str) -> Result<Option<FileInfo>, Error> {
            Ok(with(|f| f.files.get(id).map(|(info, _)| info.clone())))
        }

        pub fn read(id: &str, offset: u64, len: u32) -> Result<Vec<u8>, Error> {
            with(|f| {
                let (_, bytes) = f
                    .files
                    .get(id)
                    .ok_or_else(|| Error::Invalid(format!("no file {id}")))?;
                let start = (offset as usize).min(bytes.len());
                let end = start
                    .saturating_add(len.min(1 << 20) as usize)
                    .min(bytes.len());
                Ok(bytes[start..end].to_vec())
            })
        }
    }

    pub mod mail {
        pub use crate::bindings::mobieus::plugin::mail::{Attachment, Message, Recipient};

        use super::*;

        pub fn send(message: &Message) -> Result<String, Error> {
            if message.to.is_empty() || message.to.len() > 50 {
                return Err(Error::Invalid("1 to 50 recipients".into()));
            }
            with(|f| {
                f.denied_in_read("mail")?;
                f.counter += 1;
                f.call.mail.push(message.clone());
                Ok(format!("mail_harness{:06}", f.counter))
            })
        }
    }

    pub mod surfaces {
        use super::*;

        pub fn get(path_and_query: &str) -> Result<Response, Error> {
            let answer = with(|f| f.surfaces.take());
            let Some(mut answer) = answer else {
                return Ok(Response {
                    status: 404,
                    headers: vec![],
                    body: br#"{"error":{"code":"not_found"}}"#.to_vec(),
                });
            };
            let (status, body) = answer(path_and_query);
            with(|f| f.surfaces = Some(answer));
            Ok(Response {
                status,
                headers: vec![],
                body,
            })
        }
    }

    pub mod ai {
        pub use crate::bindings::mobieus::plugin::ai::{
            AiError, Completion, CompletionRequest, Message, Role, Usage,
        };

        pub fn complete(request: &CompletionRequest) -> Result<Completion, AiError> {
            let on = super::config::flag(&request.feature);
            if !on {
                return Err(AiError::FeatureDisabled(request.feature.clone()));
            }
            let answer = super::with(|f| f.ai.take());
            let Some(mut answer) = answer else {
                return Err(AiError::NotConfigured);
            };
            let result = answer(request);
            super::with(|f| f.ai = Some(answer));
            result
        }
    }
}
