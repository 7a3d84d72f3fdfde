#![no_main]
//! Engine.IO polling payloads (`roomcast_server::protocol::eio::payload`):
//! arbitrary POST bodies decoded as v4, v3 text and v3 binary payloads (no
//! panic, bounded output); and arbitrary packets encoded then decoded again
//! come back the same (what the server answers, a client reads back).

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use roomcast_server::protocol::eio::payload::{decode, encode, Inbound, Item, MAX_PACKETS};
use roomcast_server::protocol::eio::EioVersion;

#[derive(Arbitrary, Debug)]
struct Input {
    body: Vec<u8>,
    packets: Vec<(bool, Vec<u8>)>,
    v3: bool,
    b64: bool,
}

fuzz_target!(|input: Input| {
    for (version, binary) in [(EioVersion::V4, false), (EioVersion::V3, false), (EioVersion::V3, true)] {
        if let Ok(packets) = decode(version, binary, &input.body) {
            assert!(packets.len() <= MAX_PACKETS);
            assert!(!packets.is_empty());
        }
    }
    // Packets a server sends: text packets are non-empty, start with a type
    // digit and (v4) never hold the separator; v3 binary starts with its type.
    let version = if input.v3 { EioVersion::V3 } else { EioVersion::V4 };
    let mut texts = Vec::new();
    let mut items_owned: Vec<(bool, Vec<u8>)> = Vec::new();
    for (is_binary, bytes) in input.packets.into_iter().take(64) {
        if is_binary {
            let mut b = bytes;
            if version == EioVersion::V3 {
                b.insert(0, 4);
            }
            items_owned.push((true, b));
        } else {
            let t: String = String::from_utf8_lossy(&bytes)
                .chars()
                .filter(|c| *c != '\x1e')
                .collect();
            texts.push(format!("4{t}"));
            items_owned.push((false, Vec::new()));
        }
    }
    let mut ti = texts.iter();
    let items: Vec<Item<'_>> = items_owned
        .iter()
        .map(|(b, bytes)| if *b { Item::Binary(bytes) } else { Item::Text(ti.next().unwrap()) })
        .collect();
    if items.is_empty() {
        return;
    }
    let enc = encode(version, input.b64, &items);
    let binary = enc.content_type == "application/octet-stream";
    let back = decode(version, binary, &enc.body).expect("what we encode decodes");
    assert_eq!(back.len(), items.len());
    for (item, got) in items.iter().zip(&back) {
        match (item, got) {
            (Item::Text(t), Inbound::Text(g)) => assert_eq!(t, g),
            (Item::Binary(b), Inbound::Binary(g)) => assert_eq!(&b[..], &g[..]),
            // Binary as base64 text (v4, or v3 with b64 / without a binary
            // payload): `b…`, which the session decodes.
            (Item::Binary(_), Inbound::Text(g)) => assert!(g.starts_with('b'), "{g}"),
            (i, g) => panic!("{i:?} came back as {g:?}"),
        }
    }
});
