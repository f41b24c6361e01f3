//! Every workflow in `examples/workflows/` runs and prints what its header says, and the Go
//! original's examples that use this release's node types run unchanged.

mod common;

use common::{pocket, repo, text, write};
use serde_json::{Value, json};

/// Run `pocket run FILE ARGS...` from the repository root; stdout on success.
fn run(file: &str, args: &[&str]) -> String {
    run_env(file, args, &[])
}

/// [`run`] with environment variables.
fn run_env(file: &str, args: &[&str], env: &[(&str, &str)]) -> String {
    let file = repo(file);
    let mut all = vec!["run", file.as_str(), "--quiet"];
    all.extend_from_slice(args);
    let out =
        common::command(&all).envs(env.iter().copied()).current_dir(common::root()).output().expect("the binary runs");
    assert_eq!(out.status.code(), Some(0), "{file}: {}", text(&out.stderr));
    text(&out.stdout)
}

fn run_json(file: &str, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.extend_from_slice(&["--output", "json"]);
    let out = run(file, &all);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{file}: not one JSON document ({e}): {out}"))
}

const EX: &str = "examples/workflows";

#[test]
fn hello() {
    let out = run_json(&format!("{EX}/hello.yaml"), &["--input", r#"{"name": "Ada"}"#]);
    assert_eq!(out, json!({"greeting": "Hello, Ada!", "loud": "HELLO, ADA!"}));
    let out = run_json(&format!("{EX}/hello.yaml"), &[]);
    assert_eq!(out["greeting"], "Hello, world!");
}

#[test]
fn sequential() {
    let out = run_json(&format!("{EX}/sequential.yaml"), &["--input", r#"{"job": 7}"#]);
    assert_eq!(out["message"], "Job 7 completed after stage 2");
    assert_eq!(out["input"], json!({"job": 7, "started": "Starting job 7", "stage": 2}));
}

#[test]
fn conditional() {
    let file = format!("{EX}/conditional.yaml");
    assert_eq!(run(&file, &["--input", r#"{"correct": 17, "total": 20}"#]), "Excellent: 85% (17/20)\n");
    assert_eq!(run(&file, &["--input", r#"{"correct": 12, "total": 20}"#]), "Good: 60%\n");
    assert_eq!(run(&file, &["--input", r#"{"correct": 1, "total": 20}"#]), "Keep trying: 5%\n");
}

#[test]
fn router() {
    let file = format!("{EX}/router.yaml");
    assert_eq!(run(&file, &["--input", r#"{"kind": "bug", "title": "Crash"}"#]), "BUG -> triage queue: Crash\n");
    assert_eq!(
        run(&file, &["--input", r#"{"kind": "feature", "title": "Dark mode"}"#]),
        "FEATURE -> backlog: Dark mode\n"
    );
    assert_eq!(run(&file, &["--input", r#"{"kind": "question", "title": "How?"}"#]), "question -> inbox: How?\n");
}

#[test]
fn template() {
    let out = run(&format!("{EX}/template.yaml"), &["--input-file", &format!("{EX}/invoice.json")]);
    assert_eq!(out, "Invoice INV-42 for ACME (due)\n- widget    3 x   2.50\n- gadget    1 x  19.99\n\n");
}

#[test]
fn jsonpath() {
    let out = run(&format!("{EX}/jsonpath.yaml"), &["--input-file", &format!("{EX}/order.json")]);
    assert_eq!(out, "In stock: tea, cocoa\n");
}

#[test]
fn validate() {
    let file = format!("{EX}/validate.yaml");
    let ok = run(&file, &["--input", r#"{"username": "ada", "email": "ada@example.com", "age": 36}"#]);
    assert_eq!(ok, "Welcome, ada!\n");
    let rejected = run(&file, &["--input", r#"{"username": "a", "email": "nope"}"#]);
    // In the order the schema lists the fields (objects keep their key order).
    assert_eq!(rejected, "Rejected (2 problems):\n- username: pattern\n- email: format\n\n");
}

#[test]
fn aggregate() {
    let out = run(&format!("{EX}/aggregate.yaml"), &["--input-file", &format!("{EX}/catalog.json")]);
    assert_eq!(out, "3 items:\n- product_101: Widget\n- user_1: Alice\n- user_2: Bob\n\n");
}

#[test]
fn score_leads() {
    let out = run(&format!("{EX}/score-leads.yaml"), &["--input-file", &format!("{EX}/leads.json")]);
    assert_eq!(
        out,
        "2 hot, 1 warm, 2 cold of 5 leads.\nCall today:\n  Northwind    100 pts  buyer@northwind.example\n  \
         Tailspin      90 pts  ops@tailspin.example\nFollow up this week:\n  Fabrikam      80 pts\n\n"
    );
    // A batch that does not match the schema stops at the check, naming the record.
    let bad =
        pocket(&["run", &repo(&format!("{EX}/score-leads.yaml")), "--input", r#"{"leads": [{"name": "X"}]}"#], &[]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(text(&bad.stderr).contains("node `check` failed in exec: validation failed"), "{}", text(&bad.stderr));
}

#[test]
fn every_example_is_covered_here() {
    let covered = [
        "hello",
        "sequential",
        "conditional",
        "router",
        "template",
        "jsonpath",
        "validate",
        "aggregate",
        "score-leads",
        "agent-loop",
        "classify-tickets",
        "http-pipeline",
        "parallel-fanout",
        "lua-scoring",
    ];
    for entry in std::fs::read_dir(repo(EX)).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yaml") {
            let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
            assert!(covered.contains(&stem.as_str()), "examples/workflows/{stem}.yaml has no test");
        }
    }
}

/// The examples' local server (`cargo run -p pocket-stub`), on a free port, for one test.
fn with_stub(test: impl FnOnce(&str)) {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let server = runtime.block_on(pocket_stub::Server::start("127.0.0.1:0", pocket_stub::demo)).unwrap();
    test(&server.url(""));
    drop(server);
}

#[test]
fn agent_loop() {
    with_stub(|base| {
        let llm = format!("{base}/v1");
        let out = run_env(
            &format!("{EX}/agent-loop.yaml"),
            &["--input", r#"{"question": "What is the capital of France?"}"#],
            &[("LLM_BASE_URL", &llm)],
        );
        assert_eq!(
            out,
            "Paris is the capital of France. (found by searching for \"What is the capital of France?\")\n"
        );
        let out = run_env(
            &format!("{EX}/agent-loop.yaml"),
            &["--input", r#"{"question": "Who wrote Hamlet?"}"#],
            &[("LLM_BASE_URL", &llm)],
        );
        assert_eq!(out, "No results found. (found by searching for \"Who wrote Hamlet?\")\n");
    });
}

#[test]
fn classify_tickets() {
    // Run from a copy, so that the results file is written there.
    let dir = std::env::temp_dir().join(format!("pocket-classify-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for file in ["classify-tickets.yaml", "tickets.jsonl"] {
        std::fs::copy(repo(&format!("{EX}/{file}")), dir.join(file)).unwrap();
    }
    let flow = dir.join("classify-tickets.yaml").display().to_string();
    with_stub(|base| {
        let llm = format!("{base}/v1");
        let out = run_env(&flow, &[], &[("LLM_BASE_URL", &llm), ("TICKETS_OUT", "results.jsonl")]);
        assert_eq!(out, "Classified 12 tickets (0 failed) into results.jsonl.\n");
    });
    let written = std::fs::read_to_string(dir.join("results.jsonl")).unwrap();
    let rows: Vec<serde_json::Value> = written.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let ids: Vec<u64> = rows.iter().map(|r| r["id"].as_u64().unwrap()).collect();
    assert_eq!(ids, (1..=12).collect::<Vec<_>>(), "in the file's order");
    let category = |id: usize| rows[id - 1]["category"].as_str().unwrap().to_string();
    assert_eq!((category(1), category(2), category(3)), ("billing".into(), "bug".into(), "question".into()));
    assert_eq!(rows[3]["urgent"], true);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn http_pipeline_and_parallel_fanout() {
    with_stub(|base| {
        let out = run_env(&format!("{EX}/http-pipeline.yaml"), &[], &[("API_BASE", base)]);
        assert_eq!(
            out,
            "Orders by status:\n  paid      3 orders   220.00\n  pending   1 orders    40.00\n  refunded  1 orders    60.00\n\n"
        );
        let out = run_env(&format!("{EX}/parallel-fanout.yaml"), &[], &[("API_BASE", base)]);
        assert_eq!(
            out,
            "Paid per customer:\n  Ada Lovelace  gold     140.00\n  Bob Stone     silver    80.00\n  Cy Young      bronze     0.00\n\n"
        );
    });
}

#[test]
fn lua_scoring() {
    let out = run(&format!("{EX}/lua-scoring.yaml"), &["--input-file", &format!("{EX}/leads.json")]);
    assert!(out.starts_with("Hot lead: Northwind (100 points)\n  Northwind    100\n  Tailspin      90\n"), "{out}");
    let out = run(
        &format!("{EX}/lua-scoring.yaml"),
        &["--input", r#"{"leads": [{"name": "Tiny", "email": "t@gmail.com", "employees": 1, "budget": 10}]}"#],
    );
    assert_eq!(out, "No hot lead; the best is Tiny (20).\n");
}

// The Go original's examples, unchanged (copied into pocket-yaml's fixtures).
const GO: &str = "crates/pocket-yaml/tests/fixtures";

#[test]
fn go_hello_sequential_and_router() {
    let out = run_json(&format!("{GO}/hello.yaml"), &[]);
    assert_eq!(out["message"], "Workflow completed!");
    assert_eq!(out["input"]["message"], "Hello, World! Welcome to Pocket workflows!");
    let out = run_json(&format!("{GO}/sequential.yaml"), &[]);
    assert_eq!(out["message"], "Sequential processing completed!");
    // `default_route: path-a` is honoured (the original ignored it and stopped at the router).
    let out = run_json(&format!("{GO}/router.yaml"), &[]);
    assert_eq!(out["message"], "All paths lead here!");
    assert_eq!(out["input"]["message"], "Taking path A");
}

#[test]
fn go_conditional() {
    // The original's transform invented a random `score`; ours passes the input through, so
    // the score is whatever the input says (no score: no condition holds, the low branch).
    let file = format!("{GO}/conditional.yaml");
    assert_eq!(run_json(&file, &[])["message"], "Keep trying! Low score.");
    assert_eq!(run_json(&file, &["--input", r#"{"score": 0.93}"#])["message"], "Excellent! High score achieved!");
    assert_eq!(run_json(&file, &["--input", r#"{"score": 0.6}"#])["message"], "Good job! Medium score achieved.");
}

#[test]
fn go_templates() {
    let out = run_json(
        &format!("{GO}/template-simple.yaml"),
        &["--input", r#"{"node": "Ada", "timestamp": "noon", "transformed": true}"#],
    );
    assert_eq!(out["message"], "Template rendered successfully");
    let text = out["input"].as_str().unwrap();
    assert!(text.starts_with("Welcome Ada!\n") && text.contains("The transformation was successful."), "{text}");
    // template.yaml reads the fields the original's transform made up; given them as input,
    // the JSON report parses.
    let out = run_json(
        &format!("{GO}/template.yaml"),
        &["--input", r#"{"node": "generate-data", "transformed": true, "timestamp": "2026-11-28T00:00:00Z"}"#],
    );
    assert_eq!(out["message"], "JSON report generated");
    assert_eq!(
        out["input"],
        json!({"report": {"node": "generate-data", "success": true, "timestamp": "2026-11-28T00:00:00Z"}})
    );
}

#[test]
fn go_jsonpath_validate_aggregate() {
    let out = run(&format!("{GO}/jsonpath-extract.yaml"), &[]);
    assert_eq!(out, "User Skills:\n- Go\n- Python\n- JavaScript\n- Machine Learning\n\n");
    let out = run(&format!("{GO}/validate-api-response.yaml"), &[]);
    assert!(out.contains("User data validation PASSED") && out.contains("alice_dev"), "{out}");
    let out = run(&format!("{GO}/validate-invalid-data.yaml"), &[]);
    assert!(out.contains("Validation Result: ❌ FAILED") && out.contains("Found 6 validation error(s)"), "{out}");
    for field in ["(root)", "username", "email", "profile.fullName", "profile.age", "accountType"] {
        assert!(out.contains(&format!("Field: {field}")), "{field} in {out}");
    }
    let out = run(&format!("{GO}/aggregate-data.yaml"), &[]);
    assert!(out.starts_with("=== Aggregated Data ===\nTotal items: 4\n"), "{out}");
    for line in [
        "- product_101: Widget (product)",
        "- product_102: Gadget (product)",
        "- user_1: Alice (user)",
        "- user_2: Bob (user)",
    ] {
        assert!(out.contains(line), "{line} in {out}");
    }
}

#[test]
fn go_exec_commands_runs_with_the_programs_allowed() {
    let file = repo(&format!("{GO}/exec-commands.yaml"));
    let out = pocket(&["run", &file, "--allow-exec", "ls,echo,sh"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "All commands executed successfully!\nLast output: APP_NAME=Pocket Workflow, APP_VERSION=1.0.0\n\n"
    );
    // Without permission nothing runs, and the error says both ways to give it.
    let out = pocket(&["run", &file], &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("node `list-files`: `config.command`: `ls` is not allowed to run"), "{err}");
    assert!(err.contains("--allow-exec sh"), "{err}");
}

#[test]
fn go_file_operations_writes_inside_the_workflow_directory() {
    let dir = std::env::temp_dir().join(format!("pocket-go-files-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("file-operations.yaml");
    std::fs::copy(repo(&format!("{GO}/file-operations.yaml")), &file).unwrap();
    let out = pocket(&["run", file.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let log = "[2024-01-15T10:30:00Z] User: alice\nMessage: Processing started\nTotal items: 3\n\nStatus: Processing complete\nEnd of log\n";
    assert_eq!(std::fs::read_to_string(dir.join("output/process.log")).unwrap(), log);
    let shown = text(&out.stdout);
    assert!(shown.contains(&format!("Size: {} bytes", log.len())) && shown.contains(log), "{shown}");
}

#[test]
fn go_http_api_against_a_local_stand_in() {
    // The file calls an internet host over HTTPS; only its URL is pointed at a local server
    // answering as that API does, the rest of the file runs as it is.
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let joke = serde_json::json!({"type": "general", "setup": "Why did the chicken cross the road?", "punchline": "To get to the other side.", "id": 42});
    let server = runtime
        .block_on(pocket_stub::Server::scripted(vec![
            pocket_stub::Reply::text(503, "busy"),
            pocket_stub::Reply::json(200, joke),
        ]))
        .unwrap();
    let original = std::fs::read_to_string(repo(&format!("{GO}/http-api.yaml"))).unwrap();
    let local = original.replace("https://official-joke-api.appspot.com/random_joke", &server.url("/random_joke"));
    assert_ne!(local, original);
    let file = common::write("http-api-local.yaml", &local);
    let out = pocket(&["run", file.to_str().unwrap(), "-o", "json", "-q"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let out: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out["message"], "Joke retrieved successfully!");
    let shown = out["input"].as_str().unwrap();
    assert!(shown.contains("Setup: Why did the chicken cross the road?") && shown.contains("ID: 42"), "{shown}");
    assert_eq!(server.requests().len(), 2, "the 503 was retried");
}

#[test]
fn go_parallel_tasks_loads_with_a_warning_for_each_ignored_key() {
    // Its `operation:` tasks carry config keys the original never read: each is named in a
    // warning, and the file loads (it was refused before).
    let file = repo(&format!("{GO}/parallel-tasks.yaml"));
    let out = pocket(&["validate", &file], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    for task in [3, 4] {
        assert!(
            err.contains(&format!(
                "node `parallel-fetch`: `config.tasks[{task}].config.type`: is not a `transform` setting: ignored"
            )),
            "{err}"
        );
    }
    let out = pocket(&["validate", "--strict", &file], &[]);
    assert_eq!(out.status.code(), Some(2), "warnings are fatal with --strict");
    // A task in Pocket's own form (`type:`) gets no such leniency.
    let strict = write(
        "own-form.yaml",
        "name: p\nstart: p\nnodes:\n  - name: p\n    type: parallel\n    config:\n      tasks:\n        - name: t\n          type: transform\n          config: { type: uppercase }\n",
    );
    let out = pocket(&["validate", strict.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
}
