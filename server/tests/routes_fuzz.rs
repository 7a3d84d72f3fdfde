//! Arbitrary `(event, args)` through `parse_virtual_request` and `dispatch` (open
//! policy, a real engine): never a panic, always a well-formed ack with a status of
//! the error table, and the engine's invariants hold afterwards.

use proptest::prelude::*;
use roomcast::{Engine, EngineConfig, MemoryWriter, SocketId};
use roomcast_server::router::{ack_payload, parse_virtual_request, Context, Policy, Router};
use serde_json::{json, Value};

const URLS: &[&str] = &[
    "/sockets/id",
    "/sockets/join",
    "/sockets/leave",
    "/sockets/broadcast",
    "/sockets/blast",
    "/sockets/emit",
    "/sockets/leave-all",
    "/sockets/add-room-members-to-rooms",
    "/sockets/remove-room-members-from-rooms",
    "/pubsub/user/subscribe",
    "/pubsub/user/unsubscribe",
    "/pubsub/user/watch",
    "/pubsub/user/unwatch",
    "/pubsub/user/message",
    "/pubsub/user/publish",
    "/pubsub/%E2%82%AC/publish",
    "/nope",
];

const KEYS: &[&str] = &[
    "room",
    "rooms",
    "socketId",
    "socketIds",
    "event",
    "data",
    "omitSender",
    "includeSocketRooms",
    "includeSourceRoom",
    "sourceRoom",
    "destRooms",
    "ids",
    "id",
];

/// A JSON value; `Str("$0")`…`"$3"` become socket ids once sockets exist.
fn value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        (-3i64..10).prop_map(|n| json!(n)),
        Just(json!(1.5)),
        prop_oneof![
            Just("chat"),
            Just(""),
            Just("$0"),
            Just("$1"),
            Just("$2"),
            Just("$gone"),
            Just("connect"),
            Just("sails_model_user_1:user"),
        ]
        .prop_map(|s| json!(s)),
        "\\PC{0,6}".prop_map(Value::String),
    ];
    leaf.prop_recursive(2, 12, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((prop::sample::select(KEYS), inner), 0..4).prop_map(|kv| {
                Value::Object(kv.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
            }),
        ]
    })
}

/// A plausible value for a body field, so most requests get past validation.
fn good(key: &'static str) -> BoxedStrategy<Value> {
    let ids = prop::sample::select(vec!["$0", "$1", "$2", "$gone"]).prop_map(|s| json!(s));
    let rooms = prop::sample::select(vec!["chat", "news", "$0", "$2", "sails_model_user_1:user"])
        .prop_map(|s| json!(s));
    let record = prop_oneof![(0i64..3).prop_map(|n| json!(n)), Just(json!("a"))];
    match key {
        "room" | "sourceRoom" => rooms.boxed(),
        "rooms" | "destRooms" => prop_oneof![
            rooms.clone(),
            prop::collection::vec(rooms, 0..3).prop_map(Value::Array)
        ]
        .boxed(),
        "socketId" => ids.boxed(),
        "socketIds" => prop::collection::vec(ids, 0..3)
            .prop_map(Value::Array)
            .boxed(),
        "event" => prop_oneof![Just(json!("ev")), Just(Value::Null), Just(json!("user"))].boxed(),
        "omitSender" | "includeSocketRooms" | "includeSourceRoom" => {
            any::<bool>().prop_map(Value::Bool).boxed()
        }
        "ids" => prop_oneof![
            record.clone(),
            prop::collection::vec(record, 0..3).prop_map(Value::Array)
        ]
        .boxed(),
        "id" => record.boxed(),
        _ => value().boxed(),
    }
}

