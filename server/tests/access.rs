//! Access control over real connections: tokens (HS256, RS256, ES256; v4 in
//! the CONNECT auth object or the query, v3 in the handshake query), the
//! `rooms` and `sub` claims, expiry, allowed origins, rate limits, and the
//! refusals counted in `/metrics`.

mod server_util;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use roomcast_server::config::ServerConfig;
use roomcast_server::router::Policy;
use serde_json::{json, Value};
use server_util::*;

const SECRET: &str = "test-secret-0123456789";

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn hs256(claims: &Value, secret: &str) -> String {
    encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret.as_bytes()).unwrap(),
    )
    .unwrap()
}

fn fixture(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn token_config() -> ServerConfig {
    let mut c = config();
    c.jwt_secret = Some(SECRET.into());
    c.admin_token = Some("adm".into());
    c
}

/// Opens a v4 session over WebSocket (`query` appended to the handshake) and
/// sends CONNECT with `auth`; returns the socket and the server's answer to it.
fn connect_with(addr: SocketAddr, query: &str, auth: Option<&Value>) -> (Ws, String) {
    let mut ws = ws(
        addr,
        &format!("/socket.io/?EIO=4&transport=websocket{query}"),
    );
    assert!(text(&mut ws).starts_with("0{"));
    match auth {
        Some(a) => send(&mut ws, &format!("40{a}")),
        None => send(&mut ws, "40"),
    }
    let answer = text_no_ping(&mut ws);
    (ws, answer)
}

fn metric(addr: SocketAddr, reason: &str) -> u64 {
    let text = body(&get(addr, "/metrics", "")).to_owned();
    let needle = format!("roomcast_access_refusals_total{{reason=\"{reason}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&needle))
        .map_or(0, |v| v.trim().parse().unwrap())
}

#[test]
fn v4_clients_need_a_valid_token_in_auth_or_query() {
    let server = TestServer::with_config(token_config());
    let unauthorized = r#"44{"message":"unauthorized"}"#;
    let valid = hs256(&json!({"sub": "ann", "exp": now() + 60}), SECRET);

    let (_a, answer) = connect_with(server.addr, "", Some(&json!({"token": valid})));
    assert!(answer.starts_with("40{\"sid\""), "{answer}");
    let (_b, answer) = connect_with(server.addr, &format!("&token={valid}"), None);
    assert!(answer.starts_with("40{\"sid\""), "query token: {answer}");
    // The auth object's token wins over the query's.
    let (_c, answer) = connect_with(
        server.addr,
        &format!("&token={valid}"),
        Some(&json!({"token": "garbage"})),
    );
    assert_eq!(answer, unauthorized);

    let cases = [
        ("missing", None, "token_missing"),
        ("empty auth", Some(json!({})), "token_missing"),
        ("not a JWT", Some(json!({"token": "abc"})), "token_invalid"),
        (
            "wrong key",
            Some(json!({"token": hs256(&json!({"sub": "x"}), "other-secret")})),
            "token_invalid",
        ),
        (
            "expired",
            Some(json!({"token": hs256(&json!({"exp": now() - 10}), SECRET)})),
            "token_expired",
        ),
        (
            "not yet valid",
            Some(json!({"token": hs256(&json!({"nbf": now() + 600}), SECRET)})),
            "token_not_yet_valid",
        ),
    ];
    for (what, auth, reason) in cases {
        let before = metric(server.addr, reason);
        let (_ws, answer) = connect_with(server.addr, "", auth.as_ref());
        assert_eq!(answer, unauthorized, "{what}");
        assert_eq!(metric(server.addr, reason), before + 1, "{what} counted");
    }
}

#[test]
fn v3_clients_present_the_token_in_the_handshake_query() {
    let server = TestServer::with_config(token_config());
    let valid = hs256(&json!({"sub": "bob"}), SECRET);
    for (transport, upgrade) in [("websocket", true), ("polling", false)] {
        let headers = if upgrade {
            "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
        } else {
            ""
        };
        for token in [
            "",
            "&token=abc",
            "&token=eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.",
        ] {
            let r = http(
                server.addr,
                &format!(
                    "GET /socket.io/?EIO=3&transport={transport}{token} HTTP/1.1\r\nHost: x\r\n{headers}\r\n"
                ),
            );
            assert_eq!(status(&r), 403, "{transport} {token:?}: {r}");
            assert_eq!(body(&r), r#"{"code":4,"message":"Forbidden"}"#);
        }
    }
    // With the token: the v3 session opens and `/` is joined at once.
    let mut ws = ws(
        server.addr,
        &format!("/socket.io/?EIO=3&transport=websocket&token={valid}"),
    );
    assert!(text(&mut ws).starts_with("0{"));
    assert_eq!(text(&mut ws), "40");
    let r = get(
        server.addr,
        &format!("/socket.io/?EIO=3&transport=polling&token={valid}"),
        "",
    );
    assert_eq!(status(&r), 200, "{r}");
}

#[test]
fn rs256_and_es256_public_keys() {
    for (alg, private, public) in [
        (Algorithm::RS256, "rs256-private.pem", "rs256-public.pem"),
        (Algorithm::ES256, "es256-private.pem", "es256-public.pem"),
    ] {
        let mut c = config();
        c.jwt_public_key = Some(fixture(public));
        let server = TestServer::with_config(c);
        let pem = std::fs::read(fixture(private)).unwrap();
        let key = match alg {
            Algorithm::RS256 => EncodingKey::from_rsa_pem(&pem).unwrap(),
            _ => EncodingKey::from_ec_pem(&pem).unwrap(),
        };
        let token = encode(&Header::new(alg), &json!({"sub": "k"}), &key).unwrap();
        let (_a, answer) = connect_with(server.addr, "", Some(&json!({"token": token})));
        assert!(answer.starts_with("40{\"sid\""), "{alg:?}: {answer}");
        // An HS256 token signed with the public key's text (the classic
        // algorithm confusion) is refused.
        let forged = encode(
            &Header::new(Algorithm::HS256),
            &json!({"sub": "k"}),
            &EncodingKey::from_secret(&std::fs::read(fixture(public)).unwrap()).unwrap(),
        )
        .unwrap();
        let (_b, answer) = connect_with(server.addr, "", Some(&json!({"token": forged})));
        assert_eq!(answer, r#"44{"message":"unauthorized"}"#, "{alg:?}");
    }
    // A file that is not a key: the server does not start.
    let mut c = config();
    c.jwt_public_key = Some(fixture("README.md"));
    let err = roomcast_server::app::ServerBuilder::new(c)
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("jwt_public_key"), "{err}");
}

#[test]
fn rooms_claim_limits_joins_and_sub_is_the_user() {
    let mut c = token_config();
    c.policy = Policy::open();
    let server = TestServer::with_config(c);
    let token = hs256(&json!({"sub": "ann", "rooms": ["chat:*", "lobby"]}), SECRET);
    let (mut ws, answer) = connect_with(server.addr, "", Some(&json!({"token": token})));
    let sid: Value = serde_json::from_str(answer.strip_prefix("40").unwrap()).unwrap();
    let sid = sid["sid"].as_str().unwrap().to_owned();
    for (n, room, want) in [
        (1, "chat:1", 200),
        (2, "lobby", 200),
        (3, "admin", 403),
        (4, "chat", 403),
    ] {
        let got = request(&mut ws, n, "post", "/sockets/join", json!({"room": room}));
        let body = ack_body(got.last().unwrap(), n);
        assert_eq!(body["statusCode"], want, "{room}: {body}");
        if want == 403 {
            assert_eq!(body["body"]["error"], "E_FORBIDDEN");
            assert!(
                body["body"]["message"].as_str().unwrap().contains("rooms"),
                "{body}"
            );
        }
    }
    assert_eq!(metric(server.addr, "room_forbidden"), 2);
    let (status, info) = admin(
        server.addr,
        "GET",
        &format!("/api/sockets/{sid}"),
        Some("adm"),
        "",
    );
    assert_eq!(status, 200);
    assert_eq!(info["user"], "ann");
    assert_eq!(info["rooms"], json!([sid, "chat:1", "lobby"]));
}

#[test]
fn an_expiring_token_disconnects_its_socket_without_reconnect() {
    let server = TestServer::with_config(token_config());
    let token = hs256(&json!({"exp": now() + 2}), SECRET);
    let started = Instant::now();
    let (mut ws, answer) = connect_with(server.addr, "", Some(&json!({"token": token})));
    assert!(answer.starts_with("40{"), "{answer}");
    // A token valid for the whole test, on another socket: stays connected.
    let long = hs256(&json!({"exp": now() + 600}), SECRET);
    let (mut other, _) = connect_with(server.addr, "", Some(&json!({"token": long})));
    // The Socket.IO disconnect first (socket.io clients then do not
    // reconnect by themselves), then the close.
    assert_eq!(text_no_ping(&mut ws), "41");
    let close = read_until_closed(&mut ws).expect("a close frame");
    assert_eq!(u16::from(close.code), 1000);
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(4),
        "{took:?}"
    );
    let got = request(&mut other, 1, "get", "/sockets/id", Value::Null);
    assert_eq!(ack_body(got.last().unwrap(), 1)["statusCode"], 200);
}

#[test]
fn only_allowed_origins_may_connect() {
    let mut c = config();
    c.allowed_origins = Some(vec!["https://app.example.com".into()]);
    let server = TestServer::with_config(c);
    let ws_headers = "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n";
    for (transport, headers) in [("websocket", ws_headers), ("polling", "")] {
        for (origin, want) in [
            ("Origin: https://evil.example.com\r\n", 403),
            ("Origin: null\r\n", 403),
            (
                "Origin: https://app.example.com\r\n",
                if transport == "polling" { 200 } else { 101 },
            ),
            ("", if transport == "polling" { 200 } else { 101 }),
        ] {
            let mut s = std::net::TcpStream::connect(server.addr).unwrap();
            s.set_read_timeout(Some(WAIT)).unwrap();
            use std::io::{Read, Write};
            s.write_all(
                format!("GET /socket.io/?EIO=4&transport={transport} HTTP/1.1\r\nHost: x\r\n{headers}{origin}\r\n")
                    .as_bytes(),
            )
            .unwrap();
            let mut buf = vec![0u8; 4096];
            let n = s.read(&mut buf).unwrap();
            let r = String::from_utf8_lossy(&buf[..n]).into_owned();
            assert_eq!(status(&r), want, "{transport} {origin:?}: {r}");
            if want == 403 {
                assert!(r.ends_with(r#"{"code":4,"message":"Forbidden"}"#), "{r}");
            }
        }
    }
    assert_eq!(metric(server.addr, "origin"), 4);
    // CORS names the allowed origin only.
    let r = get(
        server.addr,
        "/socket.io/?EIO=4&transport=polling",
        "Origin: https://app.example.com\r\n",
    );
    assert!(
        r.contains("Access-Control-Allow-Origin: https://app.example.com"),
        "{r}"
    );
}

#[test]
fn rate_limits_refuse_the_excess_and_leave_others_alone() {
    let mut c = config();
    c.client_ops_per_sec = Some(5);
    let server = TestServer::with_config(c);
    let (mut greedy, _) = connect_with(server.addr, "", None);
    let (mut calm, _) = connect_with(server.addr, "", None);
    // Pipelined: the burst of 2N = 10 passes, the rest is 429 and changes nothing.
    for n in 1..=30u64 {
        let req = json!(["post", {"method": "post", "url": "/sockets/join", "data": {"room": format!("r{n}")}, "headers": {}}]);
        send(&mut greedy, &format!("42{n}{req}"));
    }
    let mut statuses = Vec::new();
    while statuses.len() < 30 {
        let t = text_no_ping(&mut greedy);
        if let Some(rest) = t.strip_prefix("43") {
            let n: u64 = rest[..rest.find('[').unwrap()].parse().unwrap();
            let body = ack_body(&t, n);
            statuses.push(body["statusCode"].as_u64().unwrap());
            if body["statusCode"] == 429 {
                assert_eq!(body["body"]["error"], "E_RATE_LIMITED");
                assert!(body["body"]["message"]
                    .as_str()
                    .unwrap()
                    .contains("client_ops_per_sec"));
            }
        }
    }
    let ok = statuses.iter().filter(|&&s| s == 200).count();
    assert!((10..=11).contains(&ok), "{statuses:?}");
    assert_eq!(statuses.iter().filter(|&&s| s == 429).count(), 30 - ok);
    // The other client is not limited by the first one's calls.
    let got = request(&mut calm, 1, "post", "/sockets/join", json!({"room": "x"}));
    assert_eq!(ack_body(got.last().unwrap(), 1)["statusCode"], 200);
    assert_eq!(metric(server.addr, "rate_limited") as usize, 30 - ok);
}

#[test]
fn calls_without_an_ack_count_against_the_rate_too() {
    let mut c = config();
    c.client_ops_per_sec = Some(5);
    let server = TestServer::with_config(c);
    let (mut greedy, _) = connect_with(server.addr, "", None);
    // No ack id: nothing to answer with a 429, but each call is counted; the
    // burst of 2N = 10 gets Sails' parse error, the rest nothing.
    for n in 1..=30u64 {
        let req = json!(["post", {"method": "post", "url": "/sockets/join", "data": {"room": format!("r{n}")}, "headers": {}}]);
        send(&mut greedy, &format!("42{req}"));
    }
    // An acked call right after finds the bucket empty.
    let got = request(&mut greedy, 1, "get", "/sockets/id", Value::Null);
    let errors = got
        .iter()
        .filter(|t| t.contains("sails:parseError"))
        .count();
    assert!((10..=11).contains(&errors), "{got:?}");
    assert_eq!(ack_body(got.last().unwrap(), 1)["statusCode"], 429);
    assert_eq!(
        metric(server.addr, "rate_limited") as usize,
        30 - errors + 1
    );
}

#[test]
fn a_client_far_over_its_rate_for_ten_seconds_is_disconnected() {
    let mut c = config();
    c.client_ops_per_sec = Some(1);
    let server = TestServer::with_config(c);
    let (mut abuser, _) = connect_with(server.addr, "", None);
    let (mut bystander, _) = connect_with(server.addr, "", None);
    abuser
        .get_mut()
        .set_read_timeout(Some(Duration::from_millis(5)))
        .unwrap();
    let started = Instant::now();
    let mut n = 0u64;
    let mut disconnected = false;
    // 20 calls a second (over 10 × 1) until the server gives up on us.
    while started.elapsed() < Duration::from_secs(14) && !disconnected {
        n += 1;
        if abuser
            .send(tungstenite::Message::text(format!(
                "42{n}[\"get\",{{\"method\":\"get\",\"url\":\"/sockets/id\",\"headers\":{{}}}}]"
            )))
            .is_err()
        {
            disconnected = true;
        }
        let until = Instant::now() + Duration::from_millis(50);
        while Instant::now() < until {
            match abuser.read() {
                Ok(tungstenite::Message::Text(t)) if t.as_str() == "41" => {}
                Ok(tungstenite::Message::Close(f)) => {
                    assert_eq!(u16::from(f.expect("close frame").code), 1008);
                    disconnected = true;
                    break;
                }
                Ok(_) => {}
                Err(tungstenite::Error::Io(e)) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(_) => {
                    disconnected = true;
                    break;
                }
            }
        }
    }
    let took = started.elapsed();
    assert!(disconnected, "still connected after {took:?}");
    assert!(
        took >= Duration::from_secs(9),
        "disconnected too early: {took:?}"
    );
    assert_eq!(metric(server.addr, "rate_abuse"), 1);
    let got = request(&mut bystander, 1, "get", "/sockets/id", Value::Null);
    assert_eq!(ack_body(got.last().unwrap(), 1)["statusCode"], 200);
}

/// A real HTTP server playing the application's connect webhook: it records
/// every request body and answers by the CONNECT auth's `mode`: `allow`
/// (rooms `["vip", "news"]`, data `{"plan":"pro"}`), `refuse` (200 with
/// `allow: false`), `slow` (allows after 3 s), `error` (500).
struct Webhook {
    url: String,
    seen: std::sync::Arc<std::sync::Mutex<Vec<Value>>>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    addr: SocketAddr,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Webhook {
    fn start() -> Webhook {
        use std::io::{BufRead, BufReader, Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (seen2, stop2) = (seen.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stop2.load(std::sync::atomic::Ordering::SeqCst) {
                    return;
                }
                let Ok(stream) = stream else { continue };
                let seen = seen2.clone();
                std::thread::spawn(move || {
                    stream.set_read_timeout(Some(WAIT)).unwrap();
                    let mut reader = BufReader::new(stream.try_clone().unwrap());
                    let mut len = 0usize;
                    let mut line = String::new();
                    loop {
                        line.clear();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        if line == "\r\n" {
                            break;
                        }
                        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                            len = v.trim().parse().unwrap();
                        }
                    }
                    let mut body = vec![0; len];
                    reader.read_exact(&mut body).unwrap();
                    let body: Value = serde_json::from_slice(&body).unwrap();
                    let mode = body["auth"]["mode"].as_str().unwrap_or("allow").to_owned();
                    seen.lock().unwrap().push(body);
                    let (status, answer) = match mode.as_str() {
                        "refuse" => (200, json!({"allow": false, "message": "banned"})),
                        "error" => (500, json!({"oops": true})),
                        "slow" => {
                            std::thread::sleep(Duration::from_secs(3));
                            (200, json!({"allow": true}))
                        }
                        _ => (
                            200,
                            json!({"allow": true, "rooms": ["vip", "news"], "data": {"plan": "pro"}}),
                        ),
                    };
                    let answer = answer.to_string();
                    let mut out = stream;
                    let _ = write!(
                        out,
                        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
                        answer.len()
                    );
                });
            }
        });
        Webhook {
            url: format!("http://{addr}/connect"),
            seen,
            stop,
            addr,
            thread: Some(thread),
        }
    }
}

impl Drop for Webhook {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        let _ = std::net::TcpStream::connect(self.addr);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn webhook_config(hook: &Webhook, timeout_ms: u64) -> ServerConfig {
    let mut c = config();
    c.connect_webhook = Some(hook.url.clone());
    c.connect_webhook_timeout_ms = timeout_ms;
    c.admin_token = Some("adm".into());
    c.policy = Policy::open();
    c
}

#[test]
fn the_connect_webhook_admits_joins_and_refuses() {
    let hook = Webhook::start();
    let server = TestServer::with_config(webhook_config(&hook, 2000));
    let (mut ws, answer) = connect_with(
        server.addr,
        "&app=demo",
        Some(&json!({"mode": "allow", "token": "t1"})),
    );
    assert!(answer.starts_with("40{\"sid\""), "{answer}");
    let sid: Value = serde_json::from_str(answer.strip_prefix("40").unwrap()).unwrap();
    let sid = sid["sid"].as_str().unwrap().to_owned();
    // What the application was told.
    let seen = hook.seen.lock().unwrap()[0].clone();
    assert_eq!(seen["namespace"], "/");
    assert_eq!(seen["auth"], json!({"mode": "allow", "token": "t1"}));
    assert_eq!(seen["query"]["app"], "demo");
    assert_eq!(seen["query"]["EIO"], "4");
    assert_eq!(seen["headers"]["upgrade"], "websocket");
    assert_eq!(seen["address"], "127.0.0.1");
    // Joined to the webhook's rooms, with its data.
    let (status, info) = admin(
        server.addr,
        "GET",
        &format!("/api/sockets/{sid}"),
        Some("adm"),
        "",
    );
    assert_eq!(status, 200);
    assert_eq!(info["rooms"], json!([sid, "vip", "news"]));
    assert_eq!(info["data"], json!({"plan": "pro"}));
    let (status, _) = admin(
        server.addr,
        "POST",
        "/api/sockets/broadcast",
        Some("adm"),
        r#"{"rooms":"vip","event":"hi","data":1}"#,
    );
    assert_eq!(status, 200);
    assert_eq!(text_no_ping(&mut ws), r#"42["hi",1]"#);

    for (mode, message, reason) in [
        ("refuse", "banned", "webhook_refused"),
        ("error", "connect webhook answered 500", "webhook_refused"),
    ] {
        let (_ws, answer) = connect_with(server.addr, "", Some(&json!({"mode": mode})));
        assert_eq!(answer, format!(r#"44{{"message":"{message}"}}"#), "{mode}");
        assert!(metric(server.addr, reason) >= 1, "{reason}");
    }

    // v3 (sails.io.js): its implicit CONNECT waits for the webhook too.
    let mut v3 = server_util::ws(
        server.addr,
        "/socket.io/?EIO=3&transport=websocket&__sails_io_sdk_version=1.2.1",
    );
    assert!(text(&mut v3).starts_with("0{"));
    assert_eq!(text(&mut v3), "40");
    let seen = hook.seen.lock().unwrap().last().unwrap().clone();
    assert_eq!(seen["query"]["__sails_io_sdk_version"], "1.2.1");
    assert_eq!(seen["auth"], json!({}));
}

#[test]
fn a_slow_webhook_refuses_at_its_timeout_and_stalls_nobody_else() {
    let hook = Webhook::start();
    let server = TestServer::with_config(webhook_config(&hook, 300));
    let (mut calm, answer) = connect_with(server.addr, "", Some(&json!({"mode": "allow"})));
    assert!(answer.starts_with("40{"), "{answer}");
    let started = Instant::now();
    let mut slow = ws(server.addr, "/socket.io/?EIO=4&transport=websocket");
    assert!(text(&mut slow).starts_with("0{"));
    send(&mut slow, r#"40{"mode":"slow"}"#);
    // Meanwhile the other client is served at once.
    for n in 1..=5 {
        let t = Instant::now();
        let got = request(&mut calm, n, "get", "/sockets/id", Value::Null);
        assert_eq!(ack_body(got.last().unwrap(), n)["statusCode"], 200);
        assert!(
            t.elapsed() < Duration::from_millis(250),
            "{:?}",
            t.elapsed()
        );
    }
    assert_eq!(
        text_no_ping(&mut slow),
        r#"44{"message":"connect webhook timed out"}"#
    );
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(250) && took < Duration::from_secs(2),
        "{took:?}"
    );
    assert_eq!(metric(server.addr, "webhook_timeout"), 1);
}

#[test]
fn the_client_address_comes_from_a_trusted_proxy_only() {
    let ws_with = |addr: SocketAddr, xff: &str| {
        let stream = std::net::TcpStream::connect(addr).unwrap();
        stream.set_read_timeout(Some(WAIT)).unwrap();
        let mut req = tungstenite::client::IntoClientRequest::into_client_request(format!(
            "ws://{addr}/socket.io/?EIO=4&transport=websocket"
        ))
        .unwrap();
        req.headers_mut()
            .insert("X-Forwarded-For", xff.parse().unwrap());
        let (mut ws, _) = tungstenite::client(req, stream).unwrap();
        assert!(text(&mut ws).starts_with("0{"));
        send(&mut ws, "40");
        let ok = text_no_ping(&mut ws);
        let v: Value = serde_json::from_str(ok.strip_prefix("40").unwrap()).unwrap();
        (ws, v["sid"].as_str().unwrap().to_owned())
    };
    let address = |server: &TestServer, sid: &str| {
        let (status, info) = admin(
            server.addr,
            "GET",
            &format!("/api/sockets/{sid}"),
            Some("adm"),
            "",
        );
        assert_eq!(status, 200);
        info["address"].clone()
    };
    // Behind a trusted proxy (127.0.0.1 here): the address it forwarded.
    let mut c = config();
    c.admin_token = Some("adm".into());
    c.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
    let server = TestServer::with_config(c);
    let (_a, sid) = ws_with(server.addr, "1.2.3.4, 203.0.113.7");
    assert_eq!(address(&server, &sid), "203.0.113.7");
    // Without trusting anyone, a client's own X-Forwarded-For is ignored.
    let mut c = config();
    c.admin_token = Some("adm".into());
    let server = TestServer::with_config(c);
    let (_b, sid) = ws_with(server.addr, "203.0.113.7");
    assert_eq!(address(&server, &sid), "127.0.0.1");
}
