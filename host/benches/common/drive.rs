//! Driving a running server at N keep-alive connections for a while: what each request sends,
//! and what came back (throughput, latency histogram, the server's CPU time).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper::Request;

/// What every request of a run sends: a method, its paths (taken in turn, so a run can mix
/// queries), a key and a body.
pub struct Scenario {
    method: &'static str,
    paths: Vec<String>,
    key: Option<String>,
    body: Option<Bytes>,
    /// Bodies taken in turn across every connection (a create that must not repeat).
    bodies: Vec<Bytes>,
    next: AtomicUsize,
    /// Headers beyond the key's (xAPI's version header).
    headers: Vec<(&'static str, &'static str)>,
    /// The Host it sends, when not the run's (a community named by the path, at the base domain).
    host: Option<String>,
}

impl Scenario {
    pub fn get(path: &str, key: Option<&str>) -> Self {
        Scenario::get_each(vec![path.to_owned()], key)
    }

    /// GETs of these paths in turn.
    pub fn get_each(paths: Vec<String>, key: Option<&str>) -> Self {
        Scenario {
            method: "GET",
            paths,
            key: key.map(str::to_owned),
            body: None,
            bodies: vec![],
            next: AtomicUsize::new(0),
            headers: vec![],
            host: None,
        }
    }

    pub fn post(path: &str, key: &str, body: String) -> Self {
        Scenario::post_each(path, key, vec![body])
    }

    /// POSTs of these bodies in turn, each sent once across all connections (then again from
    /// the first).
    pub fn post_each(path: &str, key: &str, bodies: Vec<String>) -> Self {
        Scenario {
            method: "POST",
            paths: vec![path.into()],
            key: Some(key.into()),
            body: None,
            bodies: bodies.into_iter().map(Bytes::from).collect(),
            next: AtomicUsize::new(0),
            headers: vec![],
            host: None,
        }
    }

    /// Sends this Host instead of the run's.
    pub fn at_host(mut self, host: &str) -> Self {
        self.host = Some(host.to_owned());
        self
    }

    /// Sends this header too, on every request.
    pub fn with_header(mut self, name: &'static str, value: &'static str) -> Self {
        self.headers.push((name, value));
        self
    }

    /// The `n`th request of a connection.
    fn request(&self, host: &str, n: usize) -> Request<Full<Bytes>> {
        let mut b = Request::builder()
            .method(self.method)
            .uri(&self.paths[n % self.paths.len()])
            .header("host", self.host.as_deref().unwrap_or(host));
        if let Some(key) = &self.key {
            b = b.header("authorization", format!("Bearer {key}"));
        }
        for (name, value) in &self.headers {
            b = b.header(*name, *value);
        }
        let body = match self.bodies.len() {
            0 => self.body.clone(),
            n => Some(self.bodies[self.next.fetch_add(1, Ordering::Relaxed) % n].clone()),
        };
        if body.is_some() {
            b = b.header("content-type", "application/json");
        }
        b.body(Full::new(body.unwrap_or_default())).unwrap()
    }
}

pub struct RunResult {
    pub ok: u64,
    pub errors: u64,
    pub elapsed: Duration,
    pub hist: Histogram<u64>,
    /// CPU time the server process spent (user + system, every thread) during the run.
    pub server_cpu: Duration,
}

impl RunResult {
    pub fn rate(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64()
    }

    /// Microseconds of the server's CPU per successful request.
    pub fn cpu_per_request(&self) -> f64 {
        self.server_cpu.as_secs_f64() * 1e6 / self.ok.max(1) as f64
    }

    /// One row of a results table under [`HEADER`].
    pub fn row(&self, name: &str) -> String {
        format!(
            "{:<44} {:>10.0} {:>9} {:>9} {:>9} {:>8} {:>10.1}",
            name,
            self.rate(),
            self.hist.value_at_quantile(0.5),
            self.hist.value_at_quantile(0.99),
            self.hist.max(),
            self.errors,
            self.cpu_per_request()
        )
    }
}

