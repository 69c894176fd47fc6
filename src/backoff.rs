//! The one backoff of dockgate: how long to wait before trying again, for everything that
//! retries (a serial port, the site broker, device input the ledger refused, a sink).
//!
//! Delays grow exponentially from `initial` to `max`, counted in consecutive failures, and are
//! jittered so that many retries (a fleet of scanners after a broker restart, the requests of a
//! sink after an outage) do not all come back at the same instant.

use std::time::Duration;

/// How a delay is spread around its exponential ceiling.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Jitter {
    /// Uniform in `[0, ceiling]` ("full jitter"): what sinks use, so the requests of many
    /// gateways spread over the whole window a recovering receiver sees.
    Full,
    /// Uniform in `[ceiling × (1 − f), ceiling × (1 + f))`: devices, whose reopen attempts
    /// should stay close to the schedule.
    Spread(f64),
}

/// Backoff state of one thing that retries.
#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    jitter: Jitter,
    failures: u32,
}

impl Backoff {
    /// Starts at `initial`, doubling up to `max`.
    pub const fn new(initial: Duration, max: Duration, jitter: Jitter) -> Self {
        Self {
            initial,
            max,
            jitter,
            failures: 0,
        }
    }

    /// Devices and device input: 0.5 s doubling to 5 s, ±20 %.
    pub const fn devices() -> Self {
        Self::new(
            Duration::from_millis(500),
            Duration::from_secs(5),
            Jitter::Spread(0.2),
        )
    }

    /// The delay before the next attempt; counts one more failure.
    pub fn next_delay(&mut self) -> Duration {
        let d = delay(
            self.failures,
            self.initial,
            self.max,
            self.jitter,
            rand::random::<f64>(),
        );
        self.failures = self.failures.saturating_add(1);
        d
    }

    /// After a success: the next failure starts from `initial` again.
    pub fn reset(&mut self) {
        self.failures = 0;
    }

    /// Consecutive failures so far.
    pub fn failures(&self) -> u32 {
        self.failures
    }
}

/// The delay after `failures` consecutive failures (counted from 0), for a uniform random
/// `unit` in `[0, 1)`: the ceiling `min(max, initial × 2^failures)`, jittered.
pub fn delay(
    failures: u32,
    initial: Duration,
    max: Duration,
    jitter: Jitter,
    unit: f64,
) -> Duration {
    let exp = initial.saturating_mul(1u32.checked_shl(failures.min(31)).unwrap_or(u32::MAX));
    let ceiling = exp.min(max);
    let unit = unit.clamp(0.0, 1.0);
    match jitter {
        Jitter::Full => ceiling.mul_f64(unit),
        Jitter::Spread(f) => {
            let f = f.clamp(0.0, 1.0);
            ceiling.mul_f64(1.0 - f + 2.0 * f * unit)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_jitter_never_exceeds_its_ceiling() {
        let (i, m) = (Duration::from_secs(1), Duration::from_secs(300));
        let full = |n, u| delay(n, i, m, Jitter::Full, u);
        assert_eq!(full(0, 1.0), Duration::from_secs(1));
        assert_eq!(full(3, 1.0), Duration::from_secs(8));
        assert_eq!(full(20, 1.0), m);
        assert_eq!(full(200, 1.0), m);
        assert_eq!(full(5, 0.0), Duration::ZERO);
        assert_eq!(full(2, 0.5), Duration::from_secs(2));
    }

    #[test]
    fn full_jitter_spreads_over_the_whole_range() {
        let (i, m) = (Duration::from_secs(1), Duration::from_secs(60));
        let delays: Vec<Duration> = (0..200)
            .map(|_| delay(10, i, m, Jitter::Full, rand::random::<f64>()))
            .collect();
        assert!(delays.iter().all(|d| *d <= m));
        let mean = delays.iter().map(|d| d.as_secs_f64()).sum::<f64>() / 200.0;
        assert!(
            (20.0..40.0).contains(&mean),
            "mean {mean} should be near 30"
        );
    }

    #[test]
    fn device_backoff_doubles_to_five_seconds_within_twenty_percent() {
        let mut b = Backoff::devices();
        let mut ceilings = Vec::new();
        for _ in 0..6 {
            let d = b.next_delay().as_secs_f64();
            ceilings.push(d);
        }
        for (d, want) in ceilings.iter().zip([0.5, 1.0, 2.0, 4.0, 5.0, 5.0]) {
            assert!(
                (want * 0.8..=want * 1.2).contains(d),
                "{d} s is not within 20 % of {want} s"
            );
        }
        assert_eq!(b.failures(), 6);
        b.reset();
        assert!(b.next_delay() <= Duration::from_millis(600));
    }
}
