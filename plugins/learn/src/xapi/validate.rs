//! Statement validation: every shape rule of xAPI 1.0.3 Data 2.4 and 4 an LRS enforces. A
//! statement that breaks one is refused whole, with the path of the first offending property.

use mobieus_sdk::json::{Map, Value};

/// Why a value was refused: where, and what.
pub type Invalid = String;
type Check = std::result::Result<(), Invalid>;

/// A statement (or a SubStatement when `sub`) at `at`.
pub fn statement(s: &Value) -> Check {
    let v = Walk::root();
    v.statement(s, false)
}

/// An Agent or a Group given as a query parameter (`agent=`), as in a statement.
pub fn actor(a: &Value) -> Check {
    Walk { path: "agent".into() }.actor(a)
}

pub fn is_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// An absolute IRI: a scheme, a colon, something after it, no whitespace.
pub fn is_iri(s: &str) -> bool {
    let Some((scheme, rest)) = s.split_once(':') else {
        return false;
    };
    let scheme_ok = scheme.bytes().next().is_some_and(|c| c.is_ascii_alphabetic())
        && scheme
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b'.'));
    scheme_ok && !rest.is_empty() && !s.chars().any(char::is_whitespace)
}

/// An ISO 8601 date and time (extended or basic) with an offset that is not "-00", "-0000" or
/// "-00:00" (RFC 3339 §4.3 reserves them for an unknown offset). Returns the instant in
/// milliseconds since the epoch.
pub fn timestamp_ms(s: &str) -> Option<i64> {
    use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime};
    let (date_time, offset_s) = split_offset(s)?;
    let (date, time) = date_time.split_once('T')?;
    let date = if date.len() == 10 {
        NaiveDate::parse_from_str(date, "%Y-%m-%d").ok()?
    } else {
        NaiveDate::parse_from_str(date, "%Y%m%d").ok()?
    };
    let (hms, fraction) = time.split_once(['.', ',']).unwrap_or((time, ""));
    let hms = hms.replace(':', "");
    if !(hms.len() == 4 || hms.len() == 6) || !hms.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if !fraction.bytes().all(|b| b.is_ascii_digit()) || (time.contains(['.', ',']) && fraction.is_empty()) {
        return None;
    }
    let (h, m) = (hms[0..2].parse().ok()?, hms[2..4].parse().ok()?);
    let sec = if hms.len() == 6 { hms[4..6].parse().ok()? } else { 0 };
    let nanos: u32 = if fraction.is_empty() {
        0
    } else {
        let digits: String = fraction.chars().chain(std::iter::repeat('0')).take(9).collect();
        digits.parse().ok()?
    };
    let time = NaiveTime::from_hms_nano_opt(h, m, sec, nanos)?;
    let local = NaiveDateTime::new(date, time);
    let utc = local.and_utc().timestamp_millis() - i64::from(offset_s) * 1000;
    let _ = DateTime::from_timestamp_millis(utc)?;
    Some(utc)
}

/// The date-time and its offset in seconds; none at all counts as UTC.
fn split_offset(s: &str) -> Option<(&str, i32)> {
    if let Some(rest) = s.strip_suffix('Z').or_else(|| s.strip_suffix('z')) {
        return Some((rest, 0));
    }
    let t = s.find('T')?;
    let Some(sign_at) = s[t..].rfind(['+', '-']).map(|i| i + t) else {
        return Some((s, 0));
    };
    let (date_time, offset) = s.split_at(sign_at);
    let digits = offset[1..].replace(':', "");
    if !(digits.len() == 2 || digits.len() == 4) || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let hours: i32 = digits[0..2].parse().ok()?;
    let minutes: i32 = if digits.len() == 4 { digits[2..4].parse().ok()? } else { 0 };
    if hours > 23 || minutes > 59 {
        return None;
    }
    let negative = offset.starts_with('-');
    if negative && hours == 0 && minutes == 0 {
        return None;
    }
    let seconds = (hours * 60 + minutes) * 60;
    Some((date_time, if negative { -seconds } else { seconds }))
}

