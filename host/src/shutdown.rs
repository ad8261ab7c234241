//! Stopping without losing or repeating background work. When the server stops, the workers
//! (webhook deliveries, mail, plugin timers) start nothing new, and what they have begun (an
//! attempt sent to a receiver, a mail handed to the SMTP server, a timer's call) finishes and is
//! recorded within the shutdown grace: a delivery is never sent and then forgotten as unsent.
//! What the grace cuts short keeps its lease and runs again after a restart (at least once).

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// The workers' side: a signal to stop, and the work they have begun.
#[derive(Clone, Default)]
pub struct Work {
    stop: CancellationToken,
    begun: TaskTracker,
}

impl Work {
    /// Runs `task` as work begun: shutdown waits for it.
    pub fn begin<F>(&self, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.begun.spawn(task);
    }

    /// Resolves when the server stops: a worker's loop takes nothing new from then on.
    pub async fn stopping(&self) {
        self.stop.cancelled().await;
    }

    pub fn is_stopping(&self) -> bool {
        self.stop.is_cancelled()
    }

    /// Stops the workers and waits for what they began; how many tasks were still running when
    /// `within` ran out.
    pub async fn finish(&self, within: std::time::Duration) -> usize {
        self.stop.cancel();
        self.begun.close();
        match tokio::time::timeout(within, self.begun.wait()).await {
            Ok(()) => 0,
            Err(_) => self.begun.len(),
        }
    }
}
