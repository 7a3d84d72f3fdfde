//! Socket.IO packets: arbitrary text into the decoder, then structured operation
//! sequences on a [`Session`] checked by a client-side decoder.
//!
//! Checks: no panic; everything the session transmits decodes cleanly on the client
//! side (Engine.IO then Socket.IO, binary attachments included); no event follows the
//! close; joined namespaces agree with what was accepted.
#![no_main]

use arbitrary::Arbitrary;
use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use roomcast_server::protocol::eio::{self, EioVersion, WsMessage};
use roomcast_server::protocol::sio::{Session, SessionConfig, SessionEvent};
use roomcast_server::protocol::sio::{self, Decoder};

#[derive(Arbitrary, Debug)]
enum Op {
    /// A raw text message.
    Text(String),
    /// A plausible Socket.IO packet: `4<kind>[n-][/nsp,][id]<json>`.
    Packet {
        kind: u8,
        attachments: Option<u8>,
        nsp: u8,
        id: Option<u32>,
        json: String,
    },
    /// A binary message.
    Binary(Vec<u8>),
    /// Advance the clock and run timers.
    Tick(u16),
    /// Accept the oldest pending CONNECT.
    Accept,
    /// Refuse the oldest pending CONNECT.
    Refuse(String, Option<String>),
    /// Emit on a joined namespace.
    Emit {
        nsp: u8,
        name: String,
        args: String,
        id: Option<u32>,
        attachments: u8,
    },
    /// Ack on a joined namespace.
    Ack { nsp: u8, id: u32, args: String },
    /// Server-side disconnect of a namespace.
    Disconnect(u8),
    /// Close from the application or the transport.
    Close(bool),
}

#[derive(Arbitrary, Debug)]
struct Input {
    v3: bool,
    b64: bool,
    raw: String,
    ops: Vec<Op>,
}

const NSPS: [&str; 4] = ["/", "/admin", "/a?x=1", "/chat"];

fn client_check(version: EioVersion, dec: &mut Decoder, m: &WsMessage) {
    let r = match m {
        WsMessage::Text(t) => match eio::decode_text(version, t).expect("server text decodes") {
            eio::Packet::Message(d) => dec.decode_text(d).map(|_| ()),
            eio::Packet::Binary(b) => dec.decode_binary(Bytes::from(b.into_owned())).map(|_| ()),
            _ => Ok(()),
        },
        WsMessage::Binary(b) => {
            match eio::decode_binary(version, b).expect("server binary decodes") {
                eio::Packet::Binary(b) => {
                    dec.decode_binary(Bytes::from(b.into_owned())).map(|_| ())
                }
                _ => Ok(()),
            }
        }
    };
    // The client decoder is v3-style (no reserved-name check) so server-side
    // names are accepted whatever the version; placeholders must be in range.
    if let Err(e) = r {
        panic!("server sent something a client rejects: {m:?}: {e}");
    }
}

fuzz_target!(|input: Input| {
    let version = if input.v3 {
        EioVersion::V3
    } else {
        EioVersion::V4
    };
    for v in [EioVersion::V3, EioVersion::V4] {
        let _ = sio::decode_packet(v, 10, &input.raw);
    }
    let cfg = SessionConfig {
        ping_interval: 100,
        ping_timeout: 50,
        connect_timeout: 1000,
        max_namespaces: 8,
        ..SessionConfig::default()
    };
    let mut s = Session::new(version, cfg, "SID".into(), input.b64, 0);
    let mut client = Decoder::new(EioVersion::V3, 64);
    let mut client_version_is = version;
    let mut pending: Vec<String> = Vec::new();
    let mut closed = false;
    let mut now = 0u64;
    if version == EioVersion::V4 {
        client_version_is = EioVersion::V4;
    }
    for op in input.ops.into_iter().take(64) {
        match op {
            Op::Text(t) => s.handle_text(&t, now),
            Op::Packet {
                kind,
                attachments,
                nsp,
                id,
                json,
            } => {
                let mut t = format!("4{}", kind % 8);
                if let Some(n) = attachments {
                    t.push_str(&format!("{}-", n % 12));
                }
                let nsp = NSPS[usize::from(nsp) % NSPS.len()];
                if nsp != "/" {
                    t.push_str(nsp);
                    t.push(',');
                }
                if let Some(id) = id {
                    t.push_str(&id.to_string());
                }
                t.push_str(&json);
                s.handle_text(&t, now);
            }
            Op::Binary(b) => s.handle_binary(Bytes::from(b), now),
            Op::Tick(dt) => {
                now += u64::from(dt % 400);
                if s.next_deadline().is_some_and(|d| d <= now) {
                    s.handle_timeout(now);
                }
            }
            Op::Accept => {
                if !pending.is_empty() {
                    let nsp = pending.remove(0);
                    let r = s.accept(&nsp, "SOCKET");
                    assert!(r.is_ok() || closed, "{r:?}");
                    assert!(closed || s.is_joined(&nsp));
                }
            }
            Op::Refuse(msg, data) => {
                if !pending.is_empty() {
                    let nsp = pending.remove(0);
                    let _ = s.refuse(&nsp, &msg, data.as_deref());
                }
            }
            Op::Emit {
                nsp,
                name,
                args,
                id,
                attachments,
            } => {
                let nsp = NSPS[usize::from(nsp) % NSPS.len()];
                let n = usize::from(attachments % 4);
                let atts: Vec<Bytes> = (0..n).map(|i| Bytes::from(vec![i as u8; i])).collect();
                let args = if n > 0 {
                    let ph: Vec<String> = (0..n)
                        .map(|i| format!("{{\"_placeholder\":true,\"num\":{i}}}"))
                        .collect();
                    format!("[{}]", ph.join(","))
                } else {
                    args
                };
                let _ = s.emit(nsp, &name, &args, id.map(u64::from), &atts);
            }
            Op::Ack { nsp, id, args } => {
                let nsp = NSPS[usize::from(nsp) % NSPS.len()];
                let _ = s.ack(nsp, u64::from(id), &args, &[]);
            }
            Op::Disconnect(nsp) => {
                let _ = s.disconnect(NSPS[usize::from(nsp) % NSPS.len()]);
            }
            Op::Close(app) => {
                if app {
                    s.close();
                } else {
                    s.handle_transport_closed();
                }
            }
        }
        while let Some(ev) = s.poll_event() {
            assert!(!closed, "event after close: {ev:?}");
            match ev {
                SessionEvent::Close { .. } => closed = true,
                SessionEvent::ConnectRequest { nsp, auth } => {
                    assert!(sio::RawJson::parse(auth.as_str()).is_ok());
                    pending.push(nsp);
                }
                SessionEvent::Event { nsp, .. } | SessionEvent::Ack { nsp, .. } => {
                    assert!(s.is_joined(&nsp));
                }
                SessionEvent::Disconnect { nsp } => pending.retain(|p| p != &nsp),
            }
        }
        while let Some(m) = s.poll_transmit() {
            client_check(client_version_is, &mut client, &m);
        }
        assert_eq!(closed, s.is_closed());
    }
});
