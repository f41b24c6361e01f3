//! transform (jq), template, jsonpath, validate and aggregate: outputs and refusals.

mod common;

use common::{error_text, problems, run, run_single, single};
use serde_json::json;

#[tokio::test]
async fn transform_applies_jq_and_passes_through_without_it() {
    let out = run_single(
        "transform",
        "      jq: '{total: (.items | map(.price) | add), n: (.items | length)}'",
        json!({"items": [{"price": 2}, {"price": 3.5}]}),
    )
    .await
    .unwrap();
    assert_eq!(out, json!({"total": 5.5, "n": 2}));
    // Integers stay integers; several results become a list; none is null.
    assert_eq!(run_single("transform", "      jq: '.a + 1'", json!({"a": 41})).await.unwrap(), json!(42));
    assert_eq!(
        run_single("transform", "      jq: '.[] | .id'", json!([{"id": 1}, {"id": 2}])).await.unwrap(),
        json!([1, 2])
    );
    assert_eq!(run_single("transform", "      jq: 'empty'", json!(1)).await.unwrap(), json!(null));
    // `expression` is the docs' alias; no expression passes the input through.
    assert_eq!(run_single("transform", "      expression: '.x'", json!({"x": "y"})).await.unwrap(), json!("y"));
    assert_eq!(run_single("transform", "      {}", json!({"keep": true})).await.unwrap(), json!({"keep": true}));
}

#[tokio::test]
async fn transform_reports_bad_expressions_at_build_and_failures_at_run() {
    let found = problems(&single("transform", "      jq: '.a | ]['"));
    assert!(found[0].contains("`config.jq`: jq expression does not parse"), "{found:?}");
    let found = problems(&single("transform", "      jq: 'nosuchfn(1)'"));
    assert!(found[0].contains("`config.jq`: jq expression does not compile: undefined"), "{found:?}");
    let err = run_single("transform", "      jq: '.a + 1'", json!({"a": "text"})).await.unwrap_err();
    assert!(error_text(&err).contains("node `n` failed in exec: jq:"), "{}", error_text(&err));
}

#[tokio::test]
async fn template_renders_go_templates_as_text_json_or_yaml() {
    let out = run_single(
        "template",
        "      template: 'Hi {{.name}}{{range .tags}} #{{.}}{{end}}'",
        json!({"name": "ada", "tags": ["a", "b"]}),
    )
    .await
    .unwrap();
    assert_eq!(out, json!("Hi ada #a #b"));
    let out =
        run_single("template", "      template: '{\"n\": {{len .}}}'\n      output_format: json", json!([1, 2, 3]))
            .await
            .unwrap();
    assert_eq!(out, json!({"n": 3}));
    let out = run_single(
        "template",
        "      template: \"a: {{.a}}\\nb: [1, 2]\"\n      output_format: yaml",
        json!({"a": "x"}),
    )
    .await
    .unwrap();
    // As the original: the text, not parsed.
    assert_eq!(out, json!({"yaml": "a: x\nb: [1, 2]", "format": "yaml"}));
    // A template file, relative to the workflow's directory; `template_file` is the docs' alias.
    let out = run_single("template", "      template_file: greeting.tmpl", json!({"name": "bob"})).await.unwrap();
    assert_eq!(out, json!("Hello bob from a file\n"));
}

#[tokio::test]
async fn template_refusals_name_the_field() {
    let found = problems(&single("template", "      template: '{{if .x}}open'"));
    assert!(found[0].contains("`config.template`: ") && found[0].contains("n.template"), "{found:?}");
    let found = problems(&single("template", "      {}"));
    assert!(found[0].contains("either `template` or `file` is required"), "{found:?}");
    let found = problems(&single("template", "      file: missing.tmpl"));
    assert!(found[0].contains("`config.file`: cannot read") && found[0].contains("missing.tmpl"), "{found:?}");
    let found = problems(&single("template", "      template: x\n      output_format: xml"));
    assert!(found[0].contains("unknown variant `xml`, expected one of `string`, `json`, `yaml`"), "{found:?}");
    let err =
        run_single("template", "      template: 'not json'\n      output_format: json", json!(null)).await.unwrap_err();
    assert!(error_text(&err).contains("the rendered template is not JSON"), "{}", error_text(&err));
}

