//! Virtual requests: arbitrary `(event, args)` through `parse_virtual_request` and the
//! built-in routes on a real engine (two shards, three sockets).
//!
//! Input: a header byte (bit 7: default policy instead of open; bits 0–1: the
//! requesting socket, 3 = none), then requests separated by `\x1e`, each
//! `<event>\n<args>`. In `args`, `$0` `$1` `$2` become the sockets' ids and `$g` a
//! disconnected socket's, so the fuzzer reaches the paths past id validation.
//!
//! Checks: no panic; every response is 200/400/403/404 and renders to the ack
//! `[{"body":…,"headers":{},"statusCode":…}]`; error bodies carry `error` and
//! `message`; the shards' invariants hold after each request is applied and
//! drained.
#![no_main]

use libfuzzer_sys::fuzz_target;
use roomcast::{Engine, EngineConfig, MemoryWriter};
use roomcast_server::router::{ack_payload, parse_virtual_request, Context, Policy, Router};

fuzz_target!(|data: &[u8]| {
    let Some((&header, rest)) = data.split_first() else {
        return;
    };
    let policy = if header & 0x80 != 0 {
        Policy::default()
    } else {
        Policy::open()
    };
    let router = Router::with_builtin_routes(policy);
    let (_engine, mut shards) = Engine::new(EngineConfig {
        shards: 2,
        ..EngineConfig::default()
    });
    let ids = [
        shards[0].connect().unwrap(),
        shards[0].connect().unwrap(),
        shards[1].connect().unwrap(),
    ];
    let gone = shards[1].connect().unwrap();
    shards[1].disconnect(gone);
    let from = ids.get(usize::from(header & 3)).copied();
    let mut out = MemoryWriter::default();

    let text = String::from_utf8_lossy(rest);
    for request in text.split('\u{1e}').take(16) {
        let (event, args) = request.split_once('\n').unwrap_or((request, ""));
        let args = args
            .replace("$0", &ids[0].to_string())
            .replace("$1", &ids[1].to_string())
            .replace("$2", &ids[2].to_string())
            .replace("$g", &gone.to_string());
        let resp = match parse_virtual_request(event, &args) {
            Ok(req) => router.dispatch(&mut Context::new(&mut shards[0], from), req),
            Err(resp) => resp,
        };
        assert!(
            [200, 400, 403, 404].contains(&resp.status),
            "{event} {args} -> {resp:?}"
        );
        let ack = ack_payload(&resp);
        let body = resp.body.to_string();
        assert_eq!(
            ack,
            format!(
                r#"[{{"body":{body},"headers":{{}},"statusCode":{}}}]"#,
                resp.status
            )
        );
        if resp.status != 200 {
            assert!(resp.body.get("error").is_some_and(|v| v.is_string()));
            assert!(resp.body.get("message").is_some_and(|v| v.is_string()));
        }
        for s in &mut shards {
            s.process_ops();
            s.drain(&mut out);
            if let Err(e) = s.validate() {
                panic!("invariant broken after {event} {args}: {e}");
            }
        }
    }
});
