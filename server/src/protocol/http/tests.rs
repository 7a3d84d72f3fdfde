//! Tests of request parsing, responses and the handshake classification.

use super::*;
use crate::protocol::eio::EioVersion;
use crate::protocol::ws::accept_key as websocket_accept;

const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

fn req(method: &str, target: &str, headers: &[(&str, &str)]) -> Vec<u8> {
    let mut s = format!("{method} {target} HTTP/1.1\r\nHost: localhost\r\n");
    for (n, v) in headers {
        s.push_str(&format!("{n}: {v}\r\n"));
    }
    s.push_str("\r\n");
    s.into_bytes()
}

fn ws_headers() -> Vec<(&'static str, &'static str)> {
    vec![
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Key", KEY),
        ("Sec-WebSocket-Version", "13"),
    ]
}

fn classify(bytes: &[u8]) -> Classified {
    HandshakeConfig::default().process(bytes).unwrap().unwrap()
}

fn engine_err(c: Classified) -> EngineErrorCode {
    match c {
        Classified::Rejected(HandshakeError::Engine(code)) => code,
        other => panic!("expected engine error, got {other:?}"),
    }
}

#[test]
fn rfc_accept_example() {
    assert_eq!(websocket_accept(KEY), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

#[test]
fn v4_and_v3_upgrades() {
    let c = classify(&req(
        "GET",
        "/socket.io/?EIO=4&transport=websocket",
        &ws_headers(),
    ));
    let Classified::SocketIo(up) = c else {
        panic!()
    };
    assert_eq!(up.version, EioVersion::V4);
    assert!(!up.b64);
    for eio in ["EIO=3&", "", "EIO=abc&", "EIO=5&"] {
        let t = format!("/socket.io/?token=abc&{eio}transport=websocket&b64=1");
        let Classified::SocketIo(up) = classify(&req("GET", &t, &ws_headers())) else {
            panic!()
        };
        assert_eq!(up.version, EioVersion::V3);
        assert!(up.b64);
        assert_eq!(up.request.query.get("token"), Some("abc"));
    }
}

#[test]
fn polling_requests_preflights_and_upgrades_with_a_sid() {
    let c = classify(&req("GET", "/socket.io/?EIO=4&transport=polling&t=x", &[]));
    let Classified::Polling(p) = c else {
        panic!("{c:?}")
    };
    assert_eq!(
        (p.version, p.sid.as_deref(), p.post, p.b64),
        (EioVersion::V4, None, false, false)
    );
    let c = classify(&req(
        "POST",
        "/socket.io/?EIO=3&transport=polling&sid=S&b64=1",
        &[],
    ));
    let Classified::Polling(p) = c else {
        panic!("{c:?}")
    };
    assert_eq!(
        (p.version, p.sid.as_deref(), p.post, p.b64),
        (EioVersion::V3, Some("S"), true, true)
    );
    let c = classify(&req("OPTIONS", "/socket.io/?EIO=4&transport=polling", &[]));
    assert!(matches!(c, Classified::Preflight(_)), "{c:?}");
    let c = classify(&req(
        "GET",
        "/socket.io/?EIO=4&transport=websocket&sid=S",
        &ws_headers(),
    ));
    let Classified::SocketIo(up) = c else {
        panic!("{c:?}")
    };
    assert_eq!(up.sid.as_deref(), Some("S"));
    // Transports that are off are unknown.
    let ws_only = HandshakeConfig {
        transports: Transports {
            websocket: true,
            polling: false,
        },
        ..HandshakeConfig::default()
    };
    let r = req("GET", "/socket.io/?EIO=4&transport=polling", &[]);
    assert_eq!(
        engine_err(ws_only.process(&r).unwrap().unwrap()),
        EngineErrorCode::TransportUnknown
    );
    let polling_only = HandshakeConfig {
        transports: Transports {
            websocket: false,
            polling: true,
        },
        ..HandshakeConfig::default()
    };
    let r = req(
        "GET",
        "/socket.io/?EIO=4&transport=websocket",
        &ws_headers(),
    );
    assert_eq!(
        engine_err(polling_only.process(&r).unwrap().unwrap()),
        EngineErrorCode::TransportUnknown
    );
}

#[test]
fn eio3_disabled() {
    let cfg = HandshakeConfig {
        allow_eio3: false,
        ..HandshakeConfig::default()
    };
    let r = req(
        "GET",
        "/socket.io/?EIO=3&transport=websocket",
        &ws_headers(),
    );
    let c = cfg.process(&r).unwrap().unwrap();
    assert_eq!(engine_err(c), EngineErrorCode::UnsupportedProtocolVersion);
}

#[test]
fn engine_errors_in_order() {
    use EngineErrorCode::*;
    let h = ws_headers();
    type Case<'a> = (&'a str, &'a str, &'a [(&'a str, &'a str)], EngineErrorCode);
    let cases: &[Case<'_>] = &[
        ("GET", "/socket.io/?EIO=4", &h, TransportUnknown),
        (
            "GET",
            "/socket.io/?EIO=4&transport=flashsocket",
            &[],
            TransportUnknown,
        ),
        (
            "POST",
            "/socket.io/?EIO=4&transport=polling",
            &[],
            BadHandshakeMethod,
        ),
        (
            "PUT",
            "/socket.io/?EIO=4&transport=polling&sid=x",
            &[],
            BadRequest,
        ),
        (
            "GET",
            "/socket.io/?EIO=4&transport=polling&sid=x&sid=y",
            &[],
            SessionIdUnknown,
        ),
        (
            "GET",
            "/socket.io/?EIO=4&transport=websocket&transport=websocket",
            &h,
            TransportUnknown,
        ),
        (
            "POST",
            "/socket.io/?EIO=4&transport=websocket",
            &[],
            BadHandshakeMethod,
        ),
        (
            "PUT",
            "/socket.io/?EIO=4&transport=websocket",
            &[],
            BadHandshakeMethod,
        ),
        (
            "GET",
            "/socket.io/?EIO=4&transport=websocket",
            &[],
            BadRequest,
        ),
        (
            "GET",
            "/socket.io/?EIO=4&transport=websocket",
            &[
                ("Upgrade", "websocket"),
                ("Sec-WebSocket-Key", KEY),
                ("Sec-WebSocket-Version", "13"),
            ],
            BadRequest,
        ),
    ];
    for (m, t, hs, want) in cases {
        let c = classify(&req(m, t, hs));
        assert_eq!(engine_err(c), *want, "{m} {t}");
    }
}

#[test]
fn engine_error_response_bytes() {
    let r = HandshakeError::Engine(EngineErrorCode::TransportUnknown).response();
    let s = String::from_utf8(r).unwrap();
    assert!(s.starts_with("HTTP/1.1 400 Bad Request\r\n"));
    assert!(s.contains("Content-Type: application/json\r\n"));
    assert!(s.ends_with("\r\n\r\n{\"code\":0,\"message\":\"Transport unknown\"}"));
    let f = HandshakeError::Engine(EngineErrorCode::Forbidden).response();
    assert!(f.starts_with(b"HTTP/1.1 403 Forbidden\r\n"));
}

#[test]
fn websocket_errors() {
    let base = "/socket.io/?EIO=4&transport=websocket";
    let mut h = ws_headers();
    h[2] = ("Sec-WebSocket-Key", "c2hvcnQ=");
    assert_eq!(
        classify(&req("GET", base, &h)),
        Classified::Rejected(HandshakeError::InvalidWebSocketKey)
    );
    let mut h = ws_headers();
    h.remove(2);
    assert_eq!(
        classify(&req("GET", base, &h)),
        Classified::Rejected(HandshakeError::InvalidWebSocketKey)
    );
    let mut h = ws_headers();
    h[3] = ("Sec-WebSocket-Version", "8");
    let c = classify(&req("GET", base, &h));
    assert_eq!(
        c,
        Classified::Rejected(HandshakeError::UnsupportedWebSocketVersion)
    );
    let Classified::Rejected(e) = c else { panic!() };
    let resp = String::from_utf8(e.response()).unwrap();
    assert!(resp.starts_with("HTTP/1.1 426 Upgrade Required\r\n"));
    assert!(resp.contains("Sec-WebSocket-Version: 13\r\n"));
    let mut h = ws_headers();
    h[0] = ("Upgrade", "h2c");
    assert_eq!(
        classify(&req("GET", base, &h)),
        Classified::Rejected(HandshakeError::UpgradeNotWebSocket)
    );
    // Connection token lists, case-insensitive.
    let mut h = ws_headers();
    h[1] = ("Connection", "keep-alive, UPGRADE");
    assert!(matches!(
        classify(&req("GET", base, &h)),
        Classified::SocketIo(_)
    ));
    // Off the engine path, a missing Connection token is a WebSocket error.
    let mut h = ws_headers();
    h[1] = ("Connection", "keep-alive");
    assert_eq!(
        classify(&req("GET", "/engine.io/", &h)),
        Classified::Rejected(HandshakeError::MissingConnectionUpgrade)
    );
}

#[test]
fn other_paths() {
    let c = classify(&req(
        "GET",
        "/engine.io/?EIO=4&transport=websocket",
        &ws_headers(),
    ));
    assert!(matches!(c, Classified::Upgrade(ref r, _) if r.path == "/engine.io/"));
    let c = classify(&req("GET", "/health?x=1", &[]));
    let Classified::Http(r) = c else { panic!() };
    assert_eq!(r.path, "/health");
    assert_eq!(r.query.get("x"), Some("1"));
    // `/socket.io` without the slash is not the engine path (Node's prefix rule).
    assert!(matches!(
        classify(&req("GET", "/socket.io", &[])),
        Classified::Http(_)
    ));
    assert!(matches!(
        classify(&req("GET", "/socket.iox/", &[])),
        Classified::Http(_)
    ));
}

#[test]
fn partial_and_limits() {
    let r = req(
        "GET",
        "/socket.io/?EIO=4&transport=websocket",
        &ws_headers(),
    );
    let cfg = HandshakeConfig::default();
    for i in 0..r.len() {
        assert_eq!(cfg.process(&r[..i]).unwrap(), None, "prefix {i}");
    }
    let big = vec![b'a'; 20000];
    let mut r = b"GET / HTTP/1.1\r\nX: ".to_vec();
    r.extend_from_slice(&big);
    assert_eq!(
        cfg.process(&r),
        Err(HandshakeError::HeadTooLarge {
            limit: DEFAULT_MAX_HEAD_BYTES
        })
    );
    let mut many = String::from("GET / HTTP/1.1\r\n");
    for i in 0..100 {
        many.push_str(&format!("X-{i}: 1\r\n"));
    }
    many.push_str("\r\n");
    assert_eq!(
        cfg.process(many.as_bytes()),
        Err(HandshakeError::TooManyHeaders)
    );
    assert_eq!(HandshakeError::TooManyHeaders.status(), 431);
    assert!(matches!(
        cfg.process(b"GARBAGE\x01 / HTTP/1.1\r\n\r\n"),
        Err(HandshakeError::Malformed(_))
    ));
}

#[test]
fn query_decoding() {
    let q = Query::parse("a=b%20c&d=e+f&g=%ZZ&h&=x&i=%E2%9C%93&j=%ff");
    assert_eq!(q.get("a"), Some("b c"));
    assert_eq!(q.get("d"), Some("e f"));
    assert_eq!(q.get("g"), Some("%ZZ"));
    assert_eq!(q.get("h"), Some(""));
    assert_eq!(q.get(""), Some("x"));
    assert_eq!(q.get("i"), Some("✓"));
    assert_eq!(q.get("j"), Some("\u{fffd}"));
    let sdk = SailsSdk::from_query(&Query::parse(
        "__sails_io_sdk_version=1.2.1&__sails_io_sdk_platform=node&__sails_io_sdk_language=javascript",
    ));
    assert_eq!(sdk.version.as_deref(), Some("1.2.1"));
    assert!(sdk.is_present());
}

#[test]
fn body_helpers() {
    let r = parse_request(
        b"POST /admin HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello",
        DEFAULT_MAX_HEAD_BYTES,
        DEFAULT_MAX_HEADERS,
    )
    .unwrap()
    .unwrap();
    assert_eq!(r.content_length(), Ok(5));
    assert_eq!(r.head_len, 43);
    assert!(r.keep_alive());
    let r = parse_request(
        b"POST /admin HTTP/1.0\r\nContent-Length: x\r\n\r\n",
        DEFAULT_MAX_HEAD_BYTES,
        DEFAULT_MAX_HEADERS,
    )
    .unwrap()
    .unwrap();
    assert_eq!(
        r.content_length(),
        Err(HandshakeError::InvalidContentLength)
    );
    assert!(!r.keep_alive());
    let resp = http_response(200, &[("X-A", "b\r\nInjected: 1")], b"ok", true);
    assert_eq!(
        resp,
        b"HTTP/1.1 200 OK\r\nX-A: b  Injected: 1\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nok"
    );
}
