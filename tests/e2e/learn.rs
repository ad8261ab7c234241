//! Learn (embedded, on by default) through the real binary: a course from outline to a
//! certificate a JWT library checks against the tenant's published key; enrollments through
//! every state; cohort grants; SCORM 1.2 and 2004 packages parsed from uploaded zips, and the
//! hostile ones refused; live sessions whose invitations, reminders and cancellations reach a
//! real SMTP server, read back by an independent iCalendar parser.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use mail_parser::MimeHeaders;
use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::{ALL_CORE, Client, Resp, Server, eventually, ok, s};
use crate::helpdesk::person;
use crate::mail::{Delivered, Smtp};
use crate::market::events;

pub const LEARN: &str =
    "learn:read,learn:write,learn:cohorts:grant,groups:read,groups:write,files:read,files:write";

pub fn learn_tenant(server: &Server, slug: &str) -> Client {
    server.create_tenant(slug, "pro");
    let (_, key) = server.create_key(slug, "live", &format!("{ALL_CORE},{LEARN}"), &[]);
    server.client(slug).key(&key)
}

pub async fn created(client: &Client, path: &str, body: Value) -> Value {
    let r = client.post(path, body).await;
    assert_eq!(r.status, 201, "{path}: {}", r.text);
    r.json()
}

/// A published course with one lesson and the activities given (in that lesson).
pub async fn course_with(
    client: &Client,
    body: Value,
    activities: &[Value],
) -> (String, Vec<String>) {
    let course = created(client, "/api/v1/learn/courses", body).await;
    let id = s(&course["id"]);
    let module = created(
        client,
        &format!("/api/v1/learn/courses/{id}/modules"),
        json!({ "title": "Week 1" }),
    )
    .await;
    let lesson = created(
        client,
        &format!("/api/v1/learn/modules/{}/lessons", s(&module["id"])),
        json!({ "title": "Basics", "body": "# Read me" }),
    )
    .await;
    let mut ids = vec![];
    for a in activities {
        ids.push(s(&created(
            client,
            &format!("/api/v1/learn/lessons/{}/activities", s(&lesson["id"])),
            a.clone(),
        )
        .await["id"]));
    }
    ok(client
        .post(&format!("/api/v1/learn/courses/{id}/publish"), json!({}))
        .await);
    (id, ids)
}

pub async fn attempt(client: &Client, activity: &str, enrollment: &str) -> String {
    s(&created(
        client,
        &format!("/api/v1/learn/activities/{activity}/attempts"),
        json!({ "enrollment_id": enrollment }),
    )
    .await["id"])
}

pub async fn submit(client: &Client, attempt: &str, body: Value) -> Value {
    ok(client
        .post(&format!("/api/v1/learn/attempts/{attempt}/submit"), body)
        .await)
}

pub fn quiz() -> Value {
    json!({
        "kind": "quiz", "title": "Check", "passing_score": 50,
        "questions": [
            { "prompt": "2 + 2?", "choices": ["3", "4"], "answer": 1 },
            { "prompt": "Capital of France?", "choices": ["Paris", "Lyon", "Nice"], "answer": 0 }
        ]
    })
}

