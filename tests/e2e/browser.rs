//! The console and the API reference in a real headless Chromium (Debian's `chromium` and
//! `chromium-driver`, which `.ci/run` installs), driven over WebDriver. Each page's screenshot is
//! written to `target/tmp/screenshots/` for a reviewer to look at.
//!
//! Without Chromium these tests say so and pass, unless `MOBIEUS_BROWSER_TESTS=required` (CI
//! sets it), where a missing browser fails them.

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

use crate::admin::{PASSWORD, invite};
use crate::harness::{Server, eventually};
use crate::receiver::{Receiver, Reply};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// A chromedriver process and a browser session; both end when dropped.
struct Browser {
    client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Killing chromedriver alone would orphan the Chromium it started (still running after
        // the suite); they share a process group of their own, so it all goes.
        // SAFETY: kill(2) with a process group id; no memory is involved.
        unsafe { libc::kill(-(self.driver.id() as libc::pid_t), libc::SIGKILL) };
        let _ = self.driver.wait();
    }
}

fn screenshots() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The browser, or `None` (after saying why) when this machine has none and none is required.
async fn browser() -> Option<Browser> {
    if !(std::path::Path::new(CHROMIUM).exists() && std::path::Path::new(CHROMEDRIVER).exists()) {
        let required = std::env::var("MOBIEUS_BROWSER_TESTS").is_ok_and(|v| v == "required");
        assert!(
            !required,
            "MOBIEUS_BROWSER_TESTS=required but {CHROMIUM} or {CHROMEDRIVER} is missing"
        );
        eprintln!(
            "skipped: no {CHROMIUM}/{CHROMEDRIVER} (apt-get install chromium chromium-driver)"
        );
        return None;
    }
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let driver = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .process_group(0)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromedriver");
    let profile = tempfile::tempdir().unwrap();
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": CHROMIUM,
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-quic", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--window-size=1280,1000",
                format!("--user-data-dir={}", profile.path().display()),
            ]
        }),
    );
    let url = format!("http://127.0.0.1:{port}");
    let mut last = None;
    for _ in 0..100 {
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        match ClientBuilder::new(connector)
            .capabilities(caps.clone())
            .connect(&url)
            .await
        {
            Ok(client) => {
                return Some(Browser {
                    client,
                    driver,
                    _profile: profile,
                });
            }
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no WebDriver session: {last:?}");
}

impl Browser {
    async fn open(&self, url: &str) {
        self.client
            .goto(url)
            .await
            .unwrap_or_else(|e| panic!("open {url}: {e}"));
    }

    async fn shot(&self, name: &str) {
        let png = self.client.screenshot().await.unwrap();
        std::fs::write(screenshots().join(format!("{name}.png")), png).unwrap();
    }

    async fn fill(&self, css: &str, value: &str) {
        let field = self
            .client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"));
        field.clear().await.unwrap();
        field.send_keys(value).await.unwrap();
    }

    async fn click(&self, css: &str) {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"))
            .click()
            .await
            .unwrap();
    }

    /// Clicks something that loads a new page (a link, a form's button) and waits for it.
    async fn follow(&self, css: &str) {
        self.client
            .execute("window.__old_page = true", vec![])
            .await
            .unwrap();
        self.click(css).await;
        eventually(Duration::from_secs(10), async || {
            let script = "return document.readyState === 'complete' && !window.__old_page";
            let loaded = self.client.execute(script, vec![]).await.ok()?;
            (loaded == json!(true)).then_some(())
        })
        .await;
    }

    async fn text(&self, css: &str) -> String {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"))
            .text()
            .await
            .unwrap()
    }

    async fn source(&self) -> String {
        self.client.source().await.unwrap()
    }

    async fn path(&self) -> String {
        self.client.current_url().await.unwrap().path().to_owned()
    }

    /// Invites `email` to `tenant`'s console and follows the setup link: signed in after.
    async fn set_up(&self, server: &Server, tenant: &str, email: &str) {
        let link = invite(server, tenant, email).replace(
            "localhost:8080",
            &format!("localhost:{}", server.addr.port()),
        );
        self.open(&link).await;
        self.shot("setup").await;
        self.fill("input[name=password]", PASSWORD).await;
        self.fill("input[name=confirm]", PASSWORD).await;
        self.follow("button[type=submit]").await;
    }
}

/// Chromium resolves `*.localhost` to loopback itself, so the browser uses real tenant hosts.
fn base(server: &Server, tenant: &str) -> String {
    format!("http://{tenant}.localhost:{}", server.addr.port())
}

#[tokio::test]
async fn an_admin_mints_limits_and_revokes_a_key_and_the_api_follows() {
    let Some(b) = browser().await else { return };
    let server = Server::start();
    server.create_tenant("acme", "pro");
    b.set_up(&server, "acme", "ada@acme.example").await;
    assert_eq!(b.path().await, "/admin/api-keys", "{}", server.log());

    // Mint a key with one scope; it is shown once.
    b.fill("input[name=label]", "Reporting bot").await;
    b.click("input[name=scopes][value='users:read']").await;
    b.follow("form[action='/admin/api-keys'] button[type=submit]")
        .await;
    let plaintext = b.text("#new-key").await;
    assert!(plaintext.starts_with("mc_live_"), "{plaintext}");
    b.shot("api-keys-created").await;
    b.open(&format!("{}/admin/api-keys", base(&server, "acme")))
        .await;
    b.shot("api-keys").await;
    assert!(!b.source().await.contains(&plaintext), "shown once only");

    // The key works from an HTTP client, with the platform's limit.
    let api = server.client("acme").key(&plaintext);
    let r = api.get("/api/v1/users").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.header("x-ratelimit-limit"), Some("600"));

    // A per-key limit set in the console is the next request's limit.
    b.follow("a[href$='/edit']").await;
    b.fill("input[name=rate_limit]", "7").await;
    b.shot("api-key-edit").await;
    b.follow("form[action$='/edit'] button[type=submit]").await;
    assert!(b.source().await.contains("The key was updated."));
    let r = api.get("/api/v1/users").await;
    assert_eq!(r.header("x-ratelimit-limit"), Some("7"));

    // Revoked after a confirmation: the next call is refused.
    b.follow("a[href$='/revoke']").await;
    b.shot("api-key-revoke").await;
    b.follow("button.danger").await;
    assert!(b.source().await.contains("The key was revoked."));
    api.get("/api/v1/users")
        .await
        .assert_error(401, "invalid_api_key");

    // Every page renders, for the reviewer too; none shows the key again.
    for (page, name) in [
        ("/admin/api/settings", "api-settings"),
        ("/admin/webhooks", "webhooks"),
        ("/admin/plugins", "plugins"),
        ("/admin/billing", "billing"),
        ("/admin/scim", "scim"),
        ("/admin/audit", "audit"),
    ] {
        b.open(&format!("{}{page}", base(&server, "acme"))).await;
        assert_eq!(b.path().await, page);
        assert!(!b.source().await.contains(&plaintext));
        b.shot(name).await;
    }
    assert!(b.source().await.contains("api_key.revoked"));
    assert!(!server.log().contains(&plaintext));

    // On a phone's width the console still fits: nothing wider than the screen.
    b.client.set_window_size(390, 844).await.unwrap();
    b.open(&format!("{}/admin/api-keys", base(&server, "acme")))
        .await;
    let overflow = b
        .client
        .execute(
            "return document.documentElement.scrollWidth > window.innerWidth + 1",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        overflow,
        json!(false),
        "the page scrolls sideways on a phone"
    );
    b.shot("api-keys-phone").await;
}

