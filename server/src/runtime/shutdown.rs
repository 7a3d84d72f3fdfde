//! [`ShutdownSignal`]: the shared "stop now" flag and every thread's waker.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use mio::Waker;

/// The shared shutdown flag and every thread's waker.
#[derive(Clone)]
pub(crate) struct ShutdownSignal {
    flag: Arc<AtomicBool>,
    wakers: Arc<Vec<Arc<Waker>>>,
}

impl fmt::Debug for ShutdownSignal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShutdownSignal")
            .field("triggered", &self.is_triggered())
            .finish()
    }
}

impl ShutdownSignal {
    pub(crate) fn new(wakers: Vec<Arc<Waker>>) -> ShutdownSignal {
        ShutdownSignal {
            flag: Arc::new(AtomicBool::new(false)),
            wakers: Arc::new(wakers),
        }
    }

    /// Sets the flag and wakes every thread (idempotent).
    pub(crate) fn trigger(&self) {
        if !self.flag.swap(true, Ordering::AcqRel) {
            tracing::info!("shutdown requested");
        }
        for w in self.wakers.iter() {
            let _ = w.wake();
        }
    }

    pub(crate) fn is_triggered(&self) -> bool {
        self.flag.load(Ordering::Acquire)
    }
}
