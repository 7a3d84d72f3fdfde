//! [`Router`]: the route table — method + path pattern → [`Action`] — and the
//! [`Context`] an action runs with.

use std::fmt;
use std::sync::Arc;

use crate::access::RoomPattern;
use crate::protocol::sio::{Method, Request, Response};

// ----- the router ----------------------------------------------------------------

/// What an action gets besides the request: the worker's own shard (operations on
/// it apply this shard's part at once) and the requesting socket (Sails'
/// `req.socket`; `None` for a request that did not come from a socket).
///
/// An action that must wait for something before it can answer (another node
/// of a cluster confirming an operation) calls [`defer`](Context::defer),
/// returns any response (it is not sent), and sends the real one through the
/// [`Later`] when it is ready. The request's connection is never blocked
/// meanwhile; answers to later requests may overtake it.
pub struct Context<'a> {
    /// The shard of the worker thread running the action.
    pub shard: &'a mut roomcast::Shard,
    /// The socket that sent the request, if any.
    pub socket: Option<roomcast::SocketId>,
    later: Option<&'a dyn Fn() -> Later>,
    deferred: bool,
    /// The rooms the requester's token lets it join itself (`None`: any).
    room_grant: Option<&'a [RoomPattern]>,
    room_refused: bool,
}

impl fmt::Debug for Context<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context")
            .field("shard", &self.shard)
            .field("socket", &self.socket)
            .field("can_defer", &self.later.is_some())
            .field("deferred", &self.deferred)
            .finish()
    }
}

impl<'a> Context<'a> {
    /// A context for a request from `socket` handled on `shard`.
    pub fn new(shard: &'a mut roomcast::Shard, socket: Option<roomcast::SocketId>) -> Context<'a> {
        Context {
            shard,
            socket,
            later: None,
            deferred: false,
            room_grant: None,
            room_refused: false,
        }
    }

    /// This context, for a requester whose token limits the rooms it may join
    /// itself to those `patterns` match (`None`: no such limit).
    #[must_use]
    pub fn with_room_grant(mut self, patterns: Option<&'a [RoomPattern]>) -> Context<'a> {
        self.room_grant = patterns;
        self
    }

    /// Whether the requester may join `room` as far as its token goes (the
    /// policy is checked apart): a 403 naming the claim if not.
    ///
    /// # Errors
    ///
    /// 403 `E_FORBIDDEN`.
    pub fn check_may_join(&mut self, room: &str) -> Result<(), Response> {
        let allowed = self
            .room_grant
            .is_none_or(|p| crate::access::room_pattern::any_matches(p, room));
        if allowed {
            return Ok(());
        }
        self.room_refused = true;
        Err(Response::forbidden(&format!(
            "this socket's token does not allow joining room {room:?} (its `rooms` claim)"
        )))
    }

    /// Whether a join was refused by the requester's token (for the metrics).
    #[must_use]
    pub fn room_refused(&self) -> bool {
        self.room_refused
    }

    /// This context, able to answer later through what `later` makes.
    #[must_use]
    pub fn with_later(mut self, later: &'a dyn Fn() -> Later) -> Context<'a> {
        self.later = Some(later);
        self
    }

    /// Takes the answer out of the action's hands: the response the action
    /// returns is dropped, and the one sent through the returned [`Later`] is
    /// the answer. `None` if this context cannot answer later (then answer now).
    pub fn defer(&mut self) -> Option<Later> {
        let make = self.later?;
        self.deferred = true;
        Some(make())
    }

    /// Whether the action deferred its answer.
    #[must_use]
    pub fn is_deferred(&self) -> bool {
        self.deferred
    }
}

/// Sends a deferred answer (see [`Context::defer`]); dropping it without
/// sending leaves the request unanswered.
pub struct Later {
    send: Box<dyn FnOnce(Response) + Send>,
}

impl fmt::Debug for Later {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Later")
    }
}

impl Later {
    /// A `Later` that answers with `send`.
    pub fn new(send: impl FnOnce(Response) + Send + 'static) -> Later {
        Later {
            send: Box::new(send),
        }
    }

    /// Sends the answer (from any thread).
    pub fn send(self, response: Response) {
        (self.send)(response);
    }
}

/// A route's action (a Sails controller action): reads the request, drives the
/// engine through the context, answers.
pub type Action = dyn Fn(&mut Context<'_>, &Request) -> Response + Send + Sync;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Param(String),
}

impl Segment {
    fn same_shape(&self, other: &Segment) -> bool {
        match (self, other) {
            (Segment::Literal(a), Segment::Literal(b)) => a.eq_ignore_ascii_case(b),
            (Segment::Param(_), Segment::Param(_)) => true,
            _ => false,
        }
    }
}

#[derive(Clone)]
struct Route {
    method: Method,
    pattern: String,
    segments: Vec<Segment>,
    action: Arc<Action>,
}

/// Path segments after the leading `/`, one trailing `/` ignored (`"/"` has none).
fn path_segments(path: &str) -> Vec<&str> {
    let rest = path.strip_prefix('/').unwrap_or(path);
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if rest.is_empty() {
        Vec::new()
    } else {
        rest.split('/').collect()
    }
}

/// The route table: method + path pattern → [`Action`]. Cheap to clone (the
/// actions are shared), `Send + Sync`: build it once, hand a clone to each worker.
/// See the [module docs](self) for matching rules.
#[derive(Clone, Default)]
pub struct Router {
    routes: Vec<Route>,
}

impl fmt::Debug for Router {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(
                self.routes
                    .iter()
                    .map(|r| format!("{} {}", r.method, r.pattern)),
            )
            .finish()
    }
}

impl Router {
    /// An empty router: every request gets 404 `E_NOT_FOUND`.
    #[must_use]
    pub fn new() -> Router {
        Router::default()
    }

