//! The `http` node against a local server started by the test (no test reaches the internet).

#![cfg(feature = "http")]

mod common;

use std::time::{Duration, Instant};

use common::{error_text, problems, run};
use pocket_stub::{Reply, Server};
use serde_json::json;

fn http(url: &str, extra: &str) -> String {
    format!(
        "name: h\nstart: n\nnodes:\n  - name: n\n    type: http\n    config:\n      url: '{url}'\n      retry: {{ max_attempts: 3, delay: 10ms }}\n{extra}"
    )
}

#[tokio::test]
async fn get_with_templated_url_params_and_headers() {
    let server =
        Server::scripted(vec![Reply::json(200, json!({"name": "Ada"})).header("X-Trace", "t1")]).await.unwrap();
    let yaml = http(
        &server.url("/users/{{.id}}"),
        "      params: { fields: '{{.fields}}', lang: en }\n      headers: { Authorization: 'Bearer {{.token}}' }",
    );
    let out = run(&yaml, json!({"id": 42, "fields": "name", "token": "s3"})).await.unwrap();
    assert_eq!(out["status"], 200);
    assert_eq!(out["body"], json!({"name": "Ada"}), "a JSON response is parsed");
    // Header names as Go writes them, so `{{index .headers "Content-Type"}}` works.
    assert_eq!(out["headers"]["X-Trace"], json!(["t1"]));
    assert_eq!(out["headers"]["Content-Type"], json!(["application/json"]));
    let seen = &server.requests()[0];
    assert_eq!(seen.method, "GET");
    assert_eq!(seen.path, "/users/42?fields=name&lang=en");
    assert_eq!(seen.header("authorization"), Some("Bearer s3"));
}

#[tokio::test]
async fn json_and_text_bodies_are_templated() {
    let server = Server::scripted(vec![Reply::text(201, "created"), Reply::text(200, "ok")]).await.unwrap();
    let yaml = http(
        &server.url("/items"),
        "      method: post\n      body: { name: '{{.name}}', tags: ['{{.tag}}', fixed], n: 3 }",
    );
    let out = run(&yaml, json!({"name": "widget", "tag": "new"})).await.unwrap();
    assert_eq!((out["status"].clone(), out["body"].clone()), (json!(201), json!("created")));
    let seen = &server.requests()[0];
    assert_eq!(seen.method, "POST");
    assert_eq!(seen.header("content-type"), Some("application/json"));
    assert_eq!(seen.json(), json!({"name": "widget", "tags": ["new", "fixed"], "n": 3}));

    let yaml = http(&server.url("/notes"), "      method: PUT\n      body: 'note for {{.name}}'");
    run(&yaml, json!({"name": "bo"})).await.unwrap();
    assert_eq!(server.requests()[1].body, "note for bo");
}

#[tokio::test]
async fn a_5xx_is_retried_until_success() {
    let server = Server::scripted(vec![
        Reply::text(502, "bad gateway"),
        Reply::text(500, "oops"),
        Reply::json(200, json!({"ok": 1})),
    ])
    .await
    .unwrap();
    let out = run(&http(&server.url("/flaky"), ""), json!(null)).await.unwrap();
    assert_eq!(out["body"], json!({"ok": 1}));
    assert_eq!(server.requests().len(), 3);
}

#[tokio::test]
async fn a_5xx_that_persists_fails_after_the_attempts() {
    let server = Server::scripted(vec![Reply::text(503, "down"); 5]).await.unwrap();
    let err = run(&http(&server.url("/down"), ""), json!(null)).await.unwrap_err();
    let text = error_text(&err);
    assert!(text.contains("gave up after 3 attempts") && text.contains("HTTP 503 Service Unavailable: down"), "{text}");
    assert_eq!(server.requests().len(), 3);
}

