//! The `http` node type: templated requests, JSON or text bodies, retries through the retry
//! layer (transport errors, 5xx, 429 with `Retry-After`), 4xx as errors.

use std::collections::BTreeMap;
use std::sync::Once;
use std::time::Duration;

use pocket::NodeError;
use pocket::layer::retry::RetryPolicy;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::core::Text;
use super::{Behaviour, StepFuture};
use crate::kind::{BuildCx, Built, Category, ConfigError, NodeKind};

/// Install the process's TLS crypto provider (ring) once.
pub(crate) fn tls() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// An HTTP client with a request timeout.
pub(crate) fn client(timeout: Duration) -> Result<reqwest::Client, String> {
    tls();
    reqwest::Client::builder()
        .timeout(timeout)
        .user_agent(concat!("pocket/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| format!("cannot create the HTTP client: {e}"))
}

/// HTTP methods.
#[derive(Debug, Clone, Copy, Default, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "UPPERCASE")]
pub(crate) enum Method {
    /// GET (default).
    #[default]
    #[serde(alias = "get")]
    Get,
    /// POST.
    #[serde(alias = "post")]
    Post,
    /// PUT.
    #[serde(alias = "put")]
    Put,
    /// PATCH.
    #[serde(alias = "patch")]
    Patch,
    /// DELETE.
    #[serde(alias = "delete")]
    Delete,
    /// HEAD.
    #[serde(alias = "head")]
    Head,
}

/// Retries of an `http` (or `llm`) node: exponential backoff on transport errors, 5xx and 429
/// (waiting at least what `Retry-After` asks).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct HttpRetry {
    /// Attempts in all (default 3; 1 = no retry).
    #[serde(default, deserialize_with = "crate::de::opt_count")]
    #[schemars(with = "Option<u64>")]
    max_attempts: Option<u64>,
    /// The wait before the first retry (default 1s).
    #[serde(default, deserialize_with = "crate::de::opt_duration")]
    #[schemars(with = "Option<String>")]
    delay: Option<Duration>,
    /// How the wait grows (default 2).
    #[serde(default)]
    multiplier: Option<f64>,
    /// The longest wait (default 30s).
    #[serde(default, deserialize_with = "crate::de::opt_duration")]
    #[schemars(with = "Option<String>")]
    max_delay: Option<Duration>,
}

impl HttpRetry {
    pub(crate) fn policy(spec: Option<&HttpRetry>) -> Result<RetryPolicy, ConfigError> {
        let attempts = spec.and_then(|r| r.max_attempts).unwrap_or(3);
        let multiplier = spec.and_then(|r| r.multiplier).unwrap_or(2.0);
        if !(multiplier.is_finite() && multiplier >= 1.0) {
            return Err(ConfigError::field("retry.multiplier", "must be a number of at least 1"));
        }
        Ok(RetryPolicy::exponential(
            u32::try_from(attempts).unwrap_or(u32::MAX),
            spec.and_then(|r| r.delay).unwrap_or(Duration::from_secs(1)),
        )
        .multiplier(multiplier)
        .max_delay(spec.and_then(|r| r.max_delay).unwrap_or(Duration::from_secs(30))))
    }
}

/// `http` config.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct HttpConfig {
    /// The URL (a template when it contains `{{`).
    url: String,
    /// `GET` (default), `POST`, `PUT`, `PATCH`, `DELETE` or `HEAD`.
    #[serde(default)]
    method: Method,
    /// Request headers (values are templates).
    #[serde(default)]
    headers: BTreeMap<String, String>,
    /// Query parameters (values are templates).
    #[serde(default)]
    params: BTreeMap<String, String>,
    /// The body: a string is sent as text (a template); a mapping or list is sent as JSON
    /// (its strings are templates).
    #[serde(default)]
    body: Option<Value>,
    /// The time limit of one attempt (a Go duration, default 30s).
    #[serde(default, deserialize_with = "crate::de::opt_duration")]
    #[schemars(with = "Option<String>")]
    timeout: Option<Duration>,
    /// Retries (default: 3 attempts, 1s doubling up to 30s).
    #[serde(default)]
    retry: Option<HttpRetry>,
    /// A 4xx response fails the node (default true); otherwise it is the output.
    #[serde(default = "yes")]
    fail_on_4xx: bool,
}

