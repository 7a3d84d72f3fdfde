//! Engine.IO HTTP long-polling against a running server, over raw HTTP: the
//! handshake, polls and posts (v4 and v3 payloads, binary), heartbeats, bad
//! input (unknown sid, overlapping polls, malformed and oversized payloads),
//! the upgrade to WebSocket with no packet lost or doubled, requests landing on
//! a worker that does not own the session, CORS.

mod server_util;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use roomcast_server::app::ServerBuilder;
use roomcast_server::config::ServerConfig;
use roomcast_server::router::Policy;
use serde_json::Value;
use server_util::*;

/// A raw HTTP answer.
#[derive(Debug)]
struct Answer {
    status: u16,
    head: String,
    body: Vec<u8>,
}

impl Answer {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
        })
    }
}

/// Reads one HTTP answer (with a Content-Length) from `s`.
fn read_answer(s: &mut TcpStream) -> Answer {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).into_owned();
            let len: usize = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse().unwrap())
                })
                .unwrap_or(0);
            while buf.len() < end + 4 + len {
                let n = s.read(&mut chunk).expect("body");
                assert!(n > 0, "closed mid-body");
                buf.extend_from_slice(&chunk[..n]);
            }
            let status = head.split(' ').nth(1).unwrap().parse().unwrap();
            return Answer {
                status,
                head,
                body: buf[end + 4..end + 4 + len].to_vec(),
            };
        }
        let n = s.read(&mut chunk).expect("head");
        assert!(
            n > 0,
            "closed before an answer: {:?}",
            String::from_utf8_lossy(&buf)
        );
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// One request on a new connection (so requests of one session land on
/// different workers, round-robin).
fn call(addr: SocketAddr, method: &str, target: &str, headers: &str, body: &[u8]) -> Answer {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    let head = format!(
        "{method} {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{headers}Content-Length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    read_answer(&mut s)
}

fn server(workers: usize, tweak: impl FnOnce(&mut ServerConfig)) -> TestServer {
    let mut c = ServerConfig {
        workers,
        policy: Policy::open(),
        ..config()
    };
    tweak(&mut c);
    TestServer::with_config(c)
}

/// The v4 handshake: the sid and the open packet.
fn open_v4(addr: SocketAddr) -> (String, Value) {
    let a = call(
        addr,
        "GET",
        "/socket.io/?EIO=4&transport=polling&t=1",
        "",
        b"",
    );
    assert_eq!(a.status, 200, "{a:?}");
    assert_eq!(
        a.header("content-type").as_deref(),
        Some("text/plain; charset=UTF-8")
    );
    let t = a.text();
    let open: Value = serde_json::from_str(t.strip_prefix('0').expect(&t)).unwrap();
    (open["sid"].as_str().unwrap().to_owned(), open)
}

fn get(addr: SocketAddr, sid: &str, eio: u8) -> Answer {
    call(
        addr,
        "GET",
        &format!("/socket.io/?EIO={eio}&transport=polling&sid={sid}"),
        "",
        b"",
    )
}

fn post(addr: SocketAddr, sid: &str, eio: u8, body: &[u8]) -> Answer {
    call(
        addr,
        "POST",
        &format!("/socket.io/?EIO={eio}&transport=polling&sid={sid}"),
        "Content-Type: text/plain;charset=UTF-8\r\n",
        body,
    )
}

/// Polls until `want` packets came; returns them.
fn poll_packets(addr: SocketAddr, sid: &str, want: usize) -> Vec<String> {
    let mut got = Vec::new();
    let start = Instant::now();
    while got.len() < want {
        assert!(start.elapsed() < WAIT, "got only {got:?}");
        let a = get(addr, sid, 4);
        assert_eq!(a.status, 200, "{a:?}");
        got.extend(a.text().split('\x1e').map(str::to_owned));
    }
    got
}

fn virtual_request(ack: u64, url: &str, data: Value) -> String {
    let req =
        serde_json::json!(["post", {"method": "post", "url": url, "data": data, "headers": {}}]);
    format!("42{ack}{req}")
}

#[test]
fn a_v4_session_over_polling_across_workers() {
    let s = server(2, |_| {});
    let (sid, open) = open_v4(s.addr);
    assert_eq!(open["upgrades"], serde_json::json!(["websocket"]));
    assert_eq!(sid.len(), 24);
    // CONNECT, then a join and three broadcasts in one POST (each request on a
    // new connection: half of them reach the worker that does not own the
    // session and are handed over).
    assert_eq!(post(s.addr, &sid, 4, b"40").text(), "ok");
    assert_eq!(
        poll_packets(s.addr, &sid, 1),
        [format!("40{{\"sid\":\"{sid}\"}}")]
    );
    let mut body = virtual_request(1, "/sockets/join", serde_json::json!({"room": "r"}));
    for i in 0..3 {
        body.push('\x1e');
        body.push_str(&virtual_request(
            2 + i,
            "/sockets/broadcast",
            serde_json::json!({"rooms": "r", "event": "n", "data": i}),
        ));
    }
    let a = post(s.addr, &sid, 4, body.as_bytes());
    assert_eq!((a.status, a.text()), (200, "ok".into()));
    let got = poll_packets(s.addr, &sid, 7);
    let events: Vec<&String> = got.iter().filter(|p| p.starts_with("42")).collect();
    assert_eq!(events, ["42[\"n\",0]", "42[\"n\",1]", "42[\"n\",2]"]);
    assert!(got.iter().any(|p| p.starts_with("431[")), "{got:?}");
    // A broadcast from elsewhere (the engine) reaches it too.
    s.engine.broadcast("r", Some("m"), &"hi", None).unwrap();
    assert_eq!(poll_packets(s.addr, &sid, 1), ["42[\"m\",\"hi\"]"]);
    assert!(
        s.stats.snapshot().handovers > 0,
        "requests reached the other worker"
    );
    // The client closes while a poll is parked: the poll gets a noop, and the
    // session is gone (as engine.io).
    let addr = s.addr;
    let sid2 = sid.clone();
    let parked = std::thread::spawn(move || get(addr, &sid2, 4));
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(post(s.addr, &sid, 4, b"1").text(), "ok");
    assert_eq!(parked.join().unwrap().text(), "6");
    let a = get(s.addr, &sid, 4);
    assert_eq!(
        (a.status, a.text()),
        (400, r#"{"code":1,"message":"Session ID unknown"}"#.into())
    );
}

#[test]
fn heartbeats_over_polling_and_a_silent_client_is_closed() {
    let s = server(1, |c| {
        c.ping_interval_ms = 300;
        c.ping_timeout_ms = 300;
    });
    let (sid, open) = open_v4(s.addr);
    assert_eq!(open["pingInterval"], 300);
    post(s.addr, &sid, 4, b"40");
    poll_packets(s.addr, &sid, 1);
    // The parked poll is answered with the ping; the pong comes by POST.
    let start = Instant::now();
    assert_eq!(get(s.addr, &sid, 4).text(), "2");
    assert!(start.elapsed() < Duration::from_millis(1500));
    assert_eq!(post(s.addr, &sid, 4, b"3").text(), "ok");
    assert_eq!(get(s.addr, &sid, 4).text(), "2");
    // No pong: the session ends (no GET parked: at once, as engine.io).
    std::thread::sleep(Duration::from_millis(500));
    let a = get(s.addr, &sid, 4);
    assert_eq!(a.status, 400, "{a:?}");
    // With a GET parked when the pong is missed, it gets the close packet.
    let (sid, _) = open_v4(s.addr);
    post(s.addr, &sid, 4, b"40");
    poll_packets(s.addr, &sid, 1);
    assert_eq!(get(s.addr, &sid, 4).text(), "2");
    assert_eq!(get(s.addr, &sid, 4).text(), "1");
    assert_eq!(get(s.addr, &sid, 4).status, 400);
}

#[test]
fn bad_polling_input_gets_engine_io_errors() {
    let s = server(1, |c| c.max_payload = 1000);
    let err = |a: &Answer| (a.status, a.text());
    // Unknown, forged and foreign sids.
    for sid in ["nope", "AAAAAAAAAAAAAAAAAAAAAAAA"] {
        assert_eq!(
            err(&get(s.addr, sid, 4)),
            (400, r#"{"code":1,"message":"Session ID unknown"}"#.into())
        );
    }
    // A handshake must be a GET.
    let a = call(
        s.addr,
        "POST",
        "/socket.io/?EIO=4&transport=polling",
        "",
        b"40",
    );
    assert_eq!(
        err(&a),
        (400, r#"{"code":2,"message":"Bad handshake method"}"#.into())
    );
    // The session's version only.
    let (sid, _) = open_v4(s.addr);
    assert_eq!(err(&get(s.addr, &sid, 3)).0, 400);
    // A malformed payload: 400, and the session ends.
    let a = post(s.addr, &sid, 4, b"4x\x1e\x1e");
    assert_eq!(a.status, 400, "{a:?}");
    assert!(a.text().contains("\"code\":3"), "{a:?}");
    assert_eq!(get(s.addr, &sid, 4).status, 400);
    // A body over max_payload: 413, and the session ends.
    let (sid, _) = open_v4(s.addr);
    let a = post(s.addr, &sid, 4, &[b'4'; 2000]);
    assert_eq!(a.status, 413, "{a:?}");
    assert_eq!(get(s.addr, &sid, 4).status, 400);

    // Overlapping polls: the second is 400, the first gets the close packet.
    let (sid, _) = open_v4(s.addr);
    post(s.addr, &sid, 4, b"40");
    poll_packets(s.addr, &sid, 1);
    let addr = s.addr;
    let sid2 = sid.clone();
    let first = std::thread::spawn(move || get(addr, &sid2, 4));
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(get(s.addr, &sid, 4).status, 400);
    assert_eq!(first.join().unwrap().text(), "1");
}

#[test]
fn v3_payloads_text_and_binary() {
    let builder = ServerBuilder::new(ServerConfig {
        policy: Policy::open(),
        ..config()
    })
    .on_event("/", "echo", |ctx| {
        let args = ctx.args().to_owned();
        let att = ctx.attachments().to_vec();
        ctx.emit_binary("echo-back", &args, &att).unwrap();
        None
    });
    let s = TestServer::start(builder);
    // The handshake: length-prefixed open packet, then `40` (v3 connects `/`).
    let a = call(
        s.addr,
        "GET",
        "/socket.io/?EIO=3&transport=polling",
        "",
        b"",
    );
    let t = a.text();
    let (len, rest) = t.split_once(':').unwrap();
    let open = &rest[..len.parse::<usize>().unwrap()];
    assert!(open.starts_with("0{\"sid\":"), "{t}");
    let v: Value = serde_json::from_str(&open[1..]).unwrap();
    let sid = v["sid"].as_str().unwrap().to_owned();
    let mut got = rest[open.len()..].to_owned();
    if got.is_empty() {
        got = get(s.addr, &sid, 3).text();
    }
    assert_eq!(got, "2:40");
    // A binary event in a binary payload, echoed back in one.
    let mut body = Vec::new();
    let text = r#"451-["echo",{"_placeholder":true,"num":0}]"#;
    body.push(0);
    body.extend(text.len().to_string().bytes().map(|d| d - b'0'));
    body.push(0xff);
    body.extend_from_slice(text.as_bytes());
    body.extend_from_slice(&[1, 3, 0xff, 4, 7, 8]);
    let a = call(
        s.addr,
        "POST",
        &format!("/socket.io/?EIO=3&transport=polling&sid={sid}"),
        "Content-Type: application/octet-stream\r\n",
        &body,
    );
    assert_eq!(a.text(), "ok");
    let a = get(s.addr, &sid, 3);
    assert_eq!(
        a.header("content-type").as_deref(),
        Some("application/octet-stream")
    );
    let back = r#"451-["echo-back",{"_placeholder":true,"num":0}]"#;
    let mut want = vec![0];
    want.extend(back.len().to_string().bytes().map(|d| d - b'0'));
    want.push(0xff);
    want.extend_from_slice(back.as_bytes());
    want.extend_from_slice(&[1, 3, 0xff, 4, 7, 8]);
    assert_eq!(a.body, want);
    // The same with b64=1: base64 text.
    let a = call(
        s.addr,
        "GET",
        "/socket.io/?EIO=3&transport=polling&b64=1",
        "",
        b"",
    );
    let t = a.text();
    let v: Value =
        serde_json::from_str(&t[t.find('{').unwrap()..t.rfind('}').unwrap() + 1]).unwrap();
    let sid = v["sid"].as_str().unwrap().to_owned();
    let body = format!("{}:{text}6:b4BwgJ", text.len());
    let a = call(
        s.addr,
        "POST",
        &format!("/socket.io/?EIO=3&transport=polling&b64=1&sid={sid}"),
        "",
        body.as_bytes(),
    );
    assert_eq!(a.text(), "ok");
    let mut out = String::new();
    let start = Instant::now();
    while !out.contains("b4BwgJ") {
        assert!(start.elapsed() < WAIT, "{out}");
        out.push_str(
            &call(
                s.addr,
                "GET",
                &format!("/socket.io/?EIO=3&transport=polling&b64=1&sid={sid}"),
                "",
                b"",
            )
            .text(),
        );
    }
    assert!(
        out.contains(&format!("{}:{back}6:b4BwgJ", back.len())),
        "{out}"
    );
}

#[test]
fn the_upgrade_loses_and_doubles_nothing() {
    let s = server(2, |_| {});
    let (sid, _) = open_v4(s.addr);
    post(s.addr, &sid, 4, b"40");
    poll_packets(s.addr, &sid, 1);
    post(
        s.addr,
        &sid,
        4,
        virtual_request(1, "/sockets/join", serde_json::json!({"room": "r"})).as_bytes(),
    );
    poll_packets(s.addr, &sid, 1); // the ack
                                   // Broadcasts go on through the whole upgrade.
    const N: u64 = 3000;
    let engine = s.engine.clone();
    let producer = std::thread::spawn(move || {
        for i in 0..N {
            engine.broadcast("r", Some("n"), &i, None).unwrap();
            if i % 50 == 0 {
                std::thread::sleep(Duration::from_millis(2));
            }
        }
    });
    let mut seen: Vec<u64> = Vec::new();
    fn take(seen: &mut Vec<u64>, packets: &mut dyn Iterator<Item = String>) {
        for p in packets {
            if let Some(n) = p
                .strip_prefix("42[\"n\",")
                .and_then(|r| r.strip_suffix(']'))
            {
                seen.push(n.parse().unwrap());
            }
        }
    }
    // A few polls first.
    for _ in 0..3 {
        let a = get(s.addr, &sid, 4);
        take(&mut seen, &mut a.text().split('\x1e').map(str::to_owned));
    }
    // The probe; a GET parked meanwhile is released (with what is pending,
    // or a noop), and the client polls no more.
    let addr = s.addr;
    let sid2 = sid.clone();
    let parked = std::thread::spawn(move || get(addr, &sid2, 4));
    let mut ws = ws(
        s.addr,
        &format!("/socket.io/?EIO=4&transport=websocket&sid={sid}"),
    );
    send(&mut ws, "2probe");
    assert_eq!(text(&mut ws), "3probe");
    let a = parked.join().unwrap();
    assert_eq!(a.status, 200);
    take(&mut seen, &mut a.text().split('\x1e').map(str::to_owned));
    send(&mut ws, "5");

    // Everything else arrives over the WebSocket.
    while seen.last() != Some(&(N - 1)) {
        let t = text_no_ping(&mut ws);
        take(&mut seen, &mut std::iter::once(t));
    }
    producer.join().unwrap();
    assert_eq!(
        seen,
        (0..N).collect::<Vec<_>>(),
        "in order, none lost or doubled"
    );
    // The session is the WebSocket's now: polling knows it no more.
    assert_eq!(get(s.addr, &sid, 4).status, 400);
    let got = request(&mut ws, 9, "get", "/sockets/id", Value::Null);
    assert_eq!(ack_body(got.last().unwrap(), 9)["body"]["id"], sid.as_str());
}

#[test]
fn cors_preflight_and_allowed_origins() {
    let s = server(1, |c| {
        c.cors_origins = Some(vec!["https://app.example".into()])
    });
    let a = call(
        s.addr,
        "OPTIONS",
        "/socket.io/?EIO=4&transport=polling",
        "Origin: https://app.example\r\nAccess-Control-Request-Method: POST\r\n\
         Access-Control-Request-Headers: content-type,authorization\r\n",
        b"",
    );
    assert_eq!(a.status, 204);
    assert_eq!(
        a.header("access-control-allow-origin").as_deref(),
        Some("https://app.example")
    );
    assert_eq!(
        a.header("access-control-allow-credentials").as_deref(),
        Some("true")
    );
    assert!(a
        .header("access-control-allow-headers")
        .unwrap()
        .contains("authorization"));
    let a = call(
        s.addr,
        "GET",
        "/socket.io/?EIO=4&transport=polling",
        "Origin: https://app.example\r\n",
        b"",
    );
    assert_eq!(
        a.header("access-control-allow-origin").as_deref(),
        Some("https://app.example")
    );
    let sid: Value = serde_json::from_str(&a.text()[1..]).unwrap();
    let sid = sid["sid"].as_str().unwrap();
    let a = call(
        s.addr,
        "POST",
        &format!("/socket.io/?EIO=4&transport=polling&sid={sid}"),
        "Origin: https://app.example\r\n",
        b"40",
    );
    assert_eq!(
        a.header("access-control-allow-origin").as_deref(),
        Some("https://app.example")
    );
    let a = call(
        s.addr,
        "GET",
        "/socket.io/?EIO=4&transport=polling",
        "Origin: https://evil.example\r\n",
        b"",
    );
    assert_eq!(a.status, 200);
    assert_eq!(a.header("access-control-allow-origin"), None);
    // Without a list, the origin is reflected.
    let s = server(1, |_| {});
    let a = call(
        s.addr,
        "GET",
        "/socket.io/?EIO=4&transport=polling",
        "Origin: http://x.test:8080\r\n",
        b"",
    );
    assert_eq!(
        a.header("access-control-allow-origin").as_deref(),
        Some("http://x.test:8080")
    );
}

#[test]
fn transports_can_be_turned_off() {
    let s = server(1, |c| c.transports.polling = false);
    let a = call(
        s.addr,
        "GET",
        "/socket.io/?EIO=4&transport=polling",
        "",
        b"",
    );
    assert_eq!(
        (a.status, a.text()),
        (400, r#"{"code":0,"message":"Transport unknown"}"#.into())
    );
    let (_ws, _) = connect_v4(s.addr);
    let s = server(1, |c| c.transports.websocket = false);
    let (_, open) = open_v4(s.addr);
    assert_eq!(open["upgrades"], serde_json::json!([]));
}

#[test]
fn a_polling_client_that_stops_polling_hits_the_outbound_limit() {
    let s = server(1, |c| c.outbound_limit = 16 * 1024);
    let join = |sid: &str| {
        assert_eq!(post(s.addr, sid, 4, b"40").text(), "ok");
        poll_packets(s.addr, sid, 1);
        let body = virtual_request(1, "/sockets/join", serde_json::json!({"room": "r"}));
        assert_eq!(post(s.addr, sid, 4, body.as_bytes()).text(), "ok");
        let got = poll_packets(s.addr, sid, 1);
        assert!(got[0].starts_with("431["), "{got:?}");
    };
    let (slow, _) = open_v4(s.addr);
    let (healthy, _) = open_v4(s.addr);
    join(&slow);
    join(&healthy);
    // 40 broadcasts of 1 KB: the healthy session polls them all; the slow one
    // never polls, and passes the 16 KiB limit.
    let big = "x".repeat(1000);
    let mut got = 0;
    for i in 0..40 {
        s.engine.broadcast("r", Some("m"), &big, None).unwrap();
        if i % 10 == 9 {
            got += poll_packets(s.addr, &healthy, 10).len();
        }
    }
    assert_eq!(got, 40, "the healthy session got every broadcast");
    let start = Instant::now();
    let closes = loop {
        let m = call(s.addr, "GET", "/metrics", "", b"").text();
        let n: u64 = m
            .lines()
            .find_map(|l| l.strip_prefix("roomcast_slow_consumer_closes_total{worker=\"0\"} "))
            .map_or(0, |v| v.trim().parse().unwrap());
        if n > 0 || start.elapsed() > WAIT {
            break n;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(closes, 1, "the slow session was closed as a slow consumer");
    // Its session is gone: a poll now is engine.io's "Session ID unknown".
    let a = get(s.addr, &slow, 4);
    assert_eq!(
        (a.status, a.text()),
        (400, r#"{"code":1,"message":"Session ID unknown"}"#.into())
    );
}
