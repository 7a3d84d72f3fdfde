//! The admin HTTP API (`docs/ROUTES.md`, "Admin HTTP API") against a real server on
//! 127.0.0.1:0: every endpoint authorized, unauthorized, with a wrong token, with a
//! malformed body and unknown ids, checking what the sockets actually receive;
//! keep-alive, the body limit, slow clients; `/metrics` after a known workload.

mod server_util;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use server_util::*;

const TOKEN: &str = "t0ken-for-tests";

fn server(workers: usize) -> TestServer {
    let mut c = config();
    c.workers = workers;
    c.admin_token = Some(TOKEN.to_owned());
    TestServer::with_config(c)
}

fn post(s: &TestServer, path: &str, body: Value) -> (u16, Value) {
    admin(s.addr, "POST", path, Some(TOKEN), &body.to_string())
}

/// The next event packet (`42[…]`) a socket receives, parsed.
fn event(ws: &mut Ws) -> Value {
    let t = text_no_ping(ws);
    let json = t
        .strip_prefix("42")
        .unwrap_or_else(|| panic!("not an event: {t}"));
    serde_json::from_str(json).unwrap()
}

/// Asserts that nothing but pings arrives within `ms`.
fn quiet(ws: &mut Ws, ms: u64) {
    ws.get_mut()
        .set_read_timeout(Some(Duration::from_millis(ms)))
        .unwrap();
    loop {
        match ws.read() {
            Ok(tungstenite::Message::Text(t)) if t.as_str() == "2" => {
                ws.send(tungstenite::Message::text("3")).unwrap();
            }
            Ok(m) => panic!("unexpected message: {m:?}"),
            Err(_) => break,
        }
    }
    ws.get_mut().set_read_timeout(Some(WAIT)).unwrap();
}

fn ok() -> (u16, Value) {
    (200, json!({"ok": true}))
}