fn yes() -> bool {
    true
}

/// A JSON value whose strings may be templates.
#[derive(Debug, Clone)]
pub(crate) enum JsonTemplate {
    Text(Text),
    List(Vec<JsonTemplate>),
    Map(Vec<(String, JsonTemplate)>),
    Value(Value),
}

impl JsonTemplate {
    pub(crate) fn new(node: &str, field: &str, value: &Value) -> Result<Self, ConfigError> {
        Ok(match value {
            Value::String(s) => JsonTemplate::Text(Text::new(node, field, s)?),
            Value::Array(items) => JsonTemplate::List(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, v)| JsonTemplate::new(node, &format!("{field}[{i}]"), v))
                    .collect::<Result<_, _>>()?,
            ),
            Value::Object(map) => JsonTemplate::Map(
                map.iter()
                    .map(|(k, v)| Ok((k.clone(), JsonTemplate::new(node, &format!("{field}.{k}"), v)?)))
                    .collect::<Result<_, ConfigError>>()?,
            ),
            other => JsonTemplate::Value(other.clone()),
        })
    }

    pub(crate) fn render(&self, data: &Value) -> Result<Value, NodeError> {
        Ok(match self {
            JsonTemplate::Text(t) => Value::String(t.render(data)?),
            JsonTemplate::List(items) => Value::Array(items.iter().map(|i| i.render(data)).collect::<Result<_, _>>()?),
            JsonTemplate::Map(entries) => Value::Object(
                entries
                    .iter()
                    .map(|(k, v)| Ok((k.clone(), v.render(data)?)))
                    .collect::<Result<Map<_, _>, NodeError>>()?,
            ),
            JsonTemplate::Value(v) => v.clone(),
        })
    }
}

pub(crate) struct Http {
    client: reqwest::Client,
    method: Method,
    url: Text,
    headers: Vec<(String, Text)>,
    params: Vec<(String, Text)>,
    body: Option<JsonTemplate>,
    fail_on_4xx: bool,
}

impl NodeKind for Http {
    const TYPE: &'static str = "http";
    const CATEGORY: Category = Category::Io;
    const DESCRIPTION: &'static str =
        "Sends an HTTP request (templated URL, params, headers, body); outputs {status, headers, body}.";
    type Config = HttpConfig;

    fn example() -> Value {
        json!({
            "url": "https://api.example.com/users/{{.id}}",
            "method": "GET",
            "headers": {"Authorization": "Bearer ${API_TOKEN}"},
            "params": {"fields": "name,email"},
            "timeout": "10s",
            "retry": {"max_attempts": 3, "delay": "500ms"}
        })
    }

    fn build(config: HttpConfig, cx: &BuildCx<'_>) -> Result<Built, ConfigError> {
        let spec = cx.spec();
        let url = Text::new(spec.name, "url", &config.url)?;
        if let Text::Plain(plain) = &url {
            reqwest::Url::parse(plain)
                .map_err(|e| ConfigError::field("url", format!("`{plain}` is not a URL: {e}")))?;
        }
        let templated = |section: &str, map: BTreeMap<String, String>| -> Result<Vec<(String, Text)>, ConfigError> {
            map.into_iter()
                .map(|(k, v)| Ok((k.clone(), Text::new(spec.name, &format!("{section}.{k}"), &v)?)))
                .collect()
        };
        let body = config.body.as_ref().map(|b| JsonTemplate::new(spec.name, "body", b)).transpose()?;
        let client = client(config.timeout.unwrap_or(Duration::from_secs(30))).map_err(ConfigError::whole)?;
        let mut built = super::built(Http {
            client,
            method: config.method,
            url,
            headers: templated("headers", config.headers)?,
            params: templated("params", config.params)?,
            body,
            fail_on_4xx: config.fail_on_4xx,
        });
        built.retry = Some(HttpRetry::policy(config.retry.as_ref())?);
        Ok(built)
    }
}

