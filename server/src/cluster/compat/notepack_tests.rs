//! `notepack`: the value mapping of the capture, bounds on hostile input, and
//! round trips JSON → MessagePack → JSON.

use std::time::{Duration, Instant};

use bytes::Bytes;
use proptest::prelude::*;
use rmpv::Value;
use serde_json::{json, Value as Json};

use super::notepack::{
    check_json, decode, encode, from_json, iso8601, to_json, NotepackError, MAX_DEPTH, MAX_ELEMENTS,
};

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn json_of(bytes: &[u8]) -> Result<(Json, Vec<Bytes>), NotepackError> {
    let mut att = Vec::new();
    let j = to_json(&decode(bytes)?, &mut att)?;
    Ok((j, att))
}

fn bytes_of(j: &Json, att: &[Bytes]) -> Vec<u8> {
    encode(&from_json(j, att).unwrap())
}

#[test]
fn the_captured_value_types_read_as_a_client_sees_them() {
    // The `data` array of socketio-broadcast-multi-args.bin.
    let data = hex(concat!(
        "9ea57479706573a37374722af9cb400c000000000000cf0000000100000000c3c2c0c0",
        "920191028 1a66e657374656481a16ba176d7ffa1a5d60065937d25a9c3a9e282acf09f9880"
    )
    .replace(' ', "")
    .as_str());
    let (j, att) = json_of(&data).unwrap();
    assert!(att.is_empty());
    assert_eq!(
        j.to_string(),
        r#"["types","str",42,-7,3.5,4294967296,true,false,null,null,[1,[2]],{"nested":{"k":"v"}},"2024-01-02T03:04:05.678Z","é€😀"]"#
    );
}

#[test]
fn binaries_become_placeholders_in_depth_first_order_and_back() {
    // The `data` array of socketio-broadcast-binary.bin.
    let data = hex("93a362696ec40300ff1082a466696c65c404deadbeefa46e616d65a178");
    let (j, att) = json_of(&data).unwrap();
    assert_eq!(
        j,
        json!(["bin", {"_placeholder": true, "num": 0}, {"file": {"_placeholder": true, "num": 1}, "name": "x"}])
    );
    assert_eq!(att, [&[0u8, 0xff, 0x10][..], &[0xde, 0xad, 0xbe, 0xef][..]]);
    assert_eq!(bytes_of(&j, &att), data);
    // A placeholder naming no attachment is refused, as socket.io-parser does.
    for bad in [
        json!({"_placeholder": true, "num": 2}),
        json!({"_placeholder": true}),
        json!({"_placeholder": true, "num": -1}),
    ] {
        assert_eq!(from_json(&bad, &att), Err(NotepackError::IllegalAttachment));
    }
    // Not a placeholder: `_placeholder` must be exactly true.
    assert!(from_json(&json!({"_placeholder": 1, "num": 0}), &[])
        .unwrap()
        .is_map());
}

#[test]
fn numbers_are_written_as_notepack_writes_them() {
    for (j, want) in [
        (json!(42), "2a"),
        (json!(-7), "f9"),
        (json!(-32), "e0"),
        (json!(-33), "d0df"),
        (json!(127), "7f"),
        (json!(128), "cc80"),
        (json!(255), "ccff"),
        (json!(256), "cd0100"),
        (json!(65536), "ce00010000"),
        (json!(-129), "d1ff7f"),
        (json!(-40000), "d2ffff63c0"),
        (json!(4_294_967_296_u64), "cf0000000100000000"),
        (json!(-4_294_967_296_i64), "d3ffffffff00000000"),
        (json!(3.5), "cb400c000000000000"),
        (json!(1.0), "01"), // JS has no 1.0: the integer 1
        (json!(-0.5), "cbbfe0000000000000"),
        (json!(1500), "cd05dc"),
        (json!("é€😀"), "a9c3a9e282acf09f9880"),
        (json!(null), "c0"),
    ] {
        assert_eq!(bytes_of(&j, &[]), hex(want), "{j}");
    }
    // Strings and containers use the smallest length form (d9 from 32 bytes).
    let s = "x".repeat(32);
    assert_eq!(bytes_of(&json!(s), &[])[..2], [0xd9, 32]);
    assert_eq!(bytes_of(&json!(vec![0; 16]), &[])[..3], [0xdc, 0, 16]);
}

