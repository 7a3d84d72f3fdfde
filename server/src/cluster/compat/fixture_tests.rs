//! Every `e2e/peers/captures/fixtures/socketio-*.bin` (real bytes published by
//! socket.io 4.8.1 nodes on @socket.io/redis-adapter 8.3.0, and by
//! @socket.io/redis-emitter 5.1.0) decodes to what `socketio-adapter-8.md`
//! says, on the channel it came on, and encodes back to the same bytes.

use bytes::Bytes;
use serde_json::{json, Value as Json};

use super::adapter_message::{BroadcastMessage, BroadcastOpts, Flags, OptsOrder, Packet};
use super::adapter_request::{Request, Response, Target};
use super::channel::{classify, ChannelKind};
use super::fixture;

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|&x| x.to_owned()).collect()
}

fn flags(entries: &[(&str, Json)]) -> Flags {
    let mut f = Flags::default();
    for (k, v) in entries {
        f.set(k, v.clone());
    }
    f
}

/// What a fixture holds.
enum Expect {
    Broadcast(BroadcastMessage),
    Request(Request),
    Response(Response),
}

#[allow(clippy::too_many_arguments)] // one line per fixture below
fn bc(
    uid: &str,
    nsp: &str,
    args: Json,
    att: &[&[u8]],
    rooms: &[&str],
    except: &[&str],
    fl: &[(&str, Json)],
    order: OptsOrder,
) -> Expect {
    Expect::Broadcast(BroadcastMessage {
        uid: uid.into(),
        packet: Packet {
            packet_type: 2,
            nsp: nsp.into(),
            id: None,
            args_json: args.to_string(),
            attachments: att.iter().map(|b| Bytes::copy_from_slice(b)).collect(),
        },
        opts: BroadcastOpts {
            rooms: s(rooms),
            except: s(except),
            flags: flags(fl),
            order,
        },
    })
}

fn target(rooms: &[&str], except: &[&str]) -> Target {
    Target {
        rooms: s(rooms),
        except: s(except),
    }
}

fn uid(u: &str) -> Option<String> {
    Some(u.into())
}

fn fetch(rid: &str, sockets: Json) -> Expect {
    let sockets = sockets
        .as_array()
        .unwrap()
        .iter()
        .map(|s| super::adapter_request::FetchedSocket {
            id: s["id"].as_str().unwrap().into(),
            handshake: s["handshake"].clone(),
            rooms: s["rooms"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r.as_str().unwrap().into())
                .collect(),
            data: s["data"].clone(),
        })
        .collect();
    Expect::Response(Response::FetchSockets {
        request_id: rid.into(),
        sockets,
    })
}

