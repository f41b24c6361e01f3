//! jq programs (jaq): checked, compiled once per expression, run on an evaluation thread with
//! bounded outputs.
//!
//! What a hostile expression cannot do: crash the process with deep nesting (refused before
//! parsing, [`MAX_NESTING`]) or with a definition that calls itself without end (refused at
//! validate time); end the process with `halt`/`halt_error` (a node error instead); produce
//! unbounded output ([`MAX_OUTPUTS`], [`MAX_OUTPUT_BYTES`], values nested at most
//! [`MAX_DEPTH`] deep); hold up a timeout or a cancellation (it runs off the async workers,
//! see [`cpu`](super::cpu)).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, LazyLock, Mutex, PoisonError, Weak};

use pocket::NodeError;
use serde_json::Value;

use super::cpu;
use super::text::excerpt;

type Filter = jaq_core::Filter<jaq_core::data::JustLut<jaq_json::Val>>;

pub(crate) use super::text::MAX_NESTING;
/// A program yields at most this many outputs.
pub(crate) const MAX_OUTPUTS: usize = 1_000_000;
/// A program's outputs take at most this many bytes as JSON, together.
pub(crate) const MAX_OUTPUT_BYTES: usize = 64 << 20;
/// An output is nested at most this deep (the depth JSON values are kept to everywhere).
pub(crate) use pocket_yaml::MAX_DEPTH;

/// A compiled jq program.
#[derive(Clone)]
pub(crate) struct Jq {
    filter: Arc<Filter>,
}

/// jq definitions jaq does not have: the `@csv` and `@tsv` formats, as jq writes them.
const OWN_DEFS: &str = r#"
def @csv: if type != "array" then error("\(type) (\(tojson)) cannot be csv-formatted, only an array can be")
  else map(if type == "string" then "\"" + gsub("\""; "\"\"") + "\""
    elif type == "null" then ""
    elif type == "boolean" or type == "number" then tostring
    else error("\(type) (\(tojson)) is not valid in a csv row") end) | join(",") end;
def @tsv: if type != "array" then error("\(type) (\(tojson)) cannot be tsv-formatted, only an array can be")
  else map(if type == "string" then gsub("\\\\"; "\\\\") | gsub("\t"; "\\t") | gsub("\n"; "\\n") | gsub("\r"; "\\r")
    elif type == "null" then ""
    elif type == "boolean" or type == "number" then tostring
    else error("\(type) (\(tojson)) is not valid in a tsv row") end) | join("\t") end;
"#;

/// The standard library's definitions and ours, parsed once per process.
static PRELUDE: LazyLock<Vec<jaq_core::load::parse::Def<&'static str>>> = LazyLock::new(|| {
    let own = jaq_core::load::parse(OWN_DEFS, |p| p.defs()).expect("our own jq definitions parse");
    jaq_core::defs().chain(jaq_std::defs()).chain(jaq_json::defs()).chain(own).collect()
});

/// Programs compiled so far, by source: the same expression in many nodes (the tasks of a
/// `parallel` node, the body of a fan-out) is compiled, and held in memory, once.
static COMPILED: LazyLock<Mutex<HashMap<String, Weak<Filter>>>> = LazyLock::new(Default::default);

impl Jq {
    /// Check and compile `code`.
    ///
    /// # Errors
    ///
    /// A message saying what is wrong with the expression.
    pub(crate) fn compile(code: &str) -> Result<Jq, String> {
        check(code)?;
        let mut compiled = COMPILED.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(filter) = compiled.get(code).and_then(Weak::upgrade) {
            return Ok(Jq { filter });
        }
        // The parser recurses on nesting: give it the evaluation threads' stack.
        let source = code.to_string();
        let filter = Arc::new(cpu::block_on(move || compile(&source))??);
        if compiled.len() >= 1024 {
            compiled.retain(|_, filter| filter.strong_count() > 0);
        }
        compiled.insert(code.to_string(), Arc::downgrade(&filter));
        Ok(Jq { filter })
    }

