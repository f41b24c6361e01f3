//! The `llm` node type: chat completions against any OpenAI-compatible endpoint.

use std::time::Duration;

use pocket::{NodeError, StoreView};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Behaviour, StepFuture};
use crate::kind::{BuildCx, Built, Category, ConfigError, NodeKind};
use crate::support::http::{
    DEFAULT_MAX_RESPONSE, DEFAULT_MAX_RETRY_AFTER, client, decode_text, parse_url, read_body, status_error,
    transport_error,
};
use crate::support::text::Text;

/// One message of a conversation.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct MessageConfig {
    /// `system`, `user` or `assistant`.
    role: String,
    /// The text (a template over the input).
    content: String,
}

/// A token budget shared by every `llm` node of the run with the same `base_url`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RateLimitConfig {
    /// Tokens per minute (estimated: prompt characters / 4, plus `max_tokens`).
    #[serde(deserialize_with = "crate::support::de::count")]
    #[schemars(with = "u64")]
    tokens_per_minute: u64,
}

/// `llm` config.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct LlmConfig {
    /// The endpoint's base URL, up to `/v1` (default `https://api.openai.com/v1`).
    #[serde(default)]
    base_url: Option<String>,
    /// The model name.
    model: String,
    /// The environment variable holding the API key (sent as a bearer token). Without it no
    /// key is sent. Keys are never read from the workflow file.
    #[serde(default)]
    api_key_env: Option<String>,
    /// Refused: an API key does not belong in a workflow file.
    #[serde(default)]
    #[schemars(skip)]
    api_key: Option<Value>,
    /// The system message (a template).
    #[serde(default)]
    system: Option<String>,
    /// The user message (a template); or give `messages`.
    #[serde(default)]
    prompt: Option<String>,
    /// The conversation (contents are templates); or give `prompt`.
    #[serde(default)]
    messages: Option<Vec<MessageConfig>>,
    /// Sampling temperature.
    #[serde(default)]
    temperature: Option<f64>,
    /// The most tokens the reply may have.
    #[serde(default, deserialize_with = "crate::support::de::opt_count")]
    #[schemars(with = "Option<u64>")]
    max_tokens: Option<u64>,
    /// Ask for a JSON reply and parse it into `json` (a reply that is not JSON is an error).
    #[serde(default)]
    json: bool,
    /// The time limit of one attempt (a Go duration, default 60s).
    #[serde(default, deserialize_with = "crate::support::de::opt_duration")]
    #[schemars(with = "Option<String>")]
    timeout: Option<Duration>,
    /// Retries on transport errors, 429 (honouring `Retry-After`) and 5xx (default 3 attempts).
    #[serde(default)]
    retry: Option<pocket_yaml::RetrySpec>,
    /// A token budget shared with the run's other `llm` nodes on the same endpoint.
    #[serde(default)]
    rate_limit: Option<RateLimitConfig>,
    /// A named limit of the workflow's `limits:` every attempt is held to: its request rate,
    /// `max_concurrency` and `tokens_per_minute` (each call priced by its estimated tokens
    /// before it is sent, and the difference from the usage the reply reports settled after
    /// it), shared with the other nodes that name it. Not with `rate_limit`.
    #[serde(default)]
    limit: Option<String>,
    /// The largest reply read (bytes, or `10MiB`; default 64 MiB): a larger one fails the node.
    #[serde(default, deserialize_with = "crate::support::de::opt_bytes")]
    #[schemars(with = "Option<serde_json::Value>")]
    max_response_size: Option<u64>,
    /// The longest `Retry-After` wait honoured (a Go duration, default 5m): a server asking for
    /// longer fails the node, naming its request.
    #[serde(default, deserialize_with = "crate::support::de::opt_duration")]
    #[schemars(with = "Option<String>")]
    max_retry_after: Option<Duration>,
}

