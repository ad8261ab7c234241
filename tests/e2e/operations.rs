//! Running it for real: the operator's metrics listener and the access log.

use std::collections::HashMap;

use serde_json::Value;

use crate::harness::{ALL_CORE, Server};
use crate::market::{MARKET, listing};

/// The operator listener's address, from the line `serve` prints before it listens.
pub fn metrics_addr(server: &Server) -> String {
    server
        .banner
        .lines()
        .find_map(|l| l.strip_prefix("mobieus metrics on http://"))
        .and_then(|l| l.strip_suffix("/metrics"))
        .unwrap_or_else(|| panic!("no metrics address in {:?}", server.banner))
        .to_owned()
}

/// The samples of one scrape, parsed by `openmetrics-parser` (a parser we did not write): the
/// family name, its labels, and the value (a histogram's count).
pub struct Scrape {
    samples: Vec<(String, HashMap<String, String>, f64)>,
    /// Families with a `# HELP` line.
    described: Vec<String>,
}

pub async fn scrape(addr: &str) -> Scrape {
    use openmetrics_parser::{PrometheusValue, prometheus::parse_prometheus};
    let r = reqwest::get(format!("http://{addr}/metrics"))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let content_type = r.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    let text = r.text().await.unwrap();
    let exposition = parse_prometheus(&text).unwrap_or_else(|e| panic!("{e:?}: {text}"));
    let mut scrape = Scrape {
        samples: Vec::new(),
        described: Vec::new(),
    };
    for (name, family) in &exposition.families {
        if !family.help.is_empty() {
            scrape.described.push(name.clone());
        }
        for sample in family.iter_samples() {
            let labels = sample.get_labelset().unwrap();
            let labels = labels.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
            let value = match &sample.value {
                PrometheusValue::Unknown(n) | PrometheusValue::Gauge(n) => n.as_f64(),
                PrometheusValue::Counter(c) => c.value.as_f64(),
                PrometheusValue::Histogram(h) => h.count.unwrap_or_default() as f64,
                PrometheusValue::Summary(s) => s.count.unwrap_or_default() as f64,
            };
            scrape.samples.push((name.clone(), labels, value));
        }
    }
    scrape
}

