//! Rate limiting: one token bucket (20 tokens/s, burst 5) shared by two fan-outs; a call may
//! cost several tokens (e.g. estimated LLM tokens).
//! Run: `cargo run -p pocket --example rate_limit`

use std::time::Instant;

use pocket::layer::rate_limit::RateLimiter;
use pocket::{FanOut, NodeExt, Store, exec_fn};

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let limiter = RateLimiter::new(20.0, 5).expect("valid rate");
    let started = Instant::now();
    let call = |who: &'static str| {
        exec_fn(move |prompt: String| async move {
            println!("  {who} call `{prompt}` at {:>4} ms", started.elapsed().as_millis());
            Ok(prompt.len())
        })
        .rate_limit_by(limiter.clone(), |prompt: &String| (prompt.len() as u32).div_ceil(4)) // ~tokens
    };
    let store = Store::new();
    let a = FanOut::new(call("A")).unlimited();
    let b = FanOut::new(call("B")).unlimited();
    let prompts = || ["hi", "summarise this", "ok", "translate that", "go"].map(String::from);
    let (ra, rb) = tokio::join!(a.run(&store, prompts()), b.run(&store, prompts()));
    println!("A: {:?}, B: {:?}", ra.expect("ok"), rb.expect("ok"));
    println!("20 tokens/s shared: all calls done after {} ms", started.elapsed().as_millis());
}
