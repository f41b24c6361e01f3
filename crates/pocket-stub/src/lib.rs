//! A tiny HTTP/1.1 server on 127.0.0.1 for tests and examples: each request is recorded and
//! answered by a handler (scripted responses, or anything computed from the request).
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! use pocket_stub::{Reply, Server};
//!
//! let server = Server::scripted(vec![Reply::json(200, serde_json::json!({"ok": true}))]).await.unwrap();
//! assert!(server.url("/x").starts_with("http://127.0.0.1:"));
//! assert!(server.requests().is_empty());
//! # });
//! ```

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A request as the server received it.
#[derive(Debug, Clone)]
pub struct Request {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The path with the query string.
    pub path: String,
    /// Header names (lower-cased) and values, in order.
    pub headers: Vec<(String, String)>,
    /// The body as text.
    pub body: String,
}

impl Request {
    /// The first value of a header (name in any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers.iter().find(|(k, _)| *k == name).map(|(_, v)| v.as_str())
    }

    /// The body parsed as JSON (`Value::Null` when it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
}

/// A response to send.
#[derive(Debug, Clone)]
pub struct Reply {
    /// The status code.
    pub status: u16,
    /// Extra headers.
    pub headers: Vec<(String, String)>,
    /// The body (any bytes: text, JSON, compressed or binary content).
    pub body: Vec<u8>,
    /// Send `body` again and again, chunked, until the client goes away (a server whose
    /// answer never ends).
    pub endless: bool,
}

impl Reply {
    /// A JSON response.
    pub fn json(status: u16, body: Value) -> Self {
        Reply {
            status,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: body.to_string().into_bytes(),
            endless: false,
        }
    }

    /// A plain-text response.
    pub fn text(status: u16, body: &str) -> Self {
        Reply { status, headers: vec![("Content-Type".into(), "text/plain".into())], body: body.into(), endless: false }
    }

    /// A response with `content_type` and a body of any bytes (binary, another charset, or
    /// compressed: add the `Content-Encoding` header with [`header`](Reply::header)).
    pub fn bytes(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> Self {
        Reply { status, headers: vec![("Content-Type".into(), content_type.into())], body: body.into(), endless: false }
    }

    /// A response whose body is `chunk` repeated without end.
    pub fn endless(status: u16, chunk: &str) -> Self {
        Reply { endless: true, ..Reply::text(status, chunk) }
    }

    /// A redirect (`301`, `302`, `303`, `307`, `308`) to `location`.
    pub fn redirect(status: u16, location: &str) -> Self {
        Reply::text(status, "").header("Location", location)
    }

    /// The same response with one more header.
    #[must_use]
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
}

type Handler = Arc<dyn Fn(&Request) -> Reply + Send + Sync>;

/// A running server; it stops when dropped.
pub struct Server {
    addr: std::net::SocketAddr,
    requests: Arc<Mutex<Vec<Request>>>,
    task: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server").field("addr", &self.addr).finish_non_exhaustive()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Server {
    /// Answer requests with `replies` in order (a 500 once they run out).
    ///
    /// # Errors
    ///
    /// When no local port can be bound.
    pub async fn scripted(replies: Vec<Reply>) -> std::io::Result<Self> {
        let queue = Mutex::new(VecDeque::from(replies));
        Server::start("127.0.0.1:0", move |_| {
            queue
                .lock()
                .ok()
                .and_then(|mut q| q.pop_front())
                .unwrap_or_else(|| Reply::text(500, "no more scripted replies"))
        })
        .await
    }