/// The value of the series of family `name` whose labels include all of `labels`.
pub fn value(scrape: &Scrape, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    scrape
        .samples
        .iter()
        .filter(|(family, _, _)| family == name)
        .find(|(_, l, _)| {
            labels
                .iter()
                .all(|(k, v)| l.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|(_, _, v)| *v)
}

#[tokio::test]
async fn metrics_count_requests_by_route_template_and_plugin_calls_on_the_operator_listener_only() {
    let server = Server::start_with(&["--metrics-listen", "127.0.0.1:0"]);
    let metrics = metrics_addr(&server);
    server.create_tenant("acme", "pro");
    let scopes = format!("{ALL_CORE},{MARKET},know:read");
    let (_, key) = server.create_key("acme", "live", &scopes, &[]);
    let acme = server.client("acme").key(&key);
    // Know marks its search shareable: run, then given from the shared cache.
    crate::know::from_cache(&acme, "/api/v1/know/search?q=bike").await;
    let seller = acme.user("sam").await;
    let id = listing(&acme, &seller, "Road bike", 12_500).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for _ in 0..3 {
        assert_eq!(
            acme.get(&format!("/api/v1/listings/{id}")).await.status,
            200
        );
    }
    assert_eq!(acme.get("/api/v1/users").await.status, 200);
    acme.get("/api/v1/no/such/thing")
        .await
        .assert_error(404, "not_found");

    // Not on the public listener, under any host.
    for host in ["localhost", "acme.localhost"] {
        let r = reqwest::Client::new()
            .get(format!("http://{}/metrics", server.addr))
            .header("host", host)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404, "{host}");
    }
    let other = reqwest::get(format!("http://{metrics}/api/v1/users"))
        .await
        .unwrap();
    assert_eq!(
        other.status(),
        404,
        "the operator listener serves /metrics only"
    );

    let scrape = scrape(&metrics).await;
    let requests = "mobieus_http_requests_total";
    let by_template = [
        ("method", "GET"),
        ("route", "/api/v1/listings/{id}"),
        ("status", "200"),
    ];
    assert_eq!(value(&scrape, requests, &by_template), Some(3.0));
    let users = [
        ("method", "GET"),
        ("route", "/api/v1/users"),
        ("status", "200"),
    ];
    assert_eq!(value(&scrape, requests, &users), Some(1.0));
    let unmatched = [("route", "unmatched"), ("status", "404")];
    assert_eq!(
        value(&scrape, requests, &unmatched),
        Some(3.0),
        "one unknown API path and the two tries of /metrics on the public listener"
    );
    let latency = [("route", "/api/v1/listings/{id}")];
    assert_eq!(
        value(&scrape, "mobieus_http_request_duration_seconds", &latency),
        Some(3.0),
        "a latency histogram, counted per route"
    );
    let calls = [("plugin", "market"), ("entry", "handle"), ("outcome", "ok")];
    let made = value(&scrape, "mobieus_plugin_calls_total", &calls).unwrap_or(0.0);
    assert!(made >= 4.0, "one create and three reads: {made}");
    let cache = "mobieus_plugin_shared_cache_total";
    let know_hit = [("plugin", "know"), ("outcome", "hit")];
    assert_eq!(value(&scrape, cache, &know_hit), Some(1.0));
    let know_miss = [("plugin", "know"), ("outcome", "miss")];
    assert!(value(&scrape, cache, &know_miss).unwrap() >= 1.0);
    let market = [("plugin", "market")];
    assert_eq!(
        value(&scrape, cache, &market),
        None,
        "a route that never marks is not looked for"
    );
    assert!(value(&scrape, "mobieus_tenant_databases_open", &[]).unwrap() >= 1.0);
    assert!(value(&scrape, "mobieus_writer_batch_jobs", &[]).unwrap() >= 1.0);
    for name in [
        "mobieus_webhook_files_waiting",
        "mobieus_webhook_attempts_in_flight",
    ] {
        assert!(value(&scrape, name, &[]).is_some(), "{name}");
    }
    assert!(value(&scrape, "mobieus_due_work_files", &[("kind", "mail")]).is_some());
    // No tenant, key or id in any label unless the operator asks.
    for (family, labels, _) in &scrape.samples {
        for (label, v) in labels {
            assert!(
                !v.contains("acme") && !key.contains(v.as_str()) && !v.contains(&id),
                "{family}: {label}={v}"
            );
        }
    }
    for family in ["mobieus_http_requests_total", "mobieus_plugin_calls_total"] {
        assert!(
            scrape.described.iter().any(|d| d == family),
            "{family} is described"
        );
    }
}

#[tokio::test]
async fn a_tenant_label_only_when_the_operator_turns_it_on_and_only_for_tenants_that_exist() {
    let server = Server::start_with(&["--metrics-listen", "127.0.0.1:0", "--metrics-tenant-label"]);
    let metrics = metrics_addr(&server);
    let acme = server.tenant_with_key("acme");
    assert_eq!(acme.get("/api/v1/users").await.status, 200);
    // A Host naming no tenant: no label a stranger could mint series with.
    server
        .client("made-up")
        .get("/api/v1/users")
        .await
        .assert_error(404, "tenant_not_found");
    let scrape = scrape(&metrics).await;
    let acme_users = [
        ("route", "/api/v1/users"),
        ("status", "200"),
        ("tenant", "acme"),
    ];
    assert_eq!(
        value(&scrape, "mobieus_http_requests_total", &acme_users),
        Some(1.0)
    );
    assert!(
        scrape
            .samples
            .iter()
            .all(|(_, labels, _)| labels.get("tenant").map(String::as_str) != Some("made-up")),
        "a tenant that does not exist is not a label"
    );
}

#[tokio::test]
async fn every_request_is_one_access_log_line_at_info_with_its_request_id_and_never_the_key() {
    let server = Server::start_with(&["--log-format", "json"]);
    server.create_tenant("acme", "pro");
    let (_, key) = server.create_key("acme", "live", ALL_CORE, &[]);
    let acme = server.client("acme").key(&key);
    let ok = acme.get("/api/v1/users?limit=5").await;
    assert_eq!(ok.status, 200);
    let refused = server
        .client("acme")
        .key("mob_live_not_a_real_key")
        .get("/api/v1/users")
        .await;
    assert_eq!(refused.status, 401);

    let log = server.log();
    let lines: Vec<Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let access: HashMap<String, &Value> = lines
        .iter()
        .filter(|l| l["target"] == "mobieus::access")
        .map(|l| (l["request_id"].as_str().unwrap().to_owned(), l))
        .collect();
    for (r, status) in [(&ok, 200), (&refused, 401)] {
        let id = r.header("x-request-id").unwrap();
        let line = access
            .get(id)
            .unwrap_or_else(|| panic!("no access line for {id}: {log}"));
        assert_eq!(line["level"], "INFO", "at the default level: {line}");
        assert_eq!(line["tenant"], "acme");
        assert_eq!(line["method"], "GET");
        assert_eq!(line["route"], "/api/v1/users");
        assert_eq!(line["status"], status);
        assert!(line["micros"].as_u64().is_some(), "{line}");
    }
    assert!(!log.contains(&key), "a key is never logged");
    assert!(!log.contains("not_a_real_key"), "nor a wrong one");
    assert!(!log.contains("limit=5"), "nor a query string");
}

/// `mobieus ARGS` with `envs`, outside any server's data dir.
fn mobieus(args: &[&str], envs: &[(&str, &std::path::Path)]) -> std::process::Output {
    let mut command = std::process::Command::new(crate::harness::BIN);
    command
        .args(args)
        .env_remove("MOBIEUS_DATA_DIR")
        .env_remove("MOBIEUS_CONFIG");
    for (k, v) in envs {
        command.env(k, v);
    }
    command.output().expect("run mobieus")
}

#[tokio::test]
async fn config_check_names_every_wrong_key_with_its_line_and_passes_a_good_file() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "# a comment\nlisten = \"127.0.0.1:9\"\nlistn = \"x\"\nshutdown_grace = \"soon\"\n\
         webhook_allow_cidr = [\"127.0.0.0/8\", \"nonsense\"]\nrate_limit_per_minute = 0\n\
         metrics_tenant_label = \"yes\"\n[ai]\ntimeout = \"1s\"\n",
    )
    .unwrap();
    let out = mobieus(&["config", "check", bad.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    for expected in [
        "bad.toml:3: unknown key `listn`",
        "bad.toml:4: `shutdown_grace`: invalid value 'soon'",
        "bad.toml:5: `webhook_allow_cidr`: invalid value 'nonsense'",
        "bad.toml:6: `rate_limit_per_minute`: invalid value '0'",
        "bad.toml:7: `metrics_tenant_label`",
        "bad.toml:8: unknown key `ai`",
    ] {
        assert!(stderr.contains(expected), "{expected} in {stderr}");
    }
    assert!(
        !stderr.contains(":2:"),
        "a good line is not named: {stderr}"
    );
    // The same file stops `serve` before it binds anything.
    let out = mobieus(&["--config", bad.to_str().unwrap(), "serve"], &[]);
    assert_eq!(out.status.code(), Some(2));

    let syntax = dir.path().join("syntax.toml");
    std::fs::write(&syntax, "listen = \n").unwrap();
    let out = mobieus(&["config", "check"], &[("MOBIEUS_CONFIG", &syntax)]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("line 1"));

    let good = dir.path().join("good.toml");
    std::fs::write(
        &good,
        "listen = \"127.0.0.1:0\"\nrate-limit-per-minute = 1200\nwebhook_allow_http = true\n\
         webhook_allow_cidr = [\"127.0.0.0/8\", \"10.0.0.0/8\"]\nshutdown_grace = \"3s\"\n",
    )
    .unwrap();
    let out = mobieus(&["config", "check", good.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    // The example the docs point to stays valid.
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/mobieus.toml");
    let out = mobieus(&["config", "check", example], &[]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
}

#[tokio::test]
async fn flags_beat_the_environment_which_beats_the_file_which_beats_the_default() {
    let dir = tempfile::tempdir().unwrap();
    let (from_file, from_env, from_flag) = (
        dir.path().join("file"),
        dir.path().join("env"),
        dir.path().join("flag"),
    );
    let config = dir.path().join("mobieus.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = {:?}\nrate_limit_per_minute = 7\nmetrics_listen = \"127.0.0.1:0\"\n",
            from_file.to_str().unwrap()
        ),
    )
    .unwrap();
    let cfg = config.to_str().unwrap();
    // Every command finds its data dir in the file.
    let create = |extra: &[&str], envs: &[(&str, &std::path::Path)], slug: &str| {
        let mut args = vec!["--config", cfg];
        args.extend_from_slice(extra);
        args.extend(["tenant", "create", slug, "--plan", "pro"]);
        let out = mobieus(&args, envs);
        assert!(out.status.success(), "{out:?}");
    };
    create(&[], &[], "one");
    create(&[], &[("MOBIEUS_DATA_DIR", &from_env)], "two");
    let flag = from_flag.to_str().unwrap();
    create(
        &["--data-dir", flag],
        &[("MOBIEUS_DATA_DIR", &from_env)],
        "three",
    );
    for (dir, slug) in [
        (&from_file, "one"),
        (&from_env, "two"),
        (&from_flag, "three"),
    ] {
        let list = mobieus(
            &["--data-dir", dir.to_str().unwrap(), "tenant", "list"],
            &[],
        );
        let list = String::from_utf8_lossy(&list.stdout);
        assert!(
            list.contains(slug) && list.lines().count() <= 2,
            "{slug} in {dir:?}: {list}"
        );
    }

    // `serve` takes the rest: the file's rate limit and metrics listener, under the harness's
    // own --listen flag (the file names none) and --data-dir.
    let server = Server::start_with(&["--config", cfg]);
    assert!(
        server.banner.contains("mobieus metrics on"),
        "{}",
        server.banner
    );
    let acme = server.tenant_with_key("acme");
    let r = acme.get("/api/v1/users").await;
    assert_eq!(r.header("x-ratelimit-limit"), Some("7"), "the file's value");
    drop(server);
    let server = Server::start_with(&["--config", cfg, "--rate-limit-per-minute", "9"]);
    let acme = server.tenant_with_key("acme");
    let r = acme.get("/api/v1/users").await;
    assert_eq!(r.header("x-ratelimit-limit"), Some("9"), "the flag's value");
}

#[tokio::test]
async fn a_backup_taken_while_writes_go_on_restores_every_write_acknowledged_before_it_began() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};

    let server = Server::start();
    server.create_tenant("acme", "pro");
    let scopes = format!("{ALL_CORE},files:read,files:write");
    let (_, key) = server.create_key("acme", "live", &scopes, &[]);
    let acme = server.client("acme").key(&key);
    // An upload: its bytes live beside the database and must come back too.
    let upload = acme
        .send(
            reqwest::Method::POST,
            "/api/v1/files?filename=notes.txt",
            Some(("text/plain", b"the minutes of the first meeting".to_vec())),
        )
        .await;
    assert_eq!(upload.status, 201, "{}", upload.text);
    let file = upload.json()["id"].as_str().unwrap().to_owned();
    crate::harness::eventually(std::time::Duration::from_secs(10), async || {
        let status = acme.get(&format!("/api/v1/files/{file}")).await.json()["status"].clone();
        (status == "clean").then_some(())
    })
    .await;

    // Writers that never stop until the backup is done; each acknowledged id is recorded.
    let (acked, stop) = (
        Arc::new(Mutex::new(Vec::new())),
        Arc::new(AtomicBool::new(false)),
    );
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let (acme, acked, stop) = (acme.clone(), acked.clone(), stop.clone());
            tokio::spawn(async move {
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) {
                    let body = serde_json::json!({ "username": format!("w{w}-{i}") });
                    let r = acme.post("/api/v1/users", body).await;
                    assert_eq!(r.status, 201, "{}", r.text);
                    acked
                        .lock()
                        .unwrap()
                        .push(r.json()["id"].as_str().unwrap().to_owned());
                    i += 1;
                }
            })
        })
        .collect();
    crate::harness::eventually(std::time::Duration::from_secs(20), async || {
        (acked.lock().unwrap().len() >= 100).then_some(())
    })
    .await;
    let before: Vec<String> = acked.lock().unwrap().clone();
    let out = server.data_dir().join("backup-acme");
    let during = {
        let (dir, out) = (server.data_dir().to_owned(), out.clone());
        tokio::task::spawn_blocking(move || {
            std::process::Command::new(crate::harness::BIN)
                .arg("--data-dir")
                .arg(&dir)
                .args(["backup", "--tenant", "acme"])
                .arg(&out)
                .output()
                .unwrap()
        })
        .await
        .unwrap()
    };
    let written_meanwhile = acked.lock().unwrap().len() - before.len();
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.await.unwrap();
    }
    assert!(during.status.success(), "{during:?}");
    assert!(
        written_meanwhile > 0,
        "the writers went on during the backup"
    );
    assert!(!out.with_file_name("backup-acme.partial").exists());

    // Into a fresh data directory, under a server that runs.
    let fresh = Server::start();
    let restored = fresh.cli(&["restore", "--tenant", "acme", out.to_str().unwrap()]);
    assert!(restored.status.success(), "{restored:?}");
    let db = fresh.data_dir().join("tenants/acme/live.db");
    let conn = rusqlite::Connection::open(&db).unwrap();
    let verdict: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(verdict, "ok");
    let count: i64 = conn
        .query_row("SELECT count(*) FROM users", [], |r| r.get(0))
        .unwrap();
    let count = count as usize;
    let total = acked.lock().unwrap().len();
    assert!(
        (before.len()..=total).contains(&count),
        "{count} users: at least the {} acknowledged before, at most the {total} acknowledged in all",
        before.len()
    );
    // The same key works there (keys live in the tenant's file), and sees every early write.
    let again = fresh.client("acme").key(&key);
    for id in &before {
        let r = again.get(&format!("/api/v1/users/{id}")).await;
        assert_eq!(r.status, 200, "{id}: {}", r.text);
    }
    let content = again.get(&format!("/api/v1/files/{file}/content")).await;
    assert_eq!(content.status, 200);
    assert_eq!(content.text, "the minutes of the first meeting");

    // A second restore under the same slug is refused; a damaged backup is refused whole.
    let twice = fresh.cli(&["restore", "--tenant", "acme", out.to_str().unwrap()]);
    assert_eq!(twice.status.code(), Some(2));
    let mut bytes = std::fs::read(out.join("live.db")).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(out.join("live.db"), bytes).unwrap();
    let damaged = fresh.cli(&["restore", "--tenant", "acme-2", out.to_str().unwrap()]);
    assert_eq!(damaged.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&damaged.stderr).contains("damaged"));
    assert!(!fresh.data_dir().join("tenants/acme-2").exists());
    let list = fresh.cli_ok(&["tenant", "list"]);
    assert!(!list.contains("acme-2"), "{list}");
}

