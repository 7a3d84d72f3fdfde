//! An application on the roomcast server: one action of its own.
//!
//! ```text
//! cargo run -p roomcast-server --example app
//! ```
//!
//! A sails.io.js client then calls
//! `io.socket.post('/chat/say', {room: 'lobby', text: 'hi'}, cb)` (after joining
//! the room with `io.socket.post('/sockets/join', {room: 'lobby'})`), and every
//! member of `lobby` gets the event `said` with `{"from": <socket id>, "text": "hi"}`.

use roomcast_server::app::{Method, Response, ServerBuilder};
use roomcast_server::config::ServerConfig;
use serde_json::json;

fn main() -> std::io::Result<()> {
    tracing_subscriber::fmt().init();
    let server = ServerBuilder::new(ServerConfig::default())
        .route(Method::Post, "/chat/say", |ctx, req| {
            let (Some(room), Some(text)) = (
                req.body.get("room").and_then(|v| v.as_str()),
                req.body.get("text").and_then(|v| v.as_str()),
            ) else {
                return Response::bad_request("expected {room, text}");
            };
            let from = ctx.socket.map(|s| s.to_string());
            let said = json!({ "from": from, "text": text });
            match ctx.shard.broadcast(room, Some("said"), &said, None) {
                Ok(()) => Response::ok(json!({ "ok": true })),
                Err(e) => Response::from_core_error(&e),
            }
        })
        .build()?;
    println!("chat app on ws://{}/socket.io/", server.local_addr());
    server.run()
}