#[tokio::test]
async fn a_4xx_is_an_error_unless_configured_otherwise() {
    let server = Server::scripted(vec![
        Reply::json(404, json!({"error": "no such user"})),
        Reply::json(404, json!({"error": "no such user"})),
    ])
    .await
    .unwrap();
    let err = run(&http(&server.url("/users/9"), ""), json!(null)).await.unwrap_err();
    let text = error_text(&err);
    assert!(text.contains("GET") && text.contains("HTTP 404 Not Found") && text.contains("no such user"), "{text}");
    assert_eq!(server.requests().len(), 1, "a 4xx is not retried");
    let out = run(&http(&server.url("/users/9"), "      fail_on_4xx: false"), json!(null)).await.unwrap();
    assert_eq!((out["status"].clone(), out["body"]["error"].clone()), (json!(404), json!("no such user")));
}

#[tokio::test]
async fn a_429_waits_for_retry_after() {
    let server =
        Server::scripted(vec![Reply::text(429, "slow down").header("Retry-After", "1"), Reply::text(200, "fine")])
            .await
            .unwrap();
    let started = Instant::now();
    let out = run(&http(&server.url("/limited"), ""), json!(null)).await.unwrap();
    assert_eq!(out["body"], "fine");
    assert!(started.elapsed() >= Duration::from_secs(1), "waited {:?}, Retry-After asked 1s", started.elapsed());
}

#[tokio::test]
async fn transport_errors_are_retried_then_reported() {
    // A port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let err = run(&http(&format!("http://127.0.0.1:{port}/x"), "      timeout: 2s"), json!(null)).await.unwrap_err();
    let text = error_text(&err);
    assert!(text.contains("gave up after 3 attempts") && text.contains("could not connect"), "{text}");
}

#[test]
fn config_refusals() {
    let found = problems(&http("not a url", ""));
    assert!(found[0].contains("`config.url`: `not a url` is not a URL"), "{found:?}");
    let found = problems(&http("http://x", "      method: FETCH"));
    assert!(found[0].contains("unknown variant `FETCH`"), "{found:?}");
    let found = problems(&http("http://x", "      headers: { A: '{{.x' }"));
    assert!(found[0].contains("`config.headers.A`"), "{found:?}");
}

/// `secs` since the epoch as an HTTP date.
fn http_date(secs: u64) -> String {
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let weekday = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"][(days % 7) as usize];
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let name =
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"][(month - 1) as usize];
    format!("{weekday}, {day:02} {name} {year} {:02}:{:02}:{:02} GMT", rem / 3_600, rem % 3_600 / 60, rem % 60)
}

#[tokio::test]
async fn retry_after_may_be_an_http_date() {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let server = Server::scripted(vec![
        Reply::text(503, "maintenance").header("Retry-After", &http_date(now + 2)),
        Reply::text(200, "back"),
    ])
    .await
    .unwrap();
    let started = Instant::now();
    let out = run(&http(&server.url("/later"), ""), json!(null)).await.unwrap();
    assert_eq!(out["body"], "back");
    assert!(started.elapsed() >= Duration::from_millis(900), "waited {:?}", started.elapsed());
}

