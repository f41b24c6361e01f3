//! `${VAR}` and `${VAR:-default}` expansion in workflow files: inside the string values of the
//! parsed file only, so a variable's value stays one value — it can never add keys, nodes or
//! list items, and references in comments or keys are never looked at.

use serde_json::Value;

use crate::located::Located;
use crate::workflow::Position;

/// A `${...}` reference that cannot be expanded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ExpandError {
    /// `${VAR}` names a variable that is not set and has no default.
    #[error("line {line}: environment variable `{name}` is not set (give a default with `${{{name}:-value}}`)")]
    Unset {
        /// The variable.
        name: String,
        /// The line of the reference (1-based).
        line: usize,
    },
    /// `${` without a closing `}`, or an empty or malformed name.
    #[error("line {line}: malformed variable reference `{text}`")]
    Malformed {
        /// The reference as written.
        text: String,
        /// Its line (1-based).
        line: usize,
    },
}

/// Replace every `${NAME}` and `${NAME:-default}` in `source` with `lookup(NAME)` (or the
/// default when the variable is unset or empty). `$$` stands for a literal `$`; a `$` not
/// followed by `{` is kept as is (so `$5` and Go templates are untouched).
///
/// # Errors
///
/// [`ExpandError`] naming the line of the first reference that cannot be expanded.
///
/// # Examples
///
/// ```
/// use pocket_yaml::expand_env;
///
/// let lookup = |name: &str| (name == "MODEL").then(|| "gpt-4o".to_string());
/// let out = expand_env("model: ${MODEL}\nurl: ${BASE_URL:-http://localhost:8080}", lookup).unwrap();
/// assert_eq!(out, "model: gpt-4o\nurl: http://localhost:8080");
/// assert!(expand_env("key: ${API_KEY}", lookup).is_err());
/// ```
pub fn expand_env(source: &str, lookup: impl Fn(&str) -> Option<String>) -> Result<String, ExpandError> {
    let mut out = String::with_capacity(source.len());
    let mut rest = source;
    let line_of = |rest: &str| source[..source.len() - rest.len()].matches('\n').count() + 1;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let here = &rest[at..];
        let after = &rest[at + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
            continue;
        }
        let Some(body) = after.strip_prefix('{') else {
            out.push('$');
            rest = after;
            continue;
        };
        let Some(end) = body.find('}') else {
            let text: String = here.chars().take(20).collect();
            return Err(ExpandError::Malformed { text, line: line_of(here) });
        };
        let inner = &body[..end];
        let (name, default) = match inner.split_once(":-") {
            Some((name, default)) => (name, Some(default)),
            None => (inner, None),
        };
        let valid = !name.is_empty()
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !name.starts_with(|c: char| c.is_ascii_digit());
        if !valid {
            return Err(ExpandError::Malformed { text: format!("${{{inner}}}"), line: line_of(here) });
        }
        match (lookup(name).filter(|v| !v.is_empty()), default) {
            (Some(value), _) => out.push_str(&value),
            (None, Some(default)) => out.push_str(default),
            (None, None) => return Err(ExpandError::Unset { name: name.to_string(), line: line_of(here) }),
        }
        rest = &body[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Where a variable is looked up.
pub(crate) type Lookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// A reference that could not be expanded: the message (without a line) and where it is.
pub(crate) type Unexpanded = (String, Position);

fn expand_string(text: &mut String, at: Position, env: Lookup<'_>, problems: &mut Vec<Unexpanded>) {
    if !text.contains('$') {
        return;
    }
    match expand_env(text, env) {
        Ok(expanded) => *text = expanded,
        Err(e) => {
            let (line, message) = match e {
                ExpandError::Unset { name, line } => (
                    line,
                    format!("environment variable `{name}` is not set (give a default with `${{{name}:-value}}`)"),
                ),
                ExpandError::Malformed { text, line } => (line, format!("malformed variable reference `{text}`")),
            };
            // A reference on a later line of a multi-line string is that many lines further.
            let at = if line > 1 { Position { line: at.line + line as u64 - 1, column: 1 } } else { at };
            problems.push((message, at));
        }
    }
}

/// Expand the strings inside `value` (found at `at`), not its keys.
pub(crate) fn expand_value(value: &mut Value, at: Position, env: Lookup<'_>, problems: &mut Vec<Unexpanded>) {
    match value {
        Value::String(text) => expand_string(text, at, env, problems),
        Value::Array(items) => items.iter_mut().for_each(|item| expand_value(item, at, env, problems)),
        Value::Object(map) => map.values_mut().for_each(|item| expand_value(item, at, env, problems)),
        _ => {}
    }
}

/// Expand the strings inside `value` (found at `at`), each part at its own position.
pub(crate) fn expand_located(value: &mut Located, at: Position, env: Lookup<'_>, problems: &mut Vec<Unexpanded>) {
    match value {
        Located::Scalar(scalar) => expand_value(scalar, at, env, problems),
        Located::Seq(items) => {
            for item in items {
                let at = crate::workflow::at(item);
                expand_located(&mut item.value, at, env, problems);
            }
        }
        Located::Map(entries) => {
            for (_, item) in entries {
                let at = crate::workflow::at(item);
                expand_located(&mut item.value, at, env, problems);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "HOST" => Some("example.org".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn expands_defaults_and_leaves_templates_alone() {
        let src = "url: https://${HOST}/api\nport: ${PORT:-8080}\nempty: ${EMPTY:-fallback}\nprice: $5 $$HOME {{.x}}";
        assert_eq!(
            expand_env(src, env).unwrap(),
            "url: https://example.org/api\nport: 8080\nempty: fallback\nprice: $5 $HOME {{.x}}"
        );
    }

    #[test]
    fn errors_name_the_line() {
        assert_eq!(
            expand_env("a: 1\nb: ${MISSING}\n", env).unwrap_err(),
            ExpandError::Unset { name: "MISSING".into(), line: 2 }
        );
        assert!(matches!(expand_env("x: ${1BAD}", env), Err(ExpandError::Malformed { line: 1, .. })));
        assert!(matches!(expand_env("\n\nx: ${OPEN", env), Err(ExpandError::Malformed { line: 3, .. })));
        assert_eq!(
            expand_env("k: ${TOKEN}", env).unwrap_err().to_string(),
            "line 1: environment variable `TOKEN` is not set (give a default with `${TOKEN:-value}`)"
        );
    }
}
