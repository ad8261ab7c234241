//! The admin console over plain HTTP (the browser tests in `browser.rs` drive the same pages in
//! Chromium): sessions, CSRF, the login throttle, tenant isolation, and that a key's plaintext is
//! shown once and nowhere after.

use reqwest::StatusCode;
use reqwest::header::{self, HeaderMap};

use crate::harness::Server;

pub const PASSWORD: &str = "correct horse battery";

/// A browser stand-in: keeps the console's cookies, does not follow redirects.
pub struct Console {
    http: reqwest::Client,
    addr: std::net::SocketAddr,
    pub host: String,
    cookies: Vec<(String, String)>,
}

pub struct Page {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Page {
    pub fn location(&self) -> &str {
        self.headers
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// The value of the first hidden `csrf` field.
    pub fn csrf(&self) -> String {
        field_value(&self.body, "csrf").unwrap_or_else(|| panic!("no csrf field: {}", self.body))
    }
}

pub fn field_value(html: &str, name: &str) -> Option<String> {
    let at = html.find(&format!("name=\"{name}\" value=\""))?;
    let rest = &html[at + name.len() + 15..];
    Some(rest[..rest.find('"')?].to_owned())
}

impl Console {
    pub fn new(server: &Server, tenant: &str) -> Console {
        Console {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            addr: server.addr,
            host: format!("{tenant}.localhost:{}", server.addr.port()),
            cookies: vec![],
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(n, v)| format!("{n}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn keep_cookies(&mut self, headers: &HeaderMap) {
        for v in headers.get_all(header::SET_COOKIE) {
            let v = v.to_str().unwrap();
            let (pair, attrs) = v.split_once(';').unwrap_or((v, ""));
            let (name, value) = pair.split_once('=').unwrap();
            assert!(
                attrs.contains("HttpOnly") && attrs.contains("SameSite=Strict"),
                "{v}"
            );
            self.cookies.retain(|(n, _)| n != name);
            if !value.is_empty() {
                self.cookies.push((name.to_owned(), value.to_owned()));
            }
        }
    }

    pub fn cookies(&self) -> Vec<(String, String)> {
        self.cookies.clone()
    }

    pub fn with_cookies(mut self, cookies: Vec<(String, String)>) -> Console {
        self.cookies = cookies;
        self
    }

    pub async fn get(&mut self, path: &str) -> Page {
        let r = self
            .http
            .get(format!("http://{}{path}", self.addr))
            .header(header::HOST, &self.host)
            .header(header::COOKIE, self.cookie_header())
            .send()
            .await
            .unwrap();
        self.read(r).await
    }

    pub async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        self.post_with(path, form, None).await
    }

    pub async fn post_with(
        &mut self,
        path: &str,
        form: &[(&str, &str)],
        origin: Option<&str>,
    ) -> Page {
        let mut req = self
            .http
            .post(format!("http://{}{path}", self.addr))
            .header(header::HOST, &self.host)
            .header(header::COOKIE, self.cookie_header())
            .form(form);
        if let Some(origin) = origin {
            req = req.header(header::ORIGIN, origin);
        }
        let r = req.send().await.unwrap();
        self.read(r).await
    }

    async fn read(&mut self, r: reqwest::Response) -> Page {
        let status = r.status();
        let headers = r.headers().clone();
        self.keep_cookies(&headers);
        Page {
            status,
            headers,
            body: r.text().await.unwrap(),
        }
    }

    /// Follows a setup link (`/admin/setup?token=…`) and sets the password: signed in after.
    pub async fn set_up(&mut self, link: &str) {
        let path = &link[link.find("/admin/setup").unwrap()..];
        let page = self.get(path).await;
        assert_eq!(page.status, 200, "{}", page.body);
        let token = field_value(&page.body, "token").unwrap();
        let r = self
            .post(
                "/admin/setup",
                &[
                    ("csrf", &page.csrf()),
                    ("token", &token),
                    ("password", PASSWORD),
                    ("confirm", PASSWORD),
                ],
            )
            .await;
        assert_eq!(r.status, 303, "{}", r.body);
        assert_eq!(r.location(), "/admin/api-keys");
    }

    pub async fn log_in(&mut self, email: &str, password: &str) -> Page {
        let page = self.get("/admin/login").await;
        self.post(
            "/admin/login",
            &[
                ("csrf", &page.csrf()),
                ("email", email),
                ("password", password),
                ("next", "/admin/api-keys"),
            ],
        )
        .await
    }
}

/// Invites `email` to `tenant`'s console; returns the setup link.
pub fn invite(server: &Server, tenant: &str, email: &str) -> String {
    let out = server.cli_ok(&["admin", "create", "--tenant", tenant, "--email", email]);
    out.split_whitespace()
        .find(|w| w.contains("/admin/setup?token="))
        .unwrap_or_else(|| panic!("no link in {out}"))
        .to_owned()
}

const PAGES: &[&str] = &[
    "/admin/api-keys",
    "/admin/api/settings",
    "/admin/webhooks",
    "/admin/plugins",
    "/admin/plugins/community/data",
    "/admin/billing",
    "/admin/audit",
    "/admin/mail",
    "/admin/ai",
    "/admin/scim",
];

#[tokio::test]
async fn no_page_or_action_without_a_session_and_a_session_is_one_tenants() {
    let server = Server::start();
    server.create_tenant("acme", "pro");
    server.create_tenant("globex", "pro");
    let mut anonymous = Console::new(&server, "acme");
    for page in PAGES
        .iter()
        .chain(&["/admin/api-keys/key_x/edit", "/admin/webhooks/whk_x"])
    {
        let r = anonymous.get(page).await;
        assert_eq!(r.status, 303, "{page}");
        assert!(
            r.location().starts_with("/admin/login?next=%2Fadmin"),
            "{page}: {}",
            r.location()
        );
    }
    for action in [
        "/admin/api-keys",
        "/admin/billing",
        "/admin/api/settings",
        "/admin/plugins/market",
        "/admin/plugins/community/data",
        "/admin/logout",
    ] {
        let r = anonymous
            .post(
                action,
                &[("csrf", "x"), ("plan", "starter"), ("scopes", "users:read")],
            )
            .await;
        assert_eq!(r.status, 303, "{action}");
        assert!(r.location().starts_with("/admin/login"), "{action}");
    }
    let tenants = server.cli_ok(&["tenant", "list"]);
    assert!(
        tenants.contains("pro") && !tenants.contains("starter"),
        "nothing changed: {tenants}"
    );
    let keys = server.cli_ok(&["key", "list", "--tenant", "acme", "--json"]);
    assert_eq!(keys.trim(), "[]");

    // Acme's admin is signed in on acme; the same cookies on globex are nobody's.
    let mut acme = Console::new(&server, "acme");
    acme.set_up(&invite(&server, "acme", "ada@acme.example"))
        .await;
    let r = acme.get("/admin/api-keys").await;
    assert_eq!(r.status, 200);
    assert!(r.body.contains("ada@acme.example"));
    let mut stolen = Console::new(&server, "globex").with_cookies(acme.cookies());
    let r = stolen.get("/admin/api-keys").await;
    assert_eq!(r.status, 303, "a session of acme is useless on globex");
    // A host that is no tenant has no console.
    let r = Console::new(&server, "nobody").get("/admin/login").await;
    assert_eq!(r.status, 404);

    // Logging out ends the session on the server, not only in the browser.
    let cookies = acme.cookies();
    let csrf = acme.get("/admin/api-keys").await.csrf();
    let r = acme.post("/admin/logout", &[("csrf", &csrf)]).await;
    assert_eq!(r.status, 303);
    let r = Console::new(&server, "acme")
        .with_cookies(cookies)
        .get("/admin/api-keys")
        .await;
    assert_eq!(r.status, 303, "the old cookie no longer works");
}

#[tokio::test]
async fn forms_without_the_sessions_csrf_token_are_refused() {
    let server = Server::start();
    server.create_tenant("acme", "pro");
    let mut acme = Console::new(&server, "acme");
    acme.set_up(&invite(&server, "acme", "ada@acme.example"))
        .await;
    let csrf = acme.get("/admin/api-keys").await.csrf();
    let mint = |csrf: &'static str| {
        vec![
            ("csrf", csrf),
            ("label", "x"),
            ("env", "live"),
            ("scopes", "users:read"),
        ]
    };
    for form in [mint(""), mint("forged")] {
        let r = acme.post("/admin/api-keys", &form).await;
        assert_eq!(r.status, 403, "{}", r.body);
    }
    let r = acme.post("/admin/billing", &[("plan", "starter")]).await;
    assert_eq!(r.status, 403);
    // The right token from another site's page is refused too.
    let r = acme
        .post_with(
            "/admin/billing",
            &[("csrf", &csrf), ("plan", "starter")],
            Some("https://evil.example"),
        )
        .await;
    assert_eq!(r.status, 403);
    assert_eq!(
        server
            .cli_ok(&["key", "list", "--tenant", "acme", "--json"])
            .trim(),
        "[]"
    );
    assert!(server.cli_ok(&["tenant", "list"]).contains("pro"));
    // With it, the same post works.
    let r = acme
        .post("/admin/billing", &[("csrf", &csrf), ("plan", "starter")])
        .await;
    assert_eq!(r.status, 303);
    assert!(server.cli_ok(&["tenant", "list"]).contains("starter"));
    // Login and setup forms need their own token (the form cookie's).
    let mut fresh = Console::new(&server, "acme");
    let r = fresh
        .post(
            "/admin/login",
            &[("email", "ada@acme.example"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(r.status, 403);
}

#[tokio::test]
async fn login_attempts_are_throttled_and_audited() {
    let server = Server::start();
    server.create_tenant("acme", "pro");
    let mut ada = Console::new(&server, "acme");
    ada.set_up(&invite(&server, "acme", "ada@acme.example"))
        .await;
    let mut intruder = Console::new(&server, "acme");
    for _ in 0..5 {
        let r = intruder
            .log_in("ada@acme.example", "not the password")
            .await;
        assert_eq!(r.status, 401);
        assert!(r.body.contains("The email or the password is wrong."));
    }
    let r = intruder.log_in("ada@acme.example", PASSWORD).await;
    assert_eq!(r.status, 429, "even the right password waits");
    assert!(r.headers.contains_key(header::RETRY_AFTER));
    let audit = server.cli_ok(&["audit", "list", "--tenant", "acme", "--json"]);
    assert_eq!(audit.matches("admin.login_failed").count(), 5, "{audit}");
    assert!(audit.contains("admin.password_set"));
    assert!(!audit.contains(PASSWORD) && !audit.contains("not the password"));
    // Another tenant's console is not held back by acme's throttle.
    server.create_tenant("globex", "pro");
    let mut bob = Console::new(&server, "globex");
    bob.set_up(&invite(&server, "globex", "bob@globex.example"))
        .await;
    let mut bob2 = Console::new(&server, "globex");
    let r = bob2.log_in("bob@globex.example", PASSWORD).await;
    assert_eq!(r.status, 303, "{}", r.body);
    // A setup link works once.
    let link = invite(&server, "globex", "carol@globex.example");
    Console::new(&server, "globex").set_up(&link).await;
    let path = &link[link.find("/admin/setup").unwrap()..];
    assert_eq!(Console::new(&server, "globex").get(path).await.status, 410);
}

#[tokio::test]
async fn a_minted_key_is_shown_once_and_never_in_a_later_page_log_or_audit_row() {
    let server = Server::start();
    server.create_tenant("acme", "pro");
    let mut acme = Console::new(&server, "acme");
    acme.set_up(&invite(&server, "acme", "ada@acme.example"))
        .await;
    let csrf = acme.get("/admin/api-keys").await.csrf();
    let r = acme
        .post(
            "/admin/api-keys",
            &[
                ("csrf", &csrf),
                ("label", "Reporting"),
                ("env", "live"),
                ("kind", "secret"),
                ("scopes", "users:read"),
                ("scopes", "events:read"),
                ("rate_limit", ""),
                ("expires_at", ""),
            ],
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.headers[header::CACHE_CONTROL], "no-store");
    let at = r.body.find("id=\"new-key\">").unwrap() + 13;
    let plaintext = &r.body[at..at + r.body[at..].find('<').unwrap()];
    assert!(plaintext.starts_with("mc_live_"), "{plaintext}");
    let api = server.client("acme").key(plaintext);
    assert_eq!(api.get("/api/v1/users").await.status, 200);

    let mut later = String::new();
    for page in PAGES.iter().chain(&["/admin/audit?action=api_key.created"]) {
        later.push_str(&acme.get(page).await.body);
    }
    later.push_str(&server.cli_ok(&["audit", "list", "--tenant", "acme", "--json"]));
    later.push_str(&server.log());
    assert!(later.contains("api_key.created") && later.contains("admin:ada@acme.example"));
    assert!(!later.contains(plaintext), "the plaintext appeared again");
    let secret_part = &plaintext["mc_live_".len()..];
    assert!(!later.contains(secret_part));
    assert!(!later.contains(PASSWORD));
}

#[tokio::test]
async fn a_scim_token_from_the_console_provisions_once_shown_and_stops_when_revoked() {
    let server = Server::start();
    server.create_tenant("acme", "pro");
    let mut acme = Console::new(&server, "acme");
    acme.set_up(&invite(&server, "acme", "ada@acme.example"))
        .await;
    let page = acme.get("/admin/scim").await;
    assert!(page.body.contains("/scim/v2</code>"), "{}", page.body);
    let csrf = page.csrf();
    let r = acme
        .post("/admin/scim", &[("csrf", &csrf), ("label", "Okta")])
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let at = r.body.find("id=\"new-token\">").unwrap() + 15;
    let plaintext = r.body[at..at + r.body[at..].find('<').unwrap()].to_owned();
    assert!(plaintext.starts_with("scim_"), "{plaintext}");
    let scim = server.client("acme").key(&plaintext);
    assert_eq!(scim.get("/scim/v2/Users").await.status, 200);
    let listed = acme.get("/admin/scim").await.body;
    assert!(listed.contains("Okta") && !listed.contains(&plaintext));

    let id = server.cli_ok(&["scim", "token", "list", "--tenant", "acme", "--json"]);
    let id: serde_json::Value = serde_json::from_str(&id).unwrap();
    let revoke = format!("/admin/scim/{}/revoke", id[0]["id"].as_str().unwrap());
    // Not without the confirmation.
    assert_eq!(acme.post(&revoke, &[("csrf", &csrf)]).await.status, 400);
    let r = acme
        .post(&revoke, &[("csrf", &csrf), ("confirm", "yes")])
        .await;
    assert_eq!(r.location(), "/admin/scim?notice=scim_token_revoked");
    assert_eq!(scim.get("/scim/v2/Users").await.status, 401);
    let audit = server.cli_ok(&["audit", "list", "--tenant", "acme", "--json"]);
    assert!(audit.contains("scim_token.created") && audit.contains("scim_token.revoked"));
    assert!(audit.contains("admin:ada@acme.example") && !audit.contains(&plaintext[5..]));
}

#[tokio::test]
async fn the_consoles_settings_plugins_and_plan_apply_to_the_next_api_request() {
    let server = Server::start();
    server.create_tenant("acme", "pro");
    let (_, key) = server.create_key("acme", "live", "users:read,listings:read", &[]);
    let api = server.client("acme").key(&key);
    let mut acme = Console::new(&server, "acme");
    acme.set_up(&invite(&server, "acme", "ada@acme.example"))
        .await;
    let csrf = acme.get("/admin/api-keys").await.csrf();

    // The community's default rate limit and CORS origins.
    let r = acme
        .post(
            "/admin/api/settings",
            &[
                ("csrf", &csrf),
                ("rate_limit", "42"),
                ("cors_origins", "https://app.example\r\nhttps://b.example"),
                ("max_upload_bytes", ""),
            ],
        )
        .await;
    assert_eq!(
        r.location(),
        "/admin/api/settings?notice=settings_saved",
        "{}",
        r.body
    );
    let r = api.get("/api/v1/users").await;
    assert_eq!(r.header("x-ratelimit-limit"), Some("42"));
    let r = api
        .clone()
        .header("origin", "https://b.example")
        .get("/api/v1/users")
        .await;
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://b.example")
    );
    let page = acme.get("/admin/api/settings").await;
    // One origin per line (escaped as HTML escapes `/`).
    assert!(
        page.body
            .contains("app.example\nhttps:&#x2f;&#x2f;b.example"),
        "{}",
        page.body
    );
    let r = acme
        .post(
            "/admin/api/settings",
            &[
                ("csrf", &csrf),
                ("rate_limit", "0"),
                ("cors_origins", ""),
                ("max_upload_bytes", ""),
            ],
        )
        .await;
    assert_eq!(r.status, 400, "a bad value is refused with the form again");
    assert!(r.body.contains("default_rate_limit_per_minute"));

    // A plugin turned off answers 404 from the next request, and on again.
    assert_eq!(api.get("/api/v1/listings").await.status, 200);
    let r = acme
        .post("/admin/plugins/market", &[("csrf", &csrf), ("on", "false")])
        .await;
    assert_eq!(r.location(), "/admin/plugins?notice=plugin_off");
    api.get("/api/v1/listings")
        .await
        .assert_error(404, "not_found");
    acme.post("/admin/plugins/market", &[("csrf", &csrf), ("on", "true")])
        .await;
    assert_eq!(api.get("/api/v1/listings").await.status, 200);

    // A plugin's declared settings: shown with their value, saved, applied to its next call.
    let page = acme.get("/admin/plugins").await;
    assert!(page.body.contains("know.review_required"), "{}", page.body);
    assert!(
        page.body.contains(r#"<option value="on" selected>"#),
        "{}",
        page.body
    );
    let (_, wiki_key) = server.create_key("acme", "live", "know:read,know:write", &[]);
    let wiki = server.client("acme").key(&wiki_key);
    let new_page = serde_json::json!({"title": "Wifi", "body": "Ask at the desk."});
    let r = wiki.post("/api/v1/know/pages", new_page.clone()).await;
    assert_eq!(r.json()["revision_status"], "pending");
    let settings = "/admin/plugins/know/settings";
    let r = acme
        .post(settings, &[("csrf", &csrf), ("review_required", "maybe")])
        .await;
    assert_eq!(r.status, 400);
    assert!(r.body.contains("one of on, off"), "{}", r.body);
    let r = acme
        .post(settings, &[("csrf", &csrf), ("review_required", "off")])
        .await;
    assert_eq!(
        r.location(),
        "/admin/plugins?notice=plugin_settings_saved#plugin-know"
    );
    let r = wiki.post("/api/v1/know/pages", new_page).await;
    assert_eq!(r.json()["revision_status"], "stable", "{}", r.text);
    let listed = server.cli_ok(&["settings", "list", "--tenant", "acme"]);
    assert!(listed.contains("know.review_required = off"), "{listed}");

    // Down to starter: the next request is plan-gated; back up: it is served.
    let r = acme
        .post("/admin/billing", &[("csrf", &csrf), ("plan", "starter")])
        .await;
    assert_eq!(r.location(), "/admin/billing?notice=plan_changed");
    api.get("/api/v1/users")
        .await
        .assert_error(403, "plan_gated");
    acme.post(
        "/admin/billing",
        &[("csrf", &csrf), ("plan", "creator-plus")],
    )
    .await;
    assert_eq!(api.get("/api/v1/users").await.status, 200);

    // Each change is in the audit log, filterable by action.
    let page = acme.get("/admin/audit?action=plan.changed").await;
    assert_eq!(
        page.body.matches("<code>plan.changed</code>").count(),
        2,
        "{}",
        page.body
    );
    assert!(!page.body.contains("<code>plugin.disabled</code>"));
    let audit = server.cli_ok(&["audit", "list", "--tenant", "acme", "--json"]);
    assert!(audit.contains("plugin.know.review_required"), "{audit}");
    for action in [
        "settings.updated",
        "plugin.disabled",
        "plugin.enabled",
        "plan.changed",
    ] {
        assert!(audit.contains(action), "{action}");
    }
}

#[tokio::test]
async fn every_plugins_data_page_is_drawn_from_its_manifest() {
    let server = Server::start();
    server.create_tenant("acme", "pro");
    let mut acme = Console::new(&server, "acme");
    acme.set_up(&invite(&server, "acme", "ada@acme.example"))
        .await;
    let plugins = acme.get("/admin/plugins").await.body;
    let links: Vec<&str> = plugins
        .split("href=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .filter(|href| href.ends_with("/data"))
        .collect();
    assert!(links.len() >= 5, "{links:?}");
    for link in links {
        let page = acme.get(link).await;
        assert_eq!(page.status, 200, "{link}: {}", page.body);
        assert!(page.body.contains("<details"), "{link} has a write form");
    }
    // A plugin that may ask the AI provider loads its lists on request only.
    let helpdesk = acme.get("/admin/plugins/helpdesk/data").await.body;
    assert!(helpdesk.contains("?show=listTickets") && !helpdesk.contains("None yet."));
    let shown = acme
        .get("/admin/plugins/helpdesk/data?show=listTickets")
        .await
        .body;
    assert_eq!(shown.matches("None yet.").count(), 1, "{shown}");
    let r = acme.get("/admin/plugins/nothing/data").await;
    assert_eq!(r.status, 404);
    // A plugin turned off shows no data and takes no change.
    let csrf = acme.get("/admin/plugins").await.csrf();
    acme.post("/admin/plugins/market", &[("csrf", &csrf), ("on", "false")])
        .await;
    let page = acme.get("/admin/plugins/market/data").await;
    assert!(page.body.contains("is off for this community") && !page.body.contains("<details"));
    assert!(
        !server.log().contains("internal_error"),
        "no page failed on our side"
    );
}
