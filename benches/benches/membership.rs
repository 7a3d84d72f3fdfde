//! Membership operations: join/leave throughput, room-to-room operations and
//! leaveAll on a 10 k-member room, disconnect of a socket in 10 rooms, and memory
//! per membership (printed before the timings).
//!
//! Run: `cargo bench -p roomcast-benches --bench membership`

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput};
use roomcast::{Engine, EngineConfig, LeaveAllOptions, Shard, SocketId};

/// Counts live heap bytes, for the memory figures.
struct CountingAlloc;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: delegates every call to the system allocator unchanged; the counter is
// only bookkeeping.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: same contract as our caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new: usize) -> *mut u8 {
        LIVE.fetch_add(new as isize - layout.size() as isize, Ordering::Relaxed);
        // SAFETY: same contract as our caller's.
        unsafe { System.realloc(ptr, layout, new) }
    }
}

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

fn shard() -> (Engine, Shard) {
    let (engine, mut shards) = Engine::new(EngineConfig::default());
    (engine, shards.pop().unwrap())
}

fn connect(shard: &mut Shard, n: usize) -> Vec<SocketId> {
    (0..n).map(|_| shard.connect().unwrap()).collect()
}

/// Heap bytes per membership for `sockets` sockets with `per_socket` rooms each,
/// `room_of(socket, k)` naming the k-th; measured from "sockets connected" to
/// "memberships made".
fn memory_per_membership(
    label: &str,
    sockets: usize,
    per_socket: usize,
    room_of: impl Fn(usize, usize) -> String,
) {
    let (_engine, mut s) = shard();
    let ids = connect(&mut s, sockets);
    let names: Vec<Vec<String>> = (0..sockets)
        .map(|i| (0..per_socket).map(|k| room_of(i, k)).collect())
        .collect();
    let before = LIVE.load(Ordering::Relaxed);
    for (i, id) in ids.iter().enumerate() {
        for name in &names[i] {
            s.join(*id, name).unwrap();
        }
    }
    let after = LIVE.load(Ordering::Relaxed);
    let memberships = s.membership_count();
    assert_eq!(memberships, sockets * per_socket);
    println!(
        "memory/{label}: {memberships} memberships in {} rooms: {:.2} bytes per membership",
        s.room_count(),
        (after - before) as f64 / memberships as f64
    );
}

fn memory(_c: &mut Criterion) {
    // 250 k sockets in 4 rooms each, rooms of exactly 5 members (200 k rooms).
    memory_per_membership("rooms_of_5", 250_000, 4, |i, k| {
        format!("room-{}", (k * 250_000 + i) / 5)
    });
    // 1 M sockets in one room.
    memory_per_membership("one_room_of_1M", 1_000_000, 1, |_, _| "everyone".to_owned());
    let before = LIVE.load(Ordering::Relaxed);
    let (_e, mut s) = shard();
    let _ids = connect(&mut s, 100_000);
    println!(
        "memory/idle_socket: {:.1} bytes per connected socket in no room",
        (LIVE.load(Ordering::Relaxed) - before) as f64 / 100_000.0
    );
}

