//! The acceptor thread: accepts connections and deals them to the workers
//! round-robin (see the [runtime docs](super) for why not `SO_REUSEPORT`).

use std::io;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::Sender;
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token, Waker};

use super::{RuntimeStats, ShutdownSignal};

const LISTENER: Token = Token(0);

/// Accepts until shutdown; each stream goes to the next worker, then its waker.
pub(crate) fn run(
    mut listener: TcpListener,
    mut poll: Poll,
    workers: &[(Sender<TcpStream>, Arc<Waker>)],
    signal: &ShutdownSignal,
    stats: &RuntimeStats,
) -> io::Result<()> {
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)?;
    let mut events = Events::with_capacity(64);
    let mut next = 0usize;
    loop {
        if signal.is_triggered() {
            let _ = poll.registry().deregister(&mut listener);
            tracing::debug!("acceptor: stopped accepting");
            return Ok(());
        }
        match poll.poll(&mut events, Some(Duration::from_secs(1))) {
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
                    if tx.send(stream).is_ok() {
                        let _ = waker.wake();
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    // EMFILE, ENFILE, ECONNABORTED...: log, back off briefly, go on.
                    tracing::warn!("accept failed: {e}");
                    std::thread::sleep(Duration::from_millis(10));
                    break;
                }
            }
        }
    }
}
