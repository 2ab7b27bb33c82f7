//! A tiny deterministic PRNG (SplitMix64). The same `--seed` must give the same modules
//! and mutants on every machine and Rust release, which rules out std's hashers; and a
//! reproducer names its case by (seed, n), so every case derives its own stream with
//! [`case_seed`] and can be regenerated without replaying the cases before it.

pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform-enough in `0..n` (0 when `n` is 0); the modulo bias is irrelevant here.
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next_u64() % n
        }
    }

    /// An index into a collection of `len` items (0 when empty).
    pub fn index(&mut self, len: usize) -> usize {
        self.below(len as u64) as usize
    }

    /// True with probability `num / den`.
    pub fn chance(&mut self, num: u64, den: u64) -> bool {
        self.below(den) < num
    }

    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        let mut v = Vec::with_capacity(n + 8);
        while v.len() < n {
            v.extend_from_slice(&self.next_u64().to_le_bytes());
        }
        v.truncate(n);
        v
    }

    /// One of a few "interesting" 32-bit values, or a random one: boundary values find
    /// more bugs in range checks than uniformly random words do.
    pub fn interesting_u32(&mut self, near: u32) -> u32 {
        match self.below(8) {
            0 => 0,
            1 => u32::MAX,
            2 => near.wrapping_add(1),
            3 => near.wrapping_sub(1),
            4 => near.wrapping_add(1 + self.below(1000) as u32),
            5 => 0x8000_0000,
            6 => 1 << self.below(32),
            _ => self.next_u64() as u32,
        }
    }
}

/// The seed of case `n` of `stream` ("module", "mutant", ...) in a run seeded `seed`.
pub fn case_seed(seed: u64, stream: &str, n: u64) -> u64 {
    let mut r = Rng::new(seed);
    for b in stream.bytes() {
        r.0 ^= b as u64;
        r.next_u64();
    }
    r.0 ^= n.wrapping_mul(0xd6e8_feb8_6659_fd93);
    r.next_u64()
}
