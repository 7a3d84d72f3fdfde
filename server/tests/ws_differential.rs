//! Differential property test: random client frame sequences, encoded with
//! tungstenite's frame encoder and cut at random points, must give the same
//! messages from our `WsSession` as from tungstenite's `WebSocket` in server role
//! over an in-memory stream (or both must refuse the stream).
//!
//! Known, deliberate differences are kept out of the generator: tungstenite
//! refuses close code 1014 (which we accept as registered), and reports a refused
//! close code as a close frame with 1002 "Protocol violation" (mapped to a refusal
//! here). Where refusals happen earlier on our side (fail-fast UTF-8, sizes checked
//! from the header) the event lists still agree, since nothing follows a refusal.

use std::io::{self, Read, Write};

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;
use roomcast_server::protocol::ws::{CloseInitiator, WsConfig, WsEvent, WsSession};
use tungstenite::protocol::frame::coding::OpCode;
use tungstenite::protocol::frame::{Frame, FrameHeader};
use tungstenite::protocol::{Role, WebSocketConfig};
use tungstenite::{Message, WebSocket};

const MAX_MESSAGE: usize = 256;

/// What either implementation reported, normalized.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seen {
    Text(String),
    Binary(Vec<u8>),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Close(Option<u16>, String),
    Refused,
}

/// One frame as the client sends it.
#[derive(Debug, Clone)]
struct FrameSpec {
    fin: bool,
    rsv: u8,
    opcode: u8,
    masked: bool,
    key: [u8; 4],
    payload: Vec<u8>,
}

impl FrameSpec {
    fn data(opcode: u8, fin: bool, payload: Vec<u8>, key: [u8; 4]) -> FrameSpec {
        FrameSpec {
            fin,
            rsv: 0,
            opcode,
            masked: true,
            key,
            payload,
        }
    }

    /// Encodes with tungstenite's encoder (so our parser is checked against it).
    fn encode(&self, out: &mut Vec<u8>) {
        let header = FrameHeader {
            is_final: self.fin,
            rsv1: self.rsv & 0b100 != 0,
            rsv2: self.rsv & 0b010 != 0,
            rsv3: self.rsv & 0b001 != 0,
            opcode: OpCode::from(self.opcode),
            mask: self.masked.then_some(self.key),
        };
        Frame::from_payload(header, Bytes::from(self.payload.clone()))
            .format(out)
            .expect("writing to a Vec cannot fail");
    }
}

fn text_payload() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        6 => "[a-zé€𝄞κό ]{0,40}".prop_map(String::into_bytes),
        // Valid text with one byte replaced: often invalid UTF-8.
        2 => ("[a-zé€𝄞κό]{1,30}", any::<prop::sample::Index>(), any::<u8>()).prop_map(
            |(s, at, b)| {
                let mut v = s.into_bytes();
                let i = at.index(v.len());
                v[i] = b;
                v
            }
        ),
        // Valid text ending inside a code point.
        2 => ("[a-z]{0,10}", prop::sample::select(vec!['é', '€', '𝄞', 'κ']), 1usize..4).prop_map(
            |(s, c, keep)| {
                let mut v = s.into_bytes();
                let mut char_buf = [0u8; 4];
                let encoded = c.encode_utf8(&mut char_buf).as_bytes();
                // Keep 1 to len-1 bytes of the last code point.
                v.extend_from_slice(&encoded[..1 + (keep - 1) % (encoded.len() - 1)]);
                v
            }
        ),
        1 => prop::collection::vec(any::<u8>(), 0..20),
    ]
}

fn control() -> impl Strategy<Value = (u8, Vec<u8>)> {
    (
        prop_oneof![Just(0x9u8), Just(0xAu8)],
        prop_oneof![
            9 => prop::collection::vec(any::<u8>(), 0..=20),
            1 => prop::collection::vec(any::<u8>(), 120..=130),
        ],
    )
}

