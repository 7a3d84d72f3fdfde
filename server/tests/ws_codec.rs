//! The WebSocket codec, case family by case family (the Autobahn groups): framing,
//! pings, reserved bits, opcodes, fragmentation, UTF-8, close handling, limits.
//! Sans-IO: raw client bytes in, events and server bytes out; no sockets.

use bytes::BytesMut;
use roomcast::wire::{
    encode_frame, OP_BINARY, OP_CLOSE, OP_CONTINUATION, OP_PING, OP_PONG, OP_TEXT,
};
use roomcast_server::protocol::ws::{
    accept_key, encode_close, CloseInitiator, CloseState, FrameHeader, Inbound, MessageDecoder,
    WsConfig, WsError, WsEvent, WsSession,
};

const KEY: [u8; 4] = [0x37, 0xFA, 0x21, 0x3D];

/// A masked client frame (the test's own encoder; the property test in
/// `ws_differential.rs` uses tungstenite's instead).
fn client_frame(fin: bool, rsv: u8, opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = client_header(fin, rsv, opcode, payload.len() as u64);
    out.extend_from_slice(&KEY);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ KEY[i % 4]));
    out
}

/// The first bytes of a masked client header, without the key.
fn client_header(fin: bool, rsv: u8, opcode: u8, len: u64) -> Vec<u8> {
    let mut out = vec![u8::from(fin) << 7 | rsv << 4 | opcode];
    if len < 126 {
        out.push(0x80 | len as u8);
    } else if len <= 0xFFFF {
        out.push(0x80 | 126);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(0x80 | 127);
        out.extend_from_slice(&len.to_be_bytes());
    }
    out
}

fn text(s: &str) -> Vec<u8> {
    client_frame(true, 0, OP_TEXT, s.as_bytes())
}

fn close_payload(code: u16, reason: &[u8]) -> Vec<u8> {
    let mut p = code.to_be_bytes().to_vec();
    p.extend_from_slice(reason);
    p
}

/// What a session made of some input: its events and the bytes it queued.
#[derive(Debug)]
struct Outcome {
    events: Vec<WsEvent>,
    sent: Vec<u8>,
    state: CloseState,
}

/// Feeds `pieces` one after another (as separate reads) to a fresh session.
fn feed_pieces(max: usize, pieces: &[&[u8]]) -> Outcome {
    let mut session = WsSession::new(WsConfig {
        max_message_size: max,
    });
    let mut input = BytesMut::new();
    let mut events = Vec::new();
    let mut sent = Vec::new();
    for piece in pieces {
        input.extend_from_slice(piece);
        while let Some(event) = session.poll_event(&mut input) {
            events.push(event);
        }
        while let Some(bytes) = session.poll_transmit() {
            sent.extend_from_slice(&bytes);
        }
    }
    Outcome {
        events,
        sent,
        state: session.state(),
    }
}

fn feed(input: &[u8]) -> Outcome {
    feed_pieces(1 << 20, &[input])
}

/// Feeds `input` split at `cut`, and byte by byte, and checks both agree with
/// feeding it at once.
fn feed_every_way(input: &[u8]) -> Outcome {
    let whole = feed(input);
    let bytes: Vec<&[u8]> = input.chunks(1).collect();
    let one_by_one = feed_pieces(1 << 20, &bytes);
    assert_eq!(one_by_one.events, whole.events, "byte by byte");
    assert_eq!(one_by_one.sent, whole.sent, "byte by byte");
    for cut in 0..=input.len() {
        let split = feed_pieces(1 << 20, &[&input[..cut], &input[cut..]]);
        assert_eq!(split.events, whole.events, "cut at {cut}");
        assert_eq!(split.sent, whole.sent, "cut at {cut}");
    }
    whole
}

fn server_close(code: u16) -> Vec<u8> {
    encode_close(code, "").unwrap().to_vec()
}

/// Asserts the outcome is a failed connection with `code` (close frame sent).
fn assert_failed(outcome: &Outcome, code: u16) -> WsError {
    let Some(WsEvent::Failed(err)) = outcome.events.last() else {
        panic!("expected a failure, got {:?}", outcome.events);
    };
    assert_eq!(err.close_code(), code, "{err}");
    assert_eq!(outcome.state, CloseState::Failed);
    let (h, n) = FrameHeader::parse(&outcome.sent).unwrap().unwrap();
    assert_eq!(h.opcode, OP_CLOSE);
    assert_eq!(&outcome.sent[n..n + 2], &code.to_be_bytes());
    err.clone()
}

