//! [`Request`] and [`Response`]: what @socket.io/redis-adapter 8 nodes (and the
//! emitter, and Sails' @sailshq/socket.io-redis 6.1) publish on the request and
//! response channels (`super::channel`). JSON when the first byte is `{`,
//! notepack MessagePack otherwise ([`super::fields::decode_document`]).
//! Reference: `e2e/peers/captures/socketio-adapter-8.md` and `e2e/peers/README.md`
//! points 4–8; key orders below are the captured ones, which encoding keeps:
//!
//! ```text
//! type requests (request channel)                        response (response channel)
//! 0 SOCKETS        {requestId, type, rooms}  (Sails only)   {requestId, sockets: [id..]}
//! 1 ALL_ROOMS      {uid, requestId, type}                   {requestId, rooms}
//! 2 REMOTE_JOIN    {uid, type, opts:{rooms,except}, rooms}  none (fire and forget)
//! 3 REMOTE_LEAVE   {uid, type, opts, rooms}                 none
//! 4 REMOTE_DISCONNECT {uid, type, opts, close}              none
//! 5 REMOTE_FETCH   {uid, requestId, type, opts}             {requestId, sockets: [{id, handshake, rooms, data}]}
//! 6 SERVER_SIDE_EMIT {uid[, requestId], type, data:[event, ..args]}
//!                                                           {type: 6, requestId, data: <ack arg>}
//! 7 BROADCAST      msgpack {uid, requestId, type, packet, opts:{rooms, except, flags:{timeout}}}
//!                  (broadcast with acks)                    JSON {type: 8, requestId, clientCount} per node,
//!                                                           msgpack {type: 9, requestId, packet: <ack arg>} per ack
//! ```
//!
//! `uid` is absent in the emitter's 2/3/4 and in every Sails request; the
//! emitter's serverSideEmit has uid `"emitter"`. A response carries no type for
//! 0, 1 and 5: the requester tells them apart by `requestId`; here a `sockets`
//! list of strings is [`Response::Sockets`], of objects (or empty)
//! [`Response::FetchSockets`]. Requests carry no binaries (JSON), except
//! BROADCAST's packet data and BROADCAST_ACK's packet, which may (inline bin).
//! Unknown types are [`CompatError::UnknownType`], for the caller to count.
// The requester's half (encoding requests, decoding responses, telling
// channels apart) is for roomcast asking Node peers, which it does not yet:
// the tests and the fuzz driver use it.
#![cfg_attr(not(any(test, feature = "fuzzing")), allow(dead_code))]

use bytes::Bytes;
use rmpv::Value;
use serde_json::Value as Json;

use super::adapter_message::{BroadcastOpts, Packet};
use super::error::CompatError;
use super::fields::{
    self, decode_document, encode_document, get, map, map_of, opt_strings, string, strings,
    strings_value, Format,
};
use super::notepack;

/// Request type numbers (socket.io-adapter's `RequestType`).
pub(crate) mod request_type {
    /// Socket ids of rooms (Sails 6.1 only; adapter 8's `allSockets()` is local).
    pub(crate) const SOCKETS: i64 = 0;
    /// Every room of every node.
    pub(crate) const ALL_ROOMS: i64 = 1;
    /// `socketsJoin`.
    pub(crate) const REMOTE_JOIN: i64 = 2;
    /// `socketsLeave`.
    pub(crate) const REMOTE_LEAVE: i64 = 3;
    /// `disconnectSockets`.
    pub(crate) const REMOTE_DISCONNECT: i64 = 4;
    /// `fetchSockets`.
    pub(crate) const REMOTE_FETCH: i64 = 5;
    /// `serverSideEmit` (and its acks' response).
    pub(crate) const SERVER_SIDE_EMIT: i64 = 6;
    /// A broadcast whose sender waits for acks.
    pub(crate) const BROADCAST: i64 = 7;
    /// Response: how many clients a node sent a broadcast-with-ack to.
    pub(crate) const BROADCAST_CLIENT_COUNT: i64 = 8;
    /// Response: one client's ack.
    pub(crate) const BROADCAST_ACK: i64 = 9;
}
use request_type as t;

