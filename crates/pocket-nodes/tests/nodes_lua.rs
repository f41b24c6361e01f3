//! The `lua` node: faithful conversions, routing, the sandbox, and limits that really stop a
//! script.

#![cfg(feature = "lua")]

mod common;

use std::time::{Duration, Instant};

use common::{error_text, problems, run, run_single, single};
use serde_json::json;

fn script(source: &str) -> String {
    let indented: Vec<String> = source.lines().map(|l| format!("        {l}")).collect();
    format!("      script: |\n{}", indented.join("\n"))
}

#[tokio::test]
async fn values_convert_faithfully_both_ways() {
    let input =
        json!({"n": 3, "f": 2.5, "s": "x", "list": [1, 2, 3], "empty": [], "map": {"a": {"b": true}}, "none": null});
    let out = run_single("lua", &script("return input"), input.clone()).await.unwrap();
    let mut expected = input;
    expected.as_object_mut().unwrap().remove("none"); // a null value is `nil`: the key is absent
    assert_eq!(out, expected);
    let out = run_single("lua", &script("return input.none == nil"), json!({"none": null})).await.unwrap();
    assert_eq!(out, json!(true));
    // Inside a list, `null` keeps its place (as `json_null`).
    let out = run_single(
        "lua",
        &script("return {input[2] == json_null, type_of(input[2]), #input, input}"),
        json!([1, null, 3]),
    )
    .await
    .unwrap();
    assert_eq!(out, json!([true, "null", 3, [1, null, 3]]));
    let out = run_single(
        "lua",
        &script("return {seq = {10, 20}, map = {x = 1}, int = 7 // 2, float = 7 / 2, [1] = nil}"),
        json!(null),
    )
    .await
    .unwrap();
    assert_eq!(out, json!({"seq": [10, 20], "map": {"x": 1}, "int": 3, "float": 3.5}));
    // A table with holes or other keys is a map.
    let out = run_single("lua", &script("local t = {1, 2}; t[4] = 4; return t"), json!(null)).await.unwrap();
    assert_eq!(out, json!({"1": 1, "2": 2, "4": 4}));
    // No return value: the input passes through.
    assert_eq!(run_single("lua", &script("local x = 1"), json!({"keep": 1})).await.unwrap(), json!({"keep": 1}));
}

#[tokio::test]
async fn helpers_and_safe_os_functions_are_available() {
    let source = r#"return {
  json = json_encode({a = {1, 2}}),
  decoded = json_decode('{"k": [true]}'),
  kind = type_of(input),
  parts = str_split("a,b", ","),
  trimmed = str_trim("  x "),
  has = str_contains("hello", "ell"),
  replaced = str_replace("aaa", "a", "b", 2),
  year = tonumber(os.date("!%Y", 0)),
  clock = type(os.time()),
  upper = string.upper("x"),
  max = math.max(1, 5),
}"#;
    let out = run_single("lua", &script(source), json!({})).await.unwrap();
    assert_eq!(out["json"], "{\"a\":[1,2]}");
    assert_eq!(out["decoded"], json!({"k": [true]}));
    assert_eq!(out["kind"], "table");
    assert_eq!(out["parts"], json!(["a", "b"]));
    assert_eq!(
        (out["trimmed"].clone(), out["has"].clone(), out["replaced"].clone()),
        (json!("x"), json!(true), json!("bba"))
    );
    assert_eq!((out["year"].clone(), out["clock"].clone()), (json!(1970), json!("number")));
    assert_eq!((out["upper"].clone(), out["max"].clone()), (json!("X"), json!(5)));
}

#[tokio::test]
async fn the_second_return_value_is_the_action() {
    let yaml = r#"
name: l
start: score
nodes:
  - name: score
    type: lua
    config:
      script: |
        local s = #input.text
        if s > 5 then return {len = s}, "long" end
        return {len = s}, "short"
  - { name: long, type: template, config: { template: "long {{.len}}" } }
  - { name: short, type: template, config: { template: "short {{.len}}" } }
connections:
  - { from: score, to: long, action: long }
  - { from: score, to: short, action: short }
"#;
    assert_eq!(run(yaml, json!({"text": "a long text"})).await.unwrap(), json!("long 11"));
    assert_eq!(run(yaml, json!({"text": "hi"})).await.unwrap(), json!("short 2"));
    let err = run_single("lua", &script("return 1, 2"), json!(null)).await.unwrap_err();
    assert!(error_text(&err).contains("the action) must be a string"), "{}", error_text(&err));
}

#[tokio::test]
async fn an_infinite_loop_is_stopped_at_the_time_limit() {
    let started = Instant::now();
    let err = run_single("lua", &format!("      timeout: 200ms\n{}", script("while true do end")), json!(null))
        .await
        .unwrap_err();
    assert!(error_text(&err).contains("ran longer than 200ms and was stopped"), "{}", error_text(&err));
    assert!(started.elapsed() < Duration::from_secs(5));
    // Loops inside library calls are stopped too.
    let err = run_single(
        "lua",
        &format!("      timeout: 200ms\n{}", script("local s = string.rep('a', 1000) while true do s:find('b') end")),
        json!(null),
    )
    .await
    .unwrap_err();
    assert!(error_text(&err).contains("was stopped"), "{}", error_text(&err));
}

#[tokio::test]
async fn a_memory_hog_is_stopped_at_the_memory_limit() {
    let err = run_single(
        "lua",
        &format!("      memory_limit_mb: 8\n{}", script("local t = {} for i = 1, 1e8 do t[i] = i end")),
        json!(null),
    )
    .await
    .unwrap_err();
    assert!(error_text(&err).contains("used more than 8 MiB"), "{}", error_text(&err));
}

