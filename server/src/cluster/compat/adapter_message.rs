//! [`BroadcastMessage`]: a broadcast between @socket.io/redis-adapter 8 nodes
//! (and from @socket.io/redis-emitter 5), published on a broadcast channel
//! (`super::channel`). Always notepack MessagePack. Reference:
//! `e2e/peers/captures/socketio-adapter-8.md`, every "Broadcast" section:
//!
//! ```text
//! [uid, packet, opts]                     fixarray(3)
//!   uid     the sending adapter's uid: 6 chars per namespace adapter
//!           ("r5iIKa"), or "emitter" from the emitter
//!   packet  {type: 2, data: [event, ...args], nsp: "/"[, id]}
//!           type stays 2 (EVENT) even with binary args: Buffers are inline
//!           bin, no attachment count
//!   opts    adapter: {rooms: [..], except: [..], flags: {..}}
//!           emitter: {rooms: [..], flags: {..}, except: [..]}
//!           flags seen: {}, {volatile: true, compress: false}, {timeout: 1500}
//! ```
//!
//! Decoding turns `data` into Socket.IO packet data ([`Packet::args_json`] and
//! [`Packet::attachments`], see `super::notepack`); encoding writes exactly
//! what socket.io publishes for the same broadcast (the captured bytes,
//! checked by the fixture tests), keeping the opts key order it was decoded
//! with ([`OptsOrder`]) and the flags in their order.

use bytes::Bytes;
use rmpv::Value;
use serde_json::Value as Json;

use super::error::CompatError;
use super::fields::{self, get, map, map_of, opt_strings, string, strings_value};
use super::notepack;

/// A Socket.IO packet as the adapter carries it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Packet {
    /// The Socket.IO packet type (2 EVENT).
    pub(crate) packet_type: u8,
    /// The namespace (`/` when absent, as the adapter reads it).
    pub(crate) nsp: String,
    /// The ack id, when the packet has one.
    pub(crate) id: Option<u64>,
    /// The packet data as JSON text: the event name, then its arguments;
    /// binaries are placeholders into `attachments`.
    pub(crate) args_json: String,
    /// The binaries, in placeholder order.
    pub(crate) attachments: Vec<Bytes>,
}

impl Packet {
    /// Reads `{type, data, nsp[, id]}`.
    pub(crate) fn from_value(v: &Value) -> Result<Packet, CompatError> {
        let m = map(v, "packet not a map")?;
        let packet_type = get(m, "type")
            .and_then(Value::as_u64)
            .and_then(|t| u8::try_from(t).ok())
            .ok_or(CompatError::Shape("packet type"))?;
        let data = get(m, "data").ok_or(CompatError::Shape("packet without data"))?;
        if !data.is_array() {
            return Err(CompatError::Shape("packet data not an array"));
        }
        let mut attachments = Vec::new();
        let args = notepack::to_json(data, &mut attachments)?;
        let nsp = match get(m, "nsp") {
            None => "/".to_owned(),
            Some(n) => string(n, "packet nsp")?,
        };
        let id = match get(m, "id") {
            None | Some(Value::Nil) => None,
            Some(i) => Some(i.as_u64().ok_or(CompatError::Shape("packet id"))?),
        };
        Ok(Packet {
            packet_type,
            nsp,
            id,
            args_json: args.to_string(),
            attachments,
        })
    }

    /// Writes `{type, data, nsp[, id]}`, socket.io's key order.
    pub(crate) fn to_value(&self) -> Result<Value, CompatError> {
        let data = fields::parse_json(&self.args_json, &self.attachments)?;
        if !data.is_array() {
            return Err(CompatError::Shape("args_json not an array"));
        }
        let mut e = vec![
            ("type", Value::from(self.packet_type)),
            ("data", data),
            ("nsp", Value::from(self.nsp.as_str())),
        ];
        if let Some(id) = self.id {
            e.push(("id", Value::from(id)));
        }
        Ok(map_of(e))
    }
}

/// Broadcast flags, in the order the sender set them (a JS object keeps
/// insertion order, so `io.volatile.compress(false)` writes
/// `{volatile, compress}`). Unknown flags are kept.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Flags {
    entries: Vec<(String, Json)>,
}

impl Flags {
    /// Sets a flag (in place if already set, else last).
    pub(crate) fn set(&mut self, key: &str, value: Json) {
        match self.entries.iter_mut().find(|(k, _)| k == key) {
            Some(e) => e.1 = value,
            None => self.entries.push((key.to_owned(), value)),
        }
    }

