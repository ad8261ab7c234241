use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::bindings::mobieus::plugin::types as wit;
use crate::host::{
    clock, config, events, files, log, mail, random, secrets, surfaces, timers, users,
};
use crate::{Db, Error, Result};

/// Who called.
#[derive(Debug, Clone)]
pub struct Caller {
    pub key_id: String,
    pub scopes: Vec<String>,
    /// `live` or `test`.
    pub env: String,
    pub tenant: String,
}

/// An event delivered to [`crate::Plugin::on_event`].
#[derive(Debug, Clone)]
pub struct Event {
    pub id: String,
    pub event_type: String,
    pub created_at: String,
    pub data: serde_json::Value,
}

impl From<wit::Event> for Event {
    fn from(e: wit::Event) -> Self {
        Event {
            id: e.id,
            event_type: e.event_type,
            created_at: e.created_at,
            data: serde_json::from_str(&e.data).unwrap_or(serde_json::Value::Null),
        }
    }
}

/// A user of the host.
pub type User = users::User;
/// A host file's metadata.
pub type FileInfo = files::FileInfo;

/// A timer that came due, delivered to [`crate::Plugin::on_timer`].
#[derive(Debug, Clone)]
pub struct Timer {
    pub key: String,
    /// When it was set to fire, ms since the Unix epoch.
    pub at_ms: i64,
    pub payload: String,
}

impl From<wit::Timer> for Timer {
    fn from(t: wit::Timer) -> Self {
        Timer {
            key: t.key,
            at_ms: t.at_ms,
            payload: t.payload,
        }
    }
}

/// A message for [`Ctx::send_mail`]: `Mail::new(subject, text).to_user(id).html(..).attach(..)`.
pub struct Mail(mail::Message);

impl Mail {
    pub fn new(subject: &str, text: &str) -> Mail {
        Mail(mail::Message {
            to: vec![],
            subject: subject.to_owned(),
            text: text.to_owned(),
            html: None,
            attachments: vec![],
        })
    }

    /// To a host user, at the address on file.
    pub fn to_user(mut self, id: &str) -> Mail {
        self.0.to.push(mail::Recipient::User(id.to_owned()));
        self
    }

    /// To an address: `ada@example.com` or `Ada <ada@example.com>`.
    pub fn to_address(mut self, address: &str) -> Mail {
        self.0.to.push(mail::Recipient::Address(address.to_owned()));
        self
    }

    /// An HTML alternative to the text.
    pub fn html(mut self, html: &str) -> Mail {
        self.0.html = Some(html.to_owned());
        self
    }

    /// An attachment, e.g. `("invite.ics", "text/calendar; method=REQUEST", bytes)`.
    pub fn attach(mut self, filename: &str, content_type: &str, content: Vec<u8>) -> Mail {
        self.0.attachments.push(mail::Attachment {
            filename: filename.to_owned(),
            content_type: content_type.to_owned(),
            content,
        });
        self
    }
}

/// What another surface (or the host) answered to [`Ctx::surface_get`].
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Answer {
    /// The body as `T`.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T> {
        serde_json::from_slice(&self.body)
            .map_err(|e| Error::internal(format!("a surface answered something unexpected: {e}")))
    }
}

/// A request, and the host's capabilities, for one handler call.
pub struct Ctx {
    request: Option<wit::Request>,
    /// The query parameters the matched route declares ([`crate::Route::query`]).
    declared: Vec<&'static str>,
}

impl Ctx {
    pub(crate) fn for_request(request: wit::Request, declared: Vec<&'static str>) -> Ctx {
        Ctx {
            request: Some(request),
            declared,
        }
    }

    pub(crate) fn for_event() -> Ctx {
        Ctx {
            request: None,
            declared: vec![],
        }
    }

    /// The query parameters the route declares: a list's filters.
    pub fn declared_query(&self) -> &[&'static str] {
        &self.declared
    }

    fn request(&self) -> Result<&wit::Request> {
        self.request
            .as_ref()
            .ok_or_else(|| Error::internal("no request in an event handler"))
    }

    pub fn method(&self) -> &str {
        self.request.as_ref().map_or("", |r| r.method.as_str())
    }

    pub fn path(&self) -> &str {
        self.request.as_ref().map_or("", |r| r.path.as_str())
    }

    /// Every path parameter of the route template, in order.
    pub fn params(&self) -> &[(String, String)] {
        self.request.as_ref().map_or(&[], |r| r.params.as_slice())
    }