#[tokio::test]
async fn a_course_goes_from_outline_to_a_certificate_anyone_can_verify() {
    let server = Server::start();
    let acme = learn_tenant(&server, "acme");
    let ada = person(&acme, "ada", "Ada Lovelace").await;

    let template = created(
        &acme,
        "/api/v1/learn/certificate-templates",
        json!({ "name": "Completion", "title": "Certificate of completion" }),
    )
    .await;
    acme.post(
        "/api/v1/learn/certificate-templates",
        json!({ "name": "completion", "title": "x" }),
    )
    .await
    .assert_error(409, "name_taken");

    // An empty course cannot be published; bad outlines are refused field by field.
    let empty = created(&acme, "/api/v1/learn/courses", json!({ "title": "Empty" })).await;
    let r = acme
        .post(
            &format!("/api/v1/learn/courses/{}/publish", s(&empty["id"])),
            json!({}),
        )
        .await;
    r.assert_error(409, "course_incomplete");
    assert_eq!(
        r.json()["error"]["problems"][0],
        "The course has no lesson."
    );
    let module = created(
        &acme,
        &format!("/api/v1/learn/courses/{}/modules", s(&empty["id"])),
        json!({ "title": "M" }),
    )
    .await;
    let lesson = created(
        &acme,
        &format!("/api/v1/learn/modules/{}/lessons", s(&module["id"])),
        json!({ "title": "L" }),
    )
    .await;
    let activities = format!("/api/v1/learn/lessons/{}/activities", s(&lesson["id"]));
    for bad in [
        json!({ "kind": "quiz", "title": "No questions" }),
        json!({ "kind": "quiz", "title": "Bad key", "questions": [{ "prompt": "?", "choices": ["a", "b"], "answer": 2 }] }),
        json!({ "kind": "scorm", "title": "No package" }),
        json!({ "kind": "page", "title": "Page with questions", "questions": [] }),
        json!({ "kind": "video", "title": "Unknown kind" }),
        json!({ "kind": "page", "title": " " }),
    ] {
        acme.post(&activities, bad.clone())
            .await
            .assert_error(400, "validation_failed");
    }
    acme.post(
        "/api/v1/learn/courses",
        json!({ "title": "x", "min_score": 101 }),
    )
    .await
    .assert_error(400, "validation_failed");
    acme.post(
        "/api/v1/learn/courses",
        json!({ "title": "x", "certificate_template_id": "ctp_nope" }),
    )
    .await
    .assert_error(400, "validation_failed");

    let (course, acts) = course_with(
        &acme,
        json!({ "title": "Rust 101", "description": "Ownership and borrowing.", "min_score": 70, "certificate_template_id": template["id"] }),
        &[quiz(), json!({ "kind": "page", "title": "Further reading", "required": false })],
    )
    .await;
    let (quiz_id, page_id) = (&acts[0], &acts[1]);
    let got = ok(acme.get(&format!("/api/v1/learn/courses/{course}")).await);
    assert_eq!(got["status"], "published");
    assert_eq!(
        got["completion"],
        json!({ "required_activity_ids": [quiz_id], "min_score": 70.0 })
    );
    assert_eq!(
        got["modules"][0]["lessons"][0]["activities"][1]["id"],
        page_id.as_str()
    );
    acme.post(
        &format!("/api/v1/learn/courses/{course}/publish"),
        json!({}),
    )
    .await
    .assert_error(409, "invalid_course_state");
    let listed = ok(acme.get("/api/v1/learn/courses?status=published").await);
    assert_eq!(listed["total_count"], 1);

    // Enrollments: a draft takes none; one per user and course.
    acme.post(
        "/api/v1/learn/enrollments",
        json!({ "course_id": empty["id"], "user_id": ada }),
    )
    .await
    .assert_error(409, "course_not_published");
    acme.post(
        "/api/v1/learn/enrollments",
        json!({ "course_id": course, "user_id": "usr_nope" }),
    )
    .await
    .assert_error(400, "validation_failed");
    let enrollment = created(
        &acme,
        "/api/v1/learn/enrollments",
        json!({ "course_id": course, "user_id": ada }),
    )
    .await;
    let enr = s(&enrollment["id"]);
    assert_eq!(enrollment["status"], "active");
    assert_eq!(s(&enrollment["registration"]).len(), 36);
    let again = acme
        .post(
            "/api/v1/learn/enrollments",
            json!({ "course_id": course, "user_id": ada }),
        )
        .await;
    again.assert_error(409, "already_enrolled");
    assert_eq!(again.json()["error"]["enrollment_id"], enr.as_str());

    // A failed quiz satisfies nothing; a submitted attempt stays submitted.
    let first = attempt(&acme, quiz_id, &enr).await;
    acme.post(
        &format!("/api/v1/learn/attempts/{first}/submit"),
        json!({ "answers": [0] }),
    )
    .await
    .assert_error(400, "validation_failed");
    let failed = submit(&acme, &first, json!({ "answers": [0, 1] })).await;
    assert_eq!(
        (&failed["score"], &failed["satisfied"]),
        (&json!(0.0), &json!(false))
    );
    acme.post(
        &format!("/api/v1/learn/attempts/{first}/submit"),
        json!({ "answers": [1, 0] }),
    )
    .await
    .assert_error(409, "attempt_submitted");

    // Suspended: no attempts, progress kept; resumed.
    ok(acme
        .post(
            &format!("/api/v1/learn/enrollments/{enr}/suspend"),
            json!({}),
        )
        .await);
    acme.post(
        &format!("/api/v1/learn/activities/{quiz_id}/attempts"),
        json!({ "enrollment_id": enr }),
    )
    .await
    .assert_error(409, "enrollment_not_active");
    ok(acme
        .post(
            &format!("/api/v1/learn/enrollments/{enr}/resume"),
            json!({}),
        )
        .await);
    assert_eq!(
        ok(acme
            .get(&format!("/api/v1/learn/attempts?enrollment_id={enr}"))
            .await)["total_count"],
        1
    );

    // Half right: 50 passes the quiz, but the course's minimum is 70.
    let half = submit(
        &acme,
        &attempt(&acme, quiz_id, &enr).await,
        json!({ "answers": [1, 1] }),
    )
    .await;
    assert_eq!(
        (&half["score"], &half["satisfied"]),
        (&json!(50.0), &json!(true))
    );
    assert_eq!(
        ok(acme.get(&format!("/api/v1/learn/enrollments/{enr}")).await)["status"],
        "active"
    );
    acme.post(
        "/api/v1/learn/certificates",
        json!({ "enrollment_id": enr }),
    )
    .await
    .assert_error(409, "enrollment_not_completed");

    // All right: completed, and the certificate minted from the course's template.
    submit(
        &acme,
        &attempt(&acme, quiz_id, &enr).await,
        json!({ "answers": [1, 0] }),
    )
    .await;
    let done = ok(acme.get(&format!("/api/v1/learn/enrollments/{enr}")).await);
    assert_eq!(
        (&done["status"], &done["score"]),
        (&json!("completed"), &json!(100.0))
    );
    let completed = events(&acme, "enrollment.completed").await;
    assert_eq!(completed.len(), 1);
    let cert_id = s(&completed[0]["data"]["certificate_id"]);
    assert_eq!(events(&acme, "enrollment.created").await.len(), 1);
    assert_eq!(
        events(&acme, "course.published").await[0]["data"]["course"]["id"],
        course.as_str()
    );
    acme.post(
        "/api/v1/learn/certificates",
        json!({ "enrollment_id": enr }),
    )
    .await
    .assert_error(409, "already_certified");
    let cert = ok(acme
        .get(&format!("/api/v1/learn/certificates/{cert_id}"))
        .await);
    assert_eq!(
        (&cert["holder_name"], &cert["course_title"], &cert["status"]),
        (&json!("Ada Lovelace"), &json!("Rust 101"), &json!("valid"))
    );

    // Anyone verifies it, with no key: the page, and the credential against the published key.
    let public = server.client("acme");
    let verify_path = format!("/api/v1/learn/certificates/{cert_id}/verify");
    let page = ok(public.get(&verify_path).await);
    assert_eq!(
        (
            &page["valid"],
            &page["holder"]["name"],
            &page["course"]["name"]
        ),
        (&json!(true), &json!("Ada Lovelace"), &json!("Rust 101"))
    );
    let issuer = ok(public.get("/api/v1/learn/issuer").await);
    assert_eq!(issuer["type"], json!(["Profile"]));
    let claims = verified(&cert["credential"], &issuer);
    assert_eq!(
        claims["type"],
        json!(["VerifiableCredential", "OpenBadgeCredential"])
    );
    assert_eq!(
        claims["credentialSubject"]["achievement"]["name"],
        "Rust 101"
    );
    assert_eq!(claims["iss"], issuer["id"]);
    assert!(s(&claims["id"]).ends_with(&verify_path), "{}", claims["id"]);
    assert_eq!(s(&cert["verify_url"]), s(&claims["id"]));
    // A credential signed by anyone else is refused by the same check.
    let forged = tamper(&s(&cert["credential"]));
    assert!(
        verify_jwt(&forged, &issuer).is_err(),
        "a tampered credential verified"
    );
    public
        .get("/api/v1/learn/certificates")
        .await
        .assert_error(401, "missing_authorization");

    // Regenerated: same id and URL, the new name, a credential that still verifies.
    ok(acme
        .patch(
            &format!("/api/v1/learn/courses/{course}"),
            json!({ "title": "Rust 101 (2027)" }),
        )
        .await);
    let again = ok(acme
        .post(
            &format!("/api/v1/learn/certificates/{cert_id}/regenerate"),
            json!({}),
        )
        .await);
    assert_eq!(
        (&again["id"], &again["verify_url"], &again["version"]),
        (&cert["id"], &cert["verify_url"], &json!(2))
    );
    assert_eq!(again["course_title"], "Rust 101 (2027)");
    assert_eq!(
        verified(&again["credential"], &issuer)["credentialSubject"]["achievement"]["name"],
        "Rust 101 (2027)"
    );

    // Revoked: the page says so; the course archived keeps it verifiable.
    let revoked = ok(acme
        .post(
            &format!("/api/v1/learn/certificates/{cert_id}/revoke"),
            json!({ "reason": "issued in error" }),
        )
        .await);
    assert_eq!(revoked["status"], "revoked");
    acme.post(
        &format!("/api/v1/learn/certificates/{cert_id}/revoke"),
        json!({}),
    )
    .await
    .assert_error(409, "already_revoked");
    acme.post(
        &format!("/api/v1/learn/certificates/{cert_id}/regenerate"),
        json!({}),
    )
    .await
    .assert_error(409, "certificate_revoked");
    ok(acme
        .post(
            &format!("/api/v1/learn/courses/{course}/archive"),
            json!({}),
        )
        .await);
    let page = ok(public.get(&verify_path).await);
    assert_eq!(
        (&page["valid"], &page["status"], &page["revocation_reason"]),
        (&json!(false), &json!("revoked"), &json!("issued in error"))
    );
    let bob = person(&acme, "bob", "Bob").await;
    acme.post(
        "/api/v1/learn/enrollments",
        json!({ "course_id": course, "user_id": bob }),
    )
    .await
    .assert_error(409, "course_not_published");
    acme.patch(
        &format!("/api/v1/learn/courses/{course}"),
        json!({ "title": "x" }),
    )
    .await
    .assert_error(409, "invalid_course_state");
    acme.post(
        &format!("/api/v1/learn/courses/{course}/unpublish"),
        json!({}),
    )
    .await
    .assert_error(409, "invalid_course_state");
    public
        .get("/api/v1/learn/certificates/cer_nope/verify")
        .await
        .assert_error(404, "certificate_not_found");

    // Scopes: reading is not writing; granting a cohort is its own scope; another tenant sees nothing.
    let (_, read_key) = server.create_key("acme", "live", "learn:read", &[]);
    let reader = server.client("acme").key(&read_key);
    assert_eq!(reader.get("/api/v1/learn/courses").await.status, 200);
    reader
        .post("/api/v1/learn/courses", json!({ "title": "x" }))
        .await
        .assert_error(403, "insufficient_scope");
    let (_, write_key) = server.create_key("acme", "live", "learn:read,learn:write", &[]);
    let writer = server.client("acme").key(&write_key);
    writer
        .post(
            "/api/v1/learn/cohorts/grant",
            json!({ "cohort_id": "grp_x", "course_id": course }),
        )
        .await
        .assert_error(403, "insufficient_scope");
    let globex = learn_tenant(&server, "globex");
    globex
        .get(&format!("/api/v1/learn/courses/{course}"))
        .await
        .assert_error(404, "course_not_found");
    server
        .client("globex")
        .get(&verify_path)
        .await
        .assert_error(404, "certificate_not_found");
}

