//! [`Utf8Stream`]: UTF-8 validation of a text message that arrives in pieces.
//!
//! The pieces are fragments, or parts of one frame's payload as TCP delivers them,
//! and a code point may straddle two pieces. Each piece is validated as it arrives
//! (with `std::str::from_utf8`, which also rejects a truncated sequence as soon as
//! its next byte is impossible), so an invalid message is refused on the piece
//! where it becomes invalid, not when it ends (Autobahn 6.4.x: "fail fast"). The
//! valid text is appended to a `String` as it is checked, so it is never validated
//! twice and never converted with an unchecked call.

/// A text message being reassembled: the validated text so far plus the bytes of
/// a code point cut by the end of the last piece.
#[derive(Debug, Default)]
pub struct Utf8Stream {
    /// INVARIANT: always valid UTF-8 (it is only ever grown with `&str`).
    text: String,
    /// INVARIANT: `pending[..pending_len]` is a proper prefix of a valid UTF-8
    /// sequence (1 to 3 bytes), or empty.
    pending: [u8; 4],
    pending_len: usize,
}

/// The piece made the text invalid UTF-8.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidUtf8;

impl Utf8Stream {
    /// An empty stream.
    #[must_use]
    pub fn new() -> Utf8Stream {
        Utf8Stream::default()
    }

    /// Bytes held so far (validated text plus a pending partial code point).
    #[must_use]
    pub fn len(&self) -> usize {
        self.text.len() + self.pending_len
    }

    /// Whether nothing was pushed yet.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Validates and appends `piece`.
    ///
    /// # Errors
    ///
    /// [`InvalidUtf8`] if the bytes so far cannot be the start of valid UTF-8.
    /// The stream must then be dropped.
    pub fn push(&mut self, mut piece: &[u8]) -> Result<(), InvalidUtf8> {
        if self.pending_len > 0 {
            // Complete the code point cut by the previous piece, one byte at a time
            // (at most 3 more).
            while self.pending_len < 4 {
                let Some((&b, rest)) = piece.split_first() else {
                    return Ok(());
                };
                self.pending[self.pending_len] = b;
                self.pending_len += 1;
                piece = rest;
                match std::str::from_utf8(&self.pending[..self.pending_len]) {
                    Ok(s) => {
                        self.text.push_str(s);
                        self.pending_len = 0;
                        break;
                    }
                    Err(e) if e.error_len().is_some() => return Err(InvalidUtf8),
                    Err(_) => {}
                }
            }
            if self.pending_len == 4 {
                // Unreachable for a valid prefix; refuse rather than loop.
                return Err(InvalidUtf8);
            }
        }
        match std::str::from_utf8(piece) {
            Ok(s) => self.text.push_str(s),
            Err(e) => {
                let (valid, rest) = piece.split_at(e.valid_up_to());
                if e.error_len().is_some() || rest.len() > 3 {
                    return Err(InvalidUtf8);
                }
                // `valid` is valid UTF-8 by the error's contract.
                self.text
                    .push_str(std::str::from_utf8(valid).map_err(|_| InvalidUtf8)?);
                self.pending[..rest.len()].copy_from_slice(rest);
                self.pending_len = rest.len();
            }
        }
        Ok(())
    }

    /// Ends the message: the text, or an error if it stops inside a code point.
    ///
    /// # Errors
    ///
    /// [`InvalidUtf8`] if a code point was left incomplete.
    pub fn finish(self) -> Result<String, InvalidUtf8> {
        if self.pending_len == 0 {
            Ok(self.text)
        } else {
            Err(InvalidUtf8)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn feed(pieces: &[&[u8]]) -> Result<String, InvalidUtf8> {
        let mut s = Utf8Stream::new();
        for p in pieces {
            s.push(p)?;
        }
        s.finish()
    }

    #[test]
    fn code_points_split_anywhere_are_joined() {
        let text = "κόσμε 𝄞 €";
        let bytes = text.as_bytes();
        for a in 0..=bytes.len() {
            for b in a..=bytes.len() {
                let got = feed(&[&bytes[..a], &bytes[a..b], &bytes[b..]]);
                assert_eq!(got.as_deref(), Ok(text), "cuts {a} {b}");
            }
        }
    }

    #[test]
    fn fails_on_the_piece_that_makes_it_invalid() {
        let mut s = Utf8Stream::new();
        s.push("κόσμε".as_bytes()).unwrap();
        // 0xF4 0x90 can never start a valid sequence (> U+10FFFF): refused at once,
        // before the sequence is complete.
        assert_eq!(s.push(&[0xF4]), Ok(()));
        assert_eq!(s.push(&[0x90]), Err(InvalidUtf8));
        assert_eq!(
            Utf8Stream::new().push(&[0xCE, 0xBA, 0xC0]),
            Err(InvalidUtf8)
        );
        assert_eq!(Utf8Stream::new().push(&[0xED, 0xA0]), Err(InvalidUtf8));
        assert_eq!(feed(&[&[0xE2, 0x82]]), Err(InvalidUtf8));
        assert_eq!(feed(&[b"", b""]).as_deref(), Ok(""));
    }

    proptest! {
        #[test]
        fn agrees_with_std_for_any_bytes_and_cuts(
            bytes in proptest::collection::vec(any::<u8>(), 0..40),
            cuts in proptest::collection::vec(0usize..40, 0..4),
        ) {
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(bytes.len())).collect();
            cuts.sort_unstable();
            let mut pieces = Vec::new();
            let mut at = 0;
            for c in cuts {
                pieces.push(&bytes[at..c]);
                at = c;
            }
            pieces.push(&bytes[at..]);
            let want = std::str::from_utf8(&bytes).map(str::to_owned).map_err(|_| InvalidUtf8);
            prop_assert_eq!(feed(&pieces), want);
        }
    }
}
