//! [`RoomPattern`]: a glob over room names, as a token's `rooms` claim lists
//! them: `*` matches any run of characters (none included), every other
//! character only itself. `chat:*` matches `chat:` and `chat:lobby`;
//! `user:42:*:inbox` matches `user:42:a:b:inbox`; `*` matches every room.

/// One pattern of a `rooms` claim. Matching is linear in the room name times
/// the number of `*` (greedy with one backtrack point), never exponential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomPattern {
    pattern: String,
}

impl RoomPattern {
    /// The pattern `text`.
    #[must_use]
    pub fn new(text: &str) -> RoomPattern {
        RoomPattern {
            pattern: text.to_owned(),
        }
    }

    /// The pattern as written.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.pattern
    }

    /// Whether `room` matches.
    #[must_use]
    pub fn matches(&self, room: &str) -> bool {
        glob_match(self.pattern.as_bytes(), room.as_bytes())
    }
}

/// Whether any of `patterns` matches `room`.
#[must_use]
pub fn any_matches(patterns: &[RoomPattern], room: &str) -> bool {
    patterns.iter().any(|p| p.matches(room))
}

/// The classic wildcard match: on a mismatch, go back to the last `*` and let
/// it swallow one more byte. Bytes, not characters: `*` swallows whole UTF-8
/// sequences since the literal parts are valid UTF-8 themselves.
fn glob_match(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && pattern[p] == b'*' {
            star = Some((p, t));
            p += 1;
        } else if p < pattern.len() && pattern[p] == text[t] {
            p += 1;
            t += 1;
        } else if let Some((sp, st)) = star {
            p = sp + 1;
            t = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&b| b == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn m(p: &str, room: &str) -> bool {
        RoomPattern::new(p).matches(room)
    }

    #[test]
    fn stars_match_any_run() {
        assert!(m("*", ""));
        assert!(m("*", "anything at all"));
        assert!(m("chat:*", "chat:"));
        assert!(m("chat:*", "chat:lobby"));
        assert!(!m("chat:*", "chat"));
        assert!(!m("chat:*", "xchat:lobby"));
        assert!(m("user:42:*:inbox", "user:42:a:b:inbox"));
        assert!(!m("user:42:*:inbox", "user:42:inbox"));
        assert!(m("*lobby", "big-lobby"));
        assert!(m("a*b*c", "aXbYbZc"));
        assert!(!m("a*b*c", "aXbYbZ"));
        assert!(m("**", "x"));
        assert!(m("é*", "éte"));
    }

    #[test]
    fn without_a_star_only_the_name_itself() {
        assert!(m("lobby", "lobby"));
        assert!(!m("lobby", "lobby2"));
        assert!(!m("lobby", "Lobby"));
        assert!(!m("", "x"));
        assert!(m("", ""));
    }

    #[test]
    fn a_long_hostile_pattern_stays_fast() {
        let pattern = "*a".repeat(200) + "b";
        let room = "a".repeat(10_000);
        let started = std::time::Instant::now();
        assert!(!m(&pattern, &room));
        // Linear-ish: far under a second even unoptimized (an exponential
        // matcher would never finish).
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }

    /// The reference: a regex-free dynamic program.
    fn reference(p: &[u8], t: &[u8]) -> bool {
        let mut dp = vec![vec![false; t.len() + 1]; p.len() + 1];
        dp[0][0] = true;
        for i in 1..=p.len() {
            dp[i][0] = dp[i - 1][0] && p[i - 1] == b'*';
            for j in 1..=t.len() {
                dp[i][j] = if p[i - 1] == b'*' {
                    dp[i - 1][j] || dp[i][j - 1]
                } else {
                    dp[i - 1][j - 1] && p[i - 1] == t[j - 1]
                };
            }
        }
        dp[p.len()][t.len()]
    }

    proptest! {
        #[test]
        fn agrees_with_the_reference(p in "[ab*]{0,8}", t in "[ab]{0,12}") {
            prop_assert_eq!(m(&p, &t), reference(p.as_bytes(), t.as_bytes()));
        }
    }
}