#[tokio::test]
async fn the_webhook_page_shows_an_attempt_a_real_receiver_answered() {
    let Some(b) = browser().await else { return };
    let server = Server::start_with(&[
        "--webhook-allow-http",
        "--webhook-allow-cidr",
        "127.0.0.0/8",
    ]);
    let api = server.tenant_with_key("acme");
    let receiver = Receiver::http().await;
    receiver.answer(|_| Reply::status(200).body("{\"received\":\"thanks from the receiver\"}"));
    let r = api
        .post(
            "/api/v1/webhooks",
            json!({"url": receiver.url("/hooks"), "events": ["*"]}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.json()["id"].as_str().unwrap().to_owned();

    // Log in through the form this time.
    let link = invite(&server, "acme", "ada@acme.example");
    let mut console = crate::admin::Console::new(&server, "acme");
    console.set_up(&link).await;
    b.open(&format!("{}/admin/login", base(&server, "acme")))
        .await;
    b.shot("login").await;
    b.fill("input[name=email]", "ada@acme.example").await;
    b.fill("input[name=password]", PASSWORD).await;
    b.follow("button[type=submit]").await;
    assert_eq!(b.path().await, "/admin/api-keys");

    b.open(&format!("{}/admin/webhooks", base(&server, "acme")))
        .await;
    b.follow(&format!("a[href^='/admin/webhooks/{id}']")).await;
    b.follow(&format!("form[action='/admin/webhooks/{id}/test'] button"))
        .await;
    assert!(b.source().await.contains("A test event is on its way"));
    let url = format!("{}/admin/webhooks/{id}", base(&server, "acme"));
    eventually(Duration::from_secs(15), async || {
        b.open(&url).await;
        b.source().await.contains("succeeded").then_some(())
    })
    .await;
    let attempt = b.text(".attempt").await;
    assert!(attempt.contains("200"), "{attempt}");
    assert!(attempt.contains(" ms"), "latency shown: {attempt}");
    assert!(
        attempt.contains("thanks from the receiver"),
        "body excerpt shown: {attempt}"
    );
    assert_eq!(receiver.received().len(), 1);
    b.shot("webhook").await;
}

#[tokio::test]
async fn the_api_reference_renders_offline_with_nothing_from_elsewhere() {
    let Some(b) = browser().await else { return };
    let server = Server::start();
    server.create_tenant("acme", "pro");
    b.open(&format!("{}/api/docs", base(&server, "acme"))).await;
    eventually(Duration::from_secs(20), async || {
        b.source().await.contains("createListing").then_some(())
    })
    .await;
    let title = b.text("h1").await;
    assert!(title.contains("Mobieus API"), "{title}");
    // Every resource the page loaded came from this host.
    let origins = b
        .client
        .execute(
            "return performance.getEntriesByType('resource').map(e => new URL(e.name).origin)",
            vec![],
        )
        .await
        .unwrap();
    let own = base(&server, "acme");
    for origin in origins.as_array().unwrap() {
        assert_eq!(origin.as_str().unwrap(), own, "{origins}");
    }
    let font = b
        .client
        .execute("return document.fonts.check('16px Inter')", vec![])
        .await
        .unwrap();
    assert_eq!(font, json!(true), "the vendored font loaded");
    b.shot("api-docs").await;
}

#[tokio::test]
async fn the_community_data_page_makes_an_event_through_its_form() {
    let Some(b) = browser().await else { return };
    let server = Server::start();
    server.create_tenant("acme", "pro");
    b.set_up(&server, "acme", "ada@acme.example").await;

    b.open(&format!("{}/admin/plugins", base(&server, "acme")))
        .await;
    b.follow("a[href='/admin/plugins/community/data']").await;
    assert_eq!(b.path().await, "/admin/plugins/community/data");
    // The form is folded until asked for.
    let form = "#op-communityCreateEvent";
    b.click(&format!("{form} summary")).await;
    b.fill(&format!("{form} input[name='body.slug']"), "meetup")
        .await;
    b.fill(&format!("{form} input[name='body.title']"), "Winter meetup")
        .await;
    b.fill(
        &format!("{form} input[name='body.starts_at']"),
        "2030-01-15T18:00:00Z",
    )
    .await;
    b.fill(
        &format!("{form} textarea[name='body.description']"),
        "Talks, then food.",
    )
    .await;
    b.shot("community-data-form").await;
    b.follow(&format!("{form} button[type=submit]")).await;
    let page = b.source().await;
    assert!(page.contains("the plugin accepted the change"), "{page}");
    assert!(page.contains("Winter meetup"));
    b.shot("community-data").await;

    // The API reads what the console made.
    let key =
        crate::communities::cobuntu_key(&server, "acme", "live", "publishable", "READ_PUBLIC");
    let r = server
        .client("acme")
        .header("x-api-key", &key)
        .get("/api/v1/communities/acme/events/meetup")
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["description"], "Talks, then food.");
}
