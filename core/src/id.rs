//! Public socket ids that route themselves.
//!
//! A [`SocketId`] names the node, the shard and the slot that hold a socket, the
//! slot's generation, and 64 random bits. Any thread can therefore route an
//! operation on an id straight to its shard (no lookup table), a recycled slot never
//! answers to an old id, and ids cannot be guessed: the random part comes from a
//! cryptographically secure generator seeded by the OS.
//!
//! # Text form
//!
//! ```text
//!  18 bytes, big-endian, as 24 characters of URL-safe base64 without padding
//!  +-----------+----------+-----------+-----------+----------------------+
//!  | node u32  | shard u8 | slot u24  | gen u16   | token u64 (≥ 2^40)   |
//!  +-----------+----------+-----------+-----------+----------------------+
//!
//!  short form: 15 bytes, as 20 characters (the length of socket.io's ids)
//!  +-----------+----------+-----------+-----------+----------------------+
//!  | node u32  | shard u8 | slot u24  | gen u16   | token u40 (≠ 0)      |
//!  +-----------+----------+-----------+-----------+----------------------+
//! ```
//!
//! The token decides the form: below 2^40 the short one, else the long one, so
//! each id has exactly one text. Engines mint long ids, or short ones with
//! [`EngineConfig::short_ids`](crate::EngineConfig::short_ids) (a mixed cluster
//! with Node peers, which expect 20 characters); both forms parse everywhere.
//!
//! So an engine has at most [`MAX_SHARDS`] shards of at most [`MAX_SLOTS`]
//! sockets each, and a cluster's nodes are told apart by their [`NodeId`].
//!
//! The text form is what clients see (`GET /sockets/id`, Socket.IO's `sid`) and
//! what room names for socket ids use.

use std::fmt;
use std::str::FromStr;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

use crate::{Error, NodeId};

/// Length of a socket id's text form, in bytes (the short form: 20).
pub const SOCKET_ID_LEN: usize = 24;
/// Length of the short text form, in bytes.
pub const SHORT_SOCKET_ID_LEN: usize = 20;
/// Tokens below this print in the short form.
pub const SHORT_TOKEN_LIMIT: u64 = 1 << 40;
/// Most shards an engine can have (the id's shard field is one byte).
pub const MAX_SHARDS: usize = 256;
/// Most slots a shard can have (the id's slot field is three bytes).
pub const MAX_SLOTS: u32 = 1 << 24;

/// A connected socket's public id. Cheap to copy; see the [module docs](self).
///
/// # Examples
///
/// ```
/// use roomcast::{NodeId, SocketId};
///
/// let id = SocketId::from_parts(NodeId::from_raw(9), 1, 42, 7, 0x1234_5678_9abc_def0);
/// let text = id.to_string();
/// assert_eq!(text.len(), 24);
/// let back: SocketId = text.parse().unwrap();
/// assert_eq!(back, id);
/// assert_eq!((back.node().raw(), back.shard(), back.slot(), back.generation()), (9, 1, 42, 7));
/// assert!("not-an-id".parse::<SocketId>().is_err());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SocketId {
    node: NodeId,
    shard: u16,
    slot: u32,
    gen: u16,
    token: u64,
}

impl SocketId {
    /// Builds an id from its parts (mostly for tests and tools; engines mint ids
    /// themselves). A zero `token` is never minted by an engine and is never
    /// connected.
    ///
    /// # Panics
    ///
    /// If `shard` is not below [`MAX_SHARDS`] or `slot` not below [`MAX_SLOTS`]
    /// (they would not fit the id's fields).
    #[must_use]
    #[inline]
    pub const fn from_parts(node: NodeId, shard: u16, slot: u32, gen: u16, token: u64) -> SocketId {
        assert!((shard as usize) < MAX_SHARDS && slot < MAX_SLOTS);
        SocketId::new_unchecked(node, shard, slot, gen, token)
    }

    /// [`from_parts`](Self::from_parts) for parts the engine knows are in range
    /// (its own shards and slots): no check on the fanout path.
    #[inline(always)]
    pub(crate) const fn new_unchecked(
        node: NodeId,
        shard: u16,
        slot: u32,
        gen: u16,
        token: u64,
    ) -> SocketId {
        SocketId {
            node,
            shard,
            slot,
            gen,
            token,
        }
    }

    /// The node that owns the socket.
    #[must_use]
    pub const fn node(&self) -> NodeId {
        self.node
    }

    /// The shard that owns the socket.
    #[must_use]
    pub const fn shard(&self) -> u16 {
        self.shard
    }

    /// The socket's slot within its shard.
    #[must_use]
    pub const fn slot(&self) -> u32 {
        self.slot
    }

    /// The generation of the slot when this socket got it.
    #[must_use]
    pub const fn generation(&self) -> u16 {
        self.gen
    }

    /// The random part.
    #[must_use]
    pub const fn token(&self) -> u64 {
        self.token
    }

    /// Whether the text form is the short one (see the [module docs](self)).
    #[must_use]
    pub const fn is_short(&self) -> bool {
        self.token < SHORT_TOKEN_LIMIT
    }

