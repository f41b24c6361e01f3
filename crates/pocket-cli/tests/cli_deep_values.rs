//! Values nested as deep as jq allows (10,000 levels) pass through `pocket run` — read,
//! transformed, printed — and one level more is refused with the place named, never a crash.

mod common;

use common::{pocket, text, write};

fn nested(levels: usize, object: bool) -> String {
    if object {
        format!("{}1{}", "{\"a\":".repeat(levels), "}".repeat(levels))
    } else {
        format!("{}1{}", "[".repeat(levels), "]".repeat(levels))
    }
}

fn workflow(name: &str, node: &str) -> std::path::PathBuf {
    write(&format!("{name}.yaml"), &format!("name: {name}\nstart: n\nnodes:\n  - name: n\n{node}"))
}

#[test]
fn values_ten_thousand_levels_deep_are_read_transformed_and_printed() {
    let identity = workflow("deep-identity", "    type: transform\n    config:\n      jq: '.'\n");
    for object in [false, true] {
        let input = write(&format!("deep-{object}.json"), &nested(10_000, object));
        for format in ["json", "yaml"] {
            let out = pocket(
                &["run", identity.to_str().unwrap(), "--input-file", input.to_str().unwrap(), "-o", format],
                &[],
            );
            assert_eq!(out.status.code(), Some(0), "object {object}, {format}: {}", text(&out.stderr));
            let printed = text(&out.stdout);
            // (Compared without printing: the texts are large.)
            if format == "json" {
                let compact: String = printed.chars().filter(|c| !c.is_whitespace()).collect();
                assert!(compact == nested(10_000, object), "object {object}: the JSON printed differs");
            } else {
                let marks = printed.matches(if object { "a:" } else { "-" }).count();
                assert_eq!(marks, 10_000, "object {object}: YAML levels");
            }
        }
    }
}

#[test]
fn one_level_more_is_refused_naming_the_place() {
    let identity = workflow("deep-identity-2", "    type: transform\n    config:\n      jq: '.'\n");
    let input = write("deeper.json", &format!("{{\"x\":\n  {}\n}}", nested(10_000, false)));
    let out = pocket(&["run", identity.to_str().unwrap(), "--input-file", input.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(err.contains("deeper.json: line 2, column 10002: the value nests deeper than 10000 levels"), "{err}");
}

#[test]
fn jq_builds_values_as_deep_as_jq_allows_and_no_deeper() {
    let build = |levels: usize| {
        workflow(
            &format!("deep-build-{levels}"),
            &format!("    type: transform\n    config:\n      jq: 'reduce range({levels}) as $i (0; [.])'\n"),
        )
    };
    let out = pocket(&["run", build(10_000).to_str().unwrap(), "-o", "json"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let compact: String = text(&out.stdout).chars().filter(|c| !c.is_whitespace()).collect();
    assert!(compact == format!("{}0{}", "[".repeat(10_000), "]".repeat(10_000)), "the JSON printed differs");
    let out = pocket(&["run", build(10_001).to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("jq: an output is nested deeper than 10000 levels"), "{}", text(&out.stderr));
}

#[test]
fn echo_stops_one_level_below_the_limit() {
    let echo = workflow("deep-echo", "    type: echo\n    config:\n      message: hi\n");
    let ok = write("deep-echo-ok.json", &nested(9_999, false));
    let out = pocket(&["run", echo.to_str().unwrap(), "--input-file", ok.to_str().unwrap(), "-o", "json"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let too_deep = write("deep-echo-no.json", &nested(10_000, false));
    let out = pocket(&["run", echo.to_str().unwrap(), "--input-file", too_deep.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("the output would nest deeper than 10000 levels"), "{}", text(&out.stderr));
}

#[test]
fn a_cycle_of_echo_nodes_stops_after_127_echoes_not_at_the_depth_limit() {
    // At the depth limit a cycle would copy ever deeper values for 10,000 steps; it stops early.
    let cycle = write(
        "echo-cycle.yaml",
        "name: c\nstart: a\nnodes:\n  - name: a\n    type: echo\nconnections:\n  - { from: a, to: a }\n",
    );
    let out = pocket(&["run", cycle.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("127 echo outputs inside each other (a cycle of echo nodes?)"),
        "{}",
        text(&out.stderr)
    );
}
