//! `parse_virtual_request` on well-formed and malformed input, and `ack_payload`
//! byte for byte.

use roomcast_server::router::{ack_payload, parse_virtual_request, Method, Request, Response};
use serde_json::json;

#[track_caller]
fn rejects(event: &str, args: &str, needle: &str) {
    let resp = parse_virtual_request(event, args).expect_err("must be refused");
    assert_eq!(resp.status, 400, "{event} {args}");
    assert_eq!(resp.body["error"], json!("E_BAD_REQUEST"));
    let msg = resp.body["message"].as_str().unwrap();
    assert!(
        msg.contains(needle),
        "{event} {args}: {msg:?} lacks {needle:?}"
    );
    assert_eq!(resp.body.as_object().unwrap().len(), 2);
}

#[test]
fn parses_a_sails_io_request() {
    let req = parse_virtual_request(
        "post",
        r#"[{"method":"post","url":"/sockets/join?x=1&y=a%20b&flag&z=c+d","data":{"room":"chat","b":1,"a":2},"headers":{"X-Foo":"bar"}}]"#,
    )
    .unwrap();
    assert_eq!(req.method, Method::Post);
    assert_eq!(req.url, "/sockets/join?x=1&y=a%20b&flag&z=c+d");
    assert_eq!(req.path, "/sockets/join");
    let q: Vec<(&str, &str)> = req
        .query
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(q, [("x", "1"), ("y", "a b"), ("flag", ""), ("z", "c d")]);
    assert_eq!(req.query_value("y"), Some("a b"));
    assert!(req.params.is_empty());
    // The body is `data` as sent, key order kept; the query is not merged in.
    assert_eq!(
        serde_json::to_string(&req.body).unwrap(),
        r#"{"room":"chat","b":1,"a":2}"#
    );
    assert_eq!(req.header("x-foo"), Some(&json!("bar")));
    assert_eq!(req.headers.len(), 1);
}

