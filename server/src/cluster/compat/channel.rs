//! The Redis channels of @socket.io/redis-adapter 8 (classic pub/sub), per key
//! prefix (`socket.io` by default) and namespace. Reference:
//! `e2e/peers/captures/socketio-adapter-8.md`, "Startup" and the broadcasts:
//!
//! ```text
//! {prefix}#{nsp}#               broadcast to all, or to several rooms
//! {prefix}#{nsp}#{room}#        broadcast to exactly one room (also a socket id, "42")
//! {prefix}#{nsp}#*              the pattern every node PSUBSCRIBEs
//! {prefix}-request#{nsp}#       requests (SUBSCRIBE)
//! {prefix}-response#{nsp}#      responses (SUBSCRIBE; adapter 8 publishes here)
//! {prefix}-response#{nsp}#{uid}#  also SUBSCRIBEd, used only with
//!                               publishOnSpecificResponseChannel: true
//! ```
//!
//! Nothing is escaped: a namespace or room holding `*`, `?` or `[` widens the
//! pattern as it does for socket.io itself; [`classify`] checks exact
//! prefixes, so such a widened match is [`ChannelKind::Other`].
// The requester's half (encoding requests, decoding responses, telling
// channels apart) is for roomcast asking Node peers, which it does not yet:
// the tests and the fuzz driver use it.
#![cfg_attr(not(any(test, feature = "fuzzing")), allow(dead_code))]

/// The channel a broadcast to `rooms` is published on.
pub(crate) fn broadcast_channel(prefix: &str, nsp: &str, rooms: &[String]) -> String {
    match rooms {
        [room] => format!("{prefix}#{nsp}#{room}#"),
        _ => format!("{prefix}#{nsp}#"),
    }
}

/// The PSUBSCRIBE pattern catching every broadcast of a namespace.
pub(crate) fn broadcast_pattern(prefix: &str, nsp: &str) -> String {
    format!("{prefix}#{nsp}#*")
}

/// The Sails admin bus: sails-hook-sockets 3 takes `config.key ||
/// 'socket.io' + '#sails#'`, so the bare key when one was configured.
pub(crate) fn admin_bus_channel(prefix: &str) -> String {
    if prefix == "socket.io" {
        "socket.io#sails#".to_owned()
    } else {
        prefix.to_owned()
    }
}

/// The request channel of a namespace.
pub(crate) fn request_channel(prefix: &str, nsp: &str) -> String {
    format!("{prefix}-request#{nsp}#")
}

/// The response channel of a namespace; with a uid, that node's own one.
pub(crate) fn response_channel(prefix: &str, nsp: &str, uid: Option<&str>) -> String {
    match uid {
        Some(uid) => format!("{prefix}-response#{nsp}#{uid}#"),
        None => format!("{prefix}-response#{nsp}#"),
    }
}

/// What a channel a message arrived on is, for one prefix and namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ChannelKind<'a> {
    /// A broadcast; `room` when it was published for exactly one room (the
    /// message's own `rooms` are still the ones to use).
    Broadcast {
        /// The room in the channel name.
        room: Option<&'a str>,
    },
    /// A request ([`super::adapter_request::Request`]).
    Request,
    /// A response; `uid` on a node's own response channel.
    Response {
        /// The uid in the channel name.
        uid: Option<&'a str>,
    },
    /// Not a channel of this prefix and namespace.
    Other,
}

/// Tells which of this namespace's channels `channel` is.
pub(crate) fn classify<'a>(prefix: &str, nsp: &str, channel: &'a str) -> ChannelKind<'a> {
    let inner = |rest: &'a str| -> Option<Option<&'a str>> {
        match rest {
            "" => Some(None),
            r if r.len() > 1 && r.ends_with('#') => Some(Some(&r[..r.len() - 1])),
            _ => None,
        }
    };
    let after = |head: String| channel.strip_prefix(head.as_str()).and_then(inner);
    if let Some(room) = after(format!("{prefix}#{nsp}#")) {
        return ChannelKind::Broadcast { room };
    }
    if channel == request_channel(prefix, nsp) {
        return ChannelKind::Request;
    }
    if let Some(uid) = after(format!("{prefix}-response#{nsp}#")) {
        return ChannelKind::Response { uid };
    }
    ChannelKind::Other
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|&x| x.to_owned()).collect()
    }

    #[test]
    fn names_are_the_captured_ones() {
        let p = "socket.io";
        assert_eq!(broadcast_channel(p, "/", &[]), "socket.io#/#");
        assert_eq!(
            broadcast_channel(p, "/", &s(&["room1"])),
            "socket.io#/#room1#"
        );
        assert_eq!(broadcast_channel(p, "/", &s(&["42"])), "socket.io#/#42#");
        assert_eq!(
            broadcast_channel(p, "/", &s(&["room1", "room2"])),
            "socket.io#/#"
        );
        assert_eq!(broadcast_channel(p, "/admin", &[]), "socket.io#/admin#");
        assert_eq!(broadcast_pattern(p, "/"), "socket.io#/#*");
        assert_eq!(broadcast_pattern(p, "/admin"), "socket.io#/admin#*");
        assert_eq!(request_channel(p, "/"), "socket.io-request#/#");
        assert_eq!(response_channel(p, "/", None), "socket.io-response#/#");
        assert_eq!(
            response_channel(p, "/", Some("r5iIKa")),
            "socket.io-response#/#r5iIKa#"
        );
    }

    #[test]
    fn classify_tells_channels_apart() {
        let c = |ch| classify("socket.io", "/", ch);
        assert_eq!(c("socket.io#/#"), ChannelKind::Broadcast { room: None });
        assert_eq!(
            c("socket.io#/#room1#"),
            ChannelKind::Broadcast {
                room: Some("room1")
            }
        );
        assert_eq!(
            c("socket.io#/#a#b#"),
            ChannelKind::Broadcast { room: Some("a#b") }
        );
        assert_eq!(c("socket.io-request#/#"), ChannelKind::Request);
        assert_eq!(
            c("socket.io-response#/#"),
            ChannelKind::Response { uid: None }
        );
        assert_eq!(
            c("socket.io-response#/#r5iIKa#"),
            ChannelKind::Response {
                uid: Some("r5iIKa")
            }
        );
        for other in [
            "socket.io#/admin#",
            "socket.io#sails#",
            "socket.io#/#room1",
            "socket.io#/##",
            "socket.io-request#/admin#",
            "socket.io-request#/#x#",
            "other#/#",
            "roomcast#all",
            "",
        ] {
            assert_eq!(c(other), ChannelKind::Other, "{other}");
        }
        assert_eq!(
            classify("socket.io", "/admin", "socket.io#/admin#"),
            ChannelKind::Broadcast { room: None }
        );
    }
}
