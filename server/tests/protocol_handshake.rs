//! The HTTP/WebSocket/Engine.IO handshake: incremental parsing under random splits,
//! the exact bytes of refusals and of the 101, and arbitrary input never panicking.

use proptest::prelude::*;
use roomcast_server::protocol::eio::EioVersion;
use roomcast_server::protocol::http::{
    http_response, parse_request, Classified, EngineErrorCode, HandshakeConfig, HandshakeError,
};

const UPGRADE_V4: &str = "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\n\
Host: localhost:1337\r\n\
Connection: Upgrade\r\n\
Upgrade: websocket\r\n\
Sec-WebSocket-Version: 13\r\n\
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n";

const UPGRADE_SAILS: &str = "GET /socket.io/?__sails_io_sdk_version=1.2.1&__sails_io_sdk_platform=node&__sails_io_sdk_language=javascript&EIO=3&transport=websocket HTTP/1.1\r\n\
Host: localhost:1337\r\n\
Connection: keep-alive, Upgrade\r\n\
upgrade: WebSocket\r\n\
sec-websocket-version: 13\r\n\
sec-websocket-key: AQIDBAUGBwgJCgsMDQ4PEA==\r\n\r\n";

#[test]
fn v4_upgrade_response_bytes() {
    let cfg = HandshakeConfig::default();
    let Some(Classified::SocketIo(up)) = cfg.process(UPGRADE_V4.as_bytes()).unwrap() else {
        panic!()
    };
    assert_eq!(up.version, EioVersion::V4);
    assert_eq!(up.request.head_len, UPGRADE_V4.len());
    assert_eq!(
        up.response(),
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"
    );
    // permessage-deflate is offered but never negotiated
    assert!(!String::from_utf8(up.response())
        .unwrap()
        .contains("Extensions"));
}

#[test]
fn sails_io_v3_upgrade() {
    let cfg = HandshakeConfig::default();
    let Some(Classified::SocketIo(up)) = cfg.process(UPGRADE_SAILS.as_bytes()).unwrap() else {
        panic!()
    };
    assert_eq!(up.version, EioVersion::V3);
    assert_eq!(up.sails_sdk.version.as_deref(), Some("1.2.1"));
    assert_eq!(up.sails_sdk.platform.as_deref(), Some("node"));
    assert_eq!(up.sails_sdk.language.as_deref(), Some("javascript"));
}

#[test]
fn malformed_sails_sdk_version_is_harmless() {
    let req = UPGRADE_SAILS.replace("1.2.1", "%ZZnot-a-version%00");
    let cfg = HandshakeConfig::default();
    let Some(Classified::SocketIo(up)) = cfg.process(req.as_bytes()).unwrap() else {
        panic!()
    };
    assert_eq!(up.sails_sdk.version.as_deref(), Some("%ZZnot-a-version\0"));
}

#[test]
fn custom_path() {
    let cfg = HandshakeConfig {
        path: "/realtime".into(),
        ..HandshakeConfig::default()
    };
    let req = UPGRADE_V4.replace("/socket.io/", "/realtime/");
    assert!(matches!(
        cfg.process(req.as_bytes()).unwrap(),
        Some(Classified::SocketIo(_))
    ));
    assert!(matches!(
        cfg.process(UPGRADE_V4.as_bytes()).unwrap(),
        Some(Classified::Upgrade(..))
    ));
}

#[test]
fn polling_request_gets_transport_unknown_when_polling_is_off() {
    let cfg = HandshakeConfig {
        transports: roomcast_server::protocol::http::Transports {
            websocket: true,
            polling: false,
        },
        ..HandshakeConfig::default()
    };
    let req = b"GET /socket.io/?EIO=4&transport=polling&t=abc HTTP/1.1\r\nHost: x\r\n\r\n";
    let Some(Classified::Rejected(e)) = cfg.process(req).unwrap() else {
        panic!()
    };
    assert_eq!(e, HandshakeError::Engine(EngineErrorCode::TransportUnknown));
    assert_eq!(
        e.response(),
        b"HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: 40\r\nConnection: close\r\n\r\n{\"code\":0,\"message\":\"Transport unknown\"}"
    );
}