    /// Run the program over `input`: one output is the result, several a list, none null.
    ///
    /// # Errors
    ///
    /// A fatal [`NodeError`] for a jq error, `halt`, or an output past its limits.
    pub(crate) async fn run(&self, input: &Value) -> Result<Value, NodeError> {
        let filter = self.filter.clone();
        let input = input.clone();
        cpu::run(move |stop| evaluate(&filter, input, stop)).await?
    }
}

type Term = jaq_core::load::parse::Term<&'static str>;

/// The names each standard definition calls (by position in [`PRELUDE`]).
static PRELUDE_CALLS: LazyLock<Vec<HashSet<&'static str>>> = LazyLock::new(|| {
    PRELUDE
        .iter()
        .map(|def| {
            let mut names = HashSet::new();
            calls(&def.body, &mut names);
            names
        })
        .collect()
});

/// The names `term` calls (filters and `@formats`).
fn calls(term: &Term, out: &mut HashSet<&'static str>) {
    use jaq_core::load::lex::StrPart;
    use jaq_core::load::parse::{BinaryOp, Pattern, Term as T};
    fn pattern(p: &Pattern<&'static str>, out: &mut HashSet<&'static str>) {
        match p {
            Pattern::Var(_) => {}
            Pattern::Arr(items) => items.iter().for_each(|p| pattern(p, out)),
            Pattern::Obj(entries) => entries.iter().for_each(|(k, p)| {
                calls(k, out);
                pattern(p, out);
            }),
        }
    }
    match term {
        T::Id | T::Recurse | T::Num(_) | T::Break(_) | T::Var(_) => {}
        T::Str(format, parts) => {
            out.extend(format.iter().copied());
            for part in parts {
                if let StrPart::Term(t) = part {
                    calls(t, out);
                }
            }
        }
        T::Arr(t) => t.iter().for_each(|t| calls(t, out)),
        T::Obj(entries) => entries.iter().for_each(|(k, v)| {
            calls(k, out);
            v.iter().for_each(|v| calls(v, out));
        }),
        T::Neg(t) | T::Label(_, t) => calls(t, out),
        T::BinOp(l, op, r) => {
            if let BinaryOp::Pipe(Some(p)) = op {
                pattern(p, out);
            }
            calls(l, out);
            calls(r, out);
        }
        T::Fold(_, t, p, args) => {
            calls(t, out);
            pattern(p, out);
            args.iter().for_each(|a| calls(a, out));
        }
        T::TryCatch(t, c) => {
            calls(t, out);
            c.iter().for_each(|c| calls(c, out));
        }
        T::IfThenElse(branches, otherwise) => {
            for (cond, then) in branches {
                calls(cond, out);
                calls(then, out);
            }
            otherwise.iter().for_each(|t| calls(t, out));
        }
        T::Def(defs, t) => {
            defs.iter().for_each(|d| calls(&d.body, out));
            calls(t, out);
        }
        T::Call(name, args) => {
            out.insert(name);
            args.iter().for_each(|a| calls(a, out));
        }
        T::Path(t, path) => {
            calls(t, out);
            for (part, _) in &path.0 {
                match part {
                    jaq_core::path::Part::Index(i) => calls(i, out),
                    jaq_core::path::Part::Range(a, b) => {
                        a.iter().chain(b.iter()).for_each(|t| calls(t, out));
                    }
                }
            }
        }
    }
}

/// The standard definitions `code` may need: those whose names appear in it, and what they
/// call, transitively. Compiling only these keeps each program small (the whole library is
/// about 90 KB per compiled program).
fn prelude_for(code: &str) -> Vec<jaq_core::load::parse::Def<&'static str>> {
    let words: HashSet<&str> =
        code.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '@')).filter(|w| !w.is_empty()).collect();
    let mut needed: HashSet<&'static str> =
        PRELUDE.iter().map(|d| d.name).filter(|name| words.contains(name)).collect();
    let mut pending: Vec<&'static str> = needed.iter().copied().collect();
    while let Some(name) = pending.pop() {
        for (def, names) in PRELUDE.iter().zip(PRELUDE_CALLS.iter()) {
            if def.name == name {
                for called in names {
                    if needed.insert(called) {
                        pending.push(called);
                    }
                }
            }
        }
    }
    PRELUDE.iter().filter(|d| needed.contains(d.name)).cloned().collect()
}

