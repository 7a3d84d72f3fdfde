//! Logging that never blocks or kills a worker.
//!
//! Every log line is formatted on the thread that logs it into a buffer and
//! handed, with a non-blocking `try_send`, to one writer thread over a bounded
//! channel ([`LINES_IN_FLIGHT`] lines). Only the writer thread touches stderr.
//! When stderr is slow (a stalled reader, a full pipe) the channel fills and new
//! lines are **dropped and counted** ([`dropped_lines`], in `/metrics` as
//! `roomcast_log_lines_dropped_total`); when stderr is gone (the reader exited)
//! writes fail, and those lines are counted too. Nothing ever panics on a write
//! error (`tracing-subscriber` would `eprintln!` its own errors, and `eprintln!`
//! panics on a closed pipe), and no worker waits for a terminal.
//!
//! Log lines caused by clients (bad requests, protocol errors, slow consumers)
//! are also rate-limited per worker, see `runtime::log_limit`.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use crossbeam_channel::{Receiver, Sender, TrySendError};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::EnvFilter;

/// Lines queued for the writer thread before new ones are dropped.
pub const LINES_IN_FLIGHT: usize = 8192;

static DROPPED: AtomicU64 = AtomicU64::new(0);
static SENDER: OnceLock<Sender<Vec<u8>>> = OnceLock::new();

/// Log lines dropped since start: the writer thread could not keep up, or
/// stderr refused them.
#[must_use]
pub fn dropped_lines() -> u64 {
    DROPPED.load(Ordering::Relaxed)
}

/// Counts lines dropped elsewhere (the per-worker rate limit).
pub(crate) fn count_dropped(n: u64) {
    DROPPED.fetch_add(n, Ordering::Relaxed);
}

/// The [`MakeWriter`] of the subscriber: each event gets a [`LineWriter`] that
/// hands its bytes to the writer thread when dropped.
#[derive(Debug, Clone, Copy, Default)]
pub struct NonBlocking;

/// One log line being formatted; sent (or dropped and counted) when dropped.
#[derive(Debug, Default)]
pub struct LineWriter {
    buf: Vec<u8>,
}

impl Write for LineWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for LineWriter {
    fn drop(&mut self) {
        if self.buf.is_empty() {
            return;
        }
        let line = std::mem::take(&mut self.buf);
        match SENDER.get().map(|tx| tx.try_send(line)) {
            Some(Ok(())) => {}
            Some(Err(TrySendError::Full(_) | TrySendError::Disconnected(_))) | None => {
                DROPPED.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

impl<'a> MakeWriter<'a> for NonBlocking {
    type Writer = LineWriter;
    fn make_writer(&'a self) -> LineWriter {
        LineWriter::default()
    }
}

fn write_lines(rx: Receiver<Vec<u8>>) {
    let mut stderr = std::io::stderr();
    for line in rx {
        if stderr.write_all(&line).is_err() {
            DROPPED.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Installs the global subscriber with `filter`, writing through the
/// non-blocking writer thread (started here). ANSI colours only on a terminal.
///
/// # Errors
///
/// If a global subscriber is already installed, or the writer thread cannot be
/// started.
pub fn init(filter: EnvFilter) -> Result<(), String> {
    let (tx, rx) = crossbeam_channel::bounded(LINES_IN_FLIGHT);
    if SENDER.set(tx).is_err() {
        return Err("logging is already initialised".to_owned());
    }
    std::thread::Builder::new()
        .name("roomcast-log".into())
        .spawn(move || write_lines(rx))
        .map_err(|e| format!("cannot start the log writer: {e}"))?;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(NonBlocking)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init()
        .map_err(|e| e.to_string())
}
