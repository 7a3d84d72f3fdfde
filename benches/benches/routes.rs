//! The server's payload path for one virtual request, without sockets: a
//! sails.io.js `POST /sockets/broadcast` with a 1 KB JSON payload is parsed,
//! routed by the built-in routes, its broadcast applied and drained to a
//! `NullWriter`, and its ack rendered — what a worker does per request. Also
//! counts heap allocations per request (a counting global allocator).
//!
//! Run: `cargo bench -p roomcast-benches --bench routes`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use roomcast::{Engine, EngineConfig, NullWriter};
use roomcast_server::router::{ack_payload, parse_virtual_request, Context, Policy, Router};

struct Counting;
static ALLOCS: AtomicU64 = AtomicU64::new(0);

// SAFETY: forwards to the system allocator unchanged; only counts calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller's contract is passed on unchanged.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract is passed on unchanged.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller's contract is passed on unchanged.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// A chat-like payload of about 1 KB: strings, numbers with fractions, nesting.
fn payload() -> String {
    let items: Vec<String> = (0..12)
        .map(|i| {
            format!(
                r#"{{"id":{i},"price":{i}.50,"name":"item number {i}","tags":["a","b","c"],"ok":true}}"#
            )
        })
        .collect();
    format!(
        r#"{{"user":"alice","text":"hello everyone","items":[{}]}}"#,
        items.join(",")
    )
}

fn broadcast_request(c: &mut Criterion) {
    let (_engine, mut shards) = Engine::new(EngineConfig::default());
    let shard = &mut shards[0];
    let me = shard.connect().unwrap();
    shard.join(me, "chat").unwrap();
    let router = Router::with_builtin_routes(Policy::default());
    let args = format!(
        r#"[{{"method":"post","url":"/sockets/broadcast","data":{{"rooms":"chat","event":"say","data":{}}},"headers":{{}}}}]"#,
        payload()
    );
    let mut out = NullWriter::default();
    let mut one = |shard: &mut roomcast::Shard| {
        let req = parse_virtual_request("post", black_box(&args)).unwrap();
        let resp = router.dispatch(&mut Context::new(shard, Some(me)), req);
        let ack = ack_payload(&resp);
        shard.process_ops();
        shard.drain(&mut out);
        black_box(ack);
    };
    // Allocations per request, measured once, outside criterion.
    one(shard);
    let before = ALLOCS.load(Ordering::Relaxed);
    for _ in 0..1000 {
        one(shard);
    }
    let per = (ALLOCS.load(Ordering::Relaxed) - before) as f64 / 1000.0;
    println!("routes/broadcast_1kb: {per:.1} heap allocations per request");
    let mut g = c.benchmark_group("routes");
    g.measurement_time(Duration::from_secs(3));
    g.throughput(Throughput::Elements(1));
    g.bench_function("broadcast_1kb_request", |b| b.iter(|| one(shard)));
    g.finish();
}

criterion_group!(benches, broadcast_request);
criterion_main!(benches);
