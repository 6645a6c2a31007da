//! Deterministic pseudo-random numbers: SplitMix64 for hashing keys and seeding, xoshiro256**
//! for the per-file row streams.
//!
//! Both are implemented here rather than taken from a crate so that the bytes generated for a
//! seed never change when a dependency is updated. Changing anything in this file changes every
//! generated file; the golden tests in `tests/determinism.rs` exist to catch that.

/// SplitMix64's increment (2^64 / golden ratio).
const GOLDEN: u64 = 0x9e37_79b9_7f4a_7c15;

/// SplitMix64's output function: a bijective 64-bit mixer.
pub(crate) const fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Hashes a key of several words into one, order-sensitively.
pub(crate) fn hash_key(parts: &[u64]) -> u64 {
    parts
        .iter()
        .fold(GOLDEN, |h, &p| mix64(h.wrapping_add(GOLDEN) ^ mix64(p)))
}

/// Draws derived from a 64-bit source.
pub(crate) trait Draw {
    /// The next 64 random bits.
    fn next_u64(&mut self) -> u64;

    /// A value in `0..n` (`n > 0`), by Lemire's multiply-shift.
    ///
    /// The bias (at most n / 2^64) is irrelevant for mock data, and skipping the rejection step
    /// keeps the number of draws per row fixed, which keeps streams aligned.
    fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// A value in `lo..=hi`.
    fn between(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }

    /// True with probability `p` (`p >= 1.0` is always true, `p <= 0.0` never).
    fn chance(&mut self, p: f64) -> bool {
        // 53 random bits as a float in [0, 1).
        ((self.next_u64() >> 11) as f64) * (1.0 / (1u64 << 53) as f64) < p
    }
}

/// SplitMix64: tiny state, used for per-id attribute draws (a handful of values per key).
#[derive(Clone, Debug)]
pub(crate) struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    /// A generator whose whole output is a function of `key`.
    pub(crate) fn for_key(parts: &[u64]) -> Self {
        Self {
            state: hash_key(parts),
        }
    }

    /// A generator starting from a raw state (the reference algorithm's seed).
    #[cfg(test)]
    pub(crate) const fn from_state(state: u64) -> Self {
        Self { state }
    }
}

impl Draw for SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(GOLDEN);
        mix64(self.state)
    }
}

/// xoshiro256**: the row stream of one file (fast, 2^256 - 1 period).
#[derive(Clone, Debug)]
pub(crate) struct Xoshiro256 {
    s: [u64; 4],
}

impl Xoshiro256 {
    /// A stream seeded from `key` through SplitMix64, as the xoshiro authors recommend.
    pub(crate) fn for_key(parts: &[u64]) -> Self {
        let mut seeder = SplitMix64::for_key(parts);
        let s = [
            seeder.next_u64(),
            seeder.next_u64(),
            seeder.next_u64(),
            seeder.next_u64(),
        ];
        Self::from_state(s)
    }

    /// A stream starting from a raw state (must not be all zero).
    pub(crate) const fn from_state(s: [u64; 4]) -> Self {
        Self { s }
    }
}

impl Draw for Xoshiro256 {
    fn next_u64(&mut self) -> u64 {
        let result = self.s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = self.s[1] << 17;
        self.s[2] ^= self.s[0];
        self.s[3] ^= self.s[1];
        self.s[1] ^= self.s[2];
        self.s[0] ^= self.s[3];
        self.s[2] ^= t;
        self.s[3] = self.s[3].rotate_left(45);
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xoshiro256starstar_matches_the_reference_implementation() {
        // First outputs of the reference C code from the state {1, 2, 3, 4}.
        let mut rng = Xoshiro256::from_state([1, 2, 3, 4]);
        let expected = [11520, 0, 1509978240, 1215971899390074240];
        for want in expected {
            assert_eq!(rng.next_u64(), want);
        }
    }

    #[test]
    fn splitmix64_matches_the_reference_implementation() {
        // First outputs of the reference C code seeded with 1234567.
        let mut rng = SplitMix64::from_state(1234567);
        let expected = [
            6457827717110365317,
            3203168211198807973,
            9817491932198370423,
            4593380528125082431,
            16408922859458223821,
        ];
        for want in expected {
            assert_eq!(rng.next_u64(), want);
        }
    }

    #[test]
    fn below_stays_in_range_and_covers_it() {
        let mut rng = Xoshiro256::for_key(&[7]);
        let mut seen = [false; 10];
        for _ in 0..10_000 {
            let v = rng.below(10) as usize;
            seen[v] = true;
        }
        assert!(seen.iter().all(|&s| s));
    }

    #[test]
    fn chance_respects_the_edges() {
        let mut rng = SplitMix64::for_key(&[1, 2]);
        assert!((0..1000).all(|_| rng.chance(1.0)));
        assert!((0..1000).all(|_| !rng.chance(0.0)));
    }

    #[test]
    fn keys_are_order_sensitive() {
        assert_ne!(hash_key(&[1, 2]), hash_key(&[2, 1]));
        assert_ne!(hash_key(&[0]), hash_key(&[0, 0]));
    }
}
