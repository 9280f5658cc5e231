//! SHA-256 of several buffers at once: a message's raw MIME and its
//! attachments, which an import must all hash.
//!
//! On the CPU's SHA instructions one digest is a single dependency chain:
//! each pair of rounds waits for the one before, and the SHA unit sits idle
//! between them (about 2 GB/s here, whichever library computes it). Two
//! independent buffers stepped through their rounds side by side fill part
//! of those gaps: 3.0 GB/s for two lanes against 2.05 GB/s for one on this
//! machine's EPYC, which cut the import's user CPU by a tenth. A lane that
//! finishes its buffer takes the next one, so buffers of different lengths
//! (a raw message and its attachments) still pair up until the last.
//! Without those instructions every buffer is hashed on its own by `sha2`.
//!
//! `tape-sha256` has multi-buffer SHA-256, but interleaves only buffers of
//! equal length on these instructions, and its AVX-512 lanes hashed mail
//! of mixed sizes at 0.7 GB/s here.

use sha2::{Digest, Sha256};

/// The SHA-256 digest of each input, in order.
pub fn sha256_each(inputs: &[&[u8]]) -> Vec<[u8; 32]> {
    #[cfg(target_arch = "x86_64")]
    if inputs.len() > 1 && shani::available() {
        // SAFETY: the instructions are there, as just checked.
        return unsafe { shani::digest_all(inputs) };
    }
    inputs.iter().map(|input| Sha256::digest(input).into()).collect()
}

#[cfg(target_arch = "x86_64")]
mod shani {
    use std::arch::x86_64::*;

    /// The initial hash value (FIPS 180-4, 5.3.3).
    const H0: [u32; 8] = [
        0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab,
        0x5be0cd19,
    ];

