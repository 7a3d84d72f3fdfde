//! # roomcast — the `sails.sockets` realtime layer as a fanout engine
//!
//! `roomcast` keeps room membership for many sockets and fans one pre-serialized
//! message out to every member. It has no sockets and no I/O of its own: you hand it
//! a [`Writer`] that moves bytes to your transport, and it hands that writer, once a
//! tick, each socket's pending frames as one gather list.
//!
//! It implements every operation of Sails' `sails.sockets` (join, leave,
//! broadcast, blast, emit, leaveAll, addRoomMembersToRooms,
//! removeRoomMembersFromRooms, get) and its resourceful pub/sub ([`Model`]), with
//! the semantics written in the repository's `docs/SPEC.md` (where it differs
//! from Sails, the method docs say so); `docs/ARCHITECTURE.md` describes every
//! module.
//!
//! ## Concepts
//!
//! * **[`Engine`]** — a cloneable, thread-safe handle. Every operation is a method.
//! * **[`Shard`]** — the sockets, rooms and delivery state of one thread. A socket
//!   lives in one shard; its [`SocketId`] names that shard, so any thread routes
//!   operations to it without a lookup. Operations reach shards through lock-free
//!   channels; each shard applies them when its thread calls
//!   [`Shard::process_ops`] and writes what they queued when it calls
//!   [`Shard::drain`]. Called on the shard itself, the same methods apply the
//!   shard's own part at once. [`ShardThread`] runs a shard on a thread for you.
//! * **Rooms** are per-shard sets of slots (a hybrid, as in roaring bitmaps: a sorted
//!   small vector, or a bitset once large). Every socket is in the room named by
//!   its own id. Empty rooms cease to exist.
//! * **Encode once**: a broadcast becomes one [`wire::Frame`] — a complete,
//!   unmasked WebSocket text frame holding the Socket.IO packet `42["event",data]` —
//!   shared by every recipient.
//! * **Operations are data** ([`Op`], [`Query`]): serializable values, mailed to
//!   shards and, through a cluster [`Adapter`], to other processes.
//! * **Ordering**: operations issued from one thread take effect in the order
//!   issued (a `join` then a `broadcast` reaches the new member).
//!
//! ## Example
//!
//! Connect three sockets, put two in a room, broadcast, and read what each socket
//! received through an in-memory writer:
//!
//! ```
//! use roomcast::{Engine, EngineConfig, MemoryWriter, wire::split_frames};
//!
//! let (engine, mut shards) = Engine::new(EngineConfig::default());
//! let shard = &mut shards[0];
//! let alice = shard.connect()?;
//! let bob = shard.connect()?;
//! let carol = shard.connect()?;
//!
//! engine.join([alice, bob], "chat")?;
//! engine.broadcast("chat", Some("message"), &serde_json::json!({"text": "hi"}), None)?;
//! engine.broadcast(["chat", "elsewhere"], Some("ping"), &1, Some(alice))?;
//!
//! // The shard's thread applies what was sent to it and writes it out.
//! shard.process_ops();
//! let mut out = MemoryWriter::default();
//! shard.drain(&mut out);
//!
//! assert_eq!(split_frames(out.received(alice)), [r#"42["message",{"text":"hi"}]"#]);
//! assert_eq!(
//!     split_frames(out.received(bob)),
//!     [r#"42["message",{"text":"hi"}]"#, r#"42["ping",1]"#]
//! );
//! assert!(out.received(carol).is_empty());
//!
//! // `emit` is atomic: one unknown id and nothing is sent.
//! shard.disconnect(carol);
//! assert!(engine.emit([bob, carol], None, "psst").is_err());
//! # Ok::<(), roomcast::Error>(())
//! ```
//!
//! ## Where roomcast differs from Sails
//!
//! * `broadcast` to several rooms reaches a socket in more than one of them
//!   **once**; Sails sends a copy a room.
//! * `join`/`leave` report the ids that are not connected; Sails ignores them.
//! * `emit` with any unknown id sends nothing to anyone and lists the unknown ids.
//! * `leaveAll`'s `includeSocketRooms` concerns each member's **own** id room
//!   only. When the source room is itself a member's own id room, that member
//!   leaves it only if `includeSocketRooms` is set.
//! * Resourceful pub/sub: see [`pubsub`].
#![deny(missing_docs)]

pub mod adapter;
mod batch;
mod config;
pub mod confirm;
mod dispatch;
pub mod engine;
mod error;
mod hub;
pub mod id;
mod liveness;
#[doc(hidden)]
pub mod model_check;
mod names;
pub mod node;
pub mod op;
mod palette;
pub mod pubsub;
pub mod query;
mod room_set;
mod runner;
pub mod shard;
mod shard_link;
mod wake;
pub mod wire;
pub mod writer;

pub use adapter::Adapter;
pub use config::EngineConfig;
pub use confirm::{Applied, Confirmed, Waiting};
pub use dispatch::Target;
pub use engine::Engine;
pub use error::Error;
pub use id::SocketId;
pub use names::{SocketIds, ToRoomNames, ToSocketIds};
pub use node::NodeId;
pub use op::{LeaveAllOptions, Op, Room, Selected, SelectedAction};
pub use pubsub::{Model, RecordId};
pub use query::{Answer, Query, QueryResult, RemoteAnswer, SocketInfo};
pub use runner::ShardThread;
pub use shard::{CloseCause, Shard, ShardStats};
pub use wire::Frame;
pub use writer::{MemoryWriter, NullWriter, Writer};

/// The README's library example, compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;

/// The book's Rust quick start (`docs/quickstart-rust.md`), compiled and run as
/// a doctest; `tests/quickstart_doc.rs` checks it quotes the README's example.
#[cfg(doctest)]
#[doc = include_str!("../../docs/quickstart-rust.md")]
pub struct QuickstartDoctests;
