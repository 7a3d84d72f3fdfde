//! Application routes: `:params`, overriding built-ins, match precedence, and the
//! ordering the runtime relies on (what an action sends is queued before the ack).

use roomcast::wire::{split_frames, Frame};
use roomcast::{Engine, EngineConfig, MemoryWriter};
use roomcast_server::router::{
    ack_payload, parse_virtual_request, Context, Method, Policy, Request, Response, Router,
};
use serde_json::json;

fn req(event: &str, url: &str) -> Request {
    parse_virtual_request(event, &format!(r#"[{{"url":{}}}]"#, json!(url))).unwrap()
}

#[test]
fn router_is_clone_send_sync() {
    fn assert_traits<T: Clone + Send + Sync + std::fmt::Debug>() {}
    assert_traits::<Router>();
    let r = Router::with_builtin_routes(Policy::default());
    let copy = r.clone();
    std::thread::spawn(move || assert_eq!(copy.routes().count(), 15))
        .join()
        .unwrap();
    assert!(format!("{r:?}").contains("POST /pubsub/:model/watch"));
}

#[test]
fn empty_router_answers_404() {
    let (_e, mut shards) = Engine::new(EngineConfig::default());
    let a = shards[0].connect().unwrap();
    let resp = Router::new().dispatch(
        &mut Context::new(&mut shards[0], Some(a)),
        req("get", "/sockets/id"),
    );
    assert_eq!(resp, Response::not_found("no route for GET /sockets/id"));
}

#[test]
fn app_routes_get_params_query_and_body_and_override_builtins() {
    let (_e, mut shards) = Engine::new(EngineConfig::default());
    let a = shards[0].connect().unwrap();
    let mut router = Router::with_builtin_routes(Policy::default());
    // Override a built-in: same method and pattern shape, another param name.
    router.route(Method::Post, "/pubsub/:identity/watch", |ctx, req| {
        Response::ok(json!({
            "mine": req.param("identity"),
            "socket": ctx.socket.map(|s| s.to_string()),
            "q": req.query_value("x"),
            "body": req.body,
        }))
    });
    // A new route with two params.
    router.route(Method::Get, "/rooms/:room/members/:n", |_, req| {
        Response::ok(json!(req.params))
    });
    // A more specific literal beats a param route, whatever the order.
    router.route(Method::Post, "/pubsub/user/:verb", |_, req| {
        Response::json(202, json!({"user": req.param("verb")}))
    });
    assert_eq!(router.routes().count(), 17);

    let mut ctx = Context::new(&mut shards[0], Some(a));
    let r = router.dispatch(
        &mut ctx,
        parse_virtual_request(
            "post",
            r#"[{"url":"/pubsub/Car/watch?x=1","data":{"k":[1]}}]"#,
        )
        .unwrap(),
    );
    assert_eq!(
        ack_payload(&r),
        format!(
            r#"[{{"body":{{"mine":"Car","socket":"{a}","q":"1","body":{{"k":[1]}}}},"headers":{{}},"statusCode":200}}]"#
        )
    );
    // The built-in watch did not run.
    assert_eq!(ctx.shard.rooms_of(a).unwrap(), [a.to_string()]);

    let r = router.dispatch(&mut ctx, req("get", "/rooms/caf%C3%A9/members/10/"));
    assert_eq!(r, Response::ok(json!([["room", "café"], ["n", "10"]])));
    // An empty segment never fills a param.
    assert_eq!(
        router
            .dispatch(&mut ctx, req("get", "/rooms//members/10"))
            .status,
        404
    );

    let r = router.dispatch(&mut ctx, req("post", "/pubsub/user/watch"));
    assert_eq!(r, Response::json(202, json!({"user": "watch"})));
    // Other built-ins are untouched.
    let r = router.dispatch(&mut ctx, req("post", "/pubsub/user2/unwatch"));
    assert_eq!(r, Response::ok(json!({"ok": true})));
}

#[test]
fn later_registration_of_the_same_route_replaces_the_earlier() {
    let (_e, mut shards) = Engine::new(EngineConfig::default());
    let mut router = Router::new();
    router
        .route(Method::Get, "/a/:x", |_, _| Response::ok(json!(1)))
        .route(Method::Post, "/a/:x", |_, _| Response::ok(json!("post")))
        .route(Method::Get, "/A/:y/", |_, _| Response::ok(json!(2)));
    let got: Vec<String> = router.routes().map(|(m, p)| format!("{m} {p}")).collect();
    assert_eq!(got, ["POST /a/:x", "GET /A/:y/"]);
    let mut ctx = Context::new(&mut shards[0], None);
    assert_eq!(router.dispatch(&mut ctx, req("get", "/a/q")).body, json!(2));
    assert_eq!(
        router.dispatch(&mut ctx, req("post", "/a/q")).body,
        json!("post")
    );
    assert_eq!(router.dispatch(&mut ctx, req("put", "/a/q")).status, 404);
    // The root route.
    router.route(Method::Get, "/", |_, _| Response::ok(json!("root")));
    assert_eq!(
        router.dispatch(&mut ctx, req("get", "/")).body,
        json!("root")
    );
}

#[test]
#[should_panic(expected = "must start with '/'")]
fn patterns_must_start_with_a_slash() {
    Router::new().route(Method::Get, "sockets", |_, _| Response::ok(json!(null)));
}

#[test]
#[should_panic(expected = "unnamed ':' segment")]
fn params_need_a_name() {
    Router::new().route(Method::Get, "/a/:", |_, _| Response::ok(json!(null)));
}

/// The runtime dispatches, then queues the ack with `shard.send(id, ack)`: frames
/// the action sent to the requester (here a broadcast to a room it is in, and the
/// built-in broadcast route) must come first.
#[test]
fn frames_an_action_sends_are_queued_before_the_ack() {
    let (engine, mut shards) = Engine::new(EngineConfig {
        shards: 2,
        ..EngineConfig::default()
    });
    let a = shards[0].connect().unwrap();
    let b = shards[1].connect().unwrap();
    let mut router = Router::with_builtin_routes(Policy::default());
    router.route(Method::Post, "/chat/:room", |ctx, req| {
        let room = req.param("room").unwrap_or_default();
        let me = ctx.socket.unwrap();
        if let Err(e) = ctx.shard.join(me, room) {
            return e.into();
        }
        match ctx.shard.broadcast(room, Some("said"), &req.body, None) {
            Ok(()) => Response::ok(json!({"ok": true})),
            Err(e) => e.into(),
        }
    });
    engine.join(b, "lobby").unwrap();

    let mut out = MemoryWriter::default();
    for (url, data) in [
        ("/chat/lobby", json!({"t": 1})),
        ("/sockets/broadcast", json!({"rooms": "lobby", "data": 2})),
    ] {
        let args = serde_json::to_string(&json!([{"url": url, "data": data}])).unwrap();
        let request = parse_virtual_request("post", &args).unwrap();
        let resp = router.dispatch(&mut Context::new(&mut shards[0], Some(a)), request);
        let ack = format!("43{}", ack_payload(&resp));
        assert!(shards[0].send(a, Frame::text(&ack).into_bytes()));
        // The runtime drains at the end of its tick.
        shards[0].process_ops();
        shards[0].drain(&mut out);
    }
    shards[1].process_ops();
    shards[1].drain(&mut out);
    let ack = r#"43[{"body":{"ok":true},"headers":{},"statusCode":200}]"#;
    assert_eq!(
        split_frames(out.received(a)),
        [r#"42["said",{"t":1}]"#, ack, r#"42["message",2]"#, ack]
    );
    assert_eq!(
        split_frames(out.received(b)),
        [r#"42["said",{"t":1}]"#, r#"42["message",2]"#]
    );
    for s in &shards {
        s.validate().unwrap();
    }
}