// ---- 1. Framing ----------------------------------------------------------------

#[test]
fn all_three_length_encodings_split_at_every_byte() {
    for len in [0, 1, 125, 126, 127, 300] {
        let payload: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        let input = client_frame(true, 0, OP_BINARY, &payload);
        let out = feed_every_way(&input);
        assert_eq!(
            out.events,
            vec![WsEvent::Binary(payload.clone().into())],
            "len {len}"
        );
        let text_payload = "é".repeat(len / 2);
        let out = feed_every_way(&text(&text_payload));
        assert_eq!(out.events, vec![WsEvent::Text(text_payload)], "len {len}");
    }
}

#[test]
fn large_frames_use_16_and_64_bit_lengths() {
    for len in [65_535usize, 65_536, 200_000] {
        let payload: Vec<u8> = (0..len).map(|i| (i % 253) as u8).collect();
        let input = client_frame(true, 0, OP_BINARY, &payload);
        assert_eq!(input[1] & 0x7F, if len <= 65_535 { 126 } else { 127 });
        let header_len = if len <= 65_535 { 8 } else { 14 };
        // Every cut inside the header, and a few inside the payload.
        let cuts = (0..=header_len).chain([header_len + 1, header_len + 4097, input.len() - 1]);
        for cut in cuts {
            let out = feed_pieces(1 << 20, &[&input[..cut], &input[cut..]]);
            assert_eq!(
                out.events,
                vec![WsEvent::Binary(payload.clone().into())],
                "cut {cut}"
            );
        }
    }
}

#[test]
fn several_frames_in_one_read_and_nothing_consumed_on_a_short_header() {
    let mut input = text("one");
    input.extend(client_frame(true, 0, OP_BINARY, b"two"));
    input.extend(text(""));
    let out = feed_every_way(&input);
    assert_eq!(
        out.events,
        vec![
            WsEvent::Text("one".into()),
            WsEvent::Binary("two".into()),
            WsEvent::Text(String::new()),
        ]
    );
    // A partial header stays in the buffer.
    let mut decoder = MessageDecoder::new(1024);
    let frame = text("x");
    for cut in 0..6 {
        let mut buf = BytesMut::from(&frame[..cut]);
        assert_eq!(decoder.decode(&mut buf), Ok(None));
        assert_eq!(buf.len(), cut, "consumed part of a header");
    }
}

#[test]
fn unmasked_client_frame_is_a_protocol_error() {
    let out = feed(&encode_frame(OP_TEXT, b"hello"));
    assert_eq!(assert_failed(&out, 1002), WsError::UnmaskedFrame);
}

#[test]
fn top_bit_of_a_64_bit_length_is_a_protocol_error() {
    let mut input = vec![0x82, 0x80 | 127];
    input.extend_from_slice(&(1u64 << 63).to_be_bytes());
    input.extend_from_slice(&KEY);
    assert_eq!(assert_failed(&feed(&input), 1002), WsError::LengthOverflow);
}

// ---- 2. Pings and pongs --------------------------------------------------------

#[test]
fn pings_are_answered_with_the_same_payload() {
    for len in [0, 1, 125] {
        let payload: Vec<u8> = (0..len).map(|i| i as u8 ^ 0xA5).collect();
        let out = feed_every_way(&client_frame(true, 0, OP_PING, &payload));
        assert_eq!(out.events, vec![WsEvent::Ping(payload.clone().into())]);
        assert_eq!(out.sent, encode_frame(OP_PONG, &payload).to_vec());
        assert_eq!(out.state, CloseState::Active);
    }
    // Ten pings, ten pongs, in order.
    let input: Vec<u8> = (0..10u8)
        .flat_map(|i| client_frame(true, 0, OP_PING, &[i]))
        .collect();
    let out = feed(&input);
    let want: Vec<u8> = (0..10u8)
        .flat_map(|i| encode_frame(OP_PONG, &[i]).to_vec())
        .collect();
    assert_eq!(out.sent, want);
}

#[test]
fn unsolicited_pongs_are_reported_not_answered() {
    let out = feed(&client_frame(true, 0, OP_PONG, b"beat"));
    assert_eq!(out.events, vec![WsEvent::Pong("beat".into())]);
    assert!(out.sent.is_empty());
}

