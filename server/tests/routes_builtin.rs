//! The built-in socket routes (`docs/ROUTES.md`'s table) against a real core engine, no
//! sockets: every route's success, its error cases, and the policy, asserting the
//! exact response and what each socket received.

use roomcast::wire::split_frames;
use roomcast::{Engine, EngineConfig, MemoryWriter, Shard, SocketId};
use roomcast_server::router::{ack_payload, parse_virtual_request, Context, Policy, Router};
use serde_json::{json, Value};

/// Two shards; requests are handled on shard 0 (the worker's own shard).
struct Harness {
    engine: Engine,
    shards: Vec<Shard>,
    router: Router,
    out: MemoryWriter,
}

impl Harness {
    fn new(policy: Policy) -> Harness {
        let (engine, shards) = Engine::new(EngineConfig {
            shards: 2,
            ..EngineConfig::default()
        });
        Harness {
            engine,
            shards,
            router: Router::with_builtin_routes(policy),
            out: MemoryWriter::default(),
        }
    }

    fn default() -> Harness {
        Harness::new(Policy::default())
    }

    fn open() -> Harness {
        Harness::new(Policy::open())
    }

    /// A socket on shard 0 (the requesting worker's).
    fn connect(&mut self) -> SocketId {
        self.shards[0].connect().unwrap()
    }

    /// A socket on the other shard.
    fn connect_remote(&mut self) -> SocketId {
        self.shards[1].connect().unwrap()
    }

    /// Sends a virtual request as sails.io.js would and returns (status, body).
    fn request(
        &mut self,
        from: Option<SocketId>,
        event: &str,
        url: &str,
        data: Value,
    ) -> (u16, Value) {
        let mut msg = serde_json::Map::new();
        msg.insert("method".into(), json!(event));
        msg.insert("url".into(), json!(url));
        if !data.is_null() {
            msg.insert("data".into(), data);
        }
        msg.insert("headers".into(), json!({}));
        let args = serde_json::to_string(&json!([msg])).unwrap();
        let req = parse_virtual_request(event, &args).expect("well-formed request");
        let resp = self
            .router
            .dispatch(&mut Context::new(&mut self.shards[0], from), req);
        // Every response renders to a valid ack.
        let ack: Value = serde_json::from_str(&ack_payload(&resp)).unwrap();
        assert_eq!(ack[0]["statusCode"], json!(resp.status));
        (resp.status, resp.body)
    }

    fn post(&mut self, from: SocketId, url: &str, data: Value) -> (u16, Value) {
        self.request(Some(from), "post", url, data)
    }

    /// Applies queued operations on every shard and writes them out.
    fn flush(&mut self) {
        for s in &mut self.shards {
            s.process_ops();
            s.drain(&mut self.out);
            s.validate().unwrap();
        }
    }

    /// Frames `id` received since the last call.
    fn got(&mut self, id: SocketId) -> Vec<String> {
        self.flush();
        split_frames(&self.out.take(id))
    }

    fn rooms(&self, id: SocketId) -> Vec<String> {
        self.shards[usize::from(id.shard())].rooms_of(id).unwrap()
    }
}

fn ok() -> (u16, Value) {
    (200, json!({"ok": true}))
}

#[track_caller]
fn assert_error(got: (u16, Value), status: u16, code: &str) -> String {
    assert_eq!(got.0, status, "{got:?}");
    assert_eq!(got.1["error"], json!(code), "{got:?}");
    let msg = got.1["message"].as_str().expect("a message").to_owned();
    assert!(!msg.is_empty());
    msg
}

#[track_caller]
fn bad(got: (u16, Value)) -> String {
    assert_error(got, 400, "E_BAD_REQUEST")
}

#[track_caller]
fn forbidden(got: (u16, Value)) {
    assert_error(got, 403, "E_FORBIDDEN");
}

// ----- GET /sockets/id ----------------------------------------------------------------

#[test]
fn get_id_returns_the_requesting_socket() {
    let mut h = Harness::default();
    let a = h.connect();
    assert_eq!(
        h.request(Some(a), "get", "/sockets/id", Value::Null),
        // The harness's router is told no node name; its shard is worker 0.
        (200, json!({"id": a.to_string(), "node": "", "worker": 0}))
    );
    // No requesting socket: 400; the wrong method: 404.
    let msg = bad(h.request(None, "get", "/sockets/id", Value::Null));
    assert!(msg.contains("socket"), "{msg}");
    assert_error(
        h.request(Some(a), "post", "/sockets/id", Value::Null),
        404,
        "E_NOT_FOUND",
    );
    assert!(h.got(a).is_empty());
}

// ----- join / leave -------------------------------------------------------------------

