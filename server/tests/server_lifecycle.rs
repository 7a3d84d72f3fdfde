//! Connection lifecycles: heartbeat timeouts, slow consumers, engine-initiated
//! disconnects and graceful shutdown.

mod server_util;

use std::time::{Duration, Instant};

use roomcast_server::app::Policy;
use serde_json::json;
use server_util::*;
use tungstenite::Message;

#[test]
fn v4_client_that_never_pongs_is_closed() {
    let mut cfg = config();
    cfg.ping_interval_ms = 100;
    cfg.ping_timeout_ms = 100;
    let server = TestServer::with_config(cfg);
    let mut ws = ws(server.addr, "/socket.io/?EIO=4&transport=websocket");
    let open = text(&mut ws);
    assert!(
        open.contains(r#""pingInterval":100,"pingTimeout":100"#),
        "{open}"
    );
    send(&mut ws, "40");
    assert!(text(&mut ws).starts_with("40{"));
    let start = Instant::now();
    assert_eq!(text(&mut ws), "2"); // the ping, never answered
    let close = read_until_closed(&mut ws);
    let elapsed = start.elapsed();
    assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");
    let close = close.expect("a close frame");
    assert_eq!(close.reason.as_str(), "ping timeout");
}

#[test]
fn v4_client_that_pongs_stays() {
    let mut cfg = config();
    cfg.ping_interval_ms = 50;
    cfg.ping_timeout_ms = 100;
    let server = TestServer::with_config(cfg);
    let (mut ws, _) = connect_v4(server.addr);
    for _ in 0..4 {
        assert_eq!(text(&mut ws), "2");
        send(&mut ws, "3");
    }
    let got = request(&mut ws, 1, "get", "/sockets/id", serde_json::Value::Null);
    assert_eq!(ack_body(got.last().unwrap(), 1)["statusCode"], 200);
}

#[test]
fn v3_client_that_never_pings_is_closed() {
    let mut cfg = config();
    cfg.ping_interval_ms = 100;
    cfg.ping_timeout_ms = 100;
    let server = TestServer::with_config(cfg);
    let mut ws = ws(server.addr, "/socket.io/?EIO=3&transport=websocket");
    assert!(text(&mut ws).starts_with("0{"));
    assert_eq!(text(&mut ws), "40");
    let start = Instant::now();
    let close = read_until_closed(&mut ws).expect("a close frame");
    assert_eq!(close.reason.as_str(), "ping timeout");
    assert!(start.elapsed() < Duration::from_secs(3));
}

#[test]
fn slow_consumer_is_closed_and_others_are_fine() {
    let mut cfg = config();
    cfg.workers = 2;
    cfg.policy = Policy::open();
    cfg.outbound_limit = 256 * 1024;
    cfg.max_payload = 4 << 20;
    let server = TestServer::with_config(cfg);
    // The slow client connects and then never reads (until the end).
    let (mut slow, slow_id) = connect_v4(server.addr);
    let (mut sender, _) = connect_v4(server.addr);
    let (mut fine, _) = connect_v4(server.addr);
    let chunk = "x".repeat(256 * 1024);
    let rounds = 64; // 16 MiB to the slow client: more than loopback buffers hold
    for i in 0..rounds {
        let got = request(
            &mut sender,
            i + 1,
            "post",
            "/sockets/blast",
            json!({"event": "flood", "data": chunk, "omitSender": true}),
        );
        assert_eq!(ack_body(got.last().unwrap(), i + 1)["statusCode"], 200);
        // The fine client keeps up.
        let t = text_no_ping(&mut fine);
        assert!(t.starts_with(r#"42["flood","xxx"#));
    }
    let slow_id: roomcast::SocketId = slow_id.parse().unwrap();
    let start = Instant::now();
    while server.engine.is_connected(slow_id) {
        assert!(start.elapsed() < WAIT, "slow consumer not disconnected");
        std::thread::sleep(Duration::from_millis(5));
    }
    // The slow client, reading at last, finds its connection closed (after
    // whatever the kernel had buffered), never all 64 messages.
    let mut floods = 0;
    let start = Instant::now();
    loop {
        assert!(start.elapsed() < WAIT);
        match slow.read() {
            Ok(Message::Text(t)) if t.starts_with(r#"42["flood""#) => floods += 1,
            Ok(Message::Close(_)) | Err(_) => break,
            Ok(_) => {}
        }
    }
    assert!(floods < rounds, "{floods}");
    assert_eq!(server.stats.snapshot().slow_consumers, 1);
    // The others are unaffected.
    let got = request(&mut fine, 1, "get", "/sockets/id", serde_json::Value::Null);
    assert_eq!(ack_body(got.last().unwrap(), 1)["statusCode"], 200);
    let got = request(
        &mut sender,
        999,
        "get",
        "/sockets/id",
        serde_json::Value::Null,
    );
    assert_eq!(ack_body(got.last().unwrap(), 999)["statusCode"], 200);
}

#[test]
fn engine_disconnect_closes_the_connection() {
    let server = TestServer::with_config(config());
    let (mut ws, sid) = connect_v4(server.addr);
    assert!(server.engine.disconnect(sid.parse().unwrap()));
    read_until_closed(&mut ws);
    // The slot is reused by the next connection without trouble.
    let (mut ws2, sid2) = connect_v4(server.addr);
    assert_ne!(sid, sid2);
    let got = request(&mut ws2, 1, "get", "/sockets/id", serde_json::Value::Null);
    assert_eq!(ack_body(got.last().unwrap(), 1)["body"]["id"], sid2);
}

#[test]
fn graceful_shutdown_sends_going_away() {
    let mut cfg = config();
    cfg.workers = 2;
    let mut server = TestServer::with_config(cfg);
    let (mut a, _) = connect_v4(server.addr);
    let (mut b, _) = connect_v4(server.addr);
    let mut v3 = ws(server.addr, "/socket.io/?EIO=3&transport=websocket");
    assert!(text(&mut v3).starts_with("0{"));
    let start = Instant::now();
    server.handle.shutdown();
    for ws in [&mut a, &mut b, &mut v3] {
        let close = read_until_closed(ws).expect("close frame");
        assert_eq!(u16::from(close.code), 1001);
    }
    server.stop().expect("run returns Ok");
    assert!(start.elapsed() < Duration::from_secs(3));
    // Nothing listens any more.
    assert!(std::net::TcpStream::connect(server.addr).is_err());
}
