//! Mapping the core engine's errors to route responses.

use crate::protocol::sio::Response;

impl Response {
    /// The response for a core engine error: 404 `E_UNKNOWN_SOCKET` for
    /// [`roomcast::Error::UnknownSockets`]; 400 `E_BAD_REQUEST` with the error's
    /// text for the client's mistakes (bad room name, reserved event, malformed
    /// socket id, bad record id or identity, namespace); 503
    /// `E_CLUSTER_UNAVAILABLE` when another node's answer cannot be had; 500
    /// `E_INTERNAL` for the rest.
    #[must_use]
    pub fn from_core_error(err: &roomcast::Error) -> Response {
        use roomcast::Error as E;
        match err {
            E::UnknownSockets(ids) => Response::unknown_sockets(ids),
            E::InvalidRoomName { .. }
            | E::MalformedSocketId(_)
            | E::ReservedEvent(_)
            | E::InvalidNamespace(_)
            | E::InvalidRecordId(_)
            | E::InvalidIdentity(_)
            | E::TooManyRooms { .. } => Response::bad_request(&err.to_string()),
            E::ClusterUnavailable(why) => Response::error(503, "E_CLUSTER_UNAVAILABLE", why),
            _ => Response::error(500, "E_INTERNAL", &err.to_string()),
        }
    }
}

impl From<roomcast::Error> for Response {
    fn from(err: roomcast::Error) -> Response {
        Response::from_core_error(&err)
    }
}