/// A message cut into fragments at random byte positions, with control frames
/// between the fragments.
fn fragmented_message() -> impl Strategy<Value = Vec<FrameSpec>> {
    (
        any::<bool>(),
        prop_oneof![text_payload(), prop::collection::vec(any::<u8>(), 0..150)],
        prop::collection::vec(any::<prop::sample::Index>(), 0..4),
        prop::collection::vec(prop::option::weighted(0.3, control()), 4),
        any::<[u8; 4]>(),
    )
        .prop_map(|(is_text, payload, cuts, controls, key)| {
            let mut cuts: Vec<usize> = cuts.iter().map(|c| c.index(payload.len() + 1)).collect();
            cuts.sort_unstable();
            cuts.push(payload.len());
            let mut frames = Vec::new();
            let mut at = 0;
            for (i, &cut) in cuts.iter().enumerate() {
                let opcode = if i == 0 { u8::from(is_text) + 1 } else { 0 };
                let fin = i == cuts.len() - 1;
                frames.push(FrameSpec::data(opcode, fin, payload[at..cut].to_vec(), key));
                at = cut;
                if let (false, Some(Some((op, p)))) = (fin, controls.get(i)) {
                    frames.push(FrameSpec::data(*op, true, p.clone(), key));
                }
            }
            frames
        })
}

fn close_frame() -> impl Strategy<Value = FrameSpec> {
    let code = prop_oneof![
        Just(1000u16),
        Just(1001),
        Just(1003),
        Just(1007),
        Just(1011),
        Just(1013),
        Just(3000),
        Just(4999),
        Just(0),
        Just(999),
        Just(1004),
        Just(1005),
        Just(1006),
        Just(1015),
        Just(2000),
        Just(5000),
    ];
    let payload = prop_oneof![
        2 => Just(Vec::new()),
        1 => prop::collection::vec(any::<u8>(), 1..=1),
        6 => (code, text_payload()).prop_map(|(c, mut reason)| {
            reason.truncate(100);
            let mut p = c.to_be_bytes().to_vec();
            p.extend(reason);
            p
        }),
    ];
    (payload, any::<[u8; 4]>()).prop_map(|(p, key)| FrameSpec::data(0x8, true, p, key))
}

/// Any frame at all: reserved bits and opcodes, missing masks, stray
/// continuations, fragmented control frames.
fn raw_frame() -> impl Strategy<Value = FrameSpec> {
    (
        any::<bool>(),
        prop_oneof![8 => Just(0u8), 1 => 1u8..8],
        0u8..16,
        prop::bool::weighted(0.9),
        any::<[u8; 4]>(),
        prop::collection::vec(any::<u8>(), 0..30),
    )
        .prop_map(|(fin, rsv, opcode, masked, key, payload)| FrameSpec {
            fin,
            rsv,
            opcode,
            masked,
            key,
            payload,
        })
}

fn frame_sequence() -> impl Strategy<Value = Vec<FrameSpec>> {
    prop::collection::vec(
        prop_oneof![
            8 => fragmented_message(),
            2 => (control(), any::<[u8; 4]>())
                .prop_map(|((op, p), key)| vec![FrameSpec::data(op, true, p, key)]),
            2 => close_frame().prop_map(|f| vec![f]),
            1 => raw_frame().prop_map(|f| vec![f]),
        ],
        0..8,
    )
    .prop_map(|groups| groups.into_iter().flatten().collect())
}

/// An in-memory stream: reads hand out the input in the given chunk sizes, then
/// `WouldBlock`; writes are swallowed.
struct MemoryStream {
    input: Vec<u8>,
    at: usize,
    chunk: usize,
}

