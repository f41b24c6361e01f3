//! The `http` node type: templated requests, JSON or text bodies, retries through the retry
//! layer (transport errors, 5xx, 429 with `Retry-After`), 4xx as errors.

use std::collections::BTreeMap;
use std::time::Duration;

use pocket::NodeError;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::{Behaviour, StepFuture};
use crate::kind::{BuildCx, Built, Category, ConfigError, NodeKind};
use crate::support::http::{JsonTemplate, client, status_error, transport_error};
use crate::support::text::Text;

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
    #[serde(default, deserialize_with = "crate::support::de::opt_duration")]
    #[schemars(with = "Option<String>")]
    timeout: Option<Duration>,
    /// Retries (default: 3 attempts, 1s doubling up to 30s).
    #[serde(default)]
    retry: Option<pocket_yaml::RetrySpec>,
    /// A 4xx response fails the node (default true); otherwise it is the output.
    #[serde(default = "yes")]
    fail_on_4xx: bool,
}

fn yes() -> bool {
    true
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
        built.retry = Some(crate::layers::retry_policy(&config.retry.unwrap_or_default()));
        Ok(built)
    }
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
