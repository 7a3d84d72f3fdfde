//! [`Hub`]: what every handle and shard of one engine share — the configuration,
//! one [`ShardLink`] a shard, and the cluster [`Adapter`] once one is set.

use std::sync::{Arc, OnceLock};

use crossbeam_channel::Receiver;

use crate::adapter::Adapter;
use crate::config::EngineConfig;
use crate::liveness::live_key;
use crate::shard_link::{Mail, ShardLink};
use crate::SocketId;

/// See the module docs.
#[derive(Debug)]
pub(crate) struct Hub {
    pub(crate) config: EngineConfig,
    pub(crate) links: Box<[ShardLink]>,
    adapter: OnceLock<Arc<dyn Adapter>>,
}

impl Hub {
    /// A hub for `config.shards` shards, and each shard's mailbox receiver.
    pub(crate) fn new(config: EngineConfig) -> (Arc<Hub>, Vec<Receiver<Mail>>) {
        let mut receivers = Vec::with_capacity(config.shards);
        let links = (0..config.shards)
            .map(|_| {
                let (link, rx) =
                    ShardLink::new(config.max_sockets_per_shard, config.mailbox_capacity);
                receivers.push(rx);
                link
            })
            .collect();
        let hub = Hub {
            config,
            links,
            adapter: OnceLock::new(),
        };
        (Arc::new(hub), receivers)
    }

    pub(crate) fn shard_count(&self) -> usize {
        self.links.len()
    }

    /// Sends `mail` to local shard `shard` (which must exist).
    pub(crate) fn send(&self, shard: usize, mail: Mail) {
        self.links[shard].send(mail);
    }

    /// Queues `mail` for shard `shard` without waking it (waking it only if the
    /// mailbox is full); call [`wake`](Self::wake) after the batch.
    pub(crate) fn send_quiet(&self, shard: usize, mail: Mail) {
        self.links[shard].send_quiet(mail);
    }

    /// Wakes shard `shard`'s thread if it may be idle.
    pub(crate) fn wake(&self, shard: usize) {
        self.links[shard].wake();
    }

    /// Whether `id` is a socket of this node (connected or not).
    pub(crate) fn is_local(&self, id: SocketId) -> bool {
        id.node() == self.config.node
    }

    /// Whether `id` names a socket connected to this node right now.
    pub(crate) fn is_connected(&self, id: SocketId) -> bool {
        self.is_local(id)
            && self.links.get(usize::from(id.shard())).is_some_and(|s| {
                s.liveness
                    .is_live(id.slot(), live_key(id.token(), id.generation()))
            })
    }

    /// Live sockets over every shard.
    pub(crate) fn live_sockets(&self) -> usize {
        self.links.iter().map(|l| l.liveness.live_count()).sum()
    }

    /// The cluster adapter, if one was set.
    #[inline]
    pub(crate) fn adapter(&self) -> Option<&dyn Adapter> {
        self.adapter.get().map(|a| &**a)
    }

    /// Sets the adapter; false if one was set already.
    pub(crate) fn set_adapter(&self, adapter: Arc<dyn Adapter>) -> bool {
        self.adapter.set(adapter).is_ok()
    }
}