#[test]
fn join_and_leave_the_requesting_socket() {
    let mut h = Harness::default();
    let a = h.connect();
    let b = h.connect_remote();
    assert_eq!(h.post(a, "/sockets/join", json!({"room": "chat"})), ok());
    assert_eq!(h.rooms(a), [a.to_string(), "chat".to_owned()]);
    // Joining twice is fine; joining its own id room is allowed.
    assert_eq!(h.post(a, "/sockets/join", json!({"room": "chat"})), ok());
    assert_eq!(
        h.post(a, "/sockets/join", json!({"room": a.to_string()})),
        ok()
    );
    h.engine.join(b, "chat").unwrap();
    assert_eq!(
        h.post(b, "/sockets/broadcast", json!({"rooms": "chat", "data": 1}))
            .0,
        200
    );
    assert_eq!(h.got(a), [r#"42["message",1]"#]);

    assert_eq!(h.post(a, "/sockets/leave", json!({"room": "chat"})), ok());
    assert_eq!(h.rooms(a), [a.to_string()]);
    // Leaving a room one is not in is a no-op.
    assert_eq!(
        h.post(a, "/sockets/leave", json!({"room": "elsewhere"})),
        ok()
    );
    // `socketId: null` is the requester.
    assert_eq!(
        h.post(a, "/sockets/join", json!({"room": "x", "socketId": null})),
        ok()
    );
    assert_eq!(h.rooms(a), [a.to_string(), "x".to_owned()]);
    // Naming itself by id is not "another socket".
    assert_eq!(
        h.post(
            a,
            "/sockets/leave",
            json!({"room": "x", "socketId": a.to_string()})
        ),
        ok()
    );
    assert_eq!(h.rooms(a), [a.to_string()]);
}

#[test]
fn join_and_leave_reject_bad_bodies() {
    let mut h = Harness::default();
    let a = h.connect();
    for url in ["/sockets/join", "/sockets/leave"] {
        let long = "r".repeat(257);
        for (data, needle) in [
            (Value::Null, "missing `room`"),
            (json!({}), "missing `room`"),
            (json!({"room": null}), "missing `room`"),
            (json!({"room": 5}), "`room` must be a string, got a number"),
            (
                json!({"room": ["a"]}),
                "`room` must be a string, got an array",
            ),
            (json!({"room": ""}), "room name is empty"),
            (
                json!({"room": long}),
                "room name is 257 bytes long; the limit is 256",
            ),
            (
                json!({"room": "r", "socketId": 7}),
                "`socketId` must be a string, got a number",
            ),
            (json!([1]), "must be a JSON object, got an array"),
            (json!("chat"), "must be a JSON object, got a string"),
        ] {
            let msg = bad(h.post(a, url, data.clone()));
            assert!(msg.contains(needle), "{url} {data}: {msg}");
        }
    }
    // A request with no socket must name one.
    bad(h.request(None, "post", "/sockets/join", json!({"room": "chat"})));
    assert_eq!(h.rooms(a), [a.to_string()]);
}

#[test]
fn join_another_socket_is_forbidden_by_default_and_allowed_when_open() {
    for open in [false, true] {
        let mut h = Harness::new(if open {
            Policy::open()
        } else {
            Policy::default()
        });
        let a = h.connect();
        let b = h.connect_remote();
        let got = h.post(
            a,
            "/sockets/join",
            json!({"room": "chat", "socketId": b.to_string()}),
        );
        if open {
            assert_eq!(got, ok());
            h.flush();
            assert_eq!(h.rooms(b), [b.to_string(), "chat".to_owned()]);
            assert_eq!(
                h.post(
                    a,
                    "/sockets/leave",
                    json!({"room": "chat", "socketId": b.to_string()})
                ),
                ok()
            );
            h.flush();
            assert_eq!(h.rooms(b), [b.to_string()]);
            // With no requesting socket, `socketId` names the socket.
            assert_eq!(
                h.request(
                    None,
                    "post",
                    "/sockets/join",
                    json!({"room": "q", "socketId": a.to_string()})
                ),
                ok()
            );
            assert_eq!(h.rooms(a), [a.to_string(), "q".to_owned()]);
        } else {
            forbidden(got);
            forbidden(h.post(
                a,
                "/sockets/leave",
                json!({"room": "chat", "socketId": b.to_string()}),
            ));
            forbidden(h.request(
                None,
                "post",
                "/sockets/join",
                json!({"room": "q", "socketId": a.to_string()}),
            ));
            h.flush();
            assert_eq!(h.rooms(b), [b.to_string()]);
        }
    }
}

#[test]
fn join_with_an_unknown_socket_id_is_404_and_changes_nothing() {
    let mut h = Harness::open();
    let a = h.connect();
    let gone = h.connect_remote();
    h.shards[1].disconnect(gone);
    for url in ["/sockets/join", "/sockets/leave"] {
        let got = h.post(
            a,
            url,
            json!({"room": "chat", "socketId": gone.to_string()}),
        );
        assert_error(got.clone(), 404, "E_UNKNOWN_SOCKET");
        assert_eq!(got.1["unknown"], json!([gone.to_string()]));
        assert_eq!(
            got.1,
            json!({"error": "E_UNKNOWN_SOCKET", "message": format!("no such socket: {gone}"), "unknown": [gone.to_string()]})
        );
    }
    assert_eq!(h.shards[0].room_count() + h.shards[1].room_count(), 0);
}

#[test]
fn reserved_rooms_are_forbidden_by_default() {
    for open in [false, true] {
        let mut h = Harness::new(if open {
            Policy::open()
        } else {
            Policy::default()
        });
        let a = h.connect();
        let b = h.connect_remote();
        let other = b.to_string();
        for (url, data) in [
            ("/sockets/join", json!({"room": other})),
            ("/sockets/leave", json!({"room": other})),
            ("/sockets/join", json!({"room": "sails_model_user_7:user"})),
            (
                "/sockets/broadcast",
                json!({"rooms": other, "data": "psst"}),
            ),
            (
                "/sockets/broadcast",
                json!({"rooms": ["ok", other], "data": "psst"}),
            ),
            (
                "/sockets/broadcast",
                json!({"rooms": "sails_model_create_user", "data": "x"}),
            ),
        ] {
            let got = h.post(a, url, data.clone());
            if open {
                assert_eq!(got, ok(), "{url} {data}");
            } else {
                forbidden(got);
            }
        }
        // Broadcasting to one's own id room is never reserved.
        assert_eq!(
            h.post(
                a,
                "/sockets/broadcast",
                json!({"rooms": a.to_string(), "data": 0})
            ),
            ok()
        );
        assert_eq!(h.got(a), [r#"42["message",0]"#]);
        let to_b = h.got(b);
        if open {
            assert_eq!(to_b, [r#"42["message","psst"]"#, r#"42["message","psst"]"#]);
        } else {
            assert!(to_b.is_empty());
            assert_eq!(h.rooms(a), [a.to_string()]);
        }
    }
}

// ----- broadcast ----------------------------------------------------------------------

#[test]
fn broadcast_reaches_rooms_once_with_the_default_event_and_data_as_sent() {
    let mut h = Harness::default();
    let a = h.connect();
    let b = h.connect();
    let c = h.connect_remote();
    let d = h.connect();
    h.engine.join([a, b, c], "chat").unwrap();
    h.engine.join([b, d], "news").unwrap();
    h.flush();

    // One room as a string, default event, data keeps its key order.
    let data = json!({"z": 1, "a": [true, null], "m": {"y": 2, "b": 3}});
    assert_eq!(
        h.post(
            a,
            "/sockets/broadcast",
            json!({"rooms": "chat", "data": data})
        ),
        ok()
    );
    let frame = r#"42["message",{"z":1,"a":[true,null],"m":{"y":2,"b":3}}]"#;
    assert_eq!(h.got(a), [frame]);
    assert_eq!(h.got(b), [frame]);
    assert_eq!(h.got(c), [frame]);
    assert!(h.got(d).is_empty());

    // An array of rooms reaches a member of both once; `event: null` is `message`;
    // `data: null` is sent as null.
    assert_eq!(
        h.post(
            a,
            "/sockets/broadcast",
            json!({"rooms": ["chat", "news", "nobody"], "event": null, "data": null})
        ),
        ok()
    );
    for s in [a, b, c, d] {
        assert_eq!(h.got(s), [r#"42["message",null]"#]);
    }

    // A named event, omitting the sender.
    assert_eq!(
        h.post(
            a,
            "/sockets/broadcast",
            json!({"rooms": ["chat"], "event": "chat:line", "data": "hi", "omitSender": true})
        ),
        ok()
    );
    assert!(h.got(a).is_empty());
    assert_eq!(h.got(b), [r#"42["chat:line","hi"]"#]);
    assert_eq!(h.got(c), [r#"42["chat:line","hi"]"#]);

    // omitSender false (or absent) includes the sender.
    assert_eq!(
        h.post(
            a,
            "/sockets/broadcast",
            json!({"rooms": "chat", "data": 2, "omitSender": false})
        ),
        ok()
    );
    for s in [a, b, c] {
        assert_eq!(h.got(s), [r#"42["message",2]"#]);
    }

    // An empty list is a successful no-op.
    assert_eq!(
        h.post(a, "/sockets/broadcast", json!({"rooms": [], "data": 3})),
        ok()
    );
    for s in [a, b, c, d] {
        assert!(h.got(s).is_empty());
    }
}

#[test]
fn broadcast_rejects_bad_fields_and_sends_nothing() {
    let mut h = Harness::default();
    let a = h.connect();
    h.engine.join(a, "chat").unwrap();
    for (data, needle) in [
        (json!({"data": 1}), "missing `rooms`"),
        (
            json!({"rooms": 1, "data": 1}),
            "`rooms` must be a string or an array of strings, got a number",
        ),
        (
            json!({"rooms": {"chat": true}, "data": 1}),
            "`rooms` must be a string or an array of strings, got an object",
        ),
        (
            json!({"rooms": ["chat", 2], "data": 1}),
            "`rooms[1]` must be a string, got a number",
        ),
        (
            json!({"rooms": ["chat", ""], "data": 1}),
            "room name is empty",
        ),
        // Sails parity: `data` is required (null is data), the event not empty.
        (json!({"rooms": "chat"}), "missing `data`"),
        (
            json!({"rooms": "chat", "event": "", "data": 1}),
            "`event` must not be empty",
        ),
        (
            json!({"rooms": "chat", "event": 1, "data": 1}),
            "`event` must be a string, got a number",
        ),
        (
            json!({"rooms": "chat", "event": "disconnect", "data": 1}),
            "event name \"disconnect\" is reserved by Socket.IO",
        ),
        (
            json!({"rooms": "chat", "omitSender": "yes", "data": 1}),
            "`omitSender` must be a boolean, got a string",
        ),
        (json!(["chat"]), "must be a JSON object"),
    ] {
        let msg = bad(h.post(a, "/sockets/broadcast", data.clone()));
        assert!(msg.contains(needle), "{data}: {msg}");
    }
    assert!(h.got(a).is_empty());
    // Forbidden when the policy turns broadcast off.
    let mut h = Harness::new(Policy {
        broadcast: false,
        ..Policy::default()
    });
    let a = h.connect();
    forbidden(h.post(
        a,
        "/sockets/broadcast",
        json!({"rooms": a.to_string(), "data": 1}),
    ));
    assert!(h.got(a).is_empty());
}

// ----- blast ----------------------------------------------------------------------------

#[test]
fn blast_is_forbidden_by_default_and_reaches_everyone_when_open() {
    let mut h = Harness::default();
    let a = h.connect();
    forbidden(h.post(a, "/sockets/blast", json!({"data": 1})));
    // The policy is checked before the body.
    forbidden(h.post(a, "/sockets/blast", json!(5)));
    assert!(h.got(a).is_empty());

    let mut h = Harness::open();
    let a = h.connect();
    let b = h.connect_remote();
    assert_eq!(
        h.post(a, "/sockets/blast", json!({"data": {"k": "v"}})),
        ok()
    );
    assert_eq!(h.got(a), [r#"42["message",{"k":"v"}]"#]);
    assert_eq!(h.got(b), [r#"42["message",{"k":"v"}]"#]);
    assert_eq!(
        h.post(
            a,
            "/sockets/blast",
            json!({"event": "news", "data": 1, "omitSender": true})
        ),
        ok()
    );
    assert!(h.got(a).is_empty());
    assert_eq!(h.got(b), [r#"42["news",1]"#]);
    // No body at all: 400 (Sails requires data), nothing sent; `data: null` is
    // `message` with null.
    assert_error(
        h.post(a, "/sockets/blast", Value::Null),
        400,
        "E_BAD_REQUEST",
    );
    assert!(h.got(b).is_empty());
    assert_eq!(h.post(a, "/sockets/blast", json!({"data": null})), ok());
    assert_eq!(h.got(b), [r#"42["message",null]"#]);
    for (data, needle) in [
        (
            json!({"event": false, "data": 1}),
            "`event` must be a string",
        ),
        (json!({"event": "connect", "data": 1}), "reserved"),
        (
            json!({"omitSender": 1, "data": 1}),
            "`omitSender` must be a boolean",
        ),
        (json!({"event": "x"}), "missing `data`"),
        (json!(true), "must be a JSON object"),
    ] {
        let msg = bad(h.post(a, "/sockets/blast", data));
        assert!(msg.contains(needle), "{msg}");
    }
    assert!(h.got(b).is_empty());
}

// ----- emit -----------------------------------------------------------------------------

#[test]
fn emit_is_forbidden_by_default() {
    let mut h = Harness::default();
    let a = h.connect();
    forbidden(h.post(
        a,
        "/sockets/emit",
        json!({"socketIds": [a.to_string()], "data": 1}),
    ));
    assert!(h.got(a).is_empty());
}

#[test]
fn emit_delivers_to_listed_sockets_and_nothing_if_any_is_unknown() {
    let mut h = Harness::open();
    let a = h.connect();
    let b = h.connect_remote();
    let c = h.connect();
    let gone = h.connect();
    h.shards[0].disconnect(gone);

    assert_eq!(
        h.post(
            a,
            "/sockets/emit",
            json!({"socketIds": [b.to_string(), c.to_string()], "event": "dm", "data": [1]})
        ),
        ok()
    );
    assert_eq!(h.got(b), [r#"42["dm",[1]]"#]);
    assert_eq!(h.got(c), [r#"42["dm",[1]]"#]);
    assert!(h.got(a).is_empty());
    // One id as a string, default event.
    assert_eq!(
        h.post(
            a,
            "/sockets/emit",
            json!({"socketIds": b.to_string(), "data": "x"})
        ),
        ok()
    );
    assert_eq!(h.got(b), [r#"42["message","x"]"#]);

    let got = h.post(
        a,
        "/sockets/emit",
        json!({"socketIds": [b.to_string(), gone.to_string()], "data": 1}),
    );
    assert_eq!(
        got,
        (
            404,
            json!({"error": "E_UNKNOWN_SOCKET", "message": format!("no such socket: {gone}"), "unknown": [gone.to_string()]})
        )
    );
    assert!(
        h.got(b).is_empty(),
        "nothing is delivered when any id is unknown"
    );

    // An empty list is a successful no-op.
    assert_eq!(
        h.post(a, "/sockets/emit", json!({"socketIds": [], "data": 1})),
        ok()
    );
    for (data, needle) in [
        (json!({"data": 1}), "missing `socketIds`"),
        (
            json!({"socketIds": 3, "data": 1}),
            "`socketIds` must be a string or an array of strings",
        ),
        (
            json!({"socketIds": [b.to_string(), null], "data": 1}),
            "`socketIds[1]` must be a string, got null",
        ),
        (
            json!({"socketIds": [b.to_string()], "event": [], "data": 1}),
            "`event` must be a string",
        ),
        (
            json!({"socketIds": [b.to_string()], "event": "newListener", "data": 1}),
            "reserved",
        ),
        (json!({"socketIds": [b.to_string()]}), "missing `data`"),
    ] {
        let msg = bad(h.post(a, "/sockets/emit", data));
        assert!(msg.contains(needle), "{msg}");
    }
    assert!(h.got(b).is_empty());
}

// ----- leave-all ------------------------------------------------------------------------

#[test]
fn leave_all_is_forbidden_by_default_and_works_when_open() {
    let mut h = Harness::default();
    let a = h.connect();
    h.engine.join(a, "chat").unwrap();
    h.flush();
    forbidden(h.post(a, "/sockets/leave-all", json!({"room": "chat"})));
    h.flush();
    assert_eq!(h.rooms(a), [a.to_string(), "chat".to_owned()]);

    let mut h = Harness::open();
    let a = h.connect();
    let b = h.connect_remote();
    let c = h.connect();
    h.engine.join([a, b], "chat").unwrap();
    h.engine.join([a, b, c], "news").unwrap();
    h.flush();
    assert_eq!(
        h.post(
            a,
            "/sockets/leave-all",
            json!({"room": "chat", "includeSourceRoom": false})
        ),
        ok()
    );
    h.flush();
    assert_eq!(h.rooms(a), [a.to_string(), "chat".to_owned()]);
    assert_eq!(h.rooms(b), [b.to_string(), "chat".to_owned()]);
    assert_eq!(h.rooms(c), [c.to_string(), "news".to_owned()]);
    assert_eq!(
        h.post(
            a,
            "/sockets/leave-all",
            json!({"room": "chat", "includeSocketRooms": true})
        ),
        ok()
    );
    h.flush();
    assert!(h.rooms(a).is_empty());
    assert!(h.rooms(b).is_empty());
    for (data, needle) in [
        (json!({}), "missing `room`"),
        (json!({"room": 1}), "`room` must be a string"),
        (
            json!({"room": "x", "includeSocketRooms": "true"}),
            "`includeSocketRooms` must be a boolean",
        ),
        (
            json!({"room": "x", "includeSourceRoom": 0}),
            "`includeSourceRoom` must be a boolean",
        ),
        (json!({"room": ""}), "room name is empty"),
    ] {
        let msg = bad(h.post(a, "/sockets/leave-all", data));
        assert!(msg.contains(needle), "{msg}");
    }
}

// ----- room to rooms --------------------------------------------------------------------

#[test]
fn room_to_rooms_is_forbidden_by_default() {
    let mut h = Harness::default();
    let a = h.connect();
    h.engine.join(a, "src").unwrap();
    h.flush();
    forbidden(h.post(
        a,
        "/sockets/add-room-members-to-rooms",
        json!({"sourceRoom": "src", "destRooms": "dst"}),
    ));
    forbidden(h.post(
        a,
        "/sockets/remove-room-members-from-rooms",
        json!({"sourceRoom": "src", "destRooms": "src"}),
    ));
    h.flush();
    assert_eq!(h.rooms(a), [a.to_string(), "src".to_owned()]);
}

#[test]
fn room_to_rooms_moves_members_when_open() {
    let mut h = Harness::open();
    let a = h.connect();
    let b = h.connect_remote();
    let c = h.connect();
    h.engine.join([a, b], "src").unwrap();
    h.flush();
    assert_eq!(
        h.post(
            c,
            "/sockets/add-room-members-to-rooms",
            json!({"sourceRoom": "src", "destRooms": ["d1", "d2"]})
        ),
        ok()
    );
    h.flush();
    assert_eq!(
        h.rooms(a),
        [a.to_string(), "src".into(), "d1".into(), "d2".into()]
    );
    assert_eq!(
        h.rooms(b),
        [b.to_string(), "src".into(), "d1".into(), "d2".into()]
    );
    assert_eq!(h.rooms(c), [c.to_string()]);
    assert_eq!(
        h.post(
            c,
            "/sockets/remove-room-members-from-rooms",
            json!({"sourceRoom": "src", "destRooms": "d1"})
        ),
        ok()
    );
    h.flush();
    assert_eq!(h.rooms(a), [a.to_string(), "src".into(), "d2".into()]);
    assert_eq!(h.rooms(b), [b.to_string(), "src".into(), "d2".into()]);
    // A socket id as the source means that socket.
    assert_eq!(
        h.post(
            c,
            "/sockets/add-room-members-to-rooms",
            json!({"sourceRoom": c.to_string(), "destRooms": "d2"})
        ),
        ok()
    );
    h.flush();
    assert_eq!(h.rooms(c), [c.to_string(), "d2".into()]);
    // Empty destinations: a successful no-op.
    for url in [
        "/sockets/add-room-members-to-rooms",
        "/sockets/remove-room-members-from-rooms",
    ] {
        assert_eq!(
            h.post(c, url, json!({"sourceRoom": "src", "destRooms": []})),
            ok()
        );
        for (data, needle) in [
            (json!({"destRooms": "d"}), "missing `sourceRoom`"),
            (json!({"sourceRoom": "src"}), "missing `destRooms`"),
            (
                json!({"sourceRoom": ["src"], "destRooms": "d"}),
                "`sourceRoom` must be a string",
            ),
            (
                json!({"sourceRoom": "src", "destRooms": 9}),
                "`destRooms` must be a string or an array",
            ),
            (
                json!({"sourceRoom": "src", "destRooms": ["d", {}]}),
                "`destRooms[1]` must be a string",
            ),
            (
                json!({"sourceRoom": "", "destRooms": "d"}),
                "room name is empty",
            ),
            (
                json!({"sourceRoom": "src", "destRooms": [""]}),
                "room name is empty",
            ),
        ] {
            let msg = bad(h.post(c, url, data));
            assert!(msg.contains(needle), "{url}: {msg}");
        }
    }
    h.flush();
    assert_eq!(h.rooms(a), [a.to_string(), "src".into(), "d2".into()]);
}

#[test]
fn room_to_rooms_with_reserved_rooms_needs_the_policy() {
    let mut h = Harness::new(Policy {
        room_to_rooms: true,
        ..Policy::default()
    });
    let a = h.connect();
    let b = h.connect_remote();
    forbidden(h.post(
        a,
        "/sockets/add-room-members-to-rooms",
        json!({"sourceRoom": b.to_string(), "destRooms": "spy"}),
    ));
    forbidden(h.post(
        a,
        "/sockets/add-room-members-to-rooms",
        json!({"sourceRoom": "x", "destRooms": ["ok", b.to_string()]}),
    ));
    assert_eq!(
        h.post(
            a,
            "/sockets/add-room-members-to-rooms",
            json!({"sourceRoom": a.to_string(), "destRooms": "mine"})
        ),
        ok()
    );
    h.flush();
    assert_eq!(h.rooms(a), [a.to_string(), "mine".to_owned()]);
    assert_eq!(h.rooms(b), [b.to_string()]);
}

// ----- pub/sub --------------------------------------------------------------------------

#[test]
fn subscribe_message_and_unsubscribe() {
    let mut h = Harness::default();
    let a = h.connect();
    let b = h.connect_remote();
    // ids as an array of numbers and strings, or one id.
    assert_eq!(
        h.post(a, "/pubsub/user/subscribe", json!({"ids": [7, "abc"]})),
        ok()
    );
    assert_eq!(h.post(b, "/pubsub/User/subscribe", json!({"ids": 7})), ok());
    h.flush();
    assert_eq!(
        h.rooms(a),
        [
            a.to_string(),
            "sails_model_user_7:user".into(),
            "sails_model_user_abc:user".into()
        ]
    );
    assert_eq!(
        h.rooms(b),
        [b.to_string(), "sails_model_user_7:user".into()]
    );

    assert_eq!(
        h.post(
            a,
            "/pubsub/user/message",
            json!({"id": 7, "data": {"b": 1, "a": 2}})
        ),
        ok()
    );
    let framed = r#"42["user",{"verb":"messaged","id":7,"data":{"b":1,"a":2}}]"#;
    assert_eq!(h.got(a), [framed]);
    assert_eq!(h.got(b), [framed]);
    assert_eq!(
        h.post(
            a,
            "/pubsub/user/message",
            json!({"id": "abc", "data": null, "omitSender": true})
        ),
        ok()
    );
    assert!(h.got(a).is_empty());
    assert!(h.got(b).is_empty());
    assert_eq!(
        h.post(
            b,
            "/pubsub/user/message",
            json!({"id": "abc", "data": "hey"})
        ),
        ok()
    );
    assert_eq!(
        h.got(a),
        [r#"42["user",{"verb":"messaged","id":"abc","data":"hey"}]"#]
    );

    assert_eq!(
        h.post(a, "/pubsub/user/unsubscribe", json!({"ids": ["7", "abc"]})),
        ok()
    );
    h.flush();
    assert_eq!(h.rooms(a), [a.to_string()]);
    // Empty lists are no-ops.
    assert_eq!(
        h.post(a, "/pubsub/user/subscribe", json!({"ids": []})),
        ok()
    );
    assert_eq!(
        h.post(a, "/pubsub/user/unsubscribe", json!({"ids": []})),
        ok()
    );
}

#[test]
fn pubsub_rejects_bad_fields() {
    let mut h = Harness::default();
    let a = h.connect();
    for url in ["/pubsub/user/subscribe", "/pubsub/user/unsubscribe"] {
        for (data, needle) in [
            (Value::Null, "missing `ids`"),
            (json!({"ids": null}), "missing `ids`"),
            (json!({"ids": true}), "`ids`: invalid record id true"),
            (json!({"ids": ""}), "`ids`: invalid record id \"\""),
            (json!({"ids": [1, {}]}), "`ids[1]`: invalid record id {}"),
            (
                json!({"ids": [1], "socketId": 1}),
                "`socketId` must be a string",
            ),
            (json!(1), "must be a JSON object"),
        ] {
            let msg = bad(h.post(a, url, data.clone()));
            assert!(msg.contains(needle), "{url} {data}: {msg}");
        }
        // An id too long for a room name.
        let msg = bad(h.post(a, url, json!({"ids": "x".repeat(300)})));
        assert!(msg.contains("room name is"), "{msg}");
        // No requesting socket.
        bad(h.request(None, "post", url, json!({"ids": [1]})));
    }
    for (data, needle) in [
        (json!({"data": 1}), "missing `id`"),
        (json!({"id": [1], "data": 1}), "`id`: invalid record id [1]"),
        (
            json!({"id": 1, "omitSender": "no"}),
            "`omitSender` must be a boolean",
        ),
        (json!({"id": 1}), "missing `data`"),
    ] {
        let msg = bad(h.post(a, "/pubsub/user/message", data));
        assert!(msg.contains(needle), "{msg}");
    }
    // A bad identity: 400 with the core's message.
    let msg = bad(h.post(
        a,
        &format!("/pubsub/{}/watch", "m".repeat(200)),
        Value::Null,
    ));
    assert!(msg.contains("invalid model identity"), "{msg}");
    assert_eq!(h.rooms(a), [a.to_string()]);
    assert!(h.got(a).is_empty());
}

#[test]
fn watch_and_unwatch_then_created_reaches_watchers() {
    let mut h = Harness::default();
    let a = h.connect();
    let b = h.connect_remote();
    assert_eq!(h.post(a, "/pubsub/user/watch", Value::Null), ok());
    assert_eq!(h.post(b, "/pubsub/user/watch", json!({})), ok());
    h.flush();
    assert_eq!(
        h.rooms(a),
        [a.to_string(), "sails_model_create_user".into()]
    );
    h.engine
        .model("user")
        .unwrap()
        .created(&7u64.into(), &json!({"name": "x"}), None)
        .unwrap();
    let framed = r#"42["user",{"verb":"created","data":{"name":"x"},"id":7}]"#;
    assert_eq!(h.got(a), [framed]);
    assert_eq!(h.got(b), [framed]);
    assert_eq!(h.post(a, "/pubsub/user/unwatch", Value::Null), ok());
    h.flush();
    assert_eq!(
        h.rooms(a),
        [a.to_string(), "sails_model_user_7:user".into()]
    );
    bad(h.request(None, "post", "/pubsub/user/watch", Value::Null));
    bad(h.post(a, "/pubsub/user/watch", json!("x")));
}

#[test]
fn pubsub_on_another_socket_needs_the_policy() {
    for open in [false, true] {
        let mut h = Harness::new(if open {
            Policy::open()
        } else {
            Policy::default()
        });
        let a = h.connect();
        let b = h.connect_remote();
        for (url, data) in [
            (
                "/pubsub/user/subscribe",
                json!({"ids": 1, "socketId": b.to_string()}),
            ),
            ("/pubsub/user/watch", json!({"socketId": b.to_string()})),
        ] {
            let got = h.post(a, url, data);
            if open {
                assert_eq!(got, ok());
            } else {
                forbidden(got);
            }
        }
        h.flush();
        if open {
            assert_eq!(
                h.rooms(b),
                [
                    b.to_string(),
                    "sails_model_user_1:user".into(),
                    "sails_model_create_user".into()
                ]
            );
            // An unknown socket: 404 E_UNKNOWN_SOCKET.
            h.shards[1].disconnect(b);
            let got = h.post(
                a,
                "/pubsub/user/unsubscribe",
                json!({"ids": 1, "socketId": b.to_string()}),
            );
            assert_eq!(got.1["unknown"], json!([b.to_string()]));
            assert_error(got, 404, "E_UNKNOWN_SOCKET");
            let got = h.post(
                a,
                "/pubsub/user/unwatch",
                json!({"socketId": b.to_string()}),
            );
            assert_error(got, 404, "E_UNKNOWN_SOCKET");
        } else {
            assert_eq!(h.rooms(b), [b.to_string()]);
        }
    }
}

#[test]
fn publish_is_forbidden_by_default_and_sends_data_unwrapped_once_when_open() {
    let mut h = Harness::default();
    let a = h.connect();
    h.post(a, "/pubsub/user/subscribe", json!({"ids": [1, 2]}));
    forbidden(h.post(
        a,
        "/pubsub/user/publish",
        json!({"ids": [1], "data": {"verb": "destroyed", "id": 1}}),
    ));
    assert!(h.got(a).is_empty());

    let mut h = Harness::open();
    let a = h.connect();
    let b = h.connect_remote();
    assert_eq!(
        h.post(a, "/pubsub/user/subscribe", json!({"ids": [1, 2]})),
        ok()
    );
    assert_eq!(h.post(b, "/pubsub/user/subscribe", json!({"ids": 2})), ok());
    assert_eq!(
        h.post(
            a,
            "/pubsub/user/publish",
            json!({"ids": [1, 2], "data": {"z": 0, "a": 1}})
        ),
        ok()
    );
    assert_eq!(h.got(a), [r#"42["user",{"z":0,"a":1}]"#]);
    assert_eq!(h.got(b), [r#"42["user",{"z":0,"a":1}]"#]);
    assert_eq!(
        h.post(
            a,
            "/pubsub/user/publish",
            json!({"ids": 2, "data": 5, "omitSender": true})
        ),
        ok()
    );
    assert!(h.got(a).is_empty());
    assert_eq!(h.got(b), [r#"42["user",5]"#]);
    assert_eq!(
        h.post(a, "/pubsub/user/publish", json!({"ids": [], "data": 5})),
        ok()
    );
    for (data, needle) in [
        (json!({"data": 1}), "missing `ids`"),
        (
            json!({"ids": [null], "data": 1}),
            "`ids[0]`: invalid record id null",
        ),
        (
            json!({"ids": 1, "omitSender": [], "data": 1}),
            "`omitSender` must be a boolean",
        ),
        (json!({"ids": 1}), "missing `data`"),
    ] {
        let msg = bad(h.post(a, "/pubsub/user/publish", data));
        assert!(msg.contains(needle), "{msg}");
    }
    assert!(h.got(b).is_empty());
}

#[test]
fn message_can_be_disabled() {
    let mut h = Harness::new(Policy {
        pubsub_message: false,
        pubsub_subscribe: false,
        ..Policy::default()
    });
    let a = h.connect();
    forbidden(h.post(a, "/pubsub/user/subscribe", json!({"ids": 1})));
    forbidden(h.post(a, "/pubsub/user/watch", Value::Null));
    forbidden(h.post(a, "/pubsub/user/message", json!({"id": 1})));
    assert_eq!(h.rooms(a), [a.to_string()]);
}

// ----- every route, every policy ----------------------------------------------------------

#[test]
fn closed_policy_refuses_everything_but_get_id() {
    let mut h = Harness::new(Policy::closed());
    let a = h.connect();
    assert_eq!(h.request(Some(a), "get", "/sockets/id", Value::Null).0, 200);
    for (method, pattern) in h
        .router
        .routes()
        .map(|(m, p)| (m, p.replace(":model", "user")))
        .collect::<Vec<_>>()
    {
        if pattern == "/sockets/id" {
            continue;
        }
        forbidden(h.request(Some(a), method.event_name(), &pattern, json!({})));
    }
}

#[test]
fn the_builtin_table_has_every_row_of_routes_md() {
    let router = Router::with_builtin_routes(Policy::default());
    let got: Vec<String> = router.routes().map(|(m, p)| format!("{m} {p}")).collect();
    assert_eq!(
        got,
        [
            "GET /sockets/id",
            "POST /sockets/join",
            "POST /sockets/leave",
            "POST /sockets/broadcast",
            "POST /sockets/blast",
            "POST /sockets/emit",
            "POST /sockets/leave-all",
            "POST /sockets/add-room-members-to-rooms",
            "POST /sockets/remove-room-members-from-rooms",
            "POST /pubsub/:model/subscribe",
            "POST /pubsub/:model/unsubscribe",
            "POST /pubsub/:model/watch",
            "POST /pubsub/:model/unwatch",
            "POST /pubsub/:model/message",
            "POST /pubsub/:model/publish",
        ]
    );
}

#[test]
fn unknown_routes_and_wrong_methods_are_404() {
    let mut h = Harness::open();
    let a = h.connect();
    for (event, url) in [
        ("post", "/nope"),
        ("post", "/"),
        ("get", "/sockets/join"),
        ("put", "/sockets/join"),
        ("delete", "/pubsub/user/watch"),
        ("post", "/sockets/join/extra"),
        ("post", "/pubsub/user"),
        ("post", "/pubsub//watch"),
        ("options", "/sockets/id"),
        ("head", "/sockets/id"),
    ] {
        let got = h.request(Some(a), event, url, json!({"room": "x"}));
        assert_eq!(
            got,
            (
                404,
                json!({"error": "E_NOT_FOUND", "message": format!("no route for {} {url}", event.to_uppercase())})
            )
        );
    }
    // Express's defaults: a trailing slash and the literal's case do not matter.
    assert_eq!(h.post(a, "/sockets/join/", json!({"room": "x"})), ok());
    assert_eq!(h.post(a, "/Sockets/JOIN", json!({"room": "y"})), ok());
    // The query is not merged into the body.
    bad(h.post(a, "/sockets/join?room=z", Value::Null));
    assert_eq!(h.rooms(a), [a.to_string(), "x".into(), "y".into()]);
}

#[test]
fn policy_reads_from_toml() {
    let p: Policy = toml::from_str("blast = true\nemit = true").unwrap();
    assert_eq!(
        p,
        Policy {
            blast: true,
            emit: true,
            ..Policy::default()
        }
    );
    let p: Policy = toml::from_str("").unwrap();
    assert_eq!(p, Policy::default());
    assert!(
        toml::from_str::<Policy>("blats = true").is_err(),
        "typos are errors"
    );
    assert!(toml::from_str::<Policy>("blast = 1").is_err());
    assert_eq!(Policy::from_name("open"), Some(Policy::open()));
    assert_eq!(Policy::from_name("default"), Some(Policy::default()));
    assert_eq!(Policy::from_name("closed"), Some(Policy::closed()));
    assert_eq!(Policy::from_name("wide"), None);
    assert!(Policy::open().is_open());
    assert!(!Policy::default().is_open());
    let d = Policy::default();
    assert!(d.join && d.broadcast && d.pubsub_subscribe && d.pubsub_message);
    assert!(
        !(d.act_on_other_sockets
            || d.reserved_rooms
            || d.blast
            || d.emit
            || d.leave_all
            || d.room_to_rooms
            || d.pubsub_publish)
    );
}
