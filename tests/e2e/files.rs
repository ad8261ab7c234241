//! Host-owned files through the real binary: streamed uploads, the tenant's size cap, quarantine
//! and its scan (sniffed type, EICAR, a clamd on loopback), downloads of clean files only, and
//! `file.uploaded`.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::harness::{ALL_CORE, Client, Resp, Server, eventually};
use crate::market::{MARKET, events};

const FILES: &str = "files:read,files:write";
const EICAR: &[u8] = br"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";
const PNG: &[u8] =
    b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89";

fn files_tenant(server: &Server, slug: &str) -> Client {
    server.create_tenant(slug, "pro");
    let scopes = format!("{ALL_CORE},{FILES},{MARKET},reports:write");
    let (_, key) = server.create_key(slug, "live", &scopes, &[]);
    server.client(slug).key(&key)
}

async fn upload(client: &Client, name: &str, content_type: &str, bytes: &[u8]) -> Resp {
    client
        .send(
            Method::POST,
            &format!("/api/v1/files?filename={name}"),
            Some((content_type, bytes.to_vec())),
        )
        .await
}

async fn uploaded(client: &Client, name: &str, content_type: &str, bytes: &[u8]) -> String {
    let r = upload(client, name, content_type, bytes).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.json()["status"], "quarantined");
    r.json()["id"].as_str().unwrap().to_owned()
}

/// Waits until the scan decided; returns the file.
async fn scanned(client: &Client, id: &str) -> Value {
    eventually(Duration::from_secs(10), async || {
        let file = client.get(&format!("/api/v1/files/{id}")).await.json();
        (file["status"] != "quarantined").then_some(file)
    })
    .await
}

