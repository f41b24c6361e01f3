//! The `llm` node against a local OpenAI-compatible server started by the test, which also
//! checks the request the node sent.

#![cfg(feature = "http")]

mod common;

use std::time::{Duration, Instant};

use common::{error_text, problems, run};
use pocket_stub::{Reply, Server};
use serde_json::{Value, json};

fn completion(text: &str) -> Reply {
    Reply::json(
        200,
        json!({
            "id": "x", "object": "chat.completion", "model": "stub-1",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15}
        }),
    )
}

fn llm(server: &Server, extra: &str) -> String {
    format!(
        "name: l\nstart: n\nnodes:\n  - name: n\n    type: llm\n    config:\n      base_url: {}\n      model: stub-1\n      retry: {{ max_attempts: 3, delay: 10ms }}\n{extra}",
        server.url("/v1")
    )
}

#[tokio::test]
async fn a_chat_completion_with_templated_messages() {
    let server = Server::scripted(vec![completion("Paris.")]).await.unwrap();
    let yaml = llm(
        &server,
        "      api_key_env: HOME\n      system: 'You answer in {{.lang}}.'\n      prompt: 'Capital of {{.country}}?'\n      temperature: 0.2\n      max_tokens: 50",
    );
    let out = run(&yaml, json!({"country": "France", "lang": "English"})).await.unwrap();
    assert_eq!(out["text"], "Paris.");
    assert_eq!(out["usage"], json!({"prompt_tokens": 12, "completion_tokens": 3}));
    assert!(out.get("json").is_none());

    let seen = &server.requests()[0];
    assert_eq!((seen.method.as_str(), seen.path.as_str()), ("POST", "/v1/chat/completions"));
    let home = std::env::var("HOME").unwrap();
    assert_eq!(
        seen.header("authorization"),
        Some(format!("Bearer {home}").as_str()),
        "the key comes from the named variable"
    );
    let body = seen.json();
    assert_eq!(body["model"], "stub-1");
    assert_eq!(
        body["messages"],
        json!([{"role": "system", "content": "You answer in English."}, {"role": "user", "content": "Capital of France?"}])
    );
    assert_eq!((body["temperature"].clone(), body["max_tokens"].clone()), (json!(0.2), json!(50)));
    assert!(body.get("response_format").is_none());
}

#[tokio::test]
async fn json_mode_parses_the_reply() {
    let server =
        Server::scripted(vec![completion("```json\n{\"category\": \"bug\", \"urgent\": true}\n```")]).await.unwrap();
    let yaml =
        llm(&server, "      json: true\n      messages:\n        - { role: user, content: 'Ticket: {{.text}}' }");
    let out = run(&yaml, json!({"text": "it crashes"})).await.unwrap();
    assert_eq!(out["json"], json!({"category": "bug", "urgent": true}));
    let body = server.requests()[0].json();
    assert_eq!(body["response_format"], json!({"type": "json_object"}));
    assert_eq!(body["messages"], json!([{"role": "user", "content": "Ticket: it crashes"}]));
}

#[tokio::test]
async fn a_reply_that_is_not_json_in_json_mode_is_a_clear_error() {
    let server = Server::scripted(vec![completion("Sure! The category is bug.")]).await.unwrap();
    let yaml = llm(&server, "      json: true\n      prompt: hi").replace("max_attempts: 3", "max_attempts: 1");
    let err = run(&yaml, json!(null)).await.unwrap_err();
    let text = error_text(&err);
    assert!(text.contains("the model's reply is not JSON") && text.contains("Sure! The category is bug."), "{text}");
}

#[tokio::test]
async fn a_429_waits_for_retry_after_then_succeeds() {
    let server = Server::scripted(vec![
        Reply::json(429, json!({"error": {"message": "rate limited"}})).header("Retry-After", "1"),
        Reply::text(502, "bad gateway"),
        completion("ok"),
    ])
    .await
    .unwrap();
    let started = Instant::now();
    let out = run(&llm(&server, "      prompt: hi"), json!(null)).await.unwrap();
    assert_eq!(out["text"], "ok");
    assert!(started.elapsed() >= Duration::from_secs(1), "Retry-After asked for 1s");
    assert_eq!(server.requests().len(), 3);
    // Every attempt sent the same request.
    let bodies: Vec<Value> = server.requests().iter().map(pocket_stub::Request::json).collect();
    assert!(bodies.windows(2).all(|w| w[0] == w[1]));
}