#[test]
fn control_frames_over_125_bytes_are_refused() {
    for op in [OP_PING, OP_PONG, OP_CLOSE] {
        let out = feed(&client_frame(true, 0, op, &[b'x'; 126]));
        assert_eq!(assert_failed(&out, 1002), WsError::ControlFrameTooLong(126));
    }
}

// ---- 3. Reserved bits ----------------------------------------------------------

#[test]
fn reserved_bits_are_refused_on_every_frame_kind() {
    for rsv in 1..8u8 {
        for op in [OP_TEXT, OP_BINARY, OP_PING, OP_CLOSE] {
            let mut input = text("before");
            input.extend(client_frame(true, rsv, op, b""));
            input.extend(text("after"));
            let out = feed(&input);
            assert_eq!(out.events[0], WsEvent::Text("before".into()));
            assert_eq!(assert_failed(&out, 1002), WsError::ReservedBits(rsv));
            assert_eq!(out.events.len(), 2, "nothing after the failure");
        }
    }
}

// ---- 4. Opcodes ----------------------------------------------------------------

#[test]
fn reserved_opcodes_are_refused() {
    for op in (3..=7).chain(0xB..=0xF) {
        for payload in [&b""[..], b"reserved"] {
            let out = feed(&client_frame(true, 0, op, payload));
            assert_eq!(assert_failed(&out, 1002), WsError::ReservedOpcode(op));
        }
    }
}

// ---- 5. Fragmentation ----------------------------------------------------------

#[test]
fn fragments_reassemble_with_control_frames_between_them() {
    let mut input = client_frame(false, 0, OP_TEXT, b"frag");
    input.extend(client_frame(true, 0, OP_PING, b"p1"));
    input.extend(client_frame(false, 0, OP_CONTINUATION, b""));
    input.extend(client_frame(true, 0, OP_PONG, b"p2"));
    input.extend(client_frame(false, 0, OP_CONTINUATION, b"men"));
    input.extend(client_frame(true, 0, OP_PING, b"p3"));
    input.extend(client_frame(true, 0, OP_CONTINUATION, b"ts"));
    let out = feed_every_way(&input);
    assert_eq!(
        out.events,
        vec![
            WsEvent::Ping("p1".into()),
            WsEvent::Pong("p2".into()),
            WsEvent::Ping("p3".into()),
            WsEvent::Text("fragments".into()),
        ]
    );
    let mut want = encode_frame(OP_PONG, b"p1").to_vec();
    want.extend_from_slice(&encode_frame(OP_PONG, b"p3"));
    assert_eq!(out.sent, want);

    let mut input = client_frame(false, 0, OP_BINARY, &[1, 2]);
    input.extend(client_frame(true, 0, OP_CONTINUATION, &[3]));
    assert_eq!(
        feed_every_way(&input).events,
        vec![WsEvent::Binary(vec![1, 2, 3].into())]
    );
}

#[test]
fn continuation_without_a_started_message_is_refused() {
    for fin in [false, true] {
        let out = feed(&client_frame(fin, 0, OP_CONTINUATION, b"x"));
        assert_eq!(assert_failed(&out, 1002), WsError::UnexpectedContinuation);
    }
    // Also right after a complete message.
    let mut input = text("done");
    input.extend(client_frame(true, 0, OP_CONTINUATION, b"x"));
    assert_eq!(
        assert_failed(&feed(&input), 1002),
        WsError::UnexpectedContinuation
    );
}

#[test]
fn new_message_inside_a_fragmented_one_is_refused() {
    for op in [OP_TEXT, OP_BINARY] {
        let mut input = client_frame(false, 0, OP_TEXT, b"a");
        input.extend(client_frame(true, 0, op, b"b"));
        assert_eq!(
            assert_failed(&feed(&input), 1002),
            WsError::ExpectedContinuation
        );
    }
}

#[test]
fn fragmented_control_frames_are_refused() {
    for op in [OP_PING, OP_PONG, OP_CLOSE] {
        let out = feed(&client_frame(false, 0, op, b""));
        assert_eq!(assert_failed(&out, 1002), WsError::FragmentedControlFrame);
    }
}

// ---- 6. UTF-8 ------------------------------------------------------------------

