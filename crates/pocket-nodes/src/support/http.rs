//! The HTTP client of the `http` and `llm` node types and how their failures are classified:
//! transport errors, 5xx and 429 are retryable (waiting at least `Retry-After`), 4xx is not.

use std::sync::Once;
use std::time::Duration;

use pocket::NodeError;
use serde_json::{Map, Value};

use crate::kind::ConfigError;
use crate::support::text::{Text, printable};
use crate::support::time::go_duration;

/// Install the process's TLS crypto provider (ring) once.
pub(crate) fn tls() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// The longest wait a server may ask for (`Retry-After`) unless a node's `max_retry_after`
/// says otherwise; a longer request fails the node, naming it.
pub(crate) const DEFAULT_MAX_RETRY_AFTER: Duration = Duration::from_secs(300);

/// The largest response body read unless a node's `max_response_size` says otherwise.
pub(crate) const DEFAULT_MAX_RESPONSE: u64 = 64 << 20;

/// The most redirects followed for one request.
pub(crate) const MAX_REDIRECTS: usize = 10;

/// An HTTP client with a request timeout. It follows no redirects and sends no `Referer`:
/// the `http` node follows redirects itself, so that it can drop the request's own headers
/// when a redirect leads to another origin.
pub(crate) fn client(timeout: Duration) -> Result<reqwest::Client, String> {
    tls();
    reqwest::Client::builder()
        .timeout(timeout)
        .user_agent(concat!("pocket/", env!("CARGO_PKG_VERSION")))
        .redirect(reqwest::redirect::Policy::none())
        .referer(false)
        .build()
        .map_err(|e| format!("cannot create the HTTP client: {e}"))
}

/// Only `http` and `https` URLs are requested (not `file:`, `ftp:`, `data:`, …).
pub(crate) fn check_scheme(url: &reqwest::Url) -> Result<(), String> {
    match url.scheme() {
        "http" | "https" => Ok(()),
        other => Err(format!("`{url}` is a `{other}:` URL; only http and https are requested")),
    }
}

/// A URL that parses and is http(s).
pub(crate) fn parse_url(text: &str) -> Result<reqwest::Url, String> {
    let url = reqwest::Url::parse(text).map_err(|e| format!("`{}` is not a URL: {e}", printable(text)))?;
    check_scheme(&url)?;
    Ok(url)
}

/// Read a response's body, at most `cap` bytes (a longer one fails, named, without reading it
/// all).
pub(crate) async fn read_body(what: &str, response: reqwest::Response, cap: u64) -> Result<Vec<u8>, NodeError> {
    let mut chunks = Capped::new(what, response, cap)?;
    let mut body = Vec::new();
    while let Some(chunk) = chunks.next().await? {
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// A response's body chunk by chunk, at most `cap` bytes in all: a body that declares or
/// reaches more fails, named, without being read to the end.
struct Capped<'a> {
    what: &'a str,
    response: reqwest::Response,
    cap: u64,
    read: u64,
}

impl<'a> Capped<'a> {
    fn new(what: &'a str, response: reqwest::Response, cap: u64) -> Result<Self, NodeError> {
        if response.content_length().is_some_and(|n| n > cap) {
            return Err(too_large(what, cap));
        }
        Ok(Capped { what, response, cap, read: 0 })
    }

    async fn next(&mut self) -> Result<Option<bytes::Bytes>, NodeError> {
        let Some(chunk) = self.response.chunk().await.map_err(|e| transport_error(self.what, &e))? else {
            return Ok(None);
        };
        self.read += chunk.len() as u64;
        if self.read > self.cap {
            return Err(too_large(self.what, self.cap));
        }
        Ok(Some(chunk))
    }
}

/// How a response body becomes a node's output.
#[derive(Debug, Clone, Copy, Default, serde::Deserialize, schemars::JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub(crate) enum BodyMode {
    /// JSON when the content type says JSON (a body that only claims to be JSON stays text),
    /// otherwise text in the declared charset; a body that is not text fails the node.
    #[default]
    Auto,
    /// Text in the declared charset (UTF-8 when none is declared), never parsed.
    Text,
    /// JSON, whatever the content type says; anything else fails the node.
    Json,
    /// The raw bytes, base64-encoded (standard alphabet, padded): images, archives, PDFs.
    Bytes,
}

