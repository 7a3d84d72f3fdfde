//! Socket.IO protocol v5 (over Engine.IO v4) and v4 (over Engine.IO v3), sans-IO.
//!
//! A Socket.IO packet travels inside an Engine.IO `message` packet (`4`) and reads
//! (`docs/PROTOCOL-NOTES.md` §2.2):
//!
//! ```text
//! <type>[<attachments>-][<nsp>,][<ack id>][<JSON>]      then <attachments> binary messages
//! 42["hello",1]     42/admin,13["project:delete",123]     4313["ok"]
//! 451-["baz",{"_placeholder":true,"num":0}]  + 1 binary message
//! ```
//!
//! * [`packet`]: a decoded packet; [`kind`]: the packet types; [`error`]: the
//!   codec's errors;
//! * [`raw_json`]: JSON kept as sent (arguments are forwarded byte for byte);
//! * [`decode`]: [`decode_packet`] and the [`Decoder`] that collects attachments;
//! * [`encode`]: the `encode_*` functions (complete Engine.IO message payloads);
//! * [`session`]: the per-connection [`Session`]: namespaces, CONNECT, acks, on
//!   top of an Engine.IO session;
//! * [`virtual_request`]: sails.io.js's virtual requests and their acks; [`body`]:
//!   their `data`, kept as the JSON text sent.

pub mod body;
pub mod decode;
pub mod encode;
pub mod error;
pub mod kind;
pub mod packet;
pub mod raw_json;
pub mod session;
pub mod session_event;
pub mod virtual_request;

pub use body::Body;
pub use decode::{decode_packet, Decoder};
pub use encode::{
    encode_ack, encode_binary_ack, encode_binary_event, encode_connect, encode_connect_error,
    encode_disconnect, encode_event,
};
pub use packet::{EventName, Packet, PacketData, PacketKind, SioError, DEFAULT_MAX_ATTACHMENTS};
pub use raw_json::{RawArgs, RawJson};
pub use session::{CloseReason, Session, SessionConfig, SessionError, SessionEvent, Violation};
pub use virtual_request::{ack_payload, parse_virtual_request, Method, Request, Response};

#[cfg(test)]
mod codec_tests;