/// Which sockets a remote operation applies to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Target {
    /// Rooms (socket ids included); empty: every socket.
    pub(crate) rooms: Vec<String>,
    /// Rooms whose sockets are left out.
    pub(crate) except: Vec<String>,
}

impl Target {
    fn from_value(v: Option<&Value>) -> Result<Target, CompatError> {
        let Some(v) = v else {
            return Ok(Target::default());
        };
        let m = map(v, "opts not a map")?;
        Ok(Target {
            rooms: opt_strings(get(m, "rooms"), "opts rooms")?,
            except: opt_strings(get(m, "except"), "opts except")?,
        })
    }

    fn to_value(&self) -> Value {
        map_of(vec![
            ("rooms", strings_value(&self.rooms)),
            ("except", strings_value(&self.except)),
        ])
    }
}

/// A request from another node (or the emitter).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Request {
    /// 0: the ids of the sockets in `rooms` (all when empty).
    Sockets {
        /// Sender (absent from Sails).
        uid: Option<String>,
        /// To answer with.
        request_id: String,
        /// Rooms.
        rooms: Vec<String>,
    },
    /// 1: every room.
    AllRooms {
        /// Sender.
        uid: Option<String>,
        /// To answer with.
        request_id: String,
    },
    /// 2: make the target's sockets join `rooms`.
    RemoteJoin {
        /// Sender (absent from the emitter).
        uid: Option<String>,
        /// Whose sockets.
        target: Target,
        /// Rooms to join.
        rooms: Vec<String>,
    },
    /// 3: make the target's sockets leave `rooms`.
    RemoteLeave {
        /// Sender (absent from the emitter).
        uid: Option<String>,
        /// Whose sockets.
        target: Target,
        /// Rooms to leave.
        rooms: Vec<String>,
    },
    /// 4: disconnect the target's sockets (`close`: the underlying connection too).
    RemoteDisconnect {
        /// Sender (absent from the emitter).
        uid: Option<String>,
        /// Whose sockets.
        target: Target,
        /// Close the connection.
        close: bool,
    },
    /// 5: describe the target's sockets.
    RemoteFetch {
        /// Sender.
        uid: Option<String>,
        /// To answer with.
        request_id: String,
        /// Whose sockets.
        target: Target,
    },
    /// 6: an event for the servers; answered when `request_id` is set.
    ServerSideEmit {
        /// Sender (`"emitter"` from the emitter).
        uid: Option<String>,
        /// Set when the sender waits for acks.
        request_id: Option<String>,
        /// `[event, ...args]` as JSON text.
        args_json: String,
    },
    /// 7: broadcast `packet` to `opts`, and report client count and acks.
    Broadcast {
        /// Sender.
        uid: Option<String>,
        /// To answer with.
        request_id: String,
        /// What to send.
        packet: Packet,
        /// To whom (flags carry `timeout`).
        opts: BroadcastOpts,
    },
}

impl Request {
    /// The sender's uid, if the request names one.
    pub(crate) fn uid(&self) -> Option<&str> {
        match self {
            Request::Sockets { uid, .. }
            | Request::AllRooms { uid, .. }
            | Request::RemoteJoin { uid, .. }
            | Request::RemoteLeave { uid, .. }
            | Request::RemoteDisconnect { uid, .. }
            | Request::RemoteFetch { uid, .. }
            | Request::ServerSideEmit { uid, .. }
            | Request::Broadcast { uid, .. } => uid.as_deref(),
        }
    }

