//! socketioxide 0.18 peer for roomcast's loadgen: the sails.io.js virtual-request
//! convention (`post` event with `{method, url, data, headers}` and an ack answered
//! with `{body, headers, statusCode}`) for `POST /sockets/join` and
//! `POST /sockets/broadcast`, on axum over a single-threaded tokio runtime
//! (the server gets one core, as roomcast with `--workers 1`).
//!
//! Usage: `roomcast-peer-socketioxide [port]` (default 1341).

use serde_json::{json, Value};
use socketioxide::extract::{AckSender, Data, SocketRef};
use socketioxide::SocketIo;

fn reply(ack: AckSender, status: u16, body: Value) {
    let _ = ack.send(&json!({ "body": body, "headers": {}, "statusCode": status }));
}

async fn handle(io: SocketIo, socket: SocketRef, req: Value, ack: AckSender) {
    let data = req.get("data").cloned().unwrap_or(Value::Null);
    match req.get("url").and_then(Value::as_str) {
        Some("/sockets/join") => match data.get("room").and_then(Value::as_str) {
            Some(room) => {
                socket.join(room.to_string());
                reply(ack, 200, json!({"ok": true}));
            }
            None => reply(ack, 400, json!({"error": "E_BAD_REQUEST"})),
        },
        Some("/sockets/broadcast") => {
            let rooms: Vec<String> = match data.get("rooms") {
                Some(Value::String(s)) => vec![s.clone()],
                Some(Value::Array(a)) => a.iter().filter_map(|r| r.as_str().map(str::to_string)).collect(),
                _ => Vec::new(),
            };
            let event = data.get("event").and_then(Value::as_str).unwrap_or("message").to_string();
            let payload = data.get("data").cloned().unwrap_or(Value::Null);
            let _ = io.to(rooms).emit(&event, &payload).await;
            reply(ack, 200, json!({"ok": true}));
        }
        _ => reply(ack, 404, json!({"error": "E_NOT_FOUND"})),
    }
}

fn main() {
    let port: u16 = std::env::args().nth(1).and_then(|p| p.parse().ok()).unwrap_or(1341);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    rt.block_on(async move {
        let (layer, io) = SocketIo::new_layer();
        let io2 = io.clone();
        io.ns("/", async move |s: SocketRef| {
            for method in ["get", "post", "put", "patch", "delete"] {
                let io = io2.clone();
                s.on(method, async move |s: SocketRef, Data(req): Data<Value>, ack: AckSender| {
                    handle(io, s, req, ack).await;
                });
            }
        });
        let app = axum::Router::new().layer(layer);
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.expect("bind");
        println!("socketioxide 0.18 peer on 127.0.0.1:{port}");
        axum::serve(listener, app).await.expect("serve");
    });
}
