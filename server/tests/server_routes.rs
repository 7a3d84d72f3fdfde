//! Virtual requests end to end, and the application API (custom routes, events,
//! CONNECT hooks).

mod server_util;

use roomcast_server::app::{Method, Response, ServerBuilder};
use serde_json::{json, Value};
use server_util::*;

#[test]
fn get_socket_id_is_own_id() {
    let server = TestServer::with_config(config());
    let (mut ws, sid) = connect_v4(server.addr);
    let got = request(&mut ws, 1, "get", "/sockets/id", Value::Null);
    assert_eq!(got.len(), 1);
    let body = ack_body(&got[0], 1);
    assert_eq!(body["statusCode"], 200);
    assert_eq!(body["body"]["id"], sid.as_str());
    assert_eq!(body["body"]["worker"], 0);
}

#[test]
fn join_and_broadcast_across_clients_broadcast_before_ack() {
    let mut cfg = config();
    cfg.workers = 2; // the two clients land on different workers
    let server = TestServer::with_config(cfg);
    let (mut a, _) = connect_v4(server.addr);
    let (mut b, _) = connect_v4(server.addr);
    for (ws, id) in [(&mut a, 1), (&mut b, 1)] {
        let got = request(ws, id, "post", "/sockets/join", json!({"room": "chat"}));
        assert_eq!(ack_body(got.last().unwrap(), id)["statusCode"], 200);
    }
    let got = request(
        &mut a,
        2,
        "post",
        "/sockets/broadcast",
        json!({"rooms": "chat", "event": "said", "data": {"text": "hi"}}),
    );
    // The requester is in the room: its copy arrives before the ack.
    assert_eq!(
        got,
        [
            r#"42["said",{"text":"hi"}]"#.to_owned(),
            r#"432[{"body":{"ok":true},"headers":{},"statusCode":200}]"#.to_owned()
        ]
    );
    assert_eq!(text_no_ping(&mut b), r#"42["said",{"text":"hi"}]"#);
    // omitSender
    let got = request(
        &mut b,
        3,
        "post",
        "/sockets/broadcast",
        json!({"rooms": ["chat"], "data": 1, "omitSender": true}),
    );
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(text_no_ping(&mut a), r#"42["message",1]"#);
}

#[test]
fn request_without_ack_id_gets_parse_error() {
    let server = TestServer::with_config(config());
    let (mut ws, _) = connect_v4(server.addr);
    send(
        &mut ws,
        r#"42["get",{"method":"get","url":"/sockets/id","headers":{}}]"#,
    );
    let t = text_no_ping(&mut ws);
    assert!(t.starts_with(r#"42["sails:parseError","#), "{t}");
    // Still connected.
    let got = request(&mut ws, 5, "get", "/sockets/id", Value::Null);
    assert_eq!(ack_body(got.last().unwrap(), 5)["statusCode"], 200);
}

#[test]
fn malformed_request_gets_400_ack() {
    let server = TestServer::with_config(config());
    let (mut ws, _) = connect_v4(server.addr);
    send(&mut ws, r#"429["post","not a request"]"#);
    let t = text_no_ping(&mut ws);
    let body = ack_body(&t, 9);
    assert_eq!(body["statusCode"], 400, "{t}");
    assert_eq!(body["body"]["error"], "E_BAD_REQUEST", "{t}");
    send(&mut ws, r#"4210["post",{"url":"no-slash"}]"#);
    assert_eq!(ack_body(&text_no_ping(&mut ws), 10)["statusCode"], 400);
    // Unknown route and forbidden operation (default policy).
    let got = request(&mut ws, 11, "get", "/nope", Value::Null);
    assert_eq!(ack_body(got.last().unwrap(), 11)["statusCode"], 404);
    let got = request(&mut ws, 12, "post", "/sockets/blast", json!({"data": 1}));
    assert_eq!(ack_body(got.last().unwrap(), 12)["statusCode"], 403);
}

#[test]
fn app_routes_events_and_connect_hooks() {
    let builder = ServerBuilder::new(config())
        .route(Method::Post, "/chat/:room/say", |ctx, req| {
            let room = req.param("room").unwrap_or_default().to_owned();
            let text = req.body.get("text").cloned().unwrap_or_default();
            match ctx
                .shard
                .broadcast(room.as_str(), Some("said"), &text, None)
            {
                Ok(()) => Response::ok(json!({"room": room})),
                Err(e) => Response::from_core_error(&e),
            }
        })
        // Overrides the built-in.
        .route(Method::Get, "/sockets/id", |_, _| {
            Response::ok(json!("mine"))
        })
        .on_event("/", "hello", |ctx| {
            let args = ctx.args().to_owned();
            ctx.emit("hello-back", &args).unwrap();
            Some(format!(r#"["got",{}]"#, ctx.args().len()))
        })
        .on_connect("/admin", |ctx| {
            let auth: Value = serde_json::from_str(ctx.auth()).unwrap();
            if auth["token"] == "secret" {
                ctx.emit("welcome", r#"["admin"]"#);
                Ok(())
            } else {
                Err((
                    "Not authorized".into(),
                    Some(r#"{"reason":"token"}"#.into()),
                ))
            }
        });
    let server = TestServer::start(builder);
    let (mut ws, _) = connect_v4(server.addr);
    let got = request(&mut ws, 1, "post", "/sockets/join", json!({"room": "r1"}));
    assert_eq!(ack_body(got.last().unwrap(), 1)["statusCode"], 200);
    let got = request(&mut ws, 2, "post", "/chat/r1/say", json!({"text": "yo"}));
    assert_eq!(got[0], r#"42["said","yo"]"#);
    assert_eq!(ack_body(&got[1], 2)["body"], json!({"room": "r1"}));
    let got = request(&mut ws, 3, "get", "/sockets/id", Value::Null);
    assert_eq!(ack_body(&got[0], 3)["body"], "mine");

    send(&mut ws, r#"424["hello",{"b":1,"a":2.50},[true]]"#);
    assert_eq!(
        text_no_ping(&mut ws),
        r#"42["hello-back",{"b":1,"a":2.50},[true]]"#
    );
    assert_eq!(text_no_ping(&mut ws), r#"434["got",25]"#);

    send(&mut ws, r#"40/admin,{"token":"nope"}"#);
    assert_eq!(
        text_no_ping(&mut ws),
        r#"44/admin,{"message":"Not authorized","data":{"reason":"token"}}"#
    );
    send(&mut ws, r#"40/admin,{"token":"secret"}"#);
    assert!(text_no_ping(&mut ws).starts_with(r#"40/admin,{"sid":"#));
    assert_eq!(text_no_ping(&mut ws), r#"42/admin,["welcome","admin"]"#);
}

#[test]
fn get_id_names_the_node_and_worker_of_the_socket() {
    let mut c = config();
    c.workers = 2;
    let c = c.with_node_name("eu-7").unwrap();
    let server = TestServer::with_config(c);
    let mut workers = std::collections::BTreeSet::new();
    for _ in 0..4 {
        let (mut ws, sid) = connect_v4(server.addr);
        let got = request(&mut ws, 1, "get", "/sockets/id", serde_json::Value::Null);
        let body = ack_body(got.last().unwrap(), 1);
        assert_eq!(body["statusCode"], 200);
        assert_eq!(body["body"]["id"], sid);
        assert_eq!(body["body"]["node"], "eu-7");
        workers.insert(body["body"]["worker"].as_u64().unwrap());
    }
    // Connections are dealt round-robin: both workers answered.
    assert_eq!(workers, [0, 1].into_iter().collect());
}
