//! The `template` node type: renders a Go template (inline or from a file) with the input.

use pocket::NodeError;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Behaviour, StepFuture};
use crate::kind::{BuildCx, Built, Category, ConfigError, NodeKind};
use crate::support::template::Template;

/// What the `template` node makes of the rendered text.
#[derive(Debug, Clone, Copy, Default, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub(crate) enum OutputFormat {
    /// The text.
    #[default]
    String,
    /// The text parsed as JSON.
    Json,
    /// `{yaml: <the text>, format: "yaml"}`, as the original outputs it (the text is not
    /// parsed).
    Yaml,
}

/// `template` config: exactly one of `template` and `file`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct TemplateConfig {
    /// The Go template, rendered with the input.
    #[serde(default)]
    template: Option<String>,
    /// A file holding the template, relative to the workflow file.
    #[serde(default)]
    file: Option<String>,
    /// The same as `file`, in the original's documentation's spelling.
    #[serde(default)]
    template_file: Option<String>,
    /// `string` (default), `json` or `yaml`.
    #[serde(default)]
    output_format: Option<OutputFormat>,
    /// The same as `output_format`, in the original's documentation's spelling.
    #[serde(default)]
    output: Option<OutputFormat>,
}

pub(crate) struct TemplateNode {
    template: Template,
    format: OutputFormat,
}

impl NodeKind for TemplateNode {
    const TYPE: &'static str = "template";
    const CATEGORY: Category = Category::Data;
    const DESCRIPTION: &'static str =
        "Renders a Go template with its input; the text, or the text parsed as JSON or YAML, is the output.";
    type Config = TemplateConfig;

    fn example() -> Value {
        json!({"template": "{\"greeting\": \"Hello {{.name}}\"}", "output_format": "json"})
    }

    fn build(config: TemplateConfig, cx: &BuildCx<'_>) -> Result<Built, ConfigError> {
        let spec = cx.spec();
        let file = match (config.file, config.template_file) {
            (Some(_), Some(_)) => return Err(ConfigError::whole("give `file` or `template_file`, not both")),
            (file, other) => file.or(other),
        };
        let format = match (config.output_format, config.output) {
            (Some(a), Some(b)) if a != b => {
                return Err(ConfigError::whole("`output_format` and `output` disagree; give one"));
            }
            (a, b) => a.or(b).unwrap_or_default(),
        };
        let (field, source) = spec.inline_or_file(("template", config.template), ("file", file))?;
        let template =
            Template::parse(&format!("{}.{field}", spec.name), &source).map_err(|e| ConfigError::field(field, e))?;
        Ok(super::built(TemplateNode { template, format }))
    }
}

impl Behaviour for TemplateNode {
    fn exec<'a>(&'a self, input: &'a Value) -> StepFuture<'a> {
        // Rendering is CPU work of the file's choosing (`range`): off the async workers, so
        // timeouts and cancellation hold.
        let (template, format, input) = (self.template.clone(), self.format, input.clone());
        Box::pin(async move {
            crate::support::cpu::run(move |stop| {
                let text = template.render_until(&input, Some(stop)).map_err(NodeError::fatal)?;
                match format {
                    OutputFormat::String => Ok(Value::String(text)),
                    OutputFormat::Json => pocket_yaml::json_exact(&text).map_err(|e| {
                        NodeError::fatal_msg(format!(
                            "the rendered template is not JSON ({e}); it began:\n{}",
                            crate::support::text::excerpt(&text)
                        ))
                    }),
                    OutputFormat::Yaml => Ok(json!({"yaml": text, "format": "yaml"})),
                }
            })
            .await?
        })
    }
}
