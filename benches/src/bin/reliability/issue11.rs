//! The attacks of issue 11 ("Harden: bounded resources and honest answers under
//! abuse"), each asserting the answer the issue asks for. Items the server does
//! not handle yet fail here, and are reported as such.

use std::io::Write;
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::attacks::secs;
use crate::client::{
    self, put_frame, Ack, Conn, Ending, Next, MASK, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG, OP_TEXT,
};
use crate::server::{self, HealthMode, Stdio2};
use crate::{Attack, Ctx, Setup};

pub fn attacks() -> Vec<Attack> {
    vec![
        Attack {
            id: "room-list-stall",
            title: "4 clients × 2 broadcasts naming 40 000 distinct rooms (default policy)",
            issue: "11.1",
            setup: |_| Setup::default(),
            run: room_list_stall,
        },
        Attack {
            id: "rooms-per-socket",
            title: "one socket joining 100 000 rooms",
            issue: "11.2",
            setup: |_| Setup::default(),
            run: rooms_per_socket,
        },
        Attack {
            id: "unfinished-binary",
            title: "10 connections: a packet announcing 10 attachments, nine of ~999 KB sent, never the tenth",
            issue: "11.3",
            setup: |short| {
                if short {
                    Setup::with_args(
                        &["--ping-interval-ms", "2000", "--ping-timeout-ms", "3000"],
                        "--short: `--ping-interval-ms 2000 --ping-timeout-ms 3000` so the ping timeout the issue names fires within the CI budget",
                    )
                } else {
                    Setup::default()
                }
            },
            run: unfinished_binary,
        },
        Attack {
            id: "unknown-socket-ids",
            title: "emit/join/leave naming stale, forged and malformed socket ids",
            issue: "11.4",
            setup: |_| {
                Setup::with_args(
                    &["--policy", "open"],
                    "`--policy open`: clients may `emit` and act on other sockets only under it (403 otherwise); the admin API is tested too",
                )
            },
            run: unknown_socket_ids,
        },
        Attack {
            id: "sails-parity",
            title: "broadcast/blast/emit/message/publish without `data`, empty event names",
            issue: "11.5",
            setup: |_| {
                Setup::with_args(
                    &["--policy", "open"],
                    "`--policy open`: `blast`, `emit` and pub/sub `message`/`publish` are refused with 403 for clients otherwise; the admin API is tested too",
                )
            },
            run: sails_parity,
        },
        Attack {
            id: "log-pipe-closed",
            title: "server stdout/stderr a pipe whose reader has exited",
            issue: "11.6",
            setup: |_| {
                let mut s = Setup::own("stdout and stderr are pipes held by the tool (closed here)");
                s.spec.stdio = Stdio2::Pipes;
                s
            },
            run: log_pipe_closed,
        },
        Attack {
            id: "log-pipe-stalled",
            title: "server stdout/stderr a pipe whose reader stalls",
            issue: "11.6",
            setup: |_| {
                let mut s = Setup::own("stdout and stderr are pipes held by the tool and never read");
                s.spec.stdio = Stdio2::Pipes;
                s
            },
            run: log_pipe_stalled,
        },
        Attack {
            id: "close-then-data",
            title: "no data frame after a close frame, on every close path, while broadcasts flow",
            issue: "11.7",
            setup: |_| {
                Setup::with_args(
                    &["--ping-interval-ms", "1000", "--ping-timeout-ms", "1000"],
                    "`--ping-interval-ms 1000 --ping-timeout-ms 1000` so the ping-timeout close path is exercised within seconds",
                )
            },
            run: close_then_data,
        },
        Attack {
            id: "sigterm-shutdown",
            title: "SIGTERM with clients connected and broadcasts flowing",
            issue: "11.7",
            setup: |_| {
                Setup::own("the tool sends SIGTERM to the server it started")
            },
            run: sigterm_shutdown,
        },
        Attack {
            id: "cross-worker-burst",
            title: "bursts of cross-worker operations: pipelined broadcasts, admin joins/leaves, ordering",
            issue: "11.8",
            setup: |_| Setup::default(),
            run: cross_worker_burst,
        },
        Attack {
            id: "fd-exhaustion",
            title: "open connections until the server hits its fd limit (ulimit -n 256)",
            issue: "11.10",
            setup: |_| {
                let mut s = Setup::own("started under `ulimit -n 256`; /health is probed on one keep-alive connection (a new connection is expected to wait while descriptors are exhausted)");
                s.spec.nofile = Some(256);
                s.health = HealthMode::KeepAlive;
                s
            },
            run: fd_exhaustion,
        },
    ]
}

/// "A 400 naming the limit": the message mentions the limit's key or its value.
fn names_limit(a: &Ack, key: &str, value: u64) -> bool {
    let m = a.message();
    let grouped = {
        let s = value.to_string();
        let mut out = String::new();
        for (i, ch) in s.chars().enumerate() {
            if i > 0 && (s.len() - i) % 3 == 0 {
                out.push(',');
            }
            out.push(ch);
        }
        out
    };
    a.status == 400
        && a.error() == "E_BAD_REQUEST"
        && (m.contains(key) || m.contains(&value.to_string()) || m.contains(&grouped))
}

// ----- 11.1 ----------------------------------------------------------------------------

fn room_list_stall(ctx: &mut Ctx<'_>) -> Result<(), String> {
    let clients = 4;
    let per = if ctx.short { 1 } else { 2 };
    let rooms = 40_000;
    let addr = ctx.addr;
    let wait = Duration::from_secs(if ctx.short { 30 } else { 60 });
    let t0 = Instant::now();
    let handles: Vec<_> = (0..clients)
        .map(|c| {
            std::thread::spawn(move || -> Vec<Result<(Ack, f64), String>> {
                let deadline = Instant::now() + wait;
                let mut conn = match client::sio_connect(addr, deadline) {
                    Ok(x) => x,
                    Err(e) => return vec![Err(e)],
                };
                let t = Instant::now();
                for k in 0..per {
                    let list: Vec<String> = (0..rooms).map(|i| format!("s{c}{k}-{i}")).collect();
                    let pkt = client::request_packet(
                        k as u64 + 1,
                        "post",
                        "/sockets/broadcast",
                        json!({"rooms": list, "event": "stall", "data": {"c": c}}),
                    );
                    if let Err(e) = conn.send_text(&pkt) {
                        return vec![Err(e)];
                    }
                }
                (0..per)
                    .map(|k| {
                        conn.wait_ack(k as u64 + 1, deadline)
                            .map(|a| (a, t.elapsed().as_secs_f64()))
                    })
                    .collect()
            })
        })
        .collect();
    let mut results = Vec::new();
    for h in handles {
        results.extend(h.join().map_err(|_| "client thread panicked".to_string())?);
    }
    let took = t0.elapsed().as_secs_f64();
    let mut refused = 0;
    let mut firsts = Vec::new();
    for r in &results {
        match r {
            Ok((a, _)) if names_limit(a, "max_rooms_per_op", 1000) => refused += 1,
            Ok((a, t)) => firsts.push(format!("{} after {t:.1} s", a.brief())),
            Err(e) => firsts.push(e.clone()),
        }
    }
    ctx.check(
        format!("{} broadcasts naming {rooms} rooms → 400 E_BAD_REQUEST naming the limit (max_rooms_per_op, 1000)", results.len()),
        refused == results.len(),
        format!("{refused} refused; {} (all answered within {took:.1} s)", firsts.first().cloned().unwrap_or_default()),
    );
    // At the limit: accepted.
    let r = (|| -> Result<Ack, String> {
        let mut c = client::sio_connect(addr, secs(10.0))?;
        let list: Vec<String> = (0..1000).map(|i| format!("ok-{i}")).collect();
        c.request(
            1,
            "post",
            "/sockets/broadcast",
            json!({"rooms": list, "data": 1}),
            secs(30.0),
        )
    })();
    let (ok, d) = match &r {
        Ok(a) => (a.status == 200, a.brief()),
        Err(e) => (false, e.clone()),
    };
    ctx.check("a broadcast naming exactly 1000 rooms → 200", ok, d);
    // The admin API is bounded by the payload size only, and must not stall either.
    let list: Vec<String> = (0..rooms).map(|i| format!("adm-{i}")).collect();
    let body = json!({"rooms": list, "event": "stall", "data": 1}).to_string();
    let t = Instant::now();
    let r = client::admin(addr, &ctx.token, "POST", "/api/sockets/broadcast", &body);
    let ms = t.elapsed().as_secs_f64() * 1e3;
    let (ok, d) = match &r {
        Ok((st, b)) => (*st == 200, format!("{st} {b} in {ms:.0} ms")),
        Err(e) => (false, e.clone()),
    };
    ctx.check(
        format!(
            "admin API broadcast naming {rooms} rooms → 200 (bounded by the payload size only)"
        ),
        ok,
        d,
    );
    ctx.check_alive("server alive");
    Ok(())
}

