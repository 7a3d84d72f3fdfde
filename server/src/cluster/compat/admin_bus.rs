//! [`AdminMessage`]: the Sails admin bus (`sails-hook-sockets` 3), on which a
//! Sails node tells the others to move room members:
//! `sails.sockets.join/leave(id, room)` of another node's socket,
//! `addRoomMembersToRooms`, `removeRoomMembersFromRooms` and `leaveAll`. JSON,
//! on [`super::channel::admin_bus_channel`]; reference
//! `e2e/peers/captures/sails-6.1.md` and `e2e/peers/README.md` point 9:
//!
//! ```text
//! {"uid":"YnhAaF","event":"join","payload":{"sourceRoom":"room1","destRooms":["room10","room11"]}}
//! {"uid":"YnhAaF","event":"leave","payload":{"sourceRoom":"<socket id>","destRooms":["room9"]}}
//! {"uid":"YnhAaF","event":"leaveAll","payload":{"sourceRoom":"room10"}}
//! ```
//!
//! Each node applies a message to its own sockets: the members of
//! `sourceRoom` (a socket id names that socket) join or leave each of
//! `destRooms`, or leave every room but their own id room. A node ignores the
//! messages carrying its own `uid` (6 characters, per process).

use serde::{Deserialize, Serialize};

use super::error::CompatError;

/// What the members of the source room do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AdminEvent {
    /// Join each of these rooms.
    Join(Vec<String>),
    /// Leave each of these rooms.
    Leave(Vec<String>),
    /// Leave every room (their own id room kept).
    LeaveAll,
}

/// One message of the admin bus.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AdminMessage {
    /// The sender's uid.
    pub(crate) uid: String,
    /// Whose members: a room, or a socket id.
    pub(crate) source: String,
    /// What they do.
    pub(crate) event: AdminEvent,
}

#[derive(Serialize, Deserialize)]
struct Wire {
    uid: String,
    event: String,
    payload: Payload,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Payload {
    source_room: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    dest_rooms: Option<Vec<String>>,
}

impl AdminMessage {
    /// Decodes a message of the admin bus.
    ///
    /// # Errors
    ///
    /// Not JSON, not this shape, or an event other than the three.
    pub(crate) fn decode(bytes: &[u8]) -> Result<AdminMessage, CompatError> {
        let w: Wire =
            serde_json::from_slice(bytes).map_err(|e| CompatError::Json(e.to_string()))?;
        let dests = || {
            w.payload
                .dest_rooms
                .clone()
                .ok_or(CompatError::Shape("admin join/leave without destRooms"))
        };
        let event = match w.event.as_str() {
            "join" => AdminEvent::Join(dests()?),
            "leave" => AdminEvent::Leave(dests()?),
            "leaveAll" => AdminEvent::LeaveAll,
            _ => {
                return Err(CompatError::Shape(
                    "an admin event other than join, leave, leaveAll",
                ))
            }
        };
        Ok(AdminMessage {
            uid: w.uid,
            source: w.payload.source_room,
            event,
        })
    }

    /// Encodes it as a Sails node does (the same keys in the same order).
    pub(crate) fn encode(&self) -> Vec<u8> {
        let (event, dest_rooms) = match &self.event {
            AdminEvent::Join(d) => ("join", Some(d.clone())),
            AdminEvent::Leave(d) => ("leave", Some(d.clone())),
            AdminEvent::LeaveAll => ("leaveAll", None),
        };
        let w = Wire {
            uid: self.uid.clone(),
            event: event.to_owned(),
            payload: Payload {
                source_room: self.source.clone(),
                dest_rooms,
            },
        };
        serde_json::to_vec(&w).expect("strings serialize")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::compat::fixture;

    #[test]
    fn captured_admin_messages_decode_and_encode_byte_for_byte() {
        for (name, source, event) in [
            (
                "sails-join-by-id-1.bin",
                "jf2COvAnBWtoTVtUAAAA",
                AdminEvent::Join(vec!["room9".into()]),
            ),
            (
                "sails-leave-by-id-1.bin",
                "jf2COvAnBWtoTVtUAAAA",
                AdminEvent::Leave(vec!["room9".into()]),
            ),
            (
                "sails-add-room-members-1.bin",
                "room1",
                AdminEvent::Join(vec!["room10".into(), "room11".into()]),
            ),
            (
                "sails-remove-room-members-1.bin",
                "room1",
                AdminEvent::Leave(vec!["room11".into()]),
            ),
            ("sails-leave-all-1.bin", "room10", AdminEvent::LeaveAll),
        ] {
            let bytes = fixture(name);
            let msg = AdminMessage::decode(&bytes).unwrap();
            assert_eq!(
                msg,
                AdminMessage {
                    uid: "YnhAaF".into(),
                    source: source.into(),
                    event
                },
                "{name}"
            );
            assert_eq!(msg.encode(), bytes, "{name}");
        }
    }

    #[test]
    fn other_shapes_are_refused() {
        for bad in [
            &b"not json"[..],
            br#"{"uid":"a","event":"join","payload":{"sourceRoom":"r"}}"#,
            br#"{"uid":"a","event":"explode","payload":{"sourceRoom":"r"}}"#,
            br#"{"uid":"a","event":"join","payload":{"sourceRoom":7,"destRooms":[]}}"#,
            br#"{"uid":"a","event":"join"}"#,
            br#"[1,2,3]"#,
        ] {
            assert!(
                AdminMessage::decode(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