    /// A flag's value.
    pub(crate) fn get(&self, key: &str) -> Option<&Json> {
        self.entries.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// `volatile: true`: may be dropped for a client not ready to send.
    #[cfg(test)]
    pub(crate) fn volatile(&self) -> bool {
        self.get("volatile") == Some(&Json::Bool(true))
    }

    /// `compress` when set (socket.io compresses unless `false`).
    #[cfg(test)]
    pub(crate) fn compress(&self) -> Option<bool> {
        self.get("compress").and_then(Json::as_bool)
    }

    /// `local: true` (socket.io never publishes those; kept for completeness).
    pub(crate) fn local(&self) -> bool {
        self.get("local") == Some(&Json::Bool(true))
    }

    /// `timeout` in ms: the sender waits for acks (broadcast with ack).
    pub(crate) fn timeout(&self) -> Option<u64> {
        self.get("timeout").and_then(Json::as_u64)
    }

    /// Every flag, in order.
    #[cfg(test)]
    pub(crate) fn entries(&self) -> &[(String, Json)] {
        &self.entries
    }

    fn from_value(v: &Value) -> Result<Flags, CompatError> {
        let mut f = Flags::default();
        for (k, v) in map(v, "flags not a map")? {
            let k = k.as_str().ok_or(CompatError::Shape("flag name"))?;
            f.set(k, fields::plain_json(v)?);
        }
        Ok(f)
    }

    fn to_value(&self) -> Result<Value, CompatError> {
        Ok(Value::Map(
            self.entries
                .iter()
                .map(|(k, v)| Ok((Value::from(k.as_str()), fields::from_plain_json(v)?)))
                .collect::<Result<_, CompatError>>()?,
        ))
    }
}

/// Key order of the opts map.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) enum OptsOrder {
    /// `{rooms, except, flags}`: socket.io adapters (and roomcast).
    #[default]
    Adapter,
    /// `{rooms, flags, except}`: @socket.io/redis-emitter.
    Emitter,
}

/// Who a broadcast is for.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct BroadcastOpts {
    /// Target rooms (socket ids included); empty: every socket.
    pub(crate) rooms: Vec<String>,
    /// Rooms (or socket ids) whose sockets are left out.
    pub(crate) except: Vec<String>,
    /// Flags.
    pub(crate) flags: Flags,
    /// Key order on the wire.
    pub(crate) order: OptsOrder,
}

impl BroadcastOpts {
    /// Reads `{rooms, except, flags}` in either order; absent keys are empty.
    pub(crate) fn from_value(v: &Value) -> Result<BroadcastOpts, CompatError> {
        let m = map(v, "opts not a map")?;
        let pos = |key: &str| m.iter().position(|(k, _)| k.as_str() == Some(key));
        let order = match (pos("flags"), pos("except")) {
            (Some(f), Some(e)) if f < e => OptsOrder::Emitter,
            _ => OptsOrder::Adapter,
        };
        Ok(BroadcastOpts {
            rooms: opt_strings(get(m, "rooms"), "opts rooms")?,
            except: opt_strings(get(m, "except"), "opts except")?,
            flags: get(m, "flags").map_or(Ok(Flags::default()), Flags::from_value)?,
            order,
        })
    }

    /// Writes all three keys in `order`.
    pub(crate) fn to_value(&self) -> Result<Value, CompatError> {
        let rooms = ("rooms", strings_value(&self.rooms));
        let except = ("except", strings_value(&self.except));
        let flags = ("flags", self.flags.to_value()?);
        Ok(map_of(match self.order {
            OptsOrder::Adapter => vec![rooms, except, flags],
            OptsOrder::Emitter => vec![rooms, flags, except],
        }))
    }
}

/// One broadcast message.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct BroadcastMessage {
    /// The sender's uid (`"emitter"` from the emitter). A node ignores its own.
    pub(crate) uid: String,
    /// What to send.
    pub(crate) packet: Packet,
    /// To whom.
    pub(crate) opts: BroadcastOpts,
}

impl BroadcastMessage {
    /// Decodes `[uid, packet, opts]`.
    ///
    /// # Errors
    ///
    /// Bad MessagePack, or not a broadcast.
    pub(crate) fn decode(bytes: &[u8]) -> Result<BroadcastMessage, CompatError> {
        let v = notepack::decode(bytes)?;
        let Value::Array(a) = &v else {
            return Err(CompatError::Shape("broadcast not an array"));
        };
        let [uid, packet, opts] = a.as_slice() else {
            return Err(CompatError::Shape("broadcast not of 3 elements"));
        };
        Ok(BroadcastMessage {
            uid: string(uid, "broadcast uid")?,
            packet: Packet::from_value(packet)?,
            opts: BroadcastOpts::from_value(opts)?,
        })
    }

    /// Encodes it as socket.io (or, with [`OptsOrder::Emitter`], the emitter)
    /// publishes it.
    ///
    /// # Errors
    ///
    /// `args_json` not a JSON array, or a placeholder naming no attachment.
    pub(crate) fn encode(&self) -> Result<Vec<u8>, CompatError> {
        Ok(notepack::encode(&Value::Array(vec![
            Value::from(self.uid.as_str()),
            self.packet.to_value()?,
            self.opts.to_value()?,
        ])))
    }
}