#[tokio::test]
async fn a_4xx_is_not_retried() {
    let server = Server::scripted(vec![Reply::json(401, json!({"error": {"message": "bad key"}}))]).await.unwrap();
    let err = run(&llm(&server, "      prompt: hi"), json!(null)).await.unwrap_err();
    let text = error_text(&err);
    assert!(text.contains("HTTP 401") && text.contains("bad key"), "{text}");
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn keys_come_only_from_the_environment() {
    let server = Server::scripted(vec![]).await.unwrap();
    let found = problems(&llm(&server, "      prompt: hi\n      api_key: sk-secret"));
    assert!(found[0].contains("`config.api_key`: API keys are not read from workflow files"), "{found:?}");
    let err = run(&llm(&server, "      prompt: hi\n      api_key_env: POCKET_TEST_SURELY_UNSET_KEY"), json!(null))
        .await
        .unwrap_err();
    assert!(
        error_text(&err).contains("`POCKET_TEST_SURELY_UNSET_KEY` (api_key_env) is not set"),
        "{}",
        error_text(&err)
    );
    assert!(server.requests().is_empty(), "nothing was sent without the key");
}

#[test]
fn config_refusals_and_shared_rate_limits() {
    let server_url = "http://127.0.0.1:9/v1";
    let base = |extra: &str| {
        format!(
            "name: l\nstart: a\nnodes:\n  - name: a\n    type: llm\n    config:\n      base_url: {server_url}\n      model: m\n{extra}"
        )
    };
    let found = problems(&base("      system: s"));
    assert!(found[0].contains("either `prompt` or `messages` is required"), "{found:?}");
    let found = problems(&base("      prompt: p\n      temperature: 3"));
    assert!(found[0].contains("`config.temperature`: must be between 0 and 2"), "{found:?}");
    let found = problems(&base("      messages: [{ role: robot, content: x }]"));
    assert!(found[0].contains("`config.messages[0].role`"), "{found:?}");
    // Two nodes on one endpoint share one budget, so they must agree on it.
    let two = |second: u32| {
        format!(
            "{}      prompt: p\n      rate_limit: {{ tokens_per_minute: 600 }}\n  - name: b\n    type: llm\n    config:\n      base_url: {server_url}\n      model: m\n      prompt: q\n      rate_limit: {{ tokens_per_minute: {second} }}\nconnections:\n  - {{ from: a, to: b }}\n",
            base("")
        )
    };
    common::graph(&two(600)).expect("the same budget is shared");
    let found = problems(&two(900));
    assert!(found[0].contains("node `b`") && found[0].contains("different rate"), "{found:?}");
}

#[tokio::test]
async fn a_request_that_can_never_fit_its_token_budget_is_refused() {
    let server = Server::scripted(vec![completion("never")]).await.unwrap();
    let found = problems(&llm(
        &server,
        "      prompt: hi\n      max_tokens: 100000\n      rate_limit: { tokens_per_minute: 60 }",
    ));
    assert!(
        found[0].contains("`config.max_tokens`: 100000 can never fit the budget of 60 tokens a minute"),
        "{found:?}"
    );
    // A prompt that renders too long for the budget fails at once instead of waiting a day.
    let yaml =
        llm(&server, "      prompt: '{{.text}}'\n      max_tokens: 10\n      rate_limit: { tokens_per_minute: 60 }");
    let started = Instant::now();
    let err = run(&yaml, json!({"text": "word ".repeat(1000)})).await.unwrap_err();
    let text = error_text(&err);
    assert!(text.contains("more than the whole budget of 60 a minute"), "{text}");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn a_reply_in_a_declared_charset_is_decoded_and_one_that_is_not_text_fails() {
    let latin1 = b"{\"model\": \"m\", \"choices\": [{\"message\": {\"content\": \"caf\xe9\"}}]}".to_vec();
    let mut broken = completion("x");
    broken.body = b"{\"choices\": [{\"message\": {\"content\": \"\xff\xfe\"}}]}".to_vec();
    let server = Server::scripted(vec![Reply::bytes(200, "application/json; charset=iso-8859-1", latin1), broken])
        .await
        .unwrap();
    let out = run(&llm(&server, "      prompt: hi"), json!({})).await.map_err(|e| error_text(&e)).unwrap();
    assert_eq!(out["text"], "café");
    let err = run(&llm(&server, "      prompt: hi"), json!({})).await.unwrap_err();
    assert!(error_text(&err).contains("is not UTF-8 text"), "{}", error_text(&err));
}

#[tokio::test]
async fn a_named_token_budget_is_settled_with_the_usage_each_reply_reports() {
    // The first call is priced at its estimate (10 tokens) but reports 61,000: the budget of
    // 60,000 a minute (1,000 a second) is overspent by 1,000, and the second call waits for
    // that and its own 10 tokens.
    let mut costly = completion("long");
    costly.body = serde_json::to_vec(&json!({
        "model": "stub-1",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "long"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 60000, "completion_tokens": 1000}
    }))
    .unwrap();
    let server = Server::scripted(vec![costly, completion("short")]).await.unwrap();
    let node = |name: &str, next: &str| {
        format!(
            "  - name: {name}\n    type: llm\n    config:\n      base_url: {}\n      model: stub-1\n      prompt: hi\n      max_tokens: 10\n      limit: openai\n{next}",
            server.url("/v1")
        )
    };
    let yaml = format!(
        "name: l\nstart: a\nlimits:\n  openai: {{ tokens_per_minute: 60000 }}\nnodes:\n{}{}connections:\n  - {{ from: a, to: b }}\n",
        node("a", ""),
        node("b", "")
    );
    let started = Instant::now();
    let out = run(&yaml, json!({})).await.map_err(|e| error_text(&e)).unwrap();
    assert_eq!(out["text"], "short");
    // 1,010 tokens at 1,000 a second: a second at least (without the settlement 59,980 would
    // be left, and no wait at all).
    assert!(started.elapsed() >= Duration::from_millis(1_000), "{:?}", started.elapsed());
    assert_eq!(server.requests().len(), 2);
}