#[tokio::test]
async fn only_http_urls_and_valid_headers_pass_and_a_bad_rendered_one_is_not_retried() {
    let found = problems(&http("file:///etc/passwd", ""));
    assert!(found[0].contains("`config.url`: `file:///etc/passwd` is a `file:` URL; only http and https"), "{found:?}");
    let found = problems(&http("http://127.0.0.1:9/", "      headers: { 'X Bad': v, 'X-Ok': \"a\\nb\" }"));
    assert!(
        found.iter().any(|p| p.contains("`config.headers.X Bad`: `X Bad` is not a valid header name")),
        "{found:?}"
    );
    assert!(found.iter().any(|p| p.contains("`config.headers.X-Ok`: is not a valid header value")), "{found:?}");
    // Rendered at run time: a failure of the workflow, not of the network, so not retried.
    let err = run(&http("{{.url}}", ""), json!({"url": "file:///etc/passwd"})).await.unwrap_err();
    let text = error_text(&err);
    assert!(text.contains("is a `file:` URL") && !text.contains("attempts"), "{text}");
    let server = Server::scripted(vec![]).await.unwrap();
    let err = run(&http(&server.url("/"), "      headers: { X-Name: '{{.v}}' }"), json!({"v": "a\r\nX-Injected: 1"}))
        .await
        .unwrap_err();
    let text = error_text(&err);
    assert!(
        text.contains("header `X-Name` renders to a value that cannot be sent") && !text.contains("attempts"),
        "{text}"
    );
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn terminal_escapes_in_a_server_body_are_escaped_in_the_error() {
    let server = Server::scripted(vec![Reply::text(400, "\u{1b}]0;pwned\u{7}\u{1b}[2Jgone")]).await.unwrap();
    let err = run(&http(&server.url("/"), ""), json!(null)).await.unwrap_err();
    let text = error_text(&err);
    assert!(!text.contains('\u{1b}') && !text.contains('\u{7}'), "{text:?}");
    assert!(text.contains("\\u{1b}]0;pwned\\u{7}\\u{1b}[2Jgone"), "{text}");
}

#[tokio::test]
async fn a_redirect_to_another_origin_drops_the_request_headers_and_sends_no_referer() {
    let other = Server::scripted(vec![Reply::text(200, "there")]).await.unwrap();
    let target = other.url("/landed");
    let first = Server::start("127.0.0.1:0", move |request| {
        if request.path.starts_with("/same") {
            Reply::redirect(302, "/final")
        } else if request.path.starts_with("/final") {
            Reply::text(200, "here")
        } else {
            Reply::redirect(307, &target)
        }
    })
    .await
    .unwrap();
    let headers = "      headers: { Authorization: 'Bearer s3cret', X-Api-Key: k3y, Accept: text/plain }";
    let out = run(&http(&first.url("/away?token=1"), headers), json!(null)).await.unwrap();
    assert_eq!(out["body"], "there");
    let landed = &other.requests()[0];
    for name in ["authorization", "x-api-key", "referer"] {
        assert_eq!(landed.header(name), None, "`{name}` reached the other origin: {:?}", landed.headers);
    }
    assert_eq!(landed.header("accept"), Some("*/*"), "the node's own `Accept` stayed behind too");
    assert_eq!(first.requests()[0].header("x-api-key"), Some("k3y"));
    // Within one origin the headers follow the redirect.
    let out = run(&http(&first.url("/same"), headers), json!(null)).await.unwrap();
    assert_eq!(out["body"], "here");
    let last = first.requests().pop().unwrap();
    assert_eq!((last.path.as_str(), last.header("x-api-key")), ("/final", Some("k3y")));
    // A redirect to a non-http URL fails the node.
    let trap = Server::scripted(vec![Reply::redirect(302, "file:///etc/passwd")]).await.unwrap();
    let err = run(&http(&trap.url("/"), ""), json!(null)).await.unwrap_err();
    assert!(error_text(&err).contains("is a `file:` URL"), "{}", error_text(&err));
}

#[tokio::test]
async fn an_endless_body_fails_at_max_response_size() {
    let server = Server::scripted(vec![Reply::endless(200, &"x".repeat(4096))]).await.unwrap();
    let err = run(&http(&server.url("/"), "      max_response_size: 1MiB"), json!(null)).await.unwrap_err();
    assert!(
        error_text(&err).contains("the response body is larger than 1 MiB (`max_response_size`)"),
        "{}",
        error_text(&err)
    );
}

#[tokio::test]
async fn a_retry_after_longer_than_allowed_fails_at_once_naming_the_request() {
    let server =
        Server::scripted(vec![Reply::text(429, "come back tomorrow").header("Retry-After", "86400")]).await.unwrap();
    let started = Instant::now();
    let err = run(&http(&server.url("/"), ""), json!(null)).await.unwrap_err();
    let text = error_text(&err);
    assert!(
        text.contains(
            "the server asks to wait 24h0m0s before retrying, more than the 5m0s allowed by `max_retry_after`"
        ),
        "{text}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn a_json_body_with_an_integer_beyond_64_bits_fails_instead_of_rounding() {
    let server = Server::scripted(vec![Reply::json(200, json!({"ok": true})), Reply::text(200, "")]).await.unwrap();
    run(&http(&server.url("/"), ""), json!(null)).await.unwrap();
    let big = Server::scripted(vec![Reply {
        body: r#"{"id": 123456789012345678901234567890}"#.into(),
        ..Reply::json(200, json!(null))
    }])
    .await
    .unwrap();
    let err = run(&http(&big.url("/"), ""), json!(null)).await.unwrap_err();
    assert!(
        error_text(&err).contains("the integer 123456789012345678901234567890 does not fit in 64 bits"),
        "{}",
        error_text(&err)
    );
}

#[tokio::test]
async fn a_json_body_field_that_is_one_reference_keeps_its_type() {
    let server = Server::scripted(vec![Reply::text(200, "ok")]).await.unwrap();
    let yaml = http(
        &server.url("/items"),
        "      method: POST\n      body: { count: '{{.count}}', tags: '{{ .tags }}', who: '{{.user.name}}', none: '{{.nope}}', text: 'n={{.count}}', all: '{{.}}' }",
    );
    let input = json!({"count": 3, "tags": ["a", "b"], "user": {"name": "ada"}});
    run(&yaml, input.clone()).await.unwrap();
    let sent = server.requests()[0].json();
    assert_eq!(sent["count"], json!(3));
    assert_eq!(sent["tags"], json!(["a", "b"]));
    assert_eq!(sent["who"], json!("ada"));
    assert_eq!(sent["none"], json!(null));
    assert_eq!(sent["text"], json!("n=3"), "text around the action keeps it a string");
    assert_eq!(sent["all"], input);
}

#[tokio::test]
async fn post_is_sent_once_unless_retry_is_asked_for_and_5xx_can_be_the_output() {
    let server = Server::scripted(vec![Reply::text(500, "down"), Reply::text(500, "down"), Reply::text(200, "ok")])
        .await
        .unwrap();
    let once = format!(
        "name: h\nstart: n\nnodes:\n  - name: n\n    type: http\n    config:\n      url: '{}'\n      method: POST\n",
        server.url("/orders")
    );
    let err = run(&once, json!(null)).await.unwrap_err();
    assert!(!error_text(&err).contains("attempts"), "{}", error_text(&err));
    assert_eq!(server.requests().len(), 1, "a POST is not repeated by default");
    let out = run(&http(&server.url("/orders"), "      method: POST"), json!(null)).await.unwrap();
    assert_eq!(out["body"], "ok", "with `retry` it is");
    let server = Server::scripted(vec![Reply::text(503, "busy")]).await.unwrap();
    let out = run(&http(&server.url("/"), "      fail_on_5xx: false"), json!(null)).await.unwrap();
    assert_eq!((out["status"].clone(), out["body"].clone()), (json!(503), json!("busy")));
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn redirects_can_be_left_unfollowed_or_limited_and_a_loop_is_not_retried() {
    let server = Server::start("127.0.0.1:0", |_| Reply::redirect(302, "/again")).await.unwrap();
    let out = run(&http(&server.url("/start"), "      follow_redirects: false"), json!(null)).await.unwrap();
    assert_eq!((out["status"].clone(), out["headers"]["Location"].clone()), (json!(302), json!(["/again"])));
    let before = server.requests().len();
    let err = run(&http(&server.url("/start"), "      max_redirects: 2"), json!(null)).await.unwrap_err();
    let text = error_text(&err);
    assert!(text.contains("more than 2 redirects (`max_redirects`)") && !text.contains("attempts"), "{text}");
    assert_eq!(server.requests().len() - before, 3, "the first request and two redirects, once");
}

fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

#[tokio::test]
async fn compressed_responses_are_decoded() {
    use std::io::Write;
    let data = br#"{"word": "hello", "n": 3}"#;
    let deflate = {
        let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    };
    let br = {
        let mut out = Vec::new();
        let mut w = brotli::CompressorWriter::new(&mut out, 4096, 5, 22);
        w.write_all(data).unwrap();
        drop(w);
        out
    };
    let zstd = zstd::encode_all(&data[..], 3).unwrap();
    for (encoding, body) in [("gzip", gzip(data)), ("deflate", deflate), ("br", br), ("zstd", zstd)] {
        let server =
            Server::scripted(vec![Reply::bytes(200, "application/json", body).header("Content-Encoding", encoding)])
                .await
                .unwrap();
        let out = run(&http(&server.url("/"), ""), json!(null)).await.unwrap();
        assert_eq!(out["body"], json!({"word": "hello", "n": 3}), "{encoding}");
        let asked = server.requests()[0].header("accept-encoding").unwrap_or_default().to_string();
        assert!(asked.contains(encoding), "{encoding} is offered: {asked}");
    }
}

#[tokio::test]
async fn a_compressed_body_is_capped_after_decoding() {
    // 10 MB of zeros compress to ~10 kB: `max_response_size` counts what the node would keep.
    let bomb = gzip(&vec![0u8; 10 << 20]);
    assert!(bomb.len() < 100_000);
    let server =
        Server::scripted(vec![Reply::bytes(200, "text/plain", bomb).header("Content-Encoding", "gzip")]).await.unwrap();
    let err = run(&http(&server.url("/"), "      max_response_size: 1MiB"), json!(null)).await.unwrap_err();
    assert!(error_text(&err).contains("larger than 1 MiB"), "{}", error_text(&err));
}

#[tokio::test]
async fn text_is_decoded_by_its_charset_and_binary_is_never_garbled() {
    let server = Server::scripted(vec![
        Reply::bytes(200, "text/plain; charset=ISO-8859-1", b"caf\xe9".to_vec()),
        Reply::bytes(200, "text/csv; charset=\"windows-1252\"", b"\x93quoted\x94".to_vec()),
        Reply::bytes(200, "image/png", b"\x89PNG\r\n\x1a\n\x00\xff".to_vec()),
        Reply::bytes(200, "text/plain; charset=klingon", b"x".to_vec()),
        Reply::bytes(200, "text/plain", b"\xef\xbb\xbfbom".to_vec()),
    ])
    .await
    .unwrap();
    let yaml = http(&server.url("/"), "");
    assert_eq!(run(&yaml, json!(null)).await.unwrap()["body"], "café");
    assert_eq!(run(&yaml, json!(null)).await.unwrap()["body"], "\u{201c}quoted\u{201d}");
    let err = error_text(&run(&yaml, json!(null)).await.unwrap_err());
    assert!(
        err.contains("is not UTF-8 text") && err.contains("`image/png`") && err.contains("`response: bytes`"),
        "{err}"
    );
    let err = error_text(&run(&yaml, json!(null)).await.unwrap_err());
    assert!(err.contains("charset `klingon`"), "{err}");
    assert_eq!(run(&yaml, json!(null)).await.unwrap()["body"], "bom", "a byte-order mark is not text");
}

#[tokio::test]
async fn response_modes_bytes_text_and_json() {
    let png = b"\x89PNG\r\n\x1a\n\x00\xff".to_vec();
    let server = Server::scripted(vec![
        Reply::bytes(200, "image/png", png),
        Reply::json(200, json!({"a": 1})),
        Reply::text(200, r#"{"a": 1}"#),
        Reply::text(200, "not json"),
    ])
    .await
    .unwrap();
    let out = run(&http(&server.url("/"), "      response: bytes"), json!(null)).await.unwrap();
    assert_eq!(out["body"], "iVBORw0KGgoA/w==", "base64 of the exact bytes");
    let out = run(&http(&server.url("/"), "      response: text"), json!(null)).await.unwrap();
    assert_eq!(out["body"], r#"{"a":1}"#, "text is never parsed");
    let out = run(&http(&server.url("/"), "      response: json"), json!(null)).await.unwrap();
    assert_eq!(out["body"], json!({"a": 1}), "parsed whatever the content type");
    let err = run(&http(&server.url("/"), "      response: json"), json!(null)).await.unwrap_err();
    assert!(error_text(&err).contains("the response body:"), "{}", error_text(&err));
    assert!(problems(&http("http://x/", "      response: xml"))[0].contains("response"));
}

fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("pocket-http-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn run_in(dir: &std::path::Path, yaml: &str, input: serde_json::Value) -> Result<serde_json::Value, String> {
    let workflow = pocket_yaml::parse_workflow(yaml, "test.yaml").unwrap();
    let graph =
        pocket_nodes::build_graph(&workflow, &pocket_nodes::Registry::builtin(), pocket_nodes::BuildOptions::new(dir))
            .map_err(|e| e.to_string())?;
    graph.run(&pocket::Store::new(), input).await.map_err(|e| error_text(&e))
}

#[tokio::test]
async fn save_to_writes_the_body_into_the_workflow_directory_atomically() {
    let dir = scratch("save");
    let png = b"\x89PNG\r\n\x1a\n\x00\xff".repeat(10_000);
    let server = Server::scripted(vec![
        Reply::bytes(200, "image/png", png.clone()),
        Reply::bytes(200, "image/png", vec![7u8; 5000]),
        Reply::bytes(404, "text/plain", b"gone".to_vec()),
    ])
    .await
    .unwrap();
    let yaml = http(&server.url("/"), "      save_to: 'downloads/{{.id}}.png'\n      max_response_size: 4kB");
    let err = run_in(&dir, &yaml, json!({"id": 1})).await.unwrap_err();
    assert!(err.contains("larger than"), "{err}");
    let listed = |d: &std::path::Path| std::fs::read_dir(d).map(|r| r.count()).unwrap_or(0);
    assert_eq!(listed(&dir.join("downloads")), 0, "an oversized download leaves nothing behind");

    let yaml = http(&server.url("/"), "      save_to: 'downloads/{{.id}}.png'");
    let server2 = Server::scripted(vec![Reply::bytes(200, "image/png", png.clone())]).await.unwrap();
    let yaml2 = http(&server2.url("/"), "      save_to: 'downloads/{{.id}}.png'");
    let out = run_in(&dir, &yaml2, json!({"id": 2})).await.unwrap();
    let path = dir.join("downloads/2.png");
    assert_eq!(std::fs::read(&path).unwrap(), png);
    assert_eq!(out["size"], png.len());
    assert_eq!(out["saved_to"], path.canonicalize().unwrap().display().to_string());
    assert!(out.get("body").is_none());
    // The second reply replaces nothing it should not; the 404 fails and writes nothing.
    run_in(&dir, &yaml, json!({"id": 3})).await.unwrap();
    let err = run_in(&dir, &yaml, json!({"id": 4})).await.unwrap_err();
    assert!(err.contains("404"), "{err}");
    assert!(!dir.join("downloads/4.png").exists());
    assert_eq!(listed(&dir.join("downloads")), 2, "only finished files, no temporaries");

    // Paths that leave the directory are refused, at build time when fixed, at run time when rendered.
    assert!(
        run_in(&dir, &http(&server.url("/"), "      save_to: ../escape.png"), json!({}))
            .await
            .unwrap_err()
            .contains("..")
    );
    let err =
        run_in(&dir, &http(&server2.url("/"), "      save_to: '{{.p}}'"), json!({"p": "/etc/x"})).await.unwrap_err();
    assert!(err.contains("absolute"), "{err}");
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink("/tmp", dir.join("out")).unwrap();
        let server3 = Server::scripted(vec![Reply::bytes(200, "image/png", png)]).await.unwrap();
        let err = run_in(&dir, &http(&server3.url("/"), "      save_to: out/x.png"), json!({})).await.unwrap_err();
        assert!(err.contains("outside the base directory"), "{err}");
    }
}

#[tokio::test]
async fn a_download_that_times_out_leaves_no_file() {
    let dir = scratch("timeout");
    let server = Server::scripted(vec![Reply::endless(200, "data ")]).await.unwrap();
    let yaml = http(&server.url("/"), "      save_to: big.txt\n      timeout: 300ms\n      max_response_size: 1GiB")
        .replace("max_attempts: 3", "max_attempts: 1");
    let err = run_in(&dir, &yaml, json!({})).await.unwrap_err();
    assert!(err.contains("timed out"), "{err}");
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0, "neither the file nor a temporary is left");
}
