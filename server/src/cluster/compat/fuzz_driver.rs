//! Test support (feature `fuzzing`): what a socket.io cluster can publish,
//! through every decoder of this module. The first byte picks the decoder
//! (broadcast, request, response, raw notepack, channel name, Sails admin
//! bus); the rest is the message. A decoded request also goes through what
//! this node does with it (`cluster::requests`), answered as if empty.
//!
//! Checks: no panic; whatever decodes encodes back to bytes that decode to the
//! same value, and encoding that again gives the same bytes (decode → encode
//! → decode is stable); packet data converts to JSON and back losslessly.

use super::adapter_message::BroadcastMessage;
use super::adapter_request::{Request, Response};
use super::admin_bus::AdminMessage;
use super::channel::{classify, ChannelKind};
use super::notepack;

/// Runs one input; panics if an invariant breaks. Returns whether it decoded.
pub fn drive(data: &[u8]) -> bool {
    let Some((&pick, msg)) = data.split_first() else {
        return false;
    };
    match pick % 6 {
        0 => BroadcastMessage::decode(msg).is_ok_and(|m| {
            stable(&m, BroadcastMessage::encode, BroadcastMessage::decode);
            true
        }),
        1 => Request::decode(msg).is_ok_and(|r| {
            stable(&r, Request::encode, Request::decode);
            use crate::cluster::requests::{answer, handle, Handling};
            let response = match handle(r, "fuzz00") {
                Handling::Ask(query, pending) => {
                    Some(answer(pending, roomcast::Answer::empty(&query)))
                }
                Handling::Answer(response) => Some(response),
                Handling::AckedBroadcast { msg, .. } => {
                    let _ = crate::cluster::bridge::incoming_acked(&msg, "fuzz00", Some(1));
                    None
                }
                Handling::Apply(_) | Handling::Ignore(_) => None,
            };
            if let Some(response) = response {
                // Its bytes read back as a response that encodes to the same
                // bytes (an empty `sockets` list reads as FetchSockets: the
                // requester tells them apart by requestId, not by shape).
                let bytes = response.encode().expect("an answer encodes");
                let again = Response::decode(&bytes).expect("an answer decodes");
                assert_eq!(
                    again.encode().expect("encodes again"),
                    bytes,
                    "answer bytes"
                );
            }
            true
        }),
        5 => AdminMessage::decode(msg).is_ok_and(|m| {
            let bytes = m.encode();
            assert_eq!(AdminMessage::decode(&bytes).expect("re-encoded"), m);
            true
        }),
        2 => Response::decode(msg).is_ok_and(|r| {
            stable(&r, Response::encode, Response::decode);
            true
        }),
        3 => notepack::decode(msg).is_ok_and(|v| {
            let bytes = notepack::encode(&v);
            let again = notepack::decode(&bytes).expect("re-encoded value decodes");
            assert_eq!(notepack::encode(&again), bytes, "value re-encoding");
            let mut att = Vec::new();
            if let Ok(j) = notepack::to_json(&v, &mut att) {
                let back = notepack::from_json(&j, &att).expect("placeholders resolve");
                let mut att2 = Vec::new();
                let j2 = notepack::to_json(&back, &mut att2).expect("converted back");
                assert_eq!(j2, j, "JSON round trip");
                assert_eq!(att2, att, "attachments round trip");
            }
            true
        }),
        _ => {
            // 4: a channel name.
            let channel = String::from_utf8_lossy(msg);
            let kind = classify("socket.io", "/", &channel);
            if let ChannelKind::Broadcast { room: Some(r) } = kind {
                let rooms = [r.to_owned()];
                let name = super::channel::broadcast_channel("socket.io", "/", &rooms);
                assert_eq!(name, channel, "one-room channel rebuilt");
            }
            kind != ChannelKind::Other
        }
    }
}

/// Decode → encode → decode gives the same value, and the same bytes again.
fn stable<T, E>(first: &T, encode: fn(&T) -> Result<Vec<u8>, E>, decode: fn(&[u8]) -> Result<T, E>)
where
    T: PartialEq + std::fmt::Debug,
    E: std::fmt::Debug,
{
    let bytes = encode(first).expect("a decoded message encodes");
    let second = decode(&bytes).expect("an encoded message decodes");
    assert_eq!(&second, first, "decode → encode → decode");
    assert_eq!(
        encode(&second).expect("encodes again"),
        bytes,
        "encoding is stable"
    );
}

/// The seed corpus: every socket.io fixture behind each of the selectors
/// that can read it.
pub fn seeds() -> Vec<Vec<u8>> {
    let dir = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../e2e/peers/captures/fixtures"
    );
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if (name.starts_with("socketio-") || name.starts_with("sails-"))
                && name.ends_with(".bin")
            {
                if let Ok(b) = std::fs::read(e.path()) {
                    for pick in [0u8, 1, 2, 3, 5] {
                        let mut s = vec![pick];
                        s.extend_from_slice(&b);
                        out.push(s);
                    }
                }
            }
        }
    }
    out
}
