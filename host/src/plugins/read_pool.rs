//! The threads plugin GETs run on: a pool of their own, so a plugin's reads never hold one of the
//! runtime's blocking threads (the host's routes need those: the gate's key lookup, the host's
//! reads, `/healthz`), and a share per plugin, so one plugin's slow reads cannot take every thread
//! from the others.
//!
//! Each plugin has a queue; a free thread takes the next job round-robin across the plugins that
//! are under their share, so a flood of one plugin's calls waits behind itself only. A thread that
//! finishes a job takes the next one without sleeping, as a blocking pool's does: an async
//! semaphore in front of the threads instead costs two extra thread wake-ups per call under load,
//! which halved the plugin routes' throughput. A job that waited longer than `max_wait` is answered
//! [`NotRun::Busy`] instead of run.

use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

/// Why a call did not run to its end.
#[derive(Debug, PartialEq, Eq)]
pub enum NotRun {
    /// Too many of the plugin's calls were waiting, or this one waited past `max_wait`.
    Busy,
    /// The job panicked (a bug of the host's: guest failures are values, not panics).
    Panicked,
}

type Job = Box<dyn FnOnce() + Send>;

pub struct ReadPool {
    inner: Arc<Inner>,
}

struct Inner {
    queues: Mutex<Queues>,
    ready: Condvar,
    /// Threads one plugin may use at once.
    share: usize,
    /// Calls of one plugin that may wait at once.
    max_waiting: usize,
    max_wait: Duration,
}

#[derive(Default)]
struct Queues {
    plugins: Vec<PluginQueue>,
    /// Where the next round-robin scan starts.
    next: usize,
    /// Threads asleep, waiting for a job they may run.
    idle: usize,
}

struct PluginQueue {
    name: String,
    running: usize,
    waiting: VecDeque<Job>,
}

impl ReadPool {
    /// `threads` threads; each plugin may use `share` of them and have `max_waiting` calls waiting
    /// for up to `max_wait` each.
    pub fn new(threads: usize, share: usize, max_waiting: usize, max_wait: Duration) -> ReadPool {
        let inner = Arc::new(Inner {
            queues: Mutex::default(),
            ready: Condvar::new(),
            share: share.clamp(1, threads.max(1)),
            max_waiting,
            max_wait,
        });
        for i in 0..threads.max(1) {
            let inner = inner.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("plugin-read-{i}"))
                .spawn(move || inner.work());
            if let Err(e) = spawned {
                tracing::error!("cannot start a plugin read thread: {e}");
            }
        }
        ReadPool { inner }
    }

    /// Runs `f` on a pool thread, as `plugin`'s share allows.
    pub async fn run<T: Send + 'static>(
        &self,
        plugin: &str,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, NotRun> {
        let (reply, answer) = oneshot::channel();
        let queued = Instant::now();
        let max_wait = self.inner.max_wait;
        let job: Job = Box::new(move || {
            if queued.elapsed() > max_wait {
                let _ = reply.send(Err(NotRun::Busy));
                return;
            }
            let _ = reply.send(Ok(f()));
        });
        self.inner.submit(plugin, job)?;
        // The reply is dropped unsent only when the job panicked.
        answer.await.map_err(|_| NotRun::Panicked)?
    }
}

impl Inner {
    fn submit(&self, plugin: &str, job: Job) -> Result<(), NotRun> {
        let mut queues = self.lock();
        let queue = match queues.plugins.iter().position(|q| q.name == plugin) {
            Some(i) => &mut queues.plugins[i],
            None => {
                queues.plugins.push(PluginQueue {
                    name: plugin.to_owned(),
                    running: 0,
                    waiting: VecDeque::new(),
                });
                queues.plugins.last_mut().expect("just pushed")
            }
        };
        if queue.waiting.len() >= self.max_waiting {
            return Err(NotRun::Busy);
        }
        queue.waiting.push_back(job);
        // Wake a thread only if one is asleep and may run this job now: otherwise a thread that
        // finishes a job takes it, and a wake-up would only put a thread to sleep again (two
        // context switches per call, on a box with two cores).
        let wake = queue.running < self.share && queues.idle > 0;
        drop(queues);
        if wake {
            self.ready.notify_one();
        }
        Ok(())
    }

    fn work(&self) {
        let mut queues = self.lock();
        loop {
            let Some((i, job)) = self.take(&mut queues) else {
                queues.idle += 1;
                queues = self.ready.wait(queues).unwrap_or_else(|e| e.into_inner());
                queues.idle -= 1;
                continue;
            };
            // More runnable work than this thread: hand some to a sleeping one.
            if queues.idle > 0 && self.runnable(&queues) {
                self.ready.notify_one();
            }
            drop(queues);
            // A panic is the job's own: its caller hears `Panicked` when the reply is dropped.
            let _ = catch_unwind(AssertUnwindSafe(job));
            queues = self.lock();
            queues.plugins[i].running -= 1;
        }
    }

    /// The next job, round-robin over the plugins under their share.
    fn take(&self, queues: &mut Queues) -> Option<(usize, Job)> {
        let n = queues.plugins.len();
        for k in 0..n {
            let i = (queues.next + k) % n;
            let queue = &mut queues.plugins[i];
            if queue.running < self.share
                && let Some(job) = queue.waiting.pop_front()
            {
                queue.running += 1;
                queues.next = (i + 1) % n;
                return Some((i, job));
            }
        }
        None
    }

    fn runnable(&self, queues: &Queues) -> bool {
        queues
            .plugins
            .iter()
            .any(|q| q.running < self.share && !q.waiting.is_empty())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Queues> {
        self.queues.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
    }

    /// A plugin whose calls hang takes its share, no more: another plugin's call still runs at
    /// once, and the hanging plugin's waiting calls are answered `Busy` past `max_wait`.
    #[test]
    fn one_plugins_slow_calls_leave_the_others_a_thread() {
        let pool = Arc::new(ReadPool::new(4, 2, 8, Duration::from_millis(300)));
        runtime().block_on(async {
            let slow: Vec<_> = (0..6)
                .map(|_| {
                    let pool = pool.clone();
                    tokio::spawn(async move {
                        pool.run("slow", || std::thread::sleep(Duration::from_millis(800)))
                            .await
                    })
                })
                .collect();
            tokio::time::sleep(Duration::from_millis(50)).await;
            let started = Instant::now();
            assert_eq!(pool.run("quick", || 7).await.unwrap(), 7);
            assert!(started.elapsed() < Duration::from_millis(100));
            let mut ran = 0;
            for task in slow {
                ran += usize::from(task.await.unwrap().is_ok());
            }
            // Two ran at once; the four behind them waited past 300 ms.
            assert_eq!(ran, 2);
            // Over the waiting cap: refused at once.
            let flood: Vec<_> = (0..12)
                .map(|_| {
                    let pool = pool.clone();
                    tokio::spawn(async move {
                        pool.run("slow", || std::thread::sleep(Duration::from_millis(100)))
                            .await
                    })
                })
                .collect();
            let mut refused = 0;
            for task in flood {
                refused += usize::from(task.await.unwrap().is_err());
            }
            assert!(refused >= 2, "{refused}");
        });
    }

    #[test]
    fn a_panicking_job_is_busy_and_the_thread_lives_on() {
        let pool = ReadPool::new(1, 1, 8, Duration::from_secs(5));
        runtime().block_on(async {
            assert_eq!(
                pool.run("p", || -> u8 { panic!("a bug") }).await,
                Err(NotRun::Panicked)
            );
            assert_eq!(pool.run("p", || 1).await.unwrap(), 1);
        });
    }
}
