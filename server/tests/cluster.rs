//! Several roomcast nodes (in this process) over a real redis-server: every
//! operation acts cluster-wide, a socket in several rooms gets one copy, a join
//! by id answers once it holds, queries count every node, order is kept, and a
//! Redis crash loses nothing. (Node crashes and pauses, which need separate
//! processes, are in `cluster_nodes.rs`.)

mod redis_util;
mod server_util;

use std::time::{Duration, Instant};

use redis_util::Redis;
use roomcast_server::config::ServerConfig;
use roomcast_server::router::Policy;
use serde_json::{json, Value};
use server_util::*;

const TOKEN: &str = "t";

fn node(redis: &Redis, name: &str) -> TestServer {
    let mut c = ServerConfig {
        policy: Policy::open(),
        admin_token: Some(TOKEN.into()),
        redis: Some(redis.url()),
        ..config()
    }
    .with_node_name(name)
    .unwrap();
    c.cluster_timeout_ms = 1000;
    TestServer::with_config(c)
}

/// Waits until `addr` sees `n` live nodes with Redis up; returns the status.
fn wait_nodes(addr: std::net::SocketAddr, n: usize) -> Value {
    let start = Instant::now();
    loop {
        let (status, v) = admin(addr, "GET", "/api/cluster", Some(TOKEN), "");
        assert_eq!(status, 200, "{v}");
        if v["nodes"].as_array().map(Vec::len) == Some(n) && v["redis"] == "up" {
            return v;
        }
        assert!(start.elapsed() < WAIT, "cluster never had {n} nodes: {v}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The next event (`42[...]`) on `ws`: its name and data.
fn event(ws: &mut Ws) -> (String, Value) {
    let t = text_no_ping(ws);
    let v: Value = serde_json::from_str(t.strip_prefix("42").expect(&t)).expect(&t);
    (v[0].as_str().unwrap().to_owned(), v[1].clone())
}

/// Events up to and including `end` (the producer's marker sent last: one
/// producer's operations keep their order across nodes).
fn events_until(ws: &mut Ws, end: &str) -> Vec<(String, Value)> {
    let mut got = Vec::new();
    loop {
        let e = event(ws);
        if e.0 == end {
            return got;
        }
        got.push(e);
    }
}

fn post(addr: std::net::SocketAddr, path: &str, body: Value) -> (u16, Value) {
    admin(addr, "POST", path, Some(TOKEN), &body.to_string())
}

fn req(ws: &mut Ws, id: u64, url: &str, data: Value) -> (u16, Value) {
    let got = request(ws, id, "post", url, data);
    let body = ack_body(got.last().unwrap(), id);
    (
        body["statusCode"].as_u64().unwrap() as u16,
        body["body"].clone(),
    )
}

#[test]
fn every_operation_acts_on_every_node() {
    let redis = Redis::start();
    let a = node(&redis, "node-a");
    let b = node(&redis, "node-b");
    let status = wait_nodes(a.addr, 2);
    assert_eq!(status["self"], "node-a");
    wait_nodes(b.addr, 2);

    let (mut a1, a1_id) = connect_v4(a.addr);
    let (mut b1, b1_id) = connect_v4(b.addr);
    let (mut b2, b2_id) = connect_v4(b.addr);
    assert!(b1_id.starts_with(&b1_id[..6]));

    // A socket on A joins a socket on B to a room by id: the answer comes once
    // B applied it, so a broadcast issued right after, from A, reaches it.
    assert_eq!(
        req(
            &mut a1,
            1,
            "/sockets/join",
            json!({"room": "x", "socketId": b2_id})
        ),
        (200, json!({"ok": true}))
    );
    assert_eq!(
        post(
            a.addr,
            "/api/sockets/broadcast",
            json!({"rooms": "x", "event": "hi", "data": 1})
        )
        .0,
        200
    );
    assert_eq!(event(&mut b2), ("hi".into(), json!(1)));

    // Rooms on both nodes; a socket in two of the rooms named gets one copy;
    // omit works across nodes.
    assert_eq!(
        req(&mut a1, 2, "/sockets/join", json!({"room": "chat"})).0,
        200
    );
    assert_eq!(
        req(&mut b1, 1, "/sockets/join", json!({"room": "chat"})).0,
        200
    );
    assert_eq!(
        req(&mut b1, 2, "/sockets/join", json!({"room": "chat2"})).0,
        200
    );
    post(
        a.addr,
        "/api/sockets/broadcast",
        json!({"rooms": ["chat", "chat2"], "event": "m", "data": "once"}),
    );
    post(
        a.addr,
        "/api/sockets/broadcast",
        json!({"rooms": ["chat"], "event": "m", "data": "not b1", "omit": b1_id}),
    );
    post(
        a.addr,
        "/api/sockets/broadcast",
        json!({"rooms": ["chat", "chat2"], "event": "end", "data": 0}),
    );
    assert_eq!(events_until(&mut b1, "end"), [("m".into(), json!("once"))]);
    assert_eq!(
        events_until(&mut a1, "end"),
        [("m".into(), json!("once")), ("m".into(), json!("not b1"))]
    );

    // Queries see the whole cluster.
    let (s, v) = admin(a.addr, "GET", "/api/rooms/chat", Some(TOKEN), "");
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        (v["count"].clone(), v["partial"].clone()),
        (json!(2), json!(false))
    );
    let mut members: Vec<String> = serde_json::from_value(v["members"].clone()).unwrap();
    members.sort();
    let mut want = vec![a1_id.clone(), b1_id.clone()];
    want.sort();
    assert_eq!(members, want);
    let (s, v) = admin(
        a.addr,
        "GET",
        &format!("/api/sockets/{b1_id}"),
        Some(TOKEN),
        "",
    );
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["rooms"], json!([b1_id, "chat", "chat2"]));

    // emit to ids on both nodes. Any unknown id: 404. Each node sends its part
    // only if every id it owns is live: B knows the forged id and sends nothing,
    // A's part went out (docs/CLUSTER.md, "What is atomic").
    // b1's id with one character of its token changed: a forged id.
    let c = if &b1_id[20..21] == "A" { "B" } else { "A" };
    let stale = format!("{}{c}{}", &b1_id[..20], &b1_id[21..]);
    assert_ne!(stale, b1_id);
    let (s, v) = post(
        a.addr,
        "/api/sockets/emit",
        json!({"socketIds": [a1_id, b1_id, stale], "event": "e", "data": 0}),
    );
    assert_eq!(
        (s, v["error"].clone()),
        (404, json!("E_UNKNOWN_SOCKET")),
        "{v}"
    );
    let (s, _) = post(
        a.addr,
        "/api/sockets/emit",
        json!({"socketIds": [a1_id, b1_id], "event": "e", "data": 1}),
    );
    assert_eq!(s, 200);
    assert_eq!(event(&mut a1), ("e".into(), json!(0)));
    assert_eq!(event(&mut a1), ("e".into(), json!(1)));
    assert_eq!(event(&mut b1), ("e".into(), json!(1)));
    // An id of a node outside the cluster is refused before anything is sent.
    let foreign = "AAAAAAAAAAAAAAAAAAAAAAAA";
    let (s, _) = post(
        a.addr,
        "/api/sockets/emit",
        json!({"socketIds": [a1_id, foreign], "event": "e", "data": 2}),
    );
    assert_eq!(s, 404);

    // blast from B reaches A's sockets; room-to-rooms and leaveAll from A act
    // on B's members.
    post(
        b.addr,
        "/api/sockets/blast",
        json!({"event": "all", "data": 2}),
    );
    assert_eq!(event(&mut a1), ("all".into(), json!(2)));
    assert_eq!(event(&mut b1), ("all".into(), json!(2)));
    assert_eq!(event(&mut b2), ("all".into(), json!(2)));
    post(
        a.addr,
        "/api/sockets/add-room-members-to-rooms",
        json!({"sourceRoom": "chat", "destRooms": ["vip"]}),
    );
    post(
        a.addr,
        "/api/sockets/broadcast",
        json!({"rooms": "vip", "event": "vip", "data": 3}),
    );
    assert_eq!(event(&mut b1), ("vip".into(), json!(3)));
    assert_eq!(event(&mut a1), ("vip".into(), json!(3)));
    post(a.addr, "/api/sockets/leave-all", json!({"room": "vip"}));
    let (_, v) = admin(
        b.addr,
        "GET",
        &format!("/api/sockets/{b1_id}"),
        Some(TOKEN),
        "",
    );
    let rooms = v["rooms"].clone();
    // leaveAll is applied on B after A answered: wait for it, bounded.
    let start = Instant::now();
    let mut rooms = rooms;
    while rooms != json!([b1_id]) {
        assert!(start.elapsed() < WAIT, "{rooms}");
        std::thread::sleep(Duration::from_millis(20));
        rooms = admin(
            b.addr,
            "GET",
            &format!("/api/sockets/{b1_id}"),
            Some(TOKEN),
            "",
        )
        .1["rooms"]
            .clone();
    }

    // Leave by id, and pub/sub subscriptions of another node's socket.
    assert_eq!(
        post(
            a.addr,
            "/api/sockets/leave",
            json!({"room": "x", "socketId": b2_id})
        )
        .0,
        200
    );
    assert_eq!(
        post(
            a.addr,
            "/api/pubsub/user/subscribe",
            json!({"socketId": b2_id, "ids": [7]})
        )
        .0,
        200
    );
    post(
        a.addr,
        "/api/sockets/broadcast",
        json!({"rooms": "x", "event": "gone", "data": 0}),
    );
    post(
        a.addr,
        "/api/pubsub/user/message",
        json!({"id": 7, "data": "hey"}),
    );
    assert_eq!(
        event(&mut b2),
        (
            "user".into(),
            json!({"verb": "messaged", "id": 7, "data": "hey"})
        )
    );

    // An id of a node that is not in the cluster is unknown.
    let (s, v) = post(
        a.addr,
        "/api/sockets/join",
        json!({"room": "r", "socketId": foreign}),
    );
    assert_eq!((s, v["unknown"].clone()), (404, json!([foreign])), "{v}");
    // And a stale id of a live node: its owner says so.
    let (s, v) = post(
        a.addr,
        "/api/sockets/join",
        json!({"room": "r", "socketIds": [b1_id, stale]}),
    );
    assert_eq!((s, v["unknown"].clone()), (404, json!([stale])), "{v}");

    // Metrics.
    let m = get(a.addr, "/metrics", "");
    assert!(m.contains("roomcast_cluster_nodes 2"), "{m}");
    assert!(m.contains("roomcast_cluster_redis_up 1"), "{m}");
    assert!(m.contains("roomcast_cluster_lost_total 0"), "{m}");
}

#[test]
fn ten_thousand_broadcasts_arrive_in_order_once_on_every_node() {
    let redis = Redis::start();
    let a = node(&redis, "node-a");
    let b = node(&redis, "node-b");
    let c = node(&redis, "node-c");
    wait_nodes(a.addr, 3);
    wait_nodes(b.addr, 3);
    wait_nodes(c.addr, 3);
    let mut clients = Vec::new();
    for s in [&a, &b, &b, &c] {
        let (mut ws, _) = connect_v4(s.addr);
        assert_eq!(
            req(&mut ws, 1, "/sockets/join", json!({"room": "seq"})).0,
            200
        );
        assert_eq!(
            req(&mut ws, 2, "/sockets/join", json!({"room": "seq2"})).0,
            200
        );
        clients.push(ws);
    }
    const N: u64 = 10_000;
    let engine = a.engine.clone();
    let producer = std::thread::spawn(move || {
        for i in 0..N {
            // Two of the rooms: still one copy each.
            engine
                .broadcast(["seq", "seq2"], Some("n"), &i, None)
                .unwrap();
        }
    });
    let readers: Vec<_> = clients
        .into_iter()
        .map(|mut ws| {
            std::thread::spawn(move || {
                for i in 0..N {
                    assert_eq!(event(&mut ws), ("n".into(), json!(i)));
                }
            })
        })
        .collect();
    producer.join().unwrap();
    for r in readers {
        r.join().unwrap();
    }
    let m = get(b.addr, "/metrics", "");
    assert!(m.contains("roomcast_cluster_duplicates_total 0"), "{m}");
    assert!(m.contains("roomcast_cluster_lost_total 0"), "{m}");
}

#[test]
fn a_redis_crash_mid_stream_loses_nothing_and_remote_answers_wait_for_it() {
    let mut redis = Redis::start();
    let a = node(&redis, "node-a");
    let b = node(&redis, "node-b");
    wait_nodes(a.addr, 2);
    wait_nodes(b.addr, 2);
    let (mut rb, rb_id) = connect_v4(b.addr);
    let (mut ra, _) = connect_v4(a.addr);
    assert_eq!(
        req(&mut rb, 1, "/sockets/join", json!({"room": "s"})).0,
        200
    );
    assert_eq!(
        req(&mut ra, 1, "/sockets/join", json!({"room": "s"})).0,
        200
    );
    const N: u64 = 3000;
    let engine = a.engine.clone();
    let producer = std::thread::spawn(move || {
        for i in 0..N {
            engine.broadcast("s", Some("n"), &i, None).unwrap();
            std::thread::sleep(Duration::from_millis(1));
        }
    });
    let reader = std::thread::spawn(move || {
        for i in 0..N {
            assert_eq!(event(&mut rb), ("n".into(), json!(i)));
        }
        rb
    });
    std::thread::sleep(Duration::from_millis(400));
    redis.kill();
    // While Redis is down: local delivery goes on, and an operation that
    // needs another node's answer is refused with 503.
    std::thread::sleep(Duration::from_millis(300));
    let (s, v) = post(
        a.addr,
        "/api/sockets/join",
        json!({"room": "r", "socketId": rb_id}),
    );
    assert_eq!(
        (s, v["error"].clone()),
        (503, json!("E_CLUSTER_UNAVAILABLE")),
        "{v}"
    );
    let (s, v) = admin(a.addr, "GET", "/api/rooms/s", Some(TOKEN), "");
    assert_eq!(
        (s, v["error"].clone()),
        (503, json!("E_CLUSTER_UNAVAILABLE")),
        "{v}"
    );
    std::thread::sleep(Duration::from_millis(1500));
    redis.restart();
    for i in 0..N {
        assert_eq!(event(&mut ra), ("n".into(), json!(i)), "local delivery");
    }
    producer.join().unwrap();
    let _rb = reader.join().unwrap();
    wait_nodes(a.addr, 2);
    let m = get(b.addr, "/metrics", "");
    assert!(m.contains("roomcast_cluster_lost_total 0"), "{m}");
    let m = get(a.addr, "/metrics", "");
    assert!(m.contains("roomcast_cluster_dropped_total 0"), "{m}");
}

#[test]
fn strangers_on_the_channels_are_refused_and_counted() {
    let redis = Redis::start();
    let a = node(&redis, "node-a");
    let b = node(&redis, "node-b");
    wait_nodes(a.addr, 2);
    let (mut ws, _) = connect_v4(a.addr);
    assert_eq!(
        req(&mut ws, 1, "/sockets/join", json!({"room": "r"})).0,
        200
    );
    for junk in [
        &b"hello"[..],
        b"\x95\x02\x00\x00\x00\x00",
        b"",
        b"\x95\x01\xc1",
    ] {
        assert_eq!(redis.publish("roomcast#all", junk), 2);
    }
    // A message far larger than any legitimate one is skipped as it streams in.
    let big = vec![b'x'; 24 << 20];
    assert_eq!(redis.publish("roomcast#all", &big), 2);
    // The cluster still works.
    post(
        b.addr,
        "/api/sockets/broadcast",
        json!({"rooms": "r", "event": "ok", "data": 1}),
    );
    assert_eq!(event(&mut ws), ("ok".into(), json!(1)));
    let m = get(a.addr, "/metrics", "");
    assert!(m.contains("roomcast_cluster_decode_errors_total 5"), "{m}");
}
