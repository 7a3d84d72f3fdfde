//! Arbitrary client bytes into the WebSocket codec (`roomcast_server::protocol::ws`).
//!
//! Input: one byte choosing the cut point, one choosing the maximum message size,
//! then the stream. Checks: no panic; feeding the stream whole, cut in two at the
//! fuzzer's point, or byte by byte gives the same events and the same outbound
//! bytes; no message exceeds the maximum; nothing follows `Closed`/`Failed`; every
//! byte the session queues is a sequence of complete, unmasked server frames;
//! `FrameHeader::parse` never claims more bytes than it was given.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use roomcast::wire::parse_frame;
use roomcast_server::protocol::ws::{FrameHeader, WsConfig, WsEvent, WsSession};

/// Feeds `pieces` in order; returns the events and everything queued to send.
fn run(max: usize, pieces: &[&[u8]]) -> (Vec<WsEvent>, Vec<u8>) {
    let mut session = WsSession::new(WsConfig {
        max_message_size: max,
    });
    let mut input = BytesMut::new();
    let mut events = Vec::new();
    let mut sent = Vec::new();
    for piece in pieces {
        input.extend_from_slice(piece);
        while let Some(event) = session.poll_event(&mut input) {
            assert!(
                !matches!(
                    events.last(),
                    Some(WsEvent::Closed { .. } | WsEvent::Failed(_))
                ),
                "an event after the end: {event:?}"
            );
            match &event {
                WsEvent::Text(t) => assert!(t.len() <= max),
                WsEvent::Binary(b) => assert!(b.len() <= max),
                WsEvent::Ping(p) | WsEvent::Pong(p) => assert!(p.len() <= 125),
                WsEvent::Closed { .. } | WsEvent::Failed(_) => assert!(session.should_close_tcp()),
            }
            events.push(event);
        }
        // What stays in the buffer is less than one header or control frame.
        assert!(input.len() <= 14 + 125, "buffered {} bytes", input.len());
        while let Some(bytes) = session.poll_transmit() {
            let mut rest = &bytes[..];
            while !rest.is_empty() {
                let (_, _, used) = parse_frame(rest).expect("a complete unmasked frame");
                rest = &rest[used..];
            }
            sent.extend_from_slice(&bytes);
        }
    }
    (events, sent)
}

fuzz_target!(|data: &[u8]| {
    let [cut_sel, max_sel, stream @ ..] = data else {
        return;
    };
    if let Ok(Some((_, header_len))) = FrameHeader::parse(stream) {
        assert!(header_len <= stream.len() && header_len <= 14);
    }
    let max = usize::from(*max_sel) * 16;
    let cut = usize::from(*cut_sel) * stream.len() / 255;
    let whole = run(max, &[stream]);
    let halves = run(max, &[&stream[..cut], &stream[cut..]]);
    assert_eq!(whole, halves, "cut at {cut}");
    let bytes: Vec<&[u8]> = stream.chunks(1).collect();
    let one_by_one = run(max, &bytes);
    assert_eq!(whole, one_by_one, "byte by byte");
});
