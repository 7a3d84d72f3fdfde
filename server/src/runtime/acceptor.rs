//! The acceptor thread: accepts connections and deals them to the workers
//! round-robin (see the [runtime docs](super) for why not `SO_REUSEPORT`).
//!
//! Out of file descriptors (`EMFILE`, `ENFILE`) the acceptor pauses for
//! [`RETRY`] and tries again — pending connections wait in the kernel's accept
//! queue, existing clients are served meanwhile — and logs once per
//! [`LOG_EVERY`] how many accepts failed, not once per failure.

use std::io;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::Sender;

use super::worker::Incoming;
use mio::net::TcpListener;
use mio::{Events, Interest, Poll, Token, Waker};

use super::metrics::RuntimeStats;
use super::shutdown::ShutdownSignal;

const LISTENER: Token = Token(0);
/// How long accepting pauses when descriptors run out.
pub(crate) const RETRY: Duration = Duration::from_millis(50);
/// At most one "accept failed" log line this often.
pub(crate) const LOG_EVERY: Duration = Duration::from_secs(10);

/// Accepts until shutdown; each stream goes to the next worker, then its waker.
pub(crate) fn run(
    mut listener: TcpListener,
    mut poll: Poll,
    workers: &[(Sender<Incoming>, Arc<Waker>)],
    signal: &ShutdownSignal,
    stats: &RuntimeStats,
) -> io::Result<()> {
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)?;
    let mut events = Events::with_capacity(64);
    let mut next = 0usize;
    let mut paused = false;
    let mut failures = 0u64;
    let mut last_log: Option<std::time::Instant> = None;
    loop {
        if signal.is_triggered() {
            let _ = poll.registry().deregister(&mut listener);
            tracing::debug!("acceptor: stopped accepting");
            return Ok(());
        }
        // Paused (out of descriptors): retry soon even without a new event, as
        // the connections already queued will not raise another edge.
        let timeout = if paused {
            RETRY
        } else {
            Duration::from_secs(1)
        };
        paused = false;
        match poll.poll(&mut events, Some(timeout)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
        if signal.is_triggered() {
            continue;
        }
        // Spurious wake-ups are fine: accept stops at WouldBlock.
        loop {
            match listener.accept() {
                Ok((stream, peer)) => {
                    stats.accepted.fetch_add(1, Ordering::Relaxed);
                    if let Err(e) = stream.set_nodelay(true) {
                        tracing::debug!(%peer, "set_nodelay failed: {e}");
                    }
                    let (tx, waker) = &workers[next % workers.len()];
                    next = next.wrapping_add(1);
                    if tx.send(Incoming::new(stream)).is_ok() {
                        let _ = waker.wake();
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::ConnectionAborted => {}
                Err(e) => {
                    // EMFILE, ENFILE, ENOBUFS...: pause, count, log now and then.
                    failures += 1;
                    if last_log.is_none_or(|t| t.elapsed() >= LOG_EVERY) {
                        tracing::warn!(
                            failures,
                            "accept failed: {e}; pausing accepts for {} ms at a time \
                             (existing clients are served; logged at most every {} s)",
                            RETRY.as_millis(),
                            LOG_EVERY.as_secs()
                        );
                        last_log = Some(std::time::Instant::now());
                        failures = 0;
                    }
                    paused = true;
                    break;
                }
            }
        }
    }
}
