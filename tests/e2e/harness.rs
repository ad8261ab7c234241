//! Starts the real `mobieus` binary on a free port with a temp data dir and speaks HTTP to it.
//! Tenant hosts (`acme.localhost`) do not resolve here, so the client connects to 127.0.0.1 and
//! sends the `Host` header.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, StatusCode};
use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_mobieus");

pub struct Server {
    child: Option<Child>,
    pub addr: SocketAddr,
    dir: tempfile::TempDir,
    /// Whatever `serve` printed to stdout before it listened (the first-start banner).
    pub banner: String,
    extra_args: Vec<String>,
}

impl Server {
    pub fn start() -> Server {
        Server::start_with(&[])
    }

    pub fn start_with(args: &[&str]) -> Server {
        let dir = tempfile::tempdir().expect("temp dir");
        let extra_args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        let (child, addr, banner) = spawn(dir.path(), &extra_args);
        Server {
            child: Some(child),
            addr,
            dir,
            banner,
            extra_args,
        }
    }

    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }

    /// A tenant's live database file, opened beside the server (or after it stopped).
    pub fn live_file(&self, slug: &str) -> rusqlite::Connection {
        rusqlite::Connection::open(self.data_dir().join(format!("tenants/{slug}/live.db"))).unwrap()
    }

    /// The process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Waits up to `timeout` for the process to exit by itself; its exit status.
    pub fn wait(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            let child = self.child.as_mut()?;
            if let Ok(Some(status)) = child.try_wait() {
                self.child = None;
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    /// SIGKILL: no shutdown hook runs.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the binary again on the same data dir (and a new port).
    pub fn restart(&mut self) {
        self.kill();
        let (child, addr, _) = spawn(self.dir.path(), &self.extra_args);
        self.child = Some(child);
        self.addr = addr;
    }

    /// Starts the binary again on the same data dir with other flags.
    pub fn restart_with(&mut self, args: &[&str]) {
        self.extra_args = args.iter().map(|s| s.to_string()).collect();
        self.restart();
    }

    /// The server's log so far (stderr).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    /// Runs `mobieus --data-dir <this server's dir> ARGS`.
    pub fn cli(&self, args: &[&str]) -> Output {
        command()
            .arg("--data-dir")
            .arg(self.dir.path())
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run mobieus")
    }

    /// Runs `mobieus --data-dir <this server's dir> ARGS` with `input` on stdin; asserts success
    /// and returns stdout.
    pub fn cli_stdin_ok(&self, args: &[&str], input: &str) -> String {
        use std::io::Write;
        let mut child = command()
            .arg("--data-dir")
            .arg(self.dir.path())
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run mobieus");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "mobieus {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8")
    }

    /// Like [`Server::cli`], and asserts success; returns stdout.
    pub fn cli_ok(&self, args: &[&str]) -> String {
        let out = self.cli(args);
        assert!(
            out.status.success(),
            "mobieus {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8")
    }

    /// `mobieus settings set --tenant <tenant> <key> <value>`, asserted to succeed; its stdout.
    pub fn set_setting(&self, tenant: &str, key: &str, value: &str) -> String {
        self.cli_ok(&["settings", "set", "--tenant", tenant, key, value])
    }

    pub fn create_tenant(&self, slug: &str, plan: &str) {
        self.cli_ok(&["tenant", "create", slug, "--plan", plan]);
    }

    /// The tenant as `tenant list --json` shows it.
    pub fn listed_tenant(&self, slug: &str) -> Value {
        let list: Value =
            serde_json::from_str(&self.cli_ok(&["tenant", "list", "--json"])).expect("json");
        list.as_array()
            .expect("a list")
            .iter()
            .find(|t| t["slug"] == slug)
            .unwrap_or_else(|| panic!("no tenant {slug} in {list}"))
            .clone()
    }

    /// Mints a key and returns (id, plaintext).
    pub fn create_key(
        &self,
        tenant: &str,
        env: &str,
        scopes: &str,
        extra: &[&str],
    ) -> (String, String) {
        let mut args = vec![
            "key", "create", "--tenant", tenant, "--env", env, "--scopes", scopes, "--json",
        ];
        args.extend_from_slice(extra);
        let out: Value = serde_json::from_str(&self.cli_ok(&args)).expect("json");
        (
            out["id"].as_str().unwrap().to_owned(),
            out["key"].as_str().unwrap().to_owned(),
        )
    }

    /// A tenant with a live key holding every core scope.
    pub fn tenant_with_key(&self, slug: &str) -> Client {
        self.create_tenant(slug, "pro");
        let (_, key) = self.create_key(slug, "live", ALL_CORE, &[]);
        self.client(slug).key(&key)
    }

    pub fn client(&self, tenant: &str) -> Client {
        Client {
            http: reqwest::Client::new(),
            addr: self.addr,
            host: format!("{tenant}.localhost:{}", self.addr.port()),
            headers: HeaderMap::new(),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

pub const ALL_CORE: &str =
    "events:read,users:read,users:write,posts:read,posts:write,webhooks:read,webhooks:manage";

/// The binary, with the compiled-plugin cache every test server shares: each first-party plugin
/// is compiled once per run, not once per server.
fn command() -> Command {
    let mut command = Command::new(BIN);
    command.env(
        "MOBIEUS_PLUGIN_CACHE_DIR",
        Path::new(env!("CARGO_TARGET_TMPDIR")).join("plugin-cache"),
    );
    command
}

fn spawn(dir: &Path, extra: &[String]) -> (Child, SocketAddr, String) {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("server.log"))
        .expect("log file");
    let mut child = command()
        .arg("--data-dir")
        .arg(dir)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(extra)
        .env("MOBIEUS_LOG", "debug")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(log))
        .spawn()
        .expect("start mobieus");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut banner = String::new();
        let mut sent = false;
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if !sent {
                if let Some(addr) = line.strip_prefix("mobieus listening on http://") {
                    let _ = tx.send((addr.parse::<SocketAddr>().expect("address"), banner.clone()));
                    sent = true;
                } else {
                    banner.push_str(&line);
                    banner.push('\n');
                }
            }
        }
    });
    let (addr, banner) = rx
        .recv_timeout(Duration::from_secs(30))
        .unwrap_or_else(|_| {
            panic!(
                "server did not start: {}",
                std::fs::read_to_string(dir.join("server.log")).unwrap_or_default()
            )
        });
    (child, addr, banner)
}

