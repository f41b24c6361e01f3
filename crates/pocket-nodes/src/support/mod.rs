//! Helpers shared by node types: text templates, Go templates, lenient config parsing, Go
//! durations and timestamps, the file sandbox, the HTTP client and its error classification, JSON templates.

pub(crate) mod cpu;
pub(crate) mod de;
pub(crate) mod gofmt;
#[cfg(feature = "http")]
pub(crate) mod http;
pub(crate) mod items;
pub(crate) mod jq;
pub(crate) mod jq_alternatives;
pub(crate) mod jq_modules;
pub(crate) mod process;
pub(crate) mod sandbox;
pub(crate) mod template;
pub(crate) mod text;
pub(crate) mod time;
