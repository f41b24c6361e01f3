//! `pocket-stub [ADDR]`: the local server the examples talk to (default `127.0.0.1:8787`): an
//! OpenAI-compatible chat endpoint with a scripted research agent, and a small demo API.
//!
//! The model answers `POST /v1/chat/completions`. Its policy: while the conversation holds no
//! observation yet, it asks for a search (`{"action": "search", "query": ...}`); once it has
//! one, it answers (`{"action": "answer", "answer": ...}`) quoting the observation.

use pocket_stub::{Server, demo};

#[tokio::main]
async fn main() {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:8787".to_string());
    let server = match Server::start(&addr, demo).await {
        Ok(server) => server,
        Err(e) => {
            eprintln!("error: cannot listen on {addr}: {e}");
            std::process::exit(2);
        }
    };
    eprintln!(
        "pocket-stub: OpenAI-compatible chat endpoint on {}, demo data on {} and {}",
        server.url("/v1"),
        server.url("/api/orders"),
        server.url("/api/customers")
    );
    let _ = tokio::signal::ctrl_c().await;
}
