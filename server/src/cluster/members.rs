//! [`Members`]: the nodes of the cluster, as heard on the bus. Sans-IO: what was
//! heard and the clock in; who is alive out.
//!
//! Any message from a node is a sign of life; each node also sends a heartbeat
//! every [`HEARTBEAT_MS`] with its socket count. A node not heard for
//! [`DEAD_AFTER_MS`] is dead: it leaves the table (its socket ids become
//! unknown, queries stop waiting for it) until it is heard again. A node that
//! says goodbye (graceful shutdown) leaves at once. While this node's own
//! connection to Redis is down nobody can be heard, so nobody is declared dead
//! then; when it comes back everyone gets a fresh [`DEAD_AFTER_MS`].

use std::collections::HashMap;

use roomcast::NodeId;

use super::envelope::Origin;

/// Milliseconds between heartbeats.
pub(crate) const HEARTBEAT_MS: u64 = 1000;
/// Milliseconds of silence after which a node is dead (well inside the 5 s a
/// user may wait to see a crashed node go).
pub(crate) const DEAD_AFTER_MS: u64 = 3000;

/// One node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Member {
    pub(crate) name: String,
    pub(crate) node: NodeId,
    pub(crate) inc: u64,
    pub(crate) sockets: u64,
    /// When it was last heard (ms on the caller's clock).
    pub(crate) last_seen: u64,
    /// Its adapter uid in a mixed cluster (from its heartbeats).
    pub(crate) compat_uid: Option<String>,
}

/// What hearing a message meant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Heard {
    /// A node already in the table.
    Known,
    /// A node that joined (or came back, or restarted).
    Joined,
    /// Another process sends with this node's number: a configuration error
    /// (two nodes with one `--node-id`, or two names with one hash).
    Clash(String),
}

/// See the [module docs](self).
#[derive(Debug)]
pub(crate) struct Members {
    me: Origin,
    nodes: HashMap<NodeId, Member>,
}

impl Members {
    pub(crate) fn new(me: Origin) -> Members {
        Members {
            me,
            nodes: HashMap::new(),
        }
    }

    /// Any message from `from`.
    pub(crate) fn heard(&mut self, from: &Origin, now: u64) -> Heard {
        if from.node == self.me.node {
            return Heard::Clash(format!(
                "another process sends as node {:?} (this node is {:?}): \
                 give every node its own --node-id",
                from.name, self.me.name
            ));
        }
        match self.nodes.get_mut(&from.node) {
            Some(m) if m.name != from.name => Heard::Clash(format!(
                "nodes {:?} and {:?} have the same node number {}: rename one",
                m.name, from.name, from.node
            )),
            Some(m) if m.inc == from.inc => {
                m.last_seen = now;
                Heard::Known
            }
            _ => {
                self.nodes.insert(
                    from.node,
                    Member {
                        name: from.name.clone(),
                        node: from.node,
                        inc: from.inc,
                        sockets: 0,
                        last_seen: now,
                        compat_uid: None,
                    },
                );
                Heard::Joined
            }
        }
    }

    /// A heartbeat's socket count (after [`heard`](Self::heard)).
    pub(crate) fn sockets(&mut self, node: NodeId, sockets: u64, compat_uid: Option<String>) {
        if let Some(m) = self.nodes.get_mut(&node) {
            m.sockets = sockets;
            m.compat_uid = compat_uid;
        }
    }

    /// Whether `uid` is the adapter uid of another roomcast node.
    pub(crate) fn is_roomcast_uid(&self, uid: &str) -> bool {
        self.nodes
            .values()
            .any(|m| m.compat_uid.as_deref() == Some(uid))
    }

    /// `node` said goodbye; returns it if it was a member.
    pub(crate) fn bye(&mut self, node: NodeId) -> Option<Member> {
        self.nodes.remove(&node)
    }

    /// Removes and returns the nodes not heard for [`DEAD_AFTER_MS`].
    pub(crate) fn sweep(&mut self, now: u64) -> Vec<Member> {
        let dead: Vec<NodeId> = self
            .nodes
            .values()
            .filter(|m| now.saturating_sub(m.last_seen) >= DEAD_AFTER_MS)
            .map(|m| m.node)
            .collect();
        dead.iter().filter_map(|n| self.nodes.remove(n)).collect()
    }

    /// After an outage of this node's own connection: nobody could be heard,
    /// so everyone starts a fresh wait.
    pub(crate) fn grace(&mut self, now: u64) {
        for m in self.nodes.values_mut() {
            m.last_seen = now;
        }
    }

    pub(crate) fn get(&self, node: NodeId) -> Option<&Member> {
        self.nodes.get(&node)
    }

    /// Every other live node.
    pub(crate) fn others(&self) -> impl Iterator<Item = &Member> {
        self.nodes.values()
    }

    /// Live nodes, this one included.
    pub(crate) fn count(&self) -> usize {
        self.nodes.len() + 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin(name: &str, inc: u64) -> Origin {
        Origin {
            name: name.into(),
            node: NodeId::from_name(name).unwrap(),
            inc,
        }
    }

    #[test]
    fn join_heartbeat_death_and_goodbye() {
        let mut m = Members::new(origin("me", 1));
        let b = origin("node-b", 7);
        assert_eq!(m.heard(&b, 0), Heard::Joined);
        m.sockets(b.node, 12, Some("Ab3dE9".into()));
        assert_eq!(m.heard(&b, 1000), Heard::Known);
        assert_eq!(m.count(), 2);
        assert_eq!(m.get(b.node).unwrap().sockets, 12);
        // Its adapter uid (a mixed cluster) is a roomcast node's.
        assert!(m.is_roomcast_uid("Ab3dE9"));
        assert!(!m.is_roomcast_uid("xY12zz"));
        assert!(m.sweep(3999).is_empty());
        assert_eq!(m.sweep(4000).len(), 1, "dead after 3 s of silence");
        assert_eq!(m.count(), 1);
        // It comes back (a SIGSTOP ended): a member again.
        assert_eq!(m.heard(&b, 5000), Heard::Joined);
        // A restart is a new incarnation: joined again, counts reset.
        m.sockets(b.node, 3, None);
        assert_eq!(m.heard(&origin("node-b", 8), 5100), Heard::Joined);
        assert_eq!(m.get(b.node).unwrap().sockets, 0);
        // An outage of our own connection is nobody's death.
        m.grace(9000);
        assert!(m.sweep(11_999).is_empty());
        assert_eq!(m.bye(b.node).map(|x| x.name), Some("node-b".into()));
        assert_eq!(m.count(), 1);
    }

    #[test]
    fn clashes_are_reported() {
        let mut m = Members::new(origin("me", 1));
        assert!(matches!(m.heard(&origin("me", 2), 0), Heard::Clash(_)));
        m.heard(&origin("node-b", 1), 0);
        let forged = Origin {
            name: "other".into(),
            node: NodeId::from_name("node-b").unwrap(),
            inc: 1,
        };
        assert!(matches!(m.heard(&forged, 0), Heard::Clash(_)));
    }
}
