//! [`Pending`]: requests this node sent and whose answers it waits for — a
//! query's parts from other nodes, an owner's confirmation of a forwarded op.
//! Sans-IO: answers, deaths and the clock in; completions out (to run once the
//! caller released its lock).
//!
//! Every request ends exactly once: answered, its node dead (a query then lists
//! it as missing; a confirmation reports the ids as unknown — that node's
//! sockets are gone), or at its deadline (missing; a confirmation fails with
//! `ClusterUnavailable`).

use std::collections::HashMap;

use roomcast::adapter::{ForwardDone, RemoteDone};
use roomcast::{Answer, Error, NodeId, Query, RemoteAnswer, SocketId};

/// Work to run after the lock is released.
pub(crate) type Completion = Box<dyn FnOnce() + Send>;

enum Waiting {
    Query {
        query: Query,
        /// Nodes not answered yet, with their names.
        expect: Vec<(NodeId, String)>,
        merged: Option<Answer>,
        done: RemoteDone,
    },
    Confirm {
        node: NodeId,
        ids: Vec<SocketId>,
        done: ForwardDone,
    },
}

struct Request {
    waiting: Waiting,
    sent: u64,
    deadline: u64,
}

/// See the [module docs](self).
#[derive(Default)]
pub(crate) struct Pending {
    next: u64,
    requests: HashMap<u64, Request>,
}

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pending")
            .field("requests", &self.requests.len())
            .finish()
    }
}

impl Pending {
    fn add(&mut self, waiting: Waiting, now: u64, timeout_ms: u64) -> u64 {
        self.next += 1;
        self.requests.insert(
            self.next,
            Request {
                waiting,
                sent: now,
                deadline: now + timeout_ms,
            },
        );
        self.next
    }

    /// A query sent to `expect` (node and name); returns its request number.
    pub(crate) fn query(
        &mut self,
        query: Query,
        expect: Vec<(NodeId, String)>,
        done: RemoteDone,
        now: u64,
        timeout_ms: u64,
    ) -> u64 {
        self.add(
            Waiting::Query {
                query,
                expect,
                merged: None,
                done,
            },
            now,
            timeout_ms,
        )
    }

    /// An op on `ids` forwarded to `node` for confirmation.
    pub(crate) fn confirm(
        &mut self,
        node: NodeId,
        ids: Vec<SocketId>,
        done: ForwardDone,
        now: u64,
        timeout_ms: u64,
    ) -> u64 {
        self.add(Waiting::Confirm { node, ids, done }, now, timeout_ms)
    }

