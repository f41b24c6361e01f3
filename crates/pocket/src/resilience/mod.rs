//! Resilience layers: concurrency limit, circuit breaker, result cache, fallback chains and
//! middleware — each one implementation, applicable to any node.

mod breaker;
mod limit;

pub use breaker::{Breaker, BreakerState, CircuitBreaker};
pub use limit::{ConcurrencyLimit, Limited, Permitted};