const DOC: &str =
    r#"{"store": {"book": [{"title": "A", "price": 8}, {"title": "B", "price": 12}], "tags": [["solo"]]}}"#;

#[tokio::test]
async fn jsonpath_extracts_first_all_default_and_unwraps() {
    let doc: serde_json::Value = serde_json::from_str(DOC).unwrap();
    let first = run_single("jsonpath", "      path: '$.store.book[*].price'", doc.clone()).await.unwrap();
    assert_eq!(first, json!(8));
    let all =
        run_single("jsonpath", "      path: '$.store.book[*].title'\n      multiple: true", doc.clone()).await.unwrap();
    assert_eq!(all, json!(["A", "B"]));
    let cheap =
        run_single("jsonpath", "      path: '$.store.book[?@.price < 10].title'\n      multiple: true", doc.clone())
            .await
            .unwrap();
    assert_eq!(cheap, json!(["A"]));
    assert_eq!(run_single("jsonpath", "      path: '$.nope'", doc.clone()).await.unwrap(), json!(null));
    assert_eq!(
        run_single("jsonpath", "      path: '$.nope'\n      multiple: true", doc.clone()).await.unwrap(),
        json!([])
    );
    assert_eq!(
        run_single("jsonpath", "      path: '$.nope'\n      default: none", doc.clone()).await.unwrap(),
        json!("none")
    );
    assert_eq!(run_single("jsonpath", "      path: '$.store.tags[0]'", doc.clone()).await.unwrap(), json!("solo"));
    let kept = run_single("jsonpath", "      path: '$.store.tags[0]'\n      unwrap: false", doc).await.unwrap();
    assert_eq!(kept, json!(["solo"]));
}

#[test]
fn jsonpath_refuses_a_bad_path() {
    let found = problems(&single("jsonpath", "      path: '$.a[?'"));
    assert!(found[0].contains("`config.path`: invalid JSONPath `$.a[?`"), "{found:?}");
    let found = problems(&single("jsonpath", "      multiple: true"));
    assert!(found[0].contains("missing field `path`"), "{found:?}");
}

const SCHEMA: &str = r#"      schema:
        type: object
        required: [id, email]
        properties:
          id: { type: integer }
          email: { type: string, format: email }
          age: { type: integer, maximum: 120 }"#;

#[tokio::test]
async fn validate_lists_errors_or_fails() {
    let good = json!({"id": 1, "email": "a@b.co"});
    let out = run_single("validate", SCHEMA, good.clone()).await.unwrap();
    assert_eq!(out, json!({"valid": true, "errors": [], "data": good}));

    let bad = json!({"email": "nope", "age": 150});
    let config = format!("{SCHEMA}\n      fail_on_error: false");
    let out = run_single("validate", &config, bad.clone()).await.unwrap();
    assert_eq!(out["valid"], false);
    assert_eq!(out["data"], bad);
    let errors = out["errors"].as_array().unwrap();
    let kinds: Vec<(&str, &str)> =
        errors.iter().map(|e| (e["field"].as_str().unwrap(), e["type"].as_str().unwrap())).collect();
    assert!(kinds.contains(&("(root)", "required")), "{kinds:?}");
    assert!(kinds.contains(&("email", "format")), "{kinds:?}");
    assert!(kinds.contains(&("age", "maximum")), "{kinds:?}");

    // The docs' `on_error: pass` is the same choice.
    let config = format!("{SCHEMA}\n      on_error: pass");
    assert_eq!(run_single("validate", &config, bad.clone()).await.unwrap()["valid"], false);

    let err = run_single("validate", SCHEMA, bad).await.unwrap_err();
    let text = error_text(&err);
    assert!(
        text.contains("validation failed: 3 error(s)") && text.contains("(root): \"id\" is a required property"),
        "{text}"
    );
}

