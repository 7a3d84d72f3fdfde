//! Messages no socket.io node would send: every decoder refuses them with an
//! error value, quickly, and never panics; what decodes survives
//! decode → encode → decode.

use std::time::{Duration, Instant};

use bytes::Bytes;
use proptest::prelude::*;
use serde_json::json;

use super::adapter_message::{BroadcastMessage, BroadcastOpts, Flags, OptsOrder, Packet};
use super::adapter_request::{Request, Response};
use super::error::CompatError;
use super::notepack::NotepackError;

const DIR: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../e2e/peers/captures/fixtures/"
);

fn fixtures() -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<_> = std::fs::read_dir(DIR)
        .unwrap()
        .flatten()
        .filter_map(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            (n.ends_with(".bin")).then(|| (n, std::fs::read(e.path()).unwrap()))
        })
        .collect();
    v.sort();
    v
}

/// Runs every decoder; whatever decodes must round-trip.
fn all_decoders(b: &[u8]) {
    if let Ok(m) = BroadcastMessage::decode(b) {
        assert_eq!(BroadcastMessage::decode(&m.encode().unwrap()).unwrap(), m);
    }
    if let Ok(r) = Request::decode(b) {
        assert_eq!(Request::decode(&r.encode().unwrap()).unwrap(), r);
    }
    if let Ok(r) = Response::decode(b) {
        let again = Response::decode(&r.encode().unwrap()).unwrap();
        assert_eq!(again.request_id(), r.request_id());
        assert_eq!(again, r);
    }
}

#[test]
fn truncated_and_corrupted_fixtures_are_errors_not_panics() {
    let t = Instant::now();
    for (name, bytes) in fixtures() {
        for n in 0..bytes.len() {
            let cut = &bytes[..n];
            assert!(BroadcastMessage::decode(cut).is_err(), "{name} cut at {n}");
            all_decoders(cut);
        }
        for i in 0..bytes.len() {
            for flip in [0x01, 0x80, 0xff] {
                let mut b = bytes.clone();
                b[i] ^= flip;
                all_decoders(&b);
            }
        }
    }
    assert!(
        t.elapsed() < Duration::from_secs(30),
        "took {:?}",
        t.elapsed()
    );
}