#[tokio::test]
async fn forbidden_libraries_are_absent() {
    for (source, what) in [
        ("return io.open('/etc/passwd')", "io"),
        ("return os.execute('true')", "os.execute"),
        ("return os.remove('/tmp/x')", "os.remove"),
        ("return os.getenv('HOME')", "os.getenv"),
        ("return require('os')", "require"),
        ("return dofile('/etc/passwd')", "dofile"),
        ("return debug.getinfo(1)", "debug"),
        ("return load(string.dump(function() return 1 end))()", "bytecode"),
    ] {
        let err = run_single("lua", &script(source), json!(null)).await.unwrap_err();
        let text = error_text(&err);
        let refused = text.contains("a nil value") || text.contains("attempt to load a binary chunk");
        assert!(refused, "{what}: {text}");
    }
    // `load` of source text still works.
    assert_eq!(run_single("lua", &script("return load('return 40 + 2')()"), json!(null)).await.unwrap(), json!(42));
}

#[test]
fn build_time_refusals() {
    let found = problems(&single("lua", &script("return (")));
    assert!(found[0].contains("`config.script`: syntax error: n:"), "{found:?}");
    let found = problems(&single("lua", &format!("      sandbox: false\n{}", script("return 1"))));
    assert!(found[0].contains("`config.sandbox`: cannot be turned off"), "{found:?}");
    let found = problems(&single("lua", "      file: missing.lua"));
    assert!(found[0].contains("`config.file`: cannot read"), "{found:?}");
    let found = problems(&single("lua", "      {}"));
    assert!(found[0].contains("either `script` or `file` is required"), "{found:?}");
}

#[tokio::test]
async fn finalizers_which_would_run_outside_the_time_limit_are_refused() {
    let source = "setmetatable({}, {__gc = function() while true do end end})\ncollectgarbage = nil\nreturn 1";
    let err = run_single("lua", &format!("      timeout: 200ms\n{}", script(source)), json!(null)).await.unwrap_err();
    assert!(error_text(&err).contains("finalizers (`__gc`) are not available"), "{}", error_text(&err));
    // Other metatables still work.
    let out = run_single(
        "lua",
        &script("local t = setmetatable({}, {__index = function() return 7 end}) return t.x"),
        json!(null),
    )
    .await
    .unwrap();
    assert_eq!(out, json!(7));
}

#[tokio::test]
async fn a_long_c_call_still_ends_the_step_at_its_timeout() {
    // One pattern match that backtracks for a very long time: no instruction runs meanwhile,
    // so the hook cannot stop it; the step still ends at its timeout.
    let source = "local s = string.rep('a', 30000)\nreturn s:find('.-.-.-.-.-b')";
    let started = Instant::now();
    let err = run_single("lua", &format!("      timeout: 300ms\n{}", script(source)), json!(null)).await.unwrap_err();
    let elapsed = started.elapsed();
    assert!(error_text(&err).contains("ran longer than 300ms and was stopped"), "{}", error_text(&err));
    assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
}

#[tokio::test]
async fn a_result_of_shared_tables_is_bounded_not_expanded_without_end() {
    let source = "local t = {1}\nfor i = 1, 60 do t = {t, t} end\nreturn t";
    // The bound is on parts, not time: a loaded machine with a debug build may need more than
    // the default timeout to count a million of them.
    let err = run_single("lua", &format!("      timeout: 120s\n{}", script(source)), json!(null)).await.unwrap_err();
    assert!(error_text(&err).contains("has more than 1000000 parts"), "{}", error_text(&err));
}

#[tokio::test]
async fn helpers_cannot_allocate_past_the_memory_limit() {
    let source = "local s = string.rep('a', 100000)\nreturn str_replace(s, 'a', string.rep('b', 1000))";
    let err =
        run_single("lua", &format!("      memory_limit_mb: 8\n{}", script(source)), json!(null)).await.unwrap_err();
    assert!(
        error_text(&err).contains("str_replace: the result (about 100100000 bytes) would exceed"),
        "{}",
        error_text(&err)
    );
    let source = "local s = string.rep(',', 1000000)\nreturn #str_split(s, ',')";
    let err =
        run_single("lua", &format!("      memory_limit_mb: 8\n{}", script(source)), json!(null)).await.unwrap_err();
    assert!(error_text(&err).contains("str_split"), "{}", error_text(&err));
}

#[tokio::test]
async fn a_table_raised_as_an_error_is_shown_as_json() {
    let err = run_single("lua", &script("error({code = 42, reason = 'bad input'})"), json!(null)).await.unwrap_err();
    let text = error_text(&err);
    assert!(text.contains(r#"{"code":42,"reason":"bad input"}"#), "{text}");
    assert!(!text.contains("table: 0x"), "{text}");
}

#[tokio::test]
async fn objects_made_from_lua_tables_have_sorted_keys_every_time() {
    // Lua iterates a table in an order of its own, seeded per state: the JSON must not follow it.
    let source = "local t = {}\nfor _, k in ipairs({'q','w','e','r','t','y','u','i','o','p','a','s','d','f'}) do t[k] = 1 end\nreturn t";
    for _ in 0..20 {
        let out = run_single("lua", &script(source), json!(null)).await.unwrap();
        let keys: Vec<&String> = out.as_object().unwrap().keys().collect();
        assert!(keys.is_sorted(), "{keys:?}");
    }
}