/// Polls `f` until it returns `Some` or `timeout` passes.
pub async fn eventually<T>(timeout: Duration, mut f: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "condition not met within {timeout:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    addr: SocketAddr,
    pub host: String,
    headers: HeaderMap,
}

#[derive(Debug)]
pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub text: String,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The error code of an envelope, after checking the envelope's shape and request id.
    pub fn code(&self) -> String {
        let body = self.json();
        let error = &body["error"];
        let request_id = error["request_id"]
            .as_str()
            .expect("request_id in envelope");
        assert_eq!(
            Some(request_id),
            self.header("x-request-id"),
            "envelope and header ids differ"
        );
        assert!(error["message"].is_string(), "{body}");
        error["code"].as_str().expect("code").to_owned()
    }

    /// The envelope's code, or "" when the body is not an error envelope.
    pub fn code_or_empty(&self) -> String {
        serde_json::from_str::<Value>(&self.text)
            .ok()
            .and_then(|v| v["error"]["code"].as_str().map(str::to_owned))
            .unwrap_or_default()
    }

    /// Asserts the status and the error code.
    pub fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(self.status.as_u16(), status, "{}", self.text);
        assert_eq!(self.code(), code, "{}", self.text);
    }
}

impl Client {
    pub fn key(self, key: &str) -> Client {
        self.header("authorization", &format!("Bearer {key}"))
    }

    pub fn header(mut self, name: &str, value: &str) -> Client {
        self.headers.insert(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
        self
    }

    pub async fn send(&self, method: Method, path: &str, body: Option<(&str, Vec<u8>)>) -> Resp {
        let url = format!("http://{}{}", self.addr, path);
        let mut req = self
            .http
            .request(method, url)
            .headers(self.headers.clone())
            .header("host", &self.host);
        if let Some((content_type, bytes)) = body {
            req = req.header("content-type", content_type).body(bytes);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status();
        let headers = resp.headers().clone();
        let text = resp.text().await.expect("body");
        Resp {
            status,
            headers,
            text,
        }
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.send(Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Resp {
        self.send(
            Method::POST,
            path,
            Some(("application/json", body.to_string().into_bytes())),
        )
        .await
    }

    pub async fn patch(&self, path: &str, body: Value) -> Resp {
        self.send(
            Method::PATCH,
            path,
            Some(("application/json", body.to_string().into_bytes())),
        )
        .await
    }

    pub async fn delete(&self, path: &str) -> Resp {
        self.send(Method::DELETE, path, None).await
    }

    /// Creates a user and returns its id.
    pub async fn user(&self, username: &str) -> String {
        let r = self
            .post("/api/v1/users", serde_json::json!({ "username": username }))
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        r.json()["id"].as_str().unwrap().to_owned()
    }

    /// Creates a post and returns its id.
    pub async fn post_by(&self, author: &str, body: &str) -> String {
        let r = self
            .post(
                "/api/v1/posts",
                serde_json::json!({ "author_id": author, "body": body }),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        r.json()["id"].as_str().unwrap().to_owned()
    }
}

/// A JSON string's text; panics (naming the value) on anything else.
pub fn s(v: &Value) -> String {
    v.as_str()
        .unwrap_or_else(|| panic!("not a string: {v}"))
        .to_owned()
}

/// The body of a `200`; panics with the body on any other status.
pub fn ok(r: Resp) -> Value {
    assert_eq!(r.status, 200, "{}", r.text);
    r.json()
}