/// The text of a body in the charset its content type declares (`text/csv; charset=latin1`),
/// UTF-8 when none is; a byte-order mark overrides both, as browsers do. Bytes that are not
/// text in that charset fail, naming the way out: never replaced by U+FFFD.
pub(crate) fn decode_text(what: &str, bytes: &[u8], content_type: Option<&str>) -> Result<String, NodeError> {
    let declared = content_type
        .and_then(|t| t.parse::<mime::Mime>().ok())
        .and_then(|m| m.get_param(mime::CHARSET).map(|c| c.as_str().to_string()));
    let encoding = match &declared {
        Some(label) => encoding_rs::Encoding::for_label(label.as_bytes()).ok_or_else(|| {
            NodeError::fatal_msg(format!(
                "{what}: the response declares the charset `{}`, which is not one Pocket knows; set `response: \
                 bytes` to get the body as base64",
                printable(label)
            ))
        })?,
        None => encoding_rs::UTF_8,
    };
    let (encoding, bom) = encoding_rs::Encoding::for_bom(bytes).unwrap_or((encoding, 0));
    match encoding.decode_without_bom_handling_and_without_replacement(&bytes[bom..]) {
        Some(text) => Ok(text.into_owned()),
        None => Err(NodeError::fatal_msg(format!(
            "{what}: the response body ({} bytes{}) is not {} text; set `response: bytes` to get it as base64, or \
             `save_to` to write it to a file",
            bytes.len(),
            content_type.map(|t| format!(", `{}`", printable(t))).unwrap_or_default(),
            encoding.name()
        ))),
    }
}

/// The output value of a body read as `mode`.
pub(crate) fn body_value(
    what: &str,
    bytes: &[u8],
    content_type: Option<&str>,
    mode: BodyMode,
) -> Result<Value, NodeError> {
    use base64::Engine as _;
    let says_json = content_type.is_some_and(|t| t.contains("json"));
    match mode {
        BodyMode::Bytes => Ok(Value::String(base64::engine::general_purpose::STANDARD.encode(bytes))),
        BodyMode::Text => decode_text(what, bytes, content_type).map(Value::String),
        BodyMode::Auto if !says_json => decode_text(what, bytes, content_type).map(Value::String),
        BodyMode::Auto | BodyMode::Json => {
            let text = decode_text(what, bytes, content_type)?;
            // A number the JSON holds that cannot be kept exactly fails the node rather than change.
            match pocket_yaml::json_exact(&text) {
                Ok(json) => Ok(json),
                Err(pocket_yaml::JsonError::Syntax(_)) if mode == BodyMode::Auto => Ok(Value::String(text)),
                Err(e) => Err(NodeError::fatal_msg(format!("{what}: the response body: {e}"))),
            }
        }
    }
}

/// Stream a response's body into `path` (relative to `base`, confined to it like the `file`
/// node; missing directories inside it are created), at most `cap` bytes. The file is replaced
/// atomically: a failed, oversized or cancelled download leaves the old file (or none), never
/// part of the new one. Returns the path written and the size.
pub(crate) async fn save_body(
    what: &str,
    response: reqwest::Response,
    cap: u64,
    base: std::path::PathBuf,
    path: String,
) -> Result<(String, u64), NodeError> {
    use crate::support::sandbox::Sandbox;
    enum Piece {
        Chunk(bytes::Bytes),
        End,
    }
    let mut chunks = Capped::new(what, response, cap)?;
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Piece>(8);
    let what_owned = what.to_string();
    // File system calls block: the writing runs on the blocking pool, fed through a bounded
    // channel (the download waits for the disk, memory stays bounded).
    let writer = tokio::task::spawn_blocking(move || -> Result<(String, u64), NodeError> {
        let sandbox = Sandbox::open(&base)?;
        let relative = sandbox.relative(&path, false)?;
        let parent = sandbox.parent_of(&relative, true)?;
        let mut replacement = sandbox.replacement(&relative, parent)?;
        let mut size = 0u64;
        loop {
            match rx.blocking_recv() {
                Some(Piece::Chunk(chunk)) => {
                    std::io::Write::write_all(replacement.file(), &chunk)
                        .map_err(|e| sandbox.error("cannot write", &relative, &e))?;
                    size += chunk.len() as u64;
                }
                Some(Piece::End) => break,
                // The download failed or was cancelled: the temporary file goes with `replacement`.
                None => return Err(NodeError::fatal_msg(format!("{what_owned}: the download stopped"))),
            }
        }
        replacement.commit()?;
        Ok((sandbox.shown.join(&relative).display().to_string(), size))
    });
    // A send fails only when the writer gave up; its own error is then the answer.
    let fed = async {
        while let Some(chunk) = chunks.next().await? {
            if tx.send(Piece::Chunk(chunk)).await.is_err() {
                return Ok(());
            }
        }
        let _ = tx.send(Piece::End).await;
        Ok(())
    }
    .await;
    drop(tx);
    let written = writer.await.map_err(|e| NodeError::fatal_msg(format!("{what}: the file writer stopped: {e}")))?;
    // The download's own error says more than the writer's "stopped".
    fed.and(written)
}

fn too_large(what: &str, cap: u64) -> NodeError {
    NodeError::fatal_msg(format!(
        "{what}: the response body is larger than {} (`max_response_size`)",
        crate::support::de::show_bytes(cap)
    ))
}

