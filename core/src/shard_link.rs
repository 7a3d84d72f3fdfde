//! [`ShardLink`]: what every thread shares with one shard — its mailbox (a
//! bounded channel of [`Mail`], a [`WakeFlag`] and the wake hook of its thread)
//! and its lock-free liveness table.
//!
//! The mailbox is bounded (`EngineConfig::mailbox_capacity`), so a producer
//! faster than a shard meets back-pressure instead of growing memory without
//! bound: [`ShardLink::send`] (any thread, through the `Engine` handle) waits for
//! room; [`ShardLink::try_send`] (shard threads, which must never wait on each
//! other) hands the mail back, and the shard holds it and stops taking client
//! input until it fits.

use std::any::Any;
use std::fmt;
use std::sync::{Arc, OnceLock};

use crossbeam_channel::{Receiver, Sender, TrySendError};

use crate::liveness::LivenessTable;
use crate::op::Op;
use crate::query::Gather;
use crate::wake::WakeFlag;

/// Code run on a shard's thread, given the shard as `&mut dyn Any`.
pub(crate) type ShardTask = Box<dyn FnOnce(&mut dyn Any) + Send>;

/// What a shard's thread receives.
pub(crate) enum Mail {
    /// An operation to apply.
    Op(Op),
    /// A query to add this shard's part to, as part number `.1` of the gather.
    Query(Arc<Gather>, usize),
    /// Code to run on the shard's thread (`Engine::on_shard`), given the shard as
    /// `&mut dyn Any` (it is a `Shard`). Never crosses a process boundary.
    Run(ShardTask),
}

impl fmt::Debug for Mail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Mail::Op(op) => write!(f, "Op({op:?})"),
            Mail::Query(g, part) => write!(f, "Query({:?}, part {part})", g.query()),
            Mail::Run(_) => f.write_str("Run(..)"),
        }
    }
}

/// A shard's mailbox and liveness table; see the module docs.
pub(crate) struct ShardLink {
    tx: Sender<Mail>,
    pub(crate) liveness: LivenessTable,
    wake: WakeFlag,
    waker: OnceLock<Box<dyn Fn() + Send + Sync>>,
}

impl fmt::Debug for ShardLink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShardLink").finish_non_exhaustive()
    }
}

impl ShardLink {
    /// A link for a shard with at most `capacity` slots and a mailbox of
    /// `mailbox` mails, and the receiving end of its mailbox.
    pub(crate) fn new(capacity: u32, mailbox: usize) -> (ShardLink, Receiver<Mail>) {
        let (tx, rx) = crossbeam_channel::bounded(mailbox.max(1));
        let link = ShardLink {
            tx,
            liveness: LivenessTable::new(capacity),
            wake: WakeFlag::default(),
            waker: OnceLock::new(),
        };
        (link, rx)
    }

    /// Queues `mail`, waiting while the mailbox is full, and wakes the shard's
    /// thread if it may be idle. A send fails only when the shard was dropped:
    /// then nobody is left to deliver to.
    pub(crate) fn send(&self, mail: Mail) {
        match self.try_send(mail) {
            Ok(()) | Err(TrySendError::Disconnected(_)) => {}
            Err(TrySendError::Full(mail)) => {
                // Full: the shard has work and was woken; wait for room.
                if self.tx.send(mail).is_ok() {
                    self.wake();
                }
            }
        }
    }

    /// Queues `mail` if the mailbox has room (waking the shard's thread if it may
    /// be idle); hands it back if the mailbox is full.
    ///
    /// # Errors
    ///
    /// The mail back, `Full` or `Disconnected` (the shard was dropped).
    pub(crate) fn try_send(&self, mail: Mail) -> Result<(), TrySendError<Mail>> {
        match self.tx.try_send(mail) {
            Ok(()) => {
                self.wake();
                Ok(())
            }
            Err(e) => {
                // Full: make sure the shard is awake to make room.
                self.wake();
                Err(e)
            }
        }
    }

    /// Queues `mail` without waking the shard (the caller wakes it after a
    /// batch, with [`wake`](Self::wake)); a full mailbox still wakes it and
    /// waits for room.
    pub(crate) fn send_quiet(&self, mail: Mail) {
        match self.tx.try_send(mail) {
            Ok(()) | Err(TrySendError::Disconnected(_)) => {}
            Err(TrySendError::Full(mail)) => {
                self.wake();
                if self.tx.send(mail).is_ok() {
                    self.wake();
                }
            }
        }
    }

    /// Wakes the shard's thread if its wake flag was down.
    pub(crate) fn wake(&self) {
        if self.wake.raise() {
            if let Some(wake) = self.waker.get() {
                wake();
            }
        }
    }

    /// The shard's thread, before it drains its mailbox.
    pub(crate) fn lower_wake_flag(&self) {
        self.wake.lower();
    }

    /// Sets the wake hook (only the first call takes effect).
    pub(crate) fn set_waker(&self, wake: Box<dyn Fn() + Send + Sync>) {
        let _ = self.waker.set(wake);
    }
}
