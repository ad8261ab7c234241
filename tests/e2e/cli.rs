use serde_json::Value;

use crate::harness::Server;

fn code(out: &std::process::Output) -> Option<i32> {
    out.status.code()
}

#[tokio::test]
async fn tenant_commands() {
    let server = Server::start();
    for bad in ["Acme", "ac_me", "-acme", "acme-", "ac.me", ""] {
        let out = server.cli(&["tenant", "create", "--plan", "pro", "--", bad]);
        assert_eq!(code(&out), Some(2), "{bad}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("slug"),
            "{bad}"
        );
    }
    assert_eq!(
        code(&server.cli(&["tenant", "create", "acme", "--plan", "gold"])),
        Some(2)
    );
    server.create_tenant("acme", "sovereign");
    assert_eq!(
        code(&server.cli(&["tenant", "create", "acme", "--plan", "pro"])),
        Some(2)
    );
    let acme = server.listed_tenant("acme");
    assert_eq!(acme["plan"], "sovereign");
    assert!(acme["id"].as_str().unwrap().starts_with("tnt_"));
    assert!(server.cli_ok(&["tenant", "list"]).contains("acme"));
    assert_eq!(
        code(&server.cli(&["tenant", "set-plan", "nope", "pro"])),
        Some(2)
    );
}

#[tokio::test]
async fn delete_asks_unless_told_yes_and_stops_serving_at_once() {
    let server = Server::start();
    let acme = server.tenant_with_key("acme");
    acme.user("ada").await;
    let out = server.cli(&["tenant", "delete", "acme"]);
    assert_eq!(code(&out), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--yes"));
    assert_eq!(acme.get("/api/v1/users").await.status, 200);
    server.cli_ok(&["tenant", "delete", "acme", "--yes"]);
    acme.get("/api/v1/users")
        .await
        .assert_error(404, "tenant_not_found");
    assert!(!server.data_dir().join("tenants/acme").exists());
    // Created again under the same slug, it starts empty and the old keys are gone.
    let again = server.tenant_with_key("acme");
    assert_eq!(again.get("/api/v1/users").await.json()["total_count"], 0);
    acme.get("/api/v1/users")
        .await
        .assert_error(401, "invalid_api_key");
}

#[tokio::test]
async fn key_commands_validate_their_input() {
    let server = Server::start();
    server.create_tenant("acme", "pro");
    let cases: &[&[&str]] = &[
        &[
            "key",
            "create",
            "--tenant",
            "nope",
            "--env",
            "live",
            "--scopes",
            "events:read",
        ],
        &[
            "key",
            "create",
            "--tenant",
            "acme",
            "--env",
            "prod",
            "--scopes",
            "events:read",
        ],
        &[
            "key",
            "create",
            "--tenant",
            "acme",
            "--env",
            "live",
            "--scopes",
            "events:destroy",
        ],
        &[
            "key",
            "create",
            "--tenant",
            "acme",
            "--env",
            "live",
            "--scopes",
            "events:read",
            "--rate-limit",
            "0",
        ],
        &[
            "key",
            "create",
            "--tenant",
            "acme",
            "--env",
            "live",
            "--scopes",
            "events:read",
            "--expires-at",
            "tomorrow",
        ],
        &[
            "key",
            "create",
            "--tenant",
            "acme",
            "--env",
            "live",
            "--scopes",
            "events:read",
            "--kind",
            "public",
        ],
        &[
            "key", "edit", "--tenant", "acme", "key_nope", "--label", "x",
        ],
        &["key", "list", "--tenant", "nope"],
    ];
    for args in cases {
        assert_eq!(code(&server.cli(args)), Some(2), "{args:?}");
    }
    let out: Value = serde_json::from_str(&server.cli_ok(&[
        "key",
        "create",
        "--tenant",
        "acme",
        "--env",
        "test",
        "--scopes",
        "posts:read,events:read",
        "--label",
        "bi",
        "--json",
    ]))
    .unwrap();
    let key = out["key"].as_str().unwrap();
    assert!(key.starts_with("mc_test_") && key.len() == 51);
    assert_eq!(out["prefix"], &key[..12]);
    assert_eq!(out["env"], "test");
    assert_eq!(
        out["scopes"],
        serde_json::json!(["events:read", "posts:read"])
    );
    assert!(out["id"].as_str().unwrap().starts_with("key_"));
    let list = server.cli_ok(&["key", "list", "--tenant", "acme"]);
    assert!(list.contains(&key[..12]) && !list.contains(&key[12..]));
    // Human output shows the key once too.
    let human = server.cli_ok(&[
        "key",
        "create",
        "--tenant",
        "acme",
        "--env",
        "live",
        "--scopes",
        "events:read",
    ]);
    assert!(human.contains("mc_live_") && human.contains("only time"));
}

#[tokio::test]
async fn settings_commands_validate_their_input() {
    let server = Server::start();
    server.create_tenant("acme", "pro");
    for args in [
        ["default_rate_limit_per_minute", "0"],
        ["default_rate_limit_per_minute", "lots"],
        ["cors.allowed_origins", "a.example"],
        ["colour", "blue"],
    ] {
        let out = server.cli(&["settings", "set", "--tenant", "acme", args[0], args[1]]);
        assert_eq!(code(&out), Some(2), "{args:?}");
    }
    server.cli_ok(&[
        "settings",
        "set",
        "--tenant",
        "acme",
        "default_rate_limit_per_minute",
        "120",
    ]);
    server.cli_ok(&[
        "settings",
        "set",
        "--tenant",
        "acme",
        "cors.allowed_origins",
        "https://a.example,https://b.example",
    ]);
    let all: Value =
        serde_json::from_str(&server.cli_ok(&["settings", "list", "--tenant", "acme", "--json"]))
            .unwrap();
    assert_eq!(all["default_rate_limit_per_minute"], "120");
    assert_eq!(
        all["cors.allowed_origins"],
        "https://a.example,https://b.example"
    );
    let audit = server.cli_ok(&["audit", "list", "--tenant", "acme"]);
    assert!(audit.contains("settings.updated"));
}
