//! Learn's xAPI LRS through the real binary, for what ADL's conformance suite
//! (scripts/xapi-conformance.sh) does not check: HTTP Basic on the LRS's paths only, the key's
//! scopes, a tenant's statements out of another tenant's reach, live and test apart, and the
//! statements Learn records of its own progress.

use base64::Engine;
use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::{ALL_CORE, Client, Resp, Server, ok, s};
use crate::helpdesk::person;
use crate::learn::{LEARN, attempt, course_with, created, learn_tenant, quiz, submit};

const XAPI: &str = "/api/v1/learn/xapi";
const RW: &str = "learn:xapi:read,learn:xapi:write";

fn basic(user: &str, password: &str) -> String {
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Basic {encoded}")
}

/// A client of the LRS: the given Authorization and the xAPI version header.
fn lrs(server: &Server, tenant: &str, authorization: &str) -> Client {
    server
        .client(tenant)
        .header("authorization", authorization)
        .header("x-experience-api-version", "1.0.3")
}

fn statement(verb: &str) -> Value {
    json!({
        "actor": { "objectType": "Agent", "name": "Ada", "mbox": "mailto:ada@example.com" },
        "verb": { "id": format!("http://example.com/verbs/{verb}"), "display": { "en-US": verb } },
        "object": { "id": "http://example.com/activities/intro" }
    })
}

async fn store(client: &Client, statement: Value) -> String {
    let r = client.post(&format!("{XAPI}/statements"), statement).await;
    assert_eq!(r.status, 200, "{}", r.text);
    s(&r.json()[0])
}

async fn by_id(client: &Client, id: &str) -> Resp {
    client
        .get(&format!("{XAPI}/statements?statementId={id}"))
        .await
}

#[tokio::test]
async fn basic_auth_is_taken_on_the_lrs_paths_only_and_the_keys_scopes_decide() {
    let server = Server::start();
    server.create_tenant("acme", "pro");
    let (_, key) = server.create_key("acme", "live", &format!("{ALL_CORE},{LEARN},{RW}"), &[]);
    let (_, reader) = server.create_key("acme", "live", "learn:xapi:read", &[]);
    let (_, learn_only) = server.create_key("acme", "live", "learn:read,learn:write", &[]);

    // The key as the username with no password, as the password with any username, as Bearer.
    let as_user = lrs(&server, "acme", &basic(&key, ""));
    let id = store(&as_user, statement("tried")).await;
    for authorization in [basic("xapi", &key), format!("Bearer {key}")] {
        let r = by_id(&lrs(&server, "acme", &authorization), &id).await;
        assert_eq!(r.status, 200, "{authorization}: {}", r.text);
        assert_eq!(r.header("x-experience-api-version"), Some("1.0.3"));
        assert!(r.header("x-experience-api-consistent-through").is_some());
    }

    // A Basic header without a valid key is 401, still speaking xAPI's version.
    for bad in [
        basic("xapi", "not-a-key"),
        basic("nobody", ""),
        "Basic %%%".into(),
    ] {
        let r = by_id(&lrs(&server, "acme", &bad), &id).await;
        assert_eq!(r.status, 401, "{bad}: {}", r.text);
        assert_eq!(r.header("x-experience-api-version"), Some("1.0.3"));
        assert!(r.json()["error"]["request_id"].is_string());
    }
    // Elsewhere under /api/v1 a Basic header stays refused, even with a good key.
    let r = lrs(&server, "acme", &basic(&key, ""))
        .get("/api/v1/learn/courses")
        .await;
    r.assert_error(401, "invalid_authorization");
    assert_eq!(r.header("x-experience-api-version"), None);

    // xAPI's errors keep its statuses, with our envelope and request id.
    let r = server
        .client("acme")
        .header("authorization", &basic(&key, ""))
        .get(&format!("{XAPI}/statements"))
        .await;
    r.assert_error(400, "xapi_bad_request");
    assert!(r.json()["error"]["request_id"].is_string());
    assert_eq!(r.header("x-experience-api-version"), Some("1.0.3"));

    // Scopes: learn:xapi:read reads and cannot write; Learn's own scopes grant nothing here.
    let read_only = lrs(&server, "acme", &basic(&reader, ""));
    assert_eq!(by_id(&read_only, &id).await.status, 200);
    read_only
        .post(&format!("{XAPI}/statements"), statement("wrote"))
        .await
        .assert_error(403, "insufficient_scope");
    let learn = lrs(&server, "acme", &basic(&learn_only, ""));
    by_id(&learn, &id)
        .await
        .assert_error(403, "insufficient_scope");

    // HEAD answers as GET does, without the body; `about` needs no key.
    let head = as_user
        .send(
            Method::HEAD,
            &format!("{XAPI}/statements?statementId={id}"),
            None,
        )
        .await;
    assert_eq!(head.status, 200);
    assert!(head.text.is_empty());
    let about = server.client("acme").get(&format!("{XAPI}/about")).await;
    assert_eq!(about.status, 200, "{}", about.text);
    assert!(
        about.json()["version"]
            .as_array()
            .unwrap()
            .contains(&json!("1.0.3"))
    );
}

