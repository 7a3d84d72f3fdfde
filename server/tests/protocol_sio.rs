//! Socket.IO and Engine.IO codecs: encode → decode round trips (proptest), byte-exact
//! JSON echo, and arbitrary input never panicking.

use bytes::Bytes;
use proptest::prelude::*;
use roomcast_server::protocol::eio::{self, EioVersion, WsMessage};
use roomcast_server::protocol::sio::{
    decode_packet, encode_ack, encode_binary_ack, encode_binary_event, encode_event, Decoder,
    EventName, PacketData, RawArgs, DEFAULT_MAX_ATTACHMENTS,
};

fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::Bool),
        any::<i64>().prop_map(|n| serde_json::json!(n)),
        (-1e9f64..1e9).prop_map(|f| serde_json::json!(f)),
        "\\PC{0,12}".prop_map(serde_json::Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::Array),
            proptest::collection::vec(("[a-z_]{0,6}", inner), 0..4)
                .prop_map(|kv| serde_json::Value::Object(kv.into_iter().collect())),
        ]
    })
}

fn args_json() -> impl Strategy<Value = Vec<String>> {
    proptest::collection::vec(json_value(), 0..5).prop_map(|v| {
        v.iter()
            .map(|x| serde_json::to_string(x).unwrap())
            .collect()
    })
}

fn nsp() -> impl Strategy<Value = String> {
    prop_oneof![Just("/".to_owned()), "/[a-zA-Z0-9_?=&.-]{0,10}"]
}

fn name() -> impl Strategy<Value = String> {
    "\\PC{0,10}".prop_filter("reserved", |n| !roomcast::wire::is_reserved_event(n))
}

/// Strips the Engine.IO `4` prefix of an encoded message.
fn sio_part(s: &str) -> &str {
    s.strip_prefix('4').expect("engine message prefix")
}

proptest! {
    #[test]
    fn event_round_trip(nsp in nsp(), name in name(), args in args_json(), id in proptest::option::of(any::<u64>())) {
        let array = format!("[{}]", args.join(","));
        let enc = encode_event(&nsp, &name, &array, id).unwrap();
        for v in [EioVersion::V3, EioVersion::V4] {
            let (p, n) = decode_packet(v, DEFAULT_MAX_ATTACHMENTS, sio_part(&enc)).unwrap();
            prop_assert_eq!(n, 0);
            prop_assert_eq!(&p.nsp, &nsp);
            let PacketData::Event { name: got, args: got_args, id: got_id, .. } = p.data else {
                panic!("not an event")
            };
            prop_assert_eq!(got, EventName::Str(name.clone()));
            prop_assert_eq!(got_id, id);
            prop_assert_eq!(got_args.as_str(), array.as_str());
            prop_assert_eq!(got_args.iter().collect::<Vec<_>>(), args.iter().map(String::as_str).collect::<Vec<_>>());
        }
    }

    #[test]
    fn ack_round_trip(nsp in nsp(), args in args_json(), id in any::<u64>()) {
        let array = format!("[{}]", args.join(","));
        let enc = encode_ack(&nsp, id, &array).unwrap();
        let (p, _) = decode_packet(EioVersion::V4, 10, sio_part(&enc)).unwrap();
        prop_assert_eq!(&p.nsp, &nsp);
        let PacketData::Ack { id: got_id, args: got, .. } = p.data else { panic!() };
        prop_assert_eq!(got_id, Some(id));
        prop_assert_eq!(got.as_str(), array.as_str());
        // re-encoding the decoded args reproduces the packet byte for byte
        prop_assert_eq!(encode_ack(&nsp, id, got.as_str()).unwrap(), enc);
    }

    #[test]
    fn binary_round_trip(
        nsp in nsp(),
        name in name(),
        atts in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..8), 1..=10),
        id in proptest::option::of(0u64..1000),
        v3 in any::<bool>(),
        b64 in any::<bool>(),
    ) {
        let version = if v3 { EioVersion::V3 } else { EioVersion::V4 };
        let placeholders: Vec<String> = (0..atts.len())
            .map(|i| format!("{{\"_placeholder\":true,\"num\":{i}}}"))
            .collect();
        let array = format!("[{}]", placeholders.join(","));
        let atts: Vec<Bytes> = atts.into_iter().map(Bytes::from).collect();
        let msgs = match id {
            Some(id) if b64 => encode_binary_ack(version, b64, &nsp, id, &array, &atts).unwrap(),
            _ => encode_binary_event(version, b64, &nsp, &name, &array, id, &atts).unwrap(),
        };
        prop_assert_eq!(msgs.len(), atts.len() + 1);
        let mut dec = Decoder::new(version, 10);
        let mut out = None;
        for m in &msgs {
            let pkt = match m {
                WsMessage::Text(t) => match eio::decode_text(version, t).unwrap() {
                    eio::Packet::Message(d) => dec.decode_text(d).unwrap(),
                    eio::Packet::Binary(b) => dec.decode_binary(Bytes::from(b.into_owned())).unwrap(),
                    other => panic!("{other:?}"),
                },
                WsMessage::Binary(b) => match eio::decode_binary(version, b).unwrap() {
                    eio::Packet::Binary(b) => dec.decode_binary(Bytes::from(b.into_owned())).unwrap(),
                    other => panic!("{other:?}"),
                },
            };
            prop_assert!(out.is_none());
            out = pkt;
        }
        let p = out.expect("complete packet");
        prop_assert_eq!(&p.nsp, &nsp);
        let got = match p.data {
            PacketData::Event { attachments, args, .. } | PacketData::Ack { attachments, args, .. } => {
                prop_assert_eq!(args.as_str(), array.as_str());
                attachments
            }
            other => panic!("{other:?}"),
        };
        prop_assert_eq!(got, atts);
    }

    #[test]
    fn arbitrary_text_never_panics(s in "\\PC{0,40}", v3 in any::<bool>(), max in 0usize..12) {
        let v = if v3 { EioVersion::V3 } else { EioVersion::V4 };
        let _ = decode_packet(v, max, &s);
        let _ = eio::decode_text(v, &s);
        let mut d = Decoder::new(v, max);
        let _ = d.decode_text(&s);
        let _ = d.decode_binary(Bytes::from(s.clone().into_bytes()));
        let _ = RawArgs::parse(&s);
    }

    #[test]
    fn structured_garbage_never_panics(
        ty in "[0-9a]",
        count in "[0-9]{0,3}-?",
        nsp in "(/[a-z,]{0,4},?)?",
        id in "[0-9 ]{0,3}",
        json in "[\\[\\]{}\",:0-9a-z_ ]{0,20}",
    ) {
        let s = format!("{ty}{count}{nsp}{id}{json}");
        for v in [EioVersion::V3, EioVersion::V4] {
            let _ = decode_packet(v, 10, &s);
        }
    }
}

#[test]
fn byte_exact_echo_from_the_suite() {
    let (p, _) = decode_packet(EioVersion::V4, 10, r#"2["message",1,"2",{"3":[true]}]"#).unwrap();
    let PacketData::Event { args, .. } = p.data else {
        panic!()
    };
    assert_eq!(
        encode_event("/", "message-back", args.as_str(), None).unwrap(),
        r#"42["message-back",1,"2",{"3":[true]}]"#
    );
    // key order and number text survive
    let (p, _) = decode_packet(EioVersion::V4, 10, r#"2["e",{"z":1,"a":2.50,"m":1e3}]"#).unwrap();
    let PacketData::Event { args, .. } = p.data else {
        panic!()
    };
    assert_eq!(args.as_str(), r#"[{"z":1,"a":2.50,"m":1e3}]"#);
}