fn compile(code: &str) -> Result<Filter, String> {
    // The definitions the program needs; should that miss one the compiler adds itself, the
    // whole library.
    compile_with(code, prelude_for(code)).or_else(|_| compile_with(code, PRELUDE.iter().cloned().collect()))
}

fn compile_with(code: &str, prelude: Vec<jaq_core::load::parse::Def<&'static str>>) -> Result<Filter, String> {
    use jaq_core::load::{Arena, File, Loader};
    let funs = jaq_core::funs().chain(jaq_std::funs()).chain(jaq_json::funs());
    let arena = Arena::default();
    let modules = Loader::new(prelude).load(&arena, File { code, path: () }).map_err(|errors| {
        let mut messages = Vec::new();
        for (_, error) in errors {
            match error {
                jaq_core::load::Error::Io(io) => {
                    messages.extend(io.into_iter().map(|(path, e)| format!("{path}: {e}")))
                }
                jaq_core::load::Error::Lex(lex) => messages.extend(
                    lex.into_iter().map(|(expect, at)| format!("expected {} at `{}`", expect.as_str(), snippet(at))),
                ),
                jaq_core::load::Error::Parse(parse) => messages.extend(
                    parse.into_iter().map(|(expect, at)| format!("expected {} at `{}`", expect.as_str(), snippet(at))),
                ),
            }
        }
        format!("jq expression does not parse: {}", messages.join("; "))
    })?;
    jaq_core::Compiler::default().with_funs(funs).compile(modules).map_err(|errors| {
        let undefined: Vec<String> = errors
            .into_iter()
            .flat_map(|(_, list)| list.into_iter().map(|(name, what)| format!("{} `{name}`", what.as_str())))
            .collect();
        format!("jq expression does not compile: undefined {}", undefined.join(", "))
    })
}

fn snippet(at: &str) -> String {
    let at = at.trim_start();
    if at.is_empty() { "end of expression".into() } else { at.chars().take(20).collect() }
}

fn evaluate(filter: &Filter, input: Value, stop: &cpu::Stop) -> Result<Value, NodeError> {
    use jaq_core::{Ctx, Vars};
    let input: jaq_json::Val =
        serde_json::from_value(input).map_err(|e| NodeError::fatal_msg(format!("jq input: {e}")))?;
    let ctx = Ctx::<jaq_core::data::JustLut<jaq_json::Val>>::new(&filter.lut, Vars::new([]));
    let mut outputs = Vec::new();
    // What the outputs take, roughly, as JSON.
    let mut bytes = 0usize;
    for out in filter.id.run((ctx, input)) {
        if stop.requested() {
            return Err(NodeError::fatal_msg("jq: stopped"));
        }
        let out = out.map_err(|exception| match exception.get_err() {
            Ok(error) => NodeError::fatal_msg(format!("jq: {error}")),
            Err(exception) => match exception.get_halt() {
                Ok(code) => NodeError::fatal_msg(format!(
                    "jq: the expression called `halt` (exit code {code}); a jq expression cannot end the \
                     run: use `error(...)` to fail the node or `empty` for no output"
                )),
                Err(_) => NodeError::fatal_msg("jq: the expression ended in an unexpected way"),
            },
        })?;
        if nested_deeper_than(&out, MAX_DEPTH) {
            return Err(NodeError::fatal_msg(format!("jq: an output is nested deeper than {MAX_DEPTH} levels")));
        }
        if outputs.len() == MAX_OUTPUTS {
            return Err(too_much());
        }
        outputs.push(to_json(&out, &mut bytes)?);
    }
    Ok(match outputs.len() {
        0 => Value::Null,
        1 => outputs.pop().unwrap_or(Value::Null),
        _ => Value::Array(outputs),
    })
}

fn too_much() -> NodeError {
    NodeError::fatal_msg(format!(
        "jq: the outputs exceed {} or {MAX_OUTPUTS} values",
        super::de::show_bytes(MAX_OUTPUT_BYTES as u64)
    ))
}