#[test]
fn minimal_and_lenient_forms() {
    // No data, no headers, no method: a null body and empty headers.
    let req = parse_virtual_request("get", r#"[{"url":"/sockets/id"}]"#).unwrap();
    assert_eq!(
        (req.method, req.path.as_str()),
        (Method::Get, "/sockets/id")
    );
    assert_eq!(req.body, serde_json::Value::Null);
    assert!(req.headers.is_empty() && req.query.is_empty());
    // A method field disagreeing with the event (or not a string): the event wins.
    for m in [r#""get""#, "7", "null", r#""DELETE""#] {
        let req =
            parse_virtual_request("put", &format!(r#"[{{"method":{m},"url":"/a"}}]"#)).unwrap();
        assert_eq!(req.method, Method::Put);
    }
    // headers: null is no headers; extra arguments after the request are ignored.
    let req = parse_virtual_request(
        "delete",
        r#"[{"url":"/a","headers":null,"data":[1,2]}, "extra", 3]"#,
    )
    .unwrap();
    assert_eq!(req.body, json!([1, 2]));
    // data of any JSON type, kept as is.
    for data in ["1", "\"s\"", "true", "null", "[]", "{}", "1.50"] {
        let req =
            parse_virtual_request("patch", &format!(r#"[{{"url":"/a","data":{data}}}]"#)).unwrap();
        assert_eq!(
            req.body,
            serde_json::from_str::<serde_json::Value>(data).unwrap()
        );
    }
    // Percent-decoding of the path; the fragment is dropped.
    let req = parse_virtual_request(
        "get",
        r#"[{"url":"/pubsub/us%65r/watch/caf%C3%A9?q=%zz#frag"}]"#,
    )
    .unwrap();
    assert_eq!(req.path, "/pubsub/user/watch/café");
    assert_eq!(
        req.query,
        [("q".to_owned(), "%zz".to_owned())],
        "malformed query escapes are kept"
    );
    for (event, m) in [
        ("get", Method::Get),
        ("post", Method::Post),
        ("put", Method::Put),
        ("patch", Method::Patch),
        ("delete", Method::Delete),
        ("options", Method::Options),
        ("head", Method::Head),
    ] {
        assert_eq!(Method::from_event(event), Some(m));
        assert_eq!(m.event_name(), event);
        assert_eq!(m.as_str(), event.to_uppercase());
        assert_eq!(
            parse_virtual_request(event, r#"[{"url":"/"}]"#)
                .unwrap()
                .method,
            m
        );
    }
    assert_eq!(Method::from_event("GET"), None);
    assert_eq!(Method::from_event("message"), None);
}

#[test]
fn malformed_requests_are_400_with_a_reason() {
    rejects(
        "message",
        r#"[{"url":"/a"}]"#,
        "not a virtual request event",
    );
    rejects("GET", r#"[{"url":"/a"}]"#, "not a virtual request event");
    rejects("post", "", "not valid JSON");
    rejects("post", "[{", "not valid JSON");
    rejects("post", r#"[{"url":"/a"}] x"#, "not valid JSON");
    rejects("post", "\u{0}", "not valid JSON");
    rejects(
        "post",
        r#"{"url":"/a"}"#,
        "must be a JSON array, got an object",
    );
    rejects("post", r#""/a""#, "must be a JSON array, got a string");
    rejects("post", "null", "must be a JSON array, got null");
    rejects("post", "[]", "missing the request object");
    rejects("post", "[1]", "must be a JSON object");
    rejects("post", r#"["/a"]"#, "got a string");
    rejects("post", "[null]", "got null");
    rejects("post", "[[]]", "got an array");
    rejects("post", "[{}]", "no `url`");
    rejects("post", r#"[{"url":null}]"#, "no `url`");
    rejects("post", r#"[{"data":{"url":"/a"}}]"#, "no `url`");
    rejects(
        "post",
        r#"[{"url":42}]"#,
        "`url` must be a string, got a number",
    );
    rejects(
        "post",
        r#"[{"url":["/a"]}]"#,
        "`url` must be a string, got an array",
    );
    rejects("post", r#"[{"url":"sockets/join"}]"#, "must start with '/'");
    rejects("post", r#"[{"url":""}]"#, "must start with '/'");
    rejects(
        "post",
        r#"[{"url":"http://x/sockets/join"}]"#,
        "must start with '/'",
    );
    rejects("post", r#"[{"url":"/a%zz"}]"#, "malformed percent-encoding");
    rejects("post", r#"[{"url":"/a%"}]"#, "malformed percent-encoding");
    rejects("post", r#"[{"url":"/a%ff"}]"#, "malformed percent-encoding");
    rejects(
        "post",
        r#"[{"url":"/a","headers":"x"}]"#,
        "`headers` must be an object, got a string",
    );
    rejects(
        "post",
        r#"[{"url":"/a","headers":[]}]"#,
        "`headers` must be an object, got an array",
    );
    // Deep nesting is refused by the JSON parser's recursion limit, not a stack overflow.
    let deep = format!(
        "[{{\"url\":\"/a\",\"data\":{}{}}}]",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    rejects("post", &deep, "not valid JSON");
}

#[test]
fn request_new_builds_requests_by_hand() {
    let req = Request::new(Method::Post, "/x/y%2Fz?a=1")
        .unwrap()
        .with_body(json!({"k": 1}));
    assert_eq!(req.path, "/x/y/z");
    assert_eq!(req.query_value("a"), Some("1"));
    assert_eq!(req.body, json!({"k": 1}));
    assert_eq!(Request::new(Method::Get, "x").unwrap_err().status, 400);
}

#[test]
fn ack_payload_is_byte_exact() {
    assert_eq!(
        ack_payload(&Response::ok(json!({"ok": true}))),
        r#"[{"body":{"ok":true},"headers":{},"statusCode":200}]"#
    );
    assert_eq!(
        ack_payload(&Response::ok(json!({"id": "AAAAAAAAAAAAAAAAAAAAAAAB"}))),
        r#"[{"body":{"id":"AAAAAAAAAAAAAAAAAAAAAAAB"},"headers":{},"statusCode":200}]"#
    );
    assert_eq!(
        ack_payload(&Response::error(400, "E_BAD_REQUEST", "missing `room`")),
        r#"[{"body":{"error":"E_BAD_REQUEST","message":"missing `room`"},"headers":{},"statusCode":400}]"#
    );
    assert_eq!(
        ack_payload(&Response::forbidden("no")),
        r#"[{"body":{"error":"E_FORBIDDEN","message":"no"},"headers":{},"statusCode":403}]"#
    );
    assert_eq!(
        ack_payload(&Response::not_found("no route for GET /x")),
        r#"[{"body":{"error":"E_NOT_FOUND","message":"no route for GET /x"},"headers":{},"statusCode":404}]"#
    );
    assert_eq!(
        ack_payload(&Response::unknown_sockets(&["a", "b"])),
        r#"[{"body":{"error":"E_UNKNOWN_SOCKET","message":"no such socket: a, b","unknown":["a","b"]},"headers":{},"statusCode":404}]"#
    );
    // Body key order is kept, strings escaped, null bodies allowed; headers in order,
    // a repeated name keeps its first place and takes the last value.
    let mut r = Response::json(201, json!({"z": "\"q\"\n", "a": [1.5, null]}));
    r.headers = vec![
        ("x-b".into(), "1".into()),
        ("content-type".into(), "application/json".into()),
        ("x-b".into(), "2".into()),
    ];
    assert_eq!(
        ack_payload(&r),
        r#"[{"body":{"z":"\"q\"\n","a":[1.5,null]},"headers":{"x-b":"2","content-type":"application/json"},"statusCode":201}]"#
    );
    assert_eq!(
        ack_payload(&Response::json(204, serde_json::Value::Null)),
        r#"[{"body":null,"headers":{},"statusCode":204}]"#
    );
    // A parse error acks as a 400.
    let err = parse_virtual_request("post", "[]").unwrap_err();
    assert_eq!(
        ack_payload(&err),
        r#"[{"body":{"error":"E_BAD_REQUEST","message":"missing the request object {\"method\",\"url\",\"data\",\"headers\"}"},"headers":{},"statusCode":400}]"#
    );
}

#[test]
fn core_errors_map_to_statuses() {
    use roomcast::Error as E;
    let cases = [
        (
            E::InvalidRoomName { len: 0, max: 256 },
            400,
            "E_BAD_REQUEST",
        ),
        (E::MalformedSocketId("x".into()), 400, "E_BAD_REQUEST"),
        (E::ReservedEvent("connect".into()), 400, "E_BAD_REQUEST"),
        (E::InvalidRecordId("\"\"".into()), 400, "E_BAD_REQUEST"),
        (E::InvalidIdentity("".into()), 400, "E_BAD_REQUEST"),
        (E::InvalidNamespace("x".into()), 400, "E_BAD_REQUEST"),
        (E::UnknownSockets(vec!["s".into()]), 404, "E_UNKNOWN_SOCKET"),
        (E::Serialize("x".into()), 500, "E_INTERNAL"),
        (E::ShardFull(0), 500, "E_INTERNAL"),
        (E::ShardGone(3), 500, "E_INTERNAL"),
    ];
    for (err, status, code) in cases {
        let r = Response::from(err.clone());
        assert_eq!(
            (r.status, r.body["error"].as_str().unwrap()),
            (status, code),
            "{err:?}"
        );
        assert_eq!(r.body["message"], json!(err.to_string()));
    }
}
