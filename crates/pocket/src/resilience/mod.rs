//! Resilience layers: concurrency limit, circuit breaker, result cache, fallback chains and
//! middleware — each one implementation, applicable to any node.

mod breaker;
mod cache;
mod chain;
mod limit;
mod middleware;

pub use breaker::{Breaker, BreakerState, CircuitBreaker};
pub(crate) use cache::json_key;
pub use cache::{Cached, ResultCache};
pub use chain::{FallbackChain, Strategy};
pub use limit::{ConcurrencyLimit, Limited, Permitted};
pub use middleware::{LATENCY_BUCKETS_MS, Measured, Metrics, Middleware, NodeMetrics, Proceed, Started, middleware};