#[test]
fn utf8_split_across_fragments_at_every_position() {
    let message = "Hello-µ@ßöäüàá-UTF-8!! κόσμε 𝄞";
    let bytes = message.as_bytes();
    for a in 0..=bytes.len() {
        for b in a..=bytes.len() {
            let mut input = client_frame(false, 0, OP_TEXT, &bytes[..a]);
            input.extend(client_frame(false, 0, OP_CONTINUATION, &bytes[a..b]));
            input.extend(client_frame(true, 0, OP_CONTINUATION, &bytes[b..]));
            let out = feed(&input);
            assert_eq!(
                out.events,
                vec![WsEvent::Text(message.into())],
                "cuts {a} {b}"
            );
        }
    }
}

#[test]
fn invalid_utf8_is_refused_with_1007() {
    let invalid: [&[u8]; 7] = [
        &[0xFF],
        &[0xC0, 0xAF],                         // overlong '/'
        &[0xED, 0xA0, 0x80],                   // a surrogate
        &[0xF4, 0x90, 0x80, 0x80],             // above U+10FFFF
        &[0xCE, 0xBA, 0xE1],                   // truncated at the end of the message
        &[0x80],                               // a lone continuation byte
        &[0xCE, 0xBA, 0xE1, 0xBD, 0xB9, 0xCF], // "κό" then a truncated sequence
    ];
    for bad in invalid {
        let out = feed(&client_frame(true, 0, OP_TEXT, bad));
        assert_eq!(assert_failed(&out, 1007), WsError::InvalidUtf8, "{bad:x?}");
        // Fragmented too.
        let mut input = client_frame(false, 0, OP_TEXT, b"ok ");
        input.extend(client_frame(true, 0, OP_CONTINUATION, bad));
        assert_eq!(assert_failed(&feed(&input), 1007), WsError::InvalidUtf8);
    }
    // Binary messages are not UTF-8 checked.
    let out = feed(&client_frame(true, 0, OP_BINARY, &[0xFF, 0xC0]));
    assert_eq!(out.events, vec![WsEvent::Binary(vec![0xFF, 0xC0].into())]);
}

#[test]
fn invalid_utf8_fails_fast_on_the_fragment_that_breaks_it() {
    // Autobahn 6.4.1: valid first fragment, a second one that cannot be valid,
    // then a third that would never be seen.
    let first = client_frame(false, 0, OP_TEXT, "κόσμε".as_bytes());
    let second = client_frame(false, 0, OP_CONTINUATION, &[0xF4, 0x90, 0x80, 0x80]);
    let third = client_frame(true, 0, OP_CONTINUATION, b"edited");
    let mut session = WsSession::new(WsConfig::default());
    let mut input = BytesMut::from(&first[..]);
    assert_eq!(session.poll_event(&mut input), None);
    input.extend_from_slice(&second);
    assert_eq!(
        session.poll_event(&mut input),
        Some(WsEvent::Failed(WsError::InvalidUtf8))
    );
    input.extend_from_slice(&third);
    assert_eq!(session.poll_event(&mut input), None);
    assert!(input.is_empty(), "input is discarded after a failure");
}

#[test]
fn invalid_utf8_fails_fast_inside_one_frame() {
    // Autobahn 6.4.3: one frame whose payload arrives in pieces; the failure must
    // come with the piece holding the bad bytes, before the frame is complete.
    let payload = ["κόσμε".as_bytes(), &[0xF4, 0x90, 0x80, 0x80], b"-edited"].concat();
    let frame = client_frame(true, 0, OP_TEXT, &payload);
    let bad_at = 6 + "κόσμε".len() + 2; // header + valid text + "F4 90"
    let mut session = WsSession::new(WsConfig::default());
    let mut input = BytesMut::from(&frame[..bad_at - 1]);
    assert_eq!(session.poll_event(&mut input), None);
    input.extend_from_slice(&frame[bad_at - 1..bad_at]);
    assert_eq!(
        session.poll_event(&mut input),
        Some(WsEvent::Failed(WsError::InvalidUtf8))
    );
}

// ---- 7. Close handling ---------------------------------------------------------