    /// Decodes a message from the request channel.
    ///
    /// # Errors
    ///
    /// Malformed input, a wrong shape, [`CompatError::UnknownType`].
    pub(crate) fn decode(bytes: &[u8]) -> Result<Request, CompatError> {
        let (v, _) = decode_document(bytes)?;
        let m = map(&v, "request not a map")?;
        let ty = get(m, "type")
            .ok_or(CompatError::Shape("request without type"))?
            .as_i64()
            .ok_or(CompatError::Shape("request type not an integer"))?;
        let uid = get(m, "uid").map(|u| string(u, "uid")).transpose()?;
        let rid = get(m, "requestId")
            .map(|r| string(r, "requestId"))
            .transpose()?;
        let need_rid = || {
            rid.clone()
                .ok_or(CompatError::Shape("request without requestId"))
        };
        let target = || Target::from_value(get(m, "opts"));
        let rooms = || {
            strings(
                get(m, "rooms").ok_or(CompatError::Shape("request without rooms"))?,
                "rooms",
            )
        };
        Ok(match ty {
            t::SOCKETS => Request::Sockets {
                uid,
                request_id: need_rid()?,
                rooms: match get(m, "rooms") {
                    Some(r) => strings(r, "rooms")?,
                    None => target()?.rooms,
                },
            },
            t::ALL_ROOMS => Request::AllRooms {
                uid,
                request_id: need_rid()?,
            },
            t::REMOTE_JOIN => Request::RemoteJoin {
                uid,
                target: target()?,
                rooms: rooms()?,
            },
            t::REMOTE_LEAVE => Request::RemoteLeave {
                uid,
                target: target()?,
                rooms: rooms()?,
            },
            t::REMOTE_DISCONNECT => Request::RemoteDisconnect {
                uid,
                target: target()?,
                close: match get(m, "close") {
                    None | Some(Value::Nil) => false,
                    Some(c) => c.as_bool().ok_or(CompatError::Shape("close not a bool"))?,
                },
            },
            t::REMOTE_FETCH => Request::RemoteFetch {
                uid,
                request_id: need_rid()?,
                target: target()?,
            },
            t::SERVER_SIDE_EMIT => {
                let data = get(m, "data").ok_or(CompatError::Shape("emit without data"))?;
                if !data.is_array() {
                    return Err(CompatError::Shape("emit data not an array"));
                }
                Request::ServerSideEmit {
                    uid,
                    request_id: rid,
                    args_json: fields::plain_json(data)?.to_string(),
                }
            }
            t::BROADCAST => Request::Broadcast {
                uid,
                request_id: need_rid()?,
                packet: Packet::from_value(
                    get(m, "packet").ok_or(CompatError::Shape("broadcast without packet"))?,
                )?,
                opts: BroadcastOpts::from_value(
                    get(m, "opts").ok_or(CompatError::Shape("broadcast without opts"))?,
                )?,
            },
            n => return Err(CompatError::UnknownType(n)),
        })
    }

    /// Encodes it as socket.io does: JSON, BROADCAST in MessagePack.
    ///
    /// # Errors
    ///
    /// `args_json` not a JSON array, a placeholder naming no attachment.
    pub(crate) fn encode(&self) -> Result<Vec<u8>, CompatError> {
        let head = |uid: &Option<String>, rid: Option<&String>, ty: i64| {
            let mut e = Vec::new();
            if let Some(u) = uid {
                e.push(("uid", Value::from(u.as_str())));
            }
            if let Some(r) = rid {
                e.push(("requestId", Value::from(r.as_str())));
            }
            e.push(("type", Value::from(ty)));
            e
        };
        let (entries, format) = match self {
            Request::Sockets {
                uid,
                request_id,
                rooms,
            } => {
                let mut e = head(uid, Some(request_id), t::SOCKETS);
                e.push(("rooms", strings_value(rooms)));
                (e, Format::Json)
            }
            Request::AllRooms { uid, request_id } => {
                (head(uid, Some(request_id), t::ALL_ROOMS), Format::Json)
            }
            Request::RemoteJoin { uid, target, rooms }
            | Request::RemoteLeave { uid, target, rooms } => {
                let ty = if matches!(self, Request::RemoteJoin { .. }) {
                    t::REMOTE_JOIN
                } else {
                    t::REMOTE_LEAVE
                };
                let mut e = head(uid, None, ty);
                e.push(("opts", target.to_value()));
                e.push(("rooms", strings_value(rooms)));
                (e, Format::Json)
            }
            Request::RemoteDisconnect { uid, target, close } => {
                let mut e = head(uid, None, t::REMOTE_DISCONNECT);
                e.push(("opts", target.to_value()));
                e.push(("close", Value::Boolean(*close)));
                (e, Format::Json)
            }
            Request::RemoteFetch {
                uid,
                request_id,
                target,
            } => {
                let mut e = head(uid, Some(request_id), t::REMOTE_FETCH);
                e.push(("opts", target.to_value()));
                (e, Format::Json)
            }
            Request::ServerSideEmit {
                uid,
                request_id,
                args_json,
            } => {
                let mut e = head(uid, request_id.as_ref(), t::SERVER_SIDE_EMIT);
                e.push(("data", json_array(args_json)?));
                (e, Format::Json)
            }
            Request::Broadcast {
                uid,
                request_id,
                packet,
                opts,
            } => {
                let mut e = head(uid, Some(request_id), t::BROADCAST);
                e.push(("packet", packet.to_value()?));
                e.push(("opts", opts.to_value()?));
                (e, Format::Msgpack)
            }
        };
        encode_document(&map_of(entries), format)
    }
}

