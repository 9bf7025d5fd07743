//! Rate limits: a token bucket per client × function × rule.
//!
//! The bucket is kept as a "theoretical arrival time" (the generic cell rate algorithm),
//! which behaves exactly like a bucket of `burst` tokens refilled at `per_second`, in
//! integer time and one field.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::time::Duration;

use crate::clock::Clock;
use crate::decision::{Decision, DenyReason, RuleRef, Verdict};
use crate::ids::{ClientIdentity, FunctionId};

/// The highest rate and burst a policy may set; above it a limit means nothing.
pub const MAX_RATE: u32 = 1_000_000;

/// A sustained rate with a burst.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RateLimit {
    /// Exchanges per second, sustained.
    pub per_second: NonZeroU32,
    /// Exchanges allowed back to back after a quiet period.
    pub burst: NonZeroU32,
}

impl RateLimit {
    /// Time for one token to come back.
    fn interval(&self) -> Duration {
        Duration::from_secs(1) / self.per_second.get()
    }
}

/// One token bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenBucket {
    limit: RateLimit,
    /// When the bucket would be full again if nothing more were taken.
    theoretical_arrival: Duration,
}

impl TokenBucket {
    /// A full bucket.
    pub fn new(limit: RateLimit) -> Self {
        TokenBucket {
            limit,
            theoretical_arrival: Duration::ZERO,
        }
    }

    /// Takes a token at monotonic time `now`; false if the bucket is empty.
    pub fn try_take(&mut self, now: Duration) -> bool {
        let interval = self.limit.interval();
        let tolerance = interval * (self.limit.burst.get() - 1);
        let arrival = self.theoretical_arrival.max(now);
        if arrival > now + tolerance {
            return false;
        }
        self.theoretical_arrival = arrival + interval;
        true
    }
}

/// The key of one bucket: a client, a function, and the rule whose limit applies.
type BucketKey = (ClientIdentity, FunctionId, usize);

/// Token buckets for every client × function × rule seen, on an injected clock.
#[derive(Debug)]
pub struct RateLimiter<C: Clock> {
    clock: C,
    buckets: HashMap<BucketKey, TokenBucket>,
}

impl<C: Clock> RateLimiter<C> {
    /// A limiter with no buckets yet.
    pub fn new(clock: C) -> Self {
        RateLimiter {
            clock,
            buckets: HashMap::new(),
        }
    }

    /// Applies the rate limit of an allow decision: returns it unchanged if the client's
    /// bucket for that function and rule has a token (and takes it), else a rate-limited
    /// denial by the same rule. Denials and unlimited allows pass through untouched.
    ///
    /// A bucket whose rule now carries a different limit (after a reload) starts full.
    pub fn admit(
        &mut self,
        client: &ClientIdentity,
        function: &FunctionId,
        decision: Decision,
    ) -> Decision {
        let (Verdict::Allow, Some(limit), RuleRef::Rule(rule)) =
            (decision.verdict, decision.rate_limit, &decision.rule)
        else {
            return decision;
        };
        let now = self.clock.monotonic();
        let key = (client.clone(), *function, rule.number);
        let bucket = self
            .buckets
            .entry(key)
            .or_insert_with(|| TokenBucket::new(limit));
        if bucket.limit != limit {
            *bucket = TokenBucket::new(limit);
        }
        if bucket.try_take(now) {
            decision
        } else {
            Decision::deny(DenyReason::RateLimited, decision.rule)
        }
    }

    /// Drops the buckets of a client that has gone (a guest that stopped, a closed
    /// connection).
    pub fn forget_client(&mut self, client: &ClientIdentity) {
        self.buckets.retain(|(owner, _, _), _| owner != client);
    }

    /// Number of buckets held.
    pub fn len(&self) -> usize {
        self.buckets.len()
    }

