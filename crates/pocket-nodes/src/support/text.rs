//! [`Text`]: a config string that is either plain or a Go template, rendered against the input.

use pocket::NodeError;
use serde_json::Value;

use crate::kind::ConfigError;
use crate::support::template::{Template, is_templated};

/// A text that is a template when it contains `{{`, and used as it is otherwise.
#[derive(Debug, Clone)]
pub(crate) enum Text {
    Plain(String),
    Templated(Template),
}

impl Text {
    pub(crate) fn new(node: &str, field: &str, source: &str) -> Result<Self, ConfigError> {
        if is_templated(source) {
            Template::parse(&format!("{node}.{field}"), source)
                .map(Text::Templated)
                .map_err(|e| ConfigError::field(field, e))
        } else {
            Ok(Text::Plain(source.to_string()))
        }
    }

    pub(crate) fn render(&self, data: &Value) -> Result<String, NodeError> {
        match self {
            Text::Plain(s) => Ok(s.clone()),
            Text::Templated(t) => t.render(data).map_err(NodeError::fatal),
        }
    }
}
