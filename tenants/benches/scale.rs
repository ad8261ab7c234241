//! Scale check (not a test): create N tenants (default 10,000; env `SCALE_TENANTS`), touch each
//! once, and print how long that took and how many pools and file descriptors stay open.
//!
//! Run: `cargo bench -p tenants --bench scale`

use std::time::Instant;

use tenants::{Env, Error, Plan, PoolConfig, Slug, Store};

fn main() {
    let n: usize = std::env::var("SCALE_TENANTS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000);
    let dir = tempfile::tempdir().unwrap();
    let config = PoolConfig::default();
    let max_open = config.max_open;
    let store = Store::open(dir.path(), config).unwrap();
    let fds = || std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count());
    let fds_before = fds();
    let started = Instant::now();
    let mut peak_pools = 0;
    let mut peak_fds = 0;
    for i in 0..n {
        let tenant = store
            .create_tenant(&Slug::parse(&format!("t{i}")).unwrap(), Plan::Pro)
            .unwrap();
        let db = store.db(&tenant, Env::Live).unwrap();
        let _: i64 = db
            .read(|c| Ok::<_, Error>(c.query_row("SELECT COUNT(*) FROM users", [], |r| r.get(0))?))
            .unwrap();
        peak_pools = peak_pools.max(store.pools().open_count());
        if i % 100 == 0 {
            peak_fds = peak_fds.max(fds());
        }
    }
    let elapsed = started.elapsed();
    println!(
        "{n} tenants created and touched in {:.1} s ({:.2} ms each)",
        elapsed.as_secs_f64(),
        elapsed.as_secs_f64() * 1000.0 / n as f64
    );
    println!(
        "open databases: peak {peak_pools} (cap {max_open}); file descriptors: {fds_before} before, peak {peak_fds}"
    );
}
