//! Run state shared by the nodes of a run: the token buckets of the endpoints they name.

use std::collections::HashMap;
use std::sync::Mutex;

use pocket::layer::rate_limit::RateLimiter;

/// The token buckets shared by the nodes that name the same endpoint (`llm`'s `rate_limit`),
/// one set per run unless a caller shares one on purpose ([`BuildOptions::limiters`]):
/// building two workflows with the same set makes them spend one budget.
///
/// [`BuildOptions::limiters`]: crate::BuildOptions::limiters
#[derive(Debug, Default)]
pub struct SharedLimiters {
    buckets: Mutex<HashMap<String, (f64, RateLimiter)>>,
}

impl SharedLimiters {
    /// No buckets yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// The bucket of `endpoint`, created at `per_second` (bursts of `burst`) by the first node
    /// that names it; later nodes must ask for the same rate.
    pub(crate) fn get(&self, endpoint: &str, per_second: f64, burst: u32) -> Result<RateLimiter, String> {
        let mut all = self.buckets.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((rate, limiter)) = all.get(endpoint) {
            if (rate - per_second).abs() > f64::EPSILON {
                return Err(format!(
                    "another node already limits `{endpoint}` to a different rate; give them the same"
                ));
            }
            return Ok(limiter.clone());
        }
        let limiter = RateLimiter::new(per_second, burst).map_err(|e| e.to_string())?;
        all.insert(endpoint.to_string(), (per_second, limiter.clone()));
        Ok(limiter)
    }
}

#[cfg(test)]
mod tests {
    use super::SharedLimiters;

    #[test]
    fn nodes_naming_one_endpoint_share_one_bucket() {
        let limits = SharedLimiters::new();
        let a = limits.get("http://x/v1", 10.0, 100).unwrap();
        let b = limits.get("http://x/v1", 10.0, 100).unwrap();
        let other = limits.get("http://y/v1", 10.0, 100).unwrap();
        assert!(a.try_acquire(100), "the bucket starts full");
        assert!(!b.try_acquire(1), "the second node sees the first one's spending");
        assert!(other.try_acquire(100), "another endpoint has its own bucket");
        assert!(limits.get("http://x/v1", 20.0, 100).unwrap_err().contains("different rate"));
        let next_run = SharedLimiters::new();
        assert!(next_run.get("http://x/v1", 10.0, 100).unwrap().try_acquire(100), "runs do not share by default");
    }
}