fn body() -> impl Strategy<Value = Value> {
    let fields: Vec<BoxedStrategy<Option<(&'static str, Value)>>> = KEYS
        .iter()
        .map(|&k| {
            prop::option::weighted(0.5, prop_oneof![4 => good(k), 1 => value()])
                .prop_map(move |v| v.map(|v| (k, v)))
                .boxed()
        })
        .collect();
    prop_oneof![
        8 => fields.prop_map(|kv| {
            Value::Object(kv.into_iter().flatten().map(|(k, v)| (k.to_owned(), v)).collect())
        }),
        1 => value(),
    ]
}

/// Replaces the `$n` placeholders with real ids (`$gone`: a disconnected one).
fn bind(v: &mut Value, ids: &[SocketId], gone: SocketId) {
    match v {
        Value::String(s) if s.starts_with('$') => {
            *s = match &s[1..] {
                "gone" => gone.to_string(),
                n => n
                    .parse::<usize>()
                    .ok()
                    .and_then(|i| ids.get(i))
                    .map_or_else(|| s.clone(), ToString::to_string),
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|x| bind(x, ids, gone)),
        Value::Object(m) => m.values_mut().for_each(|x| bind(x, ids, gone)),
        _ => {}
    }
}

#[derive(Debug, Clone)]
enum Input {
    /// A sails.io.js-shaped request with fuzzed parts.
    Shaped {
        event: String,
        url: String,
        body: Value,
        from: Option<usize>,
    },
    /// Any text as the arguments.
    Raw { event: String, args: String },
}

fn event() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => Just("post".to_owned()),
        1 => prop::sample::select(vec!["get", "put", "patch", "delete", "options", "head", "GET", "message"]).prop_map(str::to_owned),
        1 => "\\PC{0,8}",
    ]
}

fn input() -> impl Strategy<Value = Input> {
    prop_oneof![
        8 => (
            event(),
            prop_oneof![
                4 => prop::sample::select(URLS).prop_map(str::to_owned),
                1 => "/?\\PC{0,16}",
            ],
            body(),
            prop::option::of(0usize..4),
        )
            .prop_map(|(event, url, body, from)| Input::Shaped { event, url, body, from }),
        1 => (event(), prop_oneof![
            "\\PC{0,40}",
            r#"\[\{"url":"/[a-z/]{0,12}","data":.{0,16}\}\]"#,
        ])
            .prop_map(|(event, args)| Input::Raw { event, args }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1024, ..ProptestConfig::default() })]

    #[test]
    fn never_panics_and_always_acks(inputs in prop::collection::vec(input(), 1..12)) {
        let (_engine, mut shards) = Engine::new(EngineConfig { shards: 2, ..EngineConfig::default() });
        let ids = [
            shards[0].connect().unwrap(),
            shards[0].connect().unwrap(),
            shards[1].connect().unwrap(),
        ];
        let gone = shards[1].connect().unwrap();
        shards[1].disconnect(gone);
        let router = Router::with_builtin_routes(Policy::open());
        let mut out = MemoryWriter::default();
        for input in inputs {
            let (event, args, from) = match input {
                Input::Shaped { event, url, mut body, from } => {
                    bind(&mut body, &ids, gone);
                    let args = serde_json::to_string(&json!([{"method": event, "url": url, "data": body, "headers": {}}])).unwrap();
                    (event, args, from.and_then(|i| ids.get(i).copied()))
                }
                Input::Raw { event, args } => (event, args, Some(ids[0])),
            };
            let resp = match parse_virtual_request(&event, &args) {
                Ok(req) => router.dispatch(&mut Context::new(&mut shards[0], from), req),
                Err(resp) => resp,
            };
            prop_assert!([200, 400, 404].contains(&resp.status), "{} {} -> {:?}", event, args, resp);
            let ack: Value = serde_json::from_str(&ack_payload(&resp)).unwrap();
            prop_assert_eq!(&ack[0]["statusCode"], &json!(resp.status));
            if resp.status != 200 {
                prop_assert!(ack[0]["body"]["error"].is_string());
                prop_assert!(ack[0]["body"]["message"].is_string());
            }
            for s in &mut shards {
                s.process_ops();
                s.drain(&mut out);
                prop_assert_eq!(s.validate(), Ok(()));
            }
        }
    }
}