#[test]
fn non_finite_floats_read_as_null_and_integral_ones_as_integers() {
    let mut att = Vec::new();
    assert_eq!(
        to_json(&Value::F64(f64::NAN), &mut att).unwrap(),
        Json::Null
    );
    assert_eq!(
        to_json(&Value::F64(f64::INFINITY), &mut att).unwrap(),
        Json::Null
    );
    assert_eq!(
        to_json(&Value::F32(f32::NEG_INFINITY), &mut att).unwrap(),
        Json::Null
    );
    assert_eq!(
        to_json(&Value::F64(3.0), &mut att).unwrap().to_string(),
        "3"
    );
    assert_eq!(
        to_json(&Value::F32(0.5), &mut att).unwrap().to_string(),
        "0.5"
    );
    assert_eq!(
        to_json(&Value::F64(1e300), &mut att).unwrap().to_string(),
        "1e+300"
    ); // as JS writes it
}

#[test]
fn floats_of_json_text_are_read_exactly() {
    // Found by the round-trip property: serde_json's default float parser may
    // be one ulp off (JS's JSON.parse never is); `float_roundtrip` is on.
    for text in [
        "-2.902089516603103e-235",
        "0.1",
        "5e-324",
        "1.7976931348623157e308",
    ] {
        let j: Json = serde_json::from_str(text).unwrap();
        let f: f64 = text.parse().unwrap();
        assert_eq!(bytes_of(&j, &[])[1..], f.to_be_bytes(), "{text}");
    }
}

#[test]
fn dates_read_as_their_iso_string() {
    let iso = |b: &str| json_of(&hex(b)).unwrap().0;
    // timestamp 32, 64 (the capture's), 96 (negative seconds)
    assert_eq!(iso("d6ff00000000"), json!("1970-01-01T00:00:00.000Z"));
    assert_eq!(
        iso("d7ffa1a5d60065937d25"),
        json!("2024-01-02T03:04:05.678Z")
    );
    assert_eq!(
        iso("c70cff00000000ffffffffffffffff"),
        json!("1969-12-31T23:59:59.000Z")
    );
    // 1969-12-31T23:59:59.500Z: -1 s + 5e8 ns
    assert_eq!(
        iso("c70cff1dcd6500ffffffffffffffff"),
        json!("1969-12-31T23:59:59.500Z")
    );
    // Beyond ±8.64e15 ms: an Invalid Date, which JSON.stringify writes as null.
    assert_eq!(iso("c70cff000000007fffffffffffffff"), Json::Null);
    assert_eq!(json_of(&hex("d5ff0000")), Err(NotepackError::BadTimestamp));
    assert_eq!(iso8601(0), "1970-01-01T00:00:00.000Z");
    assert_eq!(iso8601(-1), "1969-12-31T23:59:59.999Z");
    assert_eq!(iso8601(951_782_400_000), "2000-02-29T00:00:00.000Z");
    assert_eq!(iso8601(253_402_300_800_000), "+010000-01-01T00:00:00.000Z");
    assert_eq!(iso8601(-62_198_755_200_000), "-000001-01-01T00:00:00.000Z");
    assert_eq!(
        iso8601(8_640_000_000_000_000),
        "+275760-09-13T00:00:00.000Z"
    );
}

