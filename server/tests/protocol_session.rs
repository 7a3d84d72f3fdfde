//! Whole Engine.IO/Socket.IO sessions driven with raw strings and a virtual clock:
//! the captured sessions of `docs/PROTOCOL-NOTES.md` §2.9, heartbeat timing at the exact
//! boundaries, and every rejection of §6 items 18–19 and §2.4.

use bytes::Bytes;
use roomcast_server::protocol::eio::{EioError, EioVersion, WsMessage};
use roomcast_server::protocol::sio::{
    CloseReason, Session, SessionConfig, SessionError, SessionEvent, Violation,
};
use roomcast_server::protocol::sio::{EventName, RawJson, SioError};

/// One side of the wire as a test sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Out {
    T(String),
    B(Vec<u8>),
}

fn t(s: &str) -> Out {
    Out::T(s.to_owned())
}

struct Harness {
    s: Session,
}

impl Harness {
    fn new(version: EioVersion, now: u64) -> Harness {
        let cfg = SessionConfig {
            ping_interval: 300,
            ping_timeout: 200,
            ..SessionConfig::default()
        };
        Harness {
            s: Session::new(version, cfg, "ENGINESID".to_owned(), false, now),
        }
    }

    fn out(&mut self) -> Vec<Out> {
        std::iter::from_fn(|| self.s.poll_transmit())
            .map(|m| match m {
                WsMessage::Text(s) => Out::T(s),
                WsMessage::Binary(b) => Out::B(b.to_vec()),
            })
            .collect()
    }

    fn events(&mut self) -> Vec<SessionEvent> {
        std::iter::from_fn(|| self.s.poll_event()).collect()
    }

    fn close_reason(&mut self) -> CloseReason {
        let evs = self.events();
        match evs.last() {
            Some(SessionEvent::Close { reason }) => reason.clone(),
            _ => panic!("expected a close, got {evs:?}"),
        }
    }

    /// A v5 session with `/` joined and its transmits drained.
    fn v5_joined() -> Harness {
        let mut h = Harness::new(EioVersion::V4, 0);
        h.s.handle_text("40", 1);
        h.events();
        h.s.accept("/", "SOCKETID").unwrap();
        h.out();
        h
    }
}

fn open_packet() -> Out {
    t(
        r#"0{"sid":"ENGINESID","upgrades":[],"pingInterval":300,"pingTimeout":200,"maxPayload":1000000}"#,
    )
}

fn placeholder(n: usize) -> String {
    format!("{{\"_placeholder\":true,\"num\":{n}}}")
}

