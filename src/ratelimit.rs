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

    /// Forgets the keys whose budget is full again (every minute, by
    /// [`crate::startup::Application::run`]), and gives back the memory they held.
    pub fn shrink(&self) {
        self.intake_ip.retain_recent();
        self.intake_email.retain_recent();
        self.verify_ip.retain_recent();
        self.intake_ip.shrink_to_fit();
        self.intake_email.shrink_to_fit();
        self.verify_ip.shrink_to_fit();
    }

    /// How many keys the limiters hold.
    pub fn tracked(&self) -> usize {
        self.intake_ip.len() + self.intake_email.len() + self.verify_ip.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shrinking_forgets_clients_whose_budget_is_full_again_and_keeps_the_others() {
        let limits = Limits::new(&RateLimitSettings {
            intake_per_ip_per_minute: 600,
            intake_per_client_email_per_hour: 5,
            verify_per_ip_per_minute: 600,
        });
        for i in 0..1000u32 {
            let ip = IpAddr::from(i.to_be_bytes());
            limits.intake_ip(ip).unwrap();
            limits.verify_ip(ip).unwrap();
        }
        // One client still spending its hourly budget.
        let busy = IpAddr::from([10, 0, 0, 1]);
        limits.intake_identity(busy, b"hash").unwrap();
        assert_eq!(limits.tracked(), 2001);
        // 600 a minute refills one cell every 100 ms.
        std::thread::sleep(Duration::from_millis(250));
        limits.shrink();
        assert_eq!(
            limits.tracked(),
            1,
            "only the client within its hourly budget is left"
        );
        // Forgetting a full budget changes nothing for that client.
        limits.intake_ip(IpAddr::from(7u32.to_be_bytes())).unwrap();
    }
}
