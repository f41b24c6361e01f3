//! Writing results to stdout: text, JSON or YAML, and a closed pipe is not a crash.

use std::io::Write;
use std::process::ExitCode;

use serde_json::Value;

use crate::Format;

/// Write `text` to stdout. A reader that went away (`pocket ... | head`) is not an error.
pub(crate) fn print(text: &str) -> ExitCode {
    let mut out = std::io::stdout().lock();
    finish(out.write_all(text.as_bytes()).and_then(|()| out.flush()))
}

fn finish(written: std::io::Result<()>) -> ExitCode {
    match written {
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

/// Print `value` in `format`: text prints a string as it is and anything else as YAML; JSON is
/// exactly one document. Written as it is made (a deep value's indentation can take far more
/// than the value: nothing holds the whole text).
pub(crate) fn print_value(value: &Value, format: Format) -> ExitCode {
    let mut out = Tail { inner: std::io::BufWriter::new(std::io::stdout().lock()), last: None };
    let written = match (format, value) {
        (Format::Json, v) => serde_json::to_writer_pretty(&mut out, v).map_err(std::io::Error::from),
        (Format::Text, Value::String(s)) => out.write_all(s.as_bytes()),
        (Format::Text, Value::Null) => {
            return finish(Ok(()));
        }
        (_, v) => serde_saphyr::to_io_writer(&mut out, v).map_err(|e| match e {
            serde_saphyr::SerializeError::IO { error } => error,
            other => std::io::Error::other(other.to_string()),
        }),
    };
    let newline = |out: &mut Tail<_>| if out.last == Some(b'\n') { Ok(()) } else { out.write_all(b"\n") };
    finish(written.and_then(|()| newline(&mut out)).and_then(|()| out.flush()))
}

/// A writer that remembers the last byte through it (so the output can end with a newline).
struct Tail<W> {
    inner: W,
    last: Option<u8>,
}

impl<W: Write> Write for Tail<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        if n > 0 {
            self.last = Some(buf[n - 1]);
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}