    /// Registers `action` for `method` and `pattern` (`/`-separated segments, a
    /// segment `:name` matching any non-empty segment and captured as param
    /// `name`). A route of the same method and pattern shape (same literals, params
    /// in the same places, whatever their names) registered earlier is replaced:
    /// that is how an application overrides a built-in route.
    ///
    /// # Panics
    ///
    /// If `pattern` does not start with `/` or has a `:` segment with no name (a
    /// programming error in the route table).
    pub fn route(
        &mut self,
        method: Method,
        pattern: &str,
        action: impl Fn(&mut Context<'_>, &Request) -> Response + Send + Sync + 'static,
    ) -> &mut Self {
        assert!(
            pattern.starts_with('/'),
            "route pattern {pattern:?} must start with '/'"
        );
        let segments: Vec<Segment> = path_segments(pattern)
            .into_iter()
            .map(|s| match s.strip_prefix(':') {
                Some(name) => {
                    assert!(
                        !name.is_empty(),
                        "route pattern {pattern:?} has an unnamed ':' segment"
                    );
                    Segment::Param(name.to_owned())
                }
                None => Segment::Literal(s.to_owned()),
            })
            .collect();
        let route = Route {
            method,
            pattern: pattern.to_owned(),
            segments,
            action: Arc::new(action),
        };
        self.routes.retain(|r| {
            !(r.method == method
                && r.segments.len() == route.segments.len()
                && r.segments
                    .iter()
                    .zip(&route.segments)
                    .all(|(a, b)| a.same_shape(b)))
        });
        self.routes.push(route);
        self
    }

    /// The registered routes as `(method, pattern)`, in registration order.
    pub fn routes(&self) -> impl Iterator<Item = (Method, &str)> + '_ {
        self.routes.iter().map(|r| (r.method, r.pattern.as_str()))
    }

    /// Runs the action of the route matching `req` (see the [module docs](self)
    /// for the rules), with [`params`](Request::params) filled from the pattern.
    /// No match — including a known path with another method — answers 404
    /// `E_NOT_FOUND`.
    pub fn dispatch(&self, ctx: &mut Context<'_>, mut req: Request) -> Response {
        let segs = path_segments(&req.path);
        let mut best: Option<(&Route, Vec<bool>)> = None;
        for route in &self.routes {
            if route.method != req.method || route.segments.len() != segs.len() {
                continue;
            }
            let matches = route.segments.iter().zip(&segs).all(|(p, s)| match p {
                Segment::Literal(l) => l.eq_ignore_ascii_case(s),
                Segment::Param(_) => !s.is_empty(),
            });
            if !matches {
                continue;
            }
            let rank: Vec<bool> = route
                .segments
                .iter()
                .map(|s| matches!(s, Segment::Literal(_)))
                .collect();
            // `>=`: among equally specific routes the last registered wins.
            if best.as_ref().is_none_or(|(_, b)| rank >= *b) {
                best = Some((route, rank));
            }
        }
        let Some((route, _)) = best else {
            return Response::not_found(&format!("no route for {} {}", req.method, req.path));
        };
        req.params = route
            .segments
            .iter()
            .zip(&segs)
            .filter_map(|(p, s)| match p {
                Segment::Param(name) => Some((name.clone(), (*s).to_owned())),
                Segment::Literal(_) => None,
            })
            .collect();
        (route.action)(ctx, &req)
    }
}
