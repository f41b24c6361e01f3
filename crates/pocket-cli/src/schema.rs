//! `pocket schema`: the JSON Schema of a workflow file, built from the registry's node types.

use pocket_nodes::Registry;
use serde_json::{Map, Value, json};

/// The schema: the file's top-level keys, nodes (their node-level keys, and per `type:` the
/// config schema the node type generates) and connections. Each node type's config schema is
/// an embedded resource with its own `$id`, so its internal `$ref`s resolve inside it.
pub(crate) fn workflow_schema(registry: &Registry) -> Value {
    let mut defs = Map::new();
    let mut by_type = Vec::new();
    for info in registry.types() {
        let Some(mut config) = registry.schema(info.kind) else { continue };
        if let Value::Object(map) = &mut config {
            map.insert("$id".into(), json!(format!("urn:pocket:node-config:{}", info.kind)));
        }
        let name = format!("config.{}", info.kind);
        defs.insert(name.clone(), config);
        by_type.push(json!({
            "if": { "properties": { "type": { "const": info.kind } }, "required": ["type"] },
            "then": { "properties": { "config": { "$ref": format!("#/$defs/{name}") } } }
        }));
    }
    let retry = schemars::schema_for!(pocket_yaml::RetrySpec);
    let duration = schemars::schema_for!(pocket_yaml::GoDuration);
    let mut retry = serde_json::to_value(retry).unwrap_or(Value::Null);
    if let Value::Object(map) = &mut retry {
        map.insert("$id".into(), json!("urn:pocket:retry"));
    }
    let mut duration = serde_json::to_value(duration).unwrap_or(Value::Null);
    if let Value::Object(map) = &mut duration {
        map.remove("$schema");
    }
    defs.insert("retry".into(), retry);
    defs.insert("duration".into(), duration);
    let types: Vec<&str> = registry.types().iter().map(|i| i.kind).collect();
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "urn:pocket:workflow",
        "title": "Pocket workflow file",
        "description": "A workflow: named nodes of registered types, connected by actions (the Go original's format).",
        "type": "object",
        "required": ["name", "start", "nodes"],
        "properties": {
            "name": { "type": "string", "description": "The workflow's name." },
            "description": { "type": "string" },
            "version": { "type": ["string", "number"] },
            "metadata": { "type": "object", "description": "In the store as `graph:metadata:<key>`." },
            "start": { "type": "string", "description": "The node the run starts at." },
            "limits": {
                "type": "object",
                "description": "Named limits shared by every node (`map`, `llm`, `http`) that names one in its `limit:`.",
                "additionalProperties": {
                    "type": "object",
                    "minProperties": 1,
                    "properties": {
                        "requests_per_second": { "type": ["number", "string"], "description": "Requests started per second." },
                        "requests_per_minute": { "type": ["number", "string"], "description": "Requests started per minute." },
                        "burst": { "type": ["integer", "string"], "description": "Requests at once after a quiet spell (default: one second's worth)." },
                        "tokens_per_minute": { "type": ["integer", "string"], "description": "LLM tokens per minute (estimated before a call, settled with its reported usage)." },
                        "max_concurrency": { "type": ["integer", "string"], "description": "Calls in flight at once." }
                    },
                    "not": { "required": ["requests_per_second", "requests_per_minute"] },
                    "additionalProperties": false
                }
            },
            "nodes": {
                "type": "array",
                "minItems": 1,
                "items": {
                    "type": "object",
                    "required": ["name", "type"],
                    "properties": {
                        "name": { "type": "string" },
                        "type": { "enum": types, "description": "The node type (`pocket nodes`)." },
                        "description": { "type": "string" },
                        "config": { "type": "object" },
                        "retry": { "$ref": "#/$defs/retry" },
                        "timeout": { "$ref": "#/$defs/duration", "description": "A limit on each attempt." },
                        "circuit_breaker": {
                            "type": "object",
                            "required": ["failure_threshold", "open_for"],
                            "properties": {
                                "failure_threshold": { "type": ["integer", "string"] },
                                "open_for": { "$ref": "#/$defs/duration" },
                                "half_open_trials": { "type": ["integer", "string"] }
                            },
                            "additionalProperties": false
                        },
                        "cache": {
                            "type": "object",
                            "properties": {
                                "max_entries": { "type": ["integer", "string"] },
                                "ttl": { "$ref": "#/$defs/duration" }
                            },
                            "additionalProperties": false
                        },
                        "fallback": { "type": "string", "description": "The node to run when this one fails." }
                    },
                    "allOf": by_type
                }
            },
            "connections": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["from", "to"],
                    "properties": {
                        "from": { "type": "string" },
                        "to": { "type": "string" },
                        "action": { "type": "string", "default": "default" }
                    }
                }
            }
        },
        "$defs": defs
    })
}