// ----- 11.2 ----------------------------------------------------------------------------

fn rooms_per_socket(ctx: &mut Ctx<'_>) -> Result<(), String> {
    let n = ctx.scale(100_000, 12_000);
    let limit = 10_000usize;
    let window = 256usize;
    let mut c = client::sio_connect(ctx.addr, secs(10.0))?;
    let end = secs(if ctx.short { 40.0 } else { 180.0 });
    let mut statuses: Vec<u16> = vec![0; n];
    let mut first_refusal: Option<(usize, Ack)> = None;
    let mut bad_refusal: Option<Ack> = None;
    let mut sent = 0usize;
    let mut answered = 0usize;
    let rss0 = ctx.pid().and_then(server::rss_kb);
    while answered < n && Instant::now() < end {
        let mut batch = String::new();
        let mut frames = Vec::new();
        while sent < n && sent - answered < window {
            batch.clear();
            batch.push_str(&client::request_packet(
                sent as u64 + 1,
                "post",
                "/sockets/join",
                json!({ "room": format!("many-{sent}") }),
            ));
            put_frame(&mut frames, 0x80 | OP_TEXT, batch.as_bytes(), Some(MASK));
            sent += 1;
        }
        if !frames.is_empty() {
            c.send_raw(&frames)?;
        }
        let t = match c.next_text(end) {
            Ok(t) => t,
            Err(e) => {
                ctx.check(
                    "the joining socket stays connected",
                    false,
                    format!("after {answered} answers: {e}"),
                );
                break;
            }
        };
        let Some(rest) = t.strip_prefix("43") else {
            continue;
        };
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        let id: usize = digits.parse().unwrap_or(0);
        if id == 0 || id > n {
            continue;
        }
        let a = client::parse_ack(&t, id as u64)?;
        statuses[id - 1] = a.status as u16;
        if a.status != 200 {
            if first_refusal.is_none() {
                first_refusal = Some((id - 1, a.clone()));
            }
            if !names_limit(&a, "max_rooms_per_socket", limit as u64) && bad_refusal.is_none() {
                bad_refusal = Some(a);
            }
        }
        answered += 1;
    }
    let ok200 = statuses.iter().filter(|&&s| s == 200).count();
    let rss1 = ctx.pid().and_then(server::rss_kb);
    if let (Some(a), Some(b)) = (rss0, rss1) {
        let grown = b.saturating_sub(a) as f64 * 1024.0;
        ctx.note(format!(
            "{ok200} joins accepted; server RSS grew {:.1} MB ({:.0} B per accepted membership)",
            grown / 1048576.0,
            grown / ok200.max(1) as f64
        ));
    }
    ctx.check(
        format!("{n} joins → {answered} answered"),
        answered == n,
        format!("{answered} answered"),
    );
    ctx.check(
        format!(
            "joins beyond max_rooms_per_socket ({limit}) are refused: at most {limit} accepted"
        ),
        (limit - 1..=limit).contains(&ok200),
        format!(
            "{ok200} accepted; first refusal {}",
            first_refusal
                .as_ref()
                .map_or("none".into(), |(i, a)| format!(
                    "at join {}: {}",
                    i + 1,
                    a.brief()
                ))
        ),
    );
    ctx.check(
        "every refusal is 400 E_BAD_REQUEST naming the limit",
        bad_refusal.is_none() && first_refusal.is_some(),
        bad_refusal.map_or_else(|| "no refusal at all".to_string(), |a| a.brief()),
    );
    let r = c.alive(999_999_999);
    ctx.check(
        "the socket is still usable",
        r.is_ok(),
        r.err().unwrap_or_default(),
    );
    let r = c.request(
        999_999_998,
        "post",
        "/sockets/join",
        json!({"room": "n".repeat(257)}),
        secs(5.0),
    );
    let (ok, d) = match &r {
        Ok(a) => (a.status == 400 && a.error() == "E_BAD_REQUEST", a.brief()),
        Err(e) => (false, e.clone()),
    };
    ctx.check(
        "a room name of 257 bytes (max_room_name_len 256) → 400 E_BAD_REQUEST",
        ok,
        d,
    );
    ctx.check_alive("server alive");
    Ok(())
}

// ----- 11.3 ----------------------------------------------------------------------------