/// The capture's "decoded" line of each fixture.
#[allow(clippy::too_many_lines)]
fn expected(name: &str) -> Expect {
    use OptsOrder::{Adapter as A, Emitter as E};
    let a = "r5iIKa";
    match name {
        "socketio-broadcast-all.bin" => bc(
            a,
            "/",
            json!(["news", {"hello": "world", "n": 1}]),
            &[],
            &[],
            &[],
            &[],
            A,
        ),
        "socketio-broadcast-room.bin" => bc(
            a,
            "/",
            json!(["news", "to room1"]),
            &[],
            &["room1"],
            &[],
            &[],
            A,
        ),
        "socketio-broadcast-rooms.bin" => bc(
            a,
            "/",
            json!(["news", "to room1+room2"]),
            &[],
            &["room1", "room2"],
            &[],
            &[],
            A,
        ),
        "socketio-broadcast-except.bin" => bc(
            a,
            "/",
            json!(["news", "room2 except room3"]),
            &[],
            &["room2"],
            &["room3"],
            &[],
            A,
        ),
        "socketio-broadcast-all-except-socket.bin" => bc(
            a,
            "/",
            json!(["news", "all but c1"]),
            &[],
            &[],
            &["WVx6grBCMLQZFsIPAAAA"],
            &[],
            A,
        ),
        "socketio-broadcast-socket-id.bin" => bc(
            a,
            "/",
            json!(["direct", "to c3 only"]),
            &[],
            &["3mwhJ1DEA49Bpr91AAAA"],
            &[],
            &[],
            A,
        ),
        "socketio-broadcast-flags.bin" => bc(
            a,
            "/",
            json!(["news", 1]),
            &[],
            &["room1"],
            &[],
            &[("volatile", json!(true)), ("compress", json!(false))],
            A,
        ),
        "socketio-broadcast-multi-args.bin" => bc(
            a,
            "/",
            json!(["types", "str", 42, -7, 3.5, 4_294_967_296_u64, true, false, null, null, [1, [2]], {"nested": {"k": "v"}}, "2024-01-02T03:04:05.678Z", "é€😀"]),
            &[],
            &[],
            &[],
            &[],
            A,
        ),
        "socketio-broadcast-binary.bin" => bc(
            a,
            "/",
            json!(["bin", {"_placeholder": true, "num": 0}, {"file": {"_placeholder": true, "num": 1}, "name": "x"}]),
            &[&[0x00, 0xff, 0x10], &[0xde, 0xad, 0xbe, 0xef]],
            &["room1"],
            &[],
            &[],
            A,
        ),
        "socketio-broadcast-from-b.bin" => bc(
            "rUG1QX",
            "/",
            json!(["news", "from B"]),
            &[],
            &["room1"],
            &[],
            &[],
            A,
        ),
        "socketio-broadcast-nsp-admin.bin" => {
            bc("DAPfFL", "/admin", json!(["adm", 1]), &[], &[], &[], &[], A)
        }
        "socketio-broadcast-numeric-room.bin" => {
            bc(a, "/", json!(["news", "num"]), &[], &["42"], &[], &[], A)
        }
        "socketio-emitter-all.bin" => bc(
            "emitter",
            "/",
            json!(["from-emitter", {"e": 1}]),
            &[],
            &[],
            &[],
            &[],
            E,
        ),
        "socketio-emitter-room.bin" => bc(
            "emitter",
            "/",
            json!(["from-emitter", "room1 only"]),
            &[],
            &["room1"],
            &[],
            &[],
            E,
        ),
        "socketio-emitter-rooms-except.bin" => bc(
            "emitter",
            "/",
            json!(["from-emitter", 2]),
            &[],
            &["room1", "room2"],
            &["room3"],
            &[("volatile", json!(true))],
            E,
        ),
        "socketio-emitter-binary.bin" => bc(
            "emitter",
            "/",
            json!(["from-emitter", "bin", {"_placeholder": true, "num": 0}]),
            &[&[0xca, 0xfe]],
            &["room1"],
            &[],
            &[],
            E,
        ),

        "socketio-server-side-emit.bin" => Expect::Request(Request::ServerSideEmit {
            uid: uid(a),
            request_id: None,
            args_json: json!(["hello", {"from": "A"}, 2]).to_string(),
        }),
        "socketio-server-side-emit-ack-1.bin" => Expect::Request(Request::ServerSideEmit {
            uid: uid(a),
            request_id: uid("CFu-0P"),
            args_json: json!(["ping-node", 7]).to_string(),
        }),
        "socketio-timeout-server-side-emit-1.bin" => Expect::Request(Request::ServerSideEmit {
            uid: uid(a),
            request_id: uid("KUGEDE"),
            args_json: json!(["ping-node", 8]).to_string(),
        }),
        "socketio-emitter-server-side-emit.bin" => Expect::Request(Request::ServerSideEmit {
            uid: uid("emitter"),
            request_id: None,
            args_json: json!(["from-backend", {"b": 1}]).to_string(),
        }),
        "socketio-fetch-sockets-all-1.bin" => Expect::Request(Request::RemoteFetch {
            uid: uid(a),
            request_id: "1JsgTd".into(),
            target: target(&[], &[]),
        }),
        "socketio-fetch-sockets-room-1.bin" => Expect::Request(Request::RemoteFetch {
            uid: uid(a),
            request_id: "2k251-".into(),
            target: target(&["room2"], &["room3"]),
        }),
        "socketio-sockets-join-2.bin" => Expect::Request(Request::RemoteFetch {
            uid: uid(a),
            request_id: "Fo1Srm".into(),
            target: target(&["room4"], &[]),
        }),
        "socketio-disconnect-sockets-3.bin" => Expect::Request(Request::RemoteFetch {
            uid: uid(a),
            request_id: "3fIyG5".into(),
            target: target(&[], &[]),
        }),
        "socketio-all-rooms-1.bin" => Expect::Request(Request::AllRooms {
            uid: uid(a),
            request_id: "HdEa4F".into(),
        }),
        "socketio-timeout-all-rooms-1.bin" => Expect::Request(Request::AllRooms {
            uid: uid(a),
            request_id: "RpKn5f".into(),
        }),
        "socketio-sockets-join-1.bin" => Expect::Request(Request::RemoteJoin {
            uid: uid(a),
            target: target(&["room1"], &[]),
            rooms: s(&["room4", "room5"]),
        }),
        "socketio-sockets-join-by-id.bin" => Expect::Request(Request::RemoteJoin {
            uid: uid(a),
            target: target(&["l-jUwFm7Qb11fo17AAAB"], &[]),
            rooms: s(&["room6"]),
        }),
        "socketio-sockets-leave.bin" => Expect::Request(Request::RemoteLeave {
            uid: uid(a),
            target: target(&["room1"], &[]),
            rooms: s(&["room5"]),
        }),
        "socketio-emitter-sockets-join.bin" => Expect::Request(Request::RemoteJoin {
            uid: None,
            target: target(&["room2"], &[]),
            rooms: s(&["room7"]),
        }),
        "socketio-emitter-sockets-leave.bin" => Expect::Request(Request::RemoteLeave {
            uid: None,
            target: target(&["room2"], &[]),
            rooms: s(&["room7"]),
        }),
        "socketio-disconnect-sockets-1.bin" => Expect::Request(Request::RemoteDisconnect {
            uid: uid(a),
            target: target(&["room3"], &[]),
            close: false,
        }),
        "socketio-disconnect-sockets-2.bin" => Expect::Request(Request::RemoteDisconnect {
            uid: uid("rUG1QX"),
            target: target(&["M2km6FUYbIHlCxrnAAAB"], &[]),
            close: true,
        }),
        "socketio-emitter-disconnect.bin" => Expect::Request(Request::RemoteDisconnect {
            uid: None,
            target: target(&["room1"], &[]),
            close: true,
        }),
        "socketio-broadcast-with-ack-1.bin" | "socketio-broadcast-with-ack-timeout-1.bin" => {
            let (rid, ev, q, room, ms) = if name.contains("timeout") {
                ("xJskhL", "ask", 2, "room2", 1000)
            } else {
                ("Trx-kJ", "ask-all", 1, "room1", 1500)
            };
            Expect::Request(Request::Broadcast {
                uid: uid(a),
                request_id: rid.into(),
                packet: Packet {
                    packet_type: 2,
                    nsp: "/".into(),
                    id: None,
                    args_json: json!([ev, {"q": q}]).to_string(),
                    attachments: vec![],
                },
                opts: BroadcastOpts {
                    rooms: s(&[room]),
                    except: vec![],
                    flags: flags(&[("timeout", json!(ms))]),
                    order: A,
                },
            })
        }

        "socketio-broadcast-with-ack-2.bin" => Expect::Response(Response::ClientCount {
            request_id: "Trx-kJ".into(),
            client_count: 1,
        }),
        "socketio-broadcast-with-ack-timeout-2.bin" => Expect::Response(Response::ClientCount {
            request_id: "xJskhL".into(),
            client_count: 1,
        }),
        "socketio-broadcast-with-ack-3.bin" => Expect::Response(Response::BroadcastAck {
            request_id: "Trx-kJ".into(),
            packet_json: json!({"from": "c3", "x": {"q": 1}}).to_string(),
            attachments: vec![],
        }),
        "socketio-server-side-emit-ack-2.bin" => Expect::Response(Response::ServerSideEmit {
            request_id: "CFu-0P".into(),
            data_json: json!({"node": "B", "event": "ping-node", "args": [7]}).to_string(),
        }),
        "socketio-timeout-server-side-emit-2.bin" => Expect::Response(Response::ServerSideEmit {
            request_id: "KUGEDE".into(),
            data_json: json!({"node": "B", "event": "ping-node", "args": [8]}).to_string(),
        }),
        "socketio-all-rooms-2.bin" => Expect::Response(Response::AllRooms {
            request_id: "HdEa4F".into(),
            rooms: s(&[
                "3mwhJ1DEA49Bpr91AAAA",
                "l-jUwFm7Qb11fo17AAAB",
                "room1",
                "room2",
                "room3",
            ]),
        }),
        "socketio-timeout-all-rooms-2.bin" => Expect::Response(Response::AllRooms {
            request_id: "RpKn5f".into(),
            rooms: vec![],
        }),
        "socketio-fetch-sockets-room-2.bin" => fetch("2k251-", json!([])),
        "socketio-fetch-sockets-all-2.bin"
        | "socketio-sockets-join-3.bin"
        | "socketio-disconnect-sockets-4.bin" => {
            // Field by field from the capture; the handshakes are checked whole
            // by the byte-identical re-encoding.
            let text = String::from_utf8(fixture(name)).unwrap();
            let v: Json = serde_json::from_str(&text).unwrap();
            let e = fetch(v["requestId"].as_str().unwrap(), v["sockets"].clone());
            let Expect::Response(Response::FetchSockets {
                request_id,
                sockets,
            }) = &e
            else {
                unreachable!()
            };
            let (rid, ids, c3_rooms): (&str, &[&str], &[&str]) = match name {
                "socketio-fetch-sockets-all-2.bin" => (
                    "1JsgTd",
                    &["3mwhJ1DEA49Bpr91AAAA", "l-jUwFm7Qb11fo17AAAB"],
                    &["3mwhJ1DEA49Bpr91AAAA", "room1"],
                ),
                "socketio-sockets-join-3.bin" => (
                    "Fo1Srm",
                    &["3mwhJ1DEA49Bpr91AAAA"],
                    &["3mwhJ1DEA49Bpr91AAAA", "room1", "room4", "room5"],
                ),
                _ => (
                    "3fIyG5",
                    &["3mwhJ1DEA49Bpr91AAAA"],
                    &["3mwhJ1DEA49Bpr91AAAA", "room1", "room4"],
                ),
            };
            assert_eq!(request_id, rid);
            assert_eq!(
                sockets.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(),
                ids
            );
            assert_eq!(sockets[0].rooms, s(c3_rooms));
            assert_eq!(
                sockets[0].data,
                json!({"node": "B", "auth": {"client": "c3"}})
            );
            assert_eq!(sockets[0].handshake["auth"], json!({"client": "c3"}));
            assert_eq!(sockets[0].handshake["issued"], json!(1_796_202_007_451_u64));
            assert_eq!(
                sockets[0].handshake["url"],
                json!("/socket.io/?EIO=4&transport=websocket")
            );
            e
        }
        other => panic!("no expectation for fixture {other}: add one"),
    }
}