/// JSON text that must be an array (no attachments).
fn json_array(text: &str) -> Result<Value, CompatError> {
    let v = fields::parse_json(text, &[])?;
    if v.is_array() {
        Ok(v)
    } else {
        Err(CompatError::Shape("args_json not an array"))
    }
}

/// One socket described in a REMOTE_FETCH response.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct FetchedSocket {
    /// The socket id.
    pub(crate) id: String,
    /// `{headers, time, address, xdomain, secure, issued, url, query, auth}`.
    pub(crate) handshake: Json,
    /// Its rooms (its own id first).
    pub(crate) rooms: Vec<String>,
    /// `socket.data` (null when absent).
    pub(crate) data: Json,
}

/// A response to a request.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Response {
    /// To 0: socket ids.
    Sockets {
        /// The request's.
        request_id: String,
        /// Socket ids.
        sockets: Vec<String>,
    },
    /// To 1: rooms.
    AllRooms {
        /// The request's.
        request_id: String,
        /// Room names (socket ids included).
        rooms: Vec<String>,
    },
    /// To 5: sockets.
    FetchSockets {
        /// The request's.
        request_id: String,
        /// Sockets.
        sockets: Vec<FetchedSocket>,
    },
    /// To 6 with a requestId: one server's ack argument.
    ServerSideEmit {
        /// The request's.
        request_id: String,
        /// The ack argument as JSON text.
        data_json: String,
    },
    /// To 7: how many clients this node sent it to (8).
    ClientCount {
        /// The request's.
        request_id: String,
        /// Clients.
        client_count: u64,
    },
    /// To 7: one client's ack argument (9, MessagePack).
    BroadcastAck {
        /// The request's.
        request_id: String,
        /// The ack argument as JSON text (placeholders into `attachments`).
        packet_json: String,
        /// Its binaries.
        attachments: Vec<Bytes>,
    },
}

impl Response {
    /// The request it answers.
    #[cfg(test)]
    pub(crate) fn request_id(&self) -> &str {
        match self {
            Response::Sockets { request_id, .. }
            | Response::AllRooms { request_id, .. }
            | Response::FetchSockets { request_id, .. }
            | Response::ServerSideEmit { request_id, .. }
            | Response::ClientCount { request_id, .. }
            | Response::BroadcastAck { request_id, .. } => request_id,
        }
    }