/// A course with one quiz and a certificate template, passed by a new learner: the minted
/// certificate's id.
async fn certified(client: &Client, username: &str) -> String {
    let learner = person(client, username, "Ada Lovelace").await;
    let template = created(
        client,
        "/api/v1/learn/certificate-templates",
        json!({ "name": format!("t-{username}"), "title": "Certificate" }),
    )
    .await;
    let (course, acts) = course_with(
        client,
        json!({ "title": "Rust 101", "certificate_template_id": template["id"] }),
        &[quiz()],
    )
    .await;
    let enrollment = created(
        client,
        "/api/v1/learn/enrollments",
        json!({ "course_id": course, "user_id": learner }),
    )
    .await;
    let enr = s(&enrollment["id"]);
    submit(
        client,
        &attempt(client, &acts[0], &enr).await,
        json!({ "answers": [1, 0] }),
    )
    .await;
    let done = ok(client
        .get(&format!("/api/v1/learn/enrollments/{enr}"))
        .await);
    assert_eq!(done["status"], "completed");
    let listed = ok(client
        .get(&format!("/api/v1/learn/certificates?user_id={learner}"))
        .await);
    s(&listed["data"][0]["id"])
}

/// The issuer key row as the tenant file holds it: the plaintext seed's length, the sealed one.
fn issuer_row(server: &Server, slug: &str) -> (i64, Option<String>) {
    server
        .live_file(slug)
        .query_row(
            "SELECT length(seed), sealed_seed FROM learn_issuer",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap()
}

#[tokio::test]
async fn the_issuer_key_is_sealed_and_opens_only_with_the_servers_secret() {
    let mut server = Server::start();
    let acme = learn_tenant(&server, "acme");
    let cert = certified(&acme, "ada").await;
    let regenerate = format!("/api/v1/learn/certificates/{cert}/regenerate");
    let (plain, sealed) = issuer_row(&server, "acme");
    assert_eq!(
        plain, 0,
        "the tenant file holds the issuer key in plaintext"
    );
    assert!(
        sealed
            .as_deref()
            .is_some_and(|v| v.starts_with("sealed.v1.")),
        "{sealed:?}"
    );
    let issuer = ok(server.client("acme").get("/api/v1/learn/issuer").await);
    verified(
        &ok(acme
            .get(&format!("/api/v1/learn/certificates/{cert}"))
            .await)["credential"],
        &issuer,
    );

    // The same files on a server with another secret (a tenant file copied without it): the
    // key does not open, so nothing is signed, and the operator's log says why.
    let secret_file = server.data_dir().join("server.secret");
    let secret = std::fs::read(&secret_file).unwrap();
    std::fs::write(&secret_file, [9u8; 32]).unwrap();
    server.restart();
    let acme = acme_again(&server).await;
    let r = acme.post(&regenerate, json!({})).await;
    assert_eq!(r.status, 500, "{}", r.text);
    assert!(!r.text.contains("sealed.v1"), "{}", r.text);
    let request_id = s(&r.json()["error"]["request_id"]);
    let log = server.log();
    assert!(
        log.lines()
            .any(|l| l.contains(&request_id) && l.contains("issuer key did not open")),
        "{log}"
    );
    // The public side needs no secret: the profile and the verify page still answer.
    assert_eq!(
        ok(server.client("acme").get("/api/v1/learn/issuer").await),
        issuer
    );
    ok(server
        .client("acme")
        .get(&format!("/api/v1/learn/certificates/{cert}/verify"))
        .await);

    // The right secret back: it signs again, with the same key.
    std::fs::write(&secret_file, &secret).unwrap();
    server.restart();
    let acme = acme_again(&server).await;
    let again = ok(acme.post(&regenerate, json!({})).await);
    verified(&again["credential"], &issuer);

    // A tenant file from before keys were sealed holds the seed in plaintext: it is sealed the
    // next time it signs, and signs with the same key.
    let globex = learn_tenant(&server, "globex");
    ok(globex.get("/api/v1/learn/courses").await);
    let seed = [7u8; 32];
    let mut pkcs8 = vec![
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ];
    pkcs8.extend(seed);
    let jwk = jsonwebtoken::jwk::Jwk::from_encoding_key(
        &jsonwebtoken::EncodingKey::from_ed_der(&pkcs8),
        jsonwebtoken::Algorithm::EdDSA,
    )
    .unwrap();
    let x = serde_json::to_value(&jwk).unwrap()["x"]
        .as_str()
        .unwrap()
        .to_owned();
    let public_key = {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(&x)
            .unwrap()
    };
    server
        .live_file("globex")
        .execute(
            "INSERT INTO learn_issuer (id, seed, public_key, name, base_url, created_at)
             VALUES (1, ?1, ?2, 'Globex', 'http://globex.localhost', '2026-01-01T00:00:00.000Z')",
            rusqlite::params![seed.to_vec(), public_key],
        )
        .unwrap();
    assert_eq!(issuer_row(&server, "globex"), (32, None));
    let cert = certified(&globex, "bob").await;
    let (plain, sealed) = issuer_row(&server, "globex");
    assert_eq!(plain, 0);
    assert!(sealed.is_some_and(|v| v.starts_with("sealed.v1.")));
    let issuer = ok(server.client("globex").get("/api/v1/learn/issuer").await);
    assert_eq!(
        issuer["verificationMethod"][0]["publicKeyJwk"]["x"],
        x.as_str()
    );
    verified(
        &ok(globex
            .get(&format!("/api/v1/learn/certificates/{cert}"))
            .await)["credential"],
        &issuer,
    );
}

/// A client for acme after a restart, with a key of its own (a client does not outlive its server).
async fn acme_again(server: &Server) -> Client {
    let (_, key) = server.create_key("acme", "live", &format!("{ALL_CORE},{LEARN}"), &[]);
    server.client("acme").key(&key)
}

/// The JWT's claims, checked by jsonwebtoken with the issuer's published key.
fn verified(token: &Value, issuer: &Value) -> Value {
    verify_jwt(&s(token), issuer).unwrap_or_else(|e| panic!("the credential does not verify: {e}"))
}

fn verify_jwt(token: &str, issuer: &Value) -> Result<Value, jsonwebtoken::errors::Error> {
    use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header, jwk::Jwk};
    let header = decode_header(token)?;
    let method = &issuer["verificationMethod"][0];
    assert_eq!(header.kid.as_deref(), method["id"].as_str());
    let jwk: Jwk = serde_json::from_value(method["publicKeyJwk"].clone()).unwrap();
    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    validation.set_issuer(&[s(&issuer["id"])]);
    Ok(decode::<Value>(token, &DecodingKey::from_jwk(&jwk)?, &validation)?.claims)
}