fn unfinished_binary(ctx: &mut Ctx<'_>) -> Result<(), String> {
    let conns_n = 10;
    let ping_timeout = Duration::from_secs(if ctx.short { 3 } else { 20 });
    let mut conns = Vec::new();
    for _ in 0..conns_n {
        conns.push(client::sio_connect(ctx.addr, secs(10.0))?);
    }
    let header = {
        let ph: Vec<String> = (0..10)
            .map(|i| format!(r#"{{"_placeholder":true,"num":{i}}}"#))
            .collect();
        format!(r#"4510-["upload",{}]"#, ph.join(","))
    };
    let attachment = {
        let mut v = Vec::new();
        put_frame(&mut v, 0x80 | OP_BINARY, &vec![0xAB; 999_000], Some(MASK));
        v
    };
    let mut write_failed = vec![None::<String>; conns_n];
    for (i, c) in conns.iter_mut().enumerate() {
        let _ = c.stream.set_write_timeout(Some(Duration::from_secs(10)));
        if let Err(e) = c.send_text(&header) {
            write_failed[i] = Some(e);
            continue;
        }
        for k in 0..9 {
            if let Err(e) = c.send_raw(&attachment) {
                write_failed[i] = Some(format!("attachment {}: {e}", k + 1));
                break;
            }
        }
    }
    let sent_at = Instant::now();
    std::thread::sleep(Duration::from_millis(500));
    let growth = ctx.rss_growth_mb().unwrap_or(0.0);
    // Hold, answering pings, until the server closes them or the ping timeout
    // (plus 5 s) has passed.
    let margin = Duration::from_secs(if ctx.short { 3 } else { 5 });
    let hold_until = sent_at + ping_timeout + margin;
    let mut endings: Vec<Option<(Ending, f64)>> = vec![None; conns_n];
    while Instant::now() < hold_until && endings.iter().any(Option::is_none) {
        for (i, c) in conns.iter_mut().enumerate() {
            if endings[i].is_some() {
                continue;
            }
            match c.next_frame(Instant::now() + Duration::from_millis(20)) {
                Next::Frame(f) if f.opcode == OP_TEXT && f.text() == Some("2") => {
                    let _ = c.send_text("3");
                }
                Next::Frame(f) if f.opcode == OP_PING => {
                    let _ = c.send_frame(OP_PONG, &f.payload);
                }
                Next::Frame(f) if f.opcode == OP_CLOSE => {
                    let e = Ending {
                        close: Some((f.close_code(), f.close_reason())),
                        end: "close".into(),
                        ..Ending::default()
                    };
                    endings[i] = Some((e, sent_at.elapsed().as_secs_f64()));
                }
                Next::Frame(_) | Next::Timeout => {}
                Next::Eof | Next::Error(_) => {
                    let e = Ending {
                        end: "eof".into(),
                        ..Ending::default()
                    };
                    endings[i] = Some((e, sent_at.elapsed().as_secs_f64()));
                }
            }
        }
    }
    let held = endings.iter().filter(|e| e.is_none()).count();
    let good = endings
        .iter()
        .filter(|e| matches!(e, Some((end, _)) if matches!(end.code(), Some(1008 | 1009))))
        .count();
    let example = endings
        .iter()
        .flatten()
        .find(|(e, _)| !matches!(e.code(), Some(1008 | 1009)))
        .map(|(e, t)| format!("{} after {t:.1} s", e.describe()));
    ctx.check(
        format!(
            "{conns_n} unfinished binary packets → each connection closed 1009/1008 within the ping timeout ({} s) + {} s",
            ping_timeout.as_secs(),
            margin.as_secs()
        ),
        good == conns_n,
        format!(
            "{good} closed 1008/1009, {held} still held after {:.0} s while answering pings{}{}",
            (hold_until - sent_at).as_secs_f64(),
            example.map_or(String::new(), |e| format!("; other: {e}")),
            write_failed
                .iter()
                .flatten()
                .next()
                .map_or(String::new(), |e| format!("; write failed: {e}"))
        ),
    );
    ctx.check(
        "pending attachments count against max_payload: RSS growth ≤ 30 MB (10 × 1 MB + overhead)",
        growth <= 30.0,
        format!("{growth:.1} MB pinned (9 × 999 KB sent on each of {conns_n} connections)"),
    );
    drop(conns);
    ctx.check_alive("server alive");
    Ok(())
}

// ----- 11.4 ----------------------------------------------------------------------------

/// `id` with the character at `pos` changed: the same layout, no live socket.
/// Position 23 lies in the token, 12 in the generation, 7 in the slot.
fn forge(id: &str, pos: usize) -> String {
    let mut chars: Vec<char> = id.chars().collect();
    if let Some(c) = chars.get_mut(pos) {
        *c = if *c == 'A' { 'B' } else { 'A' };
    }
    chars.into_iter().collect()
}

fn expect_unknown(ctx: &mut Ctx<'_>, name: &str, r: Result<(u64, Value), String>, id: &str) {
    let (ok, d) = match &r {
        Ok((st, b)) => (
            *st == 404 && b["error"] == "E_UNKNOWN_SOCKET" && b["unknown"] == json!([id]),
            format!("{st} {b}"),
        ),
        Err(e) => (false, e.clone()),
    };
    ctx.check(
        format!("{name} → 404 E_UNKNOWN_SOCKET with unknown: [id]"),
        ok,
        format!("got {d}"),
    );
}

/// Connects clients until one sits on `shard`.
fn connect_on_shard(
    addr: std::net::SocketAddr,
    shard: u16,
    spare: &mut Vec<Conn>,
) -> Result<Conn, String> {
    if let Some(i) = spare
        .iter()
        .position(|c| client::id_parts(&c.sid).map(|p| p.0) == Some(shard))
    {
        return Ok(spare.remove(i));
    }
    for _ in 0..16 {
        let c = client::sio_connect(addr, secs(10.0))?;
        if client::id_parts(&c.sid).map(|p| p.0) == Some(shard) {
            return Ok(c);
        }
        spare.push(c);
    }
    Err(format!("no connection landed on worker {shard}"))
}

fn unknown_socket_ids(ctx: &mut Ctx<'_>) -> Result<(), String> {
    let addr = ctx.addr;
    let token = ctx.token.clone();
    let mut spare = Vec::new();
    // A requester and a live target on each worker, so that every pair crosses
    // workers or stays on one.
    let mut req = Vec::new();
    let mut live = Vec::new();
    for shard in 0..2u16 {
        req.push(connect_on_shard(addr, shard, &mut spare)?);
        live.push(connect_on_shard(addr, shard, &mut spare)?);
    }
    // Stale ids: sockets that left; new clients then connect (and may take over
    // their slots, as after a reconnect).
    let mut stale = Vec::new();
    for shard in 0..2u16 {
        let mut c = connect_on_shard(addr, shard, &mut spare)?;
        let sid = c.sid.clone();
        let _ = c.send_frame(OP_CLOSE, &client::close_payload(1000, b""));
        let _ = c.read_until_closed(secs(5.0), false);
        let end = secs(5.0);
        while Instant::now() < end {
            match client::admin(addr, &token, "GET", &format!("/api/sockets/{sid}"), "") {
                Ok((200, _)) => std::thread::sleep(Duration::from_millis(20)),
                _ => break,
            }
        }
        stale.push(sid);
    }
    let mut reused = 0;
    for _ in 0..4 {
        let c = client::sio_connect(addr, secs(10.0))?;
        let parts = client::id_parts(&c.sid);
        if stale.iter().any(|s| client::id_parts(s) == parts) {
            reused += 1;
        }
        spare.push(c);
    }
    ctx.note(format!(
        "{reused} of the stale ids' slots were taken by new sockets"
    ));
    let mut ids: Vec<(String, String)> = Vec::new();
    for (w, s) in stale.iter().enumerate() {
        ids.push((format!("a stale id (worker {w})"), s.clone()));
    }
    for (w, l) in live.iter().enumerate() {
        ids.push((
            format!("a forged id: live id with a token character changed (worker {w})"),
            forge(&l.sid, 23),
        ));
        ids.push((
            format!("a forged id: live id with a generation character changed (worker {w})"),
            forge(&l.sid, 12),
        ));
        ids.push((
            format!("a forged id: live id with a slot character changed (worker {w})"),
            forge(&l.sid, 7),
        ));
    }
    ids.push(("a malformed id".into(), "not-a-socket-id".into()));
    ids.push(("an id of 24 A's (zero token)".into(), "A".repeat(24)));
    ids.push(("an id of 25 characters".into(), format!("{}x", live[0].sid)));
    let mut ack_id = 10u64;
    for (what, id) in &ids {
        let admin = |method: &str, route: &str, body: Value| -> Result<(u64, Value), String> {
            client::admin(addr, &token, method, route, &body.to_string())
                .map(|(s, b)| (u64::from(s), b))
        };
        expect_unknown(
            ctx,
            &format!("admin emit to {what}"),
            admin(
                "POST",
                "/api/sockets/emit",
                json!({"socketIds": [id], "data": 1}),
            ),
            id,
        );
        expect_unknown(
            ctx,
            &format!("admin join of {what}"),
            admin(
                "POST",
                "/api/sockets/join",
                json!({"socketId": id, "room": "r"}),
            ),
            id,
        );
        expect_unknown(
            ctx,
            &format!("admin leave of {what}"),
            admin(
                "POST",
                "/api/sockets/leave",
                json!({"socketId": id, "room": "r"}),
            ),
            id,
        );
        expect_unknown(
            ctx,
            &format!("admin GET /api/sockets/:id of {what}"),
            admin("GET", &format!("/api/sockets/{id}"), Value::Null),
            id,
        );
        for (w, r) in req.iter_mut().enumerate() {
            for (route, body) in [
                ("/sockets/emit", json!({"socketIds": [id], "data": 1})),
                ("/sockets/join", json!({"socketId": id, "room": "r"})),
                ("/sockets/leave", json!({"socketId": id, "room": "r"})),
            ] {
                ack_id += 1;
                let res = r
                    .request(ack_id, "post", route, body, secs(5.0))
                    .map(|a| (a.status, a.body));
                expect_unknown(
                    ctx,
                    &format!("socket request {route} from worker {w} naming {what}"),
                    res,
                    id,
                );
            }
        }
    }
    // A mixed emit sends nothing, not even to the live sockets.
    let forged = forge(&live[1].sid, 23);
    let r = client::admin(
        addr,
        &token,
        "POST",
        "/api/sockets/emit",
        &json!({"socketIds": [live[0].sid, live[1].sid, forged], "data": "mixed"}).to_string(),
    )
    .map(|(s, b)| (u64::from(s), b));
    expect_unknown(ctx, "admin emit to [live, live, forged]", r, &forged);
    for (w, l) in live.iter_mut().enumerate() {
        let r = l.alive(5);
        let got_mixed = l.backlog.iter().any(|t| t.contains("mixed"));
        ctx.check(
            format!("…and the live socket on worker {w} receives nothing"),
            r.is_ok() && !got_mixed,
            format!("{:?}, received {:?}", r.err(), l.backlog),
        );
        l.backlog.clear();
    }
    // Controls: live ids work, across workers too.
    for w in 0..2 {
        let sid = live[w].sid.clone();
        let r = client::admin(
            addr,
            &token,
            "POST",
            "/api/sockets/emit",
            &json!({"socketIds": [sid], "event": "hi", "data": w}).to_string(),
        );
        let got = live[w].next_text(secs(5.0));
        ctx.check(
            format!("control: admin emit to the live id on worker {w} → 200 and delivered"),
            matches!(&r, Ok((200, _))) && got.as_deref() == Ok(format!(r#"42["hi",{w}]"#).as_str()),
            format!("{r:?}, received {got:?}"),
        );
        ack_id += 1;
        let r = req[1 - w].request(
            ack_id,
            "post",
            "/sockets/join",
            json!({"socketId": sid, "room": "r"}),
            secs(5.0),
        );
        ctx.check(
            format!(
                "control: a socket on worker {} joins the live id on worker {w} → 200",
                1 - w
            ),
            matches!(&r, Ok(a) if a.status == 200),
            format!("{:?}", r.map(|a| a.brief())),
        );
    }
    drop(spare);
    ctx.check_alive("server alive");
    Ok(())
}

// ----- 11.5 ----------------------------------------------------------------------------

fn sails_parity(ctx: &mut Ctx<'_>) -> Result<(), String> {
    let addr = ctx.addr;
    let token = ctx.token.clone();
    let target = client::sio_connect(addr, secs(10.0))?;
    let mut req = client::sio_connect(addr, secs(10.0))?;
    let tid = target.sid.clone();
    let cases: Vec<(&str, &str, Value, u64)> = vec![
        (
            "broadcast without data",
            "/sockets/broadcast",
            json!({"rooms": "r"}),
            400,
        ),
        (
            "broadcast with an empty event",
            "/sockets/broadcast",
            json!({"rooms": "r", "event": "", "data": 1}),
            400,
        ),
        ("blast without data", "/sockets/blast", json!({}), 400),
        (
            "blast with no body at all",
            "/sockets/blast",
            Value::Null,
            400,
        ),
        (
            "blast with an empty event",
            "/sockets/blast",
            json!({"event": "", "data": 1}),
            400,
        ),
        (
            "emit without data",
            "/sockets/emit",
            json!({"socketIds": [tid]}),
            400,
        ),
        (
            "emit with an empty event",
            "/sockets/emit",
            json!({"socketIds": [tid], "event": "", "data": 1}),
            400,
        ),
        (
            "pub/sub message without data",
            "/pubsub/user/message",
            json!({"id": 1}),
            400,
        ),
        (
            "pub/sub publish without data",
            "/pubsub/user/publish",
            json!({"ids": [1]}),
            400,
        ),
        (
            "control: broadcast with data",
            "/sockets/broadcast",
            json!({"rooms": "r", "data": 1}),
            200,
        ),
        (
            "control: blast with data",
            "/sockets/blast",
            json!({"event": "b", "data": 1}),
            200,
        ),
        (
            "control: emit with data",
            "/sockets/emit",
            json!({"socketIds": [tid], "data": 1}),
            200,
        ),
        (
            "control: message with data",
            "/pubsub/user/message",
            json!({"id": 1, "data": {"a": 1}}),
            200,
        ),
        (
            "control: publish with data",
            "/pubsub/user/publish",
            json!({"ids": [1], "data": {"a": 1}}),
            200,
        ),
    ];
    let mut id = 100u64;
    for (name, route, body, status) in &cases {
        id += 1;
        let r = req.request(id, "post", route, body.clone(), secs(5.0));
        let (ok, d) = match &r {
            Ok(a) => (
                a.status == *status && (*status == 200 || a.error() == "E_BAD_REQUEST"),
                a.brief(),
            ),
            Err(e) => (false, e.clone()),
        };
        let want = if *status == 200 {
            "200".to_string()
        } else {
            "400 E_BAD_REQUEST".to_string()
        };
        ctx.check(
            format!("socket request: {name} → {want}"),
            ok,
            format!("got {d}"),
        );
        req.backlog.clear();
    }
    let admin_cases: Vec<(&str, &str, Value, u16)> = vec![
        (
            "broadcast without data",
            "/api/sockets/broadcast",
            json!({"rooms": "r"}),
            400,
        ),
        (
            "broadcast with an empty event",
            "/api/sockets/broadcast",
            json!({"rooms": "r", "event": "", "data": 1}),
            400,
        ),
        ("blast without data", "/api/sockets/blast", json!({}), 400),
        (
            "blast with an empty event",
            "/api/sockets/blast",
            json!({"event": "", "data": 1}),
            400,
        ),
        (
            "emit without data",
            "/api/sockets/emit",
            json!({"socketIds": [tid]}),
            400,
        ),
        (
            "emit with an empty event",
            "/api/sockets/emit",
            json!({"socketIds": [tid], "event": "", "data": 1}),
            400,
        ),
        (
            "pub/sub message without data",
            "/api/pubsub/user/message",
            json!({"id": 1}),
            400,
        ),
        (
            "pub/sub publish without data",
            "/api/pubsub/user/publish",
            json!({"ids": [1]}),
            400,
        ),
        (
            "control: broadcast with data",
            "/api/sockets/broadcast",
            json!({"rooms": "r", "data": 1}),
            200,
        ),
        (
            "control: blast with data",
            "/api/sockets/blast",
            json!({"event": "b", "data": 1}),
            200,
        ),
    ];
    for (name, route, body, status) in &admin_cases {
        let r = client::admin(addr, &token, "POST", route, &body.to_string());
        let (ok, d) = match &r {
            Ok((st, b)) => (
                st == status && (*status == 200 || b["error"] == "E_BAD_REQUEST"),
                format!("{st} {b}"),
            ),
            Err(e) => (false, e.clone()),
        };
        let want = if *status == 200 {
            "200".to_string()
        } else {
            "400 E_BAD_REQUEST".to_string()
        };
        ctx.check(format!("admin: {name} → {want}"), ok, format!("got {d}"));
    }
    drop(target);
    ctx.check_alive("server alive");
    Ok(())
}

// ----- 11.6 ----------------------------------------------------------------------------

/// Makes the server log: connections that break the protocol (each logged at
/// `info`). Returns how many were refused as expected.
fn provoke_logs(addr: std::net::SocketAddr, n: usize, until: Instant) -> (usize, usize) {
    let mut done = 0;
    let mut failed = 0;
    for i in 0..n {
        if Instant::now() >= until {
            break;
        }
        let deadline = (Instant::now() + Duration::from_secs(1))
            .min(until.max(Instant::now() + Duration::from_millis(200)));
        match client::sio_connect(addr, deadline) {
            Ok(mut c) => {
                let bad: Vec<u8> = if i % 2 == 0 {
                    client::frame(OP_TEXT, b"4x")
                } else {
                    let mut v = Vec::new();
                    put_frame(&mut v, 0x81, b"40", None);
                    v
                };
                let _ = c.send_raw(&bad);
                done += 1;
            }
            Err(_) => failed += 1,
        }
    }
    (done, failed)
}

/// SIGTERM, then the exit within `limit`: the check the issue asks for.
fn sigterm_exits_zero(ctx: &mut Ctx<'_>, name: &str, limit: Duration) {
    ctx.end_measurements();
    let Some(s) = ctx.server.as_mut() else {
        return;
    };
    if let Some(st) = s.poll_exit() {
        let d = format!(
            "the server had already ended: {}",
            server::describe_exit(st)
        );
        ctx.server_ended = true;
        ctx.check(name, false, d);
        return;
    }
    let t = Instant::now();
    s.signal(libc::SIGTERM);
    let st = s.wait_exit(limit);
    ctx.server_ended = true;
    let (ok, d) = match st {
        Some(st) => (
            st.code() == Some(0),
            format!(
                "{} after {} ms",
                server::describe_exit(st),
                t.elapsed().as_millis()
            ),
        ),
        None => (
            false,
            format!("still running {} ms after SIGTERM", limit.as_millis()),
        ),
    };
    ctx.check(name, ok, d);
}

fn log_pipe_closed(ctx: &mut Ctx<'_>) -> Result<(), String> {
    let Some(s) = ctx.server.as_mut() else {
        return Err("needs its own server".into());
    };
    // The reader exits: close our read ends.
    drop(s.stdout.take());
    drop(s.stderr.take());
    let (done, failed) = provoke_logs(ctx.addr, 40, secs(10.0));
    ctx.note(format!(
        "{done} protocol errors provoked ({failed} connections refused)"
    ));
    std::thread::sleep(Duration::from_millis(500));
    let exit = ctx.server.as_mut().and_then(|s| s.poll_exit());
    ctx.check(
        "with no pipe reader, the next log lines do not kill the server",
        exit.is_none(),
        exit.map_or("running".into(), |st| {
            format!("server ended: {}", server::describe_exit(st))
        }),
    );
    let r = client::sio_connect(ctx.addr, secs(3.0)).and_then(|mut c| c.alive(1));
    ctx.check(
        "a new client is served",
        r.is_ok(),
        r.err().unwrap_or_default(),
    );
    ctx.check_alive("/health answers");
    sigterm_exits_zero(
        ctx,
        "SIGTERM with the pipe closed → exit 0 within 5 s",
        Duration::from_secs(5),
    );
    Ok(())
}

fn log_pipe_stalled(ctx: &mut Ctx<'_>) -> Result<(), String> {
    // The pipes are held and never read: once the kernel's pipe buffer is full,
    // every write the server makes to them blocks.
    let stall_for = Duration::from_secs(if ctx.short { 3 } else { 10 });
    let addr = ctx.addr;
    let stop = Arc::new(AtomicBool::new(false));
    let provoked = Arc::new(AtomicU64::new(0));
    let (st, pv) = (stop.clone(), provoked.clone());
    let until = Instant::now() + stall_for;
    let provoker = std::thread::spawn(move || {
        while !st.load(Ordering::Relaxed) && Instant::now() < until {
            let (d, _) = provoke_logs(addr, 50, until);
            pv.fetch_add(d as u64, Ordering::Relaxed);
        }
    });
    // Meanwhile: new clients must be served.
    let mut probes = 0;
    let mut probe_failures = Vec::new();
    let mut worst = 0.0f64;
    std::thread::sleep(Duration::from_millis(500));
    while Instant::now() < until {
        let t = Instant::now();
        let r = client::sio_connect(addr, secs(2.0)).and_then(|mut c| c.alive(1));
        let ms = t.elapsed().as_secs_f64() * 1e3;
        worst = worst.max(ms);
        probes += 1;
        if let Err(e) = r {
            probe_failures.push(format!("{e} after {ms:.0} ms"));
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    stop.store(true, Ordering::Relaxed);
    let _ = provoker.join();
    ctx.note(format!(
        "{} protocol errors provoked in {} s with the log pipe unread",
        provoked.load(Ordering::Relaxed),
        stall_for.as_secs()
    ));
    ctx.check(
        "with the log reader stalled, new clients connect and get answers within 2 s",
        probe_failures.is_empty(),
        format!(
            "{} of {probes} probes failed (worst {worst:.0} ms): {}",
            probe_failures.len(),
            probe_failures.first().cloned().unwrap_or_default()
        ),
    );
    let exit = ctx.server.as_mut().and_then(|s| s.poll_exit());
    ctx.check(
        "the server is still running",
        exit.is_none(),
        exit.map_or("running".into(), server::describe_exit),
    );
    sigterm_exits_zero(
        ctx,
        "SIGTERM with the log reader stalled → exit 0 within 5 s",
        Duration::from_secs(5),
    );
    // Unblock whatever is left (the pipes close with the tool's ends).
    if let Some(s) = ctx.server.as_mut() {
        drop(s.stdout.take());
        drop(s.stderr.take());
        s.kill();
    }
    Ok(())
}

// ----- 11.7 ----------------------------------------------------------------------------

/// Broadcasts to `room` as fast as acks allow until `stop`.
fn flood_room(
    addr: std::net::SocketAddr,
    room: &'static str,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<u64> {
    std::thread::spawn(move || {
        let Ok(mut c) = client::sio_connect(addr, secs(10.0)) else {
            return 0;
        };
        let pad = "p".repeat(512);
        let mut sent = 0u64;
        let mut acked = 0u64;
        while !stop.load(Ordering::Relaxed) {
            while sent - acked < 32 {
                let pkt = client::request_packet(
                    sent + 1,
                    "post",
                    "/sockets/broadcast",
                    json!({"rooms": room, "event": "flow", "data": {"s": sent, "x": pad}}),
                );
                if c.send_text(&pkt).is_err() {
                    return sent;
                }
                sent += 1;
            }
            if c.wait_ack(acked + 1, secs(5.0)).is_err() {
                return sent;
            }
            acked += 1;
            c.backlog.clear();
        }
        sent
    })
}

fn close_then_data(ctx: &mut Ctx<'_>) -> Result<(), String> {
    let addr = ctx.addr;
    let stop = Arc::new(AtomicBool::new(false));
    let flooder = flood_room(addr, "flow", stop.clone());
    let per = ctx.scale(5, 3);
    type Trigger = fn(&mut Conn);
    let paths: Vec<(&str, Trigger, &[u16])> = vec![
        (
            "client close 1000",
            |c| {
                let _ = c.send_frame(OP_CLOSE, &client::close_payload(1000, b"bye"));
            },
            &[1000],
        ),
        (
            "Engine.IO close packet `1`",
            |c| {
                let _ = c.send_text("1");
            },
            &[1000],
        ),
        (
            "malformed packet `4x`",
            |c| {
                let _ = c.send_text("4x");
            },
            &[1008],
        ),
        (
            "unmasked frame",
            |c| {
                let mut v = Vec::new();
                put_frame(&mut v, 0x81, b"42[\"x\"]", None);
                let _ = c.send_raw(&v);
            },
            &[1002],
        ),
        (
            "ping timeout (pings left unanswered)",
            |c| {
                c.auto_pong = false;
            },
            &[1000],
        ),
        (
            "invalid UTF-8",
            |c| {
                let _ = c.send_frame(OP_TEXT, b"42[\"\xff\"]");
            },
            &[1007],
        ),
    ];
    // Every client of every path at once, in a room where broadcasts flow.
    let mut handles = Vec::new();
    for (pi, (_, trigger, _)) in paths.iter().enumerate() {
        for _ in 0..per {
            let trigger = *trigger;
            handles.push((
                pi,
                std::thread::spawn(move || -> Result<Ending, String> {
                    let mut c = client::sio_join(addr, "flow", secs(10.0))?;
                    let mut seen = 0;
                    while seen < 5 {
                        let t = c.next_text(secs(5.0))?;
                        if t.starts_with("42[\"flow\"") {
                            seen += 1;
                        }
                    }
                    trigger(&mut c);
                    // Do not answer the server's close: it keeps the connection for
                    // its close timeout while broadcasts are still fanned out.
                    Ok(c.read_until_closed(secs(8.0), false))
                }),
            ));
        }
    }
    let mut results: Vec<Vec<Result<Ending, String>>> = vec![Vec::new(); paths.len()];
    for (pi, h) in handles {
        results[pi].push(
            h.join()
                .unwrap_or_else(|_| Err("client thread panicked".into())),
        );
    }
    stop.store(true, Ordering::Relaxed);
    let sent = flooder.join().unwrap_or(0);
    for ((name, _, codes), rs) in paths.iter().zip(&results) {
        let after: Vec<usize> = rs
            .iter()
            .filter_map(|r| r.as_ref().ok())
            .map(|e| e.data_after_close)
            .collect();
        let bad = after.iter().filter(|&&n| n > 0).count();
        let errors: Vec<&String> = rs.iter().filter_map(|r| r.as_ref().err()).collect();
        ctx.check(
            format!("{name}: no data frame after the server's close frame ({per} clients in a flowing room)"),
            bad == 0 && errors.is_empty(),
            format!(
                "{bad} of {per} got data frames after the close (up to {}){}",
                after.iter().max().copied().unwrap_or(0),
                errors.first().map_or(String::new(), |e| format!("; {e}"))
            ),
        );
        let wrong: Vec<String> = rs
            .iter()
            .filter_map(|r| r.as_ref().ok())
            .filter(|e| !e.code().is_some_and(|x| codes.contains(&x)))
            .map(Ending::describe)
            .collect();
        let want: Vec<String> = codes.iter().map(u16::to_string).collect();
        ctx.check(
            format!("{name}: close {}", want.join("/")),
            wrong.is_empty() && errors.is_empty(),
            wrong.first().cloned().unwrap_or_default(),
        );
    }
    ctx.note(format!("{sent} broadcasts flowed during the attack"));
    ctx.check_alive("server alive");
    Ok(())
}

fn sigterm_shutdown(ctx: &mut Ctx<'_>) -> Result<(), String> {
    let addr = ctx.addr;
    let stop = Arc::new(AtomicBool::new(false));
    let flooder = flood_room(addr, "flow", stop.clone());
    // Who is connected when the signal comes.
    let mut clients: Vec<(String, Conn, bool)> = Vec::new();
    for i in 0..10 {
        clients.push((
            format!("v5 client {i} in a flowing room"),
            client::sio_join(addr, "flow", secs(10.0))?,
            true,
        ));
    }
    for i in 0..4 {
        let mut c = client::sio_connect_v3(addr, secs(10.0))?;
        let a = c.request(
            1,
            "post",
            "/sockets/join",
            json!({"room": "flow"}),
            secs(5.0),
        )?;
        if a.status != 200 {
            return Err(format!("v3 join: {}", a.brief()));
        }
        clients.push((format!("v4 (EIO3) client {i} in a flowing room"), c, true));
    }
    for i in 0..4 {
        clients.push((
            format!("idle v5 client {i}"),
            client::sio_connect(addr, secs(10.0))?,
            true,
        ));
    }
    for i in 0..3 {
        clients.push((
            format!("v5 client {i} that never answers the close"),
            client::sio_join(addr, "flow", secs(10.0))?,
            false,
        ));
    }
    let mut partial = Vec::new();
    for _ in 0..5 {
        let mut s = client::tcp(addr, Duration::from_secs(3))?;
        let _ = s.write_all(b"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\n");
        partial.push(s);
    }
    // The clients read the flow from now on (a client that stops reading
    // while the room is flooded is rightly closed as a slow consumer first).
    let reading = Instant::now();
    let readers: Vec<_> = clients
        .into_iter()
        .map(|(name, mut c, echo)| {
            std::thread::spawn(move || {
                let e = c.read_until_closed(reading + Duration::from_secs(9), echo);
                (name, e)
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    ctx.end_measurements();
    let t0 = Instant::now();
    let Some(srv) = ctx.server.as_mut() else {
        return Err("needs its own server".into());
    };
    srv.signal(libc::SIGTERM);
    ctx.server_ended = true;
    // Stop accepting.
    std::thread::sleep(Duration::from_millis(300));
    let fresh = client::tcp(addr, Duration::from_secs(1)).and_then(|mut s| {
        let _ = s.write_all(&client::upgrade_bytes());
        let mut buf = Vec::new();
        client::read_http_response(&mut s, &mut buf, secs(2.0)).map(|r| r.status)
    });
    ctx.check(
        "after SIGTERM, new connections are not accepted",
        !matches!(fresh, Ok(101)),
        format!("{fresh:?}"),
    );
    let exit = ctx
        .server
        .as_mut()
        .and_then(|s| s.wait_exit(Duration::from_secs(5).saturating_sub(t0.elapsed())));
    let exit_ms = t0.elapsed().as_millis();
    let exit = exit.or_else(|| {
        ctx.server
            .as_mut()
            .and_then(|s| s.wait_exit(Duration::from_secs(5)))
    });
    ctx.check(
        "the process exits 0 within the shutdown timeout (5 000 ms)",
        exit.is_some_and(|st| st.code() == Some(0)) && exit_ms <= 5_000,
        exit.map_or(format!("still running after {exit_ms} ms"), |st| {
            format!("{} after {exit_ms} ms", server::describe_exit(st))
        }),
    );
    stop.store(true, Ordering::Relaxed);
    for h in readers {
        let (name, e) = h.join().map_err(|_| "reader panicked".to_string())?;
        let sio_disconnect = e.texts.iter().any(|t| t == "41");
        let within = e.at.is_some_and(|at| at - t0 <= Duration::from_secs(5));
        ctx.check(
            format!("{name}: a Socket.IO disconnect `41`, then close 1001, nothing after it"),
            sio_disconnect && e.code() == Some(1001) && e.data_after_close == 0 && within,
            format!(
                "{}disconnect packet; {}",
                if sio_disconnect { "" } else { "no " },
                e.describe()
            ),
        );
    }
    let mut dropped = 0;
    for mut s in partial {
        let mut b = [0u8; 64];
        if matches!(client::read_some(&mut s, &mut b, secs(1.0)), Ok(0) | Err(_)) {
            dropped += 1;
        }
    }
    ctx.check(
        "connections still in their handshake are dropped",
        dropped == 5,
        format!("{dropped} of 5"),
    );
    let _ = flooder.join();
    Ok(())
}

// ----- 11.8 ----------------------------------------------------------------------------

/// Receives `42["<event>",{"p":…,"k":…}]` and counts each (p, k).
/// The connection comes back with the counts (it stays open until dropped).
fn burst_receiver(
    mut c: Conn,
    event: &'static str,
    producers: usize,
    per: u64,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<(Vec<Vec<u16>>, Option<String>, Conn)> {
    std::thread::spawn(move || {
        let mut counts = vec![vec![0u16; per as usize]; producers];
        let prefix = format!("42[\"{event}\",");
        let mut got = 0u64;
        let want = per * producers as u64;
        while !stop.load(Ordering::Relaxed) && got < want {
            match c.next_text(secs(0.2)) {
                Ok(t) => {
                    let Some(rest) = t.strip_prefix(&prefix) else {
                        continue;
                    };
                    let v: Value = serde_json::from_str(rest.strip_suffix(']').unwrap_or(rest))
                        .unwrap_or(Value::Null);
                    let (p, k) = (
                        v["p"].as_u64().unwrap_or(u64::MAX) as usize,
                        v["k"].as_u64().unwrap_or(u64::MAX) as usize,
                    );
                    if let Some(n) = counts.get_mut(p).and_then(|x| x.get_mut(k)) {
                        *n = n.saturating_add(1);
                        got += 1;
                    }
                }
                Err(e) if e.starts_with("timed out") => {}
                Err(e) => return (counts, Some(e), c),
            }
        }
        (counts, None, c)
    })
}

/// `producers` connections each pipeline `per` broadcasts of `size` bytes to
/// `room` without waiting for acks (a thread reads them). Returns (answered 200,
/// other answers, seconds blocked in write, seconds).
fn pipelined_broadcasts(
    addr: std::net::SocketAddr,
    room: &'static str,
    event: &'static str,
    producers: usize,
    per: u64,
    size: usize,
) -> Result<(u64, u64, f64, f64), String> {
    let pad = "z".repeat(size);
    let t0 = Instant::now();
    let mut handles = Vec::new();
    for p in 0..producers {
        let c = client::sio_connect(addr, secs(10.0))?;
        let mut w = c.stream.try_clone().map_err(|e| e.to_string())?;
        let pad = pad.clone();
        let writer = std::thread::spawn(move || {
            let mut blocked = Duration::ZERO;
            for k in 0..per {
                let pkt = client::request_packet(
                    k + 1,
                    "post",
                    "/sockets/broadcast",
                    json!({"rooms": room, "event": event, "data": {"p": p, "k": k, "x": pad}}),
                );
                let f = client::frame(OP_TEXT, pkt.as_bytes());
                let t = Instant::now();
                if w.write_all(&f).is_err() {
                    break;
                }
                let d = t.elapsed();
                if d > Duration::from_millis(5) {
                    blocked += d;
                }
            }
            blocked
        });
        let reader = std::thread::spawn(move || {
            let mut c = c;
            let (mut ok, mut bad) = (0u64, 0u64);
            let end = secs(120.0);
            while ok + bad < per {
                match c.next_text(end) {
                    Ok(t) if t.starts_with("43") => {
                        if t.contains("\"statusCode\":200") {
                            ok += 1;
                        } else {
                            bad += 1;
                        }
                    }
                    Ok(_) => {}
                    Err(_) => break,
                }
            }
            (ok, bad)
        });
        handles.push((writer, reader));
    }
    let (mut ok, mut bad, mut blocked) = (0, 0, Duration::ZERO);
    for (w, r) in handles {
        blocked += w.join().map_err(|_| "writer panicked".to_string())?;
        let (o, b) = r.join().map_err(|_| "ack reader panicked".to_string())?;
        ok += o;
        bad += b;
    }
    Ok((ok, bad, blocked.as_secs_f64(), t0.elapsed().as_secs_f64()))
}

fn cross_worker_burst(ctx: &mut Ctx<'_>) -> Result<(), String> {
    let addr = ctx.addr;
    let token = ctx.token.clone();
    let n_recv = 4;
    let n_prod = ctx.scale(8, 4);
    // Phase A: a burst every receiver can keep up with: every message arrives once.
    let per = ctx.scale(2500, 600) as u64;
    let stop = Arc::new(AtomicBool::new(false));
    let mut recv_ids = Vec::new();
    let mut readers = Vec::new();
    for _ in 0..n_recv {
        let c = client::sio_join(addr, "burst", secs(10.0))?;
        recv_ids.push(c.sid.clone());
        readers.push(burst_receiver(c, "b", n_prod, per, stop.clone()));
    }
    let workers: std::collections::BTreeSet<u16> = recv_ids
        .iter()
        .filter_map(|s| client::id_parts(s).map(|p| p.0))
        .collect();
    let (ok, bad, blocked, took) = pipelined_broadcasts(addr, "burst", "b", n_prod, per, 1024)?;
    let total = per * n_prod as u64;
    ctx.check(
        format!(
            "{total} pipelined broadcasts of 1 KiB from {n_prod} connections → all answered 200"
        ),
        ok == total && bad == 0,
        format!("{ok} answered 200, {bad} other, in {took:.1} s ({blocked:.1} s blocked in write)"),
    );
    let drain_until = Instant::now() + Duration::from_secs(10);
    while Instant::now() < drain_until && !readers.iter().all(std::thread::JoinHandle::is_finished)
    {
        std::thread::sleep(Duration::from_millis(50));
    }
    stop.store(true, Ordering::Relaxed);
    let (mut lost, mut dup, mut closed) = (0u64, 0u64, Vec::new());
    let mut keep = Vec::new();
    for r in readers {
        let (counts, err, conn) = r.join().map_err(|_| "receiver panicked".to_string())?;
        keep.push(conn);
        for n in counts.iter().flatten() {
            match n {
                0 => lost += 1,
                1 => {}
                n => dup += u64::from(*n) - 1,
            }
        }
        if let Some(e) = err {
            closed.push(e);
        }
    }
    ctx.check(
        format!(
            "…each of {n_recv} receivers (on workers {workers:?}) gets every message exactly once"
        ),
        lost == 0 && dup == 0 && closed.is_empty(),
        format!(
            "lost {lost}, duplicated {dup}, {} receivers closed {:?}",
            closed.len(),
            closed.first()
        ),
    );
    // Admin joins and leaves, pipelined, each naming a socket on some worker.
    let n_ops = ctx.scale(5000, 1000);
    let conns = 4;
    let mut ok_ops = 0;
    let mut other = Vec::new();
    let t = Instant::now();
    for phase in ["join", "leave"] {
        let handles: Vec<_> = (0..conns)
            .map(|k| {
                let token = token.clone();
                let ids = recv_ids.clone();
                std::thread::spawn(move || -> Result<(usize, Vec<u16>), String> {
                    let mut s = client::tcp(addr, Duration::from_secs(3))?;
                    let mut buf = Vec::new();
                    let mut ok = 0;
                    let mut other = Vec::new();
                    let per_conn = n_ops / conns;
                    let mut i = 0;
                    while i < per_conn {
                        let chunk = (per_conn - i).min(64);
                        let mut out = String::new();
                        for j in 0..chunk {
                            let n = i + j;
                            let body = json!({"socketId": ids[n % ids.len()], "room": format!("jb-{k}-{n}")}).to_string();
                            out.push_str(&client::admin_request(&token, "POST", &format!("/api/sockets/{phase}"), &body, false));
                        }
                        s.write_all(out.as_bytes()).map_err(|e| e.to_string())?;
                        for _ in 0..chunk {
                            let r = client::read_http_response(&mut s, &mut buf, secs(30.0))?;
                            if r.status == 200 {
                                ok += 1;
                            } else {
                                other.push(r.status);
                            }
                        }
                        i += chunk;
                    }
                    Ok((ok, other))
                })
            })
            .collect();
        for h in handles {
            match h.join().map_err(|_| "admin thread panicked".to_string())? {
                Ok((o, b)) => {
                    ok_ops += o;
                    other.extend(b);
                }
                Err(e) => {
                    other.push(0);
                    ctx.note(format!("admin burst: {e}"));
                }
            }
        }
    }
    ctx.check(
        format!("{n_ops} admin joins then {n_ops} leaves naming sockets on both workers, pipelined on {conns} connections → all 200"),
        ok_ops == 2 * (n_ops / conns) * conns && other.is_empty(),
        format!("{ok_ops} × 200, others {:?} in {:.1} s", &other[..other.len().min(5)], t.elapsed().as_secs_f64()),
    );
    // Ordering: a route's broadcast reaches the requester before its ack.
    let mut order: Vec<Conn> = Vec::new();
    for _ in 0..6 {
        order.push(client::sio_join(addr, "order", secs(10.0))?);
    }
    let mut violations = 0;
    let mut total_req = 0;
    for round in 0..20u64 {
        for (i, c) in order.iter_mut().enumerate() {
            c.backlog.clear();
            let me = format!(r#"42["o",{{"from":{i},"k":{round}}}]"#);
            let a = c.request(
                100 + round,
                "post",
                "/sockets/broadcast",
                json!({"rooms": "order", "event": "o", "data": {"from": i, "k": round}}),
                secs(10.0),
            )?;
            total_req += 1;
            if a.status != 200 || !c.backlog.contains(&me) {
                violations += 1;
            }
        }
    }
    drop(order);
    ctx.check(
        "a requester in the room receives its own broadcast before the ack (built-in routes, both workers)",
        violations == 0,
        format!("{violations} of {total_req} acks came first"),
    );
    // Phase B: a spike no receiver can keep up with (they may be closed as slow
    // consumers): memory stays bounded and is given back afterwards.
    // Full size even with --short: a spike of a few MB says nothing about
    // memory being given back (it takes about a second).
    let (prod_b, per_b) = (8usize, 2500u64);
    let stop_b = Arc::new(AtomicBool::new(false));
    let mut spike_readers = Vec::new();
    for _ in 0..n_recv {
        let c = client::sio_join(addr, "spike", secs(10.0))?;
        spike_readers.push(burst_receiver(c, "s", prod_b, per_b, stop_b.clone()));
    }
    let (ok, bad, blocked, took) =
        pipelined_broadcasts(addr, "spike", "s", prod_b, per_b, 16 * 1024)?;
    let total_b = per_b * prod_b as u64;
    ctx.check(
        format!("spike: {total_b} pipelined broadcasts of 16 KiB → all answered 200"),
        ok == total_b && bad == 0,
        format!("{ok} answered 200, {bad} other, in {took:.1} s ({blocked:.1} s blocked in write)"),
    );
    let spike = ctx.rss_growth_mb().unwrap_or(0.0);
    let bound = 8.0 * n_recv as f64 + 64.0;
    ctx.check(
        format!(
            "spike: bounded queues, RSS growth ≤ {bound:.0} MB ({n_recv} × 8 MiB outbound + 64 MB)"
        ),
        spike <= bound,
        format!("{spike:.1} MB"),
    );
    std::thread::sleep(Duration::from_secs(1));
    stop_b.store(true, Ordering::Relaxed);
    let mut closed_b = 0;
    for r in spike_readers {
        if r.join().map(|(_, e, _)| e.is_some()).unwrap_or(true) {
            closed_b += 1;
        }
    }
    ctx.note(format!(
        "spike: {closed_b} of {n_recv} receivers closed (slow consumers)"
    ));
    drop(keep);
    // A socket that was closing when the spike ended keeps what was queued to
    // it until its close deadline (2 s): memory must be back within 10 s of the
    // spike's end (read every 250 ms from 4 s on).
    std::thread::sleep(Duration::from_secs(3));
    if let (Some(pid), Some(before)) = (ctx.pid(), ctx.rss_before_kb) {
        let allowed = (spike * 0.25).max(4.0);
        let since = Instant::now();
        let mut kept;
        loop {
            let now = server::rss_kb(pid).unwrap_or(0);
            kept = now.saturating_sub(before) as f64 / 1024.0;
            if kept <= allowed || since.elapsed() >= Duration::from_secs(6) {
                break;
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        let after_s = 4.0 + since.elapsed().as_secs_f64();
        ctx.check(
            "memory is given back after the spike: within 10 s RSS ≤ before + max(4 MB, 25 % of the spike)",
            kept <= allowed,
            format!("{kept:.1} MB still held of a {spike:.1} MB spike after {after_s:.1} s"),
        );
    }
    ctx.check_alive("server alive");
    Ok(())
}

// ----- 11.10 ---------------------------------------------------------------------------

fn fd_exhaustion(ctx: &mut Ctx<'_>) -> Result<(), String> {
    let addr = ctx.addr;
    // A client connected before the flood must keep being served.
    let mut early = client::sio_connect(addr, secs(10.0))?;
    let log_before = ctx.server.as_ref().map(|s| s.log_text().len()).unwrap_or(0);
    let mut flood: Vec<TcpStream> = Vec::new();
    let mut upgraded = 0;
    let mut unanswered_run = 0;
    let mut connect_errors = 0;
    let t0 = Instant::now();
    for _ in 0..800 {
        if unanswered_run >= 10 || t0.elapsed() > Duration::from_secs(30) {
            break;
        }
        let mut s = match client::tcp(addr, Duration::from_secs(1)) {
            Ok(s) => s,
            Err(_) => {
                connect_errors += 1;
                unanswered_run += 1;
                continue;
            }
        };
        let _ = s.write_all(&client::upgrade_bytes());
        let mut buf = Vec::new();
        match client::read_http_response(&mut s, &mut buf, secs(0.5)) {
            Ok(r) if r.status == 101 => {
                upgraded += 1;
                unanswered_run = 0;
            }
            _ => unanswered_run += 1,
        }
        flood.push(s);
    }
    let exhausted = unanswered_run >= 10;
    ctx.check(
        "the server reaches its descriptor limit (new connections wait unanswered)",
        exhausted,
        format!("{upgraded} connections upgraded, then {unanswered_run} unanswered ({connect_errors} connect errors)"),
    );
    // Hold the server at its limit while new clients keep knocking (50 a second,
    // each closed after 200 ms), as a storm at EMFILE would.
    let ex_start = Instant::now();
    let hold = Duration::from_secs(if ctx.short { 3 } else { 6 });
    let knock_stop = Arc::new(AtomicBool::new(false));
    let ks = knock_stop.clone();
    let knocker = std::thread::spawn(move || {
        let mut n = 0u64;
        while !ks.load(Ordering::Relaxed) {
            if let Ok(s) = client::tcp(addr, Duration::from_millis(200)) {
                n += 1;
                let mut s = s;
                let _ = s.write_all(&client::upgrade_bytes());
                std::thread::sleep(Duration::from_millis(20));
                drop(s);
            } else {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        n
    });
    std::thread::sleep(hold / 2);
    let r = early.alive(1);
    ctx.check(
        "while exhausted, a client connected before is served",
        r.is_ok(),
        r.err().unwrap_or_default(),
    );
    std::thread::sleep(hold / 2);
    knock_stop.store(true, Ordering::Relaxed);
    let knocks = knocker.join().unwrap_or(0);
    ctx.note(format!("{knocks} connection attempts while exhausted"));
    let ex_secs = ex_start.elapsed().as_secs_f64() + 0.5;
    let log = ctx
        .server
        .as_ref()
        .map(|s| s.log_text())
        .unwrap_or_default();
    let new_log = log.get(log_before..).unwrap_or("");
    let accept_lines = new_log
        .lines()
        .filter(|l| {
            l.contains("accept")
                && (l.contains("Too many open files")
                    || l.contains("os error 24")
                    || l.contains("EMFILE"))
        })
        .count();
    let allowed = ex_secs.ceil() as usize + 2;
    ctx.check(
        "at EMFILE the server logs once per interval (≤ 1 line a second)",
        accept_lines <= allowed,
        format!("{accept_lines} `accept failed` lines in {ex_secs:.1} s"),
    );
    // Free the descriptors: the server must accept again.
    drop(flood);
    let t = Instant::now();
    let mut last = String::new();
    let mut back = false;
    while t.elapsed() < Duration::from_secs(5) {
        match client::sio_connect(addr, secs(1.0)).and_then(|mut c| c.alive(1)) {
            Ok(()) => {
                back = true;
                break;
            }
            Err(e) => last = e,
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    ctx.check(
        "once descriptors are freed, new connections are accepted again (within 5 s)",
        back,
        if back {
            format!("served after {:.1} s", t.elapsed().as_secs_f64())
        } else {
            format!(
                "still refused after {:.1} s: {last}",
                t.elapsed().as_secs_f64()
            )
        },
    );
    let r = client::http_get(addr, "/health", Duration::from_secs(2));
    ctx.check(
        "a fresh /health connection is answered again",
        matches!(&r, Ok(x) if x.status == 200),
        format!("{:?}", r.map(|x| x.status)),
    );
    ctx.check_alive("server alive");
    Ok(())
}
