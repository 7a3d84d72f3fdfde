//! [`WakeFlag`]: the hand-off that lets producers wake a shard's thread once per
//! batch of operations, never per operation and never too late.
//!
//! A producer first queues its operation, then [`raise`](WakeFlag::raise)s the
//! flag and calls the shard's waker only if the flag was down. The shard's
//! thread [`lower`](WakeFlag::lower)s the flag *before* it drains its queue.
//!
//! Both sides use a read-modify-write (`swap`, `AcqRel`). That is what makes the
//! hand-off safe: the two swaps are totally ordered, so either the producer's
//! comes first — then the shard's swap reads `true` from it, synchronizes with
//! it, and its drain sees the queued operation — or the shard's comes first and
//! the producer reads `false` and wakes it. A plain `store(false, Release)` on the
//! shard's side would let its drain read the queue before the store is visible
//! (store→load reordering, which x86 does), while the producer still sees the old
//! `true` and does not wake it: an operation left queued with nobody woken.
//! `tests` below checks every interleaving with loom (`RUSTFLAGS="--cfg loom"
//! cargo test -p roomcast --release --lib wake`).

#[cfg(loom)]
use loom::sync::atomic::{AtomicBool, Ordering};
#[cfg(not(loom))]
use std::sync::atomic::{AtomicBool, Ordering};

/// "A wake-up is pending"; see the module docs.
#[derive(Debug, Default)]
pub(crate) struct WakeFlag {
    pending: AtomicBool,
}

impl WakeFlag {
    /// Producer side, after queueing: true if the caller must wake the consumer.
    #[inline]
    pub(crate) fn raise(&self) -> bool {
        !self.pending.swap(true, Ordering::AcqRel)
    }

    /// Consumer side, before draining the queue.
    #[inline]
    pub(crate) fn lower(&self) {
        self.pending.swap(false, Ordering::AcqRel);
    }
}

#[cfg(all(test, loom))]
mod tests {
    use super::WakeFlag;
    use loom::sync::atomic::{AtomicUsize, Ordering};
    use loom::sync::{Arc, Condvar, Mutex};
    use loom::thread;

    /// A queue whose length producers bump after writing (Release) and the
    /// consumer reads (Acquire), as crossbeam's channel slots do.
    struct World {
        queued: AtomicUsize,
        flag: WakeFlag,
        woken: Mutex<usize>,
        bell: Condvar,
    }

    impl World {
        fn wake(&self) {
            *self.woken.lock().unwrap() += 1;
            self.bell.notify_one();
        }
    }

    /// Two producers each queue one operation; the consumer loops as a shard
    /// thread does (lower, drain, sleep until woken) and must see both.
    #[test]
    fn no_operation_is_left_queued_without_a_wake_up() {
        loom::model(|| {
            let w = Arc::new(World {
                queued: AtomicUsize::new(0),
                flag: WakeFlag::default(),
                woken: Mutex::new(0),
                bell: Condvar::new(),
            });
            let producers: Vec<_> = (0..2)
                .map(|_| {
                    let w = Arc::clone(&w);
                    thread::spawn(move || {
                        w.queued.fetch_add(1, Ordering::Release);
                        if w.flag.raise() {
                            w.wake();
                        }
                    })
                })
                .collect();
            let mut seen_wakes = 0;
            loop {
                w.flag.lower();
                if w.queued.load(Ordering::Acquire) == 2 {
                    break;
                }
                // Sleep until a wake-up we have not consumed yet (loom reports a
                // deadlock if none ever comes: a lost wake-up).
                let mut woken = w.woken.lock().unwrap();
                while *woken == seen_wakes {
                    woken = w.bell.wait(woken).unwrap();
                }
                seen_wakes = *woken;
            }
            for p in producers {
                p.join().unwrap();
            }
        });
    }
}