/// ISO 8601 durations: `P1Y2M3DT4H5M6.7S`, `PT0.1S`, `P3W`.
fn is_duration(s: &str) -> bool {
    let Some(rest) = s.strip_prefix('P') else {
        return false;
    };
    if rest.is_empty() {
        return false;
    }
    if let Some(weeks) = rest.strip_suffix('W') {
        return is_number(weeks);
    }
    let (date, time) = match rest.split_once('T') {
        Some((d, t)) if !t.is_empty() => (d, Some(t)),
        Some(_) => return false,
        None => (rest, None),
    };
    designators(date, &['Y', 'M', 'D']) && time.is_none_or(|t| designators(t, &['H', 'M', 'S']))
}

/// Number-designator pairs in order, each at most once; only the last may have a fraction.
fn designators(s: &str, allowed: &[char]) -> bool {
    let mut next = 0;
    let mut number = String::new();
    for c in s.chars() {
        if c.is_ascii_digit() || c == '.' || c == ',' {
            number.push(c);
            continue;
        }
        let Some(at) = allowed[next..].iter().position(|d| *d == c) else {
            return false;
        };
        if !is_number(&number) {
            return false;
        }
        number.clear();
        next += at + 1;
    }
    number.is_empty()
}

fn is_number(s: &str) -> bool {
    let s = s.replace(',', ".");
    !s.is_empty() && !s.starts_with('.') && s.parse::<f64>().is_ok() && s.bytes().all(|b| b.is_ascii_digit() || b == b'.')
}

/// RFC 5646 in the shape that matters: a 2-8 letter primary language, then 1-8 character
/// alphanumeric subtags; or a private use (`x-…`) or grandfathered (`i-…`) tag.
fn is_language_tag(tag: &str) -> bool {
    let mut parts = tag.split('-');
    let Some(primary) = parts.next() else {
        return false;
    };
    let primary_ok = (2..=8).contains(&primary.len()) && primary.bytes().all(|b| b.is_ascii_alphabetic())
        || primary.eq_ignore_ascii_case("x")
        || primary.eq_ignore_ascii_case("i");
    primary_ok && parts.all(|p| (1..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphanumeric()))
}

const INTERACTION_TYPES: [&str; 10] = [
    "true-false", "choice", "fill-in", "long-fill-in", "matching", "performance", "sequencing", "likert", "numeric", "other",
];

/// The path being checked, for the refusal's message.
struct Walk {
    path: String,
}

impl Walk {
    fn root() -> Walk {
        Walk { path: String::new() }
    }

    fn at(&self, key: &str) -> Walk {
        let path = if self.path.is_empty() { key.to_owned() } else { format!("{}.{key}", self.path) };
        Walk { path }
    }

    fn index(&self, i: usize) -> Walk {
        Walk { path: format!("{}[{i}]", self.path) }
    }

    fn fail<T>(&self, why: &str) -> std::result::Result<T, Invalid> {
        let at = if self.path.is_empty() { "statement" } else { &self.path };
        Err(format!("`{at}` {why}"))
    }

