//! The connect webhook (`--connect-webhook URL`), sans-IO: what is POSTed to
//! the application for each connect, and how its answer is read.
//!
//! The request body: `{"namespace", "auth", "query", "headers", "address"}` —
//! the CONNECT's namespace and auth object (v3: `{}`), the Engine.IO
//! handshake's query and headers (names in lower case), the client's IP
//! address. The answer: a 2xx with `{"allow": true, "rooms": [...],
//! "data": {...}}` admits the socket, joins it to `rooms` and keeps `data`
//! with it (shown by `GET /api/sockets/:id`); anything else — another status,
//! `allow` not `true`, a body that is not such an object, a timeout —
//! refuses it with the body's `message` (else a message naming the cause).

use serde::Deserialize;
use serde_json::{Map, Value};

/// Largest webhook answer read, in bytes.
pub const MAX_ANSWER_BYTES: u64 = 64 * 1024;

/// What the handshake said, kept for the webhook until CONNECT.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Handshake {
    /// The query string's keys and values (the last value of a repeated key).
    pub query: Map<String, Value>,
    /// The request headers, names in lower case (values joined by `, ` when
    /// repeated).
    pub headers: Map<String, Value>,
    /// The client's IP address.
    pub address: Option<String>,
}

/// The JSON body POSTed for a CONNECT to `namespace` with `auth` (raw JSON;
/// anything unparsable is sent as `{}`).
#[must_use]
pub fn request_body(namespace: &str, auth: &str, handshake: &Handshake) -> Vec<u8> {
    let auth: Value = serde_json::from_str(auth).unwrap_or_else(|_| Value::Object(Map::new()));
    let body = serde_json::json!({
        "namespace": namespace,
        "auth": auth,
        "query": handshake.query,
        "headers": handshake.headers,
        "address": handshake.address,
    });
    serde_json::to_vec(&body).unwrap_or_default()
}

/// The application's decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Admit the socket, join it to `rooms`, keep `data` (raw JSON) with it.
    Allow {
        /// Rooms to join.
        rooms: Vec<String>,
        /// Raw JSON to keep with the socket.
        data: Option<String>,
    },
    /// Refuse it with `message`.
    Refuse {
        /// Sent to the client in CONNECT_ERROR.
        message: String,
        /// The `/metrics` label (`webhook_refused`, `webhook_error`,
        /// `webhook_timeout`, `webhook_busy`).
        reason: &'static str,
    },
}

impl Decision {
    /// A refusal for a failure of the call itself.
    #[must_use]
    pub fn failed(reason: &'static str, message: &str) -> Decision {
        Decision::Refuse {
            message: message.to_owned(),
            reason,
        }
    }
}

#[derive(Deserialize)]
struct Answer {
    allow: Option<bool>,
    #[serde(default)]
    rooms: Vec<String>,
    data: Option<Box<serde_json::value::RawValue>>,
    message: Option<String>,
}

/// Reads the answer: `status` and `body`.
#[must_use]
pub fn decide(status: u16, body: &[u8]) -> Decision {
    let answer = serde_json::from_slice::<Answer>(body).ok();
    let message = answer
        .as_ref()
        .and_then(|a| a.message.clone())
        .filter(|m| !m.is_empty());
    match answer {
        Some(a) if (200..300).contains(&status) && a.allow == Some(true) => Decision::Allow {
            rooms: a.rooms,
            data: a.data.map(|d| d.get().to_owned()),
        },
        _ if (200..300).contains(&status) => Decision::Refuse {
            message: message.unwrap_or_else(|| "refused by the connect webhook".to_owned()),
            reason: "webhook_refused",
        },
        _ => Decision::Refuse {
            message: message.unwrap_or_else(|| format!("connect webhook answered {status}")),
            reason: "webhook_refused",
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_names_everything_the_application_needs() {
        let mut hs = Handshake::default();
        hs.query.insert("EIO".into(), "4".into());
        hs.headers.insert("cookie".into(), "sid=1".into());
        hs.address = Some("127.0.0.1".into());
        let body: Value =
            serde_json::from_slice(&request_body("/chat", r#"{"token":"t"}"#, &hs)).unwrap();
        assert_eq!(
            body,
            serde_json::json!({"namespace": "/chat", "auth": {"token": "t"},
                "query": {"EIO": "4"}, "headers": {"cookie": "sid=1"}, "address": "127.0.0.1"})
        );
        let body: Value = serde_json::from_slice(&request_body("/", "not json", &hs)).unwrap();
        assert_eq!(body["auth"], serde_json::json!({}));
    }

    #[test]
    fn only_a_2xx_with_allow_true_admits() {
        assert_eq!(
            decide(
                200,
                br#"{"allow":true,"rooms":["a","b"],"data":{"plan":"pro", "n":1.50}}"#
            ),
            Decision::Allow {
                rooms: vec!["a".into(), "b".into()],
                data: Some(r#"{"plan":"pro", "n":1.50}"#.into())
            }
        );
        assert_eq!(
            decide(204, br#"{"allow":true}"#),
            Decision::Allow {
                rooms: vec![],
                data: None
            }
        );
        let refused = |status, body: &[u8]| match decide(status, body) {
            Decision::Refuse { message, .. } => message,
            d @ Decision::Allow { .. } => panic!("{status} {body:?} allowed: {d:?}"),
        };
        assert_eq!(
            refused(200, br#"{"allow":false,"message":"banned"}"#),
            "banned"
        );
        assert_eq!(refused(403, br#"{"allow":true,"message":"no"}"#), "no");
        assert_eq!(refused(500, b"oops"), "connect webhook answered 500");
        assert_eq!(refused(200, b""), "refused by the connect webhook");
        assert_eq!(
            refused(200, br#"{"allow":"yes"}"#),
            "refused by the connect webhook"
        );
        assert_eq!(
            refused(200, br#"{"allow":true,"rooms":"a"}"#),
            "refused by the connect webhook"
        );
        assert_eq!(refused(200, br#"[1]"#), "refused by the connect webhook");
    }
}
