//! Rate limits on intake and code checks, per client address, and per client address and
//! email identity (keyed by the email's keyed hash, so no address sits in memory). No
//! limit is keyed by the email alone: a stranger filing for someone's address spends only
//! their own budget, never the person's. Limits are per process; run one `serve` per
//! trusted proxy, or front it with a shared limiter.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::clock::Clock;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::config::RateLimitSettings;
use crate::error::ApiError;

/// The limiters of one process.
#[derive(Clone)]
pub struct Limits {
    intake_ip: Arc<DefaultKeyedRateLimiter<IpAddr>>,
    intake_email: Arc<DefaultKeyedRateLimiter<(IpAddr, Vec<u8>)>>,
    verify_ip: Arc<DefaultKeyedRateLimiter<IpAddr>>,
}

fn per(count: u32, period: Duration) -> Quota {
    let count = NonZeroU32::new(count).expect("validated non-zero");
    Quota::with_period(period / count.get())
        .expect("non-zero period")
        .allow_burst(count)
}

fn check<K: Clone + std::hash::Hash + Eq>(
    limiter: &DefaultKeyedRateLimiter<K>,
    key: &K,
) -> Result<(), ApiError> {
    limiter.check_key(key).map_err(|not_until| {
        let wait = not_until.wait_time_from(limiter.clock().now());
        ApiError::RateLimited {
            retry_after: wait.as_secs() + u64::from(wait.subsec_nanos() > 0),
        }
    })
}

impl Limits {
    /// Builds the limiters.
    pub fn new(settings: &RateLimitSettings) -> Self {
        Self {
            intake_ip: Arc::new(RateLimiter::keyed(per(
                settings.intake_per_ip_per_minute,
                Duration::from_secs(60),
            ))),
            intake_email: Arc::new(RateLimiter::keyed(per(
                settings.intake_per_client_email_per_hour,
                Duration::from_secs(3600),
            ))),
            verify_ip: Arc::new(RateLimiter::keyed(per(
                settings.verify_per_ip_per_minute,
                Duration::from_secs(60),
            ))),
        }
    }

    /// One intake from `ip`.
    pub fn intake_ip(&self, ip: IpAddr) -> Result<(), ApiError> {
        check(&self.intake_ip, &ip)
    }

    /// One intake from `ip` for the identity with this keyed hash.
    pub fn intake_identity(&self, ip: IpAddr, identity_hash: &[u8]) -> Result<(), ApiError> {
        check(&self.intake_email, &(ip, identity_hash.to_vec()))
    }

    /// One code check from `ip`.
    pub fn verify_ip(&self, ip: IpAddr) -> Result<(), ApiError> {
        check(&self.verify_ip, &ip)
    }

    /// Forgets idle keys (called periodically).
    pub fn shrink(&self) {
        self.intake_ip.retain_recent();
        self.intake_email.retain_recent();
        self.verify_ip.retain_recent();
    }
}
