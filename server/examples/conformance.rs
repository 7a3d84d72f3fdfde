//! The server the Socket.IO and Engine.IO conformance suites expect, built on the
//! application API (`roomcast_server::app`).
//!
//! ```text
//! cargo run --release -p roomcast-server --example conformance -- \
//!     --port 3000 --ping-interval-ms 300 --ping-timeout-ms 200
//! cargo run --release -p roomcast-server --example conformance -- --engine-echo
//! ```
//!
//! * Namespaces `/` and `/custom`. On connect the server emits `auth` with the
//!   client's auth object; it answers `message` with `message-back` carrying the
//!   same arguments (raw JSON, byte for byte, binary attachments included) and acks
//!   `message-with-ack` with its arguments.
//! * `--engine-echo` also serves the Engine.IO layer alone on `/engine.io/`,
//!   sending back every message (text or binary) it receives.
//!
//! Binds 127.0.0.1; the open policy is used (a test server).

use clap::Parser;
use roomcast_server::app::{ConnectContext, EventContext, Policy, ServerBuilder};
use roomcast_server::config::ServerConfig;

#[derive(Debug, Parser)]
#[command(about = "roomcast conformance-suite server")]
struct Args {
    /// Port to listen on.
    #[arg(long, default_value_t = 3000)]
    port: u16,
    /// Milliseconds between heartbeats.
    #[arg(long, default_value_t = 300)]
    ping_interval_ms: u64,
    /// Milliseconds to wait for a heartbeat answer.
    #[arg(long, default_value_t = 200)]
    ping_timeout_ms: u64,
    /// Also serve a bare Engine.IO echo on /engine.io/.
    #[arg(long)]
    engine_echo: bool,
    /// Worker threads.
    #[arg(long, default_value_t = 1)]
    workers: usize,
}

fn on_connect(ctx: &mut ConnectContext<'_>) -> Result<(), (String, Option<String>)> {
    let auth = format!("[{}]", ctx.auth());
    ctx.emit("auth", &auth);
    Ok(())
}

fn message(ctx: &mut EventContext<'_>) -> Option<String> {
    let args = ctx.args().to_owned();
    let attachments = ctx.attachments().to_vec();
    if let Err(e) = ctx.emit_binary("message-back", &args, &attachments) {
        eprintln!("conformance: cannot echo: {e}");
    }
    None
}

fn message_with_ack(ctx: &mut EventContext<'_>) -> Option<String> {
    let attachments = ctx.attachments().to_vec();
    ctx.set_ack_attachments(attachments);
    Some(ctx.args().to_owned())
}

fn main() -> std::io::Result<()> {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    let config = ServerConfig {
        addr: ([127, 0, 0, 1], args.port).into(),
        workers: args.workers.max(1),
        policy: Policy::open(),
        ping_interval_ms: args.ping_interval_ms,
        ping_timeout_ms: args.ping_timeout_ms,
        ..ServerConfig::default()
    };
    let mut builder = ServerBuilder::new(config);
    for nsp in ["/", "/custom"] {
        builder = builder
            .on_connect(nsp, on_connect)
            .on_event(nsp, "message", message)
            .on_event(nsp, "message-with-ack", message_with_ack);
    }
    if args.engine_echo {
        builder = builder.engine_echo("/engine.io/");
    }
    let server = builder.build()?;
    eprintln!(
        "conformance: listening on {} (socket.io on /socket.io/{})",
        server.local_addr(),
        if args.engine_echo {
            ", engine.io echo on /engine.io/"
        } else {
            ""
        }
    );
    server.run()
}