/// How long a `Retry-After` header asks to wait: seconds, or an HTTP date.
pub(crate) fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let text = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = text.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = crate::time::parse_http_date(text)?;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).ok()?.as_secs();
    Some(Duration::from_secs(at.saturating_sub(now)))
}

/// A response status as the error it is, if it is one: 429 and 5xx are retryable (429 and 503
/// waiting at least `Retry-After`), 4xx is not.
pub(crate) fn status_error(
    what: &str,
    status: reqwest::StatusCode,
    headers: &reqwest::header::HeaderMap,
    body: &str,
    fail_on_4xx: bool,
) -> Option<NodeError> {
    let snippet: String = body.chars().take(300).collect();
    let message =
        format!("{what}: HTTP {status}{}", if snippet.is_empty() { String::new() } else { format!(": {snippet}") });
    if status.as_u16() == 429 || status.is_server_error() {
        return Some(match retry_after(headers) {
            Some(after) => NodeError::throttled(message, after),
            None => NodeError::retryable(message),
        });
    }
    (status.is_client_error() && fail_on_4xx).then(|| NodeError::fatal_msg(message))
}

/// A transport failure as a retryable error, described plainly.
pub(crate) fn transport_error(what: &str, e: &reqwest::Error) -> NodeError {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else {
        "failed"
    };
    // reqwest's own message repeats the URL; the innermost cause says what happened.
    let mut cause: &dyn std::error::Error = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    let message = format!("{what}: {kind}: {cause}");
    NodeError::retryable(message)
}

impl Behaviour for Http {
    fn exec<'a>(&'a self, input: &'a Value) -> StepFuture<'a> {
        Box::pin(async move {
            let url = self.url.render(input)?;
            let method = match self.method {
                Method::Get => reqwest::Method::GET,
                Method::Post => reqwest::Method::POST,
                Method::Put => reqwest::Method::PUT,
                Method::Patch => reqwest::Method::PATCH,
                Method::Delete => reqwest::Method::DELETE,
                Method::Head => reqwest::Method::HEAD,
            };
            let what = format!("{method} {url}");
            let parsed =
                reqwest::Url::parse(&url).map_err(|e| NodeError::fatal_msg(format!("`{url}` is not a URL: {e}")))?;
            let mut request = self.client.request(method, parsed);
            let params: Vec<(String, String)> =
                self.params.iter().map(|(k, v)| Ok((k.clone(), v.render(input)?))).collect::<Result<_, NodeError>>()?;
            if !params.is_empty() {
                request = request.query(&params);
            }
            for (name, value) in &self.headers {
                request = request.header(name, value.render(input)?);
            }
            match self.body.as_ref().map(|b| b.render(input)).transpose()? {
                Some(Value::String(text)) => request = request.body(text),
                Some(json) => request = request.json(&json),
                None => {}
            }
            let response = request.send().await.map_err(|e| transport_error(&what, &e))?;
            let status = response.status();
            let headers = response.headers().clone();
            let is_json = headers
                .get(reqwest::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|t| t.contains("json"));
            let text = response.text().await.map_err(|e| transport_error(&what, &e))?;
            tracing::debug!(request = %what, %status, "http");
            if let Some(error) = status_error(&what, status, &headers, &text, self.fail_on_4xx) {
                return Err(error);
            }
            let body =
                if is_json { serde_json::from_str(&text).unwrap_or(Value::String(text)) } else { Value::String(text) };
            let mut header_map = Map::new();
            for (name, value) in &headers {
                let entry = header_map.entry(name.as_str().to_string()).or_insert_with(|| Value::Array(Vec::new()));
                if let Value::Array(values) = entry {
                    values.push(Value::String(String::from_utf8_lossy(value.as_bytes()).into_owned()));
                }
            }
            Ok(json!({"status": status.as_u16(), "headers": header_map, "body": body}))
        })
    }
}
