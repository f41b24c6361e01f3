//! Tracing: a span per node execution with the node's name and chosen action; retries and
//! fallbacks emit events.

use std::fmt::Debug;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pocket::layer::retry::RetryPolicy;
use pocket::{Graph, Next, NodeError, NodeExt, Store, exec_fn, exec_post_fn};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

type KeyValues = Vec<(String, String)>;

#[derive(Default)]
struct Seen {
    spans: Mutex<Vec<(u64, KeyValues)>>,
    events: Mutex<Vec<String>>,
    next: AtomicU64,
}

#[derive(Clone, Default)]
struct Capture(Arc<Seen>);

struct Fields(Vec<(String, String)>);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
        self.0.push((field.name().to_string(), format!("{value:?}")));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.push((field.name().to_string(), value.to_string()));
    }
}

impl Subscriber for Capture {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, attrs: &Attributes<'_>) -> Id {
        let id = self.0.next.fetch_add(1, Ordering::SeqCst) + 1;
        let mut fields = Fields(vec![("span".into(), attrs.metadata().name().into())]);
        attrs.record(&mut fields);
        self.0.spans.lock().unwrap().push((id, fields.0));
        Id::from_u64(id)
    }
    fn record(&self, span: &Id, values: &Record<'_>) {
        let mut fields = Fields(Vec::new());
        values.record(&mut fields);
        let mut spans = self.0.spans.lock().unwrap();
        if let Some((_, f)) = spans.iter_mut().find(|(id, _)| *id == span.into_u64()) {
            f.extend(fields.0);
        }
    }
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut fields = Fields(Vec::new());
        event.record(&mut fields);
        let text = fields.0.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(" ");
        self.0.events.lock().unwrap().push(text);
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

#[test]
fn spans_name_the_node_and_the_chosen_action_and_retries_are_events() {
    let capture = Capture::default();
    let seen = capture.0.clone();
    tracing::subscriber::with_default(capture, || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap();
        rt.block_on(async {
            let calls = Arc::new(AtomicU64::new(0));
            let c = calls.clone();
            let flaky = exec_fn(move |x: i64| {
                let n = c.fetch_add(1, Ordering::SeqCst);
                async move { if n == 0 { Err(NodeError::msg("busy")) } else { Ok(x) } }
            })
            .retry(RetryPolicy::constant(2, Duration::from_millis(1)))
            .fallback(|x: i64, _: &NodeError| async move { Ok(x) });
            let decide =
                exec_post_fn(|x: i64| async move { Ok(x) }, |_, _, x: i64| async move { Ok((x, Next::to("finish"))) });
            let broken = exec_fn(|_: i64| async move { Err::<i64, _>(NodeError::fatal_msg("down")) })
                .fallback(|x: i64, _: &NodeError| async move { Ok(x) });
            let g = Graph::<i64, i64>::builder()
                .node("flaky", flaky)
                .node("broken", broken)
                .node("decide", decide)
                .edge("flaky", "default", "broken")
                .edge("broken", "default", "decide")
                .build()
                .unwrap();
            g.run(&Store::new(), 1).await.unwrap();
        });
    });
    let spans = seen.spans.lock().unwrap();
    let nodes: Vec<(String, String)> = spans
        .iter()
        .filter(|(_, f)| f.contains(&("span".into(), "node".into())))
        .map(|(_, f)| {
            let get = |k: &str| f.iter().rev().find(|(n, _)| n == k).map(|(_, v)| v.clone()).unwrap_or_default();
            (get("name"), get("action"))
        })
        .collect();
    assert_eq!(
        nodes,
        [
            ("flaky".to_string(), "default".to_string()),
            ("broken".to_string(), "default".to_string()),
            ("decide".to_string(), "finish".to_string())
        ]
    );
    let events = seen.events.lock().unwrap();
    assert!(events.iter().any(|e| e.contains("message=retrying") && e.contains("node=flaky")), "{events:?}");
    assert!(events.iter().any(|e| e.contains("running the fallback") && e.contains("node=broken")), "{events:?}");
}