/// The head of a results table.
pub fn header() -> String {
    format!(
        "{:<44} {:>10} {:>9} {:>9} {:>9} {:>8} {:>10}",
        "scenario", "req/s", "p50 µs", "p99 µs", "max µs", "errors", "cpu µs/req"
    )
}

/// The run of median throughput among a scenario's rounds, and every round's rate.
pub fn median(runs: &[RunResult]) -> (&RunResult, String) {
    let mut sorted: Vec<&RunResult> = runs.iter().collect();
    sorted.sort_by(|a, b| a.rate().total_cmp(&b.rate()));
    let all: Vec<String> = runs.iter().map(|r| format!("{:.0}", r.rate())).collect();
    (sorted[sorted.len() / 2], all.join(" "))
}

/// Two scenarios measured side by side: a reference (the host's route), then the one compared
/// with it, each with its name in the table.
pub type Pair = [(&'static str, Arc<Scenario>); 2];

/// Runs each pair back to back, round after round (so both sides see the same machine), and
/// prints every run; returns the runs, per pair and side.
#[allow(clippy::too_many_arguments)]
pub fn run_pairs(
    runtime: &tokio::runtime::Runtime,
    pid: u32,
    addr: SocketAddr,
    host: &str,
    pairs: &[Pair],
    rounds: usize,
    connections: usize,
    duration: Duration,
) -> Vec<[Vec<RunResult>; 2]> {
    println!("{}", header());
    let mut runs: Vec<[Vec<RunResult>; 2]> = pairs.iter().map(|_| [vec![], vec![]]).collect();
    for _ in 0..rounds {
        for (pair, runs) in pairs.iter().zip(&mut runs) {
            for ((name, scenario), runs) in pair.iter().zip(runs.iter_mut()) {
                let result = runtime.block_on(measure(
                    pid,
                    addr,
                    host,
                    scenario.clone(),
                    connections,
                    duration,
                ));
                println!("{}", result.row(name));
                runs.push(result);
            }
        }
    }
    println!();
    runs
}

/// How a pairs harness drives: `LOAD_SECS` per run (default 5), `LOAD_ROUNDS` (3) and
/// `LOAD_CONNECTIONS` (32) keep-alive connections.
pub struct Load {
    pub secs: u64,
    pub rounds: usize,
    pub connections: usize,
}

impl Load {
    pub fn from_env() -> Load {
        Load {
            secs: super::env("LOAD_SECS", 5),
            rounds: super::env("LOAD_ROUNDS", 3).max(1) as usize,
            connections: super::env("LOAD_CONNECTIONS", 32) as usize,
        }
    }

    /// `N keep-alive connections, S s per run, R rounds`, for a harness's first line.
    pub fn describe(&self) -> String {
        format!(
            "{} keep-alive connections, {} s per run, {} rounds",
            self.connections, self.secs, self.rounds
        )
    }

    /// [`run_pairs`], then [`summarize`].
    pub fn compare_pairs(
        &self,
        runtime: &tokio::runtime::Runtime,
        pid: u32,
        addr: SocketAddr,
        host: &str,
        pairs: &[Pair],
    ) {
        let runs = run_pairs(
            runtime,
            pid,
            addr,
            host,
            pairs,
            self.rounds,
            self.connections,
            Duration::from_secs(self.secs),
        );
        summarize(pairs, &runs);
    }
}

/// A pair's rounds compared: medians of the per-round ratios (measured / reference).
pub struct Compared {
    pub throughput: f64,
    pub cpu: f64,
    /// Server CPU per request beyond the reference's, in µs.
    pub extra_cpu_us: f64,
}

pub fn compare(reference: &[RunResult], measured: &[RunResult]) -> Compared {
    let median = |f: &dyn Fn(&RunResult, &RunResult) -> f64| {
        let mut v: Vec<f64> = reference
            .iter()
            .zip(measured)
            .map(|(r, m)| f(r, m))
            .collect();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    Compared {
        throughput: median(&|r, m| m.rate() / r.rate()),
        cpu: median(&|r, m| m.cpu_per_request() / r.cpu_per_request()),
        extra_cpu_us: median(&|r, m| m.cpu_per_request() - r.cpu_per_request()),
    }
}

/// Prints, per pair, the medians of its rounds: rates, ratios, the extra server CPU, p50s and
/// the measured side's errors.
pub fn summarize(pairs: &[Pair], runs: &[[Vec<RunResult>; 2]]) {
    for (pair, [reference, measured]) in pairs.iter().zip(runs) {
        let c = compare(reference, measured);
        let (r, _) = median(reference);
        let (m, _) = median(measured);
        println!(
            "{} vs {}: {:.0} vs {:.0} req/s, {:.2}x throughput, {:.2}x server CPU per request ({:+.0} µs), p50 {} vs {} µs, {} errors (medians of {})",
            pair[1].0,
            pair[0].0,
            m.rate(),
            r.rate(),
            c.throughput,
            c.cpu,
            c.extra_cpu_us,
            m.hist.value_at_quantile(0.5),
            r.hist.value_at_quantile(0.5),
            measured.iter().map(|m| m.errors).sum::<u64>(),
            reference.len(),
        );
    }
}

/// [`run`], with the CPU time the server (process `pid`) spent during it.
pub async fn measure(
    pid: u32,
    addr: SocketAddr,
    host: &str,
    scenario: Arc<Scenario>,
    connections: usize,
    duration: Duration,
) -> RunResult {
    let before = cpu_time(pid);
    let mut result = run(addr, host, scenario, connections, duration).await;
    result.server_cpu = cpu_time(pid).saturating_sub(before);
    result
}

/// The CPU time a process has used so far (Linux: utime + stime from `/proc/<pid>/stat`).
pub fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces) start at the state, field 3.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks: u64 = [11, 12] // utime and stime: fields 14 and 15
        .iter()
        .filter_map(|&i| fields.get(i)?.parse::<u64>().ok())
        .sum();
    // SAFETY: sysconf has no preconditions.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    Duration::from_nanos(ticks * 1_000_000_000 / per_second)
}

pub async fn run(
    addr: SocketAddr,
    host: &str,
    scenario: Arc<Scenario>,
    connections: usize,
    duration: Duration,
) -> RunResult {
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let tasks: Vec<_> = (0..connections)
        .map(|_| {
            let (scenario, stop, host) = (scenario.clone(), stop.clone(), host.to_owned());
            tokio::spawn(async move {
                let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap();
                let (mut ok, mut errors) = (0u64, 0u64);
                let mut sender = super::connect(addr).await;
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    let t = Instant::now();
                    let resp = sender
                        .send_request(scenario.request(&host, n))
                        .await
                        .unwrap();
                    n += 1;
                    let status = resp.status();
                    let _ = resp.into_body().collect().await.unwrap();
                    if status.is_success() {
                        ok += 1;
                        hist.record(t.elapsed().as_micros() as u64).unwrap();
                    } else {
                        errors += 1;
                    }
                }
                (ok, errors, hist)
            })
        })
        .collect();
    tokio::time::sleep(duration).await;
    stop.store(true, Ordering::Relaxed);
    let mut total = RunResult {
        ok: 0,
        errors: 0,
        elapsed: Duration::ZERO,
        hist: Histogram::new_with_bounds(1, 60_000_000, 3).unwrap(),
        server_cpu: Duration::ZERO,
    };
    for t in tasks {
        let (ok, errors, hist) = t.await.unwrap();
        total.ok += ok;
        total.errors += errors;
        total.hist.add(hist).unwrap();
    }
    total.elapsed = started.elapsed();
    total
}
