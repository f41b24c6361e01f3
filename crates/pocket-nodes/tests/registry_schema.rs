//! The registry's schemas and examples agree with the configs the builders accept.

use pocket_nodes::{NodeSpec, Registry};
use serde_json::{Value, json};

fn check(registry: &Registry, kind: &str, config: &Value) -> Result<(), String> {
    let map = config.as_object().expect("a config is a mapping").clone();
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
    // The run allows the example's program (a workflow cannot allow itself one).
    let allow = ["echo".to_string()];
    let spec = NodeSpec { name: "n", config: &map, base_dir: dir.as_ref(), allow_exec: &allow };
    registry.check_config(kind, &spec).expect("a known type").map_err(|e| e.to_string())
}

#[test]
fn every_example_is_valid_for_its_schema_and_its_builder() {
    let registry = Registry::builtin();
    assert_eq!(registry.types().len(), 18);
    for info in registry.types() {
        let schema = registry.schema(info.kind).unwrap();
        let example = registry.example(info.kind).unwrap();
        let validator = jsonschema::validator_for(&schema).unwrap_or_else(|e| panic!("{}: {e}", info.kind));
        let errors: Vec<String> = validator.iter_errors(&example).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{}: example does not match the schema: {errors:?}", info.kind);
        check(&registry, info.kind, &example).unwrap_or_else(|e| panic!("{}: example does not build: {e}", info.kind));
        // Both the schema and the builder refuse a key that does not exist.
        let mut typo = example.clone();
        typo["no_such_key"] = json!(1);
        assert!(!validator.is_valid(&typo), "{}: the schema accepts an unknown key", info.kind);
        let err = check(&registry, info.kind, &typo).unwrap_err();
        assert!(err.contains("unknown field `no_such_key`"), "{}: {err}", info.kind);
        assert_eq!(schema["title"], format!("{} node config", info.kind));
    }
}

#[test]
fn documented_spellings_are_in_the_schema_and_accepted() {
    let registry = Registry::builtin();
    for (kind, config) in [
        ("router", json!({"default_route": "a"})),
        ("transform", json!({"expression": ".x"})),
        ("template", json!({"template_file": "greeting.tmpl", "output": "string"})),
        ("validate", json!({"schema": {}, "on_error": "pass"})),
        ("aggregate", json!({"count": 2, "timeout": "30s", "partial": true})),
    ] {
        let schema = registry.schema(kind).unwrap();
        assert!(jsonschema::is_valid(&schema, &config), "{kind}: {config} is not in the schema");
        check(&registry, kind, &config).unwrap_or_else(|e| panic!("{kind}: {e}"));
    }
    // Two spellings of one setting must agree.
    let err = check(&registry, "router", &json!({"default": "a", "default_route": "b"})).unwrap_err();
    assert!(err.contains("disagree"), "{err}");
}
