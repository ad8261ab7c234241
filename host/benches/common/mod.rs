//! What the load harnesses share: the release binary, its CLI, one-off requests.
#![allow(dead_code)]

pub mod drive;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;

/// Serves `handle` over HTTP/1.1 on a loopback port (a fake AI provider); its address. Each
/// request gets its body read and answered with what `handle` returns for it.
pub async fn serve_loopback<F, Fut>(handle: F) -> SocketAddr
where
    F: Fn(Bytes) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = Bytes> + Send + 'static,
{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let handle = handle.clone();
            tokio::spawn(async move {
                let service =
                    hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                        let handle = handle.clone();
                        async move {
                            let body = req.into_body().collect().await.unwrap().to_bytes();
                            let answer = handle(body).await;
                            Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(
                                answer,
                            )))
                        }
                    });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

/// A whole number from the environment (`LOAD_SECS=5`), else `default`.
pub fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// The load generator's runtime: one worker thread, so it leaves the other core to the server.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap()
}

/// The binary under test: this build's, or another one named by `LOAD_BIN` (to compare two
/// builds in one run of the same harness, alternating, so the box's drift moves both).
pub fn bin() -> String {
    std::env::var("LOAD_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_mobieus").to_owned())
}

/// The guestbook plugin under test: this build's, or another build named by `LOAD_GUESTBOOK`
/// (to compare two SDKs' plugins on one host).
pub fn guestbook_wasm() -> String {
    std::env::var("LOAD_GUESTBOOK").unwrap_or_else(|_| env!("MOBIEUS_GUESTBOOK_WASM").to_owned())
}

/// Starts `mobieus serve` on a free port; returns the child and its address.
pub fn start(data: &str) -> (Child, SocketAddr) {
    start_with(data, &[])
}

pub fn start_with(data: &str, extra: &[&str]) -> (Child, SocketAddr) {
    let mut child = Command::new(bin())
        .args(["--data-dir", data, "serve", "--listen", "127.0.0.1:0"])
        .args(extra)
        .env("MOBIEUS_LOG", "error")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start mobieus");
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let addr = loop {
        let line = lines.next().expect("server exited").unwrap();
        if let Some(addr) = line.strip_prefix("mobieus listening on http://") {
            break addr.parse().unwrap();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    (child, addr)
}

pub fn cli(data: &str, args: &[&str]) -> String {
    let out = Command::new(bin())
        .args(["--data-dir", data])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Sets `tenant`'s AI provider (`anthropic` or `openai`) at `url`, its key given on stdin as
/// `mobieus ai set` takes it.
pub fn set_ai_provider(data: &str, tenant: &str, provider: &str, model: &str, url: &str) {
    use std::io::Write;
    let mut child = Command::new(bin())
        .args(["--data-dir", data, "ai", "set", "--tenant", tenant])
        .args(["--provider", provider, "--model", model, "--base-url", url])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"sk-bench\n")
        .unwrap();
    assert!(child.wait().unwrap().success());
}

/// A live key of `tenant` holding `scopes`, with no rate limit to speak of; its plaintext.
pub fn unlimited_key(data: &str, tenant: &str, scopes: &str) -> String {
    let key = cli(
        data,
        &[
            "key",
            "create",
            "--tenant",
            tenant,
            "--env",
            "live",
            "--quiet",
            "--rate-limit",
            "1000000000",
            "--scopes",
            scopes,
        ],
    );
    key.trim().to_owned()
}

/// A keep-alive HTTP/1 connection to the server (no Nagle delay), its driver spawned.
pub async fn connect(addr: SocketAddr) -> hyper::client::conn::http1::SendRequest<Full<Bytes>> {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.set_nodelay(true).unwrap();
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    sender
}

pub async fn request(
    addr: SocketAddr,
    host: &str,
    key: Option<&str>,
    method: &str,
    path: &str,
    body: Option<Vec<u8>>,
) -> (u16, Bytes) {
    let mut sender = connect(addr).await;
    let mut b = Request::builder()
        .method(method)
        .uri(path)
        .header("host", host);
    if let Some(key) = key {
        b = b.header("authorization", format!("Bearer {key}"));
    }
    if body.is_some() {
        b = b.header("content-type", "application/json");
    }
    let resp = sender
        .send_request(
            b.body(Full::new(Bytes::from(body.unwrap_or_default())))
                .unwrap(),
        )
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.into_body().collect().await.unwrap().to_bytes())
}

/// A JSON call that must succeed (2xx): its answer. For seeding before a run.
pub async fn call(
    addr: SocketAddr,
    host: &str,
    key: &str,
    method: &str,
    path: &str,
    body: serde_json::Value,
) -> serde_json::Value {
    let (status, body) = request(
        addr,
        host,
        Some(key),
        method,
        path,
        Some(body.to_string().into_bytes()),
    )
    .await;
    assert!((200..300).contains(&status), "{path}: {status}");
    serde_json::from_slice(&body).unwrap()
}

/// Waits until `GET path` answers 200 (a plugin's first request migrates the tenant's tables).
pub async fn until_answered(addr: SocketAddr, host: &str, key: &str, path: &str) {
    for _ in 0..100 {
        if request(addr, host, Some(key), "GET", path, None).await.0 == 200 {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("{path} never answered");
}
