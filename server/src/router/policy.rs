//! [`Policy`]: which built-in socket routes a client may call.

use roomcast::SocketId;

/// Prefix of the rooms resourceful pub/sub uses (`sails_model_<identity>_<id>:<identity>`,
/// `sails_model_create_<identity>`). Such rooms are reserved: see
/// [`Policy::reserved_rooms`].
pub const MODEL_ROOM_PREFIX: &str = "sails_model_";

/// Which built-in socket routes a client may call (`docs/ROUTES.md`, "Policy").
///
/// Every field is one capability; a refused request gets 403 `E_FORBIDDEN` before
/// anything changes. [`Policy::default()`] is the safe policy a server starts with,
/// [`Policy::open()`] allows everything (for development and tests). The table below
/// is the whole of it:
///
/// | field | routes | default |
/// |---|---|---|
/// | [`join`](Self::join) | `join`/`leave` of the requesting socket itself | allowed |
/// | [`broadcast`](Self::broadcast) | `broadcast` to rooms | allowed |
/// | [`act_on_other_sockets`](Self::act_on_other_sockets) | a `socketId` other than the requester's (`join`, `leave`, the pub/sub subscribe family) | **403** |
/// | [`reserved_rooms`](Self::reserved_rooms) | naming a reserved room in a `/sockets/*` route | **403** |
/// | [`blast`](Self::blast) | `blast` | **403** |
/// | [`emit`](Self::emit) | `emit` | **403** |
/// | [`leave_all`](Self::leave_all) | `leave-all` | **403** |
/// | [`room_to_rooms`](Self::room_to_rooms) | `add-room-members-to-rooms`, `remove-room-members-from-rooms` | **403** |
/// | [`pubsub_subscribe`](Self::pubsub_subscribe) | `/pubsub/:model/{subscribe,unsubscribe,watch,unwatch}` for itself | allowed |
/// | [`pubsub_message`](Self::pubsub_message) | `/pubsub/:model/message` | allowed |
/// | [`pubsub_publish`](Self::pubsub_publish) | `/pubsub/:model/publish` | **403** |
///
/// `GET /sockets/id` is always allowed.
///
/// A **reserved room** is a room named by a socket id other than the requester's
/// own (joining it would let a client read another socket's private messages;
/// broadcasting to it would let a client message one socket, which is `emit`), or a
/// room whose name starts with [`MODEL_ROOM_PREFIX`] (the pub/sub rooms: joining or
/// broadcasting to them directly would bypass the `pubsub_*` capabilities).
///
/// `message` is allowed by default, like `broadcast`: its payload is wrapped as
/// `{"verb":"messaged",…}`, so subscribers can tell it from a record notification.
/// `publish` is **not**: it sends `data` unwrapped, so a client could forge
/// `{"verb":"destroyed",…}` notifications to every subscriber of a record.
///
/// In a TOML config file this is a table whose keys are the field names; absent
/// keys keep their default and unknown keys are an error (a misspelt capability
/// must not silently stay off or on):
///
/// ```
/// let p: roomcast_server::router::Policy = serde_json::from_str(r#"{"blast": true}"#).unwrap();
/// assert!(p.blast && p.join && !p.emit);
/// assert!(serde_json::from_str::<roomcast_server::router::Policy>(r#"{"blats": true}"#).is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Policy {
    /// `POST /sockets/join` and `/sockets/leave` at all: for the requesting socket
    /// itself (another socket also needs [`act_on_other_sockets`](Self::act_on_other_sockets),
    /// a reserved room [`reserved_rooms`](Self::reserved_rooms)). Default: allowed.
    pub join: bool,
    /// `POST /sockets/broadcast` to rooms that are not reserved. Default: allowed.
    pub broadcast: bool,
    /// A `socketId` naming another socket than the requester in `join`, `leave` and
    /// the pub/sub `subscribe`/`unsubscribe`/`watch`/`unwatch` (also what a request
    /// with no requesting socket needs to name one). Default: refused.
    pub act_on_other_sockets: bool,
    /// Reserved rooms (see the type docs) in any `/sockets/*` route. Default:
    /// refused.
    pub reserved_rooms: bool,
    /// `POST /sockets/blast`. Default: refused.
    pub blast: bool,
    /// `POST /sockets/emit`. Default: refused.
    pub emit: bool,
    /// `POST /sockets/leave-all`. Default: refused.
    pub leave_all: bool,
    /// `POST /sockets/add-room-members-to-rooms` and
    /// `/sockets/remove-room-members-from-rooms`. Default: refused.
    pub room_to_rooms: bool,
    /// `POST /pubsub/:model/{subscribe,unsubscribe,watch,unwatch}` at all: for the
    /// requesting socket itself (another socket also needs
    /// [`act_on_other_sockets`](Self::act_on_other_sockets)). Default: allowed.
    pub pubsub_subscribe: bool,
    /// `POST /pubsub/:model/message`. Default: allowed.
    pub pubsub_message: bool,
    /// `POST /pubsub/:model/publish`. Default: refused.
    pub pubsub_publish: bool,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            join: true,
            broadcast: true,
            act_on_other_sockets: false,
            reserved_rooms: false,
            blast: false,
            emit: false,
            leave_all: false,
            room_to_rooms: false,
            pubsub_subscribe: true,
            pubsub_message: true,
            pubsub_publish: false,
        }
    }
}

impl Policy {
    /// Every capability enabled: any client may do anything. For development and
    /// tests; a server running with it should say so loudly.
    #[must_use]
    pub fn open() -> Policy {
        Policy {
            join: true,
            broadcast: true,
            act_on_other_sockets: true,
            reserved_rooms: true,
            blast: true,
            emit: true,
            leave_all: true,
            room_to_rooms: true,
            pubsub_subscribe: true,
            pubsub_message: true,
            pubsub_publish: true,
        }
    }

    /// Every capability disabled (only `GET /sockets/id` answers).
    #[must_use]
    pub fn closed() -> Policy {
        Policy {
            join: false,
            broadcast: false,
            act_on_other_sockets: false,
            reserved_rooms: false,
            blast: false,
            emit: false,
            leave_all: false,
            room_to_rooms: false,
            pubsub_subscribe: false,
            pubsub_message: false,
            pubsub_publish: false,
        }
    }

    /// The named presets: `"default"` and `"open"` (as `--policy default|open`),
    /// and `"closed"`.
    #[must_use]
    pub fn from_name(name: &str) -> Option<Policy> {
        match name {
            "default" => Some(Policy::default()),
            "open" => Some(Policy::open()),
            "closed" => Some(Policy::closed()),
            _ => None,
        }
    }

    /// Whether every capability is enabled (what a server warns about at start-up).
    #[must_use]
    pub fn is_open(&self) -> bool {
        *self == Policy::open()
    }

    /// Whether `room` is reserved for a request from `requester` (see the type
    /// docs): a socket id other than the requester's, or a pub/sub room.
    #[must_use]
    pub fn is_reserved_room(room: &str, requester: Option<SocketId>) -> bool {
        room.starts_with(MODEL_ROOM_PREFIX)
            || SocketId::parse(room).is_some_and(|id| Some(id) != requester)
    }
}
