//! Writing results to stdout: text, JSON or YAML, and a closed pipe is not a crash.

use std::io::Write;
use std::process::ExitCode;

use serde_json::Value;

use crate::Format;

/// Write `text` to stdout. A reader that went away (`pocket ... | head`) is not an error.
pub(crate) fn print(text: &str) -> ExitCode {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            say!("error: cannot write the output: {e}");
            ExitCode::from(crate::FAILED)
        }
    }
}

/// `value` as YAML text (ends with a newline).
pub(crate) fn yaml(value: &Value) -> String {
    match serde_saphyr::to_string(value) {
        Ok(mut text) => {
            if !text.ends_with('\n') {
                text.push('\n');
            }
            text
        }
        // Every JSON value has a YAML form; keep the JSON if the writer disagrees.
        Err(_) => format!("{value}\n"),
    }
}

/// `value` rendered in `format`: text prints a string as it is and anything else as YAML;
/// JSON is exactly one document.
pub(crate) fn render(value: &Value, format: Format) -> String {
    match (format, value) {
        (Format::Json, v) => format!("{}\n", serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string())),
        (Format::Text, Value::String(s)) => {
            if s.ends_with('\n') {
                s.clone()
            } else {
                format!("{s}\n")
            }
        }
        (Format::Text, Value::Null) => String::new(),
        (_, v) => yaml(v),
    }
}

/// Print `value` in `format`.
pub(crate) fn print_value(value: &Value, format: Format) -> ExitCode {
    print(&render(value, format))
}