    /// A path parameter of the route template (`{id}`).
    pub fn param(&self, name: &str) -> Result<String> {
        self.request()?
            .params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .ok_or_else(|| Error::internal(format!("no path parameter `{name}`")))
    }

    /// Query parameters, decoded, in order.
    pub fn query_pairs(&self) -> Vec<(String, String)> {
        let Some(r) = &self.request else {
            return vec![];
        };
        r.query
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                (decode(k), decode(v))
            })
            .collect()
    }

    /// One query parameter, if given.
    pub fn query(&self, name: &str) -> Option<String> {
        self.query_pairs()
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.request
            .as_ref()?
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value.as_str())
    }

    pub fn body(&self) -> &[u8] {
        self.request.as_ref().map_or(&[], |r| r.body.as_slice())
    }

    /// The JSON body as `T`; a wrong shape is `400 validation_failed` naming the field.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T> {
        let body = self.body();
        if body.iter().all(u8::is_ascii_whitespace) {
            return Err(Error::bad_request(
                "invalid_json",
                "The request body is empty.",
            ));
        }
        parse_json(body)
    }

    /// Like [`Ctx::json`], for a body that may be left out: no body is `T::default()`.
    pub fn json_or_default<T: DeserializeOwned + Default>(&self) -> Result<T> {
        if self.body().iter().all(u8::is_ascii_whitespace) {
            Ok(T::default())
        } else {
            self.json()
        }
    }

    pub fn caller(&self) -> Option<Caller> {
        let c = &self.request.as_ref()?.caller;
        Some(Caller {
            key_id: c.key_id.clone(),
            scopes: c.scopes.clone(),
            env: c.env.clone(),
            tenant: c.tenant.clone(),
        })
    }

    /// SQL on this tenant's database, in the request's transaction.
    pub fn db(&self) -> Db {
        Db
    }

    /// Appends an event of a declared type, in the request's transaction. Returns its id.
    pub fn emit<T: Serialize>(&self, event_type: &str, data: &T) -> Result<String> {
        Ok(events::emit(event_type, &serde_json::to_string(data)?)?)
    }

    pub fn now_ms(&self) -> i64 {
        clock::now_ms()
    }

    /// Now, as RFC 3339 UTC with milliseconds.
    pub fn now(&self) -> String {
        rfc3339(clock::now_ms())
    }

    /// A time in milliseconds since the epoch, as [`Ctx::now`] writes times.
    pub fn time_at(&self, ms: i64) -> String {
        rfc3339(ms)
    }

    /// An RFC 3339 time in milliseconds since the epoch, if it is one.
    pub fn ms_of(&self, time: &str) -> Option<i64> {
        crate::paging::parse_rfc3339(time)
    }

    /// `len` bytes from the host's cryptographically secure random source (keys, UUIDs).
    pub fn random_bytes(&self, len: u32) -> Vec<u8> {
        random::fill(len)
    }

    /// `plaintext` sealed with the server's key for `label` (1 to 64 of a-z, 0-9, `_-.:`), as
    /// text to keep in a column: a copied tenant file alone does not reveal it, and it opens only
    /// for this plugin, tenant, environment and label. For keys and tokens (at most 64 KiB).
    pub fn seal(&self, label: &str, plaintext: &[u8]) -> Result<String> {
        Ok(secrets::seal(label, plaintext)?)
    }

    /// A value [`Ctx::seal`] made for `label`, opened.
    pub fn open_sealed(&self, label: &str, sealed: &str) -> Result<Vec<u8>> {
        Ok(secrets::open(label, sealed)?)
    }

    /// A new id, `<prefix><ULID>`: sorts by creation time.
    pub fn new_id(&self, prefix: &str) -> String {
        let ms = clock::now_ms().max(0) as u128;
        let random = random::fill(10);
        let mut value = ms << 80;
        for (i, b) in random.iter().enumerate() {
            value |= (*b as u128) << (72 - 8 * i);
        }
        const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
        let ulid: String = (0..26)
            .rev()
            .map(|i| ALPHABET[((value >> (5 * i)) & 31) as usize] as char)
            .collect();
        format!("{prefix}{ulid}")
    }

    pub fn log(&self, message: &str) {
        log::log(log::Level::Info, message);
    }

    pub fn warn(&self, message: &str) {
        log::log(log::Level::Warn, message);
    }

    /// This tenant's setting for this plugin: what the tenant set, else the default the plugin
    /// declared ([`crate::Manifest::setting`]).
    pub fn config(&self, key: &str) -> Option<String> {
        config::get(key)
    }

    /// Whether this tenant turned a feature flag on.
    pub fn flag(&self, name: &str) -> bool {
        config::flag(name)
    }

    /// A user of the host who may act: one who exists, has not left and is not deactivated by
    /// their identity provider.
    pub fn user(&self, id: &str) -> Result<Option<User>> {
        Ok(users::get(id)?)
    }

    /// The user `id` names in the request's `field` (`seller_id`, `author_id`…), or
    /// `400 validation_failed` naming the field: not a `usr_…` id, or no user who may act.
    pub fn require_user(&self, field: &str, id: &str) -> Result<User> {
        if !id.starts_with("usr_") {
            return Err(Error::validation(field, "not a user id (usr_…)"));
        }
        self.user(id)?.ok_or_else(|| {
            Error::validation(
                field,
                "no such user, or one who may not act (left or deactivated)",
            )
        })
    }

    /// Several users at once (at most 100), in the order asked; unknown ids are left out.
    pub fn users(&self, ids: &[String]) -> Result<Vec<User>> {
        Ok(users::get_many(ids)?)
    }

    /// Every member (user id) of a host group, in id order; `None` if there is no such group.
    /// Read a page at a time (1000 ids) from the host.
    pub fn group_members(&self, group_id: &str) -> Result<Option<Vec<String>>> {
        let mut all: Vec<String> = vec![];
        loop {
            let Some(page) = users::group_members(group_id, all.last().map(String::as_str), 1000)?
            else {
                return Ok(None);
            };
            let done = page.len() < 1000;
            all.extend(page);
            if done {
                return Ok(Some(all));
            }
        }
    }

    /// Sets the timer `key` to fire at `at_ms` (replacing one of the same key), in the request's
    /// transaction; [`crate::Plugin::on_timer`] gets `payload` back. Needs [`crate::Capability::Timers`].
    pub fn set_timer<T: Serialize>(&self, key: &str, at_ms: i64, payload: &T) -> Result<()> {
        Ok(timers::set(key, at_ms, &serde_json::to_string(payload)?)?)
    }

    /// Cancels the timer `key`; whether there was one.
    pub fn cancel_timer(&self, key: &str) -> Result<bool> {
        Ok(timers::cancel(key)?)
    }

    /// Queues a message in the host's outbox, in the request's transaction (if the request fails,
    /// nothing is sent); returns its id. Needs [`crate::Capability::Mail`].
    pub fn send_mail(&self, message: Mail) -> Result<String> {
        Ok(mail::send(&message.0)?)
    }

    /// GETs another surface's or the host's route in this tenant as this request's caller (its
    /// key and scopes, never more): `cx.surface_get("/api/v1/know/search?q=refund")`. From a route
    /// call only, one call deep (the surface called may not call another). In a write it is
    /// answered like [`Ctx::ask`]: the call stops, the host GETs with the tenant's writer free
    /// and runs the call again, when this returns at once; so GET before you write. Needs
    /// [`crate::Capability::Surfaces`].
    pub fn surface_get(&self, path_and_query: &str) -> Result<Answer> {
        let r = surfaces::get(path_and_query)?;
        Ok(Answer {
            status: r.status,
            headers: r.headers.into_iter().map(|h| (h.name, h.value)).collect(),
            body: r.body,
        })
    }

    /// A host file's metadata. Needs [`crate::Capability::Files`].
    pub fn file(&self, id: &str) -> Result<Option<FileInfo>> {
        Ok(files::get(id)?)
    }

    /// A clean file as a [`std::io::Read`] + [`std::io::Seek`] that fetches what is read, at
    /// most 1 MiB a call, never the whole file: for formats read from their end or in parts (a
    /// zip's central directory, then one entry), whatever the file's size.
    pub fn open_file(&self, id: &str) -> Result<FileReader> {
        let info = self.file(id)?.ok_or_else(|| Error::not_found("file"))?;
        Ok(FileReader {
            id: id.to_owned(),
            size: info.size,
            position: 0,
        })
    }

    /// A clean file's bytes, read in chunks of up to 1 MiB (`limit` caps the total: a bigger
    /// file is `413 file_too_large` rather than a guest out of memory).
    pub fn read_file(&self, id: &str, limit: u64) -> Result<Vec<u8>> {
        let info = self.file(id)?.ok_or_else(|| Error::not_found("file"))?;
        if info.size > limit {
            return Err(Error::new(
                413,
                "file_too_large",
                format!(
                    "The file is {} bytes; at most {limit} can be read here.",
                    info.size
                ),
            ));
        }
        let mut bytes = Vec::with_capacity(info.size as usize);
        while (bytes.len() as u64) < info.size {
            let chunk = files::read(id, bytes.len() as u64, 1 << 20)?;
            if chunk.is_empty() {
                break;
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(bytes)
    }
}

fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        json_error(path, e.into_inner())
    })?;
    de.end().map_err(|e| json_error(".".into(), e))?;
    Ok(value)
}

