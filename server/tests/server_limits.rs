//! Limits and timeouts, namespace leave/rejoin, and many clients across workers.

mod server_util;

use std::io::Read;
use std::time::{Duration, Instant};

use serde_json::json;
use server_util::*;
use tungstenite::Message;

#[test]
fn idle_connection_without_request_is_closed() {
    let mut cfg = config();
    cfg.handshake_timeout_ms = 150;
    let server = TestServer::with_config(cfg);
    let mut s = std::net::TcpStream::connect(server.addr).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    let start = Instant::now();
    let mut buf = [0u8; 16];
    let n = s.read(&mut buf).unwrap_or(0);
    assert_eq!(n, 0, "closed without a response");
    let t = start.elapsed();
    assert!(
        t >= Duration::from_millis(100) && t < Duration::from_secs(3),
        "{t:?}"
    );
    let r = get(server.addr, "/health", "");
    assert!(r.starts_with("HTTP/1.1 200"));
}

#[test]
fn v5_client_that_never_connects_a_namespace_is_closed() {
    let mut cfg = config();
    cfg.connect_timeout_ms = 150;
    let server = TestServer::with_config(cfg);
    let mut ws = ws(server.addr, "/socket.io/?EIO=4&transport=websocket");
    assert!(text(&mut ws).starts_with("0{"));
    let close = read_until_closed(&mut ws).expect("close frame");
    assert_eq!(close.reason.as_str(), "connect timeout");
}

#[test]
fn message_over_max_payload_closes_with_1009() {
    let mut cfg = config();
    cfg.max_payload = 1000;
    let server = TestServer::with_config(cfg);
    let (mut ws, _) = connect_v4(server.addr);
    let big = format!(r#"42["x","{}"]"#, "y".repeat(2000));
    ws.send(Message::text(big)).unwrap();
    let close = read_until_closed(&mut ws).expect("close frame");
    assert_eq!(u16::from(close.code), 1009);
    let (_ok, sid) = connect_v4(server.addr);
    assert_eq!(sid.len(), 24);
}

#[test]
fn leaving_main_namespace_leaves_rooms_and_rejoining_works() {
    let server = TestServer::with_config(config());
    let (mut a, sid) = connect_v4(server.addr);
    let (mut b, _) = connect_v4(server.addr);
    let got = request(&mut a, 1, "post", "/sockets/join", json!({"room": "r"}));
    assert_eq!(ack_body(got.last().unwrap(), 1)["statusCode"], 200);
    send(&mut a, "41");
    // A round trip on a's connection proves the `41` was handled.
    send(&mut a, "40/nope,");
    assert_eq!(
        text_no_ping(&mut a),
        r#"44/nope,{"message":"Invalid namespace"}"#
    );
    // a is no longer in "r": b's broadcast reaches nobody but b's ack.
    let got = request(
        &mut b,
        1,
        "post",
        "/sockets/broadcast",
        json!({"rooms": "r", "data": 1}),
    );
    assert_eq!(got.len(), 1, "{got:?}");
    // Nor its own id room nor blasts (sent through the engine from this thread):
    // the next round trip on a's connection shows nothing arrived before it.
    assert!(!server.engine.is_connected(sid.parse().unwrap()));
    server
        .engine
        .broadcast(sid.as_str(), None, &0, None)
        .unwrap();
    server.engine.blast(None, &0, None).unwrap();
    assert_eq!(
        text_no_ping(&mut b),
        r#"42["message",0]"#,
        "b gets the blast"
    );
    send(&mut a, "40/nope,");
    assert_eq!(
        text_no_ping(&mut a),
        r#"44/nope,{"message":"Invalid namespace"}"#
    );
    send(&mut a, "40");
    assert_eq!(text_no_ping(&mut a), format!(r#"40{{"sid":"{sid}"}}"#));
    let got = request(&mut a, 2, "post", "/sockets/join", json!({"room": "r"}));
    assert_eq!(ack_body(got.last().unwrap(), 2)["statusCode"], 200);
    let got = request(
        &mut b,
        2,
        "post",
        "/sockets/broadcast",
        json!({"rooms": "r", "data": 2}),
    );
    assert_eq!(got.len(), 1);
    assert_eq!(text_no_ping(&mut a), r#"42["message",2]"#);
}

#[test]
fn many_clients_across_workers_each_get_every_broadcast_once() {
    let mut cfg = config();
    cfg.workers = 3;
    let server = TestServer::with_config(cfg);
    let n = 60;
    let mut clients: Vec<Ws> = (0..n).map(|_| connect_v4(server.addr).0).collect();
    for (i, c) in clients.iter_mut().enumerate() {
        let room = if i % 2 == 0 { "even" } else { "odd" };
        let got = request(c, 1, "post", "/sockets/join", json!({ "room": room }));
        assert_eq!(ack_body(got.last().unwrap(), 1)["statusCode"], 200);
    }
    // Broadcast to both rooms (a socket in either gets it once) from client 0.
    for k in 0..5u64 {
        let got = request(
            &mut clients[0],
            10 + k,
            "post",
            "/sockets/broadcast",
            json!({"rooms": ["even", "odd"], "event": "tick", "data": k}),
        );
        assert_eq!(got[0], format!(r#"42["tick",{k}]"#));
    }
    for c in clients.iter_mut().skip(1) {
        for k in 0..5u64 {
            assert_eq!(text_no_ping(c), format!(r#"42["tick",{k}]"#));
        }
    }
    // Nothing more is pending for anyone: a fresh request's ack comes next.
    for (i, c) in clients.iter_mut().enumerate() {
        let got = request(c, 99, "get", "/sockets/id", serde_json::Value::Null);
        assert_eq!(got.len(), 1, "client {i}: {got:?}");
    }
}
