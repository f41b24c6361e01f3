//! How deep JSON text may nest: 128 levels unless the process allows more (up to jq's 10,000),
//! counted outside strings, and the first list or object past the limit named by line and
//! column. (One test: the limit is the process's.)

use pocket_yaml::{JsonError, json_exact, set_max_depth};

fn nested(levels: usize) -> String {
    format!("{}1{}", "[".repeat(levels), "]".repeat(levels))
}

#[test]
fn the_depth_limit_is_counted_outside_strings_and_names_the_place() {
    assert!(json_exact(&nested(128)).is_ok());
    let text = format!("{{\"s\": \"[[[[{{{{\",\n \"deep\": {}}}", nested(128));
    match json_exact(&text) {
        // The object is the first level: the 128th list is the 129th level, at column 10 + 127.
        Err(JsonError::TooDeep { max: 128, line: 2, column }) => assert_eq!(column, 137),
        other => panic!("{other:?}"),
    }
    // Brackets in strings, escaped quotes included, do not count.
    let strings = format!("[\"{}\\\"{}\"]", "[".repeat(500), "{".repeat(500));
    assert!(json_exact(&strings).is_ok());
    // Raised, on a thread with the stack for it: serde_json's own limit (128) no longer applies.
    let deep = std::thread::Builder::new()
        .stack_size(64 << 20)
        .spawn(|| {
            set_max_depth(10_000);
            let ok = json_exact(&nested(10_000)).map(drop).map_err(|e| e.to_string());
            let refused = json_exact(&nested(10_001)).map(drop).map_err(|e| e.to_string());
            // Raised past jq's limit, it stays at jq's limit.
            set_max_depth(1_000_000);
            let capped = json_exact(&nested(10_001)).map(drop).map_err(|e| e.to_string());
            (ok, refused, capped)
        })
        .unwrap()
        .join()
        .unwrap();
    assert_eq!(deep.0, Ok(()));
    assert_eq!(deep.1, Err("line 1, column 10001: the value nests deeper than 10000 levels".to_string()));
    assert_eq!(deep.2, deep.1);
}
