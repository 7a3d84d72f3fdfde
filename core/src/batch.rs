//! [`Confirm`]: the parts of one batch of operations that other nodes must
//! still confirm (see [`confirm`](crate::confirm)), shared by the batch's
//! handle and the callbacks of its forwarded parts.

use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::{Error, SocketId};

/// Called once with every id that turned out unknown, or the first error.
pub(crate) type ConfirmDone = Box<dyn FnOnce(Result<Vec<SocketId>, Error>) + Send>;

/// The parts of one batch still to confirm.
#[derive(Default)]
pub(crate) struct Confirm {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Remote parts not confirmed yet.
    left: usize,
    unknown: Vec<SocketId>,
    error: Option<Error>,
    /// Set by [`Waiting::then`](crate::Waiting::then) while parts are still out.
    done: Option<ConfirmDone>,
}

impl State {
    fn outcome(&mut self) -> Result<Vec<SocketId>, Error> {
        match self.error.take() {
            Some(e) => Err(e),
            None => Ok(std::mem::take(&mut self.unknown)),
        }
    }
}

impl Confirm {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// One more remote part; call [`part_done`](Self::part_done) exactly once for it.
    pub(crate) fn add_part(&self) {
        self.lock().left += 1;
    }

    /// A remote part's outcome.
    pub(crate) fn part_done(&self, result: Result<Vec<SocketId>, Error>) {
        let mut st = self.lock();
        match result {
            Ok(ids) => st.unknown.extend(ids),
            Err(e) => {
                st.error.get_or_insert(e);
            }
        }
        st.left = st.left.saturating_sub(1);
        if st.left == 0 {
            if let Some(done) = st.done.take() {
                let result = st.outcome();
                drop(st);
                done(result);
            }
        }
    }

    pub(crate) fn add_unknown(&self, ids: Vec<SocketId>) {
        if !ids.is_empty() {
            self.lock().unknown.extend(ids);
        }
    }
}

impl std::fmt::Debug for Confirm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let st = self.lock();
        f.debug_struct("Confirm")
            .field("left", &st.left)
            .field("unknown", &st.unknown)
            .finish_non_exhaustive()
    }
}

impl Confirm {
    /// Ends the batch if nothing is out: the unknown ids; `None` if it waits
    /// (or a part failed).
    pub(crate) fn finish(&self) -> Option<Vec<SocketId>> {
        let mut st = self.lock();
        if st.left == 0 && st.error.is_none() {
            return Some(std::mem::take(&mut st.unknown));
        }
        None
    }

    /// Calls `done` with the outcome now if every part is in, else when the
    /// last one comes.
    pub(crate) fn then(&self, done: ConfirmDone) {
        let mut st = self.lock();
        if st.left == 0 {
            let result = st.outcome();
            drop(st);
            done(result);
        } else {
            st.done = Some(done);
        }
    }
}