    /// True if no bucket is held.
    pub fn is_empty(&self) -> bool {
        self.buckets.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::clock::ManualClock;
    use crate::decision::RuleId;

    fn limit(per_second: u32, burst: u32) -> RateLimit {
        RateLimit {
            per_second: NonZeroU32::new(per_second).unwrap(),
            burst: NonZeroU32::new(burst).unwrap(),
        }
    }

    #[test]
    fn bucket_allows_burst_then_the_rate() {
        let mut bucket = TokenBucket::new(limit(10, 3));
        let start = Duration::from_secs(5);
        assert!((0..3).all(|_| bucket.try_take(start)));
        assert!(!bucket.try_take(start));
        // One token comes back every 100 ms.
        assert!(!bucket.try_take(start + Duration::from_millis(99)));
        assert!(bucket.try_take(start + Duration::from_millis(100)));
        assert!(!bucket.try_take(start + Duration::from_millis(100)));
        // After a quiet second the bucket is full again, and no fuller.
        let later = start + Duration::from_secs(2);
        assert!((0..3).all(|_| bucket.try_take(later)));
        assert!(!bucket.try_take(later));
    }

    #[test]
    fn burst_of_one_is_a_plain_rate() {
        let mut bucket = TokenBucket::new(limit(2, 1));
        assert!(bucket.try_take(Duration::ZERO));
        assert!(!bucket.try_take(Duration::from_millis(499)));
        assert!(bucket.try_take(Duration::from_millis(500)));
    }

    fn allow_by_rule(number: usize, rate: RateLimit) -> Decision {
        let id = RuleId {
            name: None,
            number,
            line: number,
        };
        Decision::allow(RuleRef::Rule(Arc::new(id)), Some(rate))
    }

    #[test]
    fn limiter_keeps_a_bucket_per_client_and_function() {
        let clock = ManualClock::default();
        let mut limiter = RateLimiter::new(clock.clone());
        let vm_a = ClientIdentity::guest("vm-a");
        let vm_b = ClientIdentity::guest("vm-b");
        let function = FunctionId::new("0d:00.0".parse().unwrap(), 0x8086, 0x0d93);
        let other = FunctionId::new("0e:00.0".parse().unwrap(), 0x8086, 0x0d93);
        let decision = allow_by_rule(1, limit(1, 2));

        let admit = |limiter: &mut RateLimiter<ManualClock>, client, function| {
            limiter
                .admit(client, function, decision.clone())
                .is_allowed()
        };
        assert!(admit(&mut limiter, &vm_a, &function));
        assert!(admit(&mut limiter, &vm_a, &function));
        let limited = limiter.admit(&vm_a, &function, decision.clone());
        assert_eq!(limited.deny_reason(), Some(DenyReason::RateLimited));
        assert_eq!(limited.rule, decision.rule);
        // Other clients and other functions have their own buckets.
        assert!(admit(&mut limiter, &vm_b, &function));
        assert!(admit(&mut limiter, &vm_a, &other));
        clock.advance(Duration::from_secs(1));
        assert!(admit(&mut limiter, &vm_a, &function));
        assert_eq!(limiter.len(), 3);
        limiter.forget_client(&vm_a);
        assert_eq!(limiter.len(), 1);
    }

    #[test]
    fn limiter_passes_denials_and_unlimited_allows() {
        let mut limiter = RateLimiter::new(ManualClock::default());
        let client = ClientIdentity::guest("vm-a");
        let function = FunctionId::new("0d:00.0".parse().unwrap(), 0x8086, 0x0d93);
        let unlimited = Decision::allow(RuleRef::Discovery, None);
        let denied = Decision::deny(DenyReason::NoMatchingRule, RuleRef::NoMatch);
        for _ in 0..10 {
            assert_eq!(
                limiter.admit(&client, &function, unlimited.clone()),
                unlimited
            );
            assert_eq!(limiter.admit(&client, &function, denied.clone()), denied);
        }
        assert!(limiter.is_empty());
    }

    #[test]
    fn a_changed_limit_restarts_the_bucket() {
        let mut limiter = RateLimiter::new(ManualClock::default());
        let client = ClientIdentity::guest("vm-a");
        let function = FunctionId::new("0d:00.0".parse().unwrap(), 0x8086, 0x0d93);
        let strict = allow_by_rule(1, limit(1, 1));
        assert!(limiter
            .admit(&client, &function, strict.clone())
            .is_allowed());
        assert!(!limiter.admit(&client, &function, strict).is_allowed());
        let relaxed = allow_by_rule(1, limit(1, 5));
        assert!(limiter.admit(&client, &function, relaxed).is_allowed());
    }
}
