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
use crate::support::http::{
    BodyMode, DEFAULT_MAX_RESPONSE, DEFAULT_MAX_RETRY_AFTER, JsonTemplate, MAX_REDIRECTS, body_value, check_scheme,
    client, parse_url, read_body, save_body, status_error, transport_error,
};
use crate::support::text::{Text, printable};

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
    /// Retries (default: 3 attempts, 1s doubling up to 30s, for the idempotent methods GET,
    /// HEAD, PUT and DELETE; POST and PATCH are sent once unless `retry` is given).
    #[serde(default)]
    retry: Option<pocket_yaml::RetrySpec>,
    /// Follow redirects (default true); when false, a 3xx response is the output.
    #[serde(default = "yes")]
    follow_redirects: bool,
    /// The most redirects followed (default 10); more fail the node.
    #[serde(default, deserialize_with = "crate::support::de::opt_count")]
    #[schemars(with = "Option<u64>")]
    max_redirects: Option<u64>,
    /// A 5xx or 429 response fails the node (default true, retried); when false it is the
    /// output, like a 4xx with `fail_on_4xx: false`.
    #[serde(default = "yes")]
    fail_on_5xx: bool,
    /// A 4xx response fails the node (default true); otherwise it is the output.
    #[serde(default = "yes")]
    fail_on_4xx: bool,
    /// The largest response body read (bytes, or `10MiB`; default 64 MiB): a larger one fails
    /// the node.
    #[serde(default, deserialize_with = "crate::support::de::opt_bytes")]
    #[schemars(with = "Option<serde_json::Value>")]
    max_response_size: Option<u64>,
    /// The longest `Retry-After` wait honoured (a Go duration, default 5m): a server asking for
    /// longer fails the node, naming its request.
    #[serde(default, deserialize_with = "crate::support::de::opt_duration")]
    #[schemars(with = "Option<String>")]
    max_retry_after: Option<Duration>,
    /// How the body becomes the output's `body`: `auto` (default: JSON when the content type
    /// says so, else text in the declared charset), `text`, `json`, or `bytes` (base64). A body
    /// that is not text in its charset fails the node, never garbled.
    #[serde(default)]
    response: BodyMode,
    /// Write the body to this file instead of the output (a template; relative to the
    /// workflow's directory and confined to it like the `file` node; missing directories are
    /// created; replaced atomically). The output then has `saved_to` and `size`, no `body`.
    #[serde(default)]
    save_to: Option<String>,
    /// A named limit of the workflow's `limits:` (its request rate and `max_concurrency`)
    /// every attempt is held to, shared with the other nodes that name it.
    #[serde(default)]
    limit: Option<String>,
}

fn yes() -> bool {
    true
}