    /// Answer every request with `handler(request)`, listening on `addr` (`127.0.0.1:0` for
    /// any free port).
    ///
    /// # Errors
    ///
    /// When `addr` cannot be bound.
    pub async fn start(
        addr: &str,
        handler: impl Fn(&Request) -> Reply + Send + Sync + 'static,
    ) -> std::io::Result<Self> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let requests: Arc<Mutex<Vec<Request>>> = Arc::default();
        let handler: Handler = Arc::new(handler);
        let seen = requests.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (seen, handler) = (seen.clone(), handler.clone());
                tokio::spawn(async move {
                    let _ = serve(stream, &seen, &handler).await;
                });
            }
        });
        Ok(Server { addr, requests, task })
    }

    /// `http://127.0.0.1:<port><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The address the server listens on.
    pub fn addr(&self) -> std::net::SocketAddr {
        self.addr
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<Request> {
        self.requests.lock().map(|r| r.clone()).unwrap_or_default()
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

/// Serve requests on one connection until the client closes it.
async fn serve(mut stream: TcpStream, seen: &Mutex<Vec<Request>>, handler: &Handler) -> std::io::Result<()> {
    let mut buffer = Vec::new();
    loop {
        // Read the head.
        let head_end = loop {
            if let Some(at) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                break at + 4;
            }
            let mut chunk = [0u8; 4096];
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                return Ok(());
            }
            buffer.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
        let mut lines = head.split("\r\n");
        let mut first = lines.next().unwrap_or_default().split(' ');
        let method = first.next().unwrap_or_default().to_string();
        let path = first.next().unwrap_or_default().to_string();
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        let length: usize =
            headers.iter().find(|(k, _)| k == "content-length").and_then(|(_, v)| v.parse().ok()).unwrap_or(0);
        while buffer.len() < head_end + length {
            let mut chunk = [0u8; 4096];
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                return Ok(());
            }
            buffer.extend_from_slice(&chunk[..n]);
        }
        let body = String::from_utf8_lossy(&buffer[head_end..head_end + length]).into_owned();
        buffer.drain(..head_end + length);
        let request = Request { method, path, headers, body };
        if let Ok(mut all) = seen.lock() {
            all.push(request.clone());
        }
        let reply = handler(&request);
        if reply.endless {
            let mut head =
                format!("HTTP/1.1 {} {}\r\nTransfer-Encoding: chunked\r\n", reply.status, reason(reply.status));
            for (k, v) in &reply.headers {
                head.push_str(&format!("{k}: {v}\r\n"));
            }
            head.push_str("\r\n");
            stream.write_all(head.as_bytes()).await?;
            let body: &[u8] = if reply.body.is_empty() { b" " } else { &reply.body };
            let mut chunk = format!("{:x}\r\n", body.len()).into_bytes();
            chunk.extend_from_slice(body);
            chunk.extend_from_slice(b"\r\n");
            loop {
                stream.write_all(&chunk).await?;
            }
        }
        let mut out =
            format!("HTTP/1.1 {} {}\r\nContent-Length: {}\r\n", reply.status, reason(reply.status), reply.body.len());
        for (k, v) in &reply.headers {
            out.push_str(&format!("{k}: {v}\r\n"));
        }
        out.push_str("\r\n");
        let mut out = out.into_bytes();
        out.extend_from_slice(&reply.body);
        stream.write_all(&out).await?;
        stream.flush().await?;
    }
}

/// A scripted OpenAI-compatible model: `POST /v1/chat/completions` answers with the reply
/// `script(messages)` returns, with token counts; everything else is a 404.
///
/// The request body is the OpenAI chat format (`model`, `messages`, ...).
pub fn chat_reply(request: &Request, script: &dyn Fn(&[Value]) -> String) -> Reply {
    if request.method != "POST" || !request.path.starts_with("/v1/chat/completions") {
        return Reply::json(
            404,
            serde_json::json!({"error": {"message": format!("no route {} {}", request.method, request.path)}}),
        );
    }
    let body = request.json();
    let messages = body["messages"].as_array().cloned().unwrap_or_default();
    let text = script(&messages);
    let prompt_tokens: usize =
        messages.iter().filter_map(|m| m["content"].as_str()).map(|c| c.split_whitespace().count()).sum();
    Reply::json(
        200,
        serde_json::json!({
            "id": "chatcmpl-stub",
            "object": "chat.completion",
            "model": body["model"],
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": text.split_whitespace().count(),
                      "total_tokens": prompt_tokens + text.split_whitespace().count()}
        }),
    )
}

