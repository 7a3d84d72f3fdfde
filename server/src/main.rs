//! `roomcast`: the standalone server. `roomcast --help` lists every flag; with none
//! it serves `ws://127.0.0.1:1337/socket.io/` with the built-in routes under the
//! safe default policy.
//!
//! Exit status: 0 after a graceful shutdown (SIGINT or SIGTERM: stop accepting,
//! send every client a Socket.IO disconnect and WebSocket close 1001, wait up to
//! `shutdown_timeout_ms` for them to go), 2 if it cannot start (a bad
//! configuration, the port in use, an unreadable key file: one line on
//! stderr), 1 if the server failed while running. A second signal during the shutdown exits at
//! once (status 130). Logging never blocks or stops the server: lines go through
//! a bounded queue to a writer thread and are dropped (and counted) when stderr
//! cannot keep up or is gone.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use roomcast_server::app::ServerBuilder;
use roomcast_server::config::Cli;
use roomcast_server::logging;
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;
use tracing_subscriber::EnvFilter;

/// Writes one line to stderr before logging is up, ignoring errors (a closed
/// stderr must not turn a clear exit status into a panic).
fn say(line: &str) {
    let _ = writeln!(std::io::stderr(), "roomcast: {line}");
}

fn main() -> ExitCode {
    let cli = <Cli as clap::Parser>::parse();
    let print_config = cli.print_config;
    let config = match cli.into_config() {
        Ok(c) => c,
        Err(e) => {
            say(&e.to_string());
            return ExitCode::from(2);
        }
    };
    if print_config {
        let _ = std::io::stdout().write_all(config.to_toml().as_bytes());
        return ExitCode::SUCCESS;
    }
    let filter = match &config.log {
        Some(f) => EnvFilter::try_new(f),
        None => EnvFilter::try_from_default_env().or_else(|_| EnvFilter::try_new("info")),
    };
    let filter = match filter {
        Ok(f) => f,
        Err(e) => {
            say(&format!("invalid log filter: {e}"));
            return ExitCode::from(2);
        }
    };
    if let Err(e) = logging::init(filter) {
        say(&e);
        return ExitCode::from(1);
    }

    let server = match ServerBuilder::new(config.clone()).build() {
        Ok(s) => s,
        Err(e) => {
            // One line, as for a bad configuration: the port is taken, the
            // address is not this machine's, a key file is not a key...
            say(&format!("cannot start on {}: {e}", config.addr));
            return ExitCode::from(2);
        }
    };
    trim::start();
    let stop = server.shutdown_handle();
    let deadline = Duration::from_millis(config.shutdown_timeout_ms);
    match Signals::new([SIGINT, SIGTERM]) {
        Ok(mut signals) => {
            std::thread::spawn(move || {
                let mut seen = 0;
                for sig in signals.forever() {
                    seen += 1;
                    if seen > 1 {
                        std::process::exit(130);
                    }
                    tracing::info!(signal = sig, "signal received, shutting down gracefully");
                    stop.shutdown();
                    // A backstop: the workers stop by the deadline themselves.
                    std::thread::spawn(move || {
                        std::thread::sleep(deadline + Duration::from_secs(2));
                        std::process::exit(1);
                    });
                }
            });
        }
        Err(e) => tracing::warn!("cannot install signal handlers: {e}"),
    }
    let result = server.run();
    // Lines still queued for the log writer get a moment, never more.
    std::thread::sleep(Duration::from_millis(20));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("server failed: {e}");
            std::thread::sleep(Duration::from_millis(50));
            ExitCode::from(1)
        }
    }
}

/// Memory back to the OS after a spike. glibc keeps what worker threads free in
/// their own arenas, and gives it back only from the top of a heap: after a
/// burst (slow consumers' backlogs of large messages, say) tens of MB stay
/// resident that nobody uses. Once a second, if more than [`trim::SLACK`] bytes
/// sit free in the arenas, `malloc_trim` returns them. Measured by the
/// reliability suite's cross-worker burst: 24 of 32 MB still held 4 s after the
/// spike without it.
mod trim {
    /// Free arena bytes tolerated before trimming.
    pub const SLACK: usize = 4 << 20;

    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    pub fn start() {
        let spawned = std::thread::Builder::new()
            .name("roomcast-trim".into())
            .spawn(|| loop {
                std::thread::sleep(std::time::Duration::from_secs(1));
                // SAFETY: `mallinfo2` takes no argument and only reads glibc's
                // allocator statistics (under its own locks); it is thread-safe.
                let free = unsafe { libc::mallinfo2() }.fordblks;
                if free > SLACK {
                    // SAFETY: `malloc_trim` takes a size, no pointer, and is
                    // thread-safe; it only releases memory no allocation uses.
                    unsafe {
                        libc::malloc_trim(0);
                    }
                }
            });
        if let Err(e) = spawned {
            tracing::warn!("cannot start the memory trimmer: {e}");
        }
    }

    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    pub fn start() {}
}