    /// The binary form and its length (18 bytes, or 15 for the short form).
    fn to_bytes(self) -> ([u8; 18], usize) {
        let mut b = [0u8; 18];
        b[0..4].copy_from_slice(&self.node.raw().to_be_bytes());
        b[4] = self.shard as u8;
        b[5..8].copy_from_slice(&self.slot.to_be_bytes()[1..]);
        b[8..10].copy_from_slice(&self.gen.to_be_bytes());
        if self.is_short() {
            b[10..15].copy_from_slice(&self.token.to_be_bytes()[3..]);
            (b, 15)
        } else {
            b[10..18].copy_from_slice(&self.token.to_be_bytes());
            (b, 18)
        }
    }

    /// Writes the text form (24 characters, or 20 for the short form) into
    /// `out` and returns it as a `&str`.
    pub fn encode<'a>(&self, out: &'a mut [u8; SOCKET_ID_LEN]) -> &'a str {
        let (bytes, len) = self.to_bytes();
        let n = URL_SAFE_NO_PAD
            .encode_slice(&bytes[..len], out)
            .expect("24 bytes hold 18 bytes of base64");
        std::str::from_utf8(&out[..n]).expect("base64 is ASCII")
    }

    /// Parses the text form (either), or returns `None` if `s` is not one
    /// (cheap: no allocation). Used to recognise room names that are socket ids.
    #[must_use]
    pub fn parse(s: &str) -> Option<SocketId> {
        let len = match s.len() {
            SOCKET_ID_LEN => 18,
            SHORT_SOCKET_ID_LEN => 15,
            _ => return None,
        };
        let mut b = [0u8; 18];
        if URL_SAFE_NO_PAD.decode_slice(s.as_bytes(), &mut b) != Ok(len) {
            return None;
        }
        let mut token = [0u8; 8];
        token[8 - (len - 10)..].copy_from_slice(&b[10..len]);
        let id = SocketId {
            node: NodeId::from_raw(u32::from_be_bytes([b[0], b[1], b[2], b[3]])),
            shard: u16::from(b[4]),
            slot: u32::from_be_bytes([0, b[5], b[6], b[7]]),
            gen: u16::from_be_bytes([b[8], b[9]]),
            token: u64::from_be_bytes(token),
        };
        // Canonical form only: re-encoding must give back the same text (base64
        // allows non-zero trailing bits in some alphabets' decoders, and a long
        // form whose token fits the short one is not canonical).
        let mut again = [0u8; SOCKET_ID_LEN];
        if id.token == 0 || id.encode(&mut again) != s {
            return None;
        }
        Some(id)
    }
}

impl fmt::Display for SocketId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut buf = [0u8; SOCKET_ID_LEN];
        f.write_str(self.encode(&mut buf))
    }
}

impl fmt::Debug for SocketId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SocketId({self})")
    }
}

impl FromStr for SocketId {
    type Err = Error;

    fn from_str(s: &str) -> Result<SocketId, Error> {
        SocketId::parse(s).ok_or_else(|| Error::MalformedSocketId(s.to_owned()))
    }
}

impl serde::Serialize for SocketId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut buf = [0u8; SOCKET_ID_LEN];
        s.serialize_str(self.encode(&mut buf))
    }
}

impl<'de> serde::Deserialize<'de> for SocketId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<SocketId, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        SocketId::parse(&s).ok_or_else(|| serde::de::Error::custom("not a socket id"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_junk() {
        for id in [
            SocketId::from_parts(NodeId::LOCAL, 0, 0, 0, SHORT_TOKEN_LIMIT),
            SocketId::from_parts(
                NodeId::from_raw(u32::MAX),
                255,
                MAX_SLOTS - 1,
                u16::MAX,
                u64::MAX,
            ),
            SocketId::from_parts(NodeId::from_raw(3), 1, 77, 9, 0xdead_beef << 16),
        ] {
            let s = id.to_string();
            assert_eq!(s.len(), SOCKET_ID_LEN);
            assert!(s
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
            assert_eq!(SocketId::parse(&s), Some(id));
        }
        let good = SocketId::from_parts(NodeId::LOCAL, 0, 5, 1, u64::MAX - 99).to_string();
        for bad in [
            "",
            "short",
            &good[1..],
            &format!("{good}A"),
            "!!!!!!!!!!!!!!!!!!!!!!!!",
            "AAAAAAAAAAAAAAAAAAAAAAAA", // token 0
            "AAAAAAAAAAAAAAAAAAAA",     // token 0, short
            "AAAAAAAAAAAAAAAAAAAAAAAB", // a token that fits the short form
            "ééééééééééé",
        ] {
            assert!(SocketId::parse(bad).is_none(), "{bad:?}");
            assert!(matches!(
                bad.parse::<SocketId>(),
                Err(Error::MalformedSocketId(_))
            ));
        }
    }

    #[test]
    fn short_ids_have_twenty_characters_and_one_text() {
        for token in [1, 99, 0xdead_beef, SHORT_TOKEN_LIMIT - 1] {
            let id = SocketId::from_parts(NodeId::from_raw(0xabcd_1234), 7, 1000, 3, token);
            assert!(id.is_short());
            let s = id.to_string();
            assert_eq!(s.len(), SHORT_SOCKET_ID_LEN, "{s}");
            assert_eq!(SocketId::parse(&s), Some(id));
            assert_eq!(id.node().raw(), 0xabcd_1234, "it still names its node");
        }
        let long = SocketId::from_parts(NodeId::LOCAL, 0, 1, 0, SHORT_TOKEN_LIMIT);
        assert!(!long.is_short());
        assert_eq!(long.to_string().len(), SOCKET_ID_LEN);
    }
}