pub(crate) struct Llm {
    client: reqwest::Client,
    url: String,
    model: String,
    key_env: Option<String>,
    messages: Vec<(String, Text)>,
    temperature: Option<f64>,
    max_tokens: Option<u64>,
    json_mode: bool,
    /// `rate_limit.tokens_per_minute` (or the named limit's), if any: no request may cost more.
    budget: Option<u64>,
    /// The token bucket calls are priced in, settled with each reply's reported usage.
    tokens: Option<pocket::layer::rate_limit::RateLimiter>,
    max_response: u64,
    max_retry_after: Duration,
}

/// The estimated token cost of a request (the prepared body): prompt characters / 4 plus the
/// reply budget.
pub(crate) fn estimated_tokens(request: &Value) -> u32 {
    let chars: usize = request["messages"]
        .as_array()
        .map(|m| m.iter().filter_map(|m| m["content"].as_str()).map(str::len).sum())
        .unwrap_or(0);
    let reply = request["max_tokens"].as_u64().unwrap_or(256);
    u32::try_from(chars / 4 + usize::try_from(reply).unwrap_or(usize::MAX)).unwrap_or(u32::MAX).max(1)
}

impl NodeKind for Llm {
    const TYPE: &'static str = "llm";
    const CATEGORY: Category = Category::Io;
    const DESCRIPTION: &'static str = "Asks an OpenAI-compatible chat model; outputs {text, json (in JSON mode), usage: {prompt_tokens, completion_tokens}}.";
    type Config = LlmConfig;

    fn example() -> Value {
        json!({
            "base_url": "http://127.0.0.1:8787/v1",
            "model": "gpt-4o-mini",
            "api_key_env": "OPENAI_API_KEY",
            "system": "You sort support tickets.",
            "prompt": "Ticket: {{.text}}\nAnswer with JSON: {\"category\": ...}",
            "json": true,
            "temperature": 0,
            "max_tokens": 200,
            "rate_limit": {"tokens_per_minute": 60000}
        })
    }