#[tokio::test]
async fn statements_stay_in_their_tenant_and_environment() {
    let server = Server::start();
    for slug in ["acme", "globex"] {
        server.create_tenant(slug, "pro");
    }
    let (_, acme_live) = server.create_key("acme", "live", RW, &[]);
    let (_, acme_test) = server.create_key("acme", "test", RW, &[]);
    let (_, globex) = server.create_key("globex", "live", RW, &[]);
    let live = lrs(&server, "acme", &basic(&acme_live, ""));
    let test = lrs(&server, "acme", &basic(&acme_test, ""));

    let id = store(&live, statement("attempted")).await;
    let doc = format!(
        "{XAPI}/activities/state?activityId=http%3A%2F%2Fexample.com%2Fa&agent=%7B%22mbox%22%3A%22mailto%3Aada%40example.com%22%7D&stateId=bookmark"
    );
    let put = live
        .send(
            Method::PUT,
            &doc,
            Some(("application/json", br#"{"page":3}"#.to_vec())),
        )
        .await;
    assert_eq!(put.status, 204, "{}", put.text);

    // The test key of the same tenant sees neither, nor does another tenant's key, at its own
    // host or at acme's (where the key is refused as any foreign key is).
    for (who, client) in [
        ("acme test", test.clone()),
        ("globex", lrs(&server, "globex", &basic(&globex, ""))),
    ] {
        by_id(&client, &id)
            .await
            .assert_error(404, "xapi_not_found");
        client.get(&doc).await.assert_error(404, "xapi_not_found");
        let all = ok(client.get(&format!("{XAPI}/statements")).await);
        assert_eq!(all["statements"], json!([]), "{who}");
    }
    lrs(&server, "acme", &basic(&globex, ""))
        .get(&format!("{XAPI}/statements"))
        .await
        .assert_error(401, "invalid_api_key");

    // The same id in the test environment is a statement of its own.
    let mut same = statement("attempted");
    same["id"] = json!(id);
    same["verb"]["id"] = json!("http://example.com/verbs/other");
    assert_eq!(store(&test, same).await, id);
    assert_eq!(
        ok(by_id(&live, &id).await)["verb"]["id"],
        "http://example.com/verbs/attempted"
    );
    assert_eq!(
        ok(by_id(&test, &id).await)["verb"]["id"],
        "http://example.com/verbs/other"
    );
}

#[tokio::test]
async fn learn_records_its_own_progress_in_the_lrs() {
    let server = Server::start();
    let acme = learn_tenant(&server, "acme");
    let (_, key) = server.create_key("acme", "live", RW, &[]);
    let store = lrs(&server, "acme", &basic(&key, ""));
    let ada = person(&acme, "ada", "Ada Lovelace").await;
    let (course, activities) = course_with(&acme, json!({ "title": "Rust" }), &[quiz()]).await;
    let enrollment = created(
        &acme,
        "/api/v1/learn/enrollments",
        json!({ "course_id": course, "user_id": ada }),
    )
    .await;
    let registration = s(&enrollment["registration"]);
    let first = attempt(&acme, &activities[0], &s(&enrollment["id"])).await;
    submit(&acme, &first, json!({ "answers": [0, 1] })).await;
    let second = attempt(&acme, &activities[0], &s(&enrollment["id"])).await;
    submit(&acme, &second, json!({ "answers": [1, 0] })).await;

    // Newest first: the course completed, the passed attempt, the failed one; all in the
    // enrollment's registration, the learner an account agent of the tenant.
    let page = ok(store
        .get(&format!("{XAPI}/statements?registration={registration}"))
        .await);
    let statements = page["statements"].as_array().unwrap();
    let verbs: Vec<&str> = statements
        .iter()
        .map(|st| {
            st["verb"]["id"]
                .as_str()
                .unwrap()
                .rsplit('/')
                .next()
                .unwrap()
        })
        .collect();
    assert_eq!(verbs, ["completed", "passed", "failed"]);
    let actor = &statements[0]["actor"];
    assert_eq!(actor["account"]["name"], ada.as_str());
    assert_eq!(actor["name"], "Ada Lovelace");
    assert!(
        s(&statements[0]["object"]["id"]).ends_with(&format!("/api/v1/learn/courses/{course}"))
    );
    assert_eq!(statements[1]["result"]["score"]["raw"], 100.0);
    assert_eq!(statements[2]["result"]["success"], false);
    assert!(
        s(&statements[1]["context"]["contextActivities"]["parent"][0]["id"]).ends_with(&course)
    );

    // An analytics tool filters by the learner and by the activity, as any xAPI client would.
    let agent = json!({ "account": actor["account"].clone() }).to_string();
    let mine = ok(store
        .get(&format!(
            "{XAPI}/statements?agent={}&verb=http%3A%2F%2Fadlnet.gov%2Fexpapi%2Fverbs%2Fpassed",
            urlencoding(&agent)
        ))
        .await);
    assert_eq!(mine["statements"].as_array().unwrap().len(), 1);
}

fn urlencoding(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[tokio::test]
async fn a_more_link_continues_the_query_it_came_from() {
    let server = Server::start();
    server.create_tenant("acme", "pro");
    let (_, key) = server.create_key("acme", "live", RW, &[]);
    let client = lrs(&server, "acme", &basic(&key, ""));
    for verb in ["one", "two", "three"] {
        store(&client, statement(verb)).await;
    }
    let first = ok(client
        .get(&format!("{XAPI}/statements?limit=2&format=ids"))
        .await);
    assert_eq!(first["statements"].as_array().unwrap().len(), 2);
    let more = s(&first["more"]);
    assert!(
        more.starts_with(&format!("{XAPI}/statements?more=")),
        "{more}"
    );
    // The next page: the last statement, still in the `ids` format (no names).
    let next = ok(client.get(&more).await);
    let statements = next["statements"].as_array().unwrap();
    assert_eq!(statements.len(), 1);
    assert_eq!(statements[0]["verb"]["id"], "http://example.com/verbs/one");
    assert_eq!(statements[0]["actor"].get("name"), None);
    assert_eq!(next["more"], "");
    // A link is followed as given: another parameter beside it is refused, and a forged one too.
    client
        .get(&format!("{more}&limit=5"))
        .await
        .assert_error(400, "xapi_bad_request");
    client
        .get(&format!("{XAPI}/statements?more=not-a-link"))
        .await
        .assert_error(400, "xapi_bad_request");
}

#[tokio::test]
async fn hostile_bodies_are_refused_and_the_lrs_keeps_answering() {
    let server = Server::start();
    server.create_tenant("acme", "pro");
    let (_, key) = server.create_key("acme", "live", RW, &[]);
    let client = lrs(&server, "acme", &basic(&key, ""));
    let statements = format!("{XAPI}/statements");

    // More statements than one POST stores.
    let many: Vec<Value> = (0..1001).map(|_| statement("flooded")).collect();
    client
        .post(&statements, Value::Array(many))
        .await
        .assert_error(413, "xapi_batch_too_large");
    // JSON nested past what the parser follows, inside an extension.
    let deep = format!(
        r#"{{"actor":{{"mbox":"mailto:a@example.com"}},"verb":{{"id":"http://example.com/v"}},"object":{{"id":"http://example.com/o"}},"result":{{"extensions":{{"http://example.com/x":{}{}}}}}}}"#,
        "[".repeat(5000),
        "]".repeat(5000)
    );
    let r = client
        .send(
            Method::POST,
            &statements,
            Some(("application/json", deep.into_bytes())),
        )
        .await;
    r.assert_error(400, "xapi_bad_request");
    // Multipart bodies: nested thousands deep, without a boundary, never closed.
    let mut nested = String::from("--b0\r\nContent-Type: application/json\r\n\r\n{}\r\n");
    for i in 1..3000 {
        nested.push_str(&format!(
            "--b{}\r\nContent-Type: multipart/mixed; boundary=b{i}\r\n\r\n",
            i - 1
        ));
    }
    for (content_type, body) in [
        ("multipart/mixed; boundary=b0", nested.into_bytes()),
        ("multipart/mixed", b"--x\r\n\r\n{}\r\n--x--".to_vec()),
        (
            "multipart/mixed; boundary=x",
            b"--x\r\nContent-Type: application/json\r\n\r\n[]".to_vec(),
        ),
        ("multipart/mixed; boundary=x", vec![0xff; 4096]),
    ] {
        let r = client
            .send(Method::POST, &statements, Some((content_type, body)))
            .await;
        r.assert_error(400, "xapi_bad_request");
    }
    // The same statement PUT twice at once: both accepted, stored once.
    let id = "7a2d4a5e-0c0b-4c1e-9a6e-6f2f1c3b9d11";
    let mut same = statement("twice");
    same["id"] = json!(id);
    let put = format!("{statements}?statementId={id}");
    let body = same.to_string().into_bytes();
    let (a, b) = tokio::join!(
        client.send(Method::PUT, &put, Some(("application/json", body.clone()))),
        client.send(Method::PUT, &put, Some(("application/json", body)))
    );
    assert_eq!(
        (a.status.as_u16(), b.status.as_u16()),
        (204, 204),
        "{} {}",
        a.text,
        b.text
    );
    let all = ok(client
        .get(&format!(
            "{statements}?verb=http%3A%2F%2Fexample.com%2Fverbs%2Ftwice"
        ))
        .await);
    assert_eq!(all["statements"].as_array().unwrap().len(), 1);
    // And the LRS still answers.
    assert_eq!(by_id(&client, id).await.status, 200);
    assert_eq!(
        server
            .client("acme")
            .get(&format!("{XAPI}/about"))
            .await
            .status,
        200
    );
}

/// A JWS of `statement` as xAPI 1.0.3 Data 2.6 describes it, signed by jsonwebtoken (not our
/// code) with the given key, and the signer's certificate in its header if given.
fn sign(
    statement: &Value,
    alg: jsonwebtoken::Algorithm,
    key_der: &[u8],
    x5c: Option<Value>,
) -> String {
    use jsonwebtoken::{EncodingKey, Header, encode};
    let mut header = Header::new(alg);
    header.x5c = x5c.map(|chain| serde_json::from_value(chain).unwrap());
    encode(&header, statement, &EncodingKey::from_rsa_der(key_der)).unwrap()
}

/// A `multipart/mixed` body of statements, each with its signature as an attachment (one part
/// for statements that share a signature).
fn signed_statements(signed: &[(Value, String)]) -> (String, Vec<u8>) {
    use sha2::Digest;
    let mut statements = Vec::new();
    let mut parts = String::new();
    let mut sent = std::collections::HashSet::new();
    for (statement, jws) in signed {
        let hash = hex::encode(sha2::Sha256::digest(jws.as_bytes()));
        let mut with_attachment = statement.clone();
        with_attachment["attachments"] = json!([{
            "usageType": "http://adlnet.gov/expapi/attachments/signature",
            "display": { "en-US": "signature" },
            "contentType": "application/octet-stream",
            "length": jws.len(),
            "sha2": hash,
        }]);
        statements.push(with_attachment);
        if !sent.insert(hash.clone()) {
            continue;
        }
        parts.push_str(&format!(
            "--sig\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\n\
             X-Experience-API-Hash: {hash}\r\n\r\n{jws}\r\n"
        ));
    }
    let body = format!(
        "--sig\r\nContent-Type: application/json\r\n\r\n{}\r\n{parts}--sig--\r\n",
        Value::Array(statements)
    );
    ("multipart/mixed; boundary=sig".into(), body.into_bytes())
}

fn signed_body(
    statement: &Value,
    alg: jsonwebtoken::Algorithm,
    key_der: &[u8],
    x5c: Option<Value>,
) -> (String, Vec<u8>) {
    signed_statements(&[(statement.clone(), sign(statement, alg, key_der, x5c))])
}

/// The base64 DER of a PEM certificate, as a JWS header's `x5c` holds it.
fn x5c(pem: &str) -> Value {
    let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    json!([b64])
}

#[tokio::test]
async fn a_signature_with_its_certificate_is_checked_against_that_certificates_key() {
    use jsonwebtoken::Algorithm::{RS256, RS384, RS512};
    const SIGNER_KEY: &[u8] = include_bytes!("../fixtures/xapi-signers/signer.key.der");
    const SIGNER_CERT: &str = include_str!("../fixtures/xapi-signers/signer.cert.pem");
    const OTHER_KEY: &[u8] = include_bytes!("../fixtures/xapi-signers/other.key.der");
    const EC_CERT: &str = include_str!("../fixtures/xapi-signers/ec.cert.pem");
    let server = Server::start();
    server.create_tenant("acme", "pro");
    let (_, key) = server.create_key("acme", "live", RW, &[]);
    let client = lrs(&server, "acme", &basic(&key, ""));
    let statements = format!("{XAPI}/statements");
    let post = |(content_type, body): (String, Vec<u8>)| {
        let client = &client;
        let statements = &statements;
        async move {
            client
                .send(Method::POST, statements, Some((&content_type, body)))
                .await
        }
    };
    let signed = statement("signed");

    // Signed by the certificate's key, with each algorithm 2.6 allows: stored.
    for alg in [RS256, RS384, RS512] {
        let r = post(signed_body(
            &signed,
            alg,
            SIGNER_KEY,
            Some(x5c(SIGNER_CERT)),
        ))
        .await;
        assert_eq!(r.status, 200, "{alg:?}: {}", r.text);
        let id = s(&r.json()[0]);
        assert_eq!(by_id(&client, &id).await.status, 200);
    }
    // Without a certificate there is no key to check with: the shape and payload are checked.
    let r = post(signed_body(&signed, RS256, OTHER_KEY, None)).await;
    assert_eq!(r.status, 200, "{}", r.text);

    // Signed by another key than the certificate's.
    let r = post(signed_body(
        &signed,
        RS256,
        OTHER_KEY,
        Some(x5c(SIGNER_CERT)),
    ))
    .await;
    r.assert_error(400, "xapi_bad_request");
    assert!(r.text.contains("does not verify"), "{}", r.text);
    // The right key, the signature's bytes changed.
    let jws = sign(&signed, RS256, SIGNER_KEY, Some(x5c(SIGNER_CERT)));
    let (head, sig) = jws.rsplit_once('.').unwrap();
    let flipped = if sig.starts_with('A') { "B" } else { "A" };
    let tampered = format!("{head}.{flipped}{}", &sig[1..]);
    post(signed_statements(&[(signed.clone(), tampered)]))
        .await
        .assert_error(400, "xapi_bad_request");
    // A certificate that holds no RSA key, and x5c values that are no certificate list.
    let r = post(signed_body(&signed, RS256, SIGNER_KEY, Some(x5c(EC_CERT)))).await;
    r.assert_error(400, "xapi_bad_request");
    assert!(r.text.contains("RSA"), "{}", r.text);
    for chain in [
        json!([]),
        json!(["%%% not base64"]),
        json!(["aGVsbG8="]),
        json!([SIGNER_CERT]),
    ] {
        let r = post(signed_body(&signed, RS256, SIGNER_KEY, Some(chain.clone()))).await;
        r.assert_error(400, "xapi_bad_request");
        assert!(r.text.contains("x5c"), "{chain}: {}", r.text);
    }
    // A valid signature over another statement than the one sent.
    let elsewhere = sign(
        &statement("something-else"),
        RS256,
        SIGNER_KEY,
        Some(x5c(SIGNER_CERT)),
    );
    post(signed_statements(&[(signed.clone(), elsewhere)]))
        .await
        .assert_error(400, "xapi_bad_request");

    // A signature several identical statements share is verified once; a request verifies at
    // most 250 distinct ones (each costs milliseconds in the sandbox), and stores none past that.
    let shared = sign(&signed, RS256, SIGNER_KEY, Some(x5c(SIGNER_CERT)));
    let r = post(signed_statements(&vec![(signed.clone(), shared); 1000])).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let distinct: Vec<(Value, String)> = (0..251)
        .map(|i| {
            let one = statement(&format!("signed-{i}"));
            let jws = sign(&one, RS256, SIGNER_KEY, Some(x5c(SIGNER_CERT)));
            (one, jws)
        })
        .collect();
    let r = post(signed_statements(&distinct)).await;
    r.assert_error(413, "xapi_batch_too_large");
    assert!(r.text.contains("250 signatures"), "{}", r.text);
    let none = ok(client
        .get(&format!(
            "{statements}?verb=http%3A%2F%2Fexample.com%2Fverbs%2Fsigned-0"
        ))
        .await);
    assert_eq!(none["statements"], json!([]));
    let r = post(signed_statements(&distinct[..250])).await;
    assert_eq!(r.status, 200, "{}", r.text);
}
