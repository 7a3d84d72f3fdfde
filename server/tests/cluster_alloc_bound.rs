//! What a peer node (or anyone who can publish on the cluster's Redis
//! channels) sends never makes a node allocate more than the message could
//! hold: a MessagePack array header announcing 2³² socket ids used to be
//! reserved up front (`SmallVec`'s deserializer trusts the announced length),
//! tens of GB at once — an abort. Found by the `cluster_messages` fuzz
//! target; its input is committed as `fuzz/corpus/cluster_messages/
//! regression-forged-id-count`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use roomcast_server::fuzzing::drive_cluster_messages;

/// The system allocator, remembering the largest single allocation.
struct Largest;

static LARGEST: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call goes to `System` unchanged; only a size is recorded.
unsafe impl GlobalAlloc for Largest {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        // SAFETY: the caller's contract is `System`'s.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LARGEST.fetch_max(new_size, Ordering::Relaxed);
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: Largest = Largest;

#[test]
fn a_forged_id_count_allocates_nothing_like_it() {
    let input = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../fuzz/corpus/cluster_messages/regression-forged-id-count"
    ))
    .unwrap();
    LARGEST.store(0, Ordering::Relaxed);
    drive_cluster_messages(&input);
    let largest = LARGEST.load(Ordering::Relaxed);
    assert!(
        largest < 64 << 20,
        "one allocation of {largest} bytes for a {}-byte input",
        input.len()
    );
}
