//! The recommended layer stack around a flaky (simulated) LLM call:
//! per-attempt timeout, shared rate limit, shared circuit breaker, retry with backoff, a
//! fallback chain (cheaper model, then a canned answer), a result cache and metrics.
//! Run: `cargo run -p pocket --example resilient_llm_call`

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use pocket::layer::cache::ResultCache;
use pocket::layer::circuit_breaker::CircuitBreaker;
use pocket::layer::fallback_chain::FallbackChain;
use pocket::layer::metrics::Metrics;
use pocket::layer::rate_limit::RateLimiter;
use pocket::layer::retry::RetryPolicy;
use pocket::layer::timeout::Timeouts;
use pocket::{FanOut, NodeError, NodeExt, Store, exec_fn};

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let started = Instant::now();
    let calls = Arc::new(AtomicUsize::new(0));

    // The "big model": the first 4 calls fail with 503, every 5th call hangs.
    let big_model = {
        let calls = calls.clone();
        exec_fn(move |prompt: String| {
            let n = calls.fetch_add(1, Ordering::SeqCst);
            async move {
                if n < 4 {
                    println!("  [{:>4} ms] big model call {n}: 503", started.elapsed().as_millis());
                    return Err(NodeError::msg("503 overloaded"));
                }
                if n.is_multiple_of(5) {
                    println!("  [{:>4} ms] big model call {n}: hangs", started.elapsed().as_millis());
                    std::future::pending::<()>().await;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
                Ok(format!("big-model answer to `{prompt}`"))
            }
        })
    };
    let small_model = exec_fn(|prompt: String| async move {
        tokio::time::sleep(Duration::from_millis(80)).await;
        Ok(format!("small-model answer to `{prompt}`"))
    });
    let canned = exec_fn(|_: String| async move { Ok("Sorry, please try again later.".to_string()) });

    let limiter = RateLimiter::new(50.0, 5).expect("valid rate");
    let breaker = CircuitBreaker::new(3, Duration::from_millis(300)).on_state_change(move |from, to| {
        println!("  [{:>4} ms] circuit breaker: {from:?} -> {to:?}", started.elapsed().as_millis());
    });
    let metrics = Metrics::new();
    let cache = ResultCache::new(1_000, Some(Duration::from_secs(600)));

    // Inside out: each attempt is limited in time, paced by the shared limiter and guarded by the
    // shared breaker (which sees timeouts as failures); retries repeat that; the chain falls back
    // to cheaper answers when all attempts fail; the cache and the metrics see the final outcome.
    let guarded_big = big_model
        .timeout(Timeouts::step(Duration::from_millis(200)))
        .rate_limit(limiter)
        .circuit_breaker(breaker.clone())
        .retry(RetryPolicy::exponential(3, Duration::from_millis(50)).jitter(0.2));
    let answer = FallbackChain::new("big", guarded_big)
        .or("small", small_model)
        .or("canned", canned)
        .cache(cache.clone())
        .metrics(metrics.clone());

    let prompts = [
        "hello",
        "what is pocket?",
        "hello",
        "summarise",
        "translate",
        "why?",
        "hello",
        "how?",
        "when?",
        "where?",
        "who?",
        "what is pocket?",
    ];
    let answers = FanOut::new(answer)
        .name("answer")
        .limit(1)
        .run(&Store::new(), prompts.map(String::from))
        .await
        .expect("the fallback chain always answers");
    println!();
    for (prompt, answer) in prompts.iter().zip(&answers) {
        println!("{prompt:>16} -> {answer}");
    }
    let m = &metrics.snapshot()["answer"];
    println!();
    println!("big-model calls: {}", calls.load(Ordering::SeqCst));
    println!("cache: {} hits, {} misses", cache.hits(), cache.misses());
    println!("metrics: {} calls, {} ok, {} failed, {:?} in total", m.calls, m.successes, m.failures, m.total);
    println!("breaker now: {:?}; done in {} ms", breaker.state(), started.elapsed().as_millis());
}