#[test]
fn all_engine_error_bodies() {
    let expected = [
        (
            EngineErrorCode::TransportUnknown,
            400,
            r#"{"code":0,"message":"Transport unknown"}"#,
        ),
        (
            EngineErrorCode::SessionIdUnknown,
            400,
            r#"{"code":1,"message":"Session ID unknown"}"#,
        ),
        (
            EngineErrorCode::BadHandshakeMethod,
            400,
            r#"{"code":2,"message":"Bad handshake method"}"#,
        ),
        (
            EngineErrorCode::BadRequest,
            400,
            r#"{"code":3,"message":"Bad request"}"#,
        ),
        (
            EngineErrorCode::Forbidden,
            403,
            r#"{"code":4,"message":"Forbidden"}"#,
        ),
        (
            EngineErrorCode::UnsupportedProtocolVersion,
            400,
            r#"{"code":5,"message":"Unsupported protocol version"}"#,
        ),
    ];
    for (code, status, body) in expected {
        let e = HandshakeError::Engine(code);
        assert_eq!(e.status(), status);
        assert_eq!(code.body(), body);
        assert!(e.response().ends_with(body.as_bytes()));
    }
}

#[test]
fn sid_and_methods() {
    let cfg = HandshakeConfig::default();
    // A sid on an upgrade is a polling session's: the runtime checks it.
    let with_sid = UPGRADE_V4.replace("transport=websocket", "transport=websocket&sid=abc");
    assert!(matches!(
        cfg.process(with_sid.as_bytes()).unwrap(),
        Some(Classified::SocketIo(up)) if up.sid.as_deref() == Some("abc")
    ));
    for m in ["POST", "PUT", "DELETE"] {
        let r = format!(
            "{m} /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nContent-Length: 0\r\n\r\n"
        );
        assert_eq!(
            cfg.process(r.as_bytes()).unwrap(),
            Some(Classified::Rejected(HandshakeError::Engine(
                EngineErrorCode::BadHandshakeMethod
            ))),
            "{m}"
        );
    }
}

#[test]
fn plain_http_for_the_caller() {
    let cfg = HandshakeConfig::default();
    let req = b"POST /admin/broadcast?room=r%201 HTTP/1.1\r\nContent-Length: 7\r\nContent-Type: application/json\r\n\r\n{\"a\":1}";
    let Some(Classified::Http(r)) = cfg.process(req).unwrap() else {
        panic!()
    };
    assert_eq!(r.method, "POST");
    assert_eq!(r.path, "/admin/broadcast");
    assert_eq!(r.query.get("room"), Some("r 1"));
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.content_length(), Ok(7));
    assert_eq!(&req[r.head_len..], b"{\"a\":1}");
    let resp = http_response(
        404,
        &[("Content-Type", "text/plain")],
        b"not found",
        r.keep_alive(),
    );
    assert!(resp.starts_with(b"HTTP/1.1 404 Not Found\r\n"));
}

proptest! {
    #[test]
    fn random_splits_parse_the_same(cuts in proptest::collection::vec(0usize..UPGRADE_V4.len(), 0..6)) {
        let cfg = HandshakeConfig::default();
        let bytes = UPGRADE_V4.as_bytes();
        let mut cuts = cuts;
        cuts.sort_unstable();
        // Feeding growing prefixes: every proper prefix needs more bytes, the full
        // request gives the same answer as a one-shot parse.
        for &c in &cuts {
            prop_assert_eq!(cfg.process(&bytes[..c]).unwrap(), None);
        }
        let whole = cfg.process(bytes).unwrap();
        prop_assert!(matches!(whole, Some(Classified::SocketIo(_))));
        // Trailing bytes (pipelined data) do not change the head.
        let mut more = bytes.to_vec();
        more.extend_from_slice(b"\x81\x05hello");
        prop_assert_eq!(cfg.process(&more).unwrap(), whole);
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..512)) {
        let cfg = HandshakeConfig::default();
        if let Ok(Some(Classified::Rejected(e))) = cfg.process(&data) {
            let _ = e.response();
        }
        let _ = parse_request(&data, 64, 4);
    }

    #[test]
    fn arbitrary_query_never_panics(q in "[ -~]{0,80}") {
        let req = format!("GET /socket.io/?{q} HTTP/1.1\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n");
        let cfg = HandshakeConfig::default();
        let _ = cfg.process(req.as_bytes());
    }
}
