//! Unmasking client payloads (RFC 6455 §5.3): a word-at-a-time fast path and the
//! byte loop it is checked against.
//!
//! Both take the `offset` of `buf` within the frame's payload, so a payload that
//! arrives in pieces is unmasked piece by piece as it comes in.

/// XORs `buf` with the masking `key`, `buf` starting `offset` bytes into the
/// frame's payload. Processes 8 bytes at a time as one `u64` (safe code: the
/// compiler turns the fixed-size copies into plain loads and stores), then the
/// tail byte by byte. Agrees with [`apply_mask_reference`] on every input (a
/// property test checks it).
pub fn apply_mask(buf: &mut [u8], key: [u8; 4], offset: usize) {
    // The key as seen from buf[0], repeated over 8 bytes.
    let mut rotated = [0u8; 8];
    for (i, b) in rotated.iter_mut().enumerate() {
        *b = key[(offset + i) % 4];
    }
    let word = u64::from_ne_bytes(rotated);
    let mut chunks = buf.chunks_exact_mut(8);
    for chunk in &mut chunks {
        if let Ok(bytes) = <[u8; 8]>::try_from(&*chunk) {
            chunk.copy_from_slice(&(u64::from_ne_bytes(bytes) ^ word).to_ne_bytes());
        }
    }
    // Every chunk was 8 bytes long, so the tail starts at a multiple of 8 and
    // therefore at the same key phase as buf[0].
    for (i, b) in chunks.into_remainder().iter_mut().enumerate() {
        *b ^= rotated[i % 4];
    }
}

/// The reference: XORs byte `i` of `buf` with `key[(offset + i) % 4]`.
pub fn apply_mask_reference(buf: &mut [u8], key: [u8; 4], offset: usize) {
    for (i, b) in buf.iter_mut().enumerate() {
        *b ^= key[(offset + i) % 4];
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn fast_path_agrees_with_the_byte_loop(
            data in proptest::collection::vec(any::<u8>(), 0..300),
            key in any::<[u8; 4]>(),
            offset in 0usize..1000,
            start in 0usize..16,
        ) {
            let start = start.min(data.len());
            let mut fast = data.clone();
            let mut slow = data.clone();
            apply_mask(&mut fast[start..], key, offset);
            apply_mask_reference(&mut slow[start..], key, offset);
            prop_assert_eq!(&fast, &slow);
            // Masking twice restores the input.
            apply_mask(&mut fast[start..], key, offset);
            prop_assert_eq!(&fast, &data);
        }

        #[test]
        fn unmasking_in_pieces_equals_unmasking_at_once(
            data in proptest::collection::vec(any::<u8>(), 0..200),
            key in any::<[u8; 4]>(),
            cut in 0usize..200,
        ) {
            let cut = cut.min(data.len());
            let mut whole = data.clone();
            apply_mask_reference(&mut whole, key, 0);
            let mut pieces = data.clone();
            let (a, b) = pieces.split_at_mut(cut);
            apply_mask(a, key, 0);
            apply_mask(b, key, cut);
            prop_assert_eq!(whole, pieces);
        }
    }
}
