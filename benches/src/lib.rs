//! Shared helpers for roomcast's criterion benches (in progress).
