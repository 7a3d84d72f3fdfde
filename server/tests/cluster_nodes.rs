//! Cluster nodes as separate `roomcast` processes over a real redis-server:
//! a SIGKILLed node leaves within 5 s and its sockets leave room counts; a
//! SIGSTOPped node makes room queries partial (naming it) instead of hanging,
//! and when it resumes it rejoins and its clients get every message once, in
//! order.

mod redis_util;
mod server_util;

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use redis_util::{free_port, Redis};
use serde_json::{json, Value};
use server_util::*;

const BIN: &str = env!("CARGO_BIN_EXE_roomcast");
const TOKEN: &str = "t";

/// A `roomcast` process; killed on drop.
struct Node {
    child: Child,
    addr: SocketAddr,
}

impl Node {
    fn start(redis: &Redis, name: &str) -> Node {
        let port = free_port();
        let child = Command::new(BIN)
            .args([
                "--port",
                &port.to_string(),
                "--workers",
                "1",
                "--policy",
                "open",
                "--node-id",
                name,
                "--redis",
                &redis.url(),
                "--cluster-timeout-ms",
                "1000",
            ])
            .env("ROOMCAST_ADMIN_TOKEN", TOKEN)
            .env_remove("RUST_LOG")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let start = Instant::now();
        while std::net::TcpStream::connect(addr).is_err()
            || !get(addr, "/health", "").contains("200 OK")
        {
            assert!(start.elapsed() < WAIT, "{name} did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Node { child, addr }
    }

    fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill {sig}");
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.signal("-CONT");
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn cluster(addr: SocketAddr) -> Value {
    admin(addr, "GET", "/api/cluster", Some(TOKEN), "").1
}

fn node_names(addr: SocketAddr) -> Vec<String> {
    let v = cluster(addr);
    let mut names: Vec<String> = v["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["id"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    names
}

/// Waits until `addr` sees exactly `names`; returns how long it took.
fn wait_names(addr: SocketAddr, names: &[&str], limit: Duration) -> Duration {
    let start = Instant::now();
    loop {
        if node_names(addr) == names {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < limit,
            "{addr} never saw {names:?}: {}",
            cluster(addr)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn join(ws: &mut Ws, room: &str) {
    let got = request(ws, 1, "post", "/sockets/join", json!({ "room": room }));
    assert_eq!(ack_body(got.last().unwrap(), 1)["statusCode"], 200);
}

#[test]
fn a_killed_node_leaves_and_a_paused_one_rejoins_without_duplicates() {
    let redis = Redis::start();
    let a = Node::start(&redis, "node-a");
    let b = Node::start(&redis, "node-b");
    let c = Node::start(&redis, "node-c");
    let all = ["node-a", "node-b", "node-c"];
    wait_names(a.addr, &all, WAIT);
    wait_names(b.addr, &all, WAIT);
    wait_names(c.addr, &all, WAIT);
    let (mut wa, _) = connect_v4(a.addr);
    let (mut wb, _) = connect_v4(b.addr);
    let (mut wc, _) = connect_v4(c.addr);
    for ws in [&mut wa, &mut wb, &mut wc] {
        join(ws, "r");
    }
    let (s, v) = admin(a.addr, "GET", "/api/rooms/r", Some(TOKEN), "");
    assert_eq!((s, v["count"].clone()), (200, json!(3)), "{v}");
    // Socket counts come with the heartbeats (every second).
    let start = Instant::now();
    loop {
        let status = cluster(a.addr);
        let sockets: u64 = status["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["sockets"].as_u64().unwrap())
            .sum();
        if sockets == 3 {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(3), "{status}");
        std::thread::sleep(Duration::from_millis(50));
    }

    // SIGKILL: gone from the cluster within 5 s, and from room counts.
    c.signal("-KILL");
    let took = wait_names(a.addr, &["node-a", "node-b"], Duration::from_secs(5));
    eprintln!("a killed node left the cluster after {took:?}");
    let (s, v) = admin(a.addr, "GET", "/api/rooms/r", Some(TOKEN), "");
    assert_eq!(
        (s, v["count"].clone(), v["partial"].clone()),
        (200, json!(2), json!(false)),
        "{v}"
    );

    // SIGSTOP: a room query does not hang; it says who is missing.
    b.signal("-STOP");
    let start = Instant::now();
    let (s, v) = admin(a.addr, "GET", "/api/rooms/r", Some(TOKEN), "");
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        (
            v["count"].clone(),
            v["partial"].clone(),
            v["missing"].clone()
        ),
        (json!(1), json!(true), json!(["node-b"]))
    );
    // Broadcasts go on while B sleeps; B is declared gone meanwhile.
    for i in 0..200 {
        let (s, _) = admin(
            a.addr,
            "POST",
            "/api/sockets/broadcast",
            Some(TOKEN),
            &json!({"rooms": "r", "event": "n", "data": i}).to_string(),
        );
        assert_eq!(s, 200);
        std::thread::sleep(Duration::from_millis(20));
    }
    wait_names(a.addr, &["node-a"], Duration::from_secs(5));
    b.signal("-CONT");
    let took = wait_names(a.addr, &["node-a", "node-b"], WAIT);
    eprintln!("a resumed node rejoined after {took:?}");
    // B's client got every broadcast once, in order; so did A's.
    for ws in [&mut wb, &mut wa] {
        for i in 0..200 {
            let t = text_no_ping(ws);
            assert_eq!(t, format!("42[\"n\",{i}]"));
        }
    }
    let (s, v) = admin(a.addr, "GET", "/api/rooms/r", Some(TOKEN), "");
    assert_eq!(
        (s, v["count"].clone(), v["partial"].clone()),
        (200, json!(2), json!(false)),
        "{v}"
    );
    let m = get(b.addr, "/metrics", "");
    assert!(m.contains("roomcast_cluster_duplicates_total 0"), "{m}");
    assert!(m.contains("roomcast_cluster_lost_total 0"), "{m}");
}