    fn object<'a>(&self, v: &'a Value, allowed: &[&str]) -> std::result::Result<&'a Map<String, Value>, Invalid> {
        let Some(o) = v.as_object() else {
            return self.fail("must be a JSON object");
        };
        for (k, value) in o {
            if !allowed.contains(&k.as_str()) {
                return self.at(k).fail("is not a property xAPI 1.0.3 defines here");
            }
            if value.is_null() {
                return self.at(k).fail("must not be null");
            }
        }
        Ok(o)
    }

    fn string<'a>(&self, v: &'a Value) -> std::result::Result<&'a str, Invalid> {
        v.as_str().map_or_else(|| self.fail("must be a string"), Ok)
    }

    fn iri(&self, v: &Value) -> Check {
        if is_iri(self.string(v)?) { Ok(()) } else { self.fail("must be an absolute IRI (with a scheme)") }
    }

    fn uuid(&self, v: &Value) -> Check {
        if is_uuid(self.string(v)?) { Ok(()) } else { self.fail("must be a UUID in its standard string form") }
    }

    fn boolean(&self, v: &Value) -> Check {
        if v.is_boolean() { Ok(()) } else { self.fail("must be true or false") }
    }

    fn language_map(&self, v: &Value) -> Check {
        let Some(map) = v.as_object() else {
            return self.fail("must be a language map (an object)");
        };
        for (tag, text) in map {
            if !is_language_tag(tag) {
                return self.fail(&format!("has `{tag}`, not an RFC 5646 language tag"));
            }
            if !text.is_string() {
                return self.at(tag).fail("must be a string");
            }
        }
        Ok(())
    }

    fn extensions(&self, v: &Value) -> Check {
        let Some(map) = v.as_object() else {
            return self.fail("must be an object keyed by IRIs");
        };
        for key in map.keys() {
            if !is_iri(key) {
                return self.fail(&format!("has the key `{key}`, not an absolute IRI"));
            }
        }
        Ok(())
    }

    fn timestamp(&self, v: &Value) -> Check {
        match timestamp_ms(self.string(v)?) {
            Some(_) => Ok(()),
            None => self.fail("must be an ISO 8601 date and time (an offset of -00:00 is not one)"),
        }
    }

    fn statement(&self, s: &Value, sub: bool) -> Check {
        const TOP: [&str; 11] = ["id", "actor", "verb", "object", "result", "context", "timestamp", "stored", "authority", "version", "attachments"];
        const SUB: [&str; 8] = ["objectType", "actor", "verb", "object", "result", "context", "timestamp", "attachments"];
        let o = self.object(s, if sub { &SUB } else { &TOP })?;
        if let Some(id) = o.get("id") {
            self.at("id").uuid(id)?;
        }
        for required in ["actor", "verb", "object"] {
            if !o.contains_key(required) {
                return self.at(required).fail("is required");
            }
        }
        self.at("actor").actor(&o["actor"])?;
        self.at("verb").verb(&o["verb"])?;
        let object_type = self.at("object").statement_object(&o["object"], sub)?;
        if let Some(r) = o.get("result") {
            self.at("result").result(r)?;
        }
        if let Some(c) = o.get("context") {
            self.at("context").context(c, object_type)?;
        }
        for time in ["timestamp", "stored"] {
            if let Some(t) = o.get(time) {
                self.at(time).timestamp(t)?;
            }
        }
        if let Some(a) = o.get("authority") {
            self.at("authority").authority(a)?;
        }
        if let Some(version) = o.get("version") {
            let version = self.at("version").string(version)?;
            if !is_version(version) {
                return self.at("version").fail("must be 1.0.0 or 1.0.x");
            }
        }
        if let Some(a) = o.get("attachments") {
            let Some(list) = a.as_array() else {
                return self.at("attachments").fail("must be an array");
            };
            for (i, attachment) in list.iter().enumerate() {
                self.at("attachments").index(i).attachment(attachment)?;
            }
        }
        if o["verb"]["id"] == VOIDED && !sub && object_type != "StatementRef" {
            return self.at("object").fail("of a voiding statement must be a StatementRef");
        }
        Ok(())
    }

    fn actor(&self, a: &Value) -> Check {
        match a.get("objectType").and_then(Value::as_str) {
            Some("Group") => self.group(a),
            Some("Agent") | None => self.agent(a, false),
            Some(_) => self.at("objectType").fail("must be Agent or Group"),
        }
    }

    /// An Agent: exactly one inverse functional identifier.
    fn agent(&self, a: &Value, require_agent: bool) -> Check {
        let o = self.object(a, &["objectType", "name", "mbox", "mbox_sha1sum", "openid", "account"])?;
        match o.get("objectType").map(|t| self.at("objectType").string(t)).transpose()? {
            None | Some("Agent") => {}
            Some(_) if require_agent => return self.at("objectType").fail("must be Agent"),
            Some(_) => return self.at("objectType").fail("must be Agent"),
        }
        if let Some(name) = o.get("name") {
            self.at("name").string(name)?;
        }
        match self.ifis(o)? {
            1 => Ok(()),
            0 => self.fail("needs one identifier: mbox, mbox_sha1sum, openid or account"),
            _ => self.fail("has more than one identifier (mbox, mbox_sha1sum, openid, account)"),
        }
    }

    fn group(&self, g: &Value) -> Check {
        let o = self.object(g, &["objectType", "name", "mbox", "mbox_sha1sum", "openid", "account", "member"])?;
        if let Some(name) = o.get("name") {
            self.at("name").string(name)?;
        }
        let ifis = self.ifis(o)?;
        if ifis > 1 {
            return self.fail("has more than one identifier (mbox, mbox_sha1sum, openid, account)");
        }
        match o.get("member") {
            Some(Value::Array(members)) => {
                if ifis == 0 && members.is_empty() {
                    return self.at("member").fail("of an anonymous group must list its agents");
                }
                for (i, m) in members.iter().enumerate() {
                    let at = self.at("member").index(i);
                    if m.get("objectType").and_then(Value::as_str) == Some("Group") {
                        return at.fail("must be an Agent: a group's members are not groups");
                    }
                    at.agent(m, true)?;
                }
                Ok(())
            }
            Some(_) => self.at("member").fail("must be an array of agents"),
            None if ifis == 0 => self.at("member").fail("is required in an anonymous group"),
            None => Ok(()),
        }
    }

    /// How many identifiers the object has, each checked.
    fn ifis(&self, o: &Map<String, Value>) -> std::result::Result<usize, Invalid> {
        let mut n = 0;
        if let Some(m) = o.get("mbox") {
            let m = self.at("mbox").string(m)?;
            if !m.strip_prefix("mailto:").is_some_and(|a| a.contains('@') && !a.contains(char::is_whitespace)) {
                return self.at("mbox").fail("must be a mailto: IRI");
            }
            n += 1;
        }
        if let Some(s) = o.get("mbox_sha1sum") {
            let s = self.at("mbox_sha1sum").string(s)?;
            if s.len() != 40 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
                return self.at("mbox_sha1sum").fail("must be a SHA-1 in hex");
            }
            n += 1;
        }
        if let Some(id) = o.get("openid") {
            self.at("openid").iri(id)?;
            n += 1;
        }
        if let Some(account) = o.get("account") {
            let at = self.at("account");
            let a = at.object(account, &["homePage", "name"])?;
            let (Some(home), Some(name)) = (a.get("homePage"), a.get("name")) else {
                return at.fail("needs homePage and name");
            };
            at.at("homePage").iri(home)?;
            at.at("name").string(name)?;
            n += 1;
        }
        Ok(n)
    }

    fn verb(&self, v: &Value) -> Check {
        let o = self.object(v, &["id", "display"])?;
        let Some(id) = o.get("id") else {
            return self.at("id").fail("is required");
        };
        self.at("id").iri(id)?;
        if let Some(d) = o.get("display") {
            self.at("display").language_map(d)?;
        }
        Ok(())
    }

    /// The statement's object; answers its objectType.
    fn statement_object(&self, v: &Value, sub: bool) -> std::result::Result<&'static str, Invalid> {
        let kind = match v.get("objectType") {
            None => "Activity",
            Some(t) => match self.at("objectType").string(t)? {
                "Activity" => "Activity",
                "Agent" => "Agent",
                "Group" => "Group",
                "StatementRef" => "StatementRef",
                "SubStatement" => "SubStatement",
                _ => return self.at("objectType").fail("must be Activity, Agent, Group, StatementRef or SubStatement"),
            },
        };
        match kind {
            "Activity" => self.activity(v)?,
            "Agent" => self.agent(v, true)?,
            "Group" => self.group(v)?,
            "StatementRef" => self.statement_ref(v)?,
            _ if sub => return self.fail("must not be a SubStatement inside a SubStatement"),
            _ => self.statement(v, true)?,
        }
        Ok(kind)
    }

    fn statement_ref(&self, v: &Value) -> Check {
        let o = self.object(v, &["objectType", "id"])?;
        if o.get("objectType").and_then(Value::as_str) != Some("StatementRef") {
            return self.at("objectType").fail("must be StatementRef");
        }
        match o.get("id") {
            Some(id) => self.at("id").uuid(id),
            None => self.at("id").fail("is required"),
        }
    }

    fn activity(&self, v: &Value) -> Check {
        let o = self.object(v, &["objectType", "id", "definition"])?;
        let Some(id) = o.get("id") else {
            return self.at("id").fail("is required");
        };
        self.at("id").iri(id)?;
        if let Some(d) = o.get("definition") {
            self.at("definition").definition(d)?;
        }
        Ok(())
    }

    fn definition(&self, v: &Value) -> Check {
        const KEYS: [&str; 12] = [
            "name", "description", "type", "moreInfo", "extensions", "interactionType", "correctResponsesPattern", "choices", "scale", "source",
            "target", "steps",
        ];
        let o = self.object(v, &KEYS)?;
        for map in ["name", "description"] {
            if let Some(m) = o.get(map) {
                self.at(map).language_map(m)?;
            }
        }
        for iri in ["type", "moreInfo"] {
            if let Some(i) = o.get(iri) {
                self.at(iri).iri(i)?;
            }
        }
        if let Some(e) = o.get("extensions") {
            self.at("extensions").extensions(e)?;
        }
        let interaction = match o.get("interactionType") {
            Some(t) => {
                let t = self.at("interactionType").string(t)?;
                if !INTERACTION_TYPES.contains(&t) {
                    return self.at("interactionType").fail("is not an xAPI interaction type");
                }
                Some(t)
            }
            None => None,
        };
        if let Some(p) = o.get("correctResponsesPattern") {
            let ok = p.as_array().is_some_and(|a| a.iter().all(Value::is_string));
            if !ok {
                return self.at("correctResponsesPattern").fail("must be an array of strings");
            }
        }
        let interaction_only = ["correctResponsesPattern", "choices", "scale", "source", "target", "steps"];
        if interaction.is_none()
            && let Some(used) = interaction_only.iter().find(|k| o.contains_key(**k))
        {
            return self.at(used).fail("needs an interactionType");
        }
        let allowed: &[&str] = match interaction {
            Some("choice") | Some("sequencing") => &["choices"],
            Some("likert") => &["scale"],
            Some("matching") => &["source", "target"],
            Some("performance") => &["steps"],
            _ => &[],
        };
        for list in ["choices", "scale", "source", "target", "steps"] {
            let Some(components) = o.get(list) else {
                continue;
            };
            let at = self.at(list);
            if !allowed.contains(&list) {
                return at.fail("is not used with this interactionType");
            }
            let Some(components) = components.as_array() else {
                return at.fail("must be an array of interaction components");
            };
            let mut ids = Vec::new();
            for (i, c) in components.iter().enumerate() {
                let at = at.index(i);
                let c = at.object(c, &["id", "description"])?;
                let Some(id) = c.get("id") else {
                    return at.at("id").fail("is required");
                };
                let id = at.at("id").string(id)?;
                if ids.contains(&id) {
                    return at.at("id").fail("repeats another component's id");
                }
                ids.push(id);
                if let Some(d) = c.get("description") {
                    at.at("description").language_map(d)?;
                }
            }
        }
        Ok(())
    }

    fn result(&self, v: &Value) -> Check {
        let o = self.object(v, &["score", "success", "completion", "response", "duration", "extensions"])?;
        if let Some(s) = o.get("score") {
            self.at("score").score(s)?;
        }
        for b in ["success", "completion"] {
            if let Some(x) = o.get(b) {
                self.at(b).boolean(x)?;
            }
        }
        if let Some(r) = o.get("response") {
            self.at("response").string(r)?;
        }
        if let Some(d) = o.get("duration")
            && !is_duration(self.at("duration").string(d)?)
        {
            return self.at("duration").fail("must be an ISO 8601 duration");
        }
        if let Some(e) = o.get("extensions") {
            self.at("extensions").extensions(e)?;
        }
        Ok(())
    }

    fn score(&self, v: &Value) -> Check {
        let o = self.object(v, &["scaled", "raw", "min", "max"])?;
        let n = |k: &str| -> std::result::Result<Option<f64>, Invalid> {
            match o.get(k) {
                None => Ok(None),
                Some(x) => x.as_f64().map(Some).map_or_else(|| self.at(k).fail("must be a number"), Ok),
            }
        };
        let (scaled, raw, min, max) = (n("scaled")?, n("raw")?, n("min")?, n("max")?);
        if scaled.is_some_and(|s| !(-1.0..=1.0).contains(&s)) {
            return self.at("scaled").fail("must be between -1 and 1");
        }
        if let (Some(min), Some(max)) = (min, max)
            && min >= max
        {
            return self.at("min").fail("must be less than max");
        }
        if let Some(raw) = raw
            && (min.is_some_and(|m| raw < m) || max.is_some_and(|m| raw > m))
        {
            return self.at("raw").fail("must be between min and max");
        }
        Ok(())
    }

    fn context(&self, v: &Value, object_type: &str) -> Check {
        const KEYS: [&str; 9] = ["registration", "instructor", "team", "contextActivities", "revision", "platform", "language", "statement", "extensions"];
        let o = self.object(v, &KEYS)?;
        if let Some(r) = o.get("registration") {
            self.at("registration").uuid(r)?;
        }
        if let Some(i) = o.get("instructor") {
            self.at("instructor").actor(i)?;
        }
        if let Some(t) = o.get("team") {
            if t.get("objectType").and_then(Value::as_str) != Some("Group") {
                return self.at("team").fail("must be a Group");
            }
            self.at("team").group(t)?;
        }
        if let Some(c) = o.get("contextActivities") {
            let at = self.at("contextActivities");
            let c = at.object(c, &["parent", "grouping", "category", "other"])?;
            for (kind, activities) in c {
                let at = at.at(kind);
                match activities {
                    Value::Array(list) => {
                        for (i, a) in list.iter().enumerate() {
                            at.index(i).context_activity(a)?;
                        }
                    }
                    one => at.context_activity(one)?,
                }
            }
        }
        for text in ["revision", "platform"] {
            if let Some(t) = o.get(text) {
                self.at(text).string(t)?;
                if object_type != "Activity" {
                    return self.at(text).fail("is only for a statement about an Activity");
                }
            }
        }
        if let Some(l) = o.get("language")
            && !is_language_tag(self.at("language").string(l)?)
        {
            return self.at("language").fail("must be an RFC 5646 language tag");
        }
        if let Some(s) = o.get("statement") {
            self.at("statement").statement_ref(s)?;
        }
        if let Some(e) = o.get("extensions") {
            self.at("extensions").extensions(e)?;
        }
        Ok(())
    }

    fn context_activity(&self, a: &Value) -> Check {
        if a.get("objectType").is_some_and(|t| t != "Activity") {
            return self.at("objectType").fail("must be Activity");
        }
        self.activity(a)
    }

    /// An Agent, or the two-agent anonymous Group of an OAuth consumer and user.
    fn authority(&self, a: &Value) -> Check {
        self.actor(a)?;
        if a.get("objectType").and_then(Value::as_str) == Some("Group") {
            let members = a.get("member").and_then(Value::as_array).map_or(0, Vec::len);
            let identified = ["mbox", "mbox_sha1sum", "openid", "account"].iter().any(|k| a.get(k).is_some());
            if identified || members != 2 {
                return self.fail("as a Group must be anonymous with exactly two agents (an OAuth consumer and its user)");
            }
        }
        Ok(())
    }

    fn attachment(&self, a: &Value) -> Check {
        let o = self.object(a, &["usageType", "display", "description", "contentType", "length", "sha2", "fileUrl"])?;
        for required in ["usageType", "display", "contentType", "length", "sha2"] {
            if !o.contains_key(required) {
                return self.at(required).fail("is required");
            }
        }
        self.at("usageType").iri(&o["usageType"])?;
        self.at("display").language_map(&o["display"])?;
        if let Some(d) = o.get("description") {
            self.at("description").language_map(d)?;
        }
        let content_type = self.at("contentType").string(&o["contentType"])?;
        if !content_type.contains('/') {
            return self.at("contentType").fail("must be an Internet media type");
        }
        if !o["length"].is_u64() {
            return self.at("length").fail("must be a non-negative integer");
        }
        let sha2 = self.at("sha2").string(&o["sha2"])?;
        if !(sha2.len() == 64 || sha2.len() == 96 || sha2.len() == 128 || sha2.len() == 56) || !sha2.bytes().all(|b| b.is_ascii_hexdigit()) {
            return self.at("sha2").fail("must be a SHA-2 hash in hex");
        }
        if let Some(url) = o.get("fileUrl") {
            self.at("fileUrl").iri(url)?;
        }
        Ok(())
    }
}

pub const VOIDED: &str = "http://adlnet.gov/expapi/verbs/voided";

/// `1.0`, `1.0.0` … `1.0.x`: the versions of xAPI this LRS takes.
pub fn is_version(v: &str) -> bool {
    v == "1.0" || v.strip_prefix("1.0.").is_some_and(|patch| !patch.is_empty() && patch.bytes().all(|b| b.is_ascii_digit()))
}
