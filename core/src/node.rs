//! [`NodeId`]: the roomcast process (node) that owns a socket.
//!
//! Every socket id carries the number of the node that minted it, so any node of
//! a cluster can route an operation on an id to its owner without a lookup. A node
//! is configured with a human-readable **name** (`--node-id`); its number is a
//! stable 32-bit hash of that name ([`NodeId::from_name`], FNV-1a), identical on
//! every platform and every version, so ids minted by a node before a restart
//! still name it afterwards. Two names hashing to the same number are a
//! configuration error the cluster layer detects and reports (1 in ~4·10⁹ for a
//! pair of nodes).

use std::fmt;

use crate::Error;

/// Longest node name accepted, in bytes.
pub const MAX_NODE_NAME_LEN: usize = 64;

/// The number of a node, as written into socket ids; see the [module docs](self).
///
/// # Examples
///
/// ```
/// use roomcast::NodeId;
///
/// let a = NodeId::from_name("eu-1").unwrap();
/// assert_eq!(a, NodeId::from_name("eu-1").unwrap()); // stable
/// assert_ne!(a, NodeId::from_name("eu-2").unwrap());
/// assert!(NodeId::from_name("bad name").is_err());
/// assert_eq!(NodeId::from_raw(7).raw(), 7);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct NodeId(u32);

impl NodeId {
    /// The node number a lone engine uses by default.
    pub const LOCAL: NodeId = NodeId(0);

    /// A node id from its number.
    #[must_use]
    pub const fn from_raw(n: u32) -> NodeId {
        NodeId(n)
    }

    /// The number written into socket ids.
    #[must_use]
    pub const fn raw(self) -> u32 {
        self.0
    }

    /// The node id for a node name: FNV-1a (32-bit) of its bytes.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidNodeName`] unless the name is 1 to [`MAX_NODE_NAME_LEN`]
    /// bytes of ASCII letters, digits, `-`, `_` and `.`.
    pub fn from_name(name: &str) -> Result<NodeId, Error> {
        check_node_name(name)?;
        let mut h: u32 = 0x811c_9dc5;
        for b in name.bytes() {
            h ^= u32::from(b);
            h = h.wrapping_mul(0x0100_0193);
        }
        Ok(NodeId(h))
    }
}

/// Checks a node name: 1 to [`MAX_NODE_NAME_LEN`] bytes of `[A-Za-z0-9._-]`.
///
/// # Errors
///
/// [`Error::InvalidNodeName`].
pub fn check_node_name(name: &str) -> Result<(), Error> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NODE_NAME_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidNodeName {
            name: name.to_owned(),
            max: MAX_NODE_NAME_LEN,
        })
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:08x}", self.0)
    }
}

impl fmt::Debug for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NodeId({:08x})", self.0)
    }
}

impl serde::Serialize for NodeId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u32(self.0)
    }
}

impl<'de> serde::Deserialize<'de> for NodeId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<NodeId, D::Error> {
        u32::deserialize(d).map(NodeId)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_hash_stably_and_bad_names_are_refused() {
        // FNV-1a test vectors: "" would be 0x811c9dc5, "a" is 0xe40c292c.
        assert_eq!(NodeId::from_name("a").unwrap().raw(), 0xe40c_292c);
        assert_eq!(NodeId::from_name("foobar").unwrap().raw(), 0xbf9c_f968);
        for bad in ["", "a b", "é", "x/y", &"n".repeat(65)] {
            assert!(
                matches!(NodeId::from_name(bad), Err(Error::InvalidNodeName { .. })),
                "{bad:?}"
            );
        }
        assert!(NodeId::from_name(&"n".repeat(64)).is_ok());
        assert_eq!(NodeId::from_raw(0x1a).to_string(), "0000001a");
    }
}