/// A jq value as JSON, as jq prints it: NaN is null, ±infinity the largest finite number; an
/// integer beyond 64 bits is refused rather than rounded; `bytes` counts what it takes (checked
/// against [`MAX_OUTPUT_BYTES`]). The value is known to nest at most [`MAX_DEPTH`] deep.
fn to_json(value: &jaq_json::Val, bytes: &mut usize) -> Result<Value, NodeError> {
    use jaq_json::{Num, Val};
    *bytes += 8;
    if *bytes > MAX_OUTPUT_BYTES {
        return Err(too_much());
    }
    let text = |s: &[u8], bytes: &mut usize| {
        *bytes += s.len();
        String::from_utf8_lossy(s).into_owned()
    };
    let exact = |literal: String| {
        pocket_yaml::json_exact(&literal).map_err(|e| NodeError::fatal_msg(format!("jq: {}: {e}", excerpt(&literal))))
    };
    Ok(match value {
        Val::Null => Value::Null,
        Val::Bool(b) => Value::Bool(*b),
        Val::Num(Num::Int(i)) => Value::from(*i as i64),
        Val::Num(Num::Float(f)) if f.is_nan() => Value::Null,
        Val::Num(Num::Float(f)) if f.is_infinite() => Value::from(if *f > 0.0 { f64::MAX } else { f64::MIN }),
        Val::Num(Num::Float(f)) => serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number),
        Val::Num(Num::BigInt(i)) => exact(i.to_string())?,
        Val::Num(Num::Dec(literal)) => exact(literal.to_string())?,
        Val::TStr(s) | Val::BStr(s) => Value::String(text(s, bytes)),
        Val::Arr(items) => Value::Array(items.iter().map(|item| to_json(item, bytes)).collect::<Result<_, _>>()?),
        Val::Obj(map) => {
            let mut out = serde_json::Map::new();
            for (key, item) in map.iter() {
                let key = match key {
                    Val::TStr(s) | Val::BStr(s) => text(s, bytes),
                    other => {
                        return Err(NodeError::fatal_msg(format!("jq: an object key is not a string: {other}")));
                    }
                };
                out.insert(key, to_json(item, bytes)?);
            }
            Value::Object(out)
        }
    })
}

/// Whether `value` nests deeper than `max` (walked without recursion: it may be very deep).
fn nested_deeper_than(value: &jaq_json::Val, max: usize) -> bool {
    use jaq_json::Val;
    let mut stack = vec![(value, 1usize)];
    while let Some((value, depth)) = stack.pop() {
        match value {
            Val::Arr(items) if !items.is_empty() => {
                if depth >= max {
                    return true;
                }
                stack.extend(items.iter().map(|item| (item, depth + 1)));
            }
            Val::Obj(map) if !map.is_empty() => {
                if depth >= max {
                    return true;
                }
                stack.extend(map.values().map(|item| (item, depth + 1)));
            }
            _ => {}
        }
    }
    false
}

/// Refuse, before the parser sees it, an expression that nests too deep or whose definitions
/// call themselves (directly or through each other): jq evaluates such calls on the stack,
/// and a call that never ends would exhaust it. `recurse`, `reduce`, `until`, `repeat` and
/// `limit` cover what recursive definitions are written for.
fn check(code: &str) -> Result<(), String> {
    let scan = scan(code)?;
    if let Some(cycle) = scan.recursion() {
        return Err(if cycle.len() == 1 {
            format!(
                "the jq definition `{}` calls itself; recursive definitions are refused (they can exhaust the \
                 stack): use `recurse`, `reduce`, `until` or `limit`",
                cycle[0]
            )
        } else {
            format!(
                "the jq definitions {} call each other in a cycle; recursive definitions are refused (they can \
                 exhaust the stack): use `recurse`, `reduce`, `until` or `limit`",
                cycle.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(" → ")
            )
        });
    }
    Ok(())
}

