//! The cost of one plugin call (not a test): a fresh instance of a component from its
//! `PluginPre`, one `handle` call that makes one host import (a one-row `SELECT` under the SQL
//! sandbox), in a read transaction — against the same read done natively on the same connection;
//! for the guestbook's entry and for Market's listing.
//! (`load` prints the overhead line too, beside the throughput of plugin and native routes.)
//!
//! Run: `cargo bench -p mobieus --bench plugin_call` (env `CALLS`, default 20,000).

#[path = "common/call_overhead.rs"]
mod call_overhead;

fn main() {
    let calls: u64 = std::env::var("CALLS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20_000);
    let us = |ns: u64| ns as f64 / 1000.0;
    for subject in [
        call_overhead::Subject::Entry,
        call_overhead::Subject::Listing,
    ] {
        let o = call_overhead::measure(subject, calls);
        println!(
            "{}: one-row read, {calls} calls each, one thread",
            subject.name()
        );
        println!(
            "  plugin (fresh instance + handle + 1 db import): mean {:.1} µs, p50 {:.1} µs, p99 {:.1} µs",
            o.plugin_mean_us(),
            us(o.plugin.value_at_quantile(0.5)),
            us(o.plugin.value_at_quantile(0.99))
        );
        println!(
            "  native (same transaction and SELECT):           mean {:.1} µs, p50 {:.1} µs, p99 {:.1} µs",
            o.native_mean_us(),
            us(o.native.value_at_quantile(0.5)),
            us(o.native.value_at_quantile(0.99))
        );
        println!(
            "  instantiate+call overhead: {:.1} µs per request",
            o.overhead_us()
        );
    }
}