/// The same credential with one claim changed and the old signature.
fn tamper(token: &str) -> String {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
    let parts: Vec<&str> = token.split('.').collect();
    let mut claims: Value = serde_json::from_slice(&B64.decode(parts[1]).unwrap()).unwrap();
    claims["credentialSubject"]["name"] = json!("Mallory");
    format!(
        "{}.{}.{}",
        parts[0],
        B64.encode(serde_json::to_vec(&claims).unwrap()),
        parts[2]
    )
}

/// A zip of `(name, bytes)` entries.
pub fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = std::io::Cursor::new(vec![]);
    let mut zip = zip::ZipWriter::new(&mut out);
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, bytes) in entries {
        zip.start_file(*name, options).unwrap();
        zip.write_all(bytes).unwrap();
    }
    zip.finish().unwrap();
    out.into_inner()
}

const SCORM_12: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<manifest identifier="golf" version="1.0" xmlns="http://www.imsproject.org/xsd/imscp_rootv1p1p2" xmlns:adlcp="http://www.adlnet.org/xsd/adlcp_rootv1p2">
  <metadata><schema>ADL SCORM</schema><schemaversion>1.2</schemaversion></metadata>
  <organizations default="org1">
    <organization identifier="org1">
      <title>Golf Explained</title>
      <item identifier="i1" identifierref="r1"><title>Playing the game</title></item>
      <item identifier="i2"><title>Etiquette</title>
        <item identifier="i3" identifierref="r2" parameters="?page=2"><title>Care for the course</title></item>
      </item>
    </organization>
  </organizations>
  <resources>
    <resource identifier="r1" type="webcontent" adlcp:scormtype="sco" href="shared/launch.html"><file href="shared/launch.html"/></resource>
    <resource identifier="r2" type="webcontent" adlcp:scormtype="sco" xml:base="etiquette/" href="course.html"><file href="course.html"/></resource>
  </resources>
