use serde_json::json;

use crate::harness::Server;

#[tokio::test]
async fn acknowledged_writes_survive_sigkill() {
    let mut server = Server::start();
    server.create_tenant("acme", "pro");
    let (_, key) = server.create_key("acme", "live", crate::harness::ALL_CORE, &[]);
    let acme = server.client("acme").key(&key);
    let ada = acme.user("ada").await;
    let mut posts = vec![];
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let acme = acme.clone();
            let ada = ada.clone();
            tokio::spawn(async move {
                let mut ids = vec![];
                for i in 0..50 {
                    let r = acme
                        .post(
                            "/api/v1/posts",
                            json!({ "author_id": ada, "body": format!("{w}/{i}") }),
                        )
                        .await;
                    assert_eq!(r.status, 201);
                    ids.push(r.json()["id"].as_str().unwrap().to_owned());
                }
                ids
            })
        })
        .collect();
    for w in writers {
        posts.extend(w.await.unwrap());
    }
    server.kill(); // SIGKILL right after the last acknowledgement
    server.restart();
    let acme = server.client("acme").key(&key);
    let list = acme.get("/api/v1/posts?limit=1").await.json();
    assert_eq!(list["total_count"], 200);
    for id in posts.iter().step_by(7) {
        assert_eq!(
            acme.get(&format!("/api/v1/posts/{id}")).await.status,
            200,
            "{id} lost"
        );
    }
    let events = acme
        .get("/api/v1/events?type=post.created&limit=1")
        .await
        .json();
    assert_eq!(events["total_count"], 200);
}
