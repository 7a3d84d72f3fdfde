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
//!  +---------+----------+-----------+-----------+------------------+
//!  | node u16| shard u16| slot u32  | gen u16   | token u64 (≠ 0)  |
//!  +---------+----------+-----------+-----------+------------------+
//! ```
//!
//! The text form is what clients see (`GET /sockets/id`, Socket.IO's `sid`) and
//! what room names for socket ids use.

use std::fmt;
use std::str::FromStr;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

use smallvec::SmallVec;

use crate::Error;

/// Length of a socket id's text form, in bytes.
pub const SOCKET_ID_LEN: usize = 24;

/// A connected socket's public id. Cheap to copy; see the [module docs](self).
///
/// # Examples
///
/// ```
/// use roomcast::SocketId;
///
/// let id = SocketId::from_parts(0, 1, 42, 7, 0x1234_5678_9abc_def0);
/// let text = id.to_string();
/// assert_eq!(text.len(), 24);
/// let back: SocketId = text.parse().unwrap();
/// assert_eq!(back, id);
/// assert_eq!((back.shard(), back.slot(), back.generation()), (1, 42, 7));
/// assert!("not-an-id".parse::<SocketId>().is_err());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SocketId {
    node: u16,
    shard: u16,
    slot: u32,
    gen: u16,
    token: u64,
}

impl SocketId {
    /// Builds an id from its parts (mostly for tests and tools; engines mint ids
    /// themselves). A zero `token` is never minted by an engine and is never
    /// connected.
    #[must_use]
    pub const fn from_parts(node: u16, shard: u16, slot: u32, gen: u16, token: u64) -> SocketId {
        SocketId {
            node,
            shard,
            slot,
            gen,
            token,
        }
    }

