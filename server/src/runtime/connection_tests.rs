//! Whole connections driven through [`Connection`] in memory: every byte the
//! client sends is handed in one at a time, time only moves when the test says
//! so, and what the server writes is read back from the shard's writer (upgraded
//! sockets) and from the connection's HTTP output.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use crossbeam_channel::Receiver;
use roomcast::wire::split_frames;
use roomcast::{Engine, EngineConfig, MemoryWriter, Shard, SocketId};

use super::*;
use crate::config::ServerConfig;
use crate::router::{Policy, Router};
use crate::runtime::app_state::AppState;
use crate::runtime::env::{Answer, AnswerSink};
use crate::runtime::metrics::{Metrics, RuntimeStats};

const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
const PING_INTERVAL: u64 = 300;
const PING_TIMEOUT: u64 = 200;

struct Harness {
    conn: Connection,
    shard: Shard,
    engine: Engine,
    app: AppState,
    metrics: Metrics,
    stats: RuntimeStats,
    answers: AnswerSink,
    answers_rx: Receiver<Answer>,
    log_limit: crate::runtime::log_limit::LogLimit,
    polls: crate::runtime::poll_table::PollTable,
    access: crate::runtime::access_table::AccessTable,
    poll_flush: Vec<roomcast::SocketId>,
    now: u64,
    out: MemoryWriter,
    http: Vec<u8>,
}

macro_rules! env {
    ($h:ident) => {
        Env {
            now: $h.now,
            worker: 0,
            key: (0, 1),
            shard: &mut $h.shard,
            engine: &$h.engine,
            app: &$h.app,
            metrics: &$h.metrics,
            stats: &$h.stats,
            answers: &$h.answers,
            log_limit: &mut $h.log_limit,
            polls: &mut $h.polls,
            access: &mut $h.access,
            poll_flush: &mut $h.poll_flush,
            poll: None,
        }
    };
}