#[test]
fn captured_v5_session() {
    let mut h = Harness::new(EioVersion::V4, 0);
    assert_eq!(h.out(), [open_packet()]);

    h.s.handle_text(r#"40/admin,{"token":"abc"}"#, 10);
    h.s.handle_text("40", 11);
    let evs = h.events();
    assert_eq!(
        evs,
        [
            SessionEvent::ConnectRequest {
                nsp: "/admin".into(),
                auth: RawJson::parse(r#"{"token":"abc"}"#).unwrap()
            },
            SessionEvent::ConnectRequest {
                nsp: "/".into(),
                auth: RawJson::parse("{}").unwrap()
            },
        ]
    );
    let SessionEvent::ConnectRequest { auth, .. } = &evs[0] else {
        unreachable!()
    };
    h.s.accept("/admin", "jLiZsFNcnp2srFuYAAAA").unwrap();
    h.s.emit(
        "/admin",
        "welcome",
        &format!("[{},null]", auth.as_str()),
        None,
        &[],
    )
    .unwrap();
    h.s.accept("/", "85JH2pB_vOnnFqktAAAB").unwrap();
    assert_eq!(
        h.out(),
        [
            t(r#"40/admin,{"sid":"jLiZsFNcnp2srFuYAAAA"}"#),
            t(r#"42/admin,["welcome",{"token":"abc"},null]"#),
            t(r#"40{"sid":"85JH2pB_vOnnFqktAAAB"}"#),
        ]
    );

    h.s.handle_text(&format!("451-0[\"hi\",{}]", placeholder(0)), 20);
    assert!(h.events().is_empty(), "waits for the attachment");
    h.s.handle_binary(Bytes::from_static(&[0x09]), 21);
    let evs = h.events();
    let [SessionEvent::Event {
        nsp,
        name,
        args,
        ack_id,
        attachments,
    }] = &evs[..]
    else {
        panic!("{evs:?}")
    };
    assert_eq!(nsp, "/");
    assert_eq!(name, &EventName::Str("hi".into()));
    assert_eq!(args.as_str(), format!("[{}]", placeholder(0)));
    assert_eq!(*ack_id, Some(0));
    assert_eq!(attachments, &[Bytes::from_static(&[9])]);
    h.s.ack(
        "/",
        0,
        &format!("[\"ok\",{}]", placeholder(0)),
        &[Bytes::from_static(&[1])],
    )
    .unwrap();
    assert_eq!(
        h.out(),
        [
            t(&format!("461-0[\"ok\",{}]", placeholder(0))),
            Out::B(vec![1])
        ]
    );

    h.s.handle_timeout(300);
    assert_eq!(h.out(), [t("2")]);
    h.s.handle_text("3", 305);

    h.s.handle_text("41", 310);
    h.s.handle_text("41/admin,", 311);
    assert_eq!(
        h.events(),
        [
            SessionEvent::Disconnect { nsp: "/".into() },
            SessionEvent::Disconnect {
                nsp: "/admin".into()
            },
        ]
    );
    assert!(!h.s.is_closed(), "leaving every namespace keeps the engine");
    h.s.handle_transport_closed();
    assert_eq!(h.close_reason(), CloseReason::TransportClose);
}

#[test]
fn captured_v4_session() {
    let mut h = Harness::new(EioVersion::V3, 0);
    assert_eq!(
        h.events(),
        [SessionEvent::ConnectRequest {
            nsp: "/".into(),
            auth: RawJson::parse("{}").unwrap()
        }]
    );
    h.s.accept("/", "ENGINESID").unwrap();
    assert_eq!(h.out(), [open_packet(), t("40")]);

    h.s.handle_text("40/admin?token=abc,", 5);
    let evs = h.events();
    assert_eq!(
        evs,
        [SessionEvent::ConnectRequest {
            nsp: "/admin".into(),
            auth: RawJson::parse(r#"{"token":"abc"}"#).unwrap()
        }]
    );

    h.s.handle_text(&format!("451-0[\"hi\",{}]", placeholder(0)), 6);
    h.s.handle_binary(Bytes::from_static(&[0x04, 0x09]), 7);
    let evs = h.events();
    let [SessionEvent::Event {
        attachments,
        ack_id,
        ..
    }] = &evs[..]
    else {
        panic!("{evs:?}")
    };
    assert_eq!(attachments, &[Bytes::from_static(&[9])]);
    assert_eq!(*ack_id, Some(0));
    h.s.ack(
        "/",
        0,
        &format!("[\"ok\",{}]", placeholder(0)),
        &[Bytes::from_static(&[1])],
    )
    .unwrap();
    h.s.accept("/admin", "/admin#ENGINESID").unwrap();
    h.s.emit("/admin", "welcome", r#"[{"token":"abc"},"abc"]"#, None, &[])
        .unwrap();
    assert_eq!(
        h.out(),
        [
            t(&format!("461-0[\"ok\",{}]", placeholder(0))),
            Out::B(vec![4, 1]),
            t("40/admin,"),
            t(r#"42/admin,["welcome",{"token":"abc"},"abc"]"#),
        ]
    );

    h.s.handle_text("2", 100);
    assert_eq!(h.out(), [t("3")]);
    assert!(!h.s.is_closed());
}

#[test]
fn v3_base64_client_gets_text_attachments() {
    let cfg = SessionConfig::default();
    let mut s = Session::new(EioVersion::V3, cfg, "S".into(), true, 0);
    s.accept("/", "S").unwrap();
    s.emit(
        "/",
        "file",
        &format!("[{}]", placeholder(0)),
        None,
        &[Bytes::from_static(&[1, 2, 3])],
    )
    .unwrap();
    let out: Vec<_> = std::iter::from_fn(|| s.poll_transmit()).collect();
    assert_eq!(out.last(), Some(&WsMessage::Text("b4AQID".into())));
    // and the client may send its attachments as `b4<base64>` too
    s.handle_text(&format!("451-[\"up\",{}]", placeholder(0)), 1);
    s.handle_text("b4CQ==", 2);
    let evs: Vec<_> = std::iter::from_fn(|| s.poll_event()).collect();
    assert!(
        matches!(&evs[..], [_, SessionEvent::Event { attachments, .. }] if attachments[..] == [Bytes::from_static(&[9])]),
        "{evs:?}"
    );
}

// ---- heartbeat boundaries -------------------------------------------------------

#[test]
fn v5_heartbeat_boundaries() {
    let mut h = Harness::v5_joined();
    // first ping exactly pingInterval after OPEN (t=0)
    assert_eq!(h.s.next_deadline(), Some(300));
    h.s.handle_timeout(299);
    assert!(h.out().is_empty());
    h.s.handle_timeout(300);
    assert_eq!(h.out(), [t("2")]);
    // pong deadline is exactly pingTimeout after the ping
    assert_eq!(h.s.next_deadline(), Some(500));
    h.s.handle_timeout(499);
    assert!(!h.s.is_closed());
    h.s.handle_text("3", 499);
    // the interval restarts at the pong
    assert_eq!(h.s.next_deadline(), Some(799));
    h.s.handle_timeout(798);
    assert!(h.out().is_empty());
    h.s.handle_timeout(799);
    assert_eq!(h.out(), [t("2")]);
    h.s.handle_timeout(998);
    assert!(!h.s.is_closed());
    h.s.handle_timeout(999);
    assert_eq!(h.close_reason(), CloseReason::PingTimeout);
    assert_eq!(h.s.next_deadline(), None);
}

#[test]
fn v5_unsolicited_pong_restarts_interval() {
    let mut h = Harness::v5_joined();
    h.s.handle_text("3", 250);
    assert_eq!(h.s.next_deadline(), Some(550));
    assert!(!h.s.is_closed());
}

#[test]
fn v5_heartbeat_continues_after_leaving_last_namespace() {
    let mut h = Harness::v5_joined();
    h.s.handle_text("41", 10);
    assert_eq!(h.events(), [SessionEvent::Disconnect { nsp: "/".into() }]);
    h.s.handle_timeout(300);
    assert_eq!(h.out(), [t("2")]);
    // no connect timeout re-armed after leaving
    h.s.handle_text("3", 310);
    h.s.handle_timeout(45_000);
    assert!(!h.s.is_closed());
}

#[test]
fn v3_heartbeat_boundaries() {
    let mut h = Harness::new(EioVersion::V3, 0);
    h.s.accept("/", "ENGINESID").unwrap();
    h.events();
    h.out();
    assert_eq!(h.s.next_deadline(), Some(500));
    h.s.handle_text("2", 104);
    assert_eq!(h.out(), [t("3")]);
    // observed: closed at 104 + 300 + 200 = 604 without another ping
    assert_eq!(h.s.next_deadline(), Some(604));
    h.s.handle_timeout(603);
    assert!(!h.s.is_closed());
    h.s.handle_text("3", 603); // ignored, does not count as a ping
    assert_eq!(h.s.next_deadline(), Some(604));
    h.s.handle_timeout(604);
    assert_eq!(h.close_reason(), CloseReason::PingTimeout);
    // the server never pings in v3
    assert!(h.out().is_empty());
}

#[test]
fn v3_no_ping_at_all_closes() {
    let mut h = Harness::new(EioVersion::V3, 1000);
    h.s.accept("/", "ENGINESID").unwrap();
    h.events();
    h.s.handle_timeout(1499);
    assert!(!h.s.is_closed());
    h.s.handle_timeout(1500);
    assert_eq!(h.close_reason(), CloseReason::PingTimeout);
}

#[test]
fn v5_connect_timeout() {
    let cfg = SessionConfig {
        ping_interval: 25_000,
        ping_timeout: 20_000,
        ..SessionConfig::default()
    };
    let mut s = Session::new(EioVersion::V4, cfg, "S".into(), false, 0);
    s.handle_timeout(25_000);
    s.handle_text("3", 25_010);
    // a CONNECT awaiting the caller's answer does not stop the timer
    s.handle_text("40/slow,", 30_000);
    s.handle_timeout(44_999);
    assert!(!s.is_closed());
    assert_eq!(s.next_deadline(), Some(45_000));
    s.handle_timeout(45_000);
    assert_eq!(s.close_reason(), Some(&CloseReason::ConnectTimeout));
}

#[test]
fn connect_timeout_cleared_by_join() {
    let mut h = Harness::v5_joined();
    for k in 1..200u64 {
        let now = k * 300;
        h.s.handle_timeout(now);
        h.s.handle_text("3", now + 1);
    }
    assert!(!h.s.is_closed());
}

// ---- engine-level inputs ------------------------------------------------------------

#[test]
fn engine_close_packet_closes_at_once() {
    let mut h = Harness::v5_joined();
    h.s.handle_text("1", 102);
    assert_eq!(h.close_reason(), CloseReason::ClosePacket);
    // nothing more is processed
    h.s.handle_text("42[\"x\"]", 103);
    assert!(h.events().is_empty());
    assert_eq!(
        h.s.emit("/", "x", "[]", None, &[]),
        Err(SessionError::Closed)
    );
}

#[test]
fn v5_client_ping_is_invalid() {
    let mut h = Harness::v5_joined();
    h.s.handle_text("2", 50);
    assert_eq!(h.close_reason(), CloseReason::InvalidHeartbeatDirection);
}

#[test]
fn ignored_engine_packets() {
    let mut h = Harness::v5_joined();
    for p in ["5", "6", "0", "0{}", "6noop"] {
        h.s.handle_text(p, 10);
    }
    assert!(h.events().is_empty());
    assert!(h.out().is_empty());
    assert!(!h.s.is_closed());
}

#[test]
fn engine_parse_errors() {
    for (input, want) in [
        ("abc", EioError::UnknownType('a')),
        ("", EioError::EmptyText),
        ("9", EioError::UnknownType('9')),
        ("b$$", EioError::InvalidBase64),
    ] {
        let mut h = Harness::v5_joined();
        h.s.handle_text(input, 10);
        assert_eq!(
            h.close_reason(),
            CloseReason::EngineParseError(want),
            "{input:?}"
        );
    }
    let mut h = Harness::new(EioVersion::V3, 0);
    h.s.handle_binary(Bytes::from_static(&[2, 1]), 1);
    assert_eq!(
        h.close_reason(),
        CloseReason::EngineParseError(EioError::BinaryNotMessage(2))
    );
}

// ---- Socket.IO decoder rejections (§6 items 18-19) ---------------------------------

fn sio_close(input: &str) -> CloseReason {
    let mut h = Harness::v5_joined();
    h.s.handle_text(input, 10);
    h.close_reason()
}

#[test]
fn decoder_rejections_close_the_connection() {
    let cases = [
        "4abc",                                           // unknown type
        "47",                                             // unknown type
        "45-[\"a\"]",                                     // missing count
        "451[\"a\"]",                                     // missing '-'
        "45x-[\"a\"]",                                    // non-numeric count
        "4511-[\"a\"]",                                   // > maxAttachments
        "450-[\"a\"]",                                    // < 1
        "42[\"a\"",                                       // non-JSON tail
        "42[\"a\"]]",                                     // trailing garbage
        "40[]",                                           // CONNECT not an object
        "40\"x\"",                                        // CONNECT not an object
        "41{}",                                           // DISCONNECT with payload
        "42{}",                                           // EVENT not an array
        "42[]",                                           // EVENT empty
        "42[{}]",                                         // first element not number/string
        "42[\"disconnect\"]",                             // reserved name
        "42[\"connect_error\",1]",                        // reserved name
        "43{}",                                           // ACK not an array
        "421 [\"a\"]",                                    // space in ack id (strict)
        "4",                                              // empty message
        "451-[\"a\",{\"_placeholder\":true,\"num\":1}]",  // placeholder out of range
        "452-[\"a\",{\"_placeholder\":true,\"num\":-1}]", // placeholder negative
    ];
    for c in cases {
        let r = sio_close(c);
        assert!(
            matches!(r, CloseReason::SocketIoParseError(_)),
            "{c:?} -> {r:?}"
        );
    }
    assert_eq!(
        sio_close("4"),
        CloseReason::SocketIoParseError(SioError::Empty)
    );
    assert_eq!(
        sio_close("42[\"disconnect\"]"),
        CloseReason::SocketIoParseError(SioError::ReservedEventName("disconnect".into()))
    );
}

#[test]
fn reassembly_rejections() {
    // text while awaiting binary
    let mut h = Harness::v5_joined();
    h.s.handle_text(&format!("451-[\"a\",{}]", placeholder(0)), 1);
    h.s.handle_text("42[\"b\"]", 2);
    assert_eq!(
        h.close_reason(),
        CloseReason::SocketIoParseError(SioError::UnexpectedText)
    );
    // binary when none awaited
    let mut h = Harness::v5_joined();
    h.s.handle_binary(Bytes::from_static(b"x"), 1);
    assert_eq!(
        h.close_reason(),
        CloseReason::SocketIoParseError(SioError::UnexpectedBinary)
    );
    // two attachments arrive in order
    let mut h = Harness::v5_joined();
    h.s.handle_text(
        &format!("452-[\"a\",{},{}]", placeholder(1), placeholder(0)),
        1,
    );
    h.s.handle_binary(Bytes::from_static(b"A"), 2);
    assert!(h.events().is_empty());
    h.s.handle_binary(Bytes::from_static(b"B"), 3);
    let evs = h.events();
    assert!(
        matches!(&evs[..], [SessionEvent::Event { attachments, .. }] if attachments[..] == [Bytes::from_static(b"A"), Bytes::from_static(b"B")])
    );
}

// ---- namespace rules (§2.4) ----------------------------------------------------------

#[test]
fn v5_event_before_connect_closes() {
    let mut h = Harness::new(EioVersion::V4, 0);
    h.s.handle_text("42[\"x\"]", 1);
    assert_eq!(
        h.close_reason(),
        CloseReason::ProtocolViolation(Violation::NotJoined("/".into()))
    );
}

#[test]
fn v5_duplicate_connect_closes() {
    let mut h = Harness::v5_joined();
    h.s.handle_text("40", 2);
    assert_eq!(
        h.close_reason(),
        CloseReason::ProtocolViolation(Violation::DuplicateConnect("/".into()))
    );
    // also while the first is still pending
    let mut h = Harness::new(EioVersion::V4, 0);
    h.s.handle_text("40/a,", 1);
    h.s.handle_text("40/a,", 2);
    assert_eq!(
        h.close_reason(),
        CloseReason::ProtocolViolation(Violation::DuplicateConnect("/a".into()))
    );
}

#[test]
fn v5_event_after_leaving_closes() {
    let mut h = Harness::v5_joined();
    h.s.handle_text("41", 2);
    h.s.handle_text("42[\"x\"]", 3);
    let evs = h.events();
    assert_eq!(
        evs,
        [
            SessionEvent::Disconnect { nsp: "/".into() },
            SessionEvent::Close {
                reason: CloseReason::ProtocolViolation(Violation::NotJoined("/".into()))
            }
        ]
    );
}

#[test]
fn v5_event_on_other_namespace_closes() {
    let mut h = Harness::v5_joined();
    h.s.handle_text("42/admin,[\"x\"]", 2);
    assert_eq!(
        h.close_reason(),
        CloseReason::ProtocolViolation(Violation::NotJoined("/admin".into()))
    );
}

#[test]
fn v5_client_connect_error_closes() {
    let mut h = Harness::v5_joined();
    h.s.handle_text("44{\"message\":\"x\"}", 2);
    assert_eq!(
        h.close_reason(),
        CloseReason::ProtocolViolation(Violation::ClientConnectError("/".into()))
    );
}

#[test]
fn v5_refusals() {
    let mut h = Harness::new(EioVersion::V4, 0);
    h.s.handle_text("40/random,", 1);
    h.s.handle_text("40/custom?token=abc,", 1);
    h.s.handle_text("40/auth,{\"t\":1}", 1);
    assert_eq!(h.events().len(), 3);
    h.s.refuse("/random", "Invalid namespace", None).unwrap();
    h.s.refuse("/custom?token=abc", "Invalid namespace", None)
        .unwrap();
    h.s.refuse("/auth", "Not authorized", Some("{\"reason\":\"x\"}"))
        .unwrap();
    assert_eq!(
        h.out()[1..],
        [
            t("44/random,{\"message\":\"Invalid namespace\"}"),
            t("44/custom?token=abc,{\"message\":\"Invalid namespace\"}"),
            t("44/auth,{\"message\":\"Not authorized\",\"data\":{\"reason\":\"x\"}}"),
        ]
    );
    assert!(
        !h.s.is_closed(),
        "the engine stays open after CONNECT_ERROR"
    );
    // the refused namespace may be asked again
    h.s.handle_text("40/auth,{\"t\":2}", 2);
    assert!(matches!(
        &h.events()[..],
        [SessionEvent::ConnectRequest { .. }]
    ));
    assert_eq!(
        h.s.refuse("/nope", "x", None),
        Err(SessionError::NoPendingConnect("/nope".into()))
    );
    assert_eq!(
        h.s.emit("/random", "x", "[]", None, &[]),
        Err(SessionError::NotJoined("/random".into()))
    );
}

#[test]
fn v3_refusals_use_data_or_message() {
    let mut h = Harness::new(EioVersion::V3, 0);
    h.s.accept("/", "ENGINESID").unwrap();
    h.s.handle_text("40/auth,", 1);
    h.s.handle_text("40/auth2,", 1);
    h.s.handle_text("40/random,", 1);
    h.s.refuse("/auth", "Not authorized", Some("{\"reason\":\"x\"}"))
        .unwrap();
    h.s.refuse("/auth2", "Not authorized", None).unwrap();
    h.s.refuse("/random", "Invalid namespace", None).unwrap();
    assert_eq!(
        h.out()[2..],
        [
            t("44/auth,{\"reason\":\"x\"}"),
            t("44/auth2,\"Not authorized\""),
            t("44/random,\"Invalid namespace\""),
        ]
    );
}

#[test]
fn v3_tolerates_packets_for_unknown_namespaces() {
    let mut h = Harness::new(EioVersion::V3, 0);
    h.s.accept("/", "ENGINESID").unwrap();
    h.events();
    h.s.handle_text("42/nope,[\"x\"]", 1);
    h.s.handle_text("44/nope,\"x\"", 1);
    h.s.handle_text("41", 2);
    h.s.handle_text("42[\"after-leave\"]", 3);
    // v4 has no reserved-name check
    assert_eq!(h.events(), [SessionEvent::Disconnect { nsp: "/".into() }]);
    assert!(!h.s.is_closed());
}

#[test]
fn acks_both_directions() {
    let mut h = Harness::v5_joined();
    h.s.handle_text("42456[\"message\",1,\"2\",{\"3\":[false]}]", 5);
    let evs = h.events();
    let [SessionEvent::Event { ack_id, args, .. }] = &evs[..] else {
        panic!("{evs:?}")
    };
    h.s.ack("/", ack_id.unwrap(), args.as_str(), &[]).unwrap();
    assert_eq!(h.out(), [t("43456[1,\"2\",{\"3\":[false]}]")]);
    h.s.emit("/", "message-back", args.as_str(), Some(7), &[])
        .unwrap();
    assert_eq!(
        h.out(),
        [t("427[\"message-back\",1,\"2\",{\"3\":[false]}]")]
    );
    h.s.handle_text("437[\"done\"]", 6);
    let evs = h.events();
    assert!(
        matches!(&evs[..], [SessionEvent::Ack { id: 7, args, .. }] if args.as_str() == "[\"done\"]")
    );
    // an ACK without id is ignored
    h.s.handle_text("43[1]", 7);
    assert!(h.events().is_empty());
    assert!(!h.s.is_closed());
}

#[test]
fn reserved_names_are_never_emitted() {
    let mut h = Harness::v5_joined();
    for name in [
        "connect",
        "connect_error",
        "disconnect",
        "disconnecting",
        "newListener",
        "removeListener",
    ] {
        assert!(matches!(
            h.s.emit("/", name, "[]", None, &[]),
            Err(SessionError::Encode(SioError::ReservedEventName(_)))
        ));
    }
    assert!(h.out().is_empty());
}

#[test]
fn server_disconnect_and_close() {
    let mut h = Harness::v5_joined();
    h.s.disconnect("/").unwrap();
    assert_eq!(h.out(), [t("41")]);
    assert!(!h.s.is_joined("/"));
    assert_eq!(
        h.s.disconnect("/"),
        Err(SessionError::NotJoined("/".into()))
    );
    h.s.close();
    assert_eq!(h.close_reason(), CloseReason::ServerClose);
    h.s.close();
    assert!(h.events().is_empty(), "Close is reported once");
}

#[test]
fn too_many_namespaces() {
    let cfg = SessionConfig {
        max_namespaces: 2,
        ..SessionConfig::default()
    };
    let mut s = Session::new(EioVersion::V4, cfg, "S".into(), false, 0);
    s.handle_text("40/a,", 1);
    s.handle_text("40/b,", 1);
    s.handle_text("40/c,", 1);
    assert_eq!(
        s.close_reason(),
        Some(&CloseReason::ProtocolViolation(
            Violation::TooManyNamespaces
        ))
    );
}
