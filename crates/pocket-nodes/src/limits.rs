//! Run state shared by the nodes of a run: the token buckets of the endpoints they name, and
//! the workflow's named `limits:`.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use pocket::layer::concurrency_limit::ConcurrencyLimit;
use pocket::layer::rate_limit::RateLimiter;
use pocket_yaml::LimitSpec;

/// One named limit of a run: a request rate, a token rate and a bound on calls in flight
/// (each optional), shared by every node and `map` item that names it.
#[derive(Debug, Clone)]
pub(crate) struct NamedLimit {
    pub(crate) requests: Option<RateLimiter>,
    /// Its token rate and tokens a minute (read by the `llm` node type, behind `http`).
    #[cfg_attr(not(feature = "http"), allow(dead_code))]
    pub(crate) tokens: Option<(RateLimiter, u64)>,
    pub(crate) concurrency: Option<ConcurrencyLimit>,
}

impl NamedLimit {
    fn new(name: &str, spec: &LimitSpec) -> Result<Self, String> {
        let requests = spec
            .requests_per_second
            .map(|rate| {
                // Default burst: one second's worth, at least one request.
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                let burst = spec.burst.unwrap_or_else(|| rate.ceil().clamp(1.0, f64::from(u32::MAX)) as u32);
                RateLimiter::new(rate, burst).map(|l| l.labeled(name)).map_err(|e| e.to_string())
            })
            .transpose()?;
        let tokens = spec
            .tokens_per_minute
            .map(|per_minute| {
                #[allow(clippy::cast_precision_loss)]
                let rate = per_minute as f64 / 60.0;
                RateLimiter::new(rate, u32::try_from(per_minute).unwrap_or(u32::MAX))
                    .map(|limiter| (limiter.labeled(format!("{name} (tokens)")), per_minute))
                    .map_err(|e| e.to_string())
            })
            .transpose()?;
        Ok(NamedLimit {
            requests,
            tokens,
            concurrency: spec.max_concurrency.map(|n| ConcurrencyLimit::new(n).labeled(name)),
        })
    }
}

/// The token buckets shared by the nodes that name the same endpoint (`llm`'s `rate_limit`),
/// one set per run unless a caller shares one on purpose ([`BuildOptions::limiters`]):
/// building two workflows with the same set makes them spend one budget.
///
/// [`BuildOptions::limiters`]: crate::BuildOptions::limiters
#[derive(Debug, Default)]
pub struct SharedLimiters {
    buckets: Mutex<HashMap<String, (f64, RateLimiter)>>,
    named: Mutex<BTreeMap<String, (LimitSpec, NamedLimit)>>,
    /// Checking nodes without their workflow's `limits:` (a file with other problems): any
    /// name stands for no limit.
    any_name: bool,
}

impl SharedLimiters {
    /// No buckets yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// A set in which every limit name is known and limits nothing: for checking nodes apart
    /// from their workflow.
    pub(crate) fn lenient() -> Self {
        SharedLimiters { any_name: true, ..Self::default() }
    }

    /// Define a workflow's named limits (a name defined before, by another workflow built
    /// with this set, must have the same settings).
    pub(crate) fn define(&self, limits: &BTreeMap<String, LimitSpec>) -> Vec<(String, String)> {
        let mut named = self.named.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut problems = Vec::new();
        for (name, spec) in limits {
            match named.get(name) {
                Some((known, _)) if same(known, spec) => {}
                Some(_) => problems.push((
                    name.clone(),
                    "is already defined with other settings by a workflow sharing this run's limits".to_string(),
                )),
                None => match NamedLimit::new(name, spec) {
                    Ok(limit) => {
                        named.insert(name.clone(), (spec.clone(), limit));
                    }
                    Err(e) => problems.push((name.clone(), e)),
                },
            }
        }
        problems
    }

    /// The named limit `name`.
    pub(crate) fn named(&self, name: &str) -> Result<NamedLimit, String> {
        let named = self.named.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((_, limit)) = named.get(name) {
            return Ok(limit.clone());
        }
        if self.any_name {
            return Ok(NamedLimit { requests: None, tokens: None, concurrency: None });
        }
        let known: Vec<&str> = named.keys().map(String::as_str).collect();
        Err(if known.is_empty() {
            format!("no limit is named `{name}`: the workflow has no `limits:`")
        } else {
            let hint = pocket_yaml::did_you_mean(name, known.iter().copied());
            format!("no limit is named `{name}` (the workflow's `limits:` has {}){hint}", known.join(", "))
        })
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

/// Two specs with the same settings (wherever they are written).
fn same(a: &LimitSpec, b: &LimitSpec) -> bool {
    (a.requests_per_second, a.burst, a.tokens_per_minute, a.max_concurrency)
        == (b.requests_per_second, b.burst, b.tokens_per_minute, b.max_concurrency)
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
