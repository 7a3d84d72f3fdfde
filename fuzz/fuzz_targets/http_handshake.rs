//! Arbitrary bytes into the HTTP/WebSocket/Engine.IO handshake parser.
//!
//! Checks: no panic; a complete head parses the same from exactly its own bytes
//! (a short read consumes nothing and trailing bytes change nothing); every refusal
//! and every 101 renders.
#![no_main]

use libfuzzer_sys::fuzz_target;
use roomcast_server::protocol::http::{parse_request, Classified, HandshakeConfig};

fuzz_target!(|data: &[u8]| {
    let (flags, data) = match data.split_first() {
        Some((f, rest)) => (*f, rest),
        None => (0, data),
    };
    let cfg = HandshakeConfig {
        allow_eio3: flags & 1 == 0,
        path: if flags & 2 == 0 {
            "/socket.io/".into()
        } else {
            "/x".into()
        },
        max_head_bytes: if flags & 4 == 0 { 16 * 1024 } else { 256 },
        max_headers: if flags & 8 == 0 { 64 } else { 4 },
        // Either transport off, or both on (polling requests are classified too).
        transports: roomcast_server::protocol::http::Transports {
            websocket: flags & 16 == 0,
            polling: flags & 32 == 0 || flags & 16 != 0,
        },
    };
    match cfg.process(data) {
        Ok(Some(c)) => {
            let head_len = match &c {
                Classified::SocketIo(up) => {
                    let _ = up.response();
                    up.request.head_len
                }
                Classified::Upgrade(r, ws) => {
                    let _ = ws.response();
                    r.head_len
                }
                Classified::Http(r) => {
                    let _ = r.content_length();
                    let _ = r.keep_alive();
                    r.head_len
                }
                Classified::Polling(p) => {
                    // A handshake is a GET; a POST names its session.
                    assert!(p.sid.is_some() || !p.post);
                    let _ = p.request.content_length();
                    p.request.head_len
                }
                Classified::Preflight(r) => r.head_len,
                Classified::Rejected(e) => {
                    let _ = e.response();
                    return;
                }
            };
            assert!(head_len <= data.len());
            let again = cfg
                .process(&data[..head_len])
                .expect("same head parses again");
            assert_eq!(again, Some(c));
            if head_len > 0 {
                assert_eq!(cfg.process(&data[..head_len - 1]).ok().flatten(), None);
            }
        }
        Ok(None) => assert!(data.len() < cfg.max_head_bytes),
        Err(e) => {
            let _ = e.response();
        }
    }
    let _ = parse_request(data, 64, 2);
});
