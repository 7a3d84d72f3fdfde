//! Codec tests: decoding and encoding against the reference behaviour.

use super::*;
use bytes::Bytes;

use crate::protocol::eio::{EioVersion, WsMessage};
use EioVersion::{V3, V4};

fn dec(v: EioVersion, s: &str) -> Result<Packet, SioError> {
    decode_packet(v, DEFAULT_MAX_ATTACHMENTS, s).map(|(p, _)| p)
}

fn event(p: &Packet) -> (&EventName, &RawArgs, Option<u64>) {
    match &p.data {
        PacketData::Event { name, args, id, .. } => (name, args, *id),
        other => panic!("not an event: {other:?}"),
    }
}

#[test]
fn connect_variants() {
    let p = dec(V4, "0").unwrap();
    assert_eq!(p.nsp, "/");
    assert_eq!(p.data, PacketData::Connect { auth: None });
    let p = dec(V4, "0{\"token\":\"123\"}").unwrap();
    let PacketData::Connect { auth: Some(a) } = &p.data else {
        panic!()
    };
    assert_eq!(a.as_str(), "{\"token\":\"123\"}");
    let p = dec(V4, "0/admin,{\"token\":\"abc\"}").unwrap();
    assert_eq!(p.nsp, "/admin");
    assert_eq!(dec(V4, "0/custom").unwrap().nsp, "/custom");
    assert!(matches!(dec(V4, "0custom,"), Err(SioError::InvalidJson(_))));
    for bad in ["0[]", "0\"x\"", "0null", "0/a,true"] {
        assert!(
            matches!(dec(V4, bad), Err(SioError::InvalidPayload { .. })),
            "{bad}"
        );
    }
    // v4 is looser: arrays and null pass.
    assert!(dec(V3, "0[]").is_ok());
    assert!(dec(V3, "0null").is_ok());
    assert!(dec(V3, "0\"x\"").is_err());
    assert_eq!(
        dec(V3, "0/admin?token=abc,").unwrap().nsp,
        "/admin?token=abc"
    );
}

#[test]
fn disconnect_and_errors() {
    assert_eq!(dec(V4, "1").unwrap().data, PacketData::Disconnect);
    assert_eq!(dec(V4, "1/admin,").unwrap().nsp, "/admin");
    assert!(matches!(
        dec(V4, "1{}"),
        Err(SioError::InvalidPayload {
            kind: PacketKind::Disconnect,
            ..
        })
    ));
    assert!(dec(V4, "4{\"message\":\"x\"}").is_ok());
    assert!(dec(V4, "4\"x\"").is_ok());
    assert!(dec(V4, "4").is_ok());
    assert!(matches!(
        dec(V4, "4[1]"),
        Err(SioError::InvalidPayload { .. })
    ));
    assert_eq!(dec(V4, ""), Err(SioError::Empty));
    assert_eq!(dec(V4, "abc"), Err(SioError::UnknownPacketType('a')));
    assert_eq!(dec(V4, "7"), Err(SioError::UnknownPacketType('7')));
}

#[test]
fn events() {
    let p = dec(V4, "2[\"message-back\",1,\"2\",{\"3\":[true]}]").unwrap();
    let (name, args, id) = event(&p);
    assert_eq!(name, &EventName::Str("message-back".into()));
    assert_eq!(args.as_str(), "[1,\"2\",{\"3\":[true]}]");
    assert_eq!(args.len(), 3);
    assert_eq!(args.get(2), Some("{\"3\":[true]}"));
    assert_eq!(id, None);
    let p = dec(V4, "2/admin,13[\"project:delete\",123]").unwrap();
    assert_eq!(p.nsp, "/admin");
    let (name, args, id) = event(&p);
    assert_eq!(name.as_str(), "project:delete");
    assert_eq!(args.as_str(), "[123]");
    assert_eq!(id, Some(13));
    let p = dec(V4, "2[1,\"x\"]").unwrap();
    assert_eq!(event(&p).0, &EventName::Num("1".into()));
    let p = dec(V4, "2[\"only\"]").unwrap();
    assert_eq!(event(&p).1.as_str(), "[]");
    assert!(event(&p).1.is_empty());
    // whitespace inside the array is kept verbatim between args
    let p = dec(V4, "2[ \"a\" , 1 ,  {\"b\": 2} ]").unwrap();
    assert_eq!(event(&p).1.as_str(), "[1 ,  {\"b\": 2}]");
    assert_eq!(event(&p).1.iter().collect::<Vec<_>>(), ["1", "{\"b\": 2}"]);
}