fn join_leave(c: &mut Criterion) {
    let mut g = c.benchmark_group("membership/join_leave");
    g.measurement_time(Duration::from_secs(3));
    // 10 k sockets, 1 k rooms that each keep an anchor member (so they persist,
    // as busy rooms do); each iteration joins one socket to one room and leaves it.
    let (engine, mut s) = shard();
    let ids = connect(&mut s, 10_000);
    let rooms: Vec<String> = (0..1000).map(|r| format!("room-{r}")).collect();
    for (r, name) in rooms.iter().enumerate() {
        s.join(ids[r], name).unwrap();
    }
    g.throughput(Throughput::Elements(2));
    let mut i = 0usize;
    g.bench_function("persistent_rooms", |b| {
        b.iter(|| {
            i = i.wrapping_add(7919);
            let id = ids[1000 + i % 9000];
            let room = &rooms[i % 1000];
            s.join(id, room).unwrap();
            s.leave(id, room).unwrap();
        });
    });
    // The same through the Engine handle (any thread): each operation travels the
    // shard's channel and is applied by `process_ops`, as in a server whose
    // operations come from another thread.
    g.bench_function("persistent_rooms_via_engine_channel", |b| {
        b.iter(|| {
            i = i.wrapping_add(7919);
            let id = ids[1000 + i % 9000];
            let room = &rooms[i % 1000];
            engine.join(id, room).unwrap();
            engine.leave(id, room).unwrap();
            s.process_ops();
        });
    });
    // Rooms created by the join and removed by the leave (ephemeral rooms).
    let (_engine, mut s) = shard();
    let ids = connect(&mut s, 10_000);
    g.bench_function("ephemeral_rooms", |b| {
        b.iter(|| {
            i = i.wrapping_add(7919);
            let id = ids[i % 10_000];
            let room = &rooms[i % 1000];
            s.join(id, room).unwrap();
            s.leave(id, room).unwrap();
        });
    });
    g.finish();
}

fn big_room(members: usize) -> (Engine, Shard, Vec<SocketId>) {
    let (engine, mut s) = shard();
    let ids = connect(&mut s, members);
    s.join(ids.as_slice(), "source").unwrap();
    (engine, s, ids)
}

fn room_ops(c: &mut Criterion) {
    let mut g = c.benchmark_group("membership/room_of_10k");
    g.sample_size(20);
    g.measurement_time(Duration::from_secs(3));
    g.throughput(Throughput::Elements(10_000));
    g.bench_function(
        BenchmarkId::new("add_room_members_to_rooms", "1-dest"),
        |b| {
            b.iter_batched_ref(
                || big_room(10_000),
                |(_, s, _)| s.add_room_members_to_rooms("source", "dest").unwrap(),
                BatchSize::LargeInput,
            );
        },
    );
    g.bench_function(
        BenchmarkId::new("remove_room_members_from_rooms", "1-dest"),
        |b| {
            b.iter_batched_ref(
                || {
                    let (e, mut s, ids) = big_room(10_000);
                    s.add_room_members_to_rooms("source", "dest").unwrap();
                    (e, s, ids)
                },
                |(_, s, _)| s.remove_room_members_from_rooms("source", "dest").unwrap(),
                BatchSize::LargeInput,
            );
        },
    );
    g.bench_function(BenchmarkId::new("leave_all", "3-rooms-each"), |b| {
        b.iter_batched_ref(
            || {
                let (e, mut s, ids) = big_room(10_000);
                s.add_room_members_to_rooms("source", ["x", "y"]).unwrap();
                (e, s, ids)
            },
            |(_, s, _)| s.leave_all("source", LeaveAllOptions::default()).unwrap(),
            BatchSize::LargeInput,
        );
    });
    g.finish();
}

fn disconnect(c: &mut Criterion) {
    let mut g = c.benchmark_group("membership/disconnect");
    // 1 k sockets spread over 100 rooms keep the rooms alive; the measured socket
    // is in 10 of them.
    let (_engine, mut s) = shard();
    let ids = connect(&mut s, 1000);
    let rooms: Vec<String> = (0..100).map(|r| format!("room-{r}")).collect();
    for (i, id) in ids.iter().enumerate() {
        for k in 0..10 {
            s.join(*id, &rooms[(i + k * 10) % 100]).unwrap();
        }
    }
    g.bench_function("socket_in_10_rooms", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for n in 0..iters as usize {
                let id = s.connect().unwrap();
                for k in 0..10 {
                    s.join(id, &rooms[(n + k * 10) % 100]).unwrap();
                }
                let t = Instant::now();
                black_box(s.disconnect(id));
                total += t.elapsed();
            }
            total
        });
    });
    g.finish();
}

criterion_group!(benches, memory, join_leave, room_ops, disconnect);
criterion_main!(benches);
