//! Shared pieces of roomcast's benches.
//!
//! [`SocketIoAdapter`] is the baseline the fanout benches compare against: a
//! faithful model, in Rust, of what socket.io 4.8's in-memory adapter does for
//! `io.to(rooms).except(omit).emit(…)` (`socket.io-adapter` `in-memory-adapter.ts`,
//! `apply` and `broadcast`):
//!
//! * `rooms: Map<Room, Set<SocketId>>` and `sids: Map<SocketId, Set<Room>>` with
//!   string ids (here `HashMap`/`HashSet` with the fast `ahash` hasher, and
//!   `Rc<str>` ids so that copying an id costs what a JS string copy costs);
//! * the packet encoded once into one shared frame (socket.io ≥ 4.6 pre-builds the
//!   WebSocket frame once, `wsPreEncodedFrame`);
//! * per broadcast, a fresh `ids` set for multi-room dedupe and an `except` set;
//! * per recipient: a hash lookup of the socket, an `Arc` clone of the frame
//!   pushed to the socket's write queue, and one write per delivery (engine.io
//!   flushes each packet with its own `ws.send`).

use std::collections::VecDeque;
use std::io::IoSlice;
use std::rc::Rc;
use std::sync::Arc;

use ahash::{AHashMap, AHashSet};
use roomcast::{SocketId, Writer};

/// A socket of the baseline: its id and its write queue.
#[derive(Debug, Default)]
pub struct BaselineSocket {
    queue: VecDeque<Arc<[u8]>>,
}

/// The socket.io in-memory adapter model; see the crate docs.
#[derive(Debug, Default)]
pub struct SocketIoAdapter {
    rooms: AHashMap<Rc<str>, AHashSet<Rc<str>>>,
    sids: AHashMap<Rc<str>, AHashSet<Rc<str>>>,
    sockets: AHashMap<Rc<str>, BaselineSocket>,
    ids: Vec<Rc<str>>,
}

impl SocketIoAdapter {
    /// Adds a socket with a 20-character id (like engine.io's base64id), in its
    /// own id room; returns its index.
    pub fn connect(&mut self) -> usize {
        let id: Rc<str> = Rc::from(format!("{:0>20}", self.ids.len()));
        self.sockets.insert(id.clone(), BaselineSocket::default());
        self.sids.insert(id.clone(), AHashSet::default());
        self.join(self.ids.len(), &id.clone());
        self.ids.push(id);
        self.ids.len() - 1
    }

    fn id(&self, socket: usize) -> Rc<str> {
        self.ids[socket].clone()
    }

    /// `socket.join(room)` (`addAll`).
    pub fn join(&mut self, socket: usize, room: &str) {
        let id = self
            .ids
            .get(socket)
            .cloned()
            .unwrap_or_else(|| Rc::from(room));
        let room: Rc<str> = self
            .rooms
            .get_key_value(room)
            .map_or_else(|| Rc::from(room), |(k, _)| k.clone());
        self.rooms
            .entry(room.clone())
            .or_default()
            .insert(id.clone());
        self.sids.entry(id).or_default().insert(room);
    }

    /// `io.to(rooms).except(omit).emit(...)`: `frame` is the pre-encoded frame.
    /// Returns the number of recipients.
    pub fn broadcast(
        &mut self,
        rooms: &[&str],
        omit: Option<usize>,
        frame: &[u8],
        writer: &mut impl Writer,
    ) -> usize {
        let encoded: Arc<[u8]> = Arc::from(frame);
        let except: AHashSet<Rc<str>> = omit.map(|o| self.id(o)).into_iter().collect();
        let mut ids: AHashSet<Rc<str>> = AHashSet::default();
        let mut sent = 0;
        for room in rooms {
            let Some(members) = self.rooms.get(*room) else {
                continue;
            };
            for id in members {
                if ids.contains(id) || except.contains(id) {
                    continue;
                }
                ids.insert(id.clone());
                if let Some(socket) = self.sockets.get_mut(id) {
                    socket.queue.push_back(encoded.clone());
                    // engine.io: one ws.send (one write) per packet.
                    while let Some(f) = socket.queue.pop_front() {
                        writer.write(
                            SocketId::from_parts(roomcast::NodeId::LOCAL, 0, 0, 0, 1),
                            &[IoSlice::new(&f)],
                        );
                    }
                    sent += 1;
                }
            }
        }
        sent
    }
}

/// A 100-byte Socket.IO event payload like the load generator's.
#[must_use]
pub fn payload_100b() -> String {
    let base = r#"{"seq":123456,"ts":1700000000000,"pad":""}"#;
    let pad = "x".repeat(100 - base.len());
    format!(r#"{{"seq":123456,"ts":1700000000000,"pad":"{pad}"}}"#)
}
