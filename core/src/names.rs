//! [`ToSocketIds`] and [`ToRoomNames`]: the many ways a caller names sockets and
//! rooms — one or many, ids or their text — as Sails accepts "a socket or an
//! array of them" and "a room name or an array of them" in the same places.

use smallvec::SmallVec;

use crate::{Error, SocketId};

/// A short list of socket ids (one inline: most operations name one socket, and
/// every operation sent to a shard carries one of these).
pub type SocketIds = SmallVec<[SocketId; 1]>;

/// Deserializes [`SocketIds`] one element at a time. `SmallVec`'s own impl
/// reserves the length a message announces before reading any element, so a
/// forged length (a MessagePack array header of 2³² from a peer node) was an
/// allocation of tens of GB — an abort, found by the `cluster_messages`
/// fuzz target. Here memory grows only with elements actually present.
///
/// # Errors
///
/// The deserializer's.
pub fn deserialize_socket_ids<'de, D>(d: D) -> Result<SocketIds, D::Error>
where
    D: serde::Deserializer<'de>,
{
    struct Ids;
    impl<'de> serde::de::Visitor<'de> for Ids {
        type Value = SocketIds;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a sequence of socket ids")
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(
            self,
            mut seq: A,
        ) -> Result<SocketIds, A::Error> {
            let mut out = SocketIds::new();
            while let Some(id) = seq.next_element()? {
                out.push(id);
            }
            Ok(out)
        }
    }
    d.deserialize_seq(Ids)
}

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
    use crate::NodeId;

    #[test]
    fn many_forms_name_sockets_and_rooms() {
        let a = SocketId::from_parts(NodeId::LOCAL, 0, 1, 0, 5);
        let b = SocketId::from_parts(NodeId::LOCAL, 1, 2, 0, 6);
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