/// The address a key was last used from, once the server has flushed it.
async fn last_used_ip(server: &Server, key_id: &str) -> Value {
    crate::harness::eventually(std::time::Duration::from_secs(15), async || {
        let list = server.cli_ok(&["key", "list", "--tenant", "acme", "--json"]);
        let list: Value = serde_json::from_str(&list).unwrap();
        let key = list.as_array()?.iter().find(|k| k["id"] == key_id)?.clone();
        key["last_used_at"]
            .is_string()
            .then(|| key["last_used_ip"].clone())
    })
    .await
}

#[tokio::test]
async fn forwarded_addresses_count_only_from_a_trusted_proxy() {
    for (flags, expected) in [
        (&["--trusted-proxy", "127.0.0.1/32"][..], "198.51.100.7"),
        (&[][..], "127.0.0.1"),
    ] {
        let server = Server::start_with(flags);
        server.create_tenant("acme", "pro");
        let (id, key) = server.create_key("acme", "live", "events:read", &[]);
        let r = server
            .client("acme")
            .key(&key)
            // The client's own claim first, then what the proxy appended.
            .header("x-forwarded-for", "203.0.113.66, 198.51.100.7")
            .get("/api/v1/events")
            .await;
        assert_eq!(r.status, 200);
        assert_eq!(last_used_ip(&server, &id).await, expected, "{flags:?}");
    }
}

