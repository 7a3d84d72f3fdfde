//! Arbitrary bytes as Engine.IO WebSocket messages: into the packet decoders and a
//! live session of either protocol version.
//!
//! The first byte picks the version and whether messages are text or binary; the
//! rest is split at `0xFF` bytes into messages, each followed by a clock tick.
//! Checks: no panic, a close is reported once and last, deadlines vanish at close.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use roomcast_server::protocol::eio::{self, EioVersion};
use roomcast_server::protocol::sio::{Session, SessionConfig, SessionEvent};

fuzz_target!(|data: &[u8]| {
    let (flags, data) = match data.split_first() {
        Some((f, rest)) => (*f, rest),
        None => return,
    };
    let version = if flags & 1 == 0 {
        EioVersion::V4
    } else {
        EioVersion::V3
    };
    let _ = eio::decode_binary(version, data);
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = eio::decode_text(version, s);
    }
    let cfg = SessionConfig {
        ping_interval: 50,
        ping_timeout: 30,
        connect_timeout: 400,
        ..SessionConfig::default()
    };
    let mut s = Session::new(version, cfg, "SID".into(), flags & 2 != 0, 0);
    let mut now = 0u64;
    let mut closed = false;
    for msg in data.split(|&b| b == 0xFF) {
        now += u64::from(msg.first().copied().unwrap_or(1) % 64);
        if s.next_deadline().is_some_and(|d| d <= now) {
            s.handle_timeout(now);
        }
        match std::str::from_utf8(msg) {
            Ok(text) if flags & 4 == 0 => s.handle_text(text, now),
            _ => s.handle_binary(Bytes::copy_from_slice(msg), now),
        }
        while let Some(ev) = s.poll_event() {
            assert!(!closed, "event after close: {ev:?}");
            match ev {
                SessionEvent::Close { .. } => closed = true,
                SessionEvent::ConnectRequest { nsp, .. } => {
                    // accept every other namespace, refuse the rest
                    if nsp.len() % 2 == 0 {
                        let _ = s.accept(&nsp, "SOCKET");
                    } else {
                        let _ = s.refuse(&nsp, "Invalid namespace", None);
                    }
                }
                SessionEvent::Event {
                    nsp,
                    ack_id: Some(id),
                    args,
                    ..
                } => {
                    s.ack(&nsp, id, args.as_str(), &[])
                        .expect("ack on a joined namespace");
                }
                _ => {}
            }
        }
        while s.poll_transmit().is_some() {}
        assert_eq!(closed, s.is_closed());
        assert_eq!(closed, s.next_deadline().is_none());
    }
});