/// The scripted research agent of the agent-loop example: while the conversation holds no
/// `Observation: ` line it asks for a search of the question (`{"action": "search", "query":
/// ...}`); then it answers with the observation (`{"action": "answer", "answer": ...}`).
pub fn research_agent(messages: &[Value]) -> String {
    let text: Vec<&str> = messages.iter().filter_map(|m| m["content"].as_str()).collect();
    let all = text.join("\n");
    let question = text
        .iter()
        .rev()
        .find_map(|t| t.strip_prefix("Question: "))
        .unwrap_or("the question")
        .lines()
        .next()
        .unwrap_or_default();
    match all.rfind("Observation: ") {
        None => serde_json::json!({"action": "search", "query": question}).to_string(),
        Some(at) => {
            let observation = all[at + "Observation: ".len()..].lines().next().unwrap_or_default().trim();
            serde_json::json!({"action": "answer", "answer": format!("{observation} (found by searching for \"{question}\")")})
                .to_string()
        }
    }
}

/// The scripted ticket classifier of the classify-tickets example: the last message's
/// `Ticket <id>: <text>` becomes `{"id", "category", "urgent"}` — `billing` for money words,
/// `bug` for failure words, else `question`; urgent when the text says so.
pub fn ticket_classifier(messages: &[Value]) -> String {
    let last = messages.iter().rev().find_map(|m| m["content"].as_str()).unwrap_or_default();
    let rest = last.strip_prefix("Ticket ").unwrap_or(last);
    let (id, text) = rest.split_once(": ").unwrap_or(("", rest));
    let id: Value = id.trim().parse::<u64>().map_or_else(|_| Value::from(id.trim()), Value::from);
    let lower = text.to_lowercase();
    let has = |words: &[&str]| words.iter().any(|w| lower.contains(w));
    let category = if has(&["refund", "invoice", "charge", "billing", "price"]) {
        "billing"
    } else if has(&["crash", "error", "broken", "fails", "bug"]) {
        "bug"
    } else {
        "question"
    };
    let urgent = has(&["urgent", "asap", "down", "immediately"]);
    serde_json::json!({"id": id, "category": category, "urgent": urgent}).to_string()
}

/// The demo API the examples use: `POST /v1/chat/completions` (the [`research_agent`], or the
/// [`ticket_classifier`] for the model `stub-ticket-classifier`),
/// `GET /api/orders` and `GET /api/customers` (small fixed data sets), a 404 otherwise.
pub fn demo(request: &Request) -> Reply {
    let path = request.path.split('?').next().unwrap_or_default();
    match (request.method.as_str(), path) {
        ("POST", "/v1/chat/completions") if request.json()["model"] == "stub-ticket-classifier" => {
            chat_reply(request, &ticket_classifier)
        }
        ("POST", "/v1/chat/completions") => chat_reply(request, &research_agent),
        ("GET", "/api/orders") => Reply::json(
            200,
            serde_json::json!({"orders": [
                {"id": 1, "customer": "ada", "status": "paid", "amount": 120.5},
                {"id": 2, "customer": "bob", "status": "pending", "amount": 40},
                {"id": 3, "customer": "ada", "status": "paid", "amount": 19.5},
                {"id": 4, "customer": "cy", "status": "refunded", "amount": 60},
                {"id": 5, "customer": "bob", "status": "paid", "amount": 80}
            ]}),
        ),
        ("GET", "/api/customers") => Reply::json(
            200,
            serde_json::json!({"customers": [
                {"id": "ada", "name": "Ada Lovelace", "tier": "gold"},
                {"id": "bob", "name": "Bob Stone", "tier": "silver"},
                {"id": "cy", "name": "Cy Young", "tier": "bronze"}
            ]}),
        ),
        (method, _) => Reply::json(404, serde_json::json!({"error": format!("no route {method} {}", request.path)})),
    }
}
