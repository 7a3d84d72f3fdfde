//! Broadcast + drain, per recipient, against the socket.io adapter baseline.
//!
//! Run: `cargo bench -p roomcast-benches --bench fanout`

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use roomcast::{Engine, EngineConfig, Frame, NullWriter, Shard, SocketId};
use roomcast_benches::{payload_100b, SocketIoAdapter};

const SIZES: [usize; 5] = [10, 100, 1_000, 10_000, 100_000];

struct Setup {
    engine: Engine,
    shards: Vec<Shard>,
    ids: Vec<SocketId>,
}

/// `n` sockets over `shards` shards, each in the rooms `rooms_of(i)` names.
fn setup(n: usize, shards: usize, rooms_of: impl Fn(usize) -> Vec<&'static str>) -> Setup {
    let (engine, mut shard_vec) = Engine::new(EngineConfig {
        shards,
        ..EngineConfig::default()
    });
    let mut ids = Vec::with_capacity(n);
    for i in 0..n {
        let s = &mut shard_vec[i % shards];
        let id = s.connect().unwrap();
        for room in rooms_of(i) {
            s.join(id, room).unwrap();
        }
        ids.push(id);
    }
    Setup {
        engine,
        shards: shard_vec,
        ids,
    }
}

fn baseline(n: usize, rooms_of: impl Fn(usize) -> Vec<&'static str>) -> SocketIoAdapter {
    let mut a = SocketIoAdapter::default();
    for i in 0..n {
        let s = a.connect();
        for room in rooms_of(i) {
            a.join(s, room);
        }
    }
    a
}

/// One broadcast through the engine, then every shard applies and drains it.
fn roomcast_broadcast(
    s: &mut Setup,
    rooms: &[&str],
    data: &str,
    omit: Option<SocketId>,
    w: &mut NullWriter,
) {
    let frame = Frame::event_raw("/", "message", Some(data)).unwrap();
    s.engine.broadcast_frame(rooms, &frame, omit).unwrap();
    for shard in &mut s.shards {
        shard.process_ops();
        shard.drain(w);
    }
}

fn baseline_broadcast(
    a: &mut SocketIoAdapter,
    rooms: &[&str],
    data: &str,
    omit: Option<usize>,
    w: &mut NullWriter,
) -> usize {
    let frame = Frame::event_raw("/", "message", Some(data)).unwrap();
    a.broadcast(rooms, omit, frame.as_bytes(), w)
}

fn one_room(c: &mut Criterion) {
    let data = payload_100b();
    let mut g = c.benchmark_group("fanout/one_room");
    g.warm_up_time(Duration::from_millis(500));
    g.measurement_time(Duration::from_secs(2));
    for n in SIZES {
        g.throughput(Throughput::Elements(n as u64));
        for shards in [1, 2] {
            let mut s = setup(n, shards, |_| vec!["room"]);
            let mut w = NullWriter::default();
            g.bench_with_input(
                BenchmarkId::new(format!("roomcast/{shards}-shard"), n),
                &n,
                |b, _| {
                    b.iter(|| roomcast_broadcast(&mut s, &["room"], &data, None, &mut w));
                },
            );
            assert_eq!(w.writes % n as u64, 0, "one write per recipient");
        }
        let mut a = baseline(n, |_| vec!["room"]);
        let mut w = NullWriter::default();
        g.bench_with_input(BenchmarkId::new("socketio-adapter", n), &n, |b, _| {
            b.iter(|| black_box(baseline_broadcast(&mut a, &["room"], &data, None, &mut w)));
        });
    }
    g.finish();
}

/// Three overlapping rooms: A = [0, 60%), B = [20%, 80%), C = [40%, 100%); every
/// socket is in one to three of them and must get one copy.
fn three_rooms(c: &mut Criterion) {
    let data = payload_100b();
    let mut g = c.benchmark_group("fanout/three_rooms");
    g.warm_up_time(Duration::from_millis(500));
    g.measurement_time(Duration::from_secs(2));
    for n in [1_000, 10_000, 100_000] {
        let rooms_of = move |i: usize| {
            let p = i * 100 / n;
            let mut v = Vec::new();
            if p < 60 {
                v.push("a");
            }
            if (20..80).contains(&p) {
                v.push("b");
            }
            if p >= 40 {
                v.push("c");
            }
            v
        };
        g.throughput(Throughput::Elements(n as u64));
        let mut s = setup(n, 1, rooms_of);
        let mut w = NullWriter::default();
        g.bench_with_input(BenchmarkId::new("roomcast/1-shard", n), &n, |b, _| {
            b.iter(|| roomcast_broadcast(&mut s, &["a", "b", "c"], &data, None, &mut w));
        });
        assert_eq!(w.writes % n as u64, 0, "one copy per socket");
        let mut a = baseline(n, rooms_of);
        let mut w = NullWriter::default();
        g.bench_with_input(BenchmarkId::new("socketio-adapter", n), &n, |b, _| {
            b.iter(|| {
                let sent = baseline_broadcast(&mut a, &["a", "b", "c"], &data, None, &mut w);
                assert_eq!(sent, n);
            });
        });
    }
    g.finish();
}

/// One room, omitting one member (`broadcast(…, req)`).
fn with_omit(c: &mut Criterion) {
    let data = payload_100b();
    let mut g = c.benchmark_group("fanout/omit");
    g.warm_up_time(Duration::from_millis(500));
    g.measurement_time(Duration::from_secs(2));
    for n in [1_000, 100_000] {
        g.throughput(Throughput::Elements(n as u64 - 1));
        let mut s = setup(n, 1, |_| vec!["room"]);
        let omit = s.ids[n / 2];
        let mut w = NullWriter::default();
        g.bench_with_input(BenchmarkId::new("roomcast/1-shard", n), &n, |b, _| {
            b.iter(|| roomcast_broadcast(&mut s, &["room"], &data, Some(omit), &mut w));
        });
        assert_eq!(w.writes % (n as u64 - 1), 0);
        let mut a = baseline(n, |_| vec!["room"]);
        let mut w = NullWriter::default();
        g.bench_with_input(BenchmarkId::new("socketio-adapter", n), &n, |b, _| {
            b.iter(|| {
                black_box(baseline_broadcast(
                    &mut a,
                    &["room"],
                    &data,
                    Some(n / 2),
                    &mut w,
                ))
            });
        });
    }
    g.finish();
}

criterion_group!(benches, one_room, three_rooms, with_omit);
criterion_main!(benches);