#[test]
fn unknown_types_are_a_clear_error() {
    for (ty, want) in [
        ("10", 10),
        ("-1", -1),
        ("8", 8),
        ("9", 9),
        ("99999999999", 99_999_999_999),
    ] {
        let req = format!(r#"{{"uid":"x","requestId":"r","type":{ty}}}"#);
        assert_eq!(
            Request::decode(req.as_bytes()),
            Err(CompatError::UnknownType(want))
        );
    }
    for ty in ["0", "1", "5", "7", "12"] {
        let resp = format!(r#"{{"type":{ty},"requestId":"r"}}"#);
        assert!(matches!(
            Response::decode(resp.as_bytes()),
            Err(CompatError::UnknownType(_))
        ));
    }
}

#[test]
fn wrong_shapes_are_refused() {
    let shape = |r: Result<Request, CompatError>| matches!(r, Err(CompatError::Shape(_)));
    assert!(shape(Request::decode(br#"{"uid":"x"}"#)));
    assert!(shape(Request::decode(br#"{"type":"1","requestId":"r"}"#)));
    assert!(shape(Request::decode(br#"{"type":1}"#)));
    assert!(shape(Request::decode(
        br#"{"type":2,"opts":{"rooms":["a"]}}"#
    )));
    assert!(shape(Request::decode(
        br#"{"type":2,"opts":{"rooms":[1]},"rooms":["a"]}"#
    )));
    assert!(shape(Request::decode(br#"{"type":4,"close":"yes"}"#)));
    assert!(shape(Request::decode(br#"{"type":6,"data":"x"}"#)));
    assert!(shape(Request::decode(
        br#"{"uid":7,"type":1,"requestId":"r"}"#
    )));
    assert!(shape(Request::decode(b"\x93\xa1a\xa1b\xa1c")));
    assert!(matches!(
        Request::decode(br#"{"type":1"#),
        Err(CompatError::Json(_))
    ));
    assert!(matches!(
        Request::decode(b""),
        Err(CompatError::Msgpack(NotepackError::Truncated))
    ));
    // A placeholder in a JSON request: JSON carries no binaries.
    assert!(matches!(
        Request::decode(br#"{"type":6,"data":["e",{"_placeholder":true,"num":0}]}"#),
        Err(CompatError::Msgpack(NotepackError::IllegalAttachment))
    ));
    let rshape = |b: &[u8]| matches!(Response::decode(b), Err(CompatError::Shape(_)));
    assert!(rshape(br#"{"rooms":[]}"#));
    assert!(rshape(br#"{"requestId":"r"}"#));
    assert!(rshape(br#"{"requestId":"r","sockets":["a",{"id":"b"}]}"#));
    assert!(rshape(br#"{"requestId":"r","sockets":[{"rooms":[]}]}"#));
    assert!(rshape(br#"{"type":8,"requestId":"r","clientCount":-1}"#));
    // Broadcasts: not an array of 3, a binary where a string belongs, data
    // not an array, a packet type beyond a byte.
    for b in [
        &b"\x92\xa1a\x80"[..],
        b"\x93\xc4\x01a\x82\xa4type\x02\xa4data\x90\x80",
        b"\x93\xa1a\x82\xa4type\x02\xa4data\xa1x\x80",
        b"\x93\xa1a\x82\xa4type\xcd\x01\x00\xa4data\x90\x80",
        b"\x93\xa1a\x82\xa4type\x02\xa4data\x90\x81\xa5rooms\xa1r",
        b"\x93\xa1a\x82\xa4type\x02\xa4data\x90\x81\xa5flags\x81\xa1x\xc4\x00",
    ] {
        assert!(
            matches!(BroadcastMessage::decode(b), Err(CompatError::Shape(_))),
            "{b:?}"
        );
    }
    // A minimal broadcast: nsp defaults to "/", opts to empty.
    let m = BroadcastMessage::decode(b"\x93\xa1a\x82\xa4type\x02\xa4data\x91\xa1e\x80").unwrap();
    assert_eq!(
        (m.packet.nsp.as_str(), m.packet.args_json.as_str()),
        ("/", r#"["e"]"#)
    );
    assert_eq!(m.opts, BroadcastOpts::default());
}

#[test]
fn deep_and_huge_messages_are_refused_quickly() {
    let t = Instant::now();
    // JSON nested past the limit (serde_json's own limit is 128).
    let deep = format!(
        r#"{{"type":6,"data":{}1{}}}"#,
        "[".repeat(100),
        "]".repeat(100)
    );
    assert!(matches!(
        Request::decode(deep.as_bytes()),
        Err(CompatError::Msgpack(NotepackError::TooDeep))
    ));
    let deeper = format!(
        r#"{{"type":6,"data":{}1{}}}"#,
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    assert!(Request::decode(deeper.as_bytes()).is_err());
    // msgpack: data announcing 2³² elements; 10⁵ nested arrays.
    let mut forged = b"\x93\xa1a\x82\xa4type\x02\xa4data\xdd\xff\xff\xff\xff".to_vec();
    forged.extend_from_slice(b"\xa1e");
    assert_eq!(
        BroadcastMessage::decode(&forged),
        Err(CompatError::Msgpack(NotepackError::Truncated))
    );
    let mut nested = b"\x93\xa1a\x82\xa4type\x02\xa4data".to_vec();
    nested.extend(std::iter::repeat_n(0x91, 100_000));
    assert_eq!(
        BroadcastMessage::decode(&nested),
        Err(CompatError::Msgpack(NotepackError::TooDeep))
    );
    assert!(
        t.elapsed() < Duration::from_secs(2),
        "took {:?}",
        t.elapsed()
    );
}

fn arg() -> impl Strategy<Value = serde_json::Value> {
    prop_oneof![
        any::<i32>().prop_map(|n| json!(n)),
        "[a-z ]{0,12}".prop_map(|s| json!(s)),
        any::<bool>().prop_map(|b| json!({"ok": b, "list": [1, "x", null]})),
    ]
}

proptest! {
    #[test]
    fn broadcasts_round_trip(
        uid in "[A-Za-z0-9]{6}",
        nsp in prop_oneof![Just("/".to_owned()), "/[a-z]{1,8}"],
        event in "[a-z-]{1,12}",
        args in proptest::collection::vec(arg(), 0..4),
        bins in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 0..3),
        rooms in proptest::collection::vec("[a-z0-9#]{1,20}", 0..4),
        except in proptest::collection::vec("[a-z0-9]{1,20}", 0..3),
        volatile in any::<bool>(),
        timeout in proptest::option::of(0u64..100_000),
        emitter in any::<bool>(),
    ) {
        let mut data = vec![json!(event)];
        data.extend(args);
        for i in 0..bins.len() {
            data.push(json!({"_placeholder": true, "num": i}));
        }
        let mut flags = Flags::default();
        if volatile {
            flags.set("volatile", json!(true));
        }
        if let Some(t) = timeout {
            flags.set("timeout", json!(t));
        }
        let m = BroadcastMessage {
            uid,
            packet: Packet {
                packet_type: 2,
                nsp,
                id: None,
                args_json: serde_json::Value::Array(data).to_string(),
                attachments: bins.into_iter().map(Bytes::from).collect(),
            },
            opts: BroadcastOpts {
                rooms,
                except,
                flags,
                order: if emitter { OptsOrder::Emitter } else { OptsOrder::Adapter },
            },
        };
        let bytes = m.encode().unwrap();
        let back = BroadcastMessage::decode(&bytes).unwrap();
        prop_assert_eq!(&back, &m);
        prop_assert_eq!(back.opts.flags.volatile(), volatile);
        prop_assert_eq!(back.opts.flags.timeout(), timeout);
        prop_assert_eq!(back.opts.flags.entries().len(), usize::from(volatile) + usize::from(timeout.is_some()));
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        all_decoders(&bytes);
        let mut j = b"{".to_vec();
        j.extend(&bytes);
        all_decoders(&j);
    }
}

/// The fuzz driver over its seeds and the committed corpus: every fixture
/// decodes behind its own selector, and nothing breaks an invariant.
#[cfg(feature = "fuzzing")]
#[test]
fn the_fuzz_driver_holds_on_its_seeds_and_corpus() {
    use super::fuzz_driver::{drive, seeds};
    let seeds = seeds();
    assert_eq!(seeds.len(), (47 + 34) * 5);
    // Each of the 47 socket.io and 34 Sails fixtures behind its own selector
    // (broadcast 0, request 1, response 2, Sails admin bus 5); the 19 + 7
    // msgpack ones as raw values (3); and the two acked serverSideEmit
    // requests also read as responses `{type: 6, requestId, data}` — only the
    // channel tells those apart.
    let decoded = seeds.iter().filter(|s| drive(s)).count();
    assert_eq!(decoded, (47 + 34) + (19 + 7) + 2);
    let corpus = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../fuzz/corpus/compat_messages"
    );
    for e in std::fs::read_dir(corpus).unwrap().flatten() {
        drive(&std::fs::read(e.path()).unwrap());
    }
}
