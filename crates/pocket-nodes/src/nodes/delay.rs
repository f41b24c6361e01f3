//! The `delay` node type: waits, then hands the input on.

use std::time::Duration;

use pocket_yaml::GoDuration;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Behaviour, StepFuture};
use crate::kind::{BuildCx, Built, Category, ConfigError, NodeKind};

/// `delay` config.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct DelayConfig {
    /// How long to wait: a Go duration (`500ms`, `1.5s`, `1m30s`).
    #[serde(default = "one_second")]
    duration: GoDuration,
}

fn one_second() -> GoDuration {
    GoDuration(Duration::from_secs(1))
}

pub(crate) struct Delay {
    duration: Duration,
}

impl NodeKind for Delay {
    const TYPE: &'static str = "delay";
    const CATEGORY: Category = Category::Core;
    const DESCRIPTION: &'static str = "Waits for a duration, then hands its input on unchanged (cancellable).";
    type Config = DelayConfig;

    fn example() -> Value {
        json!({"duration": "1.5s"})
    }

    fn build(config: DelayConfig, _: &BuildCx<'_>) -> Result<Built, ConfigError> {
        Ok(super::built(Delay { duration: config.duration.into() }))
    }
}

impl Behaviour for Delay {
    fn exec<'a>(&'a self, input: &'a Value) -> StepFuture<'a> {
        Box::pin(async move {
            // Cancellation drops this future: the run does not wait for the sleep.
            tokio::time::sleep(self.duration).await;
            Ok(input.clone())
        })
    }
}
