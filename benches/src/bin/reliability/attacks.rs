//! The attack families the server already refuses (issue 11: "about 230
//! malformed inputs are already refused correctly"): malformed HTTP and
//! handshakes, bad WebSocket frames, malformed Engine.IO/Socket.IO packets and
//! virtual requests, ping floods, slowloris, idle floods and slow consumers.
//! Each case asserts the precise answer: HTTP status and body, close code, ack.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::client::{
    self, put_frame, put_len, Conn, Ending, Next, MASK, OP_CLOSE, OP_CONT, OP_PING, OP_PONG,
    OP_TEXT, UPGRADE_ACCEPT, UPGRADE_HEADERS,
};
use crate::server;
use crate::{Attack, Ctx, Setup};

pub fn attacks() -> Vec<Attack> {
    vec![
        Attack {
            id: "http-malformed",
            title: "malformed HTTP requests (plain HTTP, admin API)",
            issue: "",
            setup: |_| Setup::default(),
            run: http_malformed,
        },
        Attack {
            id: "handshake-malformed",
            title: "malformed WebSocket / Engine.IO handshakes",
            issue: "",
            setup: |_| Setup::default(),
            run: handshake_malformed,
        },
        Attack {
            id: "ws-frames",
            title: "bad WebSocket frames: masking, reserved bits and opcodes, control frames, close codes",
            issue: "",
            setup: |_| Setup::default(),
            run: ws_frames,
        },
        Attack {
            id: "ws-utf8",
            title: "invalid UTF-8 in text messages and close reasons",
            issue: "",
            setup: |_| Setup::default(),
            run: ws_utf8,
        },
        Attack {
            id: "ws-oversize-fragments",
            title: "oversize frames and messages, fragment floods",
            issue: "",
            setup: |_| Setup::default(),
            run: ws_oversize_fragments,
        },
        Attack {
            id: "eio-sio-packets",
            title: "malformed Engine.IO / Socket.IO packets and JSON",
            issue: "",
            setup: |_| Setup::default(),
            run: eio_sio_packets,
        },
        Attack {
            id: "virtual-requests",
            title: "malformed virtual requests (error acks, the connection stays)",
            issue: "",
            setup: |_| Setup::default(),
            run: virtual_requests,
        },
        Attack {
            id: "ping-flood",
            title: "ping floods: WebSocket pings (read and unread), Engine.IO pings v3/v4, pong floods",
            issue: "",
            setup: |_| Setup::default(),
            run: ping_flood,
        },
        Attack {
            id: "slowloris",
            title: "slowloris: request heads and bodies at a byte a second, idle keep-alive",
            issue: "",
            setup: |short| short_handshake_timeout(short),
            run: slowloris,
        },
        Attack {
            id: "idle-flood",
            title: "idle floods: thousands of connections that never speak",
            issue: "",
            setup: |short| short_handshake_timeout(short),
            run: idle_flood,
        },
        Attack {
            id: "slow-consumer",
            title: "slow consumers: clients that stop reading while broadcasts flow",
            issue: "",
            setup: |_| Setup::default(),
            run: slow_consumer,
        },
    ]
}

/// With `--short`, `handshake_timeout_ms = 2000` (config file) so that the
/// timeouts under test fire within the CI budget; the full run keeps 10 s.
fn short_handshake_timeout(short: bool) -> Setup {
    if short {
        let mut s = Setup::with_args(&[], "--short: config file `handshake_timeout_ms = 2000` (default 10 000) so the timeouts fire within the CI budget");
        s.spec.config = Some("handshake_timeout_ms = 2000\n".into());
        s
    } else {
        Setup::default()
    }
}

/// The server's handshake timeout under this setup.
fn handshake_timeout(ctx: &Ctx<'_>) -> Duration {
    if ctx.short && ctx.server.is_some() {
        Duration::from_secs(2)
    } else {
        Duration::from_secs(10)
    }
}

pub fn secs(s: f64) -> Instant {
    Instant::now() + Duration::from_secs_f64(s)
}

/// Deterministic garbage (xorshift).
pub fn garbage(seed: &mut u64, len: usize) -> Vec<u8> {
    (0..len)
        .map(|_| {
            *seed ^= *seed << 13;
            *seed ^= *seed >> 7;
            *seed ^= *seed << 17;
            (*seed >> 24) as u8
        })
        .collect()
}

// ----- HTTP ---------------------------------------------------------------------

/// Sends `raw` on a fresh connection and expects one of `statuses` (and `body_has`
/// in the body).
fn expect_http(
    ctx: &mut Ctx<'_>,
    name: &str,
    raw: &[u8],
    statuses: &[u16],
    body_has: Option<&str>,
) {
    let r = client::http_exchange(ctx.addr, raw, Duration::from_secs(5));
    let (ok, detail) = match &r {
        Ok(resp) => (
            statuses.contains(&resp.status) && body_has.is_none_or(|b| resp.body_str().contains(b)),
            resp.brief(),
        ),
        Err(e) => (false, e.clone()),
    };
    let want = statuses
        .iter()
        .map(u16::to_string)
        .collect::<Vec<_>>()
        .join(" or ");
    let want = match body_has {
        Some(b) => format!("{want} with {b}"),
        None => want,
    };
    ctx.check(
        format!("http: {name} → {want}"),
        ok,
        format!("got {detail}"),
    );
}

/// Writes `raw`, reads to EOF (or 5 s): the raw answer.
fn http_raw(ctx: &Ctx<'_>, raw: &[u8]) -> Result<Vec<u8>, String> {
    let mut s = client::tcp(ctx.addr, Duration::from_secs(3))?;
    let _ = s.write_all(raw);
    let deadline = secs(5.0);
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match client::read_some(&mut s, &mut buf, deadline) {
            Ok(0) => return Ok(out),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if out.is_empty() => return Err(e),
            Err(_) => return Ok(out),
        }
    }
}