#[test]
fn peer_close_with_a_valid_code_is_echoed() {
    for code in [
        1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000,
        4999,
    ] {
        let input = client_frame(true, 0, OP_CLOSE, &close_payload(code, b"bye \xE2\x82\xAC"));
        let out = feed_every_way(&input);
        assert_eq!(
            out.events,
            vec![WsEvent::Closed {
                code,
                reason: "bye €".into(),
                initiator: CloseInitiator::Peer,
            }]
        );
        assert_eq!(out.sent, server_close(code), "code {code}");
        assert_eq!(out.state, CloseState::ClosedByPeer);
    }
}

#[test]
fn peer_close_without_payload_gets_an_empty_close() {
    let out = feed(&client_frame(true, 0, OP_CLOSE, b""));
    assert_eq!(
        out.events,
        vec![WsEvent::Closed {
            code: 1005,
            reason: String::new(),
            initiator: CloseInitiator::Peer,
        }]
    );
    assert_eq!(out.sent, vec![0x88, 0]);
}

#[test]
fn nothing_is_read_after_the_peer_closes() {
    let mut input = client_frame(true, 0, OP_CLOSE, &close_payload(1000, b""));
    input.extend(text("late"));
    input.extend(client_frame(true, 0, OP_PING, b"late"));
    let out = feed(&input);
    assert_eq!(out.events.len(), 1);
    assert_eq!(out.sent, server_close(1000), "no pong after the close");
}

#[test]
fn one_byte_close_payload_is_a_protocol_error() {
    let out = feed(&client_frame(true, 0, OP_CLOSE, &[0x03]));
    assert_eq!(assert_failed(&out, 1002), WsError::ClosePayloadTooShort);
}

#[test]
fn invalid_close_codes_are_protocol_errors() {
    for code in [
        0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535,
    ] {
        let out = feed(&client_frame(true, 0, OP_CLOSE, &close_payload(code, b"")));
        assert_eq!(assert_failed(&out, 1002), WsError::InvalidCloseCode(code));
    }
}

#[test]
fn close_reasons_must_be_utf8() {
    let out = feed(&client_frame(
        true,
        0,
        OP_CLOSE,
        &close_payload(1000, &[0xCE, 0xBA, 0xFF]),
    ));
    assert_eq!(assert_failed(&out, 1007), WsError::InvalidUtf8);
    // The longest reason (123 bytes) is fine.
    let reason = "r".repeat(123);
    let out = feed(&client_frame(
        true,
        0,
        OP_CLOSE,
        &close_payload(1000, reason.as_bytes()),
    ));
    assert!(matches!(&out.events[..], [WsEvent::Closed { reason: r, .. }] if *r == reason));
}

#[test]
fn server_initiated_close_waits_for_the_peer_and_ignores_data() {
    let mut session = WsSession::new(WsConfig::default());
    assert!(session.is_open());
    session.close(1001, "going away").unwrap();
    assert_eq!(session.state(), CloseState::ClosedByUs);
    assert!(!session.is_open() && !session.should_close_tcp());
    assert_eq!(
        session.poll_transmit(),
        Some(encode_close(1001, "going away").unwrap())
    );
    // A second close does nothing.
    session.close(1000, "").unwrap();
    assert_eq!(session.poll_transmit(), None);

    let mut input = BytesMut::new();
    input.extend_from_slice(&text("ignored"));
    input.extend_from_slice(&client_frame(false, 0, OP_BINARY, b"ignored too"));
    input.extend_from_slice(&client_frame(true, 0, OP_PING, b"no pong"));
    input.extend_from_slice(&client_frame(true, 0, OP_CONTINUATION, b"!"));
    input.extend_from_slice(&client_frame(true, 0, OP_CLOSE, &close_payload(1001, b"")));
    assert_eq!(
        session.poll_event(&mut input),
        Some(WsEvent::Closed {
            code: 1001,
            reason: "going away".into(),
            initiator: CloseInitiator::Us,
        })
    );
    assert_eq!(session.state(), CloseState::CloseAcknowledged);
    assert!(session.should_close_tcp());
    assert_eq!(session.poll_transmit(), None, "no pong, no second close");
}

#[test]
fn protocol_error_after_our_close_sends_no_second_close() {
    let mut session = WsSession::new(WsConfig::default());
    session.close(4000, "app").unwrap();
    let _ = session.poll_transmit();
    let mut input = BytesMut::from(&client_frame(true, 0, 0x3, b"")[..]);
    assert_eq!(
        session.poll_event(&mut input),
        Some(WsEvent::Failed(WsError::ReservedOpcode(3)))
    );
    assert_eq!(session.poll_transmit(), None);
    assert!(session.should_close_tcp());
}

