//! The `echo` node type: a message (plain or a Go template) with the input.

use pocket::NodeError;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Behaviour, StepFuture, ready};
use crate::kind::{BuildCx, Built, Category, ConfigError, NodeKind};
use crate::support::text::Text;

/// `echo` config.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct EchoConfig {
    /// The message (a Go template when it contains `{{`, rendered with the input).
    #[serde(default = "default_message")]
    message: String,
}

fn default_message() -> String {
    "Hello from echo node".into()
}

/// At most this many echo outputs nest inside each other (a longer chain is a cycle).
const MAX_ECHOES: usize = 127;

/// Whether `value` is an echo output (`{message, input, node}`).
fn is_echo(value: &Value) -> bool {
    value.as_object().is_some_and(|o| {
        o.len() == 3
            && o.get("message").is_some_and(Value::is_string)
            && o.contains_key("input")
            && o.get("node").is_some_and(Value::is_string)
    })
}

pub(crate) struct Echo {
    name: String,
    message: Text,
}

impl NodeKind for Echo {
    const TYPE: &'static str = "echo";
    const CATEGORY: Category = Category::Core;
    const DESCRIPTION: &'static str = "Outputs {message, input, node}: a message next to the input it received.";
    type Config = EchoConfig;

    fn example() -> Value {
        json!({"message": "Hello {{.name}}!"})
    }

    fn build(config: EchoConfig, cx: &BuildCx<'_>) -> Result<Built, ConfigError> {
        let spec = cx.spec();
        let message = Text::new(spec.name, "message", &config.message)?;
        Ok(super::built(Echo { name: spec.name.to_string(), message }))
    }
}

impl Behaviour for Echo {
    fn exec<'a>(&'a self, input: &'a Value) -> StepFuture<'a> {
        // The output holds the input one level deeper: a cycle of echo nodes nests without
        // end, copying ever more per step. Stop it after `MAX_ECHOES` echoes inside each other
        // (checked along the chain, cheaply), and anything at the depth limit.
        let echoes = std::iter::successors(Some(input), |v| v.get("input")).take_while(|v| is_echo(v)).count();
        if echoes >= MAX_ECHOES {
            return ready(Err(NodeError::fatal_msg(format!(
                "echo: the input already holds {echoes} echo outputs inside each other (a cycle of echo nodes?)"
            ))));
        }
        let max = pocket_yaml::max_depth();
        if pocket_yaml::nests_deeper_than(input, max - 1) {
            return ready(Err(NodeError::fatal_msg(format!(
                "echo: the input already nests {} levels deep; the output would nest deeper than {max} levels",
                max - 1
            ))));
        }
        Box::pin(async move {
            let message = self.message.render_off_thread(input).await?;
            tracing::info!(node = %self.name, %message, "echo");
            Ok(json!({"message": message, "input": input, "node": self.name}))
        })
    }
}