    fn build(config: LlmConfig, cx: &BuildCx<'_>) -> Result<Built, ConfigError> {
        let spec = cx.spec();
        if config.api_key.is_some() {
            return Err(ConfigError::field(
                "api_key",
                "API keys are not read from workflow files: put the key in an environment variable and name it in `api_key_env`",
            ));
        }
        let base = config.base_url.unwrap_or_else(|| "https://api.openai.com/v1".into());
        let url = format!("{}/chat/completions", base.trim_end_matches('/'));
        parse_url(&url).map_err(|e| ConfigError::field("base_url", e))?;
        let mut messages = Vec::new();
        if let Some(system) = &config.system {
            messages.push(("system".to_string(), Text::new(spec.name, "system", system)?));
        }
        match (&config.prompt, &config.messages) {
            (Some(prompt), None) => messages.push(("user".into(), Text::new(spec.name, "prompt", prompt)?)),
            (None, Some(list)) if !list.is_empty() => {
                for (i, m) in list.iter().enumerate() {
                    if !matches!(m.role.as_str(), "system" | "user" | "assistant") {
                        return Err(ConfigError::field(
                            format!("messages[{i}].role"),
                            format!("`{}` is not one of system, user, assistant", m.role),
                        ));
                    }
                    messages
                        .push((m.role.clone(), Text::new(spec.name, &format!("messages[{i}].content"), &m.content)?));
                }
            }
            (Some(_), Some(_)) => return Err(ConfigError::whole("give `prompt` or `messages`, not both")),
            _ => return Err(ConfigError::whole("either `prompt` or `messages` is required")),
        }
        if let Some(t) = config.temperature
            && !(0.0..=2.0).contains(&t)
        {
            return Err(ConfigError::field("temperature", "must be between 0 and 2"));
        }
        let client = client(config.timeout.unwrap_or(Duration::from_secs(60))).map_err(ConfigError::whole)?;
        let named = config.limit.as_deref().map(|name| cx.named_limit(name)).transpose();
        let named = named.map_err(|e| ConfigError::field("limit", e))?;
        let named_tokens = named.as_ref().and_then(|l| l.tokens.clone());
        if config.rate_limit.is_some() && named_tokens.is_some() {
            return Err(ConfigError::field(
                "rate_limit",
                "give `rate_limit` or a `limit` with `tokens_per_minute`, not both (two token budgets)",
            ));
        }
        // The token budget, from `rate_limit` or the named limit: a reply budget above it could
        // never be sent.
        let budget = match (&config.rate_limit, &named_tokens) {
            (Some(limit), _) => Some((limit.tokens_per_minute, " (`rate_limit.tokens_per_minute`)".to_string())),
            (None, Some((_, per_minute))) => {
                Some((*per_minute, format!(" of limit `{}`", config.limit.as_deref().unwrap_or_default())))
            }
            (None, None) => None,
        };
        if let (Some((per_minute, of)), Some(max_tokens)) = (&budget, config.max_tokens)
            && max_tokens > *per_minute
        {
            return Err(ConfigError::field(
                "max_tokens",
                format!(
                    "{max_tokens} can never fit the budget of {per_minute} tokens a minute{of}: every request \
                     would wait forever"
                ),
            ));
        }
        let budget = budget.map(|(per_minute, _)| per_minute);
        let own_tokens = config
            .rate_limit
            .as_ref()
            .map(|limit| {
                #[allow(clippy::cast_precision_loss)]
                let per_second = limit.tokens_per_minute as f64 / 60.0;
                cx.shared_limiter(&base, per_second, u32::try_from(limit.tokens_per_minute).unwrap_or(u32::MAX))
                    .map_err(|e| ConfigError::field("rate_limit.tokens_per_minute", e))
            })
            .transpose()?;
        let tokens = own_tokens.or(named_tokens.map(|(limiter, _)| limiter));
        let mut built = super::built(Llm {
            client,
            url,
            model: config.model,
            key_env: config.api_key_env,
            messages,
            temperature: config.temperature,
            max_tokens: config.max_tokens,
            json_mode: config.json,
            budget,
            tokens: tokens.clone(),
            max_response: config.max_response_size.unwrap_or(DEFAULT_MAX_RESPONSE),
            max_retry_after: config.max_retry_after.unwrap_or(DEFAULT_MAX_RETRY_AFTER),
        });
        built.retry = Some(crate::layers::retry_policy(&config.retry.unwrap_or_default()));
        built.limiter = tokens.map(|limiter| (limiter, estimated_tokens as fn(&Value) -> u32));
        built.limits.extend(named);
        built.memo = true;
        Ok(built)
    }
}

/// The reply text without a Markdown code fence around it.
fn unfenced(text: &str) -> &str {
    let t = text.trim();
    let Some(rest) = t.strip_prefix("```") else { return t };
    let rest = rest.strip_prefix("json").unwrap_or(rest);
    rest.strip_suffix("```").unwrap_or(rest).trim()
}

impl Behaviour for Llm {
    /// The request body, rendered from the input (so retries resend the same request and the
    /// rate limit can price it).
    fn prep(&self, _: &StoreView, input: &Value) -> Result<Value, NodeError> {
        let messages = self
            .messages
            .iter()
            .map(|(role, content)| Ok(json!({"role": role, "content": content.render(input)?})))
            .collect::<Result<Vec<_>, NodeError>>()?;
        let mut body = json!({"model": self.model, "messages": messages});
        if let Some(t) = self.temperature {
            body["temperature"] = json!(t);
        }
        if let Some(n) = self.max_tokens {
            body["max_tokens"] = json!(n);
        }
        if self.json_mode {
            body["response_format"] = json!({"type": "json_object"});
        }
        if let Some(budget) = self.budget {
            let cost = u64::from(estimated_tokens(&body));
            if cost > budget {
                return Err(NodeError::fatal_msg(format!(
                    "this request needs about {cost} tokens, more than the whole budget of {budget} a minute \
                     (`rate_limit.tokens_per_minute`): it could never be sent"
                )));
            }
        }
        Ok(body)
    }