#[tokio::test]
async fn a_tenant_is_served_at_a_domain_of_its_own_besides_its_subdomain() {
    let server = Server::start();
    server.create_tenant("acme", "pro");
    server.create_tenant("globex", "pro");
    let (_, key) = server.create_key("acme", "live", ALL_CORE, &[]);
    let (_, globex_key) = server.create_key("globex", "live", ALL_CORE, &[]);
    let at = |host: &str, key: &str| {
        let mut client = server.client("acme").key(key);
        client.host = format!("{host}:{}", server.addr.port());
        client
    };
    let own = "community.example.org";
    // Not yet.
    at(own, &key)
        .get("/api/v1/users")
        .await
        .assert_error(404, "tenant_not_found");

    let out = server.cli_ok(&["tenant", "domain", "add", "acme", "Community.Example.org."]);
    assert!(out.contains(own), "{out}");
    for host in [own, "COMMUNITY.example.ORG", "community.example.org."] {
        assert_eq!(
            at(host, &key).get("/api/v1/users").await.status,
            200,
            "{host}"
        );
    }
    assert_eq!(
        server
            .client("acme")
            .key(&key)
            .get("/api/v1/users")
            .await
            .status,
        200
    );
    // The domain names acme: another tenant's key is a stranger there.
    at(own, &globex_key)
        .get("/api/v1/users")
        .await
        .assert_error(401, "invalid_api_key");
    let acme = server.listed_tenant("acme");
    assert_eq!(acme["domains"], serde_json::json!([own]));
    assert!(server.cli_ok(&["tenant", "list"]).contains(own));

    // One owner per domain; only host names.
    let taken = server.cli(&["tenant", "domain", "add", "globex", own]);
    assert_eq!(taken.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&taken.stderr).contains("already `acme`'s"));
    for bad in [
        "localhost",
        "10.0.0.1",
        "under_score.example.org",
        "a..b.org",
        "-x.example.org",
        "example.org:8080",
    ] {
        let out = server.cli(&["tenant", "domain", "add", "globex", bad]);
        assert_eq!(out.status.code(), Some(2), "{bad}");
    }
    let missing = server.cli(&["tenant", "domain", "add", "nobody", "x.example.org"]);
    assert_eq!(missing.status.code(), Some(2));

    server.cli_ok(&["tenant", "domain", "remove", "acme", own]);
    at(own, &key)
        .get("/api/v1/users")
        .await
        .assert_error(404, "tenant_not_found");
    // A deleted tenant's domains go with it.
    server.cli_ok(&["tenant", "domain", "add", "acme", own]);
    server.cli_ok(&["tenant", "delete", "acme", "--yes"]);
    server.cli_ok(&["tenant", "domain", "add", "globex", own]);
    assert_eq!(at(own, &globex_key).get("/api/v1/users").await.status, 200);
}
