//! jq modules and data files imported by a `transform` node, from the workflow's directory
//! and nowhere else.

use std::path::{Path, PathBuf};

use pocket::Store;
use pocket_nodes::{BuildOptions, Registry, build_graph};
use serde_json::{Value, json};

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("pocket-jqmod-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Build a one-node workflow in `base` and run it: the output, or the problems / the error.
async fn transform(base: &Path, jq: &str, input: Value) -> Result<Value, String> {
    let yaml = format!(
        "name: t\nstart: n\nnodes:\n  - name: n\n    type: transform\n    config:\n      jq: {}\n",
        serde_json::to_string(jq).unwrap()
    );
    let workflow = pocket_yaml::parse_workflow(&yaml, "t.yaml").unwrap();
    let graph = build_graph(&workflow, &Registry::builtin(), BuildOptions::new(base)).map_err(|e| e.to_string())?;
    graph.run(&Store::new(), input).await.map_err(|e| pocket::report(&e))
}

#[tokio::test]
async fn modules_and_data_files_come_from_the_workflow_directory() {
    let base = scratch("ok");
    std::fs::create_dir_all(base.join("lib/money")).unwrap();
    std::fs::write(base.join("lib/text.jq"), "def shout: ascii_upcase + \"!\";\n").unwrap();
    std::fs::write(
        base.join("lib/money/money.jq"),
        "import \"rates\" as $r {search: \"./\"};\ndef eur: . * $r[0].eur;\n",
    )
    .unwrap();
    std::fs::write(base.join("lib/money/rates.json"), "{\"eur\": 2}").unwrap();
    std::fs::write(base.join("codes.json"), "{\"a\": 1}\n{\"b\": 2}\n").unwrap();
    let out = transform(
        &base,
        "import \"lib/text\" as t; include \"lib/money\"; import \"codes\" as $codes; \
         {name: (.name | t::shout), price: (.price | eur), codes: $codes}",
        json!({"name": "ada", "price": 5}),
    )
    .await;
    assert_eq!(out, Ok(json!({"name": "ADA!", "price": 10, "codes": [{"a": 1}, {"b": 2}]})));
    // A module that does not parse, or is missing, is a build problem naming it.
    std::fs::write(base.join("bad.jq"), "def x: ;").unwrap();
    let err = transform(&base, "include \"bad\"; x", json!(null)).await.unwrap_err();
    assert!(err.contains("`config.jq`: jq expression does not parse: expected") && err.contains("in bad.jq"), "{err}");
    let err = transform(&base, "import \"nope\" as n; n::x", json!(null)).await.unwrap_err();
    assert!(err.contains("jq module `nope` not found in the workflow's directory"), "{err}");
}

#[tokio::test]
async fn imports_cannot_reach_outside_the_workflow_directory() {
    let base = scratch("jail");
    let outside = scratch("jail-outside");
    std::fs::write(outside.join("secret.jq"), "def secret: \"s3cret\";").unwrap();
    std::fs::write(outside.join("secret.json"), "\"s3cret\"").unwrap();
    std::fs::create_dir_all(base.join("sub")).unwrap();
    let name = outside.file_name().unwrap().to_str().unwrap().to_string();
    for jq in [
        format!("include \"../{name}/secret\"; secret"),
        format!("include \"sub/../../{name}/secret\"; secret"),
        format!("include \"secret\" {{search: \"../{name}\"}}; secret"),
        format!("include \"secret\" {{search: \"{}\"}}; secret", outside.display()),
        format!("import \"../{name}/secret\" as $s; $s"),
        "include \"/etc/passwd\"; .".to_string(),
    ] {
        let err = transform(&base, &jq, json!(null)).await.unwrap_err();
        assert!(err.contains("not found in the workflow's directory") || err.contains("relative"), "{jq}: {err}");
        assert!(!err.contains("s3cret"), "{jq}: {err}");
    }
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(outside.join("secret.jq"), base.join("link.jq")).unwrap();
        std::os::unix::fs::symlink(&outside, base.join("door")).unwrap();
        for jq in ["include \"link\"; secret", "include \"door/secret\"; secret"] {
            let err = transform(&base, jq, json!(null)).await.unwrap_err();
            assert!(err.contains("outside the base directory"), "{jq}: {err}");
        }
    }
}
