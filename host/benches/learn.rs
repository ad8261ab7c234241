//! Learn load harness (not a test): a course read and an enrollment create beside the host's
//! posts. Starts the release binary, seeds 100 posts, 1,500 users and 60 published courses (each
//! with a module, a lesson and a quiz), then runs each pair back to back, round after round:
//!
//! - `GET /api/v1/posts/{id}` (host) / `GET /api/v1/learn/courses/{id}` (plugin: the course, its
//!   outline and completion rule: four queries),
//! - `POST /api/v1/posts` (host) / `POST /api/v1/learn/enrollments` (plugin: the course, the
//!   user from the host, the uniqueness check, the row and `enrollment.created`), each request a
//!   user and course not yet enrolled.
//!
//! It prints each run, then per pair the medians of the rounds' throughput and server-CPU ratios.
//!
//! Run: `cargo bench -p mobieus --bench learn` (env `LOAD_SECS`, default 5 s per run;
//! `LOAD_ROUNDS`, default 3; `LOAD_CONNECTIONS`, default 32).

use std::net::SocketAddr;
use std::sync::Arc;

use serde_json::{Value, json};

mod common;

use common::drive::{self, Pair, Scenario};
use common::{cli, start};

const USERS: usize = 1_500;
const COURSES: usize = 60;

fn main() {
    let load = drive::Load::from_env();
    let runtime = common::runtime();

    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().to_str().unwrap().to_owned();
    let (mut server, addr) = start(&data);
    let pid = server.id();
    cli(&data, &["tenant", "create", "bench", "--plan", "pro"]);
    let key = common::unlimited_key(
        &data,
        "bench",
        "users:write,posts:read,posts:write,learn:read,learn:write",
    );
    let host = format!("bench.localhost:{}", addr.port());
    let seeded = runtime.block_on(seed(addr, &host, &key));
    println!(
        "mobieus learn harness: {}; {USERS} users, {COURSES} courses, {} enrollments to make",
        load.describe(),
        seeded.enrollments.len()
    );

    let post = format!(
        r#"{{"author_id":"{}","body":"A post under load"}}"#,
        seeded.author
    );
    let pairs: Vec<Pair> = vec![
        [
            (
                "GET /api/v1/posts/{id} (host)",
                Arc::new(Scenario::get(
                    &format!("/api/v1/posts/{}", seeded.post),
                    Some(&key),
                )),
            ),
            (
                "GET /api/v1/learn/courses/{id}",
                Arc::new(Scenario::get(
                    &format!("/api/v1/learn/courses/{}", seeded.course),
                    Some(&key),
                )),
            ),
        ],
        [
            (
                "POST /api/v1/posts (host)",
                Arc::new(Scenario::post("/api/v1/posts", &key, post)),
            ),
            (
                "POST /api/v1/learn/enrollments",
                Arc::new(Scenario::post_each(
                    "/api/v1/learn/enrollments",
                    &key,
                    seeded.enrollments,
                )),
            ),
        ],
    ];
    load.compare_pairs(&runtime, pid, addr, &host, &pairs);
    let _ = server.kill();
}

struct Seeded {
    author: String,
    post: String,
    course: String,
    /// `{course_id, user_id}` bodies, every pair once.
    enrollments: Vec<String>,
}

async fn seed(addr: SocketAddr, host: &str, key: &str) -> Seeded {
    let call = async |method: &str, path: &str, body: Value| {
        common::call(addr, host, key, method, path, body).await
    };
    let id = |v: Value| v["id"].as_str().unwrap().to_owned();
    common::until_answered(addr, host, key, "/api/v1/learn/courses").await;
    let mut users = vec![];
    for i in 0..USERS {
        users.push(id(call(
            "POST",
            "/api/v1/users",
            json!({"username": format!("learner{i}")}),
        )
        .await));
    }
    let mut post = String::new();
    for i in 0..100 {
        post = id(call(
            "POST",
            "/api/v1/posts",
            json!({"author_id": users[0], "body": format!("post {i}")}),
        )
        .await);
    }
    let mut courses = vec![];
    for i in 0..COURSES {
        let course = id(call(
            "POST",
            "/api/v1/learn/courses",
            json!({"title": format!("Course {i}"), "min_score": 50}),
        )
        .await);
        let module = id(call(
            "POST",
            &format!("/api/v1/learn/courses/{course}/modules"),
            json!({"title": "Week 1"}),
        )
        .await);
        let lesson = id(call(
            "POST",
            &format!("/api/v1/learn/modules/{module}/lessons"),
            json!({"title": "Basics", "body": "Read this."}),
        )
        .await);
        call(
            "POST",
            &format!("/api/v1/learn/lessons/{lesson}/activities"),
            json!({"kind": "quiz", "title": "Check", "questions": [{"prompt": "2 + 2?", "choices": ["3", "4"], "answer": 1}]}),
        )
        .await;
        call(
            "POST",
            &format!("/api/v1/learn/courses/{course}/publish"),
            json!({}),
        )
        .await;
        courses.push(course);
    }
    let enrollments = courses
        .iter()
        .flat_map(|c| {
            users
                .iter()
                .map(move |u| json!({"course_id": c, "user_id": u}).to_string())
        })
        .collect();
    Seeded {
        author: users[0].clone(),
        post,
        course: courses[0].clone(),
        enrollments,
    }
}