#[tokio::test]
async fn validate_reads_a_schema_file_and_refuses_unusable_schemas() {
    let out =
        run_single("validate", "      schema_file: id-schema.yaml\n      fail_on_error: false", json!({"id": "x"}))
            .await
            .unwrap();
    assert_eq!(out["errors"][0]["field"], "id");
    let found = problems(&single("validate", "      schema: { type: 12 }"));
    assert!(found[0].contains("`config.schema`: not a usable JSON Schema"), "{found:?}");
    let found = problems(&single("validate", "      fail_on_error: false"));
    assert!(found[0].contains("either `schema` or `schema_file` is required"), "{found:?}");
    let found = problems(&single("validate", "      schema: {}\n      fail_on_error: true\n      on_error: pass"));
    assert!(found[0].contains("disagree"), "{found:?}");
}

#[tokio::test]
async fn aggregate_modes() {
    let items = json!([{"type": "user", "id": 1, "tags": ["a"]}, {"type": "product", "id": 2, "tags": ["b"]}]);
    let out = run_single("aggregate", "      {}", items.clone()).await.unwrap();
    assert_eq!(out, json!({"data": items, "count": 2, "complete": true}));
    let out =
        run_single("aggregate", "      mode: object\n      key: '{{.type}}_{{.id}}'", items.clone()).await.unwrap();
    assert_eq!(out["data"]["user_1"]["id"], 1);
    assert_eq!(out["data"]["product_2"]["id"], 2);
    let out = run_single("aggregate", "      mode: object", items.clone()).await.unwrap();
    assert!(out["data"]["item_0"].is_object() && out["data"]["item_1"].is_object(), "{out}");
    let merged =
        run_single("aggregate", "      mode: merge", json!([{"a": {"x": 1, "y": 1}}, {"a": {"y": 2}, "b": 3}, 7]))
            .await
            .unwrap();
    assert_eq!(merged["data"], json!({"a": {"x": 1, "y": 2}, "b": 3}));
    let concat = run_single("aggregate", "      mode: concat", json!({"data": [[1, 2], 3, [4]]})).await.unwrap();
    assert_eq!(concat["data"], json!([1, 2, 3, 4]));
    // A single non-list input is one item.
    assert_eq!(run_single("aggregate", "      {}", json!("x")).await.unwrap()["data"], json!(["x"]));
}

#[tokio::test]
async fn aggregate_count_collects_over_visits_in_a_loop() {
    // produce -> collect; collect loops back on `pending` until it has 3 items.
    let yaml = r#"
name: loop
start: produce
nodes:
  - name: produce
    type: transform
    config: { jq: "{n: ((.n // 0) + 1)}" }
  - name: collect
    type: aggregate
    config: { count: "3" }
  - name: next
    type: jsonpath
    config: { path: "$.data[-1:]" }
connections:
  - { from: produce, to: collect }
  - { from: collect, to: next, action: pending }
  - { from: next, to: produce }
"#;
    let out = run(yaml, json!(null)).await.unwrap();
    assert_eq!(out, json!({"data": [{"n": 1}, {"n": 2}, {"n": 3}], "count": 3, "complete": true}));
}

#[test]
fn aggregate_refusals() {
    let found = problems(&single("aggregate", "      mode: sum"));
    assert!(found[0].contains("unknown variant `sum`"), "{found:?}");
    let found = problems(&single("aggregate", "      count: 0"));
    assert!(found[0].contains("`config.count`: must be a whole number of at least 1"), "{found:?}");
    let found = problems(&single("aggregate", "      timeout: 5s"));
    assert!(found[0].contains("need `count`"), "{found:?}");
    let found = problems(&single("aggregate", "      mode: array\n      key: '{{.id}}'"));
    assert!(found[0].contains("`config.key`: is only used in `object` mode"), "{found:?}");
}

