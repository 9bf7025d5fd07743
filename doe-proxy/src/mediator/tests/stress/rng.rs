//! A small deterministic pseudo-random generator (xorshift64*), seeded per thread: the
//! stress run draws the same choices every time; only thread timing varies.

use std::time::Duration;

/// xorshift64* (Vigna, "An experimental exploration of Marsaglia's xorshift
/// generators"): plenty for picking pauses and modes.
pub(super) struct Rng(u64);

impl Rng {
    /// A generator for `seed` (any value; zero is mapped away from the fixed point).
    pub(super) fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number in `0..n` (`n` > 0).
    pub(super) fn below(&mut self, n: u64) -> u64 {
        ((self.next() >> 32) * n) >> 32
    }

    /// A pause of up to `max_micros` microseconds.
    pub(super) fn pause(&mut self, max_micros: u64) -> Duration {
        Duration::from_micros(self.below(max_micros + 1))
    }

    /// One of `items` (not empty).
    pub(super) fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }
}

#[test]
fn draws_are_in_range_and_repeat_for_a_seed() {
    let draws = |seed| {
        let mut rng = Rng::new(seed);
        (0..1000).map(|_| rng.below(7)).collect::<Vec<_>>()
    };
    let first = draws(3);
    assert!(first.iter().all(|&n| n < 7));
    assert!((0..7).all(|n| first.contains(&n)));
    assert_eq!(first, draws(3));
    assert_ne!(first, draws(4));
}
