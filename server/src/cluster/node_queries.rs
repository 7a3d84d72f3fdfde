//! [`NodeQueries`]: this node's room queries to the Node peers of a mixed
//! cluster (socket.io's REMOTE_FETCH, Sails' SOCKETS), counted as their
//! adapters count: the request goes out with `PUBSUB NUMSUB` of the request
//! channel, less the roomcast nodes (which answer each other on roomcast's
//! channels), as the number of answers to wait for; the answer is complete
//! when that many came, or partial at the deadline, naming how many did not
//! answer. Sans-IO.

use std::collections::HashMap;

use roomcast::{Answer, RemoteAnswer, SocketId};

/// Called once with the Node peers' part.
pub(crate) type NodePartDone = Box<dyn FnOnce(RemoteAnswer) + Send>;

/// Most queries to Node peers waiting at once; beyond it a query does not ask
/// them (its answer says so).
pub(crate) const MAX_PENDING: usize = 1024;

struct Entry {
    limit: usize,
    /// Answers to wait for, once `PUBSUB NUMSUB` said.
    expected: Option<usize>,
    answers: usize,
    count: usize,
    members: Vec<SocketId>,
    deadline: u64,
    done: NodePartDone,
}

/// A completed part, to hand to its caller outside any lock.
pub(crate) struct Completion {
    done: NodePartDone,
    part: RemoteAnswer,
}

impl Completion {
    /// Calls the waiting query with its part.
    pub(crate) fn run(self) {
        (self.done)(self.part);
    }
}

impl std::fmt::Debug for NodeQueries {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeQueries")
            .field("pending", &self.entries.len())
            .finish()
    }
}

/// Queries waiting for Node peers' answers, by request id.
#[derive(Default)]
pub(crate) struct NodeQueries {
    entries: HashMap<String, Entry>,
}

impl NodeQueries {
    /// Registers a query for up to `limit` member ids; `Err(done)` back when
    /// too many wait (or the id is taken).
    pub(crate) fn start(
        &mut self,
        request_id: &str,
        limit: usize,
        deadline: u64,
        done: NodePartDone,
    ) -> Result<(), NodePartDone> {
        if self.entries.len() >= MAX_PENDING || self.entries.contains_key(request_id) {
            return Err(done);
        }
        self.entries.insert(
            request_id.to_owned(),
            Entry {
                limit,
                expected: None,
                answers: 0,
                count: 0,
                members: Vec::new(),
                deadline,
                done,
            },
        );
        Ok(())
    }

    /// `PUBSUB NUMSUB` said how many Node peers will answer.
    pub(crate) fn expect(&mut self, request_id: &str, answers: usize) -> Option<Completion> {
        self.entries.get_mut(request_id)?.expected = Some(answers);
        self.complete_if_done(request_id)
    }

    /// A Node peer answered with these socket ids (text; ids that are not in
    /// a socket id's form are counted, not listed).
    pub(crate) fn answer(&mut self, request_id: &str, ids: &[String]) -> Option<Completion> {
        let e = self.entries.get_mut(request_id)?;
        e.answers += 1;
        e.count += ids.len();
        let room = e.limit.saturating_sub(e.members.len());
        e.members
            .extend(ids.iter().filter_map(|id| SocketId::parse(id)).take(room));
        self.complete_if_done(request_id)
    }

    /// The request could not be sent (Redis down): complete as unavailable.
    pub(crate) fn fail(&mut self, request_id: &str) -> Option<Completion> {
        let e = self.entries.remove(request_id)?;
        Some(Completion {
            done: e.done,
            part: RemoteAnswer {
                answer: None,
                missing: vec!["the Node peers (Redis unavailable)".into()],
                unavailable: true,
            },
        })
    }

    /// Queries past their deadline, completed with what came.
    pub(crate) fn sweep(&mut self, now: u64) -> Vec<Completion> {
        let late: Vec<String> = self
            .entries
            .iter()
            .filter(|(_, e)| now >= e.deadline)
            .map(|(k, _)| k.clone())
            .collect();
        late.into_iter()
            .filter_map(|k| self.entries.remove(&k).map(Entry::finish))
            .collect()
    }