pub(crate) struct Http {
    /// Whether its templates mention `.run` (then they see the run: [`super::with_run`]).
    sees_run: bool,
    client: reqwest::Client,
    method: Method,
    url: Text,
    headers: Vec<(String, Text)>,
    params: Vec<(String, Text)>,
    body: Option<JsonTemplate>,
    fail_on_4xx: bool,
    fail_on_5xx: bool,
    max_redirects: usize,
    max_response: u64,
    max_retry_after: Duration,
    response: BodyMode,
    save_to: Option<Text>,
    base_dir: std::path::PathBuf,
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
            parse_url(plain).map_err(|e| ConfigError::field("url", e))?;
        }
        // Header names are fixed: check them now; fixed values too (templated ones when sent).
        let mut bad_headers = Vec::new();
        for (name, value) in &config.headers {
            if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
                bad_headers.push(ConfigError::field(
                    format!("headers.{name}"),
                    format!("`{}` is not a valid header name", printable(name)),
                ));
            } else if !value.contains("{{") && reqwest::header::HeaderValue::from_str(value).is_err() {
                bad_headers.push(ConfigError::field(
                    format!("headers.{name}"),
                    "is not a valid header value (control characters or a line break)",
                ));
            }
        }
        if let Some((first, rest)) = bad_headers.split_first() {
            return Err(ConfigError { also: rest.to_vec(), ..first.clone() });
        }
        let templated = |section: &str, map: BTreeMap<String, String>| -> Result<Vec<(String, Text)>, ConfigError> {
            map.into_iter()
                .map(|(k, v)| Ok((k.clone(), Text::new(spec.name, &format!("{section}.{k}"), &v)?)))
                .collect()
        };
        let body = config.body.as_ref().map(|b| JsonTemplate::new(spec.name, "body", b)).transpose()?;
        let save_to = config.save_to.as_deref().map(|p| Text::new(spec.name, "save_to", p)).transpose()?;
        if let Some(Text::Plain(plain)) = &save_to {
            crate::support::sandbox::check_relative(plain, false).map_err(|e| ConfigError::field("save_to", e))?;
        }
        if save_to.is_some() && config.response != BodyMode::Auto {
            return Err(ConfigError::field("response", "has no effect with `save_to` (the body goes to the file)"));
        }
        let client = client(config.timeout.unwrap_or(Duration::from_secs(30))).map_err(ConfigError::whole)?;
        let limit = config.limit.as_deref().map(|name| cx.named_limit(name)).transpose();
        let limit = limit.map_err(|e| ConfigError::field("limit", e))?;
        let mut built = super::built(Http {
            sees_run: super::mentions_run(spec.config),
            client,
            method: config.method,
            url,
            headers: templated("headers", config.headers)?,
            params: templated("params", config.params)?,
            body,
            fail_on_4xx: config.fail_on_4xx,
            fail_on_5xx: config.fail_on_5xx,
            max_redirects: if config.follow_redirects {
                usize::try_from(config.max_redirects.unwrap_or(MAX_REDIRECTS as u64)).unwrap_or(usize::MAX)
            } else {
                0
            },
            max_response: config.max_response_size.unwrap_or(DEFAULT_MAX_RESPONSE),
            max_retry_after: config.max_retry_after.unwrap_or(DEFAULT_MAX_RETRY_AFTER),
            response: config.response,
            save_to,
            base_dir: spec.base_dir.to_path_buf(),
        });
        // A request that is not idempotent is not repeated unless the workflow asks for it.
        let idempotent = !matches!(config.method, Method::Post | Method::Patch);
        if config.retry.is_some() || idempotent {
            built.retry = Some(crate::layers::retry_policy(&config.retry.unwrap_or_default()));
        }
        built.limits.extend(limit);
        built.memo = true;
        Ok(built)
    }
}

/// A header name as Go writes it (`content-type` → `Content-Type`): the first letter and each
/// letter after a `-` upper case, the rest lower case, as Go's `CanonicalMIMEHeaderKey` does
/// (hand-written to match it exactly: a name with a character outside a token is kept as it
/// is). Workflows written for the original read `{{index .headers "Content-Type"}}`.
fn canonical(name: &str) -> String {
    let token = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    if !name.bytes().all(token) {
        return name.to_string();
    }
    let mut upper = true;
    name.chars()
        .map(|c| {
            let out = if upper { c.to_ascii_uppercase() } else { c.to_ascii_lowercase() };
            upper = c == '-';
            out
        })
        .collect()
}

/// The scheme, host and port of `url`: a redirect elsewhere does not carry the request's
/// own headers.
fn origin(url: &reqwest::Url) -> (String, Option<String>, Option<u16>) {
    (url.scheme().to_string(), url.host_str().map(str::to_ascii_lowercase), url.port_or_known_default())
}