/// What a lexical pass over an expression finds: the definitions and the names each body
/// mentions.
#[derive(Default)]
struct Scan {
    /// Each definition's name and the identifiers its body mentions.
    defs: Vec<(String, HashSet<String>)>,
}

impl Scan {
    /// A cycle of definitions that mention each other, if any (names only: a shadowed name
    /// may be refused too, which is on the safe side).
    fn recursion(&self) -> Option<Vec<String>> {
        let mut calls: HashMap<&str, HashSet<&str>> = HashMap::new();
        for (name, mentions) in &self.defs {
            calls.entry(name).or_default().extend(mentions.iter().map(String::as_str));
        }
        let names: HashSet<&str> = calls.keys().copied().collect();
        // Depth-first search for a back edge, without recursion.
        let mut state: HashMap<&str, u8> = HashMap::new(); // 1: on the path, 2: done
        let mut sorted: Vec<&str> = names.iter().copied().collect();
        sorted.sort_unstable();
        for start in sorted {
            if state.contains_key(start) {
                continue;
            }
            let mut path: Vec<(&str, Vec<&str>)> = Vec::new();
            let next_of = |name: &str| -> Vec<&str> {
                let mut next: Vec<&str> =
                    calls.get(name).into_iter().flatten().copied().filter(|n| names.contains(n)).collect();
                next.sort_unstable();
                next
            };
            state.insert(start, 1);
            path.push((start, next_of(start)));
            while let Some((name, pending)) = path.last_mut() {
                let name = *name;
                match pending.pop() {
                    Some(next) => match state.get(next) {
                        Some(1) => {
                            let from = path.iter().position(|(n, _)| *n == next).unwrap_or(0);
                            return Some(path[from..].iter().map(|(n, _)| n.to_string()).collect());
                        }
                        Some(_) => {}
                        None => {
                            state.insert(next, 1);
                            path.push((next, next_of(next)));
                        }
                    },
                    None => {
                        state.insert(name, 2);
                        path.pop();
                    }
                }
            }
        }
        None
    }
}

/// One lexical pass: nesting depth (strings and comments skipped, string interpolations
/// counted), and each `def`'s name with the identifiers of its body.
fn scan(code: &str) -> Result<Scan, String> {
    #[derive(PartialEq)]
    enum Open {
        Bracket,
        Interpolation,
    }
    struct Def {
        name: String,
        depth: usize,
        pending: usize,
        mentions: HashSet<String>,
    }
    let chars: Vec<char> = code.chars().collect();
    let mut scan = Scan::default();
    let mut open: Vec<Open> = Vec::new();
    let mut in_string = false;
    let mut defs: Vec<Def> = Vec::new();
    let mut expect_def_name = false;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if in_string {
            match c {
                '\\' if chars.get(i + 1) == Some(&'(') => {
                    open.push(Open::Interpolation);
                    in_string = false;
                    i += 2;
                    continue;
                }
                '\\' => i += 1,
                '"' => in_string = false,
                _ => {}
            }
            i += 1;
            continue;
        }
        match c {
            '#' => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            '"' => in_string = true,
            '(' | '[' | '{' => {
                open.push(Open::Bracket);
                if open.len() > MAX_NESTING {
                    return Err(format!("the jq expression nests deeper than {MAX_NESTING} levels"));
                }
            }
            // Closing an interpolation goes back into its string.
            ')' | ']' | '}' => in_string = open.pop() == Some(Open::Interpolation),
            ';' => {
                if let Some(def) = defs.last_mut()
                    && def.depth == open.len()
                {
                    if def.pending > 0 {
                        def.pending -= 1;
                    } else if let Some(def) = defs.pop() {
                        scan.defs.push((def.name, def.mentions));
                    }
                }
            }
            c if c.is_ascii_digit() => {
                while i + 1 < chars.len() && (chars[i + 1].is_ascii_alphanumeric() || chars[i + 1] == '.') {
                    i += 1;
                }
            }
            c if c.is_ascii_alphabetic() || c == '_' => {
                let start = i;
                while i + 1 < chars.len()
                    && (chars[i + 1].is_ascii_alphanumeric()
                        || chars[i + 1] == '_'
                        || (chars[i + 1] == ':' && chars.get(i + 2) == Some(&':')))
                {
                    i += if chars[i + 1] == ':' { 2 } else { 1 };
                }
                let word: String = chars[start..=i].iter().collect();
                let before = chars[..start].iter().rev().find(|c| !c.is_whitespace());
                // `.field`, `$var`, `@format` and `{key: …}` are not calls.
                let after = chars[i + 1..].iter().find(|c| !c.is_whitespace());
                let not_a_call = matches!(before, Some('.' | '$' | '@'))
                    || (after == Some(&':') && !expect_def_name && matches!(before, Some('{' | ',')));
                if expect_def_name {
                    expect_def_name = false;
                    // A definition inside another's body needs its own `;`.
                    if let Some(outer) = defs.last_mut()
                        && outer.depth == open.len()
                    {
                        // Its body counts as the outer body's (names only).
                        outer.pending += 1;
                    } else {
                        defs.push(Def { name: word, depth: open.len(), pending: 0, mentions: HashSet::new() });
                    }
                } else if word == "def" {
                    expect_def_name = true;
                } else if !not_a_call {
                    for def in &mut defs {
                        def.mentions.insert(word.clone());
                    }
                }
            }
            _ => {}
        }
        i += 1;
    }
    Ok(scan)
}