/// `(file, channel)` of every socket.io fixture, from the index.
fn index() -> Vec<(String, String)> {
    let v: Json = serde_json::from_slice(&fixture("socketio-index.json")).unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["file"].as_str().unwrap().to_owned(),
                e["channel"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[test]
fn every_socketio_fixture_decodes_as_captured_and_encodes_back_byte_identical() {
    let all = index();
    assert_eq!(all.len(), 47, "fixtures in socketio-index.json");
    let mut identical = 0;
    for (file, channel) in &all {
        let bytes = fixture(file);
        let nsp = if channel.contains("/admin") {
            "/admin"
        } else {
            "/"
        };
        let kind = classify("socket.io", nsp, channel);
        match expected(file) {
            Expect::Broadcast(want) => {
                assert!(
                    matches!(kind, ChannelKind::Broadcast { .. }),
                    "{file}: {kind:?}"
                );
                let got =
                    BroadcastMessage::decode(&bytes).unwrap_or_else(|e| panic!("{file}: {e}"));
                assert_eq!(got, want, "{file}");
                if let ChannelKind::Broadcast { room: Some(r) } = kind {
                    assert_eq!(got.opts.rooms, [r], "{file}: one room, in the channel name");
                }
                let again = got.encode().unwrap();
                if file == "socketio-broadcast-multi-args.bin" {
                    // The Date became its ISO string, as a client sees it.
                    assert_ne!(again, bytes);
                    assert_eq!(BroadcastMessage::decode(&again).unwrap(), got);
                } else {
                    assert_eq!(again, bytes, "{file}: re-encoded");
                    identical += 1;
                }
            }
            Expect::Request(want) => {
                assert_eq!(kind, ChannelKind::Request, "{file}");
                let got = Request::decode(&bytes).unwrap_or_else(|e| panic!("{file}: {e}"));
                assert_eq!(got, want, "{file}");
                assert_eq!(got.encode().unwrap(), bytes, "{file}: re-encoded");
                identical += 1;
            }
            Expect::Response(want) => {
                assert_eq!(kind, ChannelKind::Response { uid: None }, "{file}");
                let got = Response::decode(&bytes).unwrap_or_else(|e| panic!("{file}: {e}"));
                assert_eq!(got, want, "{file}");
                assert_eq!(got.encode().unwrap(), bytes, "{file}: re-encoded");
                identical += 1;
            }
        }
    }
    assert_eq!(identical, 46);
}

#[test]
fn what_a_roomcast_node_publishes_is_what_socketio_publishes() {
    // io.to("room1").volatile.compress(false).emit("news", 1), built from
    // parts rather than decoded.
    let mut f = Flags::default();
    f.set("volatile", json!(true));
    f.set("compress", json!(false));
    let m = BroadcastMessage {
        uid: "r5iIKa".into(),
        packet: Packet {
            packet_type: 2,
            nsp: "/".into(),
            id: None,
            args_json: r#"["news",1]"#.into(),
            attachments: vec![],
        },
        opts: BroadcastOpts {
            rooms: s(&["room1"]),
            except: vec![],
            flags: f,
            order: OptsOrder::Adapter,
        },
    };
    assert_eq!(m.encode().unwrap(), fixture("socketio-broadcast-flags.bin"));
    assert!(m.opts.flags.volatile());
    assert_eq!(m.opts.flags.compress(), Some(false));
    assert!(!m.opts.flags.local());
    // Binary arguments: placeholders + attachments become inline bin.
    let m = BroadcastMessage {
        packet: Packet {
            args_json: r#"["bin",{"_placeholder":true,"num":0},{"file":{"_placeholder":true,"num":1},"name":"x"}]"#.into(),
            attachments: vec![Bytes::from_static(&[0, 0xff, 0x10]), Bytes::from_static(&[0xde, 0xad, 0xbe, 0xef])],
            ..m.packet
        },
        opts: BroadcastOpts { flags: Flags::default(), ..m.opts },
        ..m
    };
    assert_eq!(
        m.encode().unwrap(),
        fixture("socketio-broadcast-binary.bin")
    );
    // Answers: the ack of a broadcast, the count, a fetch.
    let r = Response::BroadcastAck {
        request_id: "Trx-kJ".into(),
        packet_json: r#"{"from":"c3","x":{"q":1}}"#.into(),
        attachments: vec![],
    };
    assert_eq!(
        r.encode().unwrap(),
        fixture("socketio-broadcast-with-ack-3.bin")
    );
    let r = Response::ClientCount {
        request_id: "Trx-kJ".into(),
        client_count: 1,
    };
    assert_eq!(
        r.encode().unwrap(),
        fixture("socketio-broadcast-with-ack-2.bin")
    );
}

#[test]
fn the_timeout_flag_of_a_broadcast_with_ack_is_read() {
    let Request::Broadcast { opts, .. } =
        Request::decode(&fixture("socketio-broadcast-with-ack-1.bin")).unwrap()
    else {
        panic!("not a broadcast request");
    };
    assert_eq!(opts.flags.timeout(), Some(1500));
    assert!(!opts.flags.volatile());
}

#[test]
fn sails_requests_and_broadcasts_decode_too() {
    // @sailshq/socket.io-redis 6.1 (notepack 2): same broadcast, requests without uid.
    let m = BroadcastMessage::decode(&fixture("sails-broadcast-omit.bin")).unwrap();
    assert_eq!(m.packet.args_json, r#"["news","not s1"]"#);
    assert_eq!(m.opts.rooms, s(&["room1"]));
    assert_eq!(
        Request::decode(&fixture("sails-join-by-id-2.bin")).unwrap(),
        Request::Sockets {
            uid: None,
            request_id: "e2VR61".into(),
            rooms: s(&["jf2COvAnBWtoTVtUAAAA"])
        }
    );
    for f in [
        "sails-join-by-id-2.bin",
        "sails-join-by-id-3.bin",
        "sails-all-rooms-1.bin",
        "sails-all-rooms-2.bin",
        "sails-fetch-sockets-1.bin",
    ] {
        let b = fixture(f);
        let again = if f.ends_with("-1.bin") || f.ends_with("-2.bin") && f.contains("join") {
            Request::decode(&b).and_then(|r| r.encode())
        } else {
            Response::decode(&b).and_then(|r| r.encode())
        };
        assert_eq!(again.unwrap_or_else(|e| panic!("{f}: {e}")), b, "{f}");
    }
    assert_eq!(
        Response::decode(&fixture("sails-join-by-id-3.bin")).unwrap(),
        Response::Sockets {
            request_id: "e2VR61".into(),
            sockets: s(&["jf2COvAnBWtoTVtUAAAA"])
        }
    );
}