/// A body that did not parse as the handler's type: `invalid_json`, or `validation_failed`
/// naming the field (`price`, `target.type`) that was missing, unknown or of the wrong type.
fn json_error(path: String, e: serde_json::Error) -> Error {
    use serde_json::error::Category;
    let text = e.to_string();
    let message = text.split(" at line ").next().unwrap_or(&text).to_owned();
    if e.classify() != Category::Data {
        return Error::bad_request(
            "invalid_json",
            format!("The request body is not valid JSON: {message}."),
        );
    }
    let named = ["missing field `", "unknown field `"]
        .iter()
        .find_map(|p| message.strip_prefix(p).and_then(|r| r.split('`').next()));
    let field = match named {
        Some(name) if path == "." => name.to_owned(),
        Some(name) if path == name || path.ends_with(&format!(".{name}")) => path,
        Some(name) => format!("{path}.{name}"),
        None if path != "." => path,
        None => "body".to_owned(),
    };
    Error::validation(&field, message)
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                match u8::from_str_radix(
                    std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz"),
                    16,
                ) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Milliseconds since the epoch as `YYYY-MM-DDTHH:MM:SS.mmmZ`.
pub(crate) fn rfc3339(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        ms.rem_euclid(1000)
    )
}

/// A host file read in place ([`Ctx::open_file`]).
pub struct FileReader {
    id: String,
    size: u64,
    position: u64,
}