    /// The node that owns the socket (for scale-out; 0 on a single node).
    #[must_use]
    pub const fn node(&self) -> u16 {
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

    fn to_bytes(self) -> [u8; 18] {
        let mut b = [0u8; 18];
        b[0..2].copy_from_slice(&self.node.to_be_bytes());
        b[2..4].copy_from_slice(&self.shard.to_be_bytes());
        b[4..8].copy_from_slice(&self.slot.to_be_bytes());
        b[8..10].copy_from_slice(&self.gen.to_be_bytes());
        b[10..18].copy_from_slice(&self.token.to_be_bytes());
        b
    }

    /// Writes the 24-character text form into `out` and returns it as a `&str`.
    pub fn encode<'a>(&self, out: &'a mut [u8; SOCKET_ID_LEN]) -> &'a str {
        let n = URL_SAFE_NO_PAD
            .encode_slice(self.to_bytes(), out)
            .expect("24 bytes hold 18 bytes of base64");
        debug_assert_eq!(n, SOCKET_ID_LEN);
        std::str::from_utf8(out).expect("base64 is ASCII")
    }

    /// Parses the text form, or returns `None` if `s` is not one (cheap: no
    /// allocation). Used to recognise room names that are socket ids.
    #[must_use]
    pub fn parse(s: &str) -> Option<SocketId> {
        if s.len() != SOCKET_ID_LEN {
            return None;
        }
        let mut b = [0u8; 18];
        match URL_SAFE_NO_PAD.decode_slice(s.as_bytes(), &mut b) {
            Ok(18) => {}
            _ => return None,
        }
        let id = SocketId {
            node: u16::from_be_bytes([b[0], b[1]]),
            shard: u16::from_be_bytes([b[2], b[3]]),
            slot: u32::from_be_bytes([b[4], b[5], b[6], b[7]]),
            gen: u16::from_be_bytes([b[8], b[9]]),
            token: u64::from_be_bytes(b[10..18].try_into().expect("8 bytes")),
        };
        // Canonical form only: re-encoding must give back the same text (base64
        // allows non-zero trailing bits in some alphabets' decoders).
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

/// A short list of socket ids (inline up to four).
pub type SocketIds = SmallVec<[SocketId; 4]>;

/// Anything that names one or more sockets: a [`SocketId`], its text form, or a
/// slice, array or `Vec` of either — Sails accepts "a socket or an array of them"
/// in the same places.
pub trait ToSocketIds {
    /// Appends the ids to `out`.
    ///
    /// # Errors
    ///
    /// [`Error::MalformedSocketId`] for a string that is not a socket id.
    fn push_socket_ids(&self, out: &mut SocketIds) -> Result<(), Error>;
}

impl ToSocketIds for SocketId {
    fn push_socket_ids(&self, out: &mut SocketIds) -> Result<(), Error> {
        out.push(*self);
        Ok(())
    }
}

impl ToSocketIds for str {
    fn push_socket_ids(&self, out: &mut SocketIds) -> Result<(), Error> {
        out.push(self.parse()?);
        Ok(())
    }
}

impl ToSocketIds for String {
    fn push_socket_ids(&self, out: &mut SocketIds) -> Result<(), Error> {
        self.as_str().push_socket_ids(out)
    }
}

impl<T: ToSocketIds + ?Sized> ToSocketIds for &T {
    fn push_socket_ids(&self, out: &mut SocketIds) -> Result<(), Error> {
        (**self).push_socket_ids(out)
    }
}

impl<T: ToSocketIds> ToSocketIds for [T] {
    fn push_socket_ids(&self, out: &mut SocketIds) -> Result<(), Error> {
        self.iter().try_for_each(|t| t.push_socket_ids(out))
    }
}

impl<T: ToSocketIds, const N: usize> ToSocketIds for [T; N] {
    fn push_socket_ids(&self, out: &mut SocketIds) -> Result<(), Error> {
        self.as_slice().push_socket_ids(out)
    }
}

impl<T: ToSocketIds> ToSocketIds for Vec<T> {
    fn push_socket_ids(&self, out: &mut SocketIds) -> Result<(), Error> {
        self.as_slice().push_socket_ids(out)
    }
}

/// Anything that names one or more rooms: a string, or a slice, array or `Vec` of
/// strings (Sails' "a room name or an array of them").
pub trait ToRoomNames {
    /// Calls `f` with each name in order.
    fn for_each_room(&self, f: &mut dyn FnMut(&str));
}

impl ToRoomNames for str {
    fn for_each_room(&self, f: &mut dyn FnMut(&str)) {
        f(self);
    }
}

impl ToRoomNames for String {
    fn for_each_room(&self, f: &mut dyn FnMut(&str)) {
        f(self);
    }
}

impl<T: ToRoomNames + ?Sized> ToRoomNames for &T {
    fn for_each_room(&self, f: &mut dyn FnMut(&str)) {
        (**self).for_each_room(f);
    }
}

impl<T: ToRoomNames> ToRoomNames for [T] {
    fn for_each_room(&self, f: &mut dyn FnMut(&str)) {
        for t in self {
            t.for_each_room(f);
        }
    }
}

impl<T: ToRoomNames, const N: usize> ToRoomNames for [T; N] {
    fn for_each_room(&self, f: &mut dyn FnMut(&str)) {
        self.as_slice().for_each_room(f);
    }
}

impl<T: ToRoomNames> ToRoomNames for Vec<T> {
    fn for_each_room(&self, f: &mut dyn FnMut(&str)) {
        self.as_slice().for_each_room(f);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_junk() {
        for id in [
            SocketId::from_parts(0, 0, 0, 0, 1),
            SocketId::from_parts(u16::MAX, u16::MAX, u32::MAX, u16::MAX, u64::MAX),
            SocketId::from_parts(3, 1, 77, 9, 0xdead_beef),
        ] {
            let s = id.to_string();
            assert_eq!(s.len(), SOCKET_ID_LEN);
            assert!(s
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
            assert_eq!(SocketId::parse(&s), Some(id));
        }
        let good = SocketId::from_parts(0, 0, 5, 1, 99).to_string();
        for bad in [
            "",
            "short",
            &good[1..],
            &format!("{good}A"),
            "!!!!!!!!!!!!!!!!!!!!!!!!",
            "AAAAAAAAAAAAAAAAAAAAAAAA", // token 0
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
    fn many_forms_name_sockets_and_rooms() {
        let a = SocketId::from_parts(0, 0, 1, 0, 5);
        let b = SocketId::from_parts(0, 1, 2, 0, 6);
        let mut out = SocketIds::new();
        a.push_socket_ids(&mut out).unwrap();
        [a, b].push_socket_ids(&mut out).unwrap();
        vec![b.to_string()].push_socket_ids(&mut out).unwrap();
        a.to_string().as_str().push_socket_ids(&mut out).unwrap();
        assert_eq!(out.as_slice(), [a, a, b, b, a]);
        assert!("nope".push_socket_ids(&mut out).is_err());

        let mut rooms = Vec::new();
        "x".for_each_room(&mut |r| rooms.push(r.to_owned()));
        ["y", "z"].for_each_room(&mut |r| rooms.push(r.to_owned()));
        vec![String::from("w")].for_each_room(&mut |r| rooms.push(r.to_owned()));
        assert_eq!(rooms, ["x", "y", "z", "w"]);
    }
}
