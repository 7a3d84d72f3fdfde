//! [`LogLimit`]: at most [`LINES_PER_SECOND`] log lines a second per worker for
//! events clients cause (bad requests, protocol errors, slow consumers), so a
//! flood of bad clients cannot flood the log. What is held back is counted in
//! `roomcast_log_lines_dropped_total`, and summed up in one line per second.

/// Client-caused log lines a worker writes per second at most.
pub(crate) const LINES_PER_SECOND: u32 = 20;

/// See the module docs.
#[derive(Debug, Default)]
pub(crate) struct LogLimit {
    window_start: u64,
    lines: u32,
    held: u64,
}

impl LogLimit {
    /// Whether a client-caused line may be written at `now` (milliseconds).
    pub(crate) fn allow(&mut self, now: u64) -> bool {
        if now >= self.window_start + 1000 {
            if self.held > 0 {
                tracing::warn!(
                    lines = self.held,
                    "client-caused log lines held back in the last second (at most {LINES_PER_SECOND} a second a worker)"
                );
                crate::logging::count_dropped(self.held);
            }
            self.window_start = now;
            self.lines = 0;
            self.held = 0;
        }
        if self.lines < LINES_PER_SECOND {
            self.lines += 1;
            true
        } else {
            self.held += 1;
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_most_n_a_second() {
        let mut l = LogLimit::default();
        let allowed = (0..100).filter(|_| l.allow(5)).count();
        assert_eq!(allowed, LINES_PER_SECOND as usize);
        assert_eq!(l.held, 80);
        assert!(l.allow(1005), "a new second");
        assert_eq!(l.held, 0);
    }
}