    /// Decodes a message from the response channel.
    ///
    /// # Errors
    ///
    /// Malformed input, a wrong shape, [`CompatError::UnknownType`].
    pub(crate) fn decode(bytes: &[u8]) -> Result<Response, CompatError> {
        let (v, _) = decode_document(bytes)?;
        let m = map(&v, "response not a map")?;
        let request_id = string(
            get(m, "requestId").ok_or(CompatError::Shape("response without requestId"))?,
            "requestId",
        )?;
        if let Some(ty) = get(m, "type") {
            let ty = ty
                .as_i64()
                .ok_or(CompatError::Shape("response type not an integer"))?;
            return Ok(match ty {
                t::SERVER_SIDE_EMIT => Response::ServerSideEmit {
                    request_id,
                    // An ack without argument: `undefined`, dropped by JSON.stringify.
                    data_json: get(m, "data")
                        .map_or(Ok(Json::Null), fields::plain_json)?
                        .to_string(),
                },
                t::BROADCAST_CLIENT_COUNT => Response::ClientCount {
                    request_id,
                    client_count: get(m, "clientCount")
                        .and_then(Value::as_u64)
                        .ok_or(CompatError::Shape("clientCount"))?,
                },
                t::BROADCAST_ACK => {
                    let mut attachments = Vec::new();
                    let p = get(m, "packet").unwrap_or(&Value::Nil);
                    let packet_json = notepack::to_json(p, &mut attachments)?.to_string();
                    Response::BroadcastAck {
                        request_id,
                        packet_json,
                        attachments,
                    }
                }
                n => return Err(CompatError::UnknownType(n)),
            });
        }
        if let Some(r) = get(m, "rooms") {
            return Ok(Response::AllRooms {
                request_id,
                rooms: strings(r, "rooms")?,
            });
        }
        let Some(Value::Array(sockets)) = get(m, "sockets") else {
            return Err(CompatError::Shape("response of no known shape"));
        };
        if sockets.first().is_some_and(Value::is_str) {
            return Ok(Response::Sockets {
                request_id,
                sockets: sockets
                    .iter()
                    .map(|s| string(s, "socket id"))
                    .collect::<Result<_, _>>()?,
            });
        }
        let sockets = sockets
            .iter()
            .map(|s| {
                let s = map(s, "fetched socket not a map")?;
                Ok(FetchedSocket {
                    id: string(
                        get(s, "id").ok_or(CompatError::Shape("fetched socket id"))?,
                        "fetched socket id",
                    )?,
                    handshake: get(s, "handshake").map_or(Ok(Json::Null), fields::plain_json)?,
                    rooms: opt_strings(get(s, "rooms"), "fetched socket rooms")?,
                    data: get(s, "data").map_or(Ok(Json::Null), fields::plain_json)?,
                })
            })
            .collect::<Result<_, CompatError>>()?;
        Ok(Response::FetchSockets {
            request_id,
            sockets,
        })
    }

    /// Encodes it as socket.io does: JSON, BROADCAST_ACK in MessagePack.
    ///
    /// # Errors
    ///
    /// Bad JSON text in `data_json`/`packet_json`, a placeholder naming no
    /// attachment.
    pub(crate) fn encode(&self) -> Result<Vec<u8>, CompatError> {
        let rid = |r: &String| ("requestId", Value::from(r.as_str()));
        let (entries, format) = match self {
            Response::Sockets {
                request_id,
                sockets,
            } => (
                vec![rid(request_id), ("sockets", strings_value(sockets))],
                Format::Json,
            ),
            Response::AllRooms { request_id, rooms } => (
                vec![rid(request_id), ("rooms", strings_value(rooms))],
                Format::Json,
            ),
            Response::FetchSockets {
                request_id,
                sockets,
            } => {
                let list = sockets
                    .iter()
                    .map(|s| {
                        Ok(map_of(vec![
                            ("id", Value::from(s.id.as_str())),
                            ("handshake", fields::from_plain_json(&s.handshake)?),
                            ("rooms", strings_value(&s.rooms)),
                            ("data", fields::from_plain_json(&s.data)?),
                        ]))
                    })
                    .collect::<Result<_, CompatError>>()?;
                (
                    vec![rid(request_id), ("sockets", Value::Array(list))],
                    Format::Json,
                )
            }
            Response::ServerSideEmit {
                request_id,
                data_json,
            } => (
                vec![
                    ("type", Value::from(t::SERVER_SIDE_EMIT)),
                    rid(request_id),
                    ("data", fields::parse_json(data_json, &[])?),
                ],
                Format::Json,
            ),
            Response::ClientCount {
                request_id,
                client_count,
            } => (
                vec![
                    ("type", Value::from(t::BROADCAST_CLIENT_COUNT)),
                    rid(request_id),
                    ("clientCount", Value::from(*client_count)),
                ],
                Format::Json,
            ),
            Response::BroadcastAck {
                request_id,
                packet_json,
                attachments,
            } => (
                vec![
                    ("type", Value::from(t::BROADCAST_ACK)),
                    rid(request_id),
                    ("packet", fields::parse_json(packet_json, attachments)?),
                ],
                Format::Msgpack,
            ),
        };
        encode_document(&map_of(entries), format)
    }
}