#[tokio::test]
async fn an_aggregate_looping_to_itself_does_not_collect_its_own_output() {
    // Nothing new arrives in a loop back to itself: the items stay one (they doubled at every
    // visit before), and the run ends at its step limit instead of growing without end.
    let yaml = "name: self\nstart: collect\nnodes:\n  - name: collect\n    type: aggregate\n    config: { count: 5 }\nconnections:\n  - { from: collect, to: collect, action: pending }\n";
    let store = pocket::Store::new();
    let graph = common::graph(yaml).unwrap();
    let err = graph.run_with(&store, json!({"x": 1}), pocket::RunOptions::new().max_steps(40)).await.unwrap_err();
    assert!(error_text(&err).contains("step limit of 40 reached"), "{}", error_text(&err));
    let state = store.get_value("aggregate:collect").unwrap().unwrap();
    assert_eq!(state["items"], json!([{"x": 1}]));
}

#[tokio::test]
async fn a_cycle_of_echo_nodes_stops_where_json_stops_nesting() {
    let yaml = "name: echoes\nstart: a\nnodes:\n  - name: a\n    type: echo\nconnections:\n  - { from: a, to: a }\n";
    let started = std::time::Instant::now();
    let err = run(yaml, json!(null)).await.unwrap_err();
    assert!(
        error_text(&err)
            .contains("the input already holds 127 echo outputs inside each other (a cycle of echo nodes?)"),
        "{}",
        error_text(&err)
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
}

#[test]
fn a_long_chain_of_fallbacks_is_refused_and_a_shorter_one_is_built_once() {
    let chain = |n: usize| {
        let mut yaml = String::from("name: f\nstart: n0\nnodes:\n");
        for i in 0..n {
            yaml.push_str(&format!("  - name: n{i}\n    type: echo\n"));
            if i + 1 < n {
                yaml.push_str(&format!("    fallback: n{}\n", i + 1));
            }
        }
        yaml
    };
    let found = problems(&chain(2_500));
    assert!(found.iter().any(|p| p.contains("node `n0`") && p.contains("longer than 100 nodes")), "{:?}", &found[..1]);
    common::graph(&chain(100)).expect("a chain of 100 builds");
}

#[tokio::test]
async fn jq_has_the_csv_and_tsv_formats() {
    let input = json!([1, "a\"b", null, true, "x\ty\\z"]);
    let out = run_single("transform", "      jq: '[@csv, @tsv]'", input).await.unwrap();
    assert_eq!(out, json!(["1,\"a\"\"b\",,true,\"x\ty\\z\"", "1\ta\"b\t\ttrue\tx\\ty\\\\z"]));
    let err = run_single("transform", "      jq: '@csv'", json!({"a": 1})).await.unwrap_err();
    assert!(error_text(&err).contains("cannot be csv-formatted, only an array can be"), "{}", error_text(&err));
}

#[tokio::test]
async fn jq_non_finite_numbers_come_out_as_jq_prints_them() {
    let out = run_single("transform", "      jq: '[nan, infinite, -infinite, 1.5]'", json!(null)).await.unwrap();
    assert_eq!(out, json!([null, f64::MAX, f64::MIN, 1.5]));
}

#[tokio::test]
async fn objects_keep_their_key_order_through_jq() {
    let input: serde_json::Value = serde_json::from_str(r#"{"b": 1, "a": 2, "c": {"z": 0, "y": 1}}"#).unwrap();
    let out = run_single(
        "transform",
        "      jq: '{values: [.[] | numbers], keys: keys_unsorted, sorted: keys, entries: [to_entries[] | .key], json: (.c | tojson), built: {z: 1, a: 2}}'",
        input,
    )
    .await
    .unwrap();
    assert_eq!(out["values"], json!([1, 2]), "jq's `.[]` goes in input order");
    assert_eq!(out["keys"], json!(["b", "a", "c"]));
    assert_eq!(out["sorted"], json!(["a", "b", "c"]), "`keys` still sorts");
    assert_eq!(out["entries"], json!(["b", "a", "c"]));
    assert_eq!(out["json"], r#"{"z":0,"y":1}"#);
    assert_eq!(serde_json::to_string(&out["built"]).unwrap(), r#"{"z":1,"a":2}"#, "as the program writes it");
    let keys: Vec<&String> = out.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["values", "keys", "sorted", "entries", "json", "built"]);
}