#[cfg(test)]
mod tests {
    use super::check;

    #[test]
    fn a_program_with_only_the_definitions_it_needs_behaves_as_with_all() {
        let input = serde_json::json!({"a": [3, 1, 2], "b": {"c": "x"}, "s": "hello world"});
        for code in [
            ".a | map(. * 2) | sort",
            "[paths]",
            "walk(if type == \"number\" then . + 1 else . end)",
            "[.. | numbers]",
            "@base64 \"\\(.s)\"",
            ".b | to_entries | from_entries",
            "[limit(2; .a[])] | add",
            ".a | min_by(.) , max_by(.)",
            ".s | ascii_upcase | test(\"WORLD\")",
            "[.a[] | select(. > 1)] | length",
            "[.a[] | tostring] | add",
            ".b | with_entries(.value |= ascii_upcase)",
            ".s | [splits(\" \"; null)]",
            "getpath([\"b\", \"c\"])",
            "[range(3)] | join(\",\")",
            "first(.a[]), last(.a[]), (.a | indices(1))",
        ] {
            let small = super::compile_with(code, super::prelude_for(code)).unwrap_or_else(|e| panic!("{code}: {e}"));
            let full = super::compile_with(code, super::PRELUDE.iter().cloned().collect()).unwrap();
            let stop = super::cpu::Stop::default();
            let run = |filter| super::evaluate(filter, input.clone(), &stop).map_err(|e| e.to_string());
            let out = run(&small);
            assert!(out.is_ok(), "{code}: {out:?}");
            assert_eq!(out, run(&full), "{code}");
        }
    }

    #[test]
    fn recursion_and_nesting_are_refused_and_plain_programs_pass() {
        for ok in [
            ".a | map(. + 1)",
            "def inc: . + 1; [.[] | inc]",
            "def f(g): g | g; f(.+1)",
            "{map: 1, def_: 2} | .map",
            r#""\(.a) and \("x(")" | length"#,
            "def outer: def inner: 1; inner + 2; outer",
            "reduce .[] as $x (0; . + $x)",
            "# def f: f;\n.",
            "[limit(3; repeat(1))]",
        ] {
            assert_eq!(check(ok), Ok(()), "{ok}");
        }
        for (bad, says) in [
            ("def f: [f]; f", "`f` calls itself"),
            ("def a: b; def b: a; a", "call each other in a cycle"),
            ("def f: def g: f; g; f", "calls itself"),
        ] {
            let err = check(bad).unwrap_err();
            assert!(err.contains(says), "{bad}: {err}");
        }
        let deep = format!("{}1{}", "(".repeat(20_000), ")".repeat(20_000));
        assert!(check(&deep).unwrap_err().contains("nests deeper than 256 levels"));
    }
}
