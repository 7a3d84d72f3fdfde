//! The bare Engine.IO echo (`ServerBuilder::engine_echo`), and the conformance
//! behaviour of custom events with binary attachments.

mod server_util;

use roomcast_server::app::ServerBuilder;
use server_util::*;
use tungstenite::Message;

#[test]
fn engine_echo_on_its_own_path() {
    let server = TestServer::start(ServerBuilder::new(config()).engine_echo("/engine.io/"));
    let mut ws = ws(server.addr, "/engine.io/?EIO=4&transport=websocket");
    let open = text(&mut ws);
    assert!(open.starts_with(r#"0{"sid":""#), "{open}");
    send(&mut ws, "4hello");
    assert_eq!(text(&mut ws), "4hello");
    ws.send(Message::binary(vec![1u8, 2, 3])).unwrap();
    assert_eq!(ws.read().unwrap(), Message::binary(vec![1u8, 2, 3]));
    send(&mut ws, "4€ and more");
    assert_eq!(text(&mut ws), "4€ and more");
    // v3 binary carries the type byte.
    let mut v3 = server_util::ws(server.addr, "/engine.io/?EIO=3&transport=websocket");
    assert!(text(&mut v3).starts_with("0{"));
    v3.send(Message::binary(vec![4u8, 9])).unwrap();
    assert_eq!(v3.read().unwrap(), Message::binary(vec![4u8, 9]));
    send(&mut v3, "2probe");
    assert_eq!(
        text(&mut v3),
        "3",
        "a bare pong, as engine.io 3 answers any ping"
    );
    // Engine.IO errors on that path too.
    let r = get(server.addr, "/engine.io/?EIO=4&transport=polling", "");
    assert!(r.starts_with("HTTP/1.1 400"), "{r}");
    assert_eq!(body(&r), r#"{"code":0,"message":"Transport unknown"}"#);
    // A parse error closes the echo session.
    send(&mut ws, "x");
    assert!(read_until_closed(&mut ws).is_some());
    // Socket.IO is still served beside it.
    let (_s, sid) = connect_v4(server.addr);
    assert_eq!(sid.len(), 24);
}

#[test]
fn binary_event_echo_with_attachments() {
    let builder = ServerBuilder::new(config()).on_event("/", "message", |ctx| {
        let args = ctx.args().to_owned();
        let att = ctx.attachments().to_vec();
        ctx.emit_binary("message-back", &args, &att).unwrap();
        ctx.set_ack_attachments(att);
        Some(args)
    });
    let server = TestServer::start(builder);
    let (mut ws, _) = connect_v4(server.addr);
    send(&mut ws, r#"451-3["message",{"_placeholder":true,"num":0}]"#);
    ws.send(Message::binary(vec![7u8, 8])).unwrap();
    assert_eq!(
        text_no_ping(&mut ws),
        r#"451-["message-back",{"_placeholder":true,"num":0}]"#
    );
    assert_eq!(ws.read().unwrap(), Message::binary(vec![7u8, 8]));
    assert_eq!(
        text_no_ping(&mut ws),
        r#"461-3[{"_placeholder":true,"num":0}]"#
    );
    assert_eq!(ws.read().unwrap(), Message::binary(vec![7u8, 8]));
}