#[tokio::test]
async fn uploads_wait_in_quarantine_and_only_clean_files_are_served() {
    let server = Server::start();
    let acme = files_tenant(&server, "acme");

    let text = uploaded(&acme, "notes%20v1.txt", "text/plain", b"hello world").await;
    let clean = scanned(&acme, &text).await;
    assert_eq!(
        (&clean["status"], &clean["size"], &clean["filename"]),
        (&json!("clean"), &json!(11), &json!("notes v1.txt"))
    );
    assert_eq!(
        clean["sha256"],
        "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9"
    );
    let r = acme.get(&format!("/api/v1/files/{text}/content")).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.text, "hello world");
    assert_eq!(r.header("content-type"), Some("text/plain"));
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    assert!(
        r.header("content-disposition")
            .unwrap()
            .starts_with("attachment;"),
        "{:?}",
        r.headers
    );

    let image = uploaded(&acme, "dot.png", "image/png", PNG).await;
    assert_eq!(scanned(&acme, &image).await["sniffed_type"], "image/png");

    // Rejected: the EICAR signature, a type the bytes contradict, an image that is not one.
    for (name, content_type, bytes, why) in [
        (
            "eicar.txt",
            "text/plain",
            EICAR,
            "malware: EICAR test signature",
        ),
        (
            "cat.jpg",
            "image/jpeg",
            PNG,
            "content_type_mismatch: declared image/jpeg, the content is image/png",
        ),
        (
            "fake.png",
            "image/png",
            &b"just text"[..],
            "content_type_mismatch: declared image/png, the content has no image/png signature",
        ),
    ] {
        let id = uploaded(&acme, name, content_type, bytes).await;
        let file = scanned(&acme, &id).await;
        assert_eq!(
            (&file["status"], &file["reason"]),
            (&json!("rejected"), &json!(why)),
            "{name}"
        );
        let r = acme.get(&format!("/api/v1/files/{id}/content")).await;
        r.assert_error(409, "file_rejected");
        assert_eq!(r.json()["error"]["reason"], why);
    }

    // Only the clean ones were announced, each with the file as it became.
    let announced = events(&acme, "file.uploaded").await;
    let ids: Vec<&str> = announced
        .iter()
        .map(|e| e["data"]["file"]["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [text.as_str(), image.as_str()]);
    assert_eq!(announced[0]["data"]["file"]["status"], "clean");

    let list = acme.get("/api/v1/files?status=rejected").await.json();
    assert_eq!(list["total_count"], 3);
    assert_eq!(acme.get("/api/v1/files").await.json()["total_count"], 5);
    acme.get("/api/v1/files?status=lost")
        .await
        .assert_error(400, "validation_failed");
    acme.get("/api/v1/files/file_01NOPE")
        .await
        .assert_error(404, "file_not_found");
    acme.get("/api/v1/files/file_01NOPE/content")
        .await
        .assert_error(404, "file_not_found");
}

#[tokio::test]
async fn uploads_are_capped_checked_and_idempotent() {
    let server = Server::start();
    let acme = files_tenant(&server, "acme");
    server.set_setting("acme", "files.max_upload_bytes", "1000");
    let r = upload(&acme, "big.bin", "application/octet-stream", &[7; 1001]).await;
    r.assert_error(413, "payload_too_large");
    assert_eq!(r.json()["error"]["limit"], 1000);
    uploaded(&acme, "fits.bin", "application/octet-stream", &[7; 1000]).await;
    // A body sent without a length (chunked) is cut off at the cap too.
    let status = chunked_upload(&server, &acme, &[&[1; 600], &[2; 600]]).await;
    assert!(status.starts_with("HTTP/1.1 413"), "{status}");

    upload(&acme, "empty.txt", "text/plain", b"")
        .await
        .assert_error(400, "validation_failed");
    for bad in ["a%2Fb", "..", "%00x"] {
        let r = upload(&acme, bad, "text/plain", b"x").await;
        r.assert_error(400, "validation_failed");
        assert_eq!(r.json()["error"]["field"], "filename");
    }
    upload(&acme, "x.txt", "not a type", b"x")
        .await
        .assert_error(415, "unsupported_media_type");
    acme.send(
        Method::POST,
        "/api/v1/files?filename=a&colour=red",
        Some(("text/plain", b"x".to_vec())),
    )
    .await
    .assert_error(400, "validation_failed");
    // No body at all: an empty file.
    let r = acme.send(Method::POST, "/api/v1/files", None).await;
    r.assert_error(400, "validation_failed");

    // Same Idempotency-Key and bytes: one file, replayed; other bytes: refused.
    let keyed = acme.clone().header("idempotency-key", "upload-1");
    let first = upload(&keyed, "a.txt", "text/plain", b"one").await;
    assert_eq!(first.status, 201, "{}", first.text);
    let again = upload(&keyed, "a.txt", "text/plain", b"one").await;
    assert_eq!(again.status, 201);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(again.json()["id"], first.json()["id"]);
    upload(&keyed, "a.txt", "text/plain", b"two")
        .await
        .assert_error(422, "idempotency_key_reused");
    // 1000-byte file, a.txt: two files in all; nothing was kept of the refusals.
    assert_eq!(acme.get("/api/v1/files").await.json()["total_count"], 2);
    let tmp = server.data_dir().join("tenants/acme/files/live/tmp");
    assert_eq!(std::fs::read_dir(tmp).unwrap().count(), 0);

    // Scopes.
    let (_, reader) = server.create_key("acme", "live", "files:read", &[]);
    let reader = server.client("acme").key(&reader);
    let r = upload(&reader, "a.txt", "text/plain", b"x").await;
    r.assert_error(403, "insufficient_scope");
    assert_eq!(r.json()["error"]["required_scope"], "files:write");
    let (_, nobody) = server.create_key("acme", "live", "events:read", &[]);
    let r = server
        .client("acme")
        .key(&nobody)
        .get("/api/v1/files")
        .await;
    r.assert_error(403, "insufficient_scope");
    assert_eq!(r.json()["error"]["required_scope"], "files:read");
}

/// Sends an upload with `Transfer-Encoding: chunked` (no length up front); returns the status line.
async fn chunked_upload(server: &Server, client: &Client, chunks: &[&[u8]]) -> String {
    let (_, key) = server.create_key("acme", "live", "files:write", &[]);
    let mut conn = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let head = format!(
        "POST /api/v1/files HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {key}\r\n\
         Content-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n\r\n",
        client.host
    );
    conn.write_all(head.as_bytes()).await.unwrap();
    for chunk in chunks {
        let _ = conn
            .write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
            .await;
        let _ = conn.write_all(chunk).await;
        let _ = conn.write_all(b"\r\n").await;
    }
    let _ = conn.write_all(b"0\r\n\r\n").await;
    let mut answer = vec![0; 512];
    let n = conn.read(&mut answer).await.unwrap();
    String::from_utf8_lossy(&answer[..n])
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn listings_and_reports_point_at_files_the_scan_did_not_reject() {
    let server = Server::start();
    let acme = files_tenant(&server, "acme");
    let seller = acme.user("sam").await;
    let photo = uploaded(&acme, "bike.png", "image/png", PNG).await;
    let virus = uploaded(&acme, "eicar.com", "application/octet-stream", EICAR).await;
    scanned(&acme, &photo).await;
    assert_eq!(scanned(&acme, &virus).await["status"], "rejected");
    let body = |files: Value| json!({"title": "Bike", "price": 100, "currency": "EUR", "seller_id": seller, "file_ids": files});
    let r = acme
        .post("/api/v1/listings", body(json!([photo.clone()])))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.json()["file_ids"], json!([photo.clone()]));
    for files in [json!([virus]), json!([photo.clone(), photo.clone()])] {
        let r = acme.post("/api/v1/listings", body(files)).await;
        r.assert_error(400, "validation_failed");
        assert_eq!(r.json()["error"]["field"], "file_ids");
    }
    let r = acme
        .post(
            "/api/v1/reports",
            json!({"target": {"type": "file", "id": photo}, "reason": "stolen photo"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
}

/// A clamd on loopback speaking `zINSTREAM`: anything containing `VIRUS` is found.
async fn fake_clamd() -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let task = tokio::spawn(async move {
        loop {
            let Ok((mut conn, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut command = [0u8; 10];
                conn.read_exact(&mut command).await.unwrap();
                assert_eq!(&command, b"zINSTREAM\0");
                let mut data = vec![];
                loop {
                    let len = conn.read_u32().await.unwrap() as usize;
                    if len == 0 {
                        break;
                    }
                    let mut chunk = vec![0; len];
                    conn.read_exact(&mut chunk).await.unwrap();
                    data.extend(chunk);
                }
                let found = data.windows(5).any(|w| w == b"VIRUS");
                let answer: &[u8] = if found {
                    b"stream: Win.Test.Fake FOUND\0"
                } else {
                    b"stream: OK\0"
                };
                conn.write_all(answer).await.unwrap();
            });
        }
    });
    (addr, task)
}

#[tokio::test]
async fn clamd_has_the_last_word_and_an_unreachable_one_keeps_files_in_quarantine() {
    let (addr, _clamd) = fake_clamd().await;
    let server = Server::start_with(&["--clamd", &addr]);
    let acme = files_tenant(&server, "acme");
    let bad = uploaded(&acme, "a.txt", "text/plain", b"a VIRUS inside").await;
    let good = uploaded(&acme, "b.txt", "text/plain", b"nothing to see").await;
    let file = scanned(&acme, &bad).await;
    assert_eq!(
        (&file["status"], &file["reason"]),
        (&json!("rejected"), &json!("malware: Win.Test.Fake"))
    );
    assert_eq!(scanned(&acme, &good).await["status"], "clean");

    // Nothing listens here: fail closed.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let nowhere = closed.local_addr().unwrap().to_string();
    drop(closed);
    let server = Server::start_with(&["--clamd", &nowhere]);
    let acme = files_tenant(&server, "acme");
    let id = uploaded(&acme, "c.txt", "text/plain", b"fine, probably").await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        acme.get(&format!("/api/v1/files/{id}")).await.json()["status"],
        "quarantined"
    );
    acme.get(&format!("/api/v1/files/{id}/content"))
        .await
        .assert_error(409, "file_quarantined");
    assert!(events(&acme, "file.uploaded").await.is_empty());
    assert!(
        server.log().contains("file scan postponed"),
        "{}",
        server.log()
    );
}

#[tokio::test]
async fn a_scan_cut_short_by_a_crash_runs_when_the_server_is_back() {
    // An unreachable clamd holds the upload in quarantine; the restarted server (without it)
    // finds the file on its start-up sweep and scans it.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let nowhere = closed.local_addr().unwrap().to_string();
    drop(closed);
    let mut server = Server::start_with(&["--clamd", &nowhere]);
    let acme = files_tenant(&server, "acme");
    let id = uploaded(&acme, "c.txt", "text/plain", b"fine").await;
    server.restart_with(&[]);
    let acme = server.client("acme").key(&acme_key_read(&server));
    assert_eq!(scanned(&acme, &id).await["status"], "clean");
}

fn acme_key_read(server: &Server) -> String {
    server
        .create_key("acme", "live", &format!("{FILES},events:read"), &[])
        .1
}
