//! [`ShardThread`]: run a shard on a thread of its own, without the server.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle, Thread};
use std::time::Duration;

use crate::shard::Shard;
use crate::writer::Writer;

/// A shard driven by its own thread: it applies operations as they arrive
/// (woken through the shard's wake hook) and drains to the given writer after each
/// batch. [`stop`](Self::stop) applies what is still queued, drains, and hands the
/// shard and writer back.
///
/// # Examples
///
/// ```
/// use roomcast::{Engine, EngineConfig, MemoryWriter, ShardThread, wire::split_frames};
///
/// let (engine, mut shards) = Engine::new(EngineConfig { shards: 2, ..EngineConfig::default() });
/// let a = shards[0].connect().unwrap();
/// let b = shards[1].connect().unwrap();
/// let threads: Vec<_> = shards
///     .into_iter()
///     .map(|s| ShardThread::spawn(s, MemoryWriter::default()))
///     .collect();
/// engine.join([a, b], "lobby").unwrap();
/// engine.broadcast("lobby", Some("hello"), "everyone", None).unwrap();
/// let mut received = Vec::new();
/// for t in threads {
///     let (_shard, writer) = t.stop();
///     received.push(split_frames(writer.received(a)).len() + split_frames(writer.received(b)).len());
/// }
/// assert_eq!(received, [1, 1]);
/// ```
#[derive(Debug)]
pub struct ShardThread<W> {
    handle: JoinHandle<(Shard, W)>,
    thread: Thread,
    stop: Arc<AtomicBool>,
}

impl<W: Writer + Send + 'static> ShardThread<W> {
    /// Starts a thread that drives `shard`, writing through `writer`.
    #[must_use]
    pub fn spawn(mut shard: Shard, mut writer: W) -> ShardThread<W> {
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let handle = thread::Builder::new()
            .name(format!("roomcast-shard-{}", shard.index()))
            .spawn(move || {
                let me = thread::current();
                shard.set_waker(move || me.unpark());
                loop {
                    let stopping = stop2.load(Ordering::Acquire);
                    let n = shard.process_ops();
                    shard.flush_held();
                    shard.drain(&mut writer);
                    if stopping && !shard.has_pending_ops() && !shard.has_held() {
                        return (shard, writer);
                    }
                    if n == 0 && !shard.has_pending_ops() {
                        thread::park_timeout(Duration::from_millis(50));
                    }
                }
            })
            .expect("spawning a shard thread");
        let thread = handle.thread().clone();
        ShardThread {
            handle,
            thread,
            stop,
        }
    }

    /// Applies every operation queued so far, drains, stops the thread and returns
    /// the shard and the writer.
    ///
    /// # Panics
    ///
    /// If the shard thread panicked.
    #[must_use]
    pub fn stop(self) -> (Shard, W) {
        self.stop.store(true, Ordering::Release);
        self.thread.unpark();
        self.handle.join().expect("shard thread panicked")
    }
}
