//! The write operations of the admin HTTP API (docs/ROUTES.md, "Admin HTTP API"): the
//! same actions as the socket routes, acting on socket ids named in the body, with
//! every capability enabled (the bearer token is the admin API's policy).
//!
//! | route | body | core call |
//! |---|---|---|
//! | `POST /api/sockets/join`, `…/leave` | `{socketId \| socketIds, room}` | `join`/`leave`; 404 `E_UNKNOWN_SOCKET` lists ids that are not connected (the others did join) |
//! | `POST /api/sockets/broadcast` | `{rooms, event?, data, omit?}` | `broadcast` |
//! | `POST /api/sockets/blast` | `{event?, data, omit?}` | `blast` |
//! | `POST /api/sockets/emit` | `{socketIds, event?, data}` | `emit`; any unknown id: 404, nothing sent |
//! | `POST /api/sockets/leave-all` | `{room, includeSocketRooms?, includeSourceRoom?}` | `leaveAll` |
//! | `POST /api/sockets/add-room-members-to-rooms`, `remove-…` | `{sourceRoom, destRooms}` | room to rooms |
//! | `POST /api/pubsub/:model/{subscribe,unsubscribe}` | `{socketId, ids}` | `Model.subscribe` |
//! | `POST /api/pubsub/:model/{watch,unwatch}` | `{socketId}` | watch |
//! | `POST /api/pubsub/:model/message` | `{id, data, omit?}` | `Model.message` |
//! | `POST /api/pubsub/:model/publish` | `{ids, data, omit?}` | `Model.publish` |
//! | `POST /api/pubsub/:model/created` | `{id, data, omit?}` | `Model.created` |
//! | `POST /api/pubsub/:model/updated` | `{id, data, previous?, omit?}` | `Model.updated` |
//! | `POST /api/pubsub/:model/destroyed` | `{id, previous?, omit?}` | `Model.destroyed` |
//! | `POST /api/pubsub/:model/added-to` | `{id, attribute, addedId, omit?}` | `Model.addedTo` |
//! | `POST /api/pubsub/:model/removed-from` | `{id, attribute, removedId, omit?}` | `Model.removedFrom` |
//!
//! `omit` is a socket id. The read-only `GET /api/rooms/:room` and
//! `GET /api/sockets/:id` need every shard (or another shard) and are answered
//! by the runtime without blocking a worker.

use std::sync::Arc;

use super::builtin::{self, model, omit, record_id, Caller, Fields, Outcome, Rules};
use super::policy::Policy;
use super::table::{Context, Router};
use crate::protocol::sio::{Method, Request};

impl Router {
    /// A router with the write routes of the admin HTTP API (`POST /api/sockets/…`,
    /// `POST /api/pubsub/:model/…`; see `docs/ROUTES.md`): the socket routes'
    /// actions with every capability enabled, acting on the socket ids named in
    /// the body (`socketId`, `socketIds`, `omit`). Dispatch them with a
    /// [`Context`] whose `socket` is `None`. The runtime calls them only after
    /// checking the bearer token.
    #[must_use]
    pub fn admin_routes() -> Router {
        let mut router = Router::new();
        register(&mut router);
        router
    }
}

/// What the record notifications send.
#[derive(Clone, Copy)]
enum Notice {
    Created,
    Updated,
    Destroyed,
    AddedTo,
    RemovedFrom,
}

fn notify(ctx: &mut Context<'_>, req: &Request, notice: Notice) -> Outcome {
    let f = Fields::of(req)?;
    let id = record_id(&f, "id")?;
    let leave_out = omit(ctx, &f, Caller::Admin)?;
    let previous = f.get("previous");
    match notice {
        Notice::Created => model(ctx, req)?.created(&id, f.data()?, leave_out)?,
        Notice::Updated => model(ctx, req)?.updated(&id, f.data()?, previous, leave_out)?,
        Notice::Destroyed => model(ctx, req)?.destroyed(&id, previous, leave_out)?,
        Notice::AddedTo | Notice::RemovedFrom => {
            let attribute = f.string("attribute")?;
            let attribute = attribute.as_str();
            let other_key = if matches!(notice, Notice::AddedTo) {
                "addedId"
            } else {
                "removedId"
            };
            let other = record_id(&f, other_key)?;
            let mut m = model(ctx, req)?;
            if matches!(notice, Notice::AddedTo) {
                m.added_to(&id, attribute, &other, leave_out)?;
            } else {
                m.removed_from(&id, attribute, &other, leave_out)?;
            }
        }
    }
    builtin::ok()
}

/// Registers every admin write route on `router`.
pub(super) fn register(router: &mut Router) {
    // The bearer token is the admin API's policy; its requests are bounded by
    // the body size only.
    let open = Arc::new(Rules {
        policy: Policy::open(),
        max_rooms_per_op: usize::MAX,
        node_name: String::new(),
    });
    let add = |router: &mut Router,
               pattern: &str,
               f: fn(&Rules, &mut Context<'_>, &Request) -> Outcome| {
        let p = Arc::clone(&open);
        router.route(Method::Post, pattern, move |ctx, req| {
            f(&p, ctx, req).unwrap_or_else(|e| e)
        });
    };
    add(router, "/api/sockets/join", |p, c, r| {
        builtin::join(p, c, r, true, Caller::Admin)
    });
    add(router, "/api/sockets/leave", |p, c, r| {
        builtin::join(p, c, r, false, Caller::Admin)
    });
    add(router, "/api/sockets/broadcast", |p, c, r| {
        builtin::broadcast(p, c, r, Caller::Admin)
    });
    add(router, "/api/sockets/blast", |p, c, r| {
        builtin::blast(p, c, r, Caller::Admin)
    });
    add(router, "/api/sockets/emit", builtin::emit);
    add(router, "/api/sockets/leave-all", builtin::leave_all);
    add(
        router,
        "/api/sockets/add-room-members-to-rooms",
        |p, c, r| builtin::room_to_rooms(p, c, r, true),
    );
    add(
        router,
        "/api/sockets/remove-room-members-from-rooms",
        |p, c, r| builtin::room_to_rooms(p, c, r, false),
    );
    add(router, "/api/pubsub/:model/subscribe", |p, c, r| {
        builtin::subscribe(p, c, r, true)
    });
    add(router, "/api/pubsub/:model/unsubscribe", |p, c, r| {
        builtin::subscribe(p, c, r, false)
    });
    add(router, "/api/pubsub/:model/watch", |p, c, r| {
        builtin::watch(p, c, r, true)
    });
    add(router, "/api/pubsub/:model/unwatch", |p, c, r| {
        builtin::watch(p, c, r, false)
    });
    add(router, "/api/pubsub/:model/message", |p, c, r| {
        builtin::message(p, c, r, Caller::Admin)
    });
    add(router, "/api/pubsub/:model/publish", |p, c, r| {
        builtin::publish(p, c, r, Caller::Admin)
    });
    add(router, "/api/pubsub/:model/created", |_, c, r| {
        notify(c, r, Notice::Created)
    });
    add(router, "/api/pubsub/:model/updated", |_, c, r| {
        notify(c, r, Notice::Updated)
    });
    add(router, "/api/pubsub/:model/destroyed", |_, c, r| {
        notify(c, r, Notice::Destroyed)
    });
    add(router, "/api/pubsub/:model/added-to", |_, c, r| {
        notify(c, r, Notice::AddedTo)
    });
    add(router, "/api/pubsub/:model/removed-from", |_, c, r| {
        notify(c, r, Notice::RemovedFrom)
    });
}
