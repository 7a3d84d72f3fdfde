//! The runtime's handshakes over real sockets: Engine.IO v4 and v3 opens, bad
//! requests refused before the upgrade (with the server serving others
//! afterwards), `/health`, and unknown namespaces.

mod server_util;

use server_util::*;

const UPGRADE: &str = "Upgrade: websocket\r\nConnection: Upgrade\r\n\
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n";

fn open_packet_keys(open: &str) -> (serde_json::Value, Vec<String>) {
    let v: serde_json::Value = serde_json::from_str(open.strip_prefix('0').unwrap()).unwrap();
    let keys = v.as_object().unwrap().keys().cloned().collect();
    (v, keys)
}

#[test]
fn v4_open_packet_and_connect() {
    let mut cfg = config();
    cfg.ping_interval_ms = 25_000;
    cfg.ping_timeout_ms = 20_000;
    let server = TestServer::with_config(cfg);
    let mut ws = ws(server.addr, "/socket.io/?EIO=4&transport=websocket");
    let open = text(&mut ws);
    let (v, keys) = open_packet_keys(&open);
    assert_eq!(
        keys,
        [
            "sid",
            "upgrades",
            "pingInterval",
            "pingTimeout",
            "maxPayload"
        ]
    );
    assert_eq!(v["upgrades"], serde_json::json!([]));
    assert_eq!(v["pingInterval"], 25_000);
    assert_eq!(v["pingTimeout"], 20_000);
    assert_eq!(v["maxPayload"], 1_000_000);
    let engine_sid = v["sid"].as_str().unwrap().to_owned();
    send(&mut ws, "40");
    let connect = text(&mut ws);
    assert_eq!(connect, format!(r#"40{{"sid":"{engine_sid}"}}"#));
    assert!(server.engine.is_connected(engine_sid.parse().unwrap()));
}

#[test]
fn v3_gets_connect_right_after_open() {
    let server = TestServer::with_config(config());
    let mut ws = ws(server.addr, "/socket.io/?EIO=3&transport=websocket");
    let open = text(&mut ws);
    assert!(open.starts_with(r#"0{"sid":""#), "{open}");
    assert_eq!(text(&mut ws), "40");
    // v3: the client pings, the server pongs.
    send(&mut ws, "2");
    assert_eq!(text(&mut ws), "3");
    let (v, _) = open_packet_keys(&open);
    let sid: roomcast::SocketId = v["sid"].as_str().unwrap().parse().unwrap();
    assert!(server.engine.is_connected(sid));
    // A request works without any CONNECT from the client.
    let got = request(&mut ws, 1, "get", "/sockets/id", serde_json::Value::Null);
    assert_eq!(ack_body(got.last().unwrap(), 1)["body"]["id"], v["sid"]);
}

#[test]
fn bad_handshakes_are_refused_and_the_server_goes_on() {
    let server = TestServer::with_config(config());
    let a = server.addr;

    let r = get(a, "/socket.io/?EIO=4&transport=flashsocket", "");
    assert!(r.starts_with("HTTP/1.1 400"), "{r}");
    assert_eq!(body(&r), r#"{"code":0,"message":"Transport unknown"}"#);

    let r = get(a, "/socket.io/?EIO=4&transport=websocket", "");
    assert!(r.starts_with("HTTP/1.1 400"), "{r}");
    assert_eq!(body(&r), r#"{"code":3,"message":"Bad request"}"#);

    let r = get(a, "/socket.io/?EIO=4&transport=websocket&sid=abc", UPGRADE);
    assert!(r.starts_with("HTTP/1.1 400"), "{r}");
    assert_eq!(body(&r), r#"{"code":1,"message":"Session ID unknown"}"#);

    let r = http(
        a,
        "POST /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
    );
    assert!(r.starts_with("HTTP/1.1 400"), "{r}");

    // Upgrade headers without a key.
    let r = get(
        a,
        "/socket.io/?EIO=4&transport=websocket",
        "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n",
    );
    assert!(r.starts_with("HTTP/1.1 400"), "{r}");

    let r = get(a, "/nope", "");
    assert!(r.starts_with("HTTP/1.1 404"), "{r}");
    assert!(body(&r).contains("E_NOT_FOUND"), "{r}");
    let r = get(a, "/nope", UPGRADE);
    assert!(r.starts_with("HTTP/1.1 404"), "{r}");

    // Not HTTP at all, and an oversized head.
    let r = http(a, "\x16\x03\x01\x02\x00garbage\r\n\r\n");
    assert!(r.starts_with("HTTP/1.1 400"), "{r}");
    let huge = format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(20_000));
    let r = http(a, &huge);
    assert!(r.starts_with("HTTP/1.1 431"), "{r}");

    // Any EIO other than 4 is v3 (engine.io's rule).
    let mut ws3 = ws(a, "/socket.io/?EIO=abc&transport=websocket");
    assert!(text(&mut ws3).starts_with("0{"));
    assert_eq!(text(&mut ws3), "40");

    // Still serving.
    let r = get(a, "/health", "");
    assert!(r.starts_with("HTTP/1.1 200"), "{r}");
    assert_eq!(body(&r), r#"{"status":"ok"}"#);
    let r = http(
        a,
        "HEAD /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert!(r.starts_with("HTTP/1.1 200"), "{r}");
    assert_eq!(body(&r), "");
    let (_ws, sid) = connect_v4(a);
    assert_eq!(sid.len(), 24);
}

#[test]
fn unknown_namespace_gets_connect_error() {
    let server =
        TestServer::start(roomcast_server::app::ServerBuilder::new(config()).namespace("/custom"));
    let (mut ws, _) = connect_v4(server.addr);
    send(&mut ws, "40/nope,");
    assert_eq!(
        text_no_ping(&mut ws),
        r#"44/nope,{"message":"Invalid namespace"}"#
    );
    send(&mut ws, "40/custom,");
    let t = text_no_ping(&mut ws);
    assert!(t.starts_with(r#"40/custom,{"sid":""#), "{t}");
    // The connection is still usable.
    let got = request(&mut ws, 7, "get", "/sockets/id", serde_json::Value::Null);
    assert_eq!(ack_body(got.last().unwrap(), 7)["statusCode"], 200);
}

#[test]
fn websocket_protocol_error_closes_only_that_connection() {
    let server = TestServer::with_config(config());
    let (mut good, _) = connect_v4(server.addr);
    // A raw upgrade followed by an unmasked frame (clients must mask).
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(server.addr).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    s.write_all(
        format!("GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\n{UPGRADE}\r\n")
            .as_bytes(),
    )
    .unwrap();
    s.write_all(&[0x81, 0x02, b'4', b'0']).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out);
    assert!(text.starts_with("HTTP/1.1 101"), "{text}");
    // The close frame 1002 is the last thing written.
    let close = [0x88u8, 0x02, 0x03, 0xEA];
    assert!(
        out.windows(4).any(|w| w == close) || out.windows(2).any(|w| w == [0x03, 0xEA]),
        "{out:?}"
    );
    let got = request(&mut good, 1, "get", "/sockets/id", serde_json::Value::Null);
    assert_eq!(ack_body(got.last().unwrap(), 1)["statusCode"], 200);
}

/// A tiny xorshift generator: deterministic garbage without a dependency.
fn garbage(seed: &mut u64, len: usize) -> Vec<u8> {
    (0..len)
        .map(|_| {
            *seed ^= *seed << 13;
            *seed ^= *seed >> 7;
            *seed ^= *seed << 17;
            (*seed >> 24) as u8
        })
        .collect()
}

#[test]
fn random_bytes_never_hurt_the_server() {
    use std::io::{Read, Write};
    let server = TestServer::with_config(config());
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    for round in 0..40 {
        let mut s = std::net::TcpStream::connect(server.addr).unwrap();
        s.set_read_timeout(Some(WAIT)).unwrap();
        if round % 2 == 1 {
            // Garbage after a valid upgrade: WebSocket frames, Engine.IO and
            // Socket.IO packets that make no sense.
            s.write_all(
                format!(
                    "GET /socket.io/?EIO={}&transport=websocket HTTP/1.1\r\nHost: x\r\n{UPGRADE}\r\n",
                    3 + round % 4 / 2
                )
                .as_bytes(),
            )
            .unwrap();
        }
        let len = 1 + (round * 997) % 5000;
        let _ = s.write_all(&garbage(&mut seed, len));
        let _ = s.shutdown(std::net::Shutdown::Write);
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        assert!(out.starts_with(b"HTTP/1.1 "), "round {round}: {out:?}");
    }
    let (mut ws, _) = connect_v4(server.addr);
    let got = request(&mut ws, 1, "get", "/sockets/id", serde_json::Value::Null);
    assert_eq!(ack_body(got.last().unwrap(), 1)["statusCode"], 200);
    // Masked garbage frames from a real WebSocket client too.
    for _ in 0..20 {
        let mut c = server_util::ws(server.addr, "/socket.io/?EIO=4&transport=websocket");
        let g = garbage(&mut seed, 300);
        let _ = c.send(tungstenite::Message::binary(g.clone()));
        let _ = c.send(tungstenite::Message::text(
            String::from_utf8_lossy(&g).into_owned(),
        ));
        read_until_closed(&mut c);
    }
    let got = request(&mut ws, 2, "get", "/sockets/id", serde_json::Value::Null);
    assert_eq!(ack_body(got.last().unwrap(), 2)["statusCode"], 200);
}
