//! [`PacketKind`]: the seven Socket.IO packet types.

/// Socket.IO packet types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PacketKind {
    /// `0` CONNECT.
    Connect,
    /// `1` DISCONNECT.
    Disconnect,
    /// `2` EVENT.
    Event,
    /// `3` ACK.
    Ack,
    /// `4` CONNECT_ERROR (v4: ERROR).
    ConnectError,
    /// `5` BINARY_EVENT.
    BinaryEvent,
    /// `6` BINARY_ACK.
    BinaryAck,
}

impl PacketKind {
    pub(crate) fn from_byte(b: u8) -> Option<PacketKind> {
        Some(match b {
            b'0' => PacketKind::Connect,
            b'1' => PacketKind::Disconnect,
            b'2' => PacketKind::Event,
            b'3' => PacketKind::Ack,
            b'4' => PacketKind::ConnectError,
            b'5' => PacketKind::BinaryEvent,
            b'6' => PacketKind::BinaryAck,
            _ => return None,
        })
    }

    /// The spec's name, e.g. `"BINARY_EVENT"`.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            PacketKind::Connect => "CONNECT",
            PacketKind::Disconnect => "DISCONNECT",
            PacketKind::Event => "EVENT",
            PacketKind::Ack => "ACK",
            PacketKind::ConnectError => "CONNECT_ERROR",
            PacketKind::BinaryEvent => "BINARY_EVENT",
            PacketKind::BinaryAck => "BINARY_ACK",
        }
    }
}
