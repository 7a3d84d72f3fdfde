//! Helpers shared by the `server_*` integration tests: start a server on
//! 127.0.0.1:0 in a thread, connect tungstenite clients, speak Engine.IO/Socket.IO.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use roomcast_server::app::{ServerBuilder, ShutdownHandle};
use roomcast_server::config::ServerConfig;
use tungstenite::protocol::CloseFrame;
use tungstenite::{Message, WebSocket};

/// How long any single wait in a test may take.
pub const WAIT: Duration = Duration::from_secs(10);

pub type Ws = WebSocket<TcpStream>;

/// A running server; shut down and joined on drop.
pub struct TestServer {
    pub addr: SocketAddr,
    pub handle: ShutdownHandle,
    pub engine: roomcast::Engine,
    pub stats: roomcast_server::app::StatsHandle,
    thread: Option<JoinHandle<std::io::Result<()>>>,
}

impl TestServer {
    pub fn start(builder: ServerBuilder) -> TestServer {
        let server = builder.build().expect("bind");
        let addr = server.local_addr();
        let handle = server.shutdown_handle();
        let engine = server.engine();
        let stats = server.stats_handle();
        let thread = std::thread::spawn(move || server.run());
        TestServer {
            addr,
            handle,
            engine,
            stats,
            thread: Some(thread),
        }
    }

    pub fn with_config(config: ServerConfig) -> TestServer {
        TestServer::start(ServerBuilder::new(config))
    }

    /// Shuts down and waits (bounded) for `run` to return; returns its result.
    pub fn stop(&mut self) -> std::io::Result<()> {
        self.handle.shutdown();
        let t = self.thread.take().expect("running");
        let start = Instant::now();
        while !t.is_finished() {
            assert!(start.elapsed() < WAIT, "server did not stop in time");
            std::thread::sleep(Duration::from_millis(5));
        }
        t.join().expect("server thread")
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if self.thread.is_some() {
            let _ = self.stop();
        }
    }
}

pub fn config() -> ServerConfig {
    ServerConfig::local_ephemeral()
}

/// Opens a WebSocket to `path` (e.g. `/socket.io/?EIO=4&transport=websocket`).
pub fn ws(addr: SocketAddr, path: &str) -> Ws {
    let stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(WAIT)).unwrap();
    stream.set_nodelay(true).unwrap();
    let url = format!("ws://{addr}{path}");
    let (ws, _) = tungstenite::client(url.as_str(), stream).expect("ws handshake");
    ws
}

/// The next text message (panics on anything else).
pub fn text(ws: &mut Ws) -> String {
    loop {
        match ws.read().expect("read") {
            Message::Text(t) => return t.to_string(),
            Message::Ping(_) | Message::Pong(_) => {}
            other => panic!("expected text, got {other:?}"),
        }
    }
}

/// The next text message that is not an Engine.IO ping.
pub fn text_no_ping(ws: &mut Ws) -> String {
    loop {
        let t = text(ws);
        if t != "2" {
            return t;
        }
        ws.send(Message::text("3")).unwrap();
    }
}

pub fn send(ws: &mut Ws, s: &str) {
    ws.send(Message::text(s)).expect("send");
}

/// Reads until the connection ends; returns the close frame if one came.
pub fn read_until_closed(ws: &mut Ws) -> Option<CloseFrame> {
    let start = Instant::now();
    let mut close = None;
    for _ in 0..1_000_000 {
        assert!(start.elapsed() < WAIT, "connection not closed in time");
        match ws.read() {
            Ok(Message::Close(f)) => close = f,
            Ok(_) => {}
            Err(_) => return close,
        }
    }
    panic!("too many messages before close");
}

/// A v5 client connected to `/`: returns the socket and its id.
pub fn connect_v4(addr: SocketAddr) -> (Ws, String) {
    let mut ws = ws(addr, "/socket.io/?EIO=4&transport=websocket");
    let open = text(&mut ws);
    assert!(open.starts_with("0{"), "{open}");
    send(&mut ws, "40");
    let ok = text_no_ping(&mut ws);
    let v: serde_json::Value = serde_json::from_str(ok.strip_prefix("40").expect(&ok)).unwrap();
    let sid = v["sid"].as_str().unwrap().to_owned();
    (ws, sid)
}

/// Sends a virtual request with ack id `id` and returns the packets received up to
/// and including its ack (`43<id>[…]`), the ack last.
pub fn request(
    ws: &mut Ws,
    id: u64,
    method: &str,
    url: &str,
    data: serde_json::Value,
) -> Vec<String> {
    let req =
        serde_json::json!([method, {"method": method, "url": url, "data": data, "headers": {}}]);
    send(ws, &format!("42{id}{req}"));
    let prefix = format!("43{id}");
    let mut got = Vec::new();
    for _ in 0..100_000 {
        let t = text_no_ping(ws);
        let done = t.starts_with(&prefix);
        got.push(t);
        if done {
            return got;
        }
    }
    panic!("no ack");
}

/// The ack's single response object.
pub fn ack_body(ack: &str, id: u64) -> serde_json::Value {
    let json = ack.strip_prefix(&format!("43{id}")).expect(ack);
    let v: serde_json::Value = serde_json::from_str(json).unwrap();
    v[0].clone()
}

/// A raw HTTP exchange: writes `request`, reads until the server closes.
pub fn http(addr: SocketAddr, request: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

pub fn get(addr: SocketAddr, target: &str, extra_headers: &str) -> String {
    http(
        addr,
        &format!("GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{extra_headers}\r\n"),
    )
}

/// The body of an HTTP response.
pub fn body(resp: &str) -> &str {
    resp.split_once("\r\n\r\n").map_or("", |(_, b)| b)
}

/// The status code of an HTTP response (0 if there is none).
pub fn status(resp: &str) -> u16 {
    resp.split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// One admin API call on its own connection (`Connection: close`): returns the
/// status and the JSON body.
pub fn admin(
    addr: SocketAddr,
    method: &str,
    target: &str,
    token: Option<&str>,
    body: &str,
) -> (u16, serde_json::Value) {
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    let resp = http(
        addr,
        &format!(
            "{method} {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ),
    );
    let json = serde_json::from_str(body_of(&resp)).unwrap_or(serde_json::Value::Null);
    (status(&resp), json)
}

fn body_of(resp: &str) -> &str {
    body(resp)
}
