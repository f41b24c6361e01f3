//! `pocket-stub [ADDR]`: a local OpenAI-compatible chat endpoint with a scripted research
//! agent, for the agent-loop example (default address `127.0.0.1:8787`).
//!
//! The model answers `POST /v1/chat/completions`. Its policy: while the conversation holds no
//! observation yet, it asks for a search (`{"action": "search", "query": ...}`); once it has
//! one, it answers (`{"action": "answer", "answer": ...}`) quoting the observation.

use pocket_stub::{Server, chat_reply, research_agent};

#[tokio::main]
async fn main() {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:8787".to_string());
    let server = match Server::start(&addr, |request| chat_reply(request, &research_agent)).await {
        Ok(server) => server,
        Err(e) => {
            eprintln!("error: cannot listen on {addr}: {e}");
            std::process::exit(2);
        }
    };
    eprintln!("pocket-stub: OpenAI-compatible chat endpoint on {}", server.url("/v1"));
    let _ = tokio::signal::ctrl_c().await;
}