#[test]
fn close_refuses_codes_and_reasons_it_may_not_send() {
    let mut session = WsSession::new(WsConfig::default());
    for code in [0, 1005, 1006, 1015, 2000, 5000] {
        assert_eq!(
            session.close(code, ""),
            Err(WsError::CloseCodeNotSendable(code))
        );
    }
    assert_eq!(
        session.close(1000, &"x".repeat(124)),
        Err(WsError::CloseReasonTooLong(124))
    );
    assert!(!WsError::CloseReasonTooLong(124).is_fatal());
    assert_eq!(session.state(), CloseState::Active);
    assert!(session.poll_transmit().is_none());
    for code in [1008, 1009, 1013, 4001] {
        let mut session = WsSession::new(WsConfig::default());
        session.close(code, "why").unwrap();
        let frame = session.poll_transmit().unwrap();
        assert_eq!(&frame[2..4], &code.to_be_bytes());
    }
}

// ---- 9. Limits -----------------------------------------------------------------

#[test]
fn a_frame_declaring_more_than_the_maximum_is_refused_from_its_header() {
    let mut input = client_header(true, 0, OP_BINARY, 1025);
    input.extend_from_slice(&KEY);
    // No payload at all: the header is enough.
    let out = feed_pieces(1024, &[&input]);
    assert_eq!(
        assert_failed(&out, 1009),
        WsError::MessageTooBig {
            size: 1025,
            max: 1024
        }
    );
    let mut huge = client_header(true, 0, OP_TEXT, u64::MAX >> 1);
    huge.extend_from_slice(&KEY);
    assert_eq!(
        assert_failed(&feed_pieces(1024, &[&huge]), 1009).close_code(),
        1009
    );
}

#[test]
fn fragments_adding_up_past_the_maximum_are_refused() {
    let mut input = client_frame(false, 0, OP_BINARY, &[0; 600]);
    input.extend(client_frame(true, 0, OP_CONTINUATION, &[0; 424]));
    let out = feed_pieces(1024, &[&input]);
    assert_eq!(
        out.events,
        vec![WsEvent::Binary(vec![0; 1024].into())],
        "exactly the maximum"
    );

    let mut input = client_frame(false, 0, OP_TEXT, &[b'a'; 600]);
    input.extend(client_frame(true, 0, OP_CONTINUATION, &[b'a'; 425]));
    let out = feed_pieces(1024, &[&input]);
    assert_eq!(
        assert_failed(&out, 1009),
        WsError::MessageTooBig {
            size: 1025,
            max: 1024
        }
    );
}

// ---- Handshake helper ----------------------------------------------------------

#[test]
fn accept_key_matches_rfc_6455() {
    assert_eq!(
        accept_key("dGhlIHNhbXBsZSBub25jZQ=="),
        "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    );
}

#[test]
fn decoder_reports_control_frames_and_close_frames() {
    let mut decoder = MessageDecoder::new(64);
    let mut buf = BytesMut::from(&client_frame(true, 0, OP_CLOSE, &close_payload(1000, b"ok"))[..]);
    let Ok(Some(Inbound::Close(Some(frame)))) = decoder.decode(&mut buf) else {
        panic!("expected a close frame");
    };
    assert_eq!((frame.code, frame.reason.as_str()), (1000, "ok"));
    assert!(!decoder.is_mid_message());
}

#[test]
fn transport_loss_ends_an_open_session_with_1006_once() {
    let mut session = WsSession::new(WsConfig::default());
    assert_eq!(
        session.on_transport_closed(),
        Some(WsEvent::Closed {
            code: 1006,
            reason: String::new(),
            initiator: CloseInitiator::Peer,
        })
    );
    assert_eq!(session.state(), CloseState::Terminated);
    assert!(session.should_close_tcp());
    assert_eq!(session.on_transport_closed(), None);
    let mut input = BytesMut::from(&text("late")[..]);
    assert_eq!(session.poll_event(&mut input), None);

    // After a completed handshake there is nothing more to report.
    let mut session = WsSession::new(WsConfig::default());
    let mut input = BytesMut::from(&client_frame(true, 0, OP_CLOSE, b"")[..]);
    assert!(session.poll_event(&mut input).is_some());
    assert_eq!(session.on_transport_closed(), None);
}