impl Harness {
    fn new() -> Harness {
        let config = ServerConfig {
            ping_interval_ms: PING_INTERVAL,
            ping_timeout_ms: PING_TIMEOUT,
            admin_token: Some("t0k".into()),
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
        let (tx, answers_rx) = crossbeam_channel::unbounded();
        Harness {
            conn: Connection::new(0, app.config.handshake_timeout_ms),
            shard: shards.remove(0),
            engine,
            metrics: Metrics::new(1),
            stats: RuntimeStats::default(),
            answers: AnswerSink::new(tx, Arc::new(|| {})),
            answers_rx,
            log_limit: Default::default(),
            polls: Default::default(),
            access: Default::default(),

            poll_flush: Vec::new(),
            app,
            now: 0,
            out: MemoryWriter::default(),
            http: Vec::new(),
        }
    }

    /// Hands `bytes` in one at a time, ending the tick after each.
    fn feed(&mut self, bytes: &[u8]) {
        for b in bytes {
            let h = &mut *self;
            h.conn.on_read(&[*b], &mut env!(h));
            self.tick();
        }
    }

    /// The end of a worker tick: mail applied, the shard drained, answers to
    /// parked queries delivered, the HTTP answer written.
    fn tick(&mut self) {
        self.shard.process_ops();
        self.shard.drain(&mut self.out);
        while let Ok(a) = self.answers_rx.try_recv() {
            let h = &mut *self;
            h.conn.on_answer(&a.response, &mut env!(h));
            self.shard.drain(&mut self.out);
        }
        while let Some(p) = self.conn.http_pending().map(<[u8]>::to_vec) {
            self.http.extend_from_slice(&p);
            let h = &mut *self;
            if h.conn.http_written(p.len(), &env!(h)) {
                h.conn.resume(&mut env!(h));
            }
            if p.is_empty() {
                break;
            }
        }
    }

    /// Moves the virtual clock to `t`, firing what is due.
    fn advance_to(&mut self, t: u64) {
        while let Some(d) = self.conn.next_deadline().filter(|&d| d <= t) {
            self.now = d;
            let h = &mut *self;
            h.conn.on_timeout(&mut env!(h));
            self.tick();
        }
        self.now = t;
    }

    fn socket(&self) -> SocketId {
        self.conn.socket().expect("upgraded")
    }

    /// Text payloads of the WebSocket frames written since the last call (after
    /// the `101` response, which `take_upgrade_response` consumes).
    fn frames(&mut self) -> Vec<String> {
        split_frames(&self.out.take(self.socket()))
    }

    fn take_upgrade_response(&mut self) -> String {
        let id = self.socket();
        let all = self.out.take(id);
        let end = all
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("a response head")
            + 4;
        let head = String::from_utf8(all[..end].to_vec()).unwrap();
        self.out = MemoryWriter::default();
        // Put the frames after the head back for `frames`.
        if end < all.len() {
            let rest = all[end..].to_vec();
            let mut w = MemoryWriter::default();
            roomcast::Writer::write(&mut w, id, &[std::io::IoSlice::new(&rest)]);
            self.out = w;
        }
        head
    }

    /// A masked client text frame.
    fn send_text(&mut self, text: &str) {
        self.feed(&client_frame(0x1, text.as_bytes()));
    }
}

/// A client frame (FIN, masked with a fixed key).
fn client_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mask = [0x12, 0x34, 0x56, 0x78];
    let mut f = vec![0x80 | opcode];
    match payload.len() {
        n if n < 126 => f.push(0x80 | n as u8),
        n => {
            f.push(0x80 | 126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
    }
    f.extend_from_slice(&mask);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    f
}

fn upgrade_request(eio: &str) -> Vec<u8> {
    format!(
        "GET /socket.io/?EIO={eio}&transport=websocket HTTP/1.1\r\nHost: localhost\r\n\
         Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {KEY}\r\n\
         Sec-WebSocket-Version: 13\r\n\r\n"
    )
    .into_bytes()
}

fn close_payload(frames: &[u8]) -> (u16, String) {
    let (op, payload, _) = roomcast::wire::parse_frame(frames).expect("a frame");
    assert_eq!(op, 0x8, "a close frame");
    let code = u16::from_be_bytes([payload[0], payload[1]]);
    (code, String::from_utf8(payload[2..].to_vec()).unwrap())
}

#[test]
fn a_whole_eio4_session_byte_by_byte() {
    let mut h = Harness::new();
    assert_eq!(h.conn.next_deadline(), Some(10_000), "handshake deadline");
    let req = upgrade_request("4");
    h.feed(&req[..req.len() - 1]);
    assert!(
        h.conn.socket().is_none(),
        "no upgrade before the head is complete"
    );
    h.feed(&req[req.len() - 1..]);
    let id = h.socket();
    let head = h.take_upgrade_response();
    assert!(
        head.starts_with("HTTP/1.1 101 Switching Protocols\r\n"),
        "{head}"
    );
    assert!(head.contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"));
    assert_eq!(
        h.frames(),
        [format!(
            r#"0{{"sid":"{id}","upgrades":[],"pingInterval":300,"pingTimeout":200,"maxPayload":1000000}}"#
        )]
    );
    assert!(
        !h.engine.is_connected(id),
        "connected only at the Socket.IO CONNECT"
    );

    h.send_text("40");
    assert_eq!(h.frames(), [format!(r#"40{{"sid":"{id}"}}"#)]);
    assert!(h.engine.is_connected(id));

    // A virtual request: join, then a broadcast to that room, whose event reaches
    // the requester before the request's ack.
    h.send_text(r#"421["post",{"method":"post","url":"/sockets/join","data":{"room":"r"}}]"#);
    assert_eq!(
        h.frames(),
        [r#"431[{"body":{"ok":true},"headers":{},"statusCode":200}]"#]
    );
    h.send_text(r#"422["post",{"url":"/sockets/broadcast","data":{"rooms":"r","event":"hi","data":{"b":1.50,"a":[]}}}]"#);
    assert_eq!(
        h.frames(),
        [
            r#"42["hi",{"b":1.50,"a":[]}]"#, // the client's bytes, `1.50` kept
            r#"432[{"body":{"ok":true},"headers":{},"statusCode":200}]"#
        ]
    );

    // Heartbeats: the server pings every interval; a pong restarts the interval.
    assert_eq!(h.conn.next_deadline(), Some(PING_INTERVAL));
    h.advance_to(PING_INTERVAL - 1);
    assert!(h.frames().is_empty());
    h.advance_to(PING_INTERVAL);
    assert_eq!(h.frames(), ["2"]);
    h.now = PING_INTERVAL + 50;
    h.send_text("3");
    assert_eq!(h.conn.next_deadline(), Some(2 * PING_INTERVAL + 50));
    h.advance_to(2 * PING_INTERVAL + 50);
    assert_eq!(h.frames(), ["2"]);

    // No pong: after the timeout, close 1000 "ping timeout".
    h.advance_to(2 * PING_INTERVAL + 50 + PING_TIMEOUT - 1);
    assert!(h.out.received(id).is_empty());
    h.advance_to(2 * PING_INTERVAL + 50 + PING_TIMEOUT);
    assert_eq!(
        close_payload(&h.out.take(id)),
        (1000, "ping timeout".into())
    );
    assert!(!h.conn.is_done(&h.shard), "waits for the peer's close");
    h.feed(&client_frame(0x8, &1000u16.to_be_bytes()));
    assert!(h.conn.is_done(&h.shard));
    h.conn.finish(&mut env!(h));
    assert!(!h.engine.is_connected(id));
    assert!(h.conn.is_closed());
}

#[test]
fn a_whole_eio3_session_byte_by_byte() {
    let mut h = Harness::new();
    h.feed(&upgrade_request("3"));
    let id = h.socket();
    assert!(h.take_upgrade_response().starts_with("HTTP/1.1 101 "));
    // v3: the open packet, then `40` at once (the client joins `/` implicitly).
    assert_eq!(
        h.frames(),
        [
            format!(
                r#"0{{"sid":"{id}","upgrades":[],"pingInterval":300,"pingTimeout":200,"maxPayload":1000000}}"#
            ),
            "40".to_owned()
        ]
    );
    assert!(h.engine.is_connected(id));

    // The client pings; the server answers at once and moves the deadline.
    assert_eq!(h.conn.next_deadline(), Some(PING_INTERVAL + PING_TIMEOUT));
    h.now = 100;
    h.send_text("2");
    assert_eq!(h.frames(), ["3"]);
    assert_eq!(
        h.conn.next_deadline(),
        Some(100 + PING_INTERVAL + PING_TIMEOUT)
    );

    // sails.io.js: a virtual request and its ack; an unknown socket id → 404.
    h.send_text(r#"420["get",{"method":"get","url":"/sockets/id","headers":{}}]"#);
    assert_eq!(
        h.frames(),
        [format!(
            r#"430[{{"body":{{"id":"{id}","node":"","worker":0}},"headers":{{}},"statusCode":200}}]"#
        )]
    );
    let stale = SocketId::from_parts(id.node(), 0, id.slot(), id.generation(), id.token() ^ 1);
    h.send_text(&format!(
        r#"421["post",{{"url":"/sockets/emit","data":{{"socketIds":["{stale}"],"data":1}}}}]"#
    ));
    let frames = h.frames();
    assert_eq!(frames.len(), 1);
    assert!(
        frames[0].starts_with(r#"431[{"body":{"error":"E_UNKNOWN_SOCKET""#),
        "{frames:?}"
    );
    assert!(frames[0].ends_with(r#""statusCode":404}]"#), "{frames:?}");

    // No ping for interval + timeout: close.
    h.advance_to(100 + PING_INTERVAL + PING_TIMEOUT);
    assert_eq!(
        close_payload(&h.out.take(id)),
        (1000, "ping timeout".into())
    );
    // The peer never answers our close: the connection is dropped at the close
    // deadline.
    let deadline = h.conn.next_deadline().expect("close deadline");
    assert_eq!(deadline, h.now + h.app.config.close_timeout_ms);
    h.advance_to(deadline);
    assert!(h.conn.is_done(&h.shard));
}

#[test]
fn protocol_errors_close_with_1008_and_the_reason() {
    let mut h = Harness::new();
    h.feed(&upgrade_request("4"));
    let id = h.socket();
    h.take_upgrade_response();
    let _ = h.frames();
    h.send_text("40");
    let _ = h.frames();
    h.send_text("2"); // a v4 client must not ping
    assert_eq!(
        close_payload(&h.out.take(id)),
        (1008, "invalid heartbeat direction".into())
    );
    assert_eq!(
        h.metrics
            .render(&h.stats)
            .matches("kind=\"heartbeat\"} 1")
            .count(),
        1
    );
}

#[test]
fn http_keep_alive_and_a_parked_admin_query() {
    let mut h = Harness::new();
    // Two pipelined requests, byte by byte: answered in order on one connection.
    let reqs = "GET /health HTTP/1.1\r\nHost: x\r\n\r\n\
                GET /api/rooms/lobby HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer t0k\r\n\r\n";
    let member = h.shard.connect().unwrap();
    h.shard.join(member, "lobby").unwrap();
    h.feed(reqs.as_bytes());
    let text = String::from_utf8(std::mem::take(&mut h.http)).unwrap();
    let answers: Vec<&str> = text.split("HTTP/1.1 ").filter(|s| !s.is_empty()).collect();
    assert_eq!(answers.len(), 2, "{text}");
    assert!(answers[0].starts_with("200 OK") && answers[0].ends_with(r#"{"status":"ok"}"#));
    assert!(answers[1].starts_with("200 OK"), "{}", answers[1]);
    assert!(answers[1].ends_with(&format!(
        r#"{{"room":"lobby","count":1,"members":["{member}"],"truncated":false,"partial":false,"missing":[]}}"#
    )));
    assert!(!h.conn.is_done(&h.shard), "keep-alive");
    // An idle keep-alive connection is closed at the handshake deadline.
    let deadline = h.conn.next_deadline().unwrap();
    h.advance_to(deadline);
    assert!(h.conn.is_done(&h.shard));
}

#[test]
fn bad_requests_get_their_status_before_any_upgrade() {
    let mut h = Harness::new();
    h.feed(b"GET /socket.io/?EIO=4&transport=flashsocket HTTP/1.1\r\nHost: x\r\n\r\n");
    let text = String::from_utf8(std::mem::take(&mut h.http)).unwrap();
    assert!(text.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{text}");
    assert!(
        text.ends_with(r#"{"code":0,"message":"Transport unknown"}"#),
        "{text}"
    );
    assert!(h.conn.socket().is_none());
    assert!(
        h.conn.is_done(&h.shard),
        "closed once the answer is written"
    );
}

#[test]
fn shutdown_sends_a_socket_io_disconnect_then_close_1001_and_nothing_after() {
    let mut h = Harness::new();
    h.feed(&upgrade_request("4"));
    let id = h.socket();
    h.take_upgrade_response();
    let _ = h.frames();
    h.send_text("40");
    let _ = h.frames();
    h.send_text(r#"421["post",{"url":"/sockets/join","data":{"room":"r"}}]"#);
    let _ = h.frames();
    {
        let h = &mut h;
        h.conn.begin_shutdown(&mut env!(h));
    }
    // A broadcast after the shutdown began reaches nobody on this connection.
    h.engine.broadcast("r", Some("late"), &1, None).unwrap();
    h.tick();
    let all = h.out.take(id);
    let texts = split_frames(&all);
    assert_eq!(texts[0], "41", "{texts:?}");
    assert_eq!(
        texts.len(),
        2,
        "the disconnect, then the close frame: {texts:?}"
    );
    let close_at = all.len() - (2 + 2 + "server shutting down".len());
    assert_eq!(
        close_payload(&all[close_at..]),
        (1001, "server shutting down".into())
    );
}
