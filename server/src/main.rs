//! `roomcast`: the standalone server. `roomcast --help` lists every flag; with none
//! it serves `ws://127.0.0.1:1337/socket.io/` with the built-in routes under the
//! safe default policy.
//!
//! Exit status: 0 after a graceful shutdown (SIGINT or SIGTERM: stop accepting,
//! close every WebSocket with 1001, wait up to `shutdown_grace_ms`), 2 for a bad
//! configuration, 1 if the server could not start or failed. A second signal during
//! the shutdown exits at once (status 130).

use std::process::ExitCode;

use roomcast_server::app::ServerBuilder;
use roomcast_server::config::ServerConfig;
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    let config = match ServerConfig::from_args() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("roomcast: {e}");
            return ExitCode::from(2);
        }
    };
    let filter = match &config.log {
        Some(f) => EnvFilter::try_new(f),
        None => EnvFilter::try_from_default_env().or_else(|_| EnvFilter::try_new("info")),
    };
    let filter = match filter {
        Ok(f) => f,
        Err(e) => {
            eprintln!("roomcast: invalid log filter: {e}");
            return ExitCode::from(2);
        }
    };
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();

    let server = match ServerBuilder::new(config.clone()).build() {
        Ok(s) => s,
        Err(e) => {
            tracing::error!("cannot listen on {}: {e}", config.addr);
            return ExitCode::from(1);
        }
    };
    let stop = server.shutdown_handle();
    match Signals::new([SIGINT, SIGTERM]) {
        Ok(mut signals) => {
            std::thread::spawn(move || {
                let mut seen = 0;
                for sig in signals.forever() {
                    seen += 1;
                    if seen > 1 {
                        eprintln!("roomcast: second signal, exiting now");
                        std::process::exit(130);
                    }
                    tracing::info!(signal = sig, "signal received, shutting down gracefully");
                    stop.shutdown();
                }
            });
        }
        Err(e) => tracing::warn!("cannot install signal handlers: {e}"),
    }
    match server.run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("server failed: {e}");
            ExitCode::from(1)
        }
    }
}
