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

    /// [`render`](Self::render) off the async workers (a template is CPU work of the file's
    /// choosing), so the step's timeout and cancellation hold while it renders.
    pub(crate) async fn render_off_thread(&self, data: &Value) -> Result<String, NodeError> {
        match self {
            Text::Plain(s) => Ok(s.clone()),
            Text::Templated(t) => {
                let (t, data) = (t.clone(), data.clone());
                super::cpu::run(move |stop| t.render_until(&data, Some(stop)).map_err(NodeError::fatal)).await?
            }
        }
    }
}

/// The start of `text` for an error message: at most 400 characters, marked when cut.
pub(crate) fn excerpt(text: &str) -> String {
    match text.char_indices().nth(400) {
        None => text.to_string(),
        Some((end, _)) => format!("{}… ({} bytes in all)", &text[..end], text.len()),
    }
}

/// The deepest expressions (JSONPath, jq) may nest brackets: their parsers recurse per level.
pub(crate) const MAX_NESTING: usize = 256;

/// How deep `(`, `[` and `{` nest in `expression`, outside quoted strings (`'…'`, `"…"`, with
/// backslash escapes).
pub(crate) fn max_nesting(expression: &str) -> usize {
    let (mut depth, mut deepest, mut quote, mut escaped) = (0usize, 0usize, None, false);
    for c in expression.chars() {
        match quote {
            Some(q) => {
                if escaped {
                    escaped = false;
                } else if c == '\\' {
                    escaped = true;
                } else if c == q {
                    quote = None;
                }
            }
            None => match c {
                '\'' | '"' => quote = Some(c),
                '(' | '[' | '{' => {
                    depth += 1;
                    deepest = deepest.max(depth);
                }
                ')' | ']' | '}' => depth = depth.saturating_sub(1),
                _ => {}
            },
        }
    }
    deepest
}

/// `text` safe to print on a terminal: control characters other than newline and tab (the
/// escape codes that clear a screen or set a window title among them) written as `\u{…}`.
/// For everything printed from outside data: server bodies, program output, file contents.
///
/// ```
/// assert_eq!(pocket_nodes::printable("a\u{1b}[2Jb\n"), "a\\u{1b}[2Jb\n");
/// ```
pub fn printable(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        return std::borrow::Cow::Borrowed(text);
    }
    std::borrow::Cow::Owned(
        text.chars()
            .map(
                |c| {
                    if c.is_control() && c != '\n' && c != '\t' {
                        c.escape_unicode().to_string()
                    } else {
                        c.to_string()
                    }
                },
            )
            .collect(),
    )
}