/// A JSON value whose strings may be templates.
#[derive(Debug, Clone)]
pub(crate) enum JsonTemplate {
    /// A string that is exactly one field reference (`"{{.count}}"`, `"{{ .user.tags }}"`): the
    /// field's own JSON value, its type kept (a number stays a number, a list a list).
    Field(Vec<String>),
    Text(Text),
    List(Vec<JsonTemplate>),
    Map(Vec<(String, JsonTemplate)>),
    Value(Value),
}

impl JsonTemplate {
    /// A JSON value whose strings are templates. A string inside a mapping or list that is
    /// exactly one field reference keeps that field's JSON type; a string at the top is text.
    pub(crate) fn new(node: &str, field: &str, value: &Value) -> Result<Self, ConfigError> {
        Self::part(node, field, value, false)
    }

    fn part(node: &str, field: &str, value: &Value, nested: bool) -> Result<Self, ConfigError> {
        Ok(match value {
            Value::String(s) => match field_reference(s).filter(|_| nested) {
                Some(path) => JsonTemplate::Field(path),
                None => JsonTemplate::Text(Text::new(node, field, s)?),
            },
            Value::Array(items) => JsonTemplate::List(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, v)| JsonTemplate::part(node, &format!("{field}[{i}]"), v, true))
                    .collect::<Result<_, _>>()?,
            ),
            Value::Object(map) => JsonTemplate::Map(
                map.iter()
                    .map(|(k, v)| Ok((k.clone(), JsonTemplate::part(node, &format!("{field}.{k}"), v, true)?)))
                    .collect::<Result<_, ConfigError>>()?,
            ),
            other => JsonTemplate::Value(other.clone()),
        })
    }

    pub(crate) fn render(&self, data: &Value) -> Result<Value, NodeError> {
        Ok(match self {
            JsonTemplate::Field(path) => {
                path.iter().try_fold(data, |value, key| value.get(key)).cloned().unwrap_or(Value::Null)
            }
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

/// The field path of a string that is exactly one Go template action naming a field (`{{.}}`,
/// `{{.a.b}}`, spaces and `-` trim markers allowed); `None` for anything else.
fn field_reference(text: &str) -> Option<Vec<String>> {
    let inner = text.trim().strip_prefix("{{")?.strip_suffix("}}")?;
    let inner = inner.strip_prefix('-').unwrap_or(inner).strip_suffix('-').unwrap_or(inner).trim();
    if inner == "." {
        return Some(Vec::new());
    }
    let path: Vec<String> = inner.strip_prefix('.')?.split('.').map(str::to_string).collect();
    let identifier = |k: &String| {
        k.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    };
    path.iter().all(identifier).then_some(path)
}

/// How long a `Retry-After` header asks to wait: seconds, or an HTTP date.
pub(crate) fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let text = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = text.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = crate::support::time::parse_http_date(text)?;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).ok()?.as_secs();
    Some(Duration::from_secs(at.saturating_sub(now)))
}

/// A response status as the error it is, if it is one: 429 and 5xx are retryable (429 is
/// throttled, with or without `Retry-After`; 429 and 503 waiting at least `Retry-After`, if that is at most `max_retry_after`; a longer request
/// fails the node), 4xx is not. The body's start is quoted, control characters escaped.
pub(crate) fn status_error(
    what: &str,
    status: reqwest::StatusCode,
    headers: &reqwest::header::HeaderMap,
    body: &str,
    fail_on_4xx: bool,
    max_retry_after: Duration,
) -> Option<NodeError> {
    let snippet: String = body.chars().take(300).collect();
    let snippet = printable(&snippet);
    let message =
        format!("{what}: HTTP {status}{}", if snippet.is_empty() { String::new() } else { format!(": {snippet}") });
    if status.as_u16() == 429 || status.is_server_error() {
        return Some(match retry_after(headers) {
            Some(after) if after > max_retry_after => NodeError::fatal_msg(format!(
                "{message} (the server asks to wait {} before retrying, more than the {} allowed by \
                 `max_retry_after`)",
                go_duration(after),
                go_duration(max_retry_after)
            )),
            Some(after) => NodeError::throttled(message, after),
            // A 429 is the other side pushing back even when it does not say for how long.
            None if status.as_u16() == 429 => NodeError::throttled(message, Duration::ZERO),
            None => NodeError::retryable(message),
        });
    }
    (status.is_client_error() && fail_on_4xx).then(|| NodeError::fatal_msg(message))
}

/// A transport failure as a retryable error, described plainly (a request that could not even
/// be built is the workflow's mistake: not retried).
pub(crate) fn transport_error(what: &str, e: &reqwest::Error) -> NodeError {
    if e.is_builder() {
        return NodeError::fatal_msg(format!("{what}: the request cannot be sent: {}", printable(&e.to_string())));
    }
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
    let message = format!("{what}: {kind}: {}", printable(&cause.to_string()));
    NodeError::retryable(message)
}
