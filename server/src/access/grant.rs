//! [`Grant`]: what a verified token lets a socket do.

use super::room_pattern::{any_matches, RoomPattern};

/// A verified token's claims, as they apply to its socket.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Grant {
    /// `sub`: the socket's user.
    pub user: Option<String>,
    /// `rooms`: the rooms the socket may join itself; `None`: any (the policy
    /// decides).
    pub rooms: Option<Vec<RoomPattern>>,
    /// When the socket must be disconnected (seconds since the epoch: `exp`
    /// plus the leeway); `None`: never.
    pub expires_at_s: Option<u64>,
}

impl Grant {
    /// Whether the socket may join `room` itself.
    #[must_use]
    pub fn may_join(&self, room: &str) -> bool {
        self.rooms.as_deref().is_none_or(|p| any_matches(p, room))
    }
}