#[test]
fn other_extensions_and_keys() {
    // notepack 2's undefined (d4 00 00) reads as null, like notepack 3's c0.
    assert_eq!(json_of(&hex("d40000")).unwrap().0, Json::Null);
    assert_eq!(
        json_of(&hex("d40100")),
        Err(NotepackError::UnsupportedExt(1))
    );
    assert_eq!(
        json_of(&hex("d7000000000000000000")),
        Err(NotepackError::UnsupportedExt(0))
    );
    // Scalar keys become strings as in a JS object; duplicates: the last wins.
    assert_eq!(
        json_of(&hex("8301a161c3a162c0a163")).unwrap().0,
        json!({"1": "a", "true": "b", "null": "c"})
    );
    assert_eq!(json_of(&hex("82a16101a16102")).unwrap().0, json!({"a": 2}));
    // A binary in a value that loses to a later duplicate is no attachment
    // (found by fuzzing: it was kept, an attachment nothing pointed at);
    // the winners' binaries are numbered in the object's order.
    let (j, att) = json_of(&hex("83a161c401aaa162c401bba161c401cc")).unwrap();
    assert_eq!(
        j,
        json!({"a": {"_placeholder": true, "num": 0}, "b": {"_placeholder": true, "num": 1}})
    );
    assert_eq!(
        att,
        [Bytes::from_static(&[0xcc]), Bytes::from_static(&[0xbb])]
    );
    let (j, att) = json_of(&hex("82a161c400a16180")).unwrap();
    assert_eq!((j, att.len()), (json!({"a": {}}), 0));
    // A loser is still read: what notepack cannot decode is refused.
    assert_eq!(
        json_of(&hex("82a161d40100a16101")),
        Err(NotepackError::UnsupportedExt(1))
    );
    assert_eq!(json_of(&hex("81900a")), Err(NotepackError::BadKey));
    // Not UTF-8: replaced, like a lossy decode.
    let v = decode(&hex("a2ff41")).unwrap();
    assert_eq!(v.as_str(), Some("\u{fffd}A"));
    assert_eq!(to_json(&v, &mut Vec::new()).unwrap(), json!("\u{fffd}A"));
}

#[test]
fn hostile_input_is_refused_quickly_without_allocating_what_it_announces() {
    let t = Instant::now();
    // Headers announcing 2³²−1 elements or bytes, with nothing behind them:
    // refused before any element is read (lengths are checked against the
    // bytes left, vectors start at 16 and grow only as elements arrive).
    for forged in [
        "ddffffffff",
        "dfffffffff",
        "c6ffffffff",
        "dbffffffff",
        "c9ffffffff01",
        "dcffff",
        "deffff",
        "c5ffff",
    ] {
        assert_eq!(
            decode(&hex(forged)),
            Err(NotepackError::Truncated),
            "{forged}"
        );
    }
    // … and behind a few real elements, nested: still refused at the header.
    let mut nested = Vec::new();
    for _ in 0..MAX_DEPTH - 1 {
        nested.extend(hex("92c0"));
        nested.extend(hex("ddffffffff"));
    }
    assert_eq!(decode(&nested), Err(NotepackError::Truncated));
    // Depth: MAX_DEPTH containers are fine, one more is not.
    let deep = |n: usize| {
        let mut b = vec![0x91; n];
        b.push(0xc0);
        b
    };
    assert!(decode(&deep(MAX_DEPTH)).is_ok());
    assert_eq!(decode(&deep(MAX_DEPTH + 1)), Err(NotepackError::TooDeep));
    assert_eq!(decode(&deep(1_000_000)), Err(NotepackError::TooDeep));
    // Element count: a whole message holds at most MAX_ELEMENTS values.
    let mut many = hex("dd00010000");
    many.extend(std::iter::repeat_n(0xc0, 1 << 16));
    assert_eq!(decode(&many), Err(NotepackError::TooManyElements));
    let mut ok = hex("dc1000");
    ok.extend(std::iter::repeat_n(0xc0, 0x1000));
    assert!(decode(&ok).is_ok());
    const { assert!(MAX_ELEMENTS >= 0x1000) };
    // Reserved marker, trailing bytes, every truncation of a real message.
    assert_eq!(decode(&hex("c1")), Err(NotepackError::ReservedMarker));
    assert_eq!(decode(&hex("c0c0")), Err(NotepackError::TrailingBytes(1)));
    assert_eq!(decode(&[]), Err(NotepackError::Truncated));
    let real = hex("93a6723569494b6183a47479706502a46461746192a46e657773a8746f20726f6f6d31a36e7370a12f83a5726f6f6d7391a5726f6f6d31a665786365707490a5666c61677380");
    assert!(decode(&real).is_ok());
    for n in 0..real.len() {
        assert!(decode(&real[..n]).is_err(), "prefix {n}");
    }
    assert!(
        t.elapsed() < Duration::from_secs(2),
        "took {:?}",
        t.elapsed()
    );
}