#[test]
fn event_rejections() {
    for bad in [
        "2{}",
        "2[]",
        "2[null]",
        "2[{}]",
        "2",
        "2\"x\"",
        "2[\"a\"",
        "2[\"a\"]x",
    ] {
        assert!(dec(V4, bad).is_err(), "{bad}");
    }
    assert_eq!(
        dec(V4, "2[\"disconnect\"]"),
        Err(SioError::ReservedEventName("disconnect".into()))
    );
    // v4 (EIO3) has no reserved-name check.
    assert!(dec(V3, "2[\"disconnect\"]").is_ok());
    // strict ack ids
    assert_eq!(dec(V4, "21 [\"a\"]"), Err(SioError::InvalidAckId));
    assert!(dec(V4, "2 [\"a\"]").is_err());
    assert_eq!(
        dec(V4, "299999999999999999999[\"a\"]"),
        Err(SioError::InvalidAckId)
    );
}

#[test]
fn acks() {
    let p = dec(V4, "3456[1,\"2\",{\"3\":[false]}]").unwrap();
    let PacketData::Ack { id, args, .. } = &p.data else {
        panic!()
    };
    assert_eq!(*id, Some(456));
    assert_eq!(args.as_str(), "[1,\"2\",{\"3\":[false]}]");
    assert!(dec(V4, "313[]").is_ok());
    assert!(dec(V4, "313{}").is_err());
    assert!(dec(V4, "313").is_err());
}

#[test]
fn binary_headers() {
    let (p, n) = decode_packet(V4, 10, "51-[\"hi\",{\"_placeholder\":true,\"num\":0}]").unwrap();
    assert_eq!(n, 1);
    assert_eq!(event(&p).1.as_str(), "[{\"_placeholder\":true,\"num\":0}]");
    let (_, n) = decode_packet(
        V4,
        10,
        "62-789[{\"_placeholder\":true,\"num\":0},{\"_placeholder\":true,\"num\":1}]",
    )
    .unwrap();
    assert_eq!(n, 2);
    assert_eq!(dec(V4, "50-[\"a\"]"), Err(SioError::NoAttachments));
    assert_eq!(
        dec(V4, "511-[\"a\"]"),
        Err(SioError::TooManyAttachments { max: 10 })
    );
    assert_eq!(dec(V4, "5-[\"a\"]"), Err(SioError::IllegalAttachments));
    assert_eq!(dec(V4, "51[\"a\"]"), Err(SioError::IllegalAttachments));
    assert_eq!(dec(V4, "5a-[\"a\"]"), Err(SioError::IllegalAttachments));
    assert_eq!(
        dec(V4, "599999999999999999999999-[\"a\"]"),
        Err(SioError::TooManyAttachments { max: 10 })
    );
    assert_eq!(
        dec(V4, "51-[\"a\",{\"_placeholder\":true,\"num\":1}]"),
        Err(SioError::IllegalPlaceholder)
    );
    assert_eq!(
        dec(V4, "51-[\"a\",{\"_placeholder\":true,\"num\":\"0\"}]"),
        Err(SioError::IllegalPlaceholder)
    );
    assert_eq!(
        dec(V4, "51-[\"a\",[{\"x\":{\"_placeholder\":true}}]]"),
        Err(SioError::IllegalPlaceholder)
    );
}

#[test]
fn reassembly() {
    let mut d = Decoder::new(V4, 10);
    assert_eq!(
        d.decode_binary(Bytes::from_static(b"x")),
        Err(SioError::UnexpectedBinary)
    );
    let mut d = Decoder::new(V4, 10);
    assert_eq!(
        d.decode_text("52-/admin,7[\"hi\",{\"_placeholder\":true,\"num\":1},{\"_placeholder\":true,\"num\":0}]"),
        Ok(None)
    );
    assert!(d.is_reconstructing());
    assert_eq!(d.decode_text("2[\"x\"]"), Err(SioError::UnexpectedText));
    let mut d = Decoder::new(V4, 10);
    d.decode_text("51-[\"hi\",{\"_placeholder\":true,\"num\":0}]")
        .unwrap();
    let p = d.decode_binary(Bytes::from_static(&[9])).unwrap().unwrap();
    let PacketData::Event { attachments, .. } = &p.data else {
        panic!()
    };
    assert_eq!(attachments, &[Bytes::from_static(&[9])]);
    assert!(!d.is_reconstructing());
}

