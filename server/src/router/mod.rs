//! Routing virtual requests (sails.io.js's `io.socket.get/post/…` calls, parsed by
//! [`protocol::sio::virtual_request`](crate::protocol::sio::virtual_request)) and
//! admin API calls to actions that drive the core engine. Sans-IO: no sockets, no
//! mio — the runtime hands in a request and gets back the response to ack.
//!
//! * [`table`]: the route table ([`Router`]) and the [`Context`] actions run with;
//! * [`policy`]: which built-in routes clients may call ([`Policy`]);
//! * `builtin.rs`: the socket routes of `docs/ROUTES.md` and
//!   [`Router::with_builtin_routes`];
//! * `admin.rs`: the admin API's write routes and [`Router::admin_routes`];
//! * `core_error.rs`: how core errors answer ([`Response::from_core_error`]).
//!
//! # From an event to a route
//!
//! sails.io.js sends a request as a socket.io event named after the HTTP method
//! (`get`, `post`, `put`, `patch`, `delete`, `options`, `head`) whose one argument is
//! `{"method", "url", "data", "headers"}`, with an ack id:
//!
//! ```text
//! 421["post",{"method":"post","url":"/sockets/join?x=1","data":{"room":"chat"},"headers":{}}]
//! ```
//!
//! 1. [`parse_virtual_request`] turns the event name and the raw JSON array of its
//!    arguments into a [`Request`]: the method comes from the **event name** (as in
//!    sails.io.js and Sails; the `method` field is ignored), `url` must be a string
//!    starting with `/`; it is split into the percent-decoded [`path`](Request::path)
//!    and the [`query`](Request::query) pairs (query parameters are *not* merged into
//!    the body); `data` becomes the [`body`](Request::body) as is (`null` when
//!    absent); `headers` must be an object if present. Anything else is an `Err`
//!    holding the 400 `E_BAD_REQUEST` [`Response`] to ack with. It never panics.
//! 2. [`Router::dispatch`] finds the route for the method and path, fills
//!    [`params`](Request::params) from the pattern's `:name` segments, and calls
//!    the action with a [`Context`]: the worker's own [`Shard`](roomcast::Shard)
//!    and the requesting socket. No route → 404 `E_NOT_FOUND` (also for a known path
//!    with another method).
//! 3. [`ack_payload`] renders the response as the ack's argument array, exactly
//!    `[{"body":<body>,"headers":{…},"statusCode":<n>}]`; the runtime wraps it in a
//!    `43<id>` packet.
//!
//! Route matching follows Express's defaults, which Sails uses: literal segments
//! match ASCII-case-insensitively and one trailing `/` is ignored. Matching runs
//! on the decoded [`path`](Request::path), so an encoded `/` (`%2F`) separates
//! segments like a plain one; a `:param` never matches an empty segment. When
//! several patterns match, the more specific wins (a literal segment beats a
//! `:param`, compared left to right), and between equally specific patterns the
//! one registered last wins — so an application's routes override the built-ins,
//! and registering the same method and pattern shape again replaces the earlier
//! action.
//!
//! # Ordering
//!
//! Actions run on the shard's own thread and the [`Shard`](roomcast::Shard)
//! methods apply the shard's part at once, so frames an action sends (a broadcast
//! reaching the requester, say) are queued before the ack the runtime queues with
//! `shard.send(id, ack)` after `dispatch` returns — the order Sails clients see.
//!
//! # Built-in routes and policy
//!
//! [`Router::with_builtin_routes`] registers every row of docs/ROUTES.md's socket table
//! (`GET /sockets/id`, `POST /sockets/…`, `POST /pubsub/:model/…`), gated by a
//! [`Policy`] (see its docs for the table of capabilities and their defaults).
//! Bodies and errors:
//!
//! | status | body |
//! |---|---|
//! | 200 | `{"ok":true}`, or `{"id":"<socket id>"}` for `GET /sockets/id` |
//! | 400 | `{"error":"E_BAD_REQUEST","message":…}`: missing or wrongly typed field, bad room name, reserved event name, malformed id, a route that needs a requesting socket called without one |
//! | 403 | `{"error":"E_FORBIDDEN","message":…}`: refused by the policy, nothing changed |
//! | 404 | `{"error":"E_NOT_FOUND","message":…}`: no such route |
//! | 404 | `{"error":"E_UNKNOWN_SOCKET","message":…,"unknown":[ids]}`: `emit` to an unknown id (nothing sent), `join`/`leave`/pub/sub with an unknown `socketId` |
//! | 500 | `{"error":"E_INTERNAL","message":…}`: an engine error that is not the client's fault |
//!
//! # Example
//!
//! ```
//! use roomcast::{Engine, EngineConfig, MemoryWriter, wire::split_frames};
//! use roomcast_server::router::{ack_payload, parse_virtual_request, Context, Policy, Router};
//!
//! let (_engine, mut shards) = Engine::new(EngineConfig::default());
//! let shard = &mut shards[0];
//! let me = shard.connect().unwrap();
//! let router = Router::with_builtin_routes(Policy::default());
//!
//! for (event, args) in [
//!     ("post", r#"[{"url":"/sockets/join","data":{"room":"chat"}}]"#),
//!     ("post", r#"[{"url":"/sockets/broadcast","data":{"rooms":"chat","data":{"hi":1}}}]"#),
//! ] {
//!     let req = parse_virtual_request(event, args).unwrap();
//!     let resp = router.dispatch(&mut Context::new(shard, Some(me)), req);
//!     assert_eq!(ack_payload(&resp), r#"[{"body":{"ok":true},"headers":{},"statusCode":200}]"#);
//! }
//! let mut out = MemoryWriter::default();
//! shard.process_ops();
//! shard.drain(&mut out);
//! assert_eq!(split_frames(out.received(me)), [r#"42["message",{"hi":1}]"#]);
//!
//! let bad = parse_virtual_request("post", r#"[{"url":"sockets/join"}]"#).unwrap_err();
//! assert_eq!(bad.status, 400);
//! ```

mod admin;
mod builtin;
mod core_error;
pub mod policy;
pub mod table;

pub use crate::protocol::sio::{ack_payload, parse_virtual_request, Method, Request, Response};
pub use builtin::{Rules, DEFAULT_MAX_ROOMS_PER_OP};
pub use policy::{Policy, MODEL_ROOM_PREFIX};
pub use table::{Action, Context, Later, Router};