impl Read for MemoryStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.at == self.input.len() {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let n = buf.len().min(self.chunk).min(self.input.len() - self.at);
        buf[..n].copy_from_slice(&self.input[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

impl Write for MemoryStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn tungstenite_sees(input: &[u8], chunk: usize) -> Vec<Seen> {
    let config = WebSocketConfig::default()
        .max_message_size(Some(MAX_MESSAGE))
        .max_frame_size(Some(MAX_MESSAGE));
    let stream = MemoryStream {
        input: input.to_vec(),
        at: 0,
        chunk,
    };
    let mut ws = WebSocket::from_raw_socket(stream, Role::Server, Some(config));
    let mut seen = Vec::new();
    loop {
        match ws.read() {
            Ok(Message::Text(t)) => seen.push(Seen::Text(t.as_str().to_owned())),
            Ok(Message::Binary(b)) => seen.push(Seen::Binary(b.to_vec())),
            Ok(Message::Ping(p)) => seen.push(Seen::Ping(p.to_vec())),
            Ok(Message::Pong(p)) => seen.push(Seen::Pong(p.to_vec())),
            Ok(Message::Close(frame)) => {
                seen.push(match frame {
                    Some(f)
                        if u16::from(f.code) == 1002
                            && f.reason.as_str() == "Protocol violation" =>
                    {
                        Seen::Refused
                    }
                    Some(f) => Seen::Close(Some(f.code.into()), f.reason.as_str().to_owned()),
                    None => Seen::Close(None, String::new()),
                });
                return seen;
            }
            Ok(Message::Frame(_)) => {}
            Err(tungstenite::Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => return seen,
            Err(_) => {
                seen.push(Seen::Refused);
                return seen;
            }
        }
    }
}

fn we_see(input: &[u8], cuts: &[usize]) -> Vec<Seen> {
    let mut session = WsSession::new(WsConfig {
        max_message_size: MAX_MESSAGE,
    });
    let mut buf = BytesMut::new();
    let mut seen = Vec::new();
    let mut at = 0;
    for &cut in cuts.iter().chain([&input.len()]) {
        buf.extend_from_slice(&input[at..cut]);
        at = cut;
        while let Some(event) = session.poll_event(&mut buf) {
            while session.poll_transmit().is_some() {}
            seen.push(match event {
                WsEvent::Text(t) => Seen::Text(t),
                WsEvent::Binary(b) => Seen::Binary(b.to_vec()),
                WsEvent::Ping(p) => Seen::Ping(p.to_vec()),
                WsEvent::Pong(p) => Seen::Pong(p.to_vec()),
                WsEvent::Closed {
                    code,
                    reason,
                    initiator: CloseInitiator::Peer,
                } => Seen::Close((code != 1005).then_some(code), reason),
                WsEvent::Closed { .. } => unreachable!("we never start a close here"),
                WsEvent::Failed(_) => Seen::Refused,
            });
            if matches!(seen.last(), Some(Seen::Close(..) | Seen::Refused)) {
                return seen;
            }
        }
    }
    seen
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn agrees_with_tungstenite_on_random_frame_streams(
        frames in frame_sequence(),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..6),
        chunk in 1usize..64,
    ) {
        let mut input = Vec::new();
        for f in &frames {
            f.encode(&mut input);
        }
        let mut cuts: Vec<usize> = cuts.iter().map(|c| c.index(input.len() + 1)).collect();
        cuts.sort_unstable();
        let ours = we_see(&input, &cuts);
        let theirs = tungstenite_sees(&input, chunk);
        prop_assert_eq!(ours, theirs);
    }
}

#[test]
fn the_generator_produces_messages_and_refusals() {
    // A sanity check that the property test is not vacuous.
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let (mut messages, mut refusals, mut closes) = (0, 0, 0);
    for _ in 0..300 {
        let frames = frame_sequence().new_tree(&mut runner).unwrap().current();
        let mut input = Vec::new();
        for f in &frames {
            f.encode(&mut input);
        }
        for seen in we_see(&input, &[]) {
            match seen {
                Seen::Text(_) | Seen::Binary(_) => messages += 1,
                Seen::Refused => refusals += 1,
                Seen::Close(..) => closes += 1,
                _ => {}
            }
        }
    }
    assert!(
        messages > 200 && refusals > 30 && closes > 5,
        "{messages} {refusals} {closes}"
    );
}