fn http_malformed(ctx: &mut Ctx<'_>) -> Result<(), String> {
    let t = ctx.token.clone();
    let get =
        |target: &str| format!("GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    expect_http(
        ctx,
        "GET / (the demo page)",
        get("/").as_bytes(),
        &[200],
        Some("<html"),
    );
    expect_http(
        ctx,
        "GET /health",
        get("/health").as_bytes(),
        &[200],
        Some(r#"{"status":"ok"}"#),
    );
    expect_http(
        ctx,
        "GET /metrics",
        get("/metrics").as_bytes(),
        &[200],
        Some("roomcast_"),
    );
    expect_http(
        ctx,
        "GET /nope",
        get("/nope").as_bytes(),
        &[404],
        Some("E_NOT_FOUND"),
    );
    expect_http(
        ctx,
        "GET /%zz (bad percent-encoding)",
        get("/%zz").as_bytes(),
        &[400, 404],
        None,
    );
    expect_http(
        ctx,
        "HTTP/1.0 GET /health",
        b"GET /health HTTP/1.0\r\n\r\n",
        &[200],
        Some("ok"),
    );
    let r = http_raw(
        ctx,
        b"HEAD /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    let (ok, d) = match &r {
        Ok(b) => {
            let s = String::from_utf8_lossy(b);
            let body = s.split_once("\r\n\r\n").map_or("?", |x| x.1);
            (
                s.starts_with("HTTP/1.1 200") && body.is_empty(),
                s.lines().next().unwrap_or("").to_string()
                    + &format!(" + {} body bytes", body.len()),
            )
        }
        Err(e) => (false, e.clone()),
    };
    ctx.check("http: HEAD /health → 200 without a body", ok, d);
    // Not HTTP.
    let mut tls = vec![
        0x16, 0x03, 0x01, 0x00, 0xa5, 0x01, 0x00, 0x00, 0xa1, 0x03, 0x03,
    ];
    tls.extend_from_slice(&[0x5a; 120]);
    expect_http(ctx, "a TLS ClientHello", &tls, &[400], None);
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    for i in 0..8 {
        let mut g = garbage(&mut seed, 64 + i * 300);
        g[0] = b'\x01';
        expect_http(
            ctx,
            &format!("{} bytes of binary garbage", g.len()),
            &g,
            &[400],
            None,
        );
    }
    expect_http(
        ctx,
        "the HTTP/2 preface",
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
        &[400, 505],
        None,
    );
    expect_http(
        ctx,
        "HTTP/0.9 request line (no version)",
        b"GET /health\r\n\r\n",
        &[400],
        None,
    );
    expect_http(
        ctx,
        "HTTP/3.0 version",
        b"GET /health HTTP/3.0\r\nHost: x\r\n\r\n",
        &[400, 505],
        None,
    );
    expect_http(
        ctx,
        "header without a colon",
        b"GET /health HTTP/1.1\r\nHost x\r\n\r\n",
        &[400],
        None,
    );
    expect_http(
        ctx,
        "space before the colon",
        b"GET /health HTTP/1.1\r\nHost : x\r\n\r\n",
        &[400],
        None,
    );
    expect_http(
        ctx,
        "NUL in a header value",
        b"GET /health HTTP/1.1\r\nHost: x\r\nX: a\0b\r\n\r\n",
        &[400],
        None,
    );
    expect_http(
        ctx,
        "control byte in the path",
        b"GET /hea\x01lth HTTP/1.1\r\nHost: x\r\n\r\n",
        &[400],
        None,
    );
    expect_http(
        ctx,
        "space in the method",
        b"G ET /health HTTP/1.1\r\nHost: x\r\n\r\n",
        &[400],
        None,
    );
    expect_http(
        ctx,
        "empty request line",
        b"\r\n\r\n\r\n\r\n \r\n\r\n",
        &[400],
        None,
    );
    let big = format!(
        "GET /health HTTP/1.1\r\nHost: x\r\nX: {}\r\n\r\n",
        "a".repeat(20_000)
    );
    expect_http(
        ctx,
        "head of 20 KB (limit 16 KiB)",
        big.as_bytes(),
        &[431],
        None,
    );
    let long_target = format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(17_000));
    expect_http(
        ctx,
        "request target of 17 KB",
        long_target.as_bytes(),
        &[414, 431],
        None,
    );
    let mut many = String::from("GET /health HTTP/1.1\r\nHost: x\r\n");
    for i in 0..100 {
        many.push_str(&format!("X-{i}: y\r\n"));
    }
    many.push_str("\r\n");
    expect_http(ctx, "100 headers (limit 64)", many.as_bytes(), &[431], None);
    // Admin API bodies and credentials.
    let post = |token: Option<&str>, extra: &str, body: &str, cl: Option<&str>| {
        let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
        let cl = cl.map_or(format!("Content-Length: {}\r\n", body.len()), |c| {
            if c.is_empty() {
                String::new()
            } else {
                format!("Content-Length: {c}\r\n")
            }
        });
        format!("POST /api/sockets/blast HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{auth}{extra}{cl}\r\n{body}")
    };
    let good = r#"{"event":"x","data":1}"#;
    expect_http(
        ctx,
        "admin call with the token (control)",
        post(Some(&t), "", good, None).as_bytes(),
        &[200],
        None,
    );
    expect_http(
        ctx,
        "admin call without a token",
        post(None, "", good, None).as_bytes(),
        &[401],
        None,
    );
    expect_http(
        ctx,
        "admin call with a wrong token",
        post(Some("wrong"), "", good, None).as_bytes(),
        &[401],
        None,
    );
    expect_http(
        ctx,
        "admin call with an empty bearer",
        post(Some(""), "", good, None).as_bytes(),
        &[401],
        None,
    );
    let basic = good.len().to_string();
    expect_http(
        ctx,
        "admin call with Basic auth",
        format!("POST /api/sockets/blast HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Basic {t}\r\nContent-Length: {basic}\r\n\r\n{good}").as_bytes(),
        &[401],
        None,
    );
    expect_http(
        ctx,
        "admin body that is not JSON",
        post(Some(&t), "", "{nope", None).as_bytes(),
        &[400],
        Some("E_BAD_REQUEST"),
    );
    expect_http(
        ctx,
        "admin body truncated JSON",
        post(Some(&t), "", r#"{"event":"x","da"#, None).as_bytes(),
        &[400],
        Some("E_BAD_REQUEST"),
    );
    expect_http(
        ctx,
        "admin body a JSON array",
        post(Some(&t), "", "[1,2]", None).as_bytes(),
        &[400],
        Some("E_BAD_REQUEST"),
    );
    let mut raw = post(Some(&t), "", "{\"event\":\"?\",\"data\":1}", None).into_bytes();
    if let Some(q) = raw.iter().position(|&b| b == b'?') {
        raw[q] = 0xFF;
    }
    expect_http(
        ctx,
        "admin body with invalid UTF-8",
        &raw,
        &[400],
        Some("E_BAD_REQUEST"),
    );
    expect_http(
        ctx,
        "Content-Length: -1",
        post(Some(&t), "", good, Some("-1")).as_bytes(),
        &[400],
        None,
    );
    expect_http(
        ctx,
        "Content-Length: abc",
        post(Some(&t), "", good, Some("abc")).as_bytes(),
        &[400],
        None,
    );
    expect_http(
        ctx,
        "Content-Length of 20 digits",
        post(Some(&t), "", good, Some("99999999999999999999")).as_bytes(),
        &[400, 413],
        None,
    );
    expect_http(
        ctx,
        "two conflicting Content-Lengths",
        post(Some(&t), "Content-Length: 3\r\n", good, None).as_bytes(),
        &[400],
        None,
    );
    expect_http(
        ctx,
        "Content-Length 2 000 000 (limit 1 MiB)",
        post(Some(&t), "", "", Some("2000000")).as_bytes(),
        &[413],
        None,
    );
    expect_http(
        ctx,
        "Transfer-Encoding: chunked",
        post(
            Some(&t),
            "Transfer-Encoding: chunked\r\n",
            "5\r\nhello\r\n0\r\n\r\n",
            Some(""),
        )
        .as_bytes(),
        &[501],
        None,
    );
    expect_http(
        ctx,
        "admin unknown route",
        admin_req(&t, "POST", "/api/nope", "{}").as_bytes(),
        &[404],
        Some("E_NOT_FOUND"),
    );
    expect_http(
        ctx,
        "admin GET on a POST-only route",
        admin_req(&t, "GET", "/api/pubsub/user/created", "").as_bytes(),
        &[404, 405],
        None,
    );
    expect_http(
        ctx,
        "admin PUT on a POST-only route",
        admin_req(&t, "PUT", "/api/sockets/blast", "{}").as_bytes(),
        &[404, 405],
        None,
    );
    expect_http(
        ctx,
        "DELETE /health",
        b"DELETE /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        &[404, 405],
        None,
    );
    expect_http(
        ctx,
        "unknown method BREW",
        b"BREW /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        &[404, 405, 501],
        None,
    );
    // Keep-alive: pipelined requests are answered in order on one connection.
    let mut s = client::tcp(ctx.addr, Duration::from_secs(3))?;
    let _ = s.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\nGET /nope HTTP/1.1\r\nHost: x\r\n\r\nGET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let mut buf = Vec::new();
    let deadline = secs(5.0);
    let mut statuses = Vec::new();
    for _ in 0..3 {
        match client::read_http_response(&mut s, &mut buf, deadline) {
            Ok(r) => statuses.push(r.status),
            Err(e) => {
                statuses.push(0);
                ctx.note(format!("pipelined: {e}"));
                break;
            }
        }
    }
    ctx.check(
        "http: three pipelined requests → 200, 404, 200 in order",
        statuses == [200, 404, 200],
        format!("got {statuses:?}"),
    );
    let mut rest = [0u8; 16];
    let closed = matches!(
        client::read_some(&mut s, &mut rest, secs(3.0)),
        Ok(0) | Err(_)
    );
    ctx.check(
        "http: Connection: close is honoured (EOF after the answer)",
        closed,
        "",
    );
    ctx.check_alive("http: server alive after the malformed requests");
    Ok(())
}

fn admin_req(token: &str, method: &str, target: &str, body: &str) -> String {
    client::admin_request(token, method, target, body, true)
}

// ----- handshakes ---------------------------------------------------------------------

fn upgrade(target: &str, headers: &str) -> Vec<u8> {
    format!("GET {target} HTTP/1.1\r\nHost: x\r\n{headers}\r\n").into_bytes()
}

const SIO4: &str = "/socket.io/?EIO=4&transport=websocket";

/// Expects a 101 and the Engine.IO open packet (and `40` for v3).
fn expect_upgrade(ctx: &mut Ctx<'_>, name: &str, raw: &[u8], eio: u8) {
    let r = (|| -> Result<String, String> {
        let deadline = secs(5.0);
        let mut s = client::tcp(ctx.addr, Duration::from_secs(3))?;
        s.write_all(raw).map_err(|e| e.to_string())?;
        let mut buf = Vec::new();
        let resp = client::read_http_response(&mut s, &mut buf, deadline)?;
        if resp.status != 101 {
            return Err(format!("got {}", resp.brief()));
        }
        if resp.header("sec-websocket-accept") != Some(UPGRADE_ACCEPT) {
            return Err(format!(
                "Sec-WebSocket-Accept {:?}",
                resp.header("sec-websocket-accept")
            ));
        }
        if let Some(ext) = resp.header("sec-websocket-extensions") {
            return Err(format!("negotiated an extension: {ext}"));
        }
        let mut c = Conn::new(s, buf, eio);
        let open = c.next_text(deadline)?;
        let v: Value = serde_json::from_str(open.strip_prefix('0').unwrap_or("x"))
            .map_err(|_| format!("open packet {open:?}"))?;
        let keys: Vec<&str> = v
            .as_object()
            .map(|o| o.keys().map(String::as_str).collect())
            .unwrap_or_default();
        if keys
            != [
                "sid",
                "upgrades",
                "pingInterval",
                "pingTimeout",
                "maxPayload",
            ]
            || v["upgrades"] != json!([])
        {
            return Err(format!("open packet {open}"));
        }
        if eio == 3 {
            let t = c.next_text(deadline)?;
            if t != "40" {
                return Err(format!("v3: expected 40, got {t:?}"));
            }
        }
        Ok(format!("v{eio} open packet {open}"))
    })();
    let (ok, d) = match r {
        Ok(d) => (true, d),
        Err(e) => (false, e),
    };
    ctx.check(format!("handshake: {name} → 101"), ok, d);
}

fn handshake_malformed(ctx: &mut Ctx<'_>) -> Result<(), String> {
    let h = UPGRADE_HEADERS;
    let engine = |code: u8, msg: &str| format!(r#"{{"code":{code},"message":"{msg}"}}"#);
    expect_upgrade(ctx, "a valid EIO=4 upgrade", &upgrade(SIO4, h), 4);
    expect_upgrade(
        ctx,
        "permessage-deflate offered (never negotiated)",
        &upgrade(
            SIO4,
            &format!("{h}Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"),
        ),
        4,
    );
    expect_upgrade(
        ctx,
        "`Upgrade: WebSocket` and `Connection: keep-alive, Upgrade`",
        &upgrade(SIO4, "Upgrade: WebSocket\r\nConnection: keep-alive, Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"),
        4,
    );
    expect_upgrade(
        ctx,
        "EIO=3",
        &upgrade("/socket.io/?EIO=3&transport=websocket", h),
        3,
    );
    expect_upgrade(
        ctx,
        "EIO=5 (any EIO but 4 is v3)",
        &upgrade("/socket.io/?EIO=5&transport=websocket", h),
        3,
    );
    expect_upgrade(
        ctx,
        "no EIO (v3)",
        &upgrade("/socket.io/?transport=websocket", h),
        3,
    );
    expect_upgrade(
        ctx,
        "extra query keys (t, b64, sails sdk)",
        &upgrade(
            "/socket.io/?EIO=4&transport=websocket&t=abc&b64=1&__sails_io_sdk_version=1.2.1",
            h,
        ),
        4,
    );
    type Case<'a> = (&'a str, Vec<u8>, &'a [u16], Option<String>);
    let cases: Vec<Case<'_>> = vec![
        // A polling handshake is valid; its Upgrade headers are ignored (HTTP lets a server).
        ("transport=polling with Upgrade headers", upgrade("/socket.io/?EIO=4&transport=polling", h), &[200], None),
        ("no transport", upgrade("/socket.io/?EIO=4", h), &[400], Some(engine(0, "Transport unknown"))),
        ("transport=flashsocket", upgrade("/socket.io/?EIO=4&transport=flashsocket", h), &[400], Some(engine(0, "Transport unknown"))),
        ("transport given twice", upgrade("/socket.io/?EIO=4&transport=websocket&transport=websocket", h), &[400], Some(engine(0, "Transport unknown"))),
        ("a sid on a new WebSocket", upgrade("/socket.io/?EIO=4&transport=websocket&sid=abc", h), &[400], Some(engine(1, "Session ID unknown"))),
        ("POST", format!("POST {SIO4} HTTP/1.1\r\nHost: x\r\n{h}Content-Length: 0\r\n\r\n").into_bytes(), &[400], Some(engine(2, "Bad handshake method"))),
        ("PUT", format!("PUT {SIO4} HTTP/1.1\r\nHost: x\r\n{h}Content-Length: 0\r\n\r\n").into_bytes(), &[400], Some(engine(2, "Bad handshake method"))),
        ("no Upgrade headers", upgrade(SIO4, ""), &[400], Some(engine(3, "Bad request"))),
        ("Upgrade without Connection: Upgrade", upgrade(SIO4, "Upgrade: websocket\r\nConnection: keep-alive\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"), &[400], Some(engine(3, "Bad request"))),
        ("Upgrade: h2c", upgrade(SIO4, "Upgrade: h2c\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"), &[400], None),
        ("no Sec-WebSocket-Key", upgrade(SIO4, "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"), &[400], None),
        ("Sec-WebSocket-Key not base64", upgrade(SIO4, "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: !!!notbase64!!!\r\nSec-WebSocket-Version: 13\r\n"), &[400], None),
        ("Sec-WebSocket-Key of 15 bytes", upgrade(SIO4, "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAA\r\nSec-WebSocket-Version: 13\r\n"), &[400], None),
        ("Sec-WebSocket-Key of 17 bytes", upgrade(SIO4, "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAAA=\r\nSec-WebSocket-Version: 13\r\n"), &[400], None),
        ("empty Sec-WebSocket-Key", upgrade(SIO4, "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: \r\nSec-WebSocket-Version: 13\r\n"), &[400], None),
        ("no Sec-WebSocket-Version", upgrade(SIO4, "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"), &[400], None),
        ("HTTP/1.0 upgrade", format!("GET {SIO4} HTTP/1.0\r\nHost: x\r\n{h}\r\n").into_bytes(), &[400], None),
        ("upgrade on an unknown path", upgrade("/nope/?EIO=4&transport=websocket", h), &[404], None),
        ("query of 17 KB", upgrade(&format!("{SIO4}&x={}", "a".repeat(17_000)), h), &[414, 431], None),
    ];
    for (name, raw, st, body) in cases {
        expect_http(
            ctx,
            &format!("handshake: {name}"),
            &raw,
            st,
            body.as_deref(),
        );
    }
    for v in ["8", "14", "0", "13, 8"] {
        let raw = upgrade(
            SIO4,
            &format!("Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: {v}\r\n"),
        );
        let r = client::http_exchange(ctx.addr, &raw, Duration::from_secs(5));
        let (ok, d) = match &r {
            Ok(resp) => (
                resp.status == 426 && resp.header("sec-websocket-version") == Some("13"),
                resp.brief(),
            ),
            Err(e) => (false, e.clone()),
        };
        ctx.check(
            format!("handshake: Sec-WebSocket-Version {v} → 426 with Sec-WebSocket-Version: 13"),
            ok,
            d,
        );
    }
    ctx.check_alive("handshake: server alive after the bad handshakes");
    Ok(())
}

// ----- WebSocket frames ---------------------------------------------------------------

/// Connects a v5 client, sends `bytes`, expects a close frame with `code` (reason
/// containing `reason`), no data frame after it, and the TCP connection closed.
pub fn expect_close(ctx: &mut Ctx<'_>, name: &str, bytes: &[u8], code: u16, reason: Option<&str>) {
    let deadline = secs(5.0);
    let mut c = match client::sio_connect(ctx.addr, deadline) {
        Ok(c) => c,
        Err(e) => {
            ctx.check(name, false, format!("connect: {e}"));
            return;
        }
    };
    let _ = c.send_raw(bytes);
    let e = c.read_until_closed(secs(5.0), true);
    judge_close(ctx, name, &e, &[code], reason);
}

pub fn judge_close(ctx: &mut Ctx<'_>, name: &str, e: &Ending, codes: &[u16], reason: Option<&str>) {
    let ok = e.code().is_some_and(|c| codes.contains(&c))
        && reason.is_none_or(|r| e.close.as_ref().is_some_and(|c| c.1.contains(r)))
        && e.data_after_close == 0
        && e.end != "timeout";
    let want = codes
        .iter()
        .map(u16::to_string)
        .collect::<Vec<_>>()
        .join("/");
    let want = match reason {
        Some(r) => format!("close {want} {r:?}"),
        None => format!("close {want}"),
    };
    ctx.check(
        format!("{name} → {want}"),
        ok,
        format!("got {}", e.describe()),
    );
}

/// Sends `bytes` on a connected client and expects the connection to stay (a
/// request round trip answers 200).
pub fn expect_stays(ctx: &mut Ctx<'_>, name: &str, c: &mut Conn, bytes: &[u8]) {
    let r = c.send_raw(bytes).and_then(|()| c.alive(777_777));
    let (ok, d) = match r {
        Ok(()) => (true, String::new()),
        Err(e) => (false, e),
    };
    ctx.check(format!("{name} → ignored, the connection stays"), ok, d);
}

fn framed(first: u8, payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    put_frame(&mut v, first, payload, Some(MASK));
    v
}

fn ws_frames(ctx: &mut Ctx<'_>) -> Result<(), String> {
    let ev = br#"42["x"]"#;
    let mut unmasked = Vec::new();
    put_frame(&mut unmasked, 0x81, ev, None);
    expect_close(ctx, "ws: unmasked text frame", &unmasked, 1002, None);
    let mut unmasked_ping = Vec::new();
    put_frame(&mut unmasked_ping, 0x89, b"p", None);
    expect_close(ctx, "ws: unmasked ping", &unmasked_ping, 1002, None);
    for (bit, name) in [
        (0x40u8, "RSV1"),
        (0x20, "RSV2"),
        (0x10, "RSV3"),
        (0x70, "all RSV bits"),
    ] {
        expect_close(
            ctx,
            &format!("ws: {name} on a text frame"),
            &framed(0x81 | bit, ev),
            1002,
            None,
        );
    }
    expect_close(
        ctx,
        "ws: RSV1 on a ping",
        &framed(0x89 | 0x40, b"p"),
        1002,
        None,
    );
    expect_close(
        ctx,
        "ws: RSV2 on a close",
        &framed(0x88 | 0x20, &[3, 232]),
        1002,
        None,
    );
    for op in [3u8, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF] {
        expect_close(
            ctx,
            &format!("ws: reserved opcode {op:#x}"),
            &framed(0x80 | op, b"x"),
            1002,
            None,
        );
    }
    expect_close(
        ctx,
        "ws: ping with 126 payload bytes",
        &framed(0x89, &[b'p'; 126]),
        1002,
        None,
    );
    expect_close(
        ctx,
        "ws: pong with 126 payload bytes",
        &framed(0x8A, &[b'p'; 126]),
        1002,
        None,
    );
    let mut long_close = client::close_payload(1000, &[b'r'; 124]);
    long_close.truncate(126);
    expect_close(
        ctx,
        "ws: close with 126 payload bytes",
        &framed(0x88, &long_close),
        1002,
        None,
    );
    expect_close(ctx, "ws: ping without FIN", &framed(0x09, b"p"), 1002, None);
    expect_close(
        ctx,
        "ws: close without FIN",
        &framed(0x08, &[3, 232]),
        1002,
        None,
    );
    expect_close(
        ctx,
        "ws: continuation with nothing to continue",
        &framed(0x80, ev),
        1002,
        None,
    );
    expect_close(
        ctx,
        "ws: non-FIN continuation with nothing to continue",
        &framed(0x00, ev),
        1002,
        None,
    );
    let mut two = framed(0x01, b"42[");
    two.extend(framed(0x81, ev));
    expect_close(
        ctx,
        "ws: new text frame inside a fragmented message",
        &two,
        1002,
        None,
    );
    let mut two = framed(0x01, b"42[");
    two.extend(framed(0x82, b"\x01\x02"));
    expect_close(
        ctx,
        "ws: binary frame inside a fragmented text message",
        &two,
        1002,
        None,
    );
    let mut two = framed(0x02, b"\x01");
    two.extend(framed(0x81, ev));
    expect_close(
        ctx,
        "ws: text frame inside a fragmented binary message",
        &two,
        1002,
        None,
    );
    let mut overflow = vec![0x81u8, 0x80 | 127];
    overflow.extend_from_slice(&(1u64 << 63 | 5).to_be_bytes());
    overflow.extend_from_slice(&MASK);
    expect_close(
        ctx,
        "ws: 64-bit length with the top bit set",
        &overflow,
        1002,
        None,
    );
    expect_close(
        ctx,
        "ws: close with a 1-byte payload",
        &framed(0x88, &[3]),
        1002,
        None,
    );
    for code in [
        0u16, 1, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535,
    ] {
        expect_close(
            ctx,
            &format!("ws: close with invalid code {code}"),
            &framed(0x88, &client::close_payload(code, b"")),
            1002,
            None,
        );
    }
    // Valid closes are echoed (RFC 6455 §5.5.1).
    for code in [
        1000u16, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 4000, 4999,
    ] {
        expect_close(
            ctx,
            &format!("ws: client close {code} is echoed"),
            &framed(0x88, &client::close_payload(code, b"bye")),
            code,
            None,
        );
    }
    expect_close(
        ctx,
        "ws: empty client close is answered",
        &framed(0x88, b""),
        1005,
        None,
    );
    // Control frames that are fine: a ping is answered with its payload.
    let r = (|| -> Result<(), String> {
        let mut c = client::sio_connect(ctx.addr, secs(5.0))?;
        for payload in [&b""[..], b"a", &[b'z'; 125]] {
            c.send_frame(OP_PING, payload)?;
            loop {
                match c.next_frame(secs(5.0)) {
                    Next::Frame(f) if f.opcode == OP_PONG => {
                        if f.payload != payload {
                            return Err(format!("pong payload {:?}", f.payload));
                        }
                        break;
                    }
                    Next::Frame(f) if f.opcode == OP_TEXT && f.text() == Some("2") => {
                        c.send_text("3")?;
                    }
                    Next::Frame(f) => return Err(format!("unexpected frame {}", f.opcode)),
                    other => return Err(format!("{other:?}")),
                }
            }
        }
        // A ping between the fragments of a message is allowed.
        let mut bytes = framed(0x01, b"42");
        bytes.extend(framed(0x89, b"mid"));
        bytes.extend(framed(0x80, br#"1["get",{"url":"/sockets/id"}]"#));
        c.send_raw(&bytes)?;
        let mut pong = false;
        let deadline = secs(5.0);
        loop {
            match c.next_frame(deadline) {
                Next::Frame(f) if f.opcode == OP_PONG => pong = f.payload == b"mid",
                Next::Frame(f) if f.opcode == OP_TEXT => {
                    let t = f.text().unwrap_or("").to_string();
                    if t.starts_with("431[") {
                        let a = client::parse_ack(&t, 1)?;
                        if a.status != 200 || !pong {
                            return Err(format!("pong {pong}, ack {}", a.brief()));
                        }
                        break;
                    }
                }
                other => return Err(format!("{other:?}")),
            }
        }
        Ok(())
    })();
    ctx.check(
        "ws: pings (0, 1, 125 bytes, and between fragments) → pongs with the same payload",
        r.is_ok(),
        r.err().unwrap_or_default(),
    );
    ctx.check_alive("ws: server alive after the bad frames");
    Ok(())
}

fn ws_utf8(ctx: &mut Ctx<'_>) -> Result<(), String> {
    let wrap = |bad: &[u8]| {
        let mut v = br#"42["x",""#.to_vec();
        v.extend_from_slice(bad);
        v.extend_from_slice(br#""]"#);
        v
    };
    let cases: [(&str, &[u8]); 10] = [
        ("byte 0xFF", b"\xff"),
        ("byte 0xFE", b"\xfe"),
        ("a lone continuation byte", b"\x80"),
        ("overlong NUL (C0 80)", b"\xc0\x80"),
        ("overlong slash (E0 80 AF)", b"\xe0\x80\xaf"),
        ("a UTF-16 surrogate (ED A0 80)", b"\xed\xa0\x80"),
        ("above U+10FFFF (F4 90 80 80)", b"\xf4\x90\x80\x80"),
        ("a 5-byte form (F8 88 80 80 80)", b"\xf8\x88\x80\x80\x80"),
        ("a 3-byte sequence cut short", b"\xe2\x82"),
        ("a 4-byte lead then ASCII", b"\xf0\x9f\x98x"),
    ];
    for (name, bad) in cases {
        expect_close(
            ctx,
            &format!("utf8: text with {name}"),
            &framed(0x81, &wrap(bad)),
            1007,
            None,
        );
    }
    expect_close(
        ctx,
        "utf8: a text message ending inside a sequence",
        &framed(0x81, b"42[\"x\",\"\xe2\x82"),
        1007,
        None,
    );
    let mut split = framed(0x01, b"42[\"x\",\"\xe2\x82");
    split.extend(framed(0x80, b"\x28\"]"));
    expect_close(
        ctx,
        "utf8: invalid sequence split across fragments",
        &split,
        1007,
        None,
    );
    let mut split = framed(0x01, b"42[\"x\",\"\xf0\x9f");
    split.extend(framed(0x80, b"\"]"));
    expect_close(
        ctx,
        "utf8: fragmented message ending mid-sequence",
        &split,
        1007,
        None,
    );
    expect_close(
        ctx,
        "utf8: close reason with invalid UTF-8",
        &framed(0x88, &client::close_payload(1000, b"\xff\xfe")),
        1007,
        None,
    );
    // A valid 4-byte character split across fragments is fine.
    let r = (|| -> Result<(), String> {
        let mut c = client::sio_connect(ctx.addr, secs(5.0))?;
        let room = "caf\u{e9}-\u{1F600}";
        let text = client::request_packet(5, "post", "/sockets/join", json!({ "room": room }));
        let bytes = text.as_bytes();
        let cut = text.find('\u{1F600}').ok_or("no emoji")? + 2;
        let mut v = framed(0x01, &bytes[..cut]);
        v.extend(framed(0x80, &bytes[cut..]));
        c.send_raw(&v)?;
        let a = c.wait_ack(5, secs(5.0))?;
        if a.status != 200 {
            return Err(a.brief());
        }
        Ok(())
    })();
    ctx.check(
        "utf8: a valid 4-byte character split across fragments → joins (200)",
        r.is_ok(),
        r.err().unwrap_or_default(),
    );
    ctx.check_alive("utf8: server alive");
    Ok(())
}

fn ws_oversize_fragments(ctx: &mut Ctx<'_>) -> Result<(), String> {
    const MAX: u64 = 1_000_000;
    for (n, name) in [
        (MAX + 1, "max_payload + 1"),
        (1 << 40, "1 TiB"),
        (u64::MAX >> 1, "2^63 - 1"),
    ] {
        let mut v = vec![0x81u8];
        put_len(&mut v, n, true);
        v.extend_from_slice(&MASK);
        expect_close(
            ctx,
            &format!("big: a text frame header announcing {name} bytes"),
            &v,
            1009,
            None,
        );
        let mut v = vec![0x82u8];
        put_len(&mut v, n, true);
        v.extend_from_slice(&MASK);
        expect_close(
            ctx,
            &format!("big: a binary frame header announcing {name} bytes"),
            &v,
            1009,
            None,
        );
    }
    // Fragments adding up to more than max_payload.
    let mut v = Vec::new();
    let chunk = vec![b'a'; 10_000];
    put_frame(&mut v, 0x01, b"42[\"x\",\"", Some(MASK));
    for _ in 0..100 {
        put_frame(&mut v, 0x00, &chunk, Some(MASK));
    }
    put_frame(&mut v, 0x80, b"\"]", Some(MASK));
    expect_close(
        ctx,
        "big: 101 fragments adding up to 1 000 010 bytes",
        &v,
        1009,
        None,
    );
    let mut v = Vec::new();
    put_frame(&mut v, 0x02, &chunk, Some(MASK));
    for _ in 0..101 {
        put_frame(&mut v, 0x00, &chunk, Some(MASK));
    }
    expect_close(
        ctx,
        "big: binary fragments passing max_payload, never finished",
        &v,
        1009,
        None,
    );
    // At the limit exactly: accepted.
    let r = (|| -> Result<(), String> {
        let mut c = client::sio_connect(ctx.addr, secs(5.0))?;
        let head = br#"42["big",""#;
        let tail = br#""]"#;
        let mut msg = head.to_vec();
        msg.resize(MAX as usize - tail.len(), b'y');
        msg.extend_from_slice(tail);
        c.send_raw(&framed(0x81, &msg))?;
        c.alive(3)
    })();
    ctx.check(
        "big: a message of exactly max_payload bytes → accepted, the connection stays",
        r.is_ok(),
        r.err().unwrap_or_default(),
    );
    // Fragment floods.
    let r = (|| -> Result<(), String> {
        let mut c = client::sio_connect(ctx.addr, secs(5.0))?;
        let pkt = client::request_packet(9, "get", "/sockets/id", Value::Null);
        let b = pkt.as_bytes();
        let mut v = Vec::new();
        for (i, byte) in b.iter().enumerate() {
            let first = if i == 0 { OP_TEXT } else { OP_CONT };
            let fin = if i + 1 == b.len() { 0x80 } else { 0 };
            put_frame(&mut v, fin | first, &[*byte], Some(MASK));
        }
        c.send_raw(&v)?;
        let a = c.wait_ack(9, secs(5.0))?;
        if a.status != 200 {
            return Err(a.brief());
        }
        Ok(())
    })();
    ctx.check(
        "fragments: a request sent one byte per fragment → answered 200",
        r.is_ok(),
        r.err().unwrap_or_default(),
    );
    let empties = ctx.scale(200_000, 50_000);
    let r = (|| -> Result<(), String> {
        let mut c = client::sio_connect(ctx.addr, secs(5.0))?;
        let mut v = Vec::with_capacity(empties * 6 + 100);
        put_frame(&mut v, OP_TEXT, b"4", Some(MASK));
        for _ in 0..empties {
            put_frame(&mut v, OP_CONT, b"", Some(MASK));
        }
        put_frame(
            &mut v,
            0x80 | OP_CONT,
            br#"211["get",{"url":"/sockets/id"}]"#,
            Some(MASK),
        );
        c.send_raw(&v)?;
        let a = c.wait_ack(11, secs(20.0))?;
        if a.status != 200 {
            return Err(a.brief());
        }
        Ok(())
    })();
    ctx.check(
        format!("fragments: {empties} empty continuation frames inside one request → answered 200"),
        r.is_ok(),
        r.err().unwrap_or_default(),
    );
    let growth = ctx.rss_growth_mb().unwrap_or(0.0);
    ctx.check(
        "big: RSS growth during the attack ≤ 64 MB",
        growth <= 64.0,
        format!("{growth:.1} MB"),
    );
    ctx.check_alive("big: server alive");
    Ok(())
}

// ----- Engine.IO / Socket.IO -------------------------------------------------------------

fn text_frame(s: &str) -> Vec<u8> {
    framed(0x81, s.as_bytes())
}

fn eio_sio_packets(ctx: &mut Ctx<'_>) -> Result<(), String> {
    // Engine.IO level.
    for (p, name) in [
        ("", "an empty message"),
        ("7", "type 7"),
        ("9", "type 9"),
        ("x", "type x"),
        ("!", "type !"),
        ("4", "an empty message packet"),
    ] {
        expect_close(
            ctx,
            &format!("eio: {name} ({p:?})"),
            &text_frame(p),
            1008,
            None,
        );
    }
    expect_close(
        ctx,
        "eio: close packet `1`",
        &text_frame("1"),
        1000,
        Some("client sent close packet"),
    );
    expect_close(
        ctx,
        "eio: a client ping `2` on EIO4",
        &text_frame("2"),
        1008,
        Some("invalid heartbeat direction"),
    );
    expect_close(
        ctx,
        "eio: a client ping `2probe` on EIO4",
        &text_frame("2probe"),
        1008,
        Some("invalid heartbeat direction"),
    );
    let r = client::sio_connect(ctx.addr, secs(5.0));
    match r {
        Ok(mut c) => {
            for p in ["0", "5", "6", "3", "3probe", "6noop"] {
                expect_stays(ctx, &format!("eio: packet {p:?}"), &mut c, &text_frame(p));
            }
        }
        Err(e) => {
            ctx.check("eio: connect", false, e);
        }
    }
    // Socket.IO level.
    let nest = |n: usize| format!("42{}{}", "[".repeat(n), "]".repeat(n));
    let bad: Vec<(String, &str)> = vec![
        ("47".into(), "type 7"),
        ("48[]".into(), "type 8"),
        ("4x".into(), "type x"),
        ("4-".into(), "type -"),
        ("42".into(), "an EVENT without a payload"),
        ("42{}".into(), "an EVENT that is an object"),
        (r#"42"x""#.into(), "an EVENT that is a string"),
        ("42[]".into(), "an empty EVENT"),
        ("42[null]".into(), "event name null"),
        ("42[{}]".into(), "event name an object"),
        ("42[true]".into(), "event name true"),
        ("42[[]]".into(), "event name an array"),
        (r#"42["connect"]"#.into(), "reserved event connect"),
        (
            r#"42["connect_error"]"#.into(),
            "reserved event connect_error",
        ),
        (r#"42["disconnect"]"#.into(), "reserved event disconnect"),
        (
            r#"42["disconnecting"]"#.into(),
            "reserved event disconnecting",
        ),
        (r#"42["newListener"]"#.into(), "reserved event newListener"),
        (
            r#"42["removeListener"]"#.into(),
            "reserved event removeListener",
        ),
        (r#"42["x""#.into(), "truncated JSON"),
        (r#"42["x"]]"#.into(), "JSON with trailing bytes"),
        (r#"42["x",}"#.into(), "JSON syntax error"),
        (r#"42['x']"#.into(), "single quotes"),
        (r#"42["x",NaN]"#.into(), "NaN"),
        (r#"42["x",01]"#.into(), "a leading zero"),
        (nest(200), "200 nested arrays"),
        (nest(100_000), "100 000 nested arrays"),
        ("431{}".into(), "an ACK that is an object"),
        (r#"431"x""#.into(), "an ACK that is a string"),
        (r#"41{"x":1}"#.into(), "a DISCONNECT with a payload"),
        ("40".into(), "a second CONNECT to /"),
        ("44{}".into(), "a client CONNECT_ERROR"),
        (
            r#"42/other,["x"]"#.into(),
            "an EVENT for a namespace not joined",
        ),
        (
            r#"4511-["x",{"_placeholder":true,"num":0}]"#.into(),
            "11 attachments (max 10)",
        ),
        (r#"450-["x"]"#.into(), "0 attachments"),
        (
            r#"45-["x",{"_placeholder":true,"num":0}]"#.into(),
            "no attachment count",
        ),
        (
            r#"45a-["x",{"_placeholder":true,"num":0}]"#.into(),
            "attachment count a",
        ),
        (
            r#"451["x",{"_placeholder":true,"num":0}]"#.into(),
            "attachment count without '-'",
        ),
    ];
    for (p, name) in &bad {
        expect_close(ctx, &format!("sio: {name}"), &text_frame(p), 1008, None);
    }
    let mut v = text_frame(r#"451-["x",{"_placeholder":true,"num":0}]"#);
    v.extend(text_frame(r#"42["y"]"#));
    expect_close(
        ctx,
        "sio: text while an attachment is awaited",
        &v,
        1008,
        None,
    );
    expect_close(
        ctx,
        "sio: a binary frame nobody announced",
        &framed(0x82, b"\x01\x02\x03"),
        1008,
        None,
    );
    let mut v = text_frame(r#"451-["x",{"_placeholder":true,"num":5}]"#);
    v.extend(framed(0x82, b"\x01"));
    expect_close(
        ctx,
        "sio: placeholder num 5 of 1 attachment",
        &v,
        1008,
        None,
    );
    let mut v = text_frame(r#"451-["x",{"_placeholder":true,"num":0}]"#);
    v.extend(framed(0x82, b"\x01"));
    v.extend(framed(0x82, b"\x02"));
    expect_close(
        ctx,
        "sio: one attachment more than announced",
        &v,
        1008,
        None,
    );
    // Fine packets: the connection stays.
    match client::sio_connect(ctx.addr, secs(5.0)) {
        Ok(mut c) => {
            expect_stays(
                ctx,
                "sio: an ACK for an unknown id `4399[]`",
                &mut c,
                &text_frame("4399[]"),
            );
            expect_stays(
                ctx,
                "sio: an event nobody handles",
                &mut c,
                &text_frame(r#"42["whatever",{"a":[1,2,3]}]"#),
            );
            expect_stays(
                ctx,
                "sio: a numeric event name",
                &mut c,
                &text_frame("42[7]"),
            );
            let mut v = text_frame(r#"451-["up",{"_placeholder":true,"num":0}]"#);
            v.extend(framed(0x82, b"\x01\x02"));
            expect_stays(ctx, "sio: a complete binary event", &mut c, &v);
        }
        Err(e) => {
            ctx.check("sio: connect", false, e);
        }
    }
    // Before any CONNECT.
    let pre: [(&str, &str); 4] = [
        (r#"40"x""#, "a CONNECT whose payload is a string"),
        ("40[1]", "a CONNECT whose payload is an array"),
        (r#"42["x"]"#, "an EVENT before any CONNECT"),
        ("40{", "a CONNECT with truncated JSON"),
    ];
    for (p, name) in pre {
        let r = client::ws_open(ctx.addr, "EIO=4&transport=websocket", 4, secs(5.0));
        match r {
            Ok(mut c) => {
                let _ = c.next_text(secs(5.0));
                let _ = c.send_text(p);
                let e = c.read_until_closed(secs(5.0), true);
                judge_close(ctx, &format!("sio: {name}"), &e, &[1008], None);
            }
            Err(e) => {
                ctx.check(format!("sio: {name}"), false, e);
            }
        }
    }
    // EIO3: the client pings.
    let r = (|| -> Result<(), String> {
        let mut c = client::sio_connect_v3(ctx.addr, secs(5.0))?;
        c.send_text("2")?;
        let t = c.next_text(secs(5.0))?;
        c.send_text("2probe")?;
        let t2 = c.next_text(secs(5.0))?;
        // engine.io 3 answers every ping with a bare `3` on a WebSocket
        // (`3probe` belongs to the polling → WebSocket upgrade only).
        if t != "3" || t2 != "3" {
            return Err(format!("answers {t:?}, {t2:?}"));
        }
        c.alive(4)
    })();
    ctx.check(
        "eio3: ping `2` → `3`, `2probe` → `3` (as engine.io 3)",
        r.is_ok(),
        r.err().unwrap_or_default(),
    );
    for (p, name, code) in [
        ("4", "an empty message", 1008u16),
        ("1", "a close packet", 1000),
        ("", "an empty frame", 1008),
    ] {
        match client::sio_connect_v3(ctx.addr, secs(5.0)) {
            Ok(mut c) => {
                let _ = c.send_text(p);
                let e = c.read_until_closed(secs(5.0), true);
                judge_close(ctx, &format!("eio3: {name}"), &e, &[code], None);
            }
            Err(e) => {
                ctx.check(format!("eio3: {name}"), false, e);
            }
        }
    }
    ctx.check_alive("sio: server alive");
    Ok(())
}

fn virtual_requests(ctx: &mut Ctx<'_>) -> Result<(), String> {
    let mut c = client::sio_connect(ctx.addr, secs(5.0))?;
    let long_room = "r".repeat(300);
    let cases: Vec<(String, u64, &str, &str)> = vec![
        (r#"["post"]"#.into(), 400, "E_BAD_REQUEST", "no request object"),
        (r#"["post","x"]"#.into(), 400, "E_BAD_REQUEST", "request object a string"),
        (r#"["post",[1]]"#.into(), 400, "E_BAD_REQUEST", "request object an array"),
        (r#"["post",{}]"#.into(), 400, "E_BAD_REQUEST", "no url"),
        (r#"["post",{"url":5}]"#.into(), 400, "E_BAD_REQUEST", "url a number"),
        (r#"["post",{"url":"sockets/join"}]"#.into(), 400, "E_BAD_REQUEST", "url without a leading /"),
        (r#"["post",{"url":""}]"#.into(), 400, "E_BAD_REQUEST", "empty url"),
        (r#"["post",{"url":"/sockets/%zz"}]"#.into(), 400, "E_BAD_REQUEST", "malformed percent-encoding"),
        (r#"["post",{"url":"/sockets/%ff"}]"#.into(), 400, "E_BAD_REQUEST", "percent-encoded invalid UTF-8"),
        (r#"["post",{"url":"/sockets/join","headers":"x"}]"#.into(), 400, "E_BAD_REQUEST", "headers a string"),
        (r#"["post",{"url":"/nope"}]"#.into(), 404, "E_NOT_FOUND", "unknown route"),
        (r#"["get",{"url":"/sockets/join"}]"#.into(), 404, "E_NOT_FOUND", "known path, wrong method"),
        (r#"["delete",{"url":"/sockets/id"}]"#.into(), 404, "E_NOT_FOUND", "DELETE /sockets/id"),
        (r#"["post",{"url":"/sockets/join","data":"x"}]"#.into(), 400, "E_BAD_REQUEST", "data a string"),
        (r#"["post",{"url":"/sockets/join","data":[1]}]"#.into(), 400, "E_BAD_REQUEST", "data an array"),
        (r#"["post",{"url":"/sockets/join","data":{}}]"#.into(), 400, "E_BAD_REQUEST", "join without room"),
        (r#"["post",{"url":"/sockets/join","data":{"room":5}}]"#.into(), 400, "E_BAD_REQUEST", "room a number"),
        (r#"["post",{"url":"/sockets/join","data":{"room":["a"]}}]"#.into(), 400, "E_BAD_REQUEST", "room an array"),
        (r#"["post",{"url":"/sockets/join","data":{"room":""}}]"#.into(), 400, "E_BAD_REQUEST", "empty room name"),
        (format!(r#"["post",{{"url":"/sockets/join","data":{{"room":"{long_room}"}}}}]"#), 400, "E_BAD_REQUEST", "room name of 300 bytes"),
        (r#"["post",{"url":"/sockets/leave","data":{}}]"#.into(), 400, "E_BAD_REQUEST", "leave without room"),
        (r#"["post",{"url":"/sockets/broadcast","data":{"data":1}}]"#.into(), 400, "E_BAD_REQUEST", "broadcast without rooms"),
        (r#"["post",{"url":"/sockets/broadcast","data":{"rooms":5,"data":1}}]"#.into(), 400, "E_BAD_REQUEST", "rooms a number"),
        (r#"["post",{"url":"/sockets/broadcast","data":{"rooms":["a",5],"data":1}}]"#.into(), 400, "E_BAD_REQUEST", "rooms with a number inside"),
        (r#"["post",{"url":"/sockets/broadcast","data":{"rooms":"a","event":5,"data":1}}]"#.into(), 400, "E_BAD_REQUEST", "event a number"),
        (r#"["post",{"url":"/sockets/broadcast","data":{"rooms":"a","event":"connect","data":1}}]"#.into(), 400, "E_BAD_REQUEST", "reserved event name connect"),
        (r#"["post",{"url":"/sockets/broadcast","data":{"rooms":"a","data":1,"omitSender":"yes"}}]"#.into(), 400, "E_BAD_REQUEST", "omitSender a string"),
        (r#"["post",{"url":"/sockets/blast","data":{"data":1}}]"#.into(), 403, "E_FORBIDDEN", "blast under the default policy"),
        (r#"["post",{"url":"/sockets/emit","data":{"socketIds":["x"],"data":1}}]"#.into(), 403, "E_FORBIDDEN", "emit under the default policy"),
        (r#"["post",{"url":"/sockets/leave-all","data":{"room":"a"}}]"#.into(), 403, "E_FORBIDDEN", "leave-all under the default policy"),
        (r#"["post",{"url":"/pubsub/user/subscribe","data":{"ids":[{}]}}]"#.into(), 400, "E_BAD_REQUEST", "record id an object"),
        (r#"["post",{"url":"/pubsub/user/subscribe","data":{}}]"#.into(), 400, "E_BAD_REQUEST", "subscribe without ids"),
    ];
    let mut id = 100u64;
    for (args, status, error, name) in cases {
        id += 1;
        let pkt = format!("42{id}{args}");
        let r = c.send_text(&pkt).and_then(|()| c.wait_ack(id, secs(5.0)));
        let (ok, d) = match &r {
            Ok(a) => (a.status == status && a.error() == error, a.brief()),
            Err(e) => (false, e.clone()),
        };
        ctx.check(
            format!("request: {name} → {status} {error}"),
            ok,
            format!("got {d}"),
        );
        if r.is_err() {
            c = client::sio_connect(ctx.addr, secs(5.0))?;
        }
    }
    // The reserved-room rule: another socket's id room.
    let other = client::sio_connect(ctx.addr, secs(5.0))?;
    id += 1;
    let r = c.request(
        id,
        "post",
        "/sockets/join",
        json!({"room": other.sid}),
        secs(5.0),
    );
    let (ok, d) = match &r {
        Ok(a) => (a.status == 403 && a.error() == "E_FORBIDDEN", a.brief()),
        Err(e) => (false, e.clone()),
    };
    ctx.check(
        "request: join another socket's id room → 403 E_FORBIDDEN",
        ok,
        d,
    );
    let r = c.alive(id + 1);
    ctx.check(
        "request: the connection is still usable after 34 errors",
        r.is_ok(),
        r.err().unwrap_or_default(),
    );
    // An ack id no 64-bit integer holds: refused like any unparsable packet.
    let _ = c.send_text(r#"4299999999999999999999999["get",{"url":"/sockets/id"}]"#);
    let e = c.read_until_closed(secs(5.0), true);
    judge_close(
        ctx,
        "request: an ack id of 25 digits",
        &e,
        &[1008],
        Some("ack id"),
    );
    ctx.check_alive("request: server alive");
    Ok(())
}

// ----- floods ----------------------------------------------------------------------------

fn ping_flood(ctx: &mut Ctx<'_>) -> Result<(), String> {
    // 1. Pings answered while read.
    let n = ctx.scale(20_000, 5_000);
    let r = (|| -> Result<(), String> {
        let mut c = client::sio_connect(ctx.addr, secs(5.0))?;
        let mut v = Vec::with_capacity(n * 24);
        for i in 0..n {
            put_frame(
                &mut v,
                0x80 | OP_PING,
                format!("{i:016}").as_bytes(),
                Some(MASK),
            );
        }
        c.send_raw(&v)?;
        let mut got = 0usize;
        let deadline = secs(20.0);
        while got < n {
            match c.next_frame(deadline) {
                Next::Frame(f) if f.opcode == OP_PONG => {
                    if f.payload != format!("{got:016}").as_bytes() {
                        return Err(format!(
                            "pong {got} has payload {:?}",
                            String::from_utf8_lossy(&f.payload)
                        ));
                    }
                    got += 1;
                }
                Next::Frame(f) if f.text() == Some("2") => c.send_text("3")?,
                Next::Frame(f) => {
                    return Err(format!("unexpected frame {} after {got} pongs", f.opcode))
                }
                other => return Err(format!("{other:?} after {got} pongs")),
            }
        }
        c.alive(1)
    })();
    ctx.check(
        format!("pings: {n} WebSocket pings → {n} pongs in order, connection stays"),
        r.is_ok(),
        r.err().unwrap_or_default(),
    );
    // 2. Pings never read: the pongs queue, bounded.
    let (conns, per) = if ctx.short { (2, 50_000) } else { (5, 200_000) };
    let mut cs = Vec::new();
    for _ in 0..conns {
        cs.push(client::sio_connect(ctx.addr, secs(5.0))?);
    }
    let mut v = Vec::with_capacity(per * 22);
    for i in 0..per {
        put_frame(
            &mut v,
            0x80 | OP_PING,
            format!("{:016}", i % 1000).as_bytes(),
            Some(MASK),
        );
    }
    for c in &mut cs {
        let _ = c.stream.set_write_timeout(Some(Duration::from_secs(20)));
        c.send_raw(&v)?;
    }
    std::thread::sleep(Duration::from_millis(500));
    let growth = ctx.rss_growth_mb().unwrap_or(0.0);
    ctx.check(
        format!("pings: {conns} × {per} unread pings → RSS growth ≤ 64 MB"),
        growth <= 64.0,
        format!("{growth:.1} MB"),
    );
    for (i, c) in cs.iter_mut().enumerate() {
        let mut got = 0usize;
        let deadline = secs(20.0);
        let mut end = String::new();
        while got < per {
            match c.next_frame(deadline) {
                Next::Frame(f) if f.opcode == OP_PONG => got += 1,
                Next::Frame(f) if f.text() == Some("2") => {
                    let _ = c.send_text("3");
                }
                Next::Frame(f) if f.opcode == OP_CLOSE => {
                    end = format!("close {} {:?}", f.close_code(), f.close_reason());
                    break;
                }
                Next::Frame(_) => {}
                other => {
                    end = format!("{other:?}");
                    break;
                }
            }
        }
        let alive = if got == per {
            c.alive(2).is_ok()
        } else {
            false
        };
        ctx.check(
            format!(
                "pings: unread flood {i}: all {per} pongs delivered once read, connection stays"
            ),
            got == per && alive,
            format!("{got} pongs; {end}"),
        );
    }
    drop(cs);
    // 3. Engine.IO v4 client pings: refused at the first.
    let mut v = Vec::new();
    for _ in 0..1000 {
        v.extend(text_frame("2"));
    }
    expect_close(
        ctx,
        "pings: 1000 Engine.IO `2` on EIO4",
        &v,
        1008,
        Some("invalid heartbeat direction"),
    );
    // 4. EIO3 client pings: each answered.
    let n3 = ctx.scale(20_000, 5_000);
    let r = (|| -> Result<(), String> {
        let mut c = client::sio_connect_v3(ctx.addr, secs(5.0))?;
        let mut v = Vec::with_capacity(n3 * 7);
        for _ in 0..n3 {
            v.extend(text_frame("2"));
        }
        c.send_raw(&v)?;
        for i in 0..n3 {
            let t = c.next_text(secs(20.0))?;
            if t != "3" {
                return Err(format!("answer {i} was {t:?}"));
            }
        }
        c.alive(3)
    })();
    ctx.check(
        format!("pings: {n3} Engine.IO `2` on EIO3 → {n3} `3`"),
        r.is_ok(),
        r.err().unwrap_or_default(),
    );
    // 5. Unsolicited pongs and Engine.IO `3`: ignored.
    match client::sio_connect(ctx.addr, secs(5.0)) {
        Ok(mut c) => {
            let mut v = Vec::new();
            for _ in 0..ctx.scale(50_000, 10_000) {
                put_frame(&mut v, 0x80 | OP_PONG, b"unsolicited", Some(MASK));
            }
            expect_stays(
                ctx,
                "pings: a flood of unsolicited WebSocket pongs",
                &mut c,
                &v,
            );
            let mut v = Vec::new();
            for _ in 0..ctx.scale(20_000, 5_000) {
                v.extend(text_frame("3"));
            }
            expect_stays(ctx, "pings: a flood of Engine.IO `3` on EIO4", &mut c, &v);
        }
        Err(e) => {
            ctx.check("pings: connect", false, e);
        }
    }
    ctx.check_alive("pings: server alive");
    Ok(())
}

/// A connection fed a byte at a time.
#[derive(Debug)]
struct Slow {
    s: TcpStream,
    data: Vec<u8>,
    sent: usize,
    opened: Instant,
    closed: Option<Instant>,
    answer: Vec<u8>,
}

fn slowloris(ctx: &mut Ctx<'_>) -> Result<(), String> {
    let timeout = handshake_timeout(ctx);
    let n_ws = ctx.scale(100, 30);
    let n_body = ctx.scale(30, 10);
    let n_idle = ctx.scale(30, 10);
    let mut conns: Vec<(&str, Slow)> = Vec::new();
    let t = ctx.token.clone();
    for i in 0..n_ws + n_body + n_idle {
        let (kind, data, pre) = if i < n_ws {
            (
                "WebSocket upgrade head at 1 byte/s",
                upgrade(SIO4, UPGRADE_HEADERS),
                0,
            )
        } else if i < n_ws + n_body {
            let mut head = format!(
                "POST /api/sockets/blast HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {t}\r\nContent-Length: 100\r\n\r\n"
            )
            .into_bytes();
            let pre = head.len();
            head.extend(std::iter::repeat_n(b' ', 100));
            ("admin body at 1 byte/s", head, pre)
        } else {
            let d = b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n".to_vec();
            let pre = d.len();
            ("idle keep-alive after one request", d, pre)
        };
        let mut s = client::tcp(ctx.addr, Duration::from_secs(3))?;
        s.write_all(&data[..pre]).map_err(|e| e.to_string())?;
        s.set_nonblocking(true).map_err(|e| e.to_string())?;
        conns.push((
            kind,
            Slow {
                s,
                data,
                sent: pre,
                opened: Instant::now(),
                closed: None,
                answer: Vec::new(),
            },
        ));
    }
    let end = Instant::now() + timeout + Duration::from_secs(5);
    let mut next_byte = Instant::now();
    let mut buf = [0u8; 4096];
    while Instant::now() < end && conns.iter().any(|(_, c)| c.closed.is_none()) {
        let tick = Instant::now() >= next_byte;
        if tick {
            next_byte += Duration::from_secs(1);
        }
        for (_, c) in &mut conns {
            if c.closed.is_some() {
                continue;
            }
            loop {
                match c.s.read(&mut buf) {
                    Ok(0) => {
                        c.closed = Some(Instant::now());
                        break;
                    }
                    Ok(n) => c.answer.extend_from_slice(&buf[..n]),
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                    Err(_) => {
                        c.closed = Some(Instant::now());
                        break;
                    }
                }
            }
            if tick && c.closed.is_none() && c.sent < c.data.len() {
                // The last byte is never sent: the request never completes.
                if c.sent + 1 < c.data.len() && c.s.write(&c.data[c.sent..=c.sent]).is_ok() {
                    c.sent += 1;
                }
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let limit = timeout + Duration::from_secs(3);
    for kind in [
        "WebSocket upgrade head at 1 byte/s",
        "admin body at 1 byte/s",
        "idle keep-alive after one request",
    ] {
        let group: Vec<&Slow> = conns
            .iter()
            .filter(|(k, _)| *k == kind)
            .map(|(_, c)| c)
            .collect();
        let open = group.iter().filter(|c| c.closed.is_none()).count();
        let late = group
            .iter()
            .filter(|c| c.closed.is_some_and(|t| t - c.opened > limit))
            .count();
        let answered: Vec<String> = group
            .iter()
            .filter_map(|c| {
                let a = String::from_utf8_lossy(&c.answer).into_owned();
                let first = a.lines().next().unwrap_or("").to_string();
                // The keep-alive one gets its 200 for the request it made.
                let expected = kind.starts_with("idle") && first.starts_with("HTTP/1.1 200");
                (!a.is_empty() && !expected && !first.contains(" 408")).then_some(first)
            })
            .collect();
        let slowest = group
            .iter()
            .filter_map(|c| c.closed.map(|t| t - c.opened))
            .max()
            .unwrap_or_default();
        ctx.check(
            format!(
                "slowloris: {} × {kind} → closed by the server within the handshake timeout ({} s) + 3 s, never served",
                group.len(),
                timeout.as_secs()
            ),
            open == 0 && late == 0 && answered.is_empty(),
            format!(
                "{open} still open, {late} closed late, slowest {:.1} s, unexpected answers {:?}",
                slowest.as_secs_f64(),
                answered.first()
            ),
        );
    }
    ctx.check_alive("slowloris: server alive");
    Ok(())
}

fn idle_flood(ctx: &mut Ctx<'_>) -> Result<(), String> {
    let timeout = handshake_timeout(ctx);
    // Upgraded Socket.IO clients that never speak again.
    let n_ws = ctx.scale(2000, 500);
    let before = ctx.pid().and_then(server::rss_kb);
    let mut ws = Vec::with_capacity(n_ws);
    let deadline = secs(30.0);
    for _ in 0..n_ws {
        match client::sio_connect(ctx.addr, deadline) {
            Ok(c) => ws.push(c),
            Err(e) => {
                ctx.check(
                    "idle: connect the idle Socket.IO clients",
                    false,
                    format!("after {}: {e}", ws.len()),
                );
                break;
            }
        }
    }
    std::thread::sleep(Duration::from_millis(500));
    let after = ctx.pid().and_then(server::rss_kb);
    if let (Some(b), Some(a)) = (before, after) {
        let per = (a.saturating_sub(b) as f64 * 1024.0) / ws.len().max(1) as f64;
        ctx.check(
            format!(
                "idle: {} idle Socket.IO connections → ≤ 8 KB of server RSS each",
                ws.len()
            ),
            per <= 8192.0,
            format!("{per:.0} B per connection"),
        );
    }
    drop(ws);
    std::thread::sleep(Duration::from_millis(500));
    // TCP connections that never send a byte.
    let n_tcp = ctx.scale(3000, 1000);
    let before = ctx.pid().and_then(server::rss_kb);
    let mut tcp = Vec::with_capacity(n_tcp);
    let opened = Instant::now();
    for _ in 0..n_tcp {
        match client::tcp(ctx.addr, Duration::from_secs(3)) {
            Ok(s) => {
                let _ = s.set_nonblocking(true);
                tcp.push((s, None::<Instant>));
            }
            Err(e) => {
                ctx.check(
                    "idle: open the silent TCP connections",
                    false,
                    format!("after {}: {e}", tcp.len()),
                );
                break;
            }
        }
    }
    std::thread::sleep(Duration::from_millis(500));
    let after = ctx.pid().and_then(server::rss_kb);
    if let (Some(b), Some(a)) = (before, after) {
        let per = (a.saturating_sub(b) as f64 * 1024.0) / tcp.len().max(1) as f64;
        ctx.check(
            format!(
                "idle: {} silent TCP connections → ≤ 8 KB of server RSS each",
                tcp.len()
            ),
            per <= 8192.0,
            format!("{per:.0} B per connection"),
        );
    }
    let end = opened + timeout + Duration::from_secs(4);
    let mut buf = [0u8; 64];
    let mut answered = 0;
    while Instant::now() < end && tcp.iter().any(|(_, c)| c.is_none()) {
        for (s, closed) in &mut tcp {
            if closed.is_some() {
                continue;
            }
            match s.read(&mut buf) {
                Ok(0) => *closed = Some(Instant::now()),
                Ok(_) => answered += 1,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(_) => *closed = Some(Instant::now()),
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let open = tcp.iter().filter(|(_, c)| c.is_none()).count();
    let slowest = tcp
        .iter()
        .filter_map(|(_, c)| c.map(|t| t - opened))
        .max()
        .unwrap_or_default();
    ctx.check(
        format!(
            "idle: {} silent TCP connections → closed within the handshake timeout ({} s) + 3 s, without an answer",
            tcp.len(),
            timeout.as_secs()
        ),
        open == 0 && answered == 0,
        format!("{open} still open, {answered} answered, last closed after {:.1} s", slowest.as_secs_f64()),
    );
    ctx.check_alive("idle: server alive");
    Ok(())
}

fn slow_consumer(ctx: &mut Ctx<'_>) -> Result<(), String> {
    let n_slow = 4;
    let total = ctx.scale(640, 400) as u64;
    let room = "flood";
    let deadline = secs(10.0);
    let mut slow = Vec::new();
    for _ in 0..n_slow {
        let c = client::sio_join(ctx.addr, room, deadline)?;
        let _ = c.stream.set_read_timeout(None);
        slow.push(c);
    }
    // A fast reader in the same room gets everything, in order. The publisher
    // stays at most 32 messages ahead of it, so that it is never a slow
    // consumer itself however busy the machine is.
    let fast = client::sio_join(ctx.addr, room, deadline)?;
    let progress = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let seen = progress.clone();
    let reader = std::thread::spawn(move || {
        let mut fast = fast;
        let mut next = 0u64;
        let mut bad = 0u64;
        let end = secs(60.0);
        while next < total {
            match fast.next_text(end) {
                Ok(t) => {
                    if let Some(rest) = t.strip_prefix(r#"42["f",{"s":"#) {
                        let s: u64 = rest
                            .split(',')
                            .next()
                            .and_then(|x| x.parse().ok())
                            .unwrap_or(u64::MAX);
                        if s == next {
                            next += 1;
                        } else {
                            bad += 1;
                            next = s + 1;
                        }
                        seen.store(next, std::sync::atomic::Ordering::Relaxed);
                    }
                }
                Err(e) => return (next, bad, Some(e)),
            }
        }
        (next, bad, None)
    });
    let m0 = server::metrics(ctx.addr)
        .and_then(|b| server::metric_sum(&b, "roomcast_slow_consumer_closes_total"))
        .unwrap_or(0.0);
    let mut publisher = client::sio_connect(ctx.addr, deadline)?;
    let pad = "x".repeat(64 * 1024);
    let window = 8u64;
    let mut sent = 0u64;
    let mut acked = 0u64;
    let mut ack_bad = 0u64;
    let end = secs(60.0);
    while acked < total && Instant::now() < end {
        let ahead =
            |sent: u64| sent.saturating_sub(progress.load(std::sync::atomic::Ordering::Relaxed));
        while sent < total && sent - acked < window && ahead(sent) < 32 {
            let pkt = client::request_packet(
                10 + sent,
                "post",
                "/sockets/broadcast",
                json!({"rooms": room, "event": "f", "data": {"s": sent, "x": pad}}),
            );
            publisher.send_text(&pkt)?;
            sent += 1;
        }
        if acked == sent {
            std::thread::sleep(Duration::from_millis(1));
            continue;
        }
        let a = publisher.wait_ack(10 + acked, end)?;
        if a.status != 200 {
            ack_bad += 1;
        }
        acked += 1;
    }
    ctx.check(
        format!("slow: {total} broadcasts of 64 KiB → all answered 200"),
        acked == total && ack_bad == 0,
        format!("{acked} answered, {ack_bad} not 200"),
    );
    let growth = ctx.rss_growth_mb().unwrap_or(0.0);
    ctx.check(
        format!(
            "slow: RSS growth with {n_slow} slow consumers ≤ 96 MB (outbound limit 8 MiB each)"
        ),
        growth <= 96.0,
        format!("{growth:.1} MB"),
    );
    // The server gives up on the slow ones.
    let wait_end = secs(10.0);
    let mut m1 = m0;
    while Instant::now() < wait_end {
        m1 = server::metrics(ctx.addr)
            .and_then(|b| server::metric_sum(&b, "roomcast_slow_consumer_closes_total"))
            .unwrap_or(m0);
        if m1 - m0 >= f64::from(n_slow) {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    ctx.check(
        format!("slow: roomcast_slow_consumer_closes_total grows by {n_slow}"),
        (m1 - m0) as u32 == n_slow,
        format!("{m0} → {m1}"),
    );
    for (i, c) in slow.iter_mut().enumerate() {
        let e = c.read_until_closed(secs(10.0), true);
        let floods = e
            .texts
            .iter()
            .filter(|t| t.starts_with(r#"42["f""#))
            .count() as u64;
        let close_ok = match &e.close {
            Some((code, reason)) => *code == 1008 && reason == "slow consumer",
            None => e.end != "timeout",
        };
        ctx.check(
            format!("slow: slow consumer {i} → closed (1008 \"slow consumer\" if a close frame fits), got fewer than {total}"),
            close_ok && floods < total && e.data_after_close == 0,
            format!("{floods} messages, {}", e.describe()),
        );
    }
    let (got, bad, err) = reader
        .join()
        .map_err(|_| "fast reader panicked".to_string())?;
    ctx.check(
        format!("slow: the fast reader in the same room got all {total} in order"),
        got == total && bad == 0 && err.is_none(),
        format!("{got} in order, {bad} out of order, {err:?}"),
    );
    ctx.check_alive("slow: server alive");
    Ok(())
}