    fn exec<'a>(&'a self, request: &'a Value) -> StepFuture<'a> {
        Box::pin(async move {
            let what = format!("POST {}", self.url);
            let mut call = self.client.post(&self.url).json(request);
            if let Some(var) = &self.key_env {
                let key = std::env::var(var).map_err(|_| {
                    NodeError::fatal_msg(format!("the API key variable `{var}` (api_key_env) is not set"))
                })?;
                call = call.bearer_auth(key);
            }
            let response = call.send().await.map_err(|e| transport_error(&what, &e))?;
            let status = response.status();
            let headers = response.headers().clone();
            let bytes = read_body(&what, response, self.max_response).await?;
            if status.is_redirection() {
                return Err(NodeError::fatal_msg(format!(
                    "{what}: HTTP {status}: the endpoint redirects (redirects are not followed for `llm`; use the \
                     final URL in `base_url`)"
                )));
            }
            if (status.is_client_error() || status.is_server_error())
                && let Some(error) =
                    status_error(&what, status, &headers, &String::from_utf8_lossy(&bytes), true, self.max_retry_after)
            {
                return Err(error);
            }
            // A reply that is not text in its charset fails, named, rather than reach the
            // workflow with U+FFFD in place of what the model said.
            let content_type = headers.get(reqwest::header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
            let text = decode_text(&what, &bytes, content_type)?;
            let reply: Value = pocket_yaml::json_exact(&text)
                .map_err(|e| NodeError::retryable(format!("{what}: the endpoint's answer is not JSON ({e})")))?;
            let choice = &reply["choices"][0];
            let Some(content) = choice["message"]["content"].as_str() else {
                return Err(NodeError::retryable(format!("{what}: the answer has no `choices[0].message.content`")));
            };
            let (prompt, completion) = (
                reply["usage"]["prompt_tokens"].as_u64().unwrap_or(0),
                reply["usage"]["completion_tokens"].as_u64().unwrap_or(0),
            );
            // The call was priced by its estimate; the usage reported settles it.
            if let Some(tokens) = &self.tokens
                && prompt + completion > 0
            {
                tokens.settle(estimated_tokens(request), prompt + completion);
            }
            tracing::debug!(target: "pocket::usage", prompt_tokens = prompt, completion_tokens = completion, "llm usage");
            let usage = json!({"prompt_tokens": prompt, "completion_tokens": completion});
            let mut out = json!({"text": content, "usage": usage, "model": reply["model"], "finish_reason": choice["finish_reason"]});
            if self.json_mode {
                let parsed: Value = pocket_yaml::json_exact(unfenced(content)).map_err(|e| {
                    let snippet: String = content.chars().take(200).collect();
                    // Models sometimes stray from JSON: asking again can help, so retryable.
                    NodeError::retryable(format!("the model's reply is not JSON ({e}): {snippet}"))
                })?;
                out["json"] = parsed;
            }
            Ok(out)
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn the_cost_is_prompt_characters_over_four_plus_the_reply_budget() {
        let request =
            json!({"messages": [{"content": "x".repeat(400)}, {"content": "y".repeat(40)}], "max_tokens": 100});
        assert_eq!(super::estimated_tokens(&request), 110 + 100);
        assert_eq!(super::estimated_tokens(&json!({"messages": []})), 256, "no max_tokens: 256 assumed");
    }

    #[test]
    fn fences_around_json_are_ignored() {
        assert_eq!(super::unfenced("```json\n{\"a\": 1}\n```"), "{\"a\": 1}");
        assert_eq!(super::unfenced(" {\"a\": 1} "), "{\"a\": 1}");
    }
}
