//! Engine.IO v3/v4, sans-IO: the packet codec ([`packet`]), the polling
//! payload codec ([`payload`]) and the session ([`session`]) with its
//! heartbeats, independent of the transport that carries the packets.

pub mod packet;
pub mod payload;
pub mod session;

pub use packet::{
    decode_binary, decode_text, encode_binary, encode_message, encode_open, EioError, EioVersion,
    OpenPacket, Packet, PacketType, WsMessage, PING, PONG,
};
pub use session::{Closed, EioCloseReason, EioConfig, EioEvent, Session};