#[test]
fn json_limits_match_the_msgpack_ones() {
    let mut deep = json!(null);
    for _ in 0..MAX_DEPTH {
        deep = json!([deep]);
    }
    assert!(check_json(&deep).is_ok());
    assert!(decode(&bytes_of(&deep, &[])).is_ok());
    assert_eq!(check_json(&json!([deep])), Err(NotepackError::TooDeep));
    let wide = Json::Array(vec![json!({"k": 1}); MAX_ELEMENTS / 3 + 1]);
    assert_eq!(check_json(&wide), Err(NotepackError::TooManyElements));
}

/// Arbitrary Socket.IO packet data: JSON values JS numbers can carry exactly,
/// with binaries.
#[derive(Debug, Clone)]
enum Tree {
    Leaf(Json),
    Bin(Vec<u8>),
    List(Vec<Tree>),
    Obj(Vec<(String, Tree)>),
}

fn tree() -> impl Strategy<Value = Tree> {
    let leaf = prop_oneof![
        Just(Json::Null),
        any::<bool>().prop_map(Json::Bool),
        any::<i64>().prop_map(Json::from),
        any::<u64>().prop_map(Json::from),
        any::<f64>()
            .prop_filter("a JS number", |f| f.is_finite()
                && (f.fract() != 0.0 || f.abs() > 9.007_199_254_740_992e15))
            .prop_map(Json::from),
        ".{0,40}".prop_map(Json::String),
    ];
    let leaf = prop_oneof![
        4 => leaf.prop_map(Tree::Leaf),
        1 => proptest::collection::vec(any::<u8>(), 0..40).prop_map(Tree::Bin),
    ];
    leaf.prop_recursive(5, 64, 8, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..8).prop_map(Tree::List),
            proptest::collection::vec(("[a-z_]{0,6}", inner), 0..8).prop_map(|kv| {
                // JSON objects have unique keys.
                let mut seen = std::collections::HashSet::new();
                Tree::Obj(
                    kv.into_iter()
                        .filter(|(k, _)| seen.insert(k.clone()))
                        .collect(),
                )
            }),
        ]
    })
}

/// The packet data and attachments, numbered depth first.
fn lower(t: &Tree, att: &mut Vec<Bytes>) -> Json {
    match t {
        Tree::Leaf(j) => j.clone(),
        Tree::Bin(b) => {
            att.push(Bytes::from(b.clone()));
            json!({"_placeholder": true, "num": att.len() - 1})
        }
        Tree::List(l) => Json::Array(l.iter().map(|t| lower(t, att)).collect()),
        Tree::Obj(o) => Json::Object(o.iter().map(|(k, t)| (k.clone(), lower(t, att))).collect()),
    }
}

proptest! {
    #[test]
    fn json_args_round_trip_through_msgpack(args in proptest::collection::vec(tree(), 0..6)) {
        let mut att = Vec::new();
        let mut data = vec![json!("event")];
        data.extend(args.iter().map(|t| lower(t, &mut att)));
        let data = Json::Array(data);
        let text = data.to_string();
        let parsed: Json = serde_json::from_str(&text).unwrap();
        let bytes = bytes_of(&parsed, &att);
        let (back, back_att) = json_of(&bytes).unwrap();
        prop_assert_eq!(&back, &data);
        prop_assert_eq!(back.to_string(), text);
        prop_assert_eq!(back_att, att);
    }

    #[test]
    fn arbitrary_bytes_never_panic_and_decoded_values_re_encode_stably(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        if let Ok(v) = decode(&bytes) {
            let again = encode(&v);
            prop_assert_eq!(encode(&decode(&again).unwrap()), again);
        }
    }
}