#[test]
fn encoders() {
    assert_eq!(
        encode_connect(V4, "/", "abc").unwrap(),
        "40{\"sid\":\"abc\"}"
    );
    assert_eq!(
        encode_connect(V4, "/admin", "x").unwrap(),
        "40/admin,{\"sid\":\"x\"}"
    );
    assert_eq!(encode_connect(V3, "/", "x").unwrap(), "40");
    assert_eq!(encode_connect(V3, "/admin", "x").unwrap(), "40/admin,");
    assert_eq!(
        encode_connect_error(V4, "/random", "Invalid namespace", None).unwrap(),
        "44/random,{\"message\":\"Invalid namespace\"}"
    );
    assert_eq!(
        encode_connect_error(V4, "/auth", "Not authorized", Some("{\"reason\":\"x\"}")).unwrap(),
        "44/auth,{\"message\":\"Not authorized\",\"data\":{\"reason\":\"x\"}}"
    );
    assert_eq!(
        encode_connect_error(V3, "/auth", "Not authorized", Some("{\"reason\":\"x\"}")).unwrap(),
        "44/auth,{\"reason\":\"x\"}"
    );
    assert_eq!(
        encode_connect_error(V3, "/auth2", "Not authorized", None).unwrap(),
        "44/auth2,\"Not authorized\""
    );
    assert_eq!(
        encode_connect_error(V3, "/random", "Invalid namespace", None).unwrap(),
        "44/random,\"Invalid namespace\""
    );
    // v3: data that is not an object or a string falls back to the message
    assert_eq!(
        encode_connect_error(V3, "/", "m", Some("5")).unwrap(),
        "44\"m\""
    );
    assert_eq!(
        encode_connect_error(V3, "/", "m", Some("\"why\"")).unwrap(),
        "44\"why\""
    );
    assert_eq!(encode_disconnect("/").unwrap(), "41");
    assert_eq!(encode_disconnect("/admin").unwrap(), "41/admin,");
    assert_eq!(
        encode_event("/", "message-back", "[1,\"2\",{\"3\":[true]}]", None).unwrap(),
        "42[\"message-back\",1,\"2\",{\"3\":[true]}]"
    );
    assert_eq!(
        encode_event("/a", "x", "[]", Some(5)).unwrap(),
        "42/a,5[\"x\"]"
    );
    assert_eq!(
        encode_event("/", "connect", "[]", None),
        Err(SioError::ReservedEventName("connect".into()))
    );
    assert_eq!(
        encode_event("/", "x", "{}", None),
        Err(SioError::InvalidArgs)
    );
    assert_eq!(
        encode_event("a", "x", "[]", None),
        Err(SioError::InvalidNamespace("a".into()))
    );
    assert_eq!(
        encode_ack("/", 456, "[1,\"2\",{\"3\":[false]}]").unwrap(),
        "43456[1,\"2\",{\"3\":[false]}]"
    );
    let one = [Bytes::from_static(&[1])];
    let m = encode_binary_ack(
        V4,
        false,
        "/",
        0,
        "[\"ok\",{\"_placeholder\":true,\"num\":0}]",
        &one,
    )
    .unwrap();
    assert_eq!(
        m,
        vec![
            WsMessage::Text("461-0[\"ok\",{\"_placeholder\":true,\"num\":0}]".into()),
            WsMessage::Binary(Bytes::from_static(&[1]))
        ]
    );
    let m = encode_binary_ack(
        V3,
        false,
        "/",
        0,
        "[\"ok\",{\"_placeholder\":true,\"num\":0}]",
        &one,
    )
    .unwrap();
    assert_eq!(m[1], WsMessage::Binary(Bytes::from_static(&[4, 1])));
    let m = encode_binary_event(
        V4,
        false,
        "/admin",
        "e",
        "[{\"_placeholder\":true,\"num\":0}]",
        Some(3),
        &one,
    )
    .unwrap();
    assert_eq!(
        m[0].as_text(),
        Some("451-/admin,3[\"e\",{\"_placeholder\":true,\"num\":0}]")
    );
}