</manifest>"#;

pub const SCORM_2004: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<manifest identifier="m" version="1" xmlns="http://www.imsglobal.org/xsd/imscp_v1p1" xmlns:adlcp="http://www.adlnet.org/xsd/adlcp_v1p3">
  <metadata><schema>ADL SCORM</schema><schemaversion>2004 4th Edition</schemaversion></metadata>
  <organizations default="o"><organization identifier="o"><title>Safety 2004</title>
    <item identifier="s1" identifierref="r"><title>Lesson</title></item>
  </organization></organizations>
  <resources><resource identifier="r" type="webcontent" adlcp:scormType="sco" href="index.html"/></resources>
</manifest>"#;

async fn upload(client: &Client, name: &str, bytes: Vec<u8>) -> String {
    let r = client
        .send(
            Method::POST,
            &format!("/api/v1/files?filename={name}"),
            Some(("application/zip", bytes)),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let id = s(&r.json()["id"]);
    let status = eventually(Duration::from_secs(10), async || {
        let file = client.get(&format!("/api/v1/files/{id}")).await.json();
        (file["status"] != "quarantined").then(|| s(&file["status"]))
    })
    .await;
    assert_eq!(status, "clean");
    id
}

async fn package(client: &Client, entries: &[(&str, &[u8])]) -> Resp {
    let file = upload(client, "package.zip", zip_of(entries)).await;
    client
        .post("/api/v1/learn/scorm-packages", json!({ "file_id": file }))
        .await
}

#[tokio::test]
async fn cohorts_are_granted_once_and_scorm_packages_are_parsed_or_refused() {
    let server = Server::start();
    let acme = learn_tenant(&server, "acme");

    // SCORM 1.2: organizations, nested items, launch paths with xml:base and parameters.
    let r = package(
        &acme,
        &[
            ("imsmanifest.xml", SCORM_12.as_bytes()),
            ("shared/launch.html", b"<html/>"),
            ("etiquette/course.html", b"<html/>"),
        ],
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let v12 = r.json();
    assert_eq!(
        (&v12["version"], &v12["title"]),
        (&json!("1.2"), &json!("Golf Explained"))
    );
    assert_eq!(
        v12["scos"],
        json!([
            { "item": "i1", "title": "Playing the game", "launch": "shared/launch.html" },
            { "item": "i3", "title": "Care for the course", "launch": "etiquette/course.html?page=2" }
        ])
    );
    let i3 = &v12["organizations"][0]["items"][2];
    assert_eq!(
        (&i3["identifier"], &i3["parent"], &i3["depth"]),
        (&json!("i3"), &json!("i2"), &json!(1))
    );
    let r = package(
        &acme,
        &[
            ("imsmanifest.xml", SCORM_2004.as_bytes()),
            ("index.html", b"<html/>"),
        ],
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(
        (&r.json()["version"], &r.json()["edition"]),
        (&json!("2004"), &json!("4th"))
    );
    let v2004 = s(&r.json()["id"]);

    // Hostile or broken packages: each refused with what is wrong.
    let no_sco = SCORM_2004.replace("adlcp:scormType=\"sco\"", "adlcp:scormType=\"asset\"");
    let escaping = SCORM_2004.replace("href=\"index.html\"", "href=\"../../etc/passwd\"");
    let many: Vec<(String, Vec<u8>)> = (0..10_001)
        .map(|i| (format!("f/{i}.txt"), vec![]))
        .collect();
    let mut many_refs: Vec<(&str, &[u8])> = many
        .iter()
        .map(|(n, b)| (n.as_str(), b.as_slice()))
        .collect();
    many_refs.push(("imsmanifest.xml", SCORM_2004.as_bytes()));
    let bomb = vec![0u8; 600 * 1024 * 1024];
    for (entries, says) in [
        (
            vec![("index.html", b"<html/>".as_slice())],
            "no imsmanifest.xml",
        ),
        (
            vec![("imsmanifest.xml", no_sco.as_bytes()), ("index.html", b"x")],
            "no SCO",
        ),
        (
            vec![
                ("imsmanifest.xml", SCORM_2004.as_bytes()),
                ("../evil.html", b"x"),
            ],
            "leaves the package",
        ),
        (
            vec![("imsmanifest.xml", escaping.as_bytes())],
            "leaves the package",
        ),
        (
            vec![("imsmanifest.xml", SCORM_2004.as_bytes())],
            "not in the package",
        ),
        (
            vec![("imsmanifest.xml", b"<manifest><oops".as_slice())],
            "not well-formed",
        ),
        (many_refs, "entries; at most 10000"),
        (
            vec![
                ("imsmanifest.xml", SCORM_2004.as_bytes()),
                ("index.html", b"x"),
                ("zeros.bin", bomb.as_slice()),
            ],
            "zip bomb",
        ),
    ] {
        let r = package(&acme, &entries).await;
        r.assert_error(400, "invalid_package");
        assert!(
            r.json()["error"]["message"]
                .as_str()
                .unwrap()
                .contains(says),
            "{says}: {}",
            r.text
        );
    }
    acme.post(
        "/api/v1/learn/scorm-packages",
        json!({ "file_id": "fil_nope" }),
    )
    .await
    .assert_error(400, "validation_failed");

    // Packages a third-party tool made (simple-scorm-packager, from npm), 1.2 and 2004.
    for (version, parsed) in [
        ("1.2", ("1.2", Value::Null)),
        ("2004 4th Edition", ("2004", json!("4th"))),
    ] {
        let Some(zip) = third_party_package(version) else {
            break;
        };
        let file = upload(&acme, "packaged.zip", zip).await;
        let r = acme
            .post("/api/v1/learn/scorm-packages", json!({ "file_id": file }))
            .await;
        assert_eq!(r.status, 201, "{version}: {}", r.text);
        let p = r.json();
        assert_eq!(
            (&p["version"], &p["edition"], &p["title"]),
            (&json!(parsed.0), &parsed.1, &json!("Safety First")),
            "{version}"
        );
        assert_eq!(p["scos"][0]["launch"], "index.html", "{version}");
    }

    // A SCORM 2004 course completes from the package's own CMI data; suspend_data is not capped at 4,096.
    let (course, acts) = course_with(
        &acme,
        json!({ "title": "Safety" }),
        &[json!({ "kind": "scorm", "title": "Module", "scorm_package_id": v2004 })],
    )
    .await;
    let ada = person(&acme, "ada", "Ada").await;
    let bob = person(&acme, "bob", "Bob").await;
    let gone = person(&acme, "cy", "Cy").await;
    let enr = s(&created(
        &acme,
        "/api/v1/learn/enrollments",
        json!({ "course_id": course, "user_id": ada }),
    )
    .await["id"]);
    let att = attempt(&acme, &acts[0], &enr).await;
    let suspend_data = "x".repeat(20_000);
    let committed = ok(acme
        .patch(
            &format!("/api/v1/learn/attempts/{att}"),
            json!({ "cmi": { "cmi.suspend_data": suspend_data, "cmi.location": "p3" } }),
        )
        .await);
    assert_eq!(
        committed["cmi"]["cmi.suspend_data"].as_str().unwrap().len(),
        20_000
    );
    acme.patch(
        &format!("/api/v1/learn/attempts/{att}"),
        json!({ "cmi": { "not.cmi": "x" } }),
    )
    .await
    .assert_error(400, "validation_failed");
    let done = submit(&acme, &att, json!({ "cmi": { "cmi.completion_status": "completed", "cmi.success_status": "passed", "cmi.score.scaled": "0.85" } })).await;
    assert_eq!(
        (
            &done["score"],
            &done["satisfied"],
            &done["cmi"]["cmi.location"]
        ),
        (&json!(85.0), &json!(true), &json!("p3"))
    );
    assert_eq!(
        ok(acme.get(&format!("/api/v1/learn/enrollments/{enr}")).await)["status"],
        "completed"
    );

    // A cohort: granted once; a second grant creates nothing; a cancelled member comes back.
    let group = created(
        &acme,
        "/api/v1/groups",
        json!({ "display_name": "Cohort A" }),
    )
    .await;
    let gid = s(&group["id"]);
    // Dee is a member whom her identity provider deactivated: she cannot be enrolled.
    let dee = person(&acme, "dee", "Dee").await;
    let scim = server
        .client("acme")
        .key(&crate::scim::token(&server, "acme"));
    let deactivate = json!({ "schemas": [crate::scim::PATCH_OP], "Operations": [{ "op": "replace", "path": "active", "value": false }] });
    let r = crate::scim::send(
        &scim,
        Method::PATCH,
        &format!("/scim/v2/Users/{dee}"),
        deactivate,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    for user in [&ada, &bob, &gone, &dee] {
        assert_eq!(
            acme.post(
                &format!("/api/v1/groups/{gid}/members"),
                json!({ "user_id": user })
            )
            .await
            .status,
            201
        );
    }
    let grant = json!({ "cohort_id": gid, "course_id": course });
    let first = ok(acme
        .post("/api/v1/learn/cohorts/grant", grant.clone())
        .await);
    assert_eq!(first["created"].as_array().unwrap().len(), 2, "{first}");
    assert_eq!(first["already_enrolled"], json!([enr]));
    assert_eq!(
        first["failed"],
        json!([{ "user_id": dee, "reason": "user_inactive" }])
    );
    let second = ok(acme
        .post("/api/v1/learn/cohorts/grant", grant.clone())
        .await);
    assert_eq!(
        (
            second["created"].as_array().unwrap().len(),
            second["already_enrolled"].as_array().unwrap().len(),
            second["failed"].as_array().unwrap().len()
        ),
        (0, 3, 1)
    );
    let bobs = ok(acme
        .get(&format!("/api/v1/learn/enrollments?user_id={bob}"))
        .await);
    assert_eq!(bobs["data"][0]["cohort_id"], gid.as_str());
    let bob_enr = s(&bobs["data"][0]["id"]);
    ok(acme
        .post(
            &format!("/api/v1/learn/enrollments/{bob_enr}/cancel"),
            json!({}),
        )
        .await);
    acme.post(
        &format!("/api/v1/learn/enrollments/{bob_enr}/cancel"),
        json!({}),
    )
    .await
    .assert_error(409, "invalid_enrollment_state");
    let third = ok(acme.post("/api/v1/learn/cohorts/grant", grant).await);
    assert_eq!(third["created"][0]["id"], bob_enr.as_str());
    assert_eq!(events(&acme, "enrollment.created").await.len(), 3);
    acme.post(
        "/api/v1/learn/cohorts/grant",
        json!({ "cohort_id": "grp_nope", "course_id": course }),
    )
    .await
    .assert_error(404, "cohort_not_found");
}

/// A SCORM zip of a one-page course made by simple-scorm-packager (npm), through
/// `scripts/scorm-package.js`; `None` (after saying so) when it is not installed, unless
/// `MOBIEUS_SCORM_PACKAGER` names where it is (CI), where a failure fails the test.
fn third_party_package(version: &str) -> Option<Vec<u8>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned();
    let modules = match std::env::var("MOBIEUS_SCORM_PACKAGER") {
        Ok(dir) => PathBuf::from(dir),
        Err(_) => root.join("target/npm/node_modules"),
    };
    if !modules.join("simple-scorm-packager").exists() {
        assert!(
            std::env::var("MOBIEUS_SCORM_PACKAGER").is_err(),
            "MOBIEUS_SCORM_PACKAGER names {} but simple-scorm-packager is not there",
            modules.display()
        );
        eprintln!(
            "skipped: no simple-scorm-packager (npm install --prefix target/npm simple-scorm-packager@0.2.7)"
        );
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let (course, out) = (dir.path().join("course"), dir.path().join("out"));
    std::fs::create_dir_all(&course).unwrap();
    std::fs::write(
        course.join("index.html"),
        "<html><body>Wear a helmet.</body></html>",
    )
    .unwrap();
    let status = std::process::Command::new("node")
        .arg(root.join("scripts/scorm-package.js"))
        .args([version, course.to_str().unwrap(), out.to_str().unwrap()])
        .env("NODE_PATH", &modules)
        .stdout(std::process::Stdio::null())
        .status()
        .expect("node");
    assert!(status.success(), "scorm-package.js {version}");
    let zip = std::fs::read_dir(&out)
        .unwrap()
        .next()
        .expect("a zip")
        .unwrap()
        .path();
    Some(std::fs::read(zip).unwrap())
}

/// The calendar attached to a delivered message, parsed by the `ical` crate.
fn invite(mail: &Delivered) -> (String, ical::parser::ical::component::IcalCalendar) {
    let message = mail_parser::MessageParser::default()
        .parse(&mail.data)
        .unwrap();
    let part = message
        .attachments()
        .find(|a| a.attachment_name() == Some("invite.ics"))
        .expect("an invite.ics");
    let content_type = part
        .content_type()
        .map(|c| c.attribute("method").unwrap_or_default().to_owned())
        .unwrap_or_default();
    let text = String::from_utf8(part.contents().to_vec()).unwrap();
    let calendar = ical::IcalParser::new(text.as_bytes())
        .next()
        .expect("a calendar")
        .expect("a valid calendar");
    (content_type, calendar)
}

fn prop(props: &[ical::property::Property], name: &str) -> String {
    props
        .iter()
        .find(|p| p.name == name)
        .and_then(|p| p.value.clone())
        .unwrap_or_default()
}

fn subjects(inbox: &crate::mail::Inbox) -> Vec<(String, String)> {
    inbox
        .delivered
        .lock()
        .unwrap()
        .iter()
        .map(|d| {
            let m = mail_parser::MessageParser::default()
                .parse(&d.data)
                .unwrap();
            (d.to.join(","), m.subject().unwrap_or_default().to_owned())
        })
        .collect()
}

#[tokio::test]
async fn live_sessions_invite_remind_and_cancel_over_smtp() {
    let smtp = Smtp::start("Acme <learn@acme.test>", 0);
    let inbox = smtp.inbox.clone();
    let server = Server::start_with(&smtp.with(&[]));
    let acme = learn_tenant(&server, "acme");
    let ada = person(&acme, "ada", "Ada").await;
    let bob = person(&acme, "bob", "Bob").await;
    let group = created(
        &acme,
        "/api/v1/groups",
        json!({ "display_name": "Cohort B" }),
    )
    .await;
    let gid = s(&group["id"]);
    for user in [&ada, &bob] {
        acme.post(
            &format!("/api/v1/groups/{gid}/members"),
            json!({ "user_id": user }),
        )
        .await;
    }
    let at = |ms: i64| {
        let t = std::time::SystemTime::now() + Duration::from_millis(ms as u64);
        httpdate_free_rfc3339(t)
    };
    let session = |title: &str, url: &str, start_ms: i64| json!({ "cohort_id": gid, "title": title, "join_url": url, "starts_at": at(start_ms) });

    // Providers by domain suffix, https only.
    for (url, provider) in [
        ("https://meet.google.com/abc-defg-hij", "meet"),
        ("https://acme.zoom.us/j/123", "zoom"),
        ("https://zoom.us/j/1", "zoom"),
        ("https://acme.webex.com/meet/x", "webex"),
    ] {
        let made = created(
            &acme,
            "/api/v1/learn/live-sessions",
            session("Provider", url, 3 * 86_400_000),
        )
        .await;
        assert_eq!(made["provider"], provider, "{url}");
    }
    for url in [
        "http://zoom.us/j/1",
        "https://zoom.us.evil.example/j/1",
        "https://evilzoom.us/j/1",
        "https://user@zoom.us/j/1",
        "https://webex.com.evil/x",
        "not a url",
    ] {
        acme.post(
            "/api/v1/learn/live-sessions",
            session("Bad", url, 86_400_000),
        )
        .await
        .assert_error(400, "validation_failed");
    }
    let mut bad = session("Bad", "https://zoom.us/j/1", 86_400_000);
    bad["duration_min"] = json!(721);
    acme.post("/api/v1/learn/live-sessions", bad)
        .await
        .assert_error(400, "validation_failed");
    acme.post(
        "/api/v1/learn/live-sessions",
        session("Past", "https://zoom.us/j/1", -60_000),
    )
    .await
    .assert_error(400, "validation_failed");
    acme.post("/api/v1/learn/live-sessions", json!({ "cohort_id": "grp_nope", "title": "x", "join_url": "https://zoom.us/j/1", "starts_at": at(86_400_000) }))
        .await
        .assert_error(404, "cohort_not_found");
    // Eight invitations so far: four sessions, two members each.
    eventually(Duration::from_secs(20), async || {
        (inbox.delivered.lock().unwrap().len() >= 8).then_some(())
    })
    .await;
    inbox.delivered.lock().unwrap().clear();

    // Starts in an hour and 4 s: the day-before reminder is past (skipped), the hour-before one fires in 4 s.
    let soon = created(
        &acme,
        "/api/v1/learn/live-sessions",
        session(
            "Kick-off",
            "https://meet.google.com/abc-defg-hij",
            3_600_000 + 4_000,
        ),
    )
    .await;
    assert_eq!(soon["invited"], 2);
    // Cancelled before its reminder: only the cancellation goes out. A line break in its join URL
    // tries to add an attendee to the invitation; one in a title is refused.
    let inject = "\r\nATTENDEE:mailto:mallory@evil.example";
    acme.post(
        "/api/v1/learn/live-sessions",
        session(
            &format!("Dropped{inject}"),
            "https://zoom.us/j/9",
            86_400_000,
        ),
    )
    .await
    .assert_error(400, "validation_failed");
    let dropped = created(
        &acme,
        "/api/v1/learn/live-sessions",
        session(
            "Dropped",
            &format!("https://zoom.us/j/9{inject}"),
            3_600_000 + 4_000,
        ),
    )
    .await;
    assert!(!s(&dropped["join_url"]).contains('\n'), "{dropped}");
    // Bob leaves the cohort: what is sent from now on (the cancellation, the reminder) goes to
    // the members of now, Ada alone.
    assert_eq!(
        acme.delete(&format!("/api/v1/groups/{gid}/members/{bob}"))
            .await
            .status,
        200
    );
    let cancelled = ok(acme
        .post(
            &format!("/api/v1/learn/live-sessions/{}/cancel", s(&dropped["id"])),
            json!({}),
        )
        .await);
    assert_eq!(
        (&cancelled["status"], &cancelled["sequence"]),
        (&json!("cancelled"), &json!(1))
    );
    acme.post(
        &format!("/api/v1/learn/live-sessions/{}/cancel", s(&dropped["id"])),
        json!({}),
    )
    .await
    .assert_error(409, "live_session_cancelled");

    let all = eventually(Duration::from_secs(30), async || {
        let got = inbox.delivered.lock().unwrap().clone();
        (got.len() >= 6).then_some(got)
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let got = subjects(&inbox);
    assert_eq!(got.len(), 6, "{got:?}");
    let count = |prefix: &str| got.iter().filter(|(_, s)| s.starts_with(prefix)).count();
    assert_eq!(
        (
            count("Invitation: Kick-off"),
            count("Invitation: Dropped"),
            count("Cancelled: Dropped")
        ),
        (2, 2, 1),
        "{got:?}"
    );
    assert_eq!(
        (
            count("Reminder: Kick-off starts in an hour"),
            count("Reminder: Dropped")
        ),
        (1, 0),
        "{got:?}"
    );
    for (to, subject) in &got {
        if !subject.starts_with("Invitation") {
            assert_eq!(to, "ada@example.com", "{subject}");
        }
    }

    // The invitation and the cancellation, read by an independent parser: one UID, a higher SEQUENCE.
    let find = |subject: &str| {
        all.iter()
            .find(|d| {
                mail_parser::MessageParser::default()
                    .parse(&d.data)
                    .unwrap()
                    .subject()
                    .unwrap_or_default()
                    .starts_with(subject)
            })
            .cloned()
            .unwrap()
    };
    let (method, request) = invite(&find("Invitation: Dropped"));
    assert_eq!(method.to_ascii_uppercase(), "REQUEST");
    assert_eq!(prop(&request.properties, "METHOD"), "REQUEST");
    let event = &request.events[0].properties;
    assert!(event.iter().all(|p| p.name != "ATTENDEE"), "{event:?}");
    assert_eq!(prop(event, "UID"), s(&dropped["uid"]));
    assert_eq!(prop(event, "SEQUENCE"), "0");
    assert_eq!(
        prop(event, "DTSTART"),
        s(&dropped["starts_at"])
            .replace(['-', ':'], "")
            .split('.')
            .next()
            .unwrap()
            .to_owned()
            + "Z"
    );
    let (_, cancel) = invite(&find("Cancelled: Dropped"));
    assert_eq!(prop(&cancel.properties, "METHOD"), "CANCEL");
    let event = &cancel.events[0].properties;
    assert_eq!(
        (
            prop(event, "UID"),
            prop(event, "SEQUENCE"),
            prop(event, "STATUS")
        ),
        (s(&dropped["uid"]), "1".to_owned(), "CANCELLED".to_owned())
    );

    // A recording once the session has started, to the members active now.
    let started = created(
        &acme,
        "/api/v1/learn/live-sessions",
        session("Short", "https://zoom.us/j/5", 1_500),
    )
    .await;
    let recording = format!(
        "/api/v1/learn/live-sessions/{}/recording",
        s(&started["id"])
    );
    acme.post(
        &recording,
        json!({ "recording_url": "https://zoom.us/rec/1" }),
    )
    .await
    .assert_error(409, "live_session_not_started");
    tokio::time::sleep(Duration::from_millis(1_600)).await;
    acme.post(
        &recording,
        json!({ "recording_url": "http://zoom.us/rec/1" }),
    )
    .await
    .assert_error(400, "validation_failed");
    let with = ok(acme
        .post(
            &recording,
            json!({ "recording_url": "https://zoom.us/rec/1" }),
        )
        .await);
    assert_eq!(with["recording_url"], "https://zoom.us/rec/1");
    eventually(Duration::from_secs(20), async || {
        subjects(&inbox)
            .iter()
            .any(|(_, s)| s == "Recording: Short")
            .then_some(())
    })
    .await;
    let listed = ok(acme
        .get(&format!(
            "/api/v1/learn/live-sessions?cohort_id={gid}&status=cancelled"
        ))
        .await);
    assert_eq!(listed["total_count"], 1);
}

/// `t` as RFC 3339 UTC with milliseconds.
fn httpdate_free_rfc3339(t: std::time::SystemTime) -> String {
    let ms = t.duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap()
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}