    /// Requests waiting.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.requests.len()
    }

    /// `from`'s part of query `req`. Returns the round trip (ms) and the
    /// completion if that was the last part.
    pub(crate) fn answer(
        &mut self,
        req: u64,
        from: NodeId,
        part: Answer,
        now: u64,
    ) -> Option<(u64, Option<Completion>)> {
        let r = self.requests.get_mut(&req)?;
        let rtt = now.saturating_sub(r.sent);
        let Waiting::Query {
            query,
            expect,
            merged,
            ..
        } = &mut r.waiting
        else {
            return None;
        };
        let i = expect.iter().position(|(n, _)| *n == from)?;
        expect.swap_remove(i);
        match merged {
            Some(m) => m.merge(part, query),
            None => *merged = Some(part),
        }
        let last = expect.is_empty();
        Some((rtt, last.then(|| self.finish(req)).flatten()))
    }

    /// `from` confirmed op `req`; `unknown` ids are not connected there.
    pub(crate) fn confirmed(
        &mut self,
        req: u64,
        from: NodeId,
        unknown: Vec<SocketId>,
        now: u64,
    ) -> Option<(u64, Completion)> {
        let r = self.requests.get(&req)?;
        if !matches!(&r.waiting, Waiting::Confirm { node, .. } if *node == from) {
            return None;
        }
        let rtt = now.saturating_sub(r.sent);
        let r = self.requests.remove(&req)?;
        let Waiting::Confirm { done, .. } = r.waiting else {
            return None;
        };
        Some((rtt, Box::new(move || done(Ok(unknown)))))
    }

    /// `node` left the cluster: nothing more will come from it.
    pub(crate) fn node_gone(&mut self, node: NodeId) -> Vec<Completion> {
        let mut out = Vec::new();
        let reqs: Vec<u64> = self.requests.keys().copied().collect();
        for req in reqs {
            let r = self.requests.get_mut(&req).expect("listed");
            match &mut r.waiting {
                Waiting::Query { expect, .. } => {
                    if let Some(i) = expect.iter().position(|(n, _)| *n == node) {
                        // Its sockets are gone with it: nothing is missing.
                        expect.swap_remove(i);
                        if expect.is_empty() {
                            out.extend(self.finish(req));
                        }
                    }
                }
                Waiting::Confirm { node: n, .. } if *n == node => {
                    if let Some(Request {
                        waiting: Waiting::Confirm { ids, done, .. },
                        ..
                    }) = self.requests.remove(&req)
                    {
                        out.push(Box::new(move || done(Ok(ids))));
                    }
                }
                Waiting::Confirm { .. } => {}
            }
        }
        out
    }

    /// Requests past their deadline end now.
    pub(crate) fn sweep(&mut self, now: u64) -> Vec<Completion> {
        let late: Vec<u64> = self
            .requests
            .iter()
            .filter(|(_, r)| r.deadline <= now)
            .map(|(k, _)| *k)
            .collect();
        late.into_iter()
            .filter_map(|req| self.finish(req))
            .collect()
    }

    /// Ends every request now (shutdown).
    pub(crate) fn drain(&mut self) -> Vec<Completion> {
        let all: Vec<u64> = self.requests.keys().copied().collect();
        all.into_iter().filter_map(|req| self.finish(req)).collect()
    }

    /// Ends `req` now, as at its deadline.
    pub(crate) fn end(&mut self, req: u64) -> Option<Completion> {
        self.finish(req)
    }

    /// Ends `req` with what it has: a query's missing nodes are those that
    /// did not answer; a confirmation not given fails.
    fn finish(&mut self, req: u64) -> Option<Completion> {
        let r = self.requests.remove(&req)?;
        Some(match r.waiting {
            Waiting::Query {
                expect,
                merged,
                done,
                ..
            } => {
                let missing = expect.into_iter().map(|(_, name)| name).collect();
                Box::new(move || {
                    done(RemoteAnswer {
                        answer: merged,
                        missing,
                        unavailable: false,
                    });
                })
            }
            Waiting::Confirm { node, done, .. } => Box::new(move || {
                done(Err(Error::ClusterUnavailable(format!(
                    "node {node} did not confirm in time (the operation may still be applied)"
                ))));
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use roomcast::Room;

    use super::*;

    type Got<T> = Arc<Mutex<Option<T>>>;

    fn remote_done() -> (RemoteDone, Got<RemoteAnswer>) {
        let got = Arc::new(Mutex::new(None));
        let g = Arc::clone(&got);
        (Box::new(move |r| *g.lock().unwrap() = Some(r)), got)
    }

    fn forward_done() -> (ForwardDone, Got<Result<Vec<SocketId>, Error>>) {
        let got = Arc::new(Mutex::new(None));
        let g = Arc::clone(&got);
        (Box::new(move |r| *g.lock().unwrap() = Some(r)), got)
    }

    fn run(cs: impl IntoIterator<Item = Completion>) {
        cs.into_iter().for_each(|c| c());
    }

    #[test]
    fn a_query_completes_with_every_part_or_names_who_is_missing() {
        let (b, c) = (NodeId::from_raw(2), NodeId::from_raw(3));
        let q = Query::Room {
            room: Room::new("r"),
            limit: 5,
        };
        let room = |n| Answer::Room {
            count: n,
            members: vec![],
        };
        let mut p = Pending::default();
        let (done, got) = remote_done();
        let req = p.query(
            q.clone(),
            vec![(b, "b".into()), (c, "c".into())],
            done,
            0,
            100,
        );
        let (rtt, fin) = p.answer(req, b, room(2), 30).unwrap();
        assert_eq!((rtt, fin.is_none()), (30, true));
        assert!(
            p.answer(req, b, room(2), 31).is_none(),
            "a part counts once"
        );
        run(p.answer(req, c, room(3), 40).unwrap().1);
        let r = got.lock().unwrap().take().unwrap();
        assert_eq!((r.answer, r.missing), (Some(room(5)), vec![]));
        assert_eq!(p.len(), 0);

        // c never answers: missing at the deadline.
        let (done, got) = remote_done();
        let req = p.query(
            q.clone(),
            vec![(b, "b".into()), (c, "c".into())],
            done,
            0,
            100,
        );
        p.answer(req, b, room(2), 10);
        assert!(p.sweep(99).is_empty());
        run(p.sweep(100));
        let r = got.lock().unwrap().take().unwrap();
        assert_eq!(
            (r.answer, r.missing),
            (Some(room(2)), vec!["c".to_string()])
        );

        // c dies meanwhile: its sockets are gone, nothing is missing.
        let (done, got) = remote_done();
        let req = p.query(q, vec![(b, "b".into()), (c, "c".into())], done, 0, 100);
        p.answer(req, b, room(2), 10);
        run(p.node_gone(c));
        assert_eq!(
            got.lock().unwrap().take().unwrap().missing,
            Vec::<String>::new()
        );
    }

    #[test]
    fn confirmations_end_once() {
        let b = NodeId::from_raw(2);
        let id = SocketId::from_parts(b, 0, 1, 0, 5);
        let mut p = Pending::default();
        let (done, got) = forward_done();
        let req = p.confirm(b, vec![id], done, 0, 100);
        assert!(
            p.confirmed(req, NodeId::from_raw(9), vec![], 5).is_none(),
            "only its node"
        );
        let (rtt, c) = p.confirmed(req, b, vec![], 7).unwrap();
        c();
        assert_eq!((rtt, got.lock().unwrap().take()), (7, Some(Ok(vec![]))));
        // Timeout: unavailable; death: the ids are unknown.
        let (done, got) = forward_done();
        p.confirm(b, vec![id], done, 0, 100);
        run(p.sweep(100));
        assert!(matches!(
            got.lock().unwrap().take(),
            Some(Err(Error::ClusterUnavailable(_)))
        ));
        let (done, got) = forward_done();
        p.confirm(b, vec![id], done, 0, 100);
        run(p.node_gone(b));
        assert_eq!(got.lock().unwrap().take(), Some(Ok(vec![id])));
        assert_eq!(p.len(), 0);
    }
}
