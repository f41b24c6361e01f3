//! A node type written outside Pocket, registered and used by a workflow file.
//!
//! `cargo run -p pocket-nodes --example custom_node`

use pocket::{Ctx, Next, Node, NodeError, Store, StoreView};
use pocket_nodes::{BuildCx, BuildOptions, Built, Category, ConfigError, NodeKind, Registry, build_graph};
use serde_json::{Value, json};

/// `word_count`: counts the words of a field of the input.
#[derive(serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct WordCountConfig {
    /// The input field holding the text (default `text`).
    #[serde(default = "default_field")]
    field: String,
}

fn default_field() -> String {
    "text".into()
}

struct WordCount {
    field: String,
}

impl Node for WordCount {
    type Input = Value;
    type Prep = Value;
    type Exec = Value;
    type Output = Value;

    async fn prep(&self, _: &Ctx<'_>, _: &StoreView, input: &Value) -> Result<Value, NodeError> {
        input
            .get(&self.field)
            .cloned()
            .ok_or_else(|| NodeError::fatal_msg(format!("the input has no `{}` field", self.field)))
    }

    async fn exec(&self, _: &Ctx<'_>, text: &Value) -> Result<Value, NodeError> {
        let words = text.as_str().map_or(0, |t| t.split_whitespace().count());
        Ok(json!({ "words": words }))
    }

    async fn post(
        &self,
        _: &Ctx<'_>,
        store: &Store,
        _: Value,
        _: Value,
        out: Value,
    ) -> Result<(Value, Next), NodeError> {
        store.set_value("last_count", out["words"].clone());
        Ok((out, Next::Default))
    }
}

struct WordCountKind;

impl NodeKind for WordCountKind {
    const TYPE: &'static str = "word_count";
    const CATEGORY: Category = Category::Other;
    const DESCRIPTION: &'static str = "Counts the words of a text field of the input.";
    type Config = WordCountConfig;

    fn example() -> Value {
        json!({ "field": "body" })
    }

    fn build(config: WordCountConfig, _: &BuildCx<'_>) -> Result<Built, ConfigError> {
        if config.field.is_empty() {
            return Err(ConfigError::field("field", "must not be empty"));
        }
        Ok(Built::new(WordCount { field: config.field }))
    }
}

const WORKFLOW: &str = r#"
name: count-words
start: count
nodes:
  - name: count
    type: word_count
    config: { field: body }
    retry: { max_attempts: 2, delay: 10ms }
  - name: report
    type: echo
    config: { message: "{{.words}} words" }
connections:
  - { from: count, to: report }
"#;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut registry = Registry::builtin();
    registry.register::<WordCountKind>();
    let workflow = pocket_yaml::parse_workflow(WORKFLOW, "count-words.yaml")?;
    let graph = build_graph(&workflow, &registry, BuildOptions::new(".".as_ref()))?;
    let out = graph.run(&Store::new(), json!({ "body": "one two three four" })).await?;
    println!("{}", out["message"]);
    assert_eq!(out["message"], "4 words");
    Ok(())
}
