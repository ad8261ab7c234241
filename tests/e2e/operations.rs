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
    let scopes = format!("{ALL_CORE},{MARKET}");
    let (_, key) = server.create_key("acme", "live", &scopes, &[]);
    let acme = server.client("acme").key(&key);
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
