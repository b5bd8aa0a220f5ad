//! Stable seeding helpers: the same inputs give the same RNG on every platform
//! and Rust version (no `std` hashers, whose output is not guaranteed stable).

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// 64-bit FNV-1a of a string.
pub(crate) fn fnv1a(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// SplitMix64 finalizer: a cheap, well-mixing bijection on u64.
pub(crate) fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Combines several words into one seed.
pub(crate) fn combine(parts: &[u64]) -> u64 {
    parts
        .iter()
        .fold(0x5a5a_1234_dead_beef_u64, |acc, p| mix(acc ^ mix(*p)))
}

/// A ChaCha8 generator seeded from several words.
pub(crate) fn rng_for(parts: &[u64]) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(combine(parts))
}

/// A uniform number in [0, 1) derived from several words without an RNG.
pub(crate) fn unit(parts: &[u64]) -> f64 {
    // 53 high bits -> [0, 1)
    (combine(parts) >> 11) as f64 / (1u64 << 53) as f64
}

/// A SplitMix64 sequence: cheap, well mixed, and fast even in a debug
/// build (the daily walk draws a handful of numbers per session from one of
/// these, seeded by the session's date).
pub(crate) struct SplitMix(u64);

impl SplitMix {
    /// The sequence seeded from several words.
    pub(crate) fn new(parts: &[u64]) -> Self {
        Self(combine(parts))
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub(crate) fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Two independent standard normals (Box-Muller).
    pub(crate) fn normal_pair(&mut self) -> (f64, f64) {
        // (0, 1]: the logarithm stays finite.
        let u1 = ((self.next_u64() >> 11) + 1) as f64 / (1u64 << 53) as f64;
        let u2 = self.uniform();
        let r = (-2.0 * u1.ln()).sqrt();
        let a = std::f64::consts::TAU * u2;
        (r * a.cos(), r * a.sin())
    }
}

/// Domain tags so different uses of the same seed never share a stream.
pub(crate) mod tag {
    pub const PATH: u64 = 1;
    pub const INIT: u64 = 2;
    pub const LAST: u64 = 3;
    pub const SPREAD: u64 = 4;
    pub const DAY_VOLUME: u64 = 5;
    pub const HISTORY: u64 = 6;
    pub const OPTION_OI: u64 = 7;
    pub const OPTION_VOL: u64 = 8;
    pub const PARAMS: u64 = 9;
    pub const IV_NOISE: u64 = 10;
}
