//! [`RateLimit`]: how many socket-route calls (virtual requests) a client may
//! make (`--client-ops-per-sec N`), sans-IO with a millisecond clock.
//!
//! A token bucket of `2N` calls refilled at `N` a second: a call without a
//! token is refused (429 `E_RATE_LIMITED`) and changes nothing. A client
//! that keeps calling at more than ten times the rate — over `10N` calls
//! (refused ones included) in each of ten consecutive seconds — is abusive and
//! is disconnected.

/// Seconds in a row over ten times the rate before a client is disconnected.
pub const ABUSE_SECONDS: u32 = 10;

/// What to do with one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Within the rate.
    Allow,
    /// Over the rate: refuse this call.
    Limit,
    /// Over ten times the rate for [`ABUSE_SECONDS`] seconds: disconnect.
    Disconnect,
}

/// One client's bucket.
#[derive(Debug, Clone)]
pub struct RateLimit {
    per_sec: u64,
    /// Tokens, in thousandths (refilled by the millisecond without rounding loss).
    milli_tokens: u64,
    last_ms: u64,
    /// The current one-second window: its start and its calls.
    window_start: u64,
    window_calls: u64,
    /// Consecutive full windows over ten times the rate.
    hot_windows: u32,
}

impl RateLimit {
    /// A full bucket for `per_sec` calls a second (at least 1), at `now_ms`.
    #[must_use]
    pub fn new(per_sec: u32, now_ms: u64) -> RateLimit {
        let per_sec = u64::from(per_sec.max(1));
        RateLimit {
            per_sec,
            milli_tokens: 2 * per_sec * 1000,
            last_ms: now_ms,
            window_start: now_ms,
            window_calls: 0,
            hot_windows: 0,
        }
    }

    /// Accounts for one call at `now_ms`.
    pub fn call(&mut self, now_ms: u64) -> Verdict {
        let elapsed = now_ms.saturating_sub(self.last_ms);
        self.last_ms = self.last_ms.max(now_ms);
        let cap = 2 * self.per_sec * 1000;
        self.milli_tokens = self
            .milli_tokens
            .saturating_add(elapsed.saturating_mul(self.per_sec))
            .min(cap);

        if now_ms.saturating_sub(self.window_start) >= 1000 {
            let windows = now_ms.saturating_sub(self.window_start) / 1000;
            let was_hot = self.window_calls > 10 * self.per_sec;
            // A quiet gap of more than one window breaks the streak.
            self.hot_windows = if was_hot && windows == 1 {
                self.hot_windows + 1
            } else {
                0
            };
            self.window_start += windows * 1000;
            self.window_calls = 0;
        }
        self.window_calls += 1;
        if self.hot_windows + 1 >= ABUSE_SECONDS && self.window_calls > 10 * self.per_sec {
            return Verdict::Disconnect;
        }
        if self.milli_tokens >= 1000 {
            self.milli_tokens -= 1000;
            Verdict::Allow
        } else {
            Verdict::Limit
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_of_twice_the_rate_then_the_rate() {
        let mut r = RateLimit::new(10, 0);
        let allowed = (0..25).filter(|_| r.call(0) == Verdict::Allow).count();
        assert_eq!(allowed, 20, "the burst is 2N");
        // 100 ms later one more token.
        assert_eq!(r.call(100), Verdict::Allow);
        assert_eq!(r.call(100), Verdict::Limit);
        // Over a second at the rate: all allowed.
        let mut r = RateLimit::new(10, 0);
        for i in 0..100 {
            assert_eq!(r.call(i * 100), Verdict::Allow, "call {i}");
        }
    }

    #[test]
    fn the_bucket_refills_to_its_cap_only() {
        let mut r = RateLimit::new(5, 0);
        for _ in 0..10 {
            r.call(0);
        }
        assert_eq!(r.call(0), Verdict::Limit);
        // An hour idle: still only 2N.
        let allowed = (0..50)
            .filter(|_| r.call(3_600_000) == Verdict::Allow)
            .count();
        assert_eq!(allowed, 10);
    }

    #[test]
    fn ten_seconds_over_ten_times_the_rate_disconnects() {
        let mut r = RateLimit::new(2, 0);
        let mut verdicts = Vec::new();
        // 25 calls a second (> 10 × 2) for 10 seconds.
        for sec in 0..10u64 {
            for k in 0..25u64 {
                verdicts.push((sec, r.call(sec * 1000 + k * 40)));
            }
        }
        let first = verdicts
            .iter()
            .position(|(_, v)| *v == Verdict::Disconnect)
            .expect("disconnected");
        assert_eq!(verdicts[first].0, 9, "in the tenth second");
        assert!(verdicts[..first]
            .iter()
            .all(|(_, v)| *v != Verdict::Disconnect));
    }

    #[test]
    fn bursts_with_pauses_are_limited_not_disconnected() {
        let mut r = RateLimit::new(2, 0);
        // 25 calls in every other second for 30 s: never ten hot seconds in a row.
        for sec in (0..30u64).step_by(2) {
            for k in 0..25u64 {
                assert_ne!(
                    r.call(sec * 1000 + k * 40),
                    Verdict::Disconnect,
                    "second {sec}"
                );
            }
        }
        // Just over the rate (3/s with N=2) forever: limited, never disconnected.
        let mut r = RateLimit::new(2, 0);
        let mut limited = 0;
        for i in 0..600u64 {
            match r.call(i * 333) {
                Verdict::Disconnect => panic!("disconnected at call {i}"),
                Verdict::Limit => limited += 1,
                Verdict::Allow => {}
            }
        }
        assert!(limited > 100, "{limited}");
    }

    #[test]
    fn a_clock_going_backwards_changes_nothing_bad() {
        let mut r = RateLimit::new(1, 10_000);
        assert_eq!(r.call(10_000), Verdict::Allow);
        assert_eq!(r.call(5_000), Verdict::Allow);
        assert_eq!(r.call(5_000), Verdict::Limit);
    }
}