    fn complete_if_done(&mut self, request_id: &str) -> Option<Completion> {
        let e = self.entries.get(request_id)?;
        if e.expected.is_some_and(|n| e.answers >= n) {
            return self.entries.remove(request_id).map(Entry::finish);
        }
        None
    }

    /// Queries waiting.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}

impl Entry {
    fn finish(self) -> Completion {
        let missing = match self.expected {
            Some(n) if self.answers >= n => Vec::new(),
            Some(n) => vec![format!(
                "{} of {n} Node peers (socket.io/Sails)",
                n - self.answers
            )],
            None => vec!["the Node peers (socket.io/Sails): not asked in time".into()],
        };
        Completion {
            done: self.done,
            part: RemoteAnswer {
                answer: Some(Answer::Room {
                    count: self.count,
                    members: self.members,
                }),
                missing,
                unavailable: false,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    fn sink() -> (NodePartDone, Arc<Mutex<Option<RemoteAnswer>>>) {
        let got = Arc::new(Mutex::new(None));
        let g = Arc::clone(&got);
        (Box::new(move |r| *g.lock().unwrap() = Some(r)), got)
    }

    #[test]
    fn complete_when_every_expected_peer_answered() {
        let mut q = NodeQueries::default();
        let (done, got) = sink();
        assert!(q.start("r1", 1, 1000, done).is_ok());
        // An answer may come before NUMSUB's count.
        assert!(q
            .answer("r1", &["jf2COvAnBWtoTVtUAAAA".into(), "x".into()])
            .is_none());
        assert!(q.answer("nobody-asked", &["a".into()]).is_none());
        assert!(q.expect("r1", 2).is_none(), "one of two answered");
        assert!(got.lock().unwrap().is_none());
        q.answer("r1", &["MVR0RyXEMVCTK9U4AAAA".into()])
            .expect("the second answer completes it")
            .run();
        let part = got.lock().unwrap().take().unwrap();
        let Some(Answer::Room { count, members }) = part.answer else {
            panic!()
        };
        assert_eq!(count, 3, "every id counted");
        assert_eq!(members.len(), 1, "listed up to the limit");
        assert_eq!(members[0].to_string(), "jf2COvAnBWtoTVtUAAAA");
        assert!(part.missing.is_empty());
        assert_eq!(q.len(), 0);
    }

    #[test]
    fn nobody_to_ask_completes_at_once_and_silence_at_the_deadline() {
        let mut q = NodeQueries::default();
        let (done, got) = sink();
        q.start("r1", 10, 1000, done).ok().unwrap();
        q.expect("r1", 0).expect("no Node peer: done").run();
        assert!(got.lock().unwrap().take().unwrap().missing.is_empty());
        let (done, got) = sink();
        q.start("r2", 10, 1000, done).ok().unwrap();
        assert!(q.expect("r2", 2).is_none());
        assert!(q.answer("r2", &["jf2COvAnBWtoTVtUAAAA".into()]).is_none());
        assert!(q.sweep(999).is_empty());
        for c in q.sweep(1000) {
            c.run();
        }
        let part = got.lock().unwrap().take().unwrap();
        assert_eq!(part.missing, ["1 of 2 Node peers (socket.io/Sails)"]);
        assert!(matches!(part.answer, Some(Answer::Room { count: 1, .. })));
    }

    #[test]
    fn bounded_and_failures_say_unavailable() {
        let mut q = NodeQueries::default();
        for i in 0..MAX_PENDING {
            q.start(&i.to_string(), 1, 10, Box::new(|_| {}))
                .ok()
                .unwrap();
        }
        assert!(q.start("one more", 1, 10, Box::new(|_| {})).is_err());
        let (done, got) = sink();
        let mut q = NodeQueries::default();
        q.start("r", 1, 10, done).ok().unwrap();
        q.fail("r").unwrap().run();
        assert!(got.lock().unwrap().take().unwrap().unavailable);
    }
}