impl Http {
    /// Send the request, following up to `max_redirects` redirects (none: a 3xx is the
    /// response): 301/302/303 continue as a
    /// GET without a body (HEAD stays HEAD), 307/308 repeat the method and body. A redirect to
    /// another origin drops every header of the node's `headers:` (credentials such as
    /// `Authorization` or `X-Api-Key` go only where they were written for); a redirect to a
    /// non-http(s) URL fails the node.
    async fn send(
        &self,
        what: &str,
        mut method: reqwest::Method,
        mut url: reqwest::Url,
        params: &[(String, String)],
        headers: &[(String, reqwest::header::HeaderValue)],
        mut body: Option<Value>,
    ) -> Result<reqwest::Response, NodeError> {
        let first = origin(&url);
        let mut same_origin = true;
        let mut query = Some(params);
        for hop in 0..=self.max_redirects {
            let mut request = self.client.request(method.clone(), url.clone());
            if let Some(params) = query.take().filter(|p| !p.is_empty()) {
                request = request.query(params);
            }
            if same_origin {
                for (name, value) in headers {
                    request = request.header(name.as_str(), value.clone());
                }
            }
            match &body {
                Some(Value::String(text)) => request = request.body(text.clone()),
                Some(json) => request = request.json(json),
                None => {}
            }
            let response = request.send().await.map_err(|e| transport_error(what, &e))?;
            let status = response.status();
            if !status.is_redirection() || status == reqwest::StatusCode::NOT_MODIFIED || self.max_redirects == 0 {
                return Ok(response);
            }
            if hop == self.max_redirects {
                break;
            }
            let Some(location) = response.headers().get(reqwest::header::LOCATION).and_then(|l| l.to_str().ok()) else {
                return Ok(response);
            };
            let next = response.url().join(location).map_err(|e| {
                NodeError::fatal_msg(format!("{what}: HTTP {status} to `{}`, not a URL: {e}", printable(location)))
            })?;
            check_scheme(&next).map_err(|e| NodeError::fatal_msg(format!("{what}: HTTP {status}: {e}")))?;
            if matches!(status.as_u16(), 301..=303) && method != reqwest::Method::HEAD {
                method = reqwest::Method::GET;
                body = None;
            }
            same_origin &= origin(&next) == first;
            tracing::debug!(request = %what, %status, to = %next, same_origin, "redirect");
            url = next;
        }
        Err(NodeError::fatal_msg(format!("{what}: more than {} redirects (`max_redirects`)", self.max_redirects)))
    }
}

impl Behaviour for Http {
    fn sees_run(&self) -> bool {
        self.sees_run
    }

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
            let what = format!("{method} {}", printable(&url));
            // A rendered URL or header that cannot be sent is the workflow's mistake: not retried.
            let parsed = parse_url(&url).map_err(NodeError::fatal_msg)?;
            let params: Vec<(String, String)> =
                self.params.iter().map(|(k, v)| Ok((k.clone(), v.render(input)?))).collect::<Result<_, NodeError>>()?;
            let mut headers = Vec::with_capacity(self.headers.len());
            for (name, value) in &self.headers {
                let value = value.render(input)?;
                let value = reqwest::header::HeaderValue::from_str(&value).map_err(|_| {
                    NodeError::fatal_msg(format!(
                        "{what}: header `{name}` renders to a value that cannot be sent (control characters or a \
                         line break)"
                    ))
                })?;
                headers.push((name.clone(), value));
            }
            let body = self.body.as_ref().map(|b| b.render(input)).transpose()?;
            // Where the body goes is checked before anything is sent.
            let save_to = match &self.save_to {
                Some(path) => {
                    let path = path.render(input)?;
                    crate::support::sandbox::check_relative(&path, false)
                        .map_err(|e| NodeError::fatal_msg(format!("{what}: `save_to`: {e}")))?;
                    Some(path)
                }
                None => None,
            };
            let response = self.send(&what, method, parsed, &params, &headers, body).await?;
            let status = response.status();
            let headers = response.headers().clone();
            let content_type = headers.get(reqwest::header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
            let server_error = status.as_u16() == 429 || status.is_server_error();
            let failing = (server_error && self.fail_on_5xx) || (status.is_client_error() && self.fail_on_4xx);
            tracing::debug!(request = %what, %status, "http");
            let mut saved = None;
            let body = match save_to {
                Some(path) if !failing => {
                    saved = Some(save_body(&what, response, self.max_response, self.base_dir.clone(), path).await?);
                    Value::Null
                }
                _ => {
                    let bytes = read_body(&what, response, self.max_response).await?;
                    // The error names the status and the start of the body (shown leniently: it
                    // is a message, not an output).
                    if failing
                        && let Some(error) = status_error(
                            &what,
                            status,
                            &headers,
                            &String::from_utf8_lossy(&bytes),
                            self.fail_on_4xx,
                            self.max_retry_after,
                        )
                    {
                        return Err(error);
                    }
                    body_value(&what, &bytes, content_type, self.response)?
                }
            };
            let mut header_map = Map::new();
            for (name, value) in &headers {
                let entry = header_map.entry(canonical(name.as_str())).or_insert_with(|| Value::Array(Vec::new()));
                if let Value::Array(values) = entry {
                    values.push(Value::String(String::from_utf8_lossy(value.as_bytes()).into_owned()));
                }
            }
            Ok(match saved {
                Some((path, size)) => {
                    json!({"status": status.as_u16(), "headers": header_map, "saved_to": path, "size": size})
                }
                None => json!({"status": status.as_u16(), "headers": header_map, "body": body}),
            })
        })
    }
}
