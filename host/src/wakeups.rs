//! A queue of tenant files for a background worker to look at, fed by commit signals (and the
//! worker's own retries). The worker takes the receiving end once, when it starts.

use std::sync::Mutex;

use tenants::DbId;
use tokio::sync::mpsc;

pub struct Wakeups {
    wake: mpsc::UnboundedSender<DbId>,
    inbox: Mutex<Option<mpsc::UnboundedReceiver<DbId>>>,
}

impl Default for Wakeups {
    fn default() -> Self {
        let (wake, inbox) = mpsc::unbounded_channel();
        Wakeups {
            wake,
            inbox: Mutex::new(Some(inbox)),
        }
    }
}

impl Wakeups {
    pub fn notify(&self, id: &DbId) {
        let _ = self.wake.send(id.clone());
    }

    /// The receiving end, to the first caller only.
    pub fn take(&self) -> Option<mpsc::UnboundedReceiver<DbId>> {
        self.inbox.lock().unwrap_or_else(|e| e.into_inner()).take()
    }
}