impl FileReader {
    pub fn size(&self) -> u64 {
        self.size
    }
}

impl std::io::Read for FileReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if buf.is_empty() || self.position >= self.size {
            return Ok(0);
        }
        let want = buf.len().min(1 << 20) as u32;
        let chunk = files::read(&self.id, self.position, want)
            .map_err(|e| std::io::Error::other(format!("{e:?}")))?;
        let n = chunk.len().min(buf.len());
        buf[..n].copy_from_slice(&chunk[..n]);
        self.position += n as u64;
        Ok(n)
    }
}

impl std::io::Seek for FileReader {
    fn seek(&mut self, to: std::io::SeekFrom) -> std::io::Result<u64> {
        let target = match to {
            std::io::SeekFrom::Start(n) => Some(n),
            std::io::SeekFrom::End(d) => self.size.checked_add_signed(d),
            std::io::SeekFrom::Current(d) => self.position.checked_add_signed(d),
        };
        let target = target.ok_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::InvalidInput, "seek before the start")
        })?;
        self.position = target;
        Ok(target)
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        kind: String,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        price: i64,
        target: Inner,
    }

    fn field(json: &str) -> String {
        let e = parse_json::<Body>(json.as_bytes()).unwrap_err();
        assert_eq!(e.code, "validation_failed", "{json}: {e}");
        e.extra["field"].as_str().unwrap().to_owned()
    }

    #[test]
    fn a_bad_body_names_its_field() {
        assert_eq!(field(r#"{"price": 1.5, "target": {"kind": "x"}}"#), "price");
        assert_eq!(field(r#"{"target": {"kind": "x"}}"#), "price");
        assert_eq!(
            field(r#"{"price": 1, "target": {"kind": 3}}"#),
            "target.kind"
        );
        assert_eq!(field(r#"{"price": 1, "target": {}}"#), "target.kind");
        assert_eq!(
            field(r#"{"price": 1, "target": {"kind": "x", "extra": 1}}"#),
            "target.extra"
        );
        assert_eq!(
            field(r#"{"price": 1, "colour": "red", "target": {"kind": "x"}}"#),
            "colour"
        );
        let e = parse_json::<Body>(b"{not json").unwrap_err();
        assert_eq!(e.code, "invalid_json");
        let e =
            parse_json::<Body>(br#"{"price": 1, "target": {"kind": "x"}} trailing"#).unwrap_err();
        assert_eq!(e.code, "invalid_json");
    }
}
