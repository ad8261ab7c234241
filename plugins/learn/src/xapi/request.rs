//! An LRS request as xAPI defines it, whichever way it came: as itself, or in the alternate
//! request syntax (Communication 1.3), a `POST …?method=PUT` whose form body carries the
//! parameters, the headers (`Content-Type`, `If-Match`, `X-Experience-API-Version`…) and the
//! `content`. Every handler reads this, never the raw request.

use mobieus_sdk::prelude::*;

use super::{invalid, validate};

pub struct XRequest {
    /// GET, PUT, POST or DELETE: the one the request means.
    pub method: String,
    /// Query (or form) parameters, decoded.
    pub params: Vec<(String, String)>,
    /// The headers handlers read, lowercased names.
    headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// The headers an xAPI handler reads; the alternate syntax may carry each as a form field.
const HEADERS: [&str; 6] = ["content-type", "if-match", "if-none-match", "x-experience-api-version", "accept-language", "host"];

impl XRequest {
    pub fn from(cx: &Ctx) -> Result<XRequest> {
        let headers = HEADERS.iter().filter_map(|name| cx.header(name).map(|v| (name.to_string(), v.to_owned()))).collect();
        let mut req = XRequest { method: cx.method().to_owned(), params: cx.query_pairs(), headers, body: cx.body().to_vec() };
        if req.params.iter().any(|(k, _)| k == "method") {
            req = req.alternate()?;
        }
        Ok(req)
    }

    /// The request a `POST ?method=X` form stands for.
    fn alternate(self) -> Result<XRequest> {
        if self.method != "POST" {
            return Err(invalid("The alternate request syntax (`method=`) is sent as a POST."));
        }
        if self.params.len() != 1 {
            return Err(invalid("In the alternate request syntax, `method` is the only query parameter; the rest go in the form."));
        }
        let method = self.params[0].1.to_ascii_uppercase();
        if !matches!(method.as_str(), "GET" | "PUT" | "POST" | "DELETE" | "HEAD") {
            return Err(invalid("`method` is GET, PUT, POST or DELETE."));
        }
        if self.content_type() != "application/x-www-form-urlencoded" {
            return Err(invalid("The alternate request syntax sends a form: Content-Type application/x-www-form-urlencoded."));
        }
        // The request's own headers stand unless the form gives them; its Content-Type is the
        // form's.
        let mut headers: Vec<(String, String)> = self.headers.into_iter().filter(|(k, _)| k != "content-type").collect();
        let mut params = Vec::new();
        let mut body = Vec::new();
        for (name, value) in url::form_urlencoded::parse(&self.body) {
            let lower = name.to_ascii_lowercase();
            match lower.as_str() {
                "content" => body = value.into_owned().into_bytes(),
                "authorization" | "content-length" => {}
                "content-type" | "if-match" | "if-none-match" | "x-experience-api-version" => {
                    headers.retain(|(k, _)| *k != lower);
                    headers.push((lower, value.into_owned()));
                }
                _ => params.push((name.into_owned(), value.into_owned())),
            }
        }
        if !body.is_empty() && !headers.iter().any(|(k, _)| k == "content-type") {
            headers.push(("content-type".into(), "application/json".into()));
        }
        Ok(XRequest { method: if method == "HEAD" { "GET".into() } else { method }, params, headers, body })
    }

    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
    }

    /// The body's media type, lowercased, without parameters ('' when none).
    pub fn content_type(&self) -> String {
        self.header("content-type").map(|c| c.split(';').next().unwrap_or("").trim().to_ascii_lowercase()).unwrap_or_default()
    }

    /// Refuses a parameter the resource does not define, and one given twice.
    pub fn allow_only(&self, names: &[&str]) -> Result<()> {
        for (i, (name, _)) in self.params.iter().enumerate() {
            if !names.contains(&name.as_str()) {
                return Err(invalid(&format!("`{name}` is not a parameter of this resource.")));
            }
            if self.params[..i].iter().any(|(k, _)| k == name) {
                return Err(invalid(&format!("`{name}` is given twice.")));
            }
        }
        Ok(())
    }

    /// `X-Experience-API-Version`: 1.0 or 1.0.x, on every request but to `about`.
    pub fn check_version(&self) -> Result<()> {
        match self.header("x-experience-api-version") {
            Some(v) if validate::is_version(v.trim()) => Ok(()),
            Some(v) => Err(invalid(&format!("X-Experience-API-Version {v} is not one this LRS speaks (1.0.x)."))),
            None => Err(invalid("Send the X-Experience-API-Version header (1.0.3).")),
        }
    }
}
