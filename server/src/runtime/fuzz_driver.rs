//! Test support (feature `fuzzing`): drives one [`Connection`] with arbitrary
//! client bytes, time and end of input, on a real shard with the built-in
//! routes, checking after every step that nothing panicked and the shard's
//! invariants hold. The `connection` fuzz target calls [`drive`].

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use roomcast::{Engine, EngineConfig, MemoryWriter};

use super::app_state::AppState;
use super::connection::Connection;
use super::env::{AnswerSink, Env};
use super::log_limit::LogLimit;
use super::metrics::{Metrics, RuntimeStats};
use super::poll_table::PollTable;
use crate::config::ServerConfig;
use crate::router::{Policy, Router};

/// Runs `input` as a script: each step's first byte picks what happens —
/// `0..=199` hands the next `(b % 64) + 1` bytes to the connection, `200..=239`
/// advances the clock by `(b - 200) * 250` ms, `240..=247` starts a shutdown,
/// `248..=255` ends the input. The shard is drained after every step.
///
/// # Panics
///
/// When the shard's invariants break (that is the finding).
pub fn drive(input: &[u8]) {
    let config = ServerConfig {
        ping_interval_ms: 1_000,
        ping_timeout_ms: 1_000,
        admin_token: Some("t".into()),
        ..ServerConfig::local_ephemeral()
    };
    let app = AppState::new(
        config,
        Router::with_builtin_routes(Policy::open()),
        HashSet::from(["/".to_owned()]),
        HashMap::new(),
        HashMap::new(),
    );
    let (engine, mut shards) = Engine::new(EngineConfig::default());
    let mut shard = shards.remove(0);
    let metrics = Metrics::new(1);
    let stats = RuntimeStats::default();
    let (tx, rx) = crossbeam_channel::unbounded();
    let answers = AnswerSink::new(tx, Arc::new(|| {}));
    let mut log_limit = LogLimit::default();
    let mut out = MemoryWriter::with_max_per_write(4096);
    let mut conn = Connection::new(0, app.config.handshake_timeout_ms);
    let mut polls = PollTable::default();
    let mut access = super::access_table::AccessTable::default();

    let mut poll_flush = Vec::new();
    let mut now = 0u64;
    // Every borrow the connection's Env needs, from the locals above.
    macro_rules! env {
        () => {
            Env {
                now,
                worker: 0,
                key: (0, 1),
                shard: &mut shard,
                engine: &engine,
                app: &app,
                metrics: &metrics,
                stats: &stats,
                answers: &answers,
                log_limit: &mut log_limit,
                polls: &mut polls,
                access: &mut access,

                poll_flush: &mut poll_flush,
                poll: None,
            }
        };
    }
    let mut rest = input;
    while let Some((&op, tail)) = rest.split_first() {
        rest = tail;
        let mut env = env!();
        match op {
            0..=199 => {
                let n = (usize::from(op) % 64 + 1).min(rest.len());
                let (chunk, tail) = rest.split_at(n);
                rest = tail;
                conn.on_read(chunk, &mut env);
            }
            200..=239 => {
                env.now += u64::from(op - 200) * 250;
                now = env.now;
                while conn.next_deadline().is_some_and(|d| d <= now) {
                    conn.on_timeout(&mut env);
                }
            }
            240..=247 => conn.begin_shutdown(&mut env),
            _ => conn.on_eof(&mut env),
        }
        if let Some(p) = conn.http_pending().map(<[u8]>::len) {
            conn.http_written(p, &env);
        }
        while let Ok(a) = rx.try_recv() {
            let mut env = env!();
            conn.on_answer(&a.response, &mut env);
        }
        shard.process_ops();
        shard.drain(&mut out);
        if let Some(id) = conn.socket() {
            while !shard.flush(id, &mut out) {}
        }
        if let Err(e) = shard.validate() {
            panic!("shard invariant broken: {e}");
        }
        if conn.is_done(&shard) {
            break;
        }
    }
    let mut env = env!();
    conn.finish(&mut env);
    // Long-polling sessions the input opened end with the run.
    for id in env.polls.ids() {
        if let Some(ps) = env.polls.take(id) {
            super::polling::finish(&ps, &mut env);
        }
    }
    shard.process_ops();
    assert_eq!(
        shard.socket_count(),
        0,
        "the socket left with the connection"
    );
    if let Err(e) = shard.validate() {
        panic!("shard invariant broken after finish: {e}");
    }
}