    /// One buffer on its way through the compression function: its whole
    /// 64-byte blocks straight from the input, then its last bytes with the
    /// padding (FIPS 180-4, 5.1.1) in one or two blocks of its own.
    struct Job<'a> {
        state: [u32; 8],
        /// Whole blocks not yet compressed.
        blocks: &'a [u8],
        tail: [u8; 128],
        tail_len: usize,
        /// Padded bytes of `tail` already compressed.
        tail_done: usize,
    }

    impl<'a> Job<'a> {
        fn new(input: &'a [u8]) -> Job<'a> {
            let whole = input.len() - input.len() % 64;
            let (blocks, rest) = input.split_at(whole);
            let mut tail = [0u8; 128];
            tail[..rest.len()].copy_from_slice(rest);
            tail[rest.len()] = 0x80;
            // The length in bits, big-endian, ends the last block; a rest of
            // more than 55 bytes leaves no room for it and takes a second one.
            let tail_len = if rest.len() < 56 { 64 } else { 128 };
            let bits = (input.len() as u64).wrapping_mul(8);
            tail[tail_len - 8..tail_len].copy_from_slice(&bits.to_be_bytes());
            Job { state: H0, blocks, tail, tail_len, tail_done: 0 }
        }

        /// The bytes to compress next, a whole number of blocks; empty once done.
        fn pending(&self) -> &[u8] {
            if self.blocks.is_empty() {
                &self.tail[self.tail_done..self.tail_len]
            } else {
                self.blocks
            }
        }

        fn advance(&mut self, bytes: usize) {
            if self.blocks.is_empty() {
                self.tail_done += bytes;
            } else {
                self.blocks = &self.blocks[bytes..];
            }
        }

        fn digest(&self) -> [u8; 32] {
            let mut out = [0u8; 32];
            for (chunk, word) in out.chunks_exact_mut(4).zip(self.state) {
                chunk.copy_from_slice(&word.to_be_bytes());
            }
            out
        }
    }

    /// The round constants (FIPS 180-4, 4.2.2).
    const K: [u32; 64] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
        0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
        0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
        0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
        0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
        0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
        0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
        0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
        0xc67178f2,
    ];

    pub(super) fn available() -> bool {
        is_x86_feature_detected!("sha")
            && is_x86_feature_detected!("sse4.1")
            && is_x86_feature_detected!("ssse3")
    }

    /// Hashes every input, two lanes at a time.
    ///
    /// # Safety
    /// [`available`] must have said the instructions are there.
    pub(super) unsafe fn digest_all(inputs: &[&[u8]]) -> Vec<[u8; 32]> {
        let mut jobs: Vec<Job<'_>> = inputs.iter().map(|input| Job::new(input)).collect();
        let mut queue = 0..jobs.len();
        let mut lanes: [Option<usize>; 2] = [None, None];
        loop {
            for lane in &mut lanes {
                if lane.is_none() {
                    *lane = queue.next();
                }
            }
            match lanes {
                [Some(a), Some(b)] => {
                    let (first, second) = jobs.split_at_mut(a.max(b));
                    let (job_a, job_b) = if a < b {
                        (&mut first[a], &mut second[0])
                    } else {
                        (&mut second[0], &mut first[b])
                    };
                    let bytes = job_a.pending().len().min(job_b.pending().len());
                    let (mut state_a, mut state_b) = (job_a.state, job_b.state);
                    // SAFETY: the caller made sure of the instructions.
                    unsafe {
                        compress_two(
                            &mut state_a,
                            &job_a.pending()[..bytes],
                            &mut state_b,
                            &job_b.pending()[..bytes],
                        );
                    }
                    (job_a.state, job_b.state) = (state_a, state_b);
                    job_a.advance(bytes);
                    job_b.advance(bytes);
                }
                [Some(a), None] | [None, Some(a)] => {
                    let job = &mut jobs[a];
                    let mut state = job.state;
                    while !job.pending().is_empty() {
                        let bytes = job.pending().len();
                        // SAFETY: as above.
                        unsafe { compress_one(&mut state, job.pending()) };
                        job.advance(bytes);
                    }
                    job.state = state;
                }
                [None, None] => break,
            }
            for lane in &mut lanes {
                if lane.is_some_and(|at| jobs[at].pending().is_empty()) {
                    *lane = None;
                }
            }
        }
        jobs.iter().map(Job::digest).collect()
    }

    /// A state as the SHA instructions hold it: words A, B, E, F in one
    /// register and C, D, G, H in the other (highest lane first).
    #[derive(Clone, Copy)]
    struct Lane {
        abef: __m128i,
        cdgh: __m128i,
    }

    #[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
    fn load(state: &[u32; 8]) -> Lane {
        // SAFETY: each load reads four of the array's eight words.
        let (abcd, efgh) = unsafe {
            (_mm_loadu_si128(state.as_ptr().cast()), _mm_loadu_si128(state.as_ptr().add(4).cast()))
        };
        let badc = _mm_shuffle_epi32(abcd, 0xB1);
        let hgfe = _mm_shuffle_epi32(efgh, 0x1B);
        Lane { abef: _mm_alignr_epi8(badc, hgfe, 8), cdgh: _mm_blend_epi16(hgfe, badc, 0xF0) }
    }

    #[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
    fn store(lane: Lane, state: &mut [u32; 8]) {
        let feba = _mm_shuffle_epi32(lane.abef, 0x1B);
        let dchg = _mm_shuffle_epi32(lane.cdgh, 0xB1);
        let abcd = _mm_blend_epi16(feba, dchg, 0xF0);
        let efgh = _mm_alignr_epi8(dchg, feba, 8);
        // SAFETY: each store writes four of the array's eight words.
        unsafe {
            _mm_storeu_si128(state.as_mut_ptr().cast(), abcd);
            _mm_storeu_si128(state.as_mut_ptr().add(4).cast(), efgh);
        }
    }

    /// The block's sixteen words, big-endian in the input, in four registers.
    #[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
    fn words(block: &[u8]) -> [__m128i; 4] {
        assert!(block.len() >= 64, "a block is 64 bytes");
        let swap = _mm_set_epi8(12, 13, 14, 15, 8, 9, 10, 11, 4, 5, 6, 7, 0, 1, 2, 3);
        // SAFETY: the assertion above keeps all four 16-byte loads in bounds.
        std::array::from_fn(|i| unsafe {
            _mm_shuffle_epi8(_mm_loadu_si128(block.as_ptr().add(16 * i).cast()), swap)
        })
    }

    /// Compresses the same number of blocks into each of `N` states.
    #[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
    fn compress<const N: usize>(states: [&mut [u32; 8]; N], inputs: [&[u8]; N]) {
        let mut lanes: [Lane; N] = std::array::from_fn(|i| load(states[i]));
        for block in 0..inputs[0].len() / 64 {
            let start = lanes;
            // The message schedule, four words at a time in four registers
            // per lane: group g's words replace those of group g - 4, and
            // are computed from the four groups before it.
            let mut w: [[__m128i; 4]; N] = std::array::from_fn(|i| words(&inputs[i][64 * block..]));
            // Written out sixteen times, so every register index is a
            // constant and the lanes' words stay in registers.
            macro_rules! group {
                ($g:literal) => {{
                    const SLOT: usize = $g % 4;
                    for lane in &mut w {
                        if $g >= 4 {
                            let sigma0 = _mm_sha256msg1_epu32(lane[SLOT], lane[(SLOT + 1) % 4]);
                            let w7 = _mm_alignr_epi8(lane[(SLOT + 3) % 4], lane[(SLOT + 2) % 4], 4);
                            lane[SLOT] = _mm_sha256msg2_epu32(
                                _mm_add_epi32(sigma0, w7),
                                lane[(SLOT + 3) % 4],
                            );
                        }
                    }
                    // SAFETY: the load reads four of K's 64 words.
                    let k = unsafe { _mm_loadu_si128(K.as_ptr().add(4 * $g).cast()) };
                    let wk: [__m128i; N] = std::array::from_fn(|i| _mm_add_epi32(w[i][SLOT], k));
                    // Each lane's two pairs of rounds depend on each other;
                    // the lanes' do not, so they alternate.
                    for (lane, wk) in lanes.iter_mut().zip(&wk) {
                        let next = _mm_sha256rnds2_epu32(lane.cdgh, lane.abef, *wk);
                        lane.cdgh = lane.abef;
                        lane.abef = next;
                    }
                    for (lane, wk) in lanes.iter_mut().zip(&wk) {
                        let high = _mm_shuffle_epi32(*wk, 0x0E);
                        let next = _mm_sha256rnds2_epu32(lane.cdgh, lane.abef, high);
                        lane.cdgh = lane.abef;
                        lane.abef = next;
                    }
                }};
            }
            group!(0);
            group!(1);
            group!(2);
            group!(3);
            group!(4);
            group!(5);
            group!(6);
            group!(7);
            group!(8);
            group!(9);
            group!(10);
            group!(11);
            group!(12);
            group!(13);
            group!(14);
            group!(15);
            for (lane, start) in lanes.iter_mut().zip(start) {
                lane.abef = _mm_add_epi32(lane.abef, start.abef);
                lane.cdgh = _mm_add_epi32(lane.cdgh, start.cdgh);
            }
        }
        for (lane, state) in lanes.into_iter().zip(states) {
            store(lane, state);
        }
    }

    /// # Safety
    /// The CPU must have the SHA, SSSE3 and SSE4.1 instructions.
    #[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
    unsafe fn compress_two(a: &mut [u32; 8], blocks_a: &[u8], b: &mut [u32; 8], blocks_b: &[u8]) {
        compress([a, b], [blocks_a, blocks_b]);
    }

    /// # Safety
    /// As [`compress_two`].
    #[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
    unsafe fn compress_one(state: &mut [u32; 8], blocks: &[u8]) {
        compress([state], [blocks]);
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn one_by_one(inputs: &[&[u8]]) -> Vec<[u8; 32]> {
        inputs.iter().map(|input| Sha256::digest(input).into()).collect()
    }

    /// Bytes that differ from block to block, so a block read twice, skipped
    /// or taken from the wrong buffer changes a digest.
    fn bytes(len: usize, seed: u8) -> Vec<u8> {
        (0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ (i >> 8) as u8).collect()
    }

    #[test]
    fn a_pair_of_every_length_around_the_padding_matches_sha2() {
        // 55 and 56 bytes are where the length stops fitting in the last
        // block; 64 and 119/120 the same one block on.
        let lengths: Vec<usize> = (0..=130).chain([191, 192, 4095, 4096, 4097]).collect();
        for &a in &lengths {
            for b in [0, 1, 55, 56, 63, 64, 65, 119, 120, 128, 1000] {
                let (x, y) = (bytes(a, 1), bytes(b, 2));
                let inputs = [x.as_slice(), y.as_slice()];
                assert_eq!(sha256_each(&inputs), one_by_one(&inputs), "lengths {a} and {b}");
            }
        }
    }

    #[test]
    fn a_lane_that_finishes_takes_the_next_buffer() {
        // A raw message and its attachments: the long first one shares its
        // lane time with each of the others in turn.
        let raw = bytes(300_000, 3);
        let parts = [bytes(70_000, 4), bytes(0, 5), bytes(130_001, 6), bytes(57, 7)];
        let mut inputs: Vec<&[u8]> = vec![&raw];
        inputs.extend(parts.iter().map(Vec::as_slice));
        assert_eq!(sha256_each(&inputs), one_by_one(&inputs));
        inputs.reverse();
        assert_eq!(sha256_each(&inputs), one_by_one(&inputs));
    }

    #[test]
    fn known_digests() {
        // FIPS 180-4's examples, and the empty string.
        let abc = sha256_each(&[
            b"abc",
            b"",
            b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
        ]);
        let hex: Vec<String> = abc.iter().map(hex::encode).collect();
        assert_eq!(hex[0], "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert_eq!(hex[1], "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        assert_eq!(hex[2], "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    }

    /// On a CPU with SHA instructions, the two-lane path itself; without
    /// them `sha256_each` never takes it, and this says so.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn the_two_lane_path_matches_sha2_where_the_cpu_has_it() {
        if !shani::available() {
            eprintln!("this CPU has no SHA instructions: sha256_each hashes with sha2 alone");
            return;
        }
        let inputs: Vec<Vec<u8>> = (0..9).map(|i| bytes(i * 997 + 3, i as u8)).collect();
        let inputs: Vec<&[u8]> = inputs.iter().map(Vec::as_slice).collect();
        // SAFETY: the instructions are there, as just checked.
        let digest_all = |inputs: &[&[u8]]| unsafe { shani::digest_all(inputs) };
        assert_eq!(digest_all(&inputs), one_by_one(&inputs));
        assert_eq!(digest_all(&inputs[..1]), one_by_one(&inputs[..1]));
        assert_eq!(digest_all(&[]), Vec::<[u8; 32]>::new());
    }

    proptest! {
        #[test]
        fn any_buffers_hash_as_sha2_hashes_them(
            inputs in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..3000), 0..6)
        ) {
            let inputs: Vec<&[u8]> = inputs.iter().map(Vec::as_slice).collect();
            prop_assert_eq!(sha256_each(&inputs), one_by_one(&inputs));
        }
    }
}