#[test]
fn sockets_operations_reach_the_right_sockets() {
    let s = server(2);
    let (mut a, ida) = connect_v4(s.addr);
    let (mut b, idb) = connect_v4(s.addr);
    let (mut c, idc) = connect_v4(s.addr);

    // join one and several; broadcast with omit.
    assert_eq!(
        post(
            &s,
            "/api/sockets/join",
            json!({"socketId": ida, "room": "r"})
        ),
        ok()
    );
    assert_eq!(
        post(
            &s,
            "/api/sockets/join",
            json!({"socketIds": [idb, idc], "room": "r"})
        ),
        ok()
    );
    assert_eq!(
        post(
            &s,
            "/api/sockets/broadcast",
            json!({"rooms": "r", "event": "news", "data": {"n": 1}, "omit": idc})
        ),
        ok()
    );
    assert_eq!(event(&mut a), json!(["news", {"n": 1}]));
    assert_eq!(event(&mut b), json!(["news", {"n": 1}]));
    quiet(&mut c, 150);

    // GET /api/rooms/:room (all shards) and /api/sockets/:id.
    let (st, body) = admin(s.addr, "GET", "/api/rooms/r", Some(TOKEN), "");
    assert_eq!(st, 200, "{body}");
    assert_eq!(body["count"], 3);
    let mut members: Vec<String> = body["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    members.sort();
    let mut want = vec![ida.clone(), idb.clone(), idc.clone()];
    want.sort();
    assert_eq!(members, want);
    let (st, body) = admin(s.addr, "GET", "/api/rooms/r?limit=1", Some(TOKEN), "");
    assert_eq!((st, body["count"].clone()), (200, json!(3)));
    assert_eq!(body["members"].as_array().unwrap().len(), 1);
    assert_eq!(body["truncated"], true);
    let (st, body) = admin(
        s.addr,
        "GET",
        &format!("/api/sockets/{idb}"),
        Some(TOKEN),
        "",
    );
    assert_eq!(st, 200, "{body}");
    assert_eq!(body["rooms"], json!([idb, "r"]));

    // leave; emit; blast.
    assert_eq!(
        post(
            &s,
            "/api/sockets/leave",
            json!({"socketId": idb, "room": "r"})
        ),
        ok()
    );
    assert_eq!(
        post(
            &s,
            "/api/sockets/broadcast",
            json!({"rooms": ["r"], "data": 2})
        ),
        ok()
    );
    assert_eq!(event(&mut a), json!(["message", 2]));
    assert_eq!(event(&mut c), json!(["message", 2]));
    assert_eq!(
        post(
            &s,
            "/api/sockets/emit",
            json!({"socketIds": [idb], "event": "dm", "data": "hi"})
        ),
        ok()
    );
    assert_eq!(event(&mut b), json!(["dm", "hi"]));
    assert_eq!(
        post(
            &s,
            "/api/sockets/blast",
            json!({"event": "all", "data": 3, "omit": ida})
        ),
        ok()
    );
    assert_eq!(event(&mut b), json!(["all", 3]));
    assert_eq!(event(&mut c), json!(["all", 3]));
    quiet(&mut a, 150);

    // room to rooms, leave-all.
    assert_eq!(
        post(
            &s,
            "/api/sockets/add-room-members-to-rooms",
            json!({"sourceRoom": "r", "destRooms": ["r2"]})
        ),
        ok()
    );
    let (_, body) = admin(s.addr, "GET", "/api/rooms/r2", Some(TOKEN), "");
    assert_eq!(body["count"], 2);
    assert_eq!(
        post(
            &s,
            "/api/sockets/remove-room-members-from-rooms",
            json!({"sourceRoom": "r", "destRooms": "r2"})
        ),
        ok()
    );
    let (_, body) = admin(s.addr, "GET", "/api/rooms/r2", Some(TOKEN), "");
    assert_eq!(body["count"], 0);
    assert_eq!(
        post(&s, "/api/sockets/leave-all", json!({"room": "r"})),
        ok()
    );
    let (_, body) = admin(s.addr, "GET", "/api/rooms/r", Some(TOKEN), "");
    assert_eq!(body["count"], 0);
    let (_, body) = admin(
        s.addr,
        "GET",
        &format!("/api/sockets/{ida}"),
        Some(TOKEN),
        "",
    );
    assert_eq!(body["rooms"], json!([ida]));
    drop((a, b, c));
}

#[test]
fn unknown_ids_and_malformed_bodies() {
    let s = server(2);
    let (mut a, ida) = connect_v4(s.addr);
    // A well-formed id of a socket that is gone.
    let (gone, gone_id) = connect_v4(s.addr);
    drop(gone);
    let start = Instant::now();
    while s.engine.is_connected(gone_id.parse().unwrap()) {
        assert!(start.elapsed() < WAIT);
        std::thread::sleep(Duration::from_millis(5));
    }

    // emit with one unknown id: 404, nothing delivered.
    let (st, body) = post(
        &s,
        "/api/sockets/emit",
        json!({"socketIds": [ida, gone_id], "data": 1}),
    );
    assert_eq!(st, 404);
    assert_eq!(body["error"], "E_UNKNOWN_SOCKET");
    assert_eq!(body["unknown"], json!([gone_id]));
    quiet(&mut a, 150);
    let (st, body) = post(
        &s,
        "/api/sockets/join",
        json!({"socketId": gone_id, "room": "x"}),
    );
    assert_eq!(
        (st, body["error"].clone()),
        (404, json!("E_UNKNOWN_SOCKET"))
    );
    let (st, body) = admin(
        s.addr,
        "GET",
        &format!("/api/sockets/{gone_id}"),
        Some(TOKEN),
        "",
    );
    assert_eq!(
        (st, body["error"].clone()),
        (404, json!("E_UNKNOWN_SOCKET"))
    );
    // Any id that is not a live socket is unknown, a malformed one too.
    let (st, body) = admin(s.addr, "GET", "/api/sockets/not-an-id", Some(TOKEN), "");
    assert_eq!(
        (st, body["error"].clone(), body["unknown"].clone()),
        (404, json!("E_UNKNOWN_SOCKET"), json!(["not-an-id"]))
    );

    // Malformed bodies: 400 E_BAD_REQUEST, nothing sent.
    for (path, body) in [
        ("/api/sockets/join", "{not json"),
        ("/api/sockets/join", r#"{"room": 5, "socketId": "x"}"#),
        ("/api/sockets/join", r#"{"room": "r"}"#),
        ("/api/sockets/broadcast", r#"{"data": 1}"#),
        (
            "/api/sockets/broadcast",
            r#"{"rooms": "r", "data": 1, "omit": 7}"#,
        ),
        ("/api/sockets/broadcast", r#"[1, 2]"#),
        ("/api/sockets/emit", r#"{"data": 1}"#),
        ("/api/sockets/leave-all", r#"{}"#),
        (
            "/api/sockets/add-room-members-to-rooms",
            r#"{"sourceRoom": "a"}"#,
        ),
        ("/api/pubsub/user/subscribe", r#"{"ids": [1]}"#),
        ("/api/pubsub/user/created", r#"{"data": {}}"#),
        ("/api/pubsub/user/added-to", r#"{"id": 1, "addedId": 2}"#),
    ] {
        let (st, v) = admin(s.addr, "POST", path, Some(TOKEN), body);
        assert_eq!(st, 400, "{path} {body}: {v}");
        assert_eq!(v["error"], "E_BAD_REQUEST", "{path} {body}: {v}");
    }
    // Unknown routes and wrong methods.
    let (st, v) = admin(s.addr, "POST", "/api/sockets/nope", Some(TOKEN), "{}");
    assert_eq!((st, v["error"].clone()), (404, json!("E_NOT_FOUND")));
    let (st, _) = admin(s.addr, "POST", "/api/rooms/x", Some(TOKEN), "{}");
    assert_eq!(st, 404);
    let (st, _) = admin(s.addr, "GET", "/api/sockets/join", Some(TOKEN), "");
    assert_eq!(st, 404); // not a socket id: an unknown socket
    quiet(&mut a, 100);
}

#[test]
fn auth_missing_wrong_and_disabled() {
    let s = server(1);
    let (mut a, ida) = connect_v4(s.addr);
    let body = json!({"socketIds": [ida], "data": 1}).to_string();
    for token in [
        None,
        Some("wrong"),
        Some("t0ken-for-test"),
        Some("t0ken-for-testsX"),
    ] {
        let (st, v) = admin(s.addr, "POST", "/api/sockets/emit", token, &body);
        assert_eq!(st, 401, "{token:?}");
        assert_eq!(v["error"], "E_UNAUTHORIZED");
        let (st, _) = admin(s.addr, "GET", "/api/rooms/x", token, "");
        assert_eq!(st, 401);
    }
    let r = http(
        s.addr,
        &format!("GET /api/rooms/x HTTP/1.1\r\nConnection: close\r\nAuthorization: Basic {TOKEN}\r\n\r\n"),
    );
    assert_eq!(status(&r), 401, "{r}");
    assert!(r.contains("WWW-Authenticate: Bearer"), "{r}");
    quiet(&mut a, 100);

    // No token configured: the API is off, whatever is sent.
    let off = TestServer::with_config(config());
    let (st, v) = admin(
        off.addr,
        "POST",
        "/api/sockets/blast",
        Some(""),
        r#"{"data":1}"#,
    );
    assert_eq!((st, v["error"].clone()), (404, json!("E_ADMIN_DISABLED")));
    assert!(v["message"]
        .as_str()
        .unwrap()
        .contains("ROOMCAST_ADMIN_TOKEN"));
    let (st, _) = admin(off.addr, "GET", "/api/rooms/x", None, "");
    assert_eq!(st, 404);
}

#[test]
fn pubsub_operations_by_socket_id() {
    let s = server(2);
    let (mut a, ida) = connect_v4(s.addr);
    let (mut b, idb) = connect_v4(s.addr);
    let (mut w, idw) = connect_v4(s.addr);
    assert_eq!(
        post(
            &s,
            "/api/pubsub/user/subscribe",
            json!({"socketId": ida, "ids": [1, 2]})
        ),
        ok()
    );
    assert_eq!(
        post(
            &s,
            "/api/pubsub/user/subscribe",
            json!({"socketId": idb, "ids": 1})
        ),
        ok()
    );
    assert_eq!(
        post(&s, "/api/pubsub/user/watch", json!({"socketId": idw})),
        ok()
    );

    assert_eq!(
        post(
            &s,
            "/api/pubsub/user/message",
            json!({"id": 1, "data": {"x": 1}, "omit": idb})
        ),
        ok()
    );
    assert_eq!(
        event(&mut a),
        json!(["user", {"verb": "messaged", "id": 1, "data": {"x": 1}}])
    );
    assert_eq!(
        post(
            &s,
            "/api/pubsub/user/publish",
            json!({"ids": [1, 2], "data": {"raw": true}})
        ),
        ok()
    );
    assert_eq!(event(&mut a), json!(["user", {"raw": true}]));
    assert_eq!(event(&mut b), json!(["user", {"raw": true}]));
    assert_eq!(
        post(
            &s,
            "/api/pubsub/user/updated",
            json!({"id": 2, "data": {"n": "z"}, "previous": {"n": "y"}})
        ),
        ok()
    );
    assert_eq!(
        event(&mut a),
        json!(["user", {"verb": "updated", "data": {"n": "z"}, "id": 2, "previous": {"n": "y"}}])
    );
    assert_eq!(
        post(
            &s,
            "/api/pubsub/user/added-to",
            json!({"id": 1, "attribute": "pets", "addedId": 9})
        ),
        ok()
    );
    let added = json!(["user", {"id": 1, "verb": "addedTo", "attribute": "pets", "addedId": 9}]);
    assert_eq!(event(&mut a), added);
    assert_eq!(event(&mut b), added);
    assert_eq!(
        post(
            &s,
            "/api/pubsub/user/removed-from",
            json!({"id": 1, "attribute": "pets", "removedId": 9, "omit": ida})
        ),
        ok()
    );
    assert_eq!(
        event(&mut b),
        json!(["user", {"id": 1, "verb": "removedFrom", "attribute": "pets", "removedId": 9}])
    );
    // created: watchers hear it and are subscribed to the new record.
    assert_eq!(
        post(
            &s,
            "/api/pubsub/user/created",
            json!({"id": 7, "data": {"id": 7}})
        ),
        ok()
    );
    assert_eq!(
        event(&mut w),
        json!(["user", {"verb": "created", "data": {"id": 7}, "id": 7}])
    );
    assert_eq!(
        post(&s, "/api/pubsub/user/destroyed", json!({"id": 7})),
        ok()
    );
    assert_eq!(
        event(&mut w),
        json!(["user", {"verb": "destroyed", "id": 7}])
    );
    // unsubscribe, unwatch.
    assert_eq!(
        post(
            &s,
            "/api/pubsub/user/unsubscribe",
            json!({"socketId": ida, "ids": [1, 2]})
        ),
        ok()
    );
    assert_eq!(
        post(&s, "/api/pubsub/user/unwatch", json!({"socketId": idw})),
        ok()
    );
    assert_eq!(
        post(&s, "/api/pubsub/user/message", json!({"id": 1, "data": 0})),
        ok()
    );
    assert_eq!(
        event(&mut b),
        json!(["user", {"verb": "messaged", "id": 1, "data": 0}])
    );
    assert_eq!(
        post(&s, "/api/pubsub/user/created", json!({"id": 8, "data": {}})),
        ok()
    );
    quiet(&mut a, 150);
    quiet(&mut w, 50);
    // An unknown socket id for subscribe: 404.
    let (gone, gone_id) = connect_v4(s.addr);
    drop(gone);
    let start = Instant::now();
    while s.engine.is_connected(gone_id.parse().unwrap()) {
        assert!(start.elapsed() < WAIT);
        std::thread::sleep(Duration::from_millis(5));
    }
    let (st, _) = post(&s, "/api/pubsub/user/watch", json!({"socketId": gone_id}));
    assert_eq!(st, 404);
}

/// Reads one HTTP response (head + `Content-Length` body) from a kept-alive
/// connection.
fn read_response(s: &mut TcpStream) -> String {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        assert_eq!(s.read(&mut byte).unwrap(), 1, "connection closed early");
        buf.push(byte[0]);
    }
    let head = String::from_utf8(buf).unwrap();
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Length: "))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let mut body = vec![0; len];
    s.read_exact(&mut body).unwrap();
    head + &String::from_utf8(body).unwrap()
}

#[test]
fn keep_alive_pipelining_body_limit_and_slow_clients() {
    let mut c = config();
    c.admin_token = Some(TOKEN.to_owned());
    c.max_http_body = 1000;
    c.handshake_timeout_ms = 300;
    let s = TestServer::with_config(c);
    let (mut a, ida) = connect_v4(s.addr);

    // Two requests on one connection, then two pipelined in one write.
    let mut conn = TcpStream::connect(s.addr).unwrap();
    conn.set_read_timeout(Some(WAIT)).unwrap();
    conn.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let r = read_response(&mut conn);
    assert!(r.contains("Connection: keep-alive"), "{r}");
    let emit = json!({"socketIds": [ida], "data": "ka"}).to_string();
    let req = format!(
        "POST /api/sockets/emit HTTP/1.1\r\nAuthorization: Bearer {TOKEN}\r\nContent-Length: {}\r\n\r\n{emit}",
        emit.len()
    );
    conn.write_all(
        format!("{req}GET /api/rooms/none HTTP/1.1\r\nAuthorization: Bearer {TOKEN}\r\n\r\n")
            .as_bytes(),
    )
    .unwrap();
    assert_eq!(status(&read_response(&mut conn)), 200);
    let r = read_response(&mut conn);
    assert_eq!(status(&r), 200, "{r}");
    assert!(body(&r).contains(r#""count":0"#), "{r}");
    assert_eq!(event(&mut a), json!(["message", "ka"]));

    // A body over the limit: 413 and closed.
    let big = "x".repeat(2000);
    let r = http(
        s.addr,
        &format!("POST /api/sockets/blast HTTP/1.1\r\nAuthorization: Bearer {TOKEN}\r\nContent-Length: 2000\r\n\r\n{big}"),
    );
    assert_eq!(status(&r), 413, "{r}");
    // Chunked bodies are refused.
    let r = http(
        s.addr,
        "POST /api/sockets/blast HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    );
    assert!(status(&r) >= 400, "{r}");

    // A slow client (half a body, a half head, an idle kept-alive connection) is
    // closed after the timeout; the socket is untouched.
    let start = Instant::now();
    let mut slow_body = TcpStream::connect(s.addr).unwrap();
    slow_body
        .write_all(format!("POST /api/sockets/blast HTTP/1.1\r\nAuthorization: Bearer {TOKEN}\r\nContent-Length: 50\r\n\r\n{{\"da").as_bytes())
        .unwrap();
    let mut slow_head = TcpStream::connect(s.addr).unwrap();
    slow_head.write_all(b"GET /health HTTP/1.1\r\nHo").unwrap();
    for c in [&mut slow_body, &mut slow_head, &mut conn] {
        c.set_read_timeout(Some(WAIT)).unwrap();
        let mut rest = Vec::new();
        let _ = c.read_to_end(&mut rest);
        assert!(rest.is_empty(), "{}", String::from_utf8_lossy(&rest));
    }
    assert!(start.elapsed() < Duration::from_secs(5));
    quiet(&mut a, 50);
    send(
        &mut a,
        &format!("421{}", json!(["get", {"url": "/sockets/id"}])),
    );
    assert!(text_no_ping(&mut a).starts_with("431"));

    // Garbage: 400, closed; the server still serves.
    let r = http(s.addr, "\x00\x01garbage\r\n\r\n");
    assert_eq!(status(&r), 400, "{r}");
    let r = get(s.addr, "/health", "");
    assert_eq!(status(&r), 200);
}

/// Parses the text exposition into `name{labels}` → value (comments skipped).
fn scrape(s: &TestServer) -> std::collections::HashMap<String, f64> {
    let r = get(s.addr, "/metrics", "");
    assert_eq!(status(&r), 200, "{r}");
    assert!(
        r.contains("Content-Type: application/openmetrics-text"),
        "{r}"
    );
    body(&r)
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (k, v) = l.rsplit_once(' ').unwrap_or_else(|| panic!("bad line {l}"));
            (
                k.to_owned(),
                v.parse::<f64>().unwrap_or_else(|_| panic!("bad value {l}")),
            )
        })
        .collect()
}

fn sum(m: &std::collections::HashMap<String, f64>, prefix: &str) -> f64 {
    m.iter()
        .filter(|(k, _)| k.starts_with(prefix))
        .map(|(_, v)| v)
        .sum()
}

#[test]
fn metrics_after_a_known_workload() {
    let s = server(2);
    let mut socks: Vec<(Ws, String)> = (0..3).map(|_| connect_v4(s.addr)).collect();
    let mut v3 = ws(s.addr, "/socket.io/?EIO=3&transport=websocket");
    assert!(text(&mut v3).starts_with("0{"));
    assert_eq!(text(&mut v3), "40");
    let ids: Vec<&String> = socks.iter().map(|(_, id)| id).collect();
    assert_eq!(
        post(
            &s,
            "/api/sockets/join",
            json!({"socketIds": [ids[0], ids[1]], "room": "m"})
        ),
        ok()
    );
    for i in 0..5 {
        assert_eq!(
            post(
                &s,
                "/api/sockets/broadcast",
                json!({"rooms": "m", "data": i})
            ),
            ok()
        );
    }
    for (ws, _) in socks.iter_mut().take(2) {
        for i in 0..5 {
            assert_eq!(event(ws), json!(["message", i]));
        }
    }
    // A protocol error of each of two kinds.
    let r = http(s.addr, "\x00garbage\r\n\r\n");
    assert_eq!(status(&r), 400);
    let mut bad = ws(s.addr, "/socket.io/?EIO=4&transport=websocket");
    let _ = text(&mut bad);
    send(&mut bad, "zzz");
    let _ = read_until_closed(&mut bad);

    let start = Instant::now();
    let m = loop {
        let m = scrape(&s);
        if sum(&m, "roomcast_connections{") == 4.0 || start.elapsed() > WAIT {
            break m;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let eio = |v: &str| {
        m.iter()
            .filter(|(k, _)| k.starts_with("roomcast_connections{") && k.contains(v))
            .map(|(_, v)| v)
            .sum::<f64>()
    };
    assert_eq!(eio("eio4"), 3.0, "{m:?}");
    assert_eq!(eio("eio3"), 1.0, "{m:?}");
    assert_eq!(sum(&m, "roomcast_sockets{"), 4.0);
    // Room "m" is counted once per shard that holds a member (round-robin: both).
    assert_eq!(sum(&m, "roomcast_rooms{"), 2.0);
    assert_eq!(sum(&m, "roomcast_memberships{"), 2.0);
    // Each broadcast is applied once per shard.
    assert_eq!(sum(&m, "roomcast_broadcasts_total{"), 10.0);
    let deliveries = sum(&m, "roomcast_deliveries_total{");
    let writes = sum(&m, "roomcast_writes_total{");
    assert!(deliveries >= 10.0, "{m:?}");
    assert!(writes >= 1.0 && writes <= deliveries, "{m:?}");
    assert!(sum(&m, "roomcast_written_bytes_total{") > 0.0);
    assert_eq!(sum(&m, "roomcast_slow_consumer_closes_total{"), 0.0);
    assert!(
        sum(&m, "roomcast_protocol_errors_total{kind=\"http\"}") >= 1.0,
        "{m:?}"
    );
    assert_eq!(
        sum(&m, "roomcast_protocol_errors_total{kind=\"engine_io\"}"),
        1.0,
        "{m:?}"
    );
    assert!(sum(&m, "roomcast_loop_iteration_seconds_count{") > 0.0);
    assert!(m
        .keys()
        .any(|k| k.starts_with("roomcast_loop_iteration_seconds_bucket{le=\"+Inf\",worker=\"1\"")));
    assert!(sum(&m, "roomcast_upgrades_total") >= 5.0);
}

#[test]
fn random_bodies_and_paths_never_break_the_server() {
    let s = server(2);
    let (mut a, ida) = connect_v4(s.addr);
    let paths = [
        "/api/sockets/join",
        "/api/sockets/leave",
        "/api/sockets/broadcast",
        "/api/sockets/emit",
        "/api/sockets/leave-all",
        "/api/sockets/add-room-members-to-rooms",
        "/api/pubsub/user/subscribe",
        "/api/pubsub/user/created",
        "/api/pubsub/%ZZ/updated",
        "/api/pubsub//added-to",
        "/api/rooms/%FF%FE",
        "/api/sockets/%00",
    ];
    let pieces = [
        "{",
        "}",
        "[",
        "]",
        "\"room\":",
        "\"rooms\":",
        "\"socketId\":",
        "\"socketIds\":",
        "\"data\":",
        "\"omit\":",
        "\"id\":",
        "null",
        "true",
        "1e999",
        "-1",
        "\"\"",
        ",",
        "\"\\u0000\"",
        "\u{1F600}",
        "\"sails_model_user_1:user\"",
    ];
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n as u64) as usize
    };
    for _ in 0..300 {
        let path = paths[next(paths.len())];
        let mut body = String::new();
        for _ in 0..next(12) {
            body.push_str(pieces[next(pieces.len())]);
        }
        if next(4) == 0 {
            body = body.replace("\"socketId\":", &format!("\"socketId\":\"{ida}\","));
        }
        let method = if next(5) == 0 { "GET" } else { "POST" };
        let (st, _) = admin(s.addr, method, path, Some(TOKEN), &body);
        assert!((200..500).contains(&st), "{method} {path} {body}: {st}");
    }
    let r = get(s.addr, "/health", "");
    assert_eq!(status(&r), 200);
    send(
        &mut a,
        &format!("421{}", json!(["get", {"url": "/sockets/id"}])),
    );
    loop {
        let t = text_no_ping(&mut a);
        if t.starts_with("431") {
            break;
        }
    }
}
