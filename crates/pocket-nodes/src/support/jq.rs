//! jq programs (jaq): checked, compiled once per expression, run on an evaluation thread with
//! bounded outputs.
//!
//! What a hostile expression cannot do: crash the process with deep nesting (refused before
//! parsing, [`MAX_NESTING`]) or with a definition that calls itself without end (refused at
//! validate time); end the process with `halt`/`halt_error` (a node error instead); produce
//! unbounded output ([`MAX_OUTPUTS`], [`MAX_OUTPUT_BYTES`], values nested at most
//! [`max_depth`](pocket_yaml::max_depth) deep); hold up a timeout or a cancellation (it runs off the async workers,
//! see [`cpu`](super::cpu)).

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, Mutex, PoisonError, Weak};

use pocket::NodeError;
use serde_json::Value;

use super::cpu;
use super::text::excerpt;

type Data = jaq_core::data::JustLut<jaq_json::Val>;
type Filter = jaq_core::Filter<Data>;

pub(crate) use super::text::MAX_NESTING;
/// A program yields at most this many outputs.
pub(crate) const MAX_OUTPUTS: usize = 1_000_000;
/// A program's outputs take at most this many bytes as JSON, together.
pub(crate) const MAX_OUTPUT_BYTES: usize = 64 << 20;

/// A compiled jq program.
#[derive(Clone)]
pub(crate) struct Jq {
    filter: Arc<Filter>,
    /// The values of its data imports (`import "table" as $table;`), in order.
    data: Arc<[jaq_json::Val]>,
}

/// jq definitions jaq does not have or has otherwise, as jq behaves: the `@csv` and `@tsv`
/// formats; `IN`, `INDEX`, `JOIN`, `trimstr`; `limit`, `skip`, `nth` and `flatten` refuse a
/// negative count; `setpath`, `delpaths` and `pick` go past the end of an array as jq does
/// (padding with null, or leaving it alone); `join` writes null as nothing; `from_entries` takes the key and value
/// spellings jq takes; `tonumber` takes a leading `+`; `mktime` and `strftime` take a short
/// broken-down time; `input` (a node has one input); number literals are kept as written
/// (`have_decnum`), arithmetic is on 64-bit integers or doubles. The standard generators
/// (`range`, `repeat`, `recurse`, `while`, `until`) do not pass the guard: it would cost them
/// 20–55% per step (measured), and they do not grow the stack.
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
def _native_limit($n; f): limit($n; f);
def limit($n; f): if $n < 0 then error("limit doesn't support negative count") else _native_limit($n; f) end;
def _native_skip($n; f): skip($n; f);
def skip($n; f): if $n < 0 then error("skip doesn't support negative count") else _native_skip($n; f) end;
def nth($n; f): if $n < 0 then error("nth doesn't support negative indices") else first(skip($n; f)) end;
def _native_flatten($depth): flatten($depth);
def flatten($depth): if $depth < 0 then error("flatten depth must not be negative") else _native_flatten($depth) end;
def join($sep): if length == 0 then ""
  else [.[] | if . == null then "" elif type == "boolean" or type == "number" then tojson else . end]
    | reduce .[1:][] as $s (.[0] | if type == "string" then . else "" + . end; . + $sep + $s) end;
def from_entries: reduce .[] as $entry ({};
  .[$entry | if .key == null then .k // .name // .Name // .K // .Key else .key end
     | if type == "string" then . else tojson end]
  = ($entry | if has("value") then .value elif has("v") then .v else .Value end));
def setpath($path; $value):
  def step($i): _pocket_guard
    | if $i == ($path | length) then $value
      else $path[$i] as $key
        | if . == null then (if ($key | type) == "string" then {} else [] end) end
        | if type == "object" and ($key | type) != "string" then error("Cannot index object with \($key | type)")
          elif type == "array" and ($key | type) == "string" then error("Cannot index array with string \"\($key)\"")
          elif type == "array" and ($key | type) == "number" and $key >= length
          then . + [range($key - length) | null] + [null | step($i + 1)]
          else .[$key] |= step($i + 1) end
      end;
  step(0);
def _native_delpaths($paths): delpaths($paths);
def _pocket_normalized($path):
  reduce range($path | length) as $i ({at: ., out: []};
    $path[$i] as $key
    | (if ($key | type) == "number" and $key < 0 and (.at | type) == "array" then $key + (.at | length) else $key end) as $key
    | .out += [$key]
    | .at |= (if ($key | type) != "object" and (type == "array" or type == "object") then .[$key]? else null end))
  | .out;
def _pocket_delpath($path):
  def step($i): _pocket_guard
    | $path[$i] as $key
    | if . == null then null
      elif type == "array" and ($key | type) == "number" and ($key >= length or $key < 0) then .
      elif type == "object" and ($key | type) == "string" and (has($key) | not) then .
      elif $i == ($path | length) - 1 then
        if type == "array" and ($key | type) == "object" then .[:($key.start // 0)] + .[($key.end // length):]
        else _native_delpaths([[$key]]) end
      else .[$key] |= step($i + 1) end;
  if ($path | length) == 0 then null else step(0) end;
def delpaths($paths):
  if ($paths | type) != "array" then error("Paths must be specified as an array")
  else . as $value | reduce ([$paths[] as $path | $value | _pocket_normalized($path)] | sort | reverse)[] as $path
    (.; _pocket_delpath($path)) end;
def pick(pathexps): . as $top | reduce path(pathexps) as $path (null; setpath($path; $top | getpath($path)));
def IN(s): any(s == .; .);
def IN(source; s): any(source == s; .);
def INDEX(stream; key): reduce stream as $row ({}; .[$row | key | if type == "string" then . else tojson end] = $row);
def INDEX(key): INDEX(.[]; key);
def JOIN($index; key): [.[] | [., $index[key]]];
def JOIN($index; stream; key): stream | [., $index[key]];
def JOIN($index; stream; key; join): stream | [., $index[key]] | join;
def trimstr($s): ltrimstr($s) | rtrimstr($s);
def _native_tonumber: tonumber;
def tonumber: if type == "string" and startswith("+") and (.[1:2] | . != "-" and . != "+")
  then .[1:] | _native_tonumber else _native_tonumber end;
def _native_mktime: mktime;
def mktime: if type == "array" and length < 8 then . + [range(8 - length) | 0] end | _native_mktime;
def _native_strftime($format): strftime($format);
def strftime($format): if type == "array" and length < 8 then . + [range(8 - length) | 0] end | _native_strftime($format);
def _native_strflocaltime($format): strflocaltime($format);
def strflocaltime($format):
  if type == "array" and length < 8 then . + [range(8 - length) | 0] end | _native_strflocaltime($format);
def have_decnum: true;
def have_literal_numbers: true;
def input: error("No more inputs");
def inputs: empty;
"#;

/// The native filters: jaq's and the guard.
fn natives() -> impl Iterator<Item = jaq_core::native::Fun<Data>> {
    jaq_core::funs().chain(jaq_std::funs()).chain(jaq_json::funs()).chain([guard()])
}

/// The standard library's definitions and ours, parsed once per process; last, `builtins`:
/// what a program can call, as jq lists it (`name/arity`, internal names left out).
static PRELUDE: LazyLock<Vec<jaq_core::load::parse::Def<&'static str>>> = LazyLock::new(|| {
    let own = jaq_core::load::parse(OWN_DEFS, |p| p.defs()).expect("our own jq definitions parse");
    let mut defs: Vec<_> = jaq_core::defs().chain(jaq_std::defs()).chain(jaq_json::defs()).chain(own).collect();
    let mut names: Vec<String> = defs
        .iter()
        .map(|d| (d.name, d.args.len()))
        .chain(natives().map(|(name, args, _)| (name, args.len())))
        .filter(|(name, _)| !name.starts_with('_') && !name.starts_with('@'))
        .map(|(name, arity)| format!("{name}/{arity}"))
        .chain(["builtins/0".to_string()])
        .collect();
    names.sort_unstable();
    names.dedup();
    let list = serde_json::to_string(&names).unwrap_or_default();
    let builtins: &'static str = Box::leak(format!("def builtins: {list};").into_boxed_str());
    defs.extend(jaq_core::load::parse(builtins, |p| p.defs()).expect("the builtins definition parses"));
    defs
});

/// Programs compiled so far, by source: the same expression in many nodes (the tasks of a
/// `parallel` node, the body of a fan-out) is compiled, and held in memory, once.
static COMPILED: LazyLock<Mutex<HashMap<String, Weak<Filter>>>> = LazyLock::new(Default::default);

impl Jq {
    /// Check and compile `code`; its modules and data imports (see
    /// [`jq_modules`](super::jq_modules)) are read from `base`, and refused without one.
    ///
    /// # Errors
    ///
    /// A message saying what is wrong with the expression.
    pub(crate) fn compile(code: &str, base: Option<&Path>) -> Result<Jq, String> {
        let (source, modules) = check(code)?;
        if modules {
            let Some(base) = base else {
                return Err("jq modules (`import`, `include`) are not available here".into());
            };
            // Not cached: the files are read anew.
            let base = base.to_path_buf();
            let (filter, data) = cpu::block_on(move || {
                let files = super::jq_modules::Files::open(&base)?;
                compile_with(&source, PRELUDE.iter().cloned().collect(), Some(&files))
            })??;
            return Ok(Jq { filter: Arc::new(filter), data: data.into() });
        }
        let mut compiled = COMPILED.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(filter) = compiled.get(code).and_then(Weak::upgrade) {
            return Ok(Jq { filter, data: Arc::new([]) });
        }
        // The parser recurses on nesting: give it the evaluation threads' stack.
        let filter = Arc::new(cpu::block_on(move || compile(&source))??);
        if compiled.len() >= 1024 {
            compiled.retain(|_, filter| filter.strong_count() > 0);
        }
        compiled.insert(code.to_string(), Arc::downgrade(&filter));
        Ok(Jq { filter, data: Arc::new([]) })
    }

    /// Run the program over `input`: one output is the result, several a list, none null.
    ///
    /// # Errors
    ///
    /// A fatal [`NodeError`] for a jq error, `halt`, or an output past its limits.
    pub(crate) async fn run(&self, input: &Value) -> Result<Value, NodeError> {
        let (filter, data) = (self.filter.clone(), self.data.clone());
        let input = input.clone();
        cpu::run(move |stop| evaluate(&filter, &data, input, stop)).await?
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
    compile_with(code, prelude_for(code), None)
        .or_else(|_| compile_with(code, PRELUDE.iter().cloned().collect(), None))
        .map(|(filter, _)| filter)
}

/// Compile `code` with `prelude`, reading its imports from `files`; the filter and the values
/// of its data imports.
fn compile_with(
    code: &str,
    prelude: Vec<jaq_core::load::parse::Def<&'static str>>,
    files: Option<&super::jq_modules::Files>,
) -> Result<(Filter, Vec<jaq_json::Val>), String> {
    use jaq_core::load::{Arena, File, Loader};
    let funs = natives();
    let arena = Arena::default();
    let loader = Loader::new(prelude).with_read(|import: jaq_core::load::Import<&str, PathBuf>| match files {
        Some(files) => files.module(import),
        None => Err("jq modules are not available here".into()),
    });
    let modules = loader.load(&arena, File { code, path: PathBuf::new() }).map_err(|errors| {
        let (mut messages, mut imports) = (Vec::new(), Vec::new());
        for (file, error) in errors {
            // A module's own errors name it.
            let place =
                if file.path.as_os_str().is_empty() { String::new() } else { format!(" in {}", file.path.display()) };
            let expected = |expect: &str, at: &str| format!("expected {expect} at `{}`{place}", snippet(at));
            match error {
                jaq_core::load::Error::Io(io) => {
                    imports.extend(io.into_iter().map(|(path, e)| format!("`{path}`: {e}")))
                }
                jaq_core::load::Error::Lex(lex) => {
                    messages.extend(lex.into_iter().map(|(expect, at)| expected(expect.as_str(), at)))
                }
                jaq_core::load::Error::Parse(parse) => {
                    messages.extend(parse.into_iter().map(|(expect, at)| expected(expect.as_str(), at)))
                }
            }
        }
        if messages.is_empty() {
            format!("jq import failed: {}", imports.join("; "))
        } else {
            format!("jq expression does not parse: {}", messages.join("; "))
        }
    })?;
    let mut data = Vec::new();
    if let Some(files) = files {
        jaq_core::load::import(&modules, |import| {
            let value = files.data(import)?;
            data.push(serde_json::from_value(value).map_err(|e| e.to_string())?);
            Ok(())
        })
        .map_err(|errors| {
            let messages: Vec<String> = errors
                .into_iter()
                .flat_map(|(_, error)| match error {
                    jaq_core::load::Error::Io(io) => io.into_iter().map(|(path, e)| format!("{path}: {e}")).collect(),
                    _ => Vec::new(),
                })
                .collect();
            format!("jq data import: {}", messages.join("; "))
        })?;
    }
    let filter = jaq_core::Compiler::default().with_funs(funs).compile(modules).map_err(|errors| {
        let undefined: Vec<String> = errors
            .into_iter()
            .flat_map(|(_, list)| list.into_iter().map(|(name, what)| format!("{} `{name}`", what.as_str())))
            .collect();
        format!("jq expression does not compile: undefined {}", undefined.join(", "))
    })?;
    Ok((filter, data))
}

fn snippet(at: &str) -> String {
    let at = at.trim_start();
    if at.is_empty() { "end of expression".into() } else { at.chars().take(20).collect() }
}

fn evaluate(filter: &Filter, data: &[jaq_json::Val], input: Value, stop: &cpu::Stop) -> Result<Value, NodeError> {
    use jaq_core::{Ctx, Vars};
    let input: jaq_json::Val =
        serde_json::from_value(input).map_err(|e| NodeError::fatal_msg(format!("jq input: {e}")))?;
    let _watching = Watching::start(stop);
    let ctx = Ctx::<Data>::new(&filter.lut, Vars::new(data.iter().cloned()));
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
        // An output nests at most as deep as values are kept everywhere.
        let max = pocket_yaml::max_depth();
        if nested_deeper_than(&out, max) {
            drop_deep(out);
            return Err(NodeError::fatal_msg(format!("jq: an output is nested deeper than {max} levels")));
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
/// against [`MAX_OUTPUT_BYTES`]). The value is known to nest at most
/// [`max_depth`](pocket_yaml::max_depth) deep.
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
        let children: Box<dyn Iterator<Item = &Val>> = match value {
            Val::Arr(items) => Box::new(items.iter()),
            Val::Obj(map) => Box::new(map.values()),
            _ => continue,
        };
        if depth > max {
            return true;
        }
        stack.extend(children.map(|item| (item, depth + 1)));
    }
    false
}

/// Drop a value of any depth without recursion: jaq's values drop recursively, so an output
/// built millions of levels deep (`reduce range(1e7) as $_ ([]; [.])`) would overflow even an
/// evaluation thread's stack when it is refused.
fn drop_deep(value: jaq_json::Val) {
    use jaq_json::{Rc, Val};
    let mut stack = vec![value];
    while let Some(value) = stack.pop() {
        match value {
            // A list or object still shared elsewhere is not dropped here, only released.
            Val::Arr(items) => {
                if let Ok(items) = Rc::try_unwrap(items) {
                    stack.extend(items);
                }
            }
            Val::Obj(map) => {
                if let Ok(map) = Rc::try_unwrap(map) {
                    for (key, item) in map {
                        stack.push(key);
                        stack.push(item);
                    }
                }
            }
            _ => {}
        }
    }
}

/// Check `code` and make it safe to run: refuse, before the parser sees it, an expression that
/// nests too deep; put [`GUARD`] at the start of the body of every definition that can call
/// itself (so that it stops, with a jq error, before it exhausts the stack, and stops when the
/// step is cancelled); give `$__loc__` its value; write out destructuring alternatives (`?//`,
/// see [`jq_alternatives`](super::jq_alternatives)). Returns the code to compile and whether
/// it imports modules.
fn check(code: &str) -> Result<(String, bool), String> {
    let desugared;
    let code = if code.contains("?//") {
        desugared = super::jq_alternatives::desugar(code)?;
        desugared.as_str()
    } else {
        code
    };
    let (edits, modules) = scan(code)?;
    if edits.is_empty() {
        return Ok((code.to_string(), modules));
    }
    let mut out = String::with_capacity(code.len() + 16 * edits.len());
    let mut at = 0;
    for (start, end, text) in edits {
        out.push_str(&code[at..start]);
        out.push_str(&text);
        at = end;
    }
    out.push_str(&code[at..]);
    Ok((out, modules))
}

/// The name of the guard the checked code calls; not a name a program can write (`builtins`
/// does not list it).
const GUARD: &str = "_pocket_guard";

/// Stack the guard keeps free: whatever one cycle of a recursive definition takes between two
/// guards (bounded by [`MAX_NESTING`]) fits in it many times over. (Evaluations run on
/// threads with a [`cpu::STACK`] of 256 MiB.)
const STACK_RESERVE: usize = 1 << 20;

thread_local! {
    /// The stop flag of the evaluation running on this thread.
    static STOP: std::cell::RefCell<Option<cpu::Stop>> = const { std::cell::RefCell::new(None) };
}

/// Why the guard stops an evaluation, if it does.
fn guard_check() -> Result<(), jaq_core::Error<jaq_json::Val>> {
    if STOP.with(|stop| stop.borrow().as_ref().is_some_and(cpu::Stop::requested)) {
        return Err(jaq_core::Error::str("stopped: the step timed out or was cancelled"));
    }
    if stacker::remaining_stack().is_some_and(|left| left < STACK_RESERVE) {
        return Err(jaq_core::Error::str("recursion too deep: the evaluation has used up its stack"));
    }
    Ok(())
}

/// The guard as a jq filter: the identity (also as a path and in updates), or an error.
fn guard() -> jaq_core::native::Fun<Data> {
    use jaq_core::Exn;
    use jaq_core::box_iter::box_once;
    let native = jaq_core::Native::new(|cv| box_once(guard_check().map(|()| cv.1).map_err(Exn::from)))
        .with_paths(|cv| box_once(guard_check().map(|()| cv.1).map_err(Exn::from)))
        .with_update(|cv, f| match guard_check() {
            Ok(()) => f(cv.1),
            Err(e) => box_once(Err(Exn::from(e))),
        });
    (GUARD, Box::new([]), native)
}

/// Sets this thread's stop flag for the guard while an evaluation runs.
struct Watching;

impl Watching {
    fn start(stop: &cpu::Stop) -> Watching {
        STOP.with(|s| *s.borrow_mut() = Some(stop.clone()));
        Watching
    }
}

impl Drop for Watching {
    fn drop(&mut self) {
        STOP.with(|s| *s.borrow_mut() = None);
    }
}

/// The edits [`check`] makes, as byte ranges and their replacements, in order.
type Edits = Vec<(usize, usize, String)>;

/// One lexical pass (strings and comments skipped, string interpolations counted): refuses
/// nesting past [`MAX_NESTING`]; returns the edits [`check`] makes and whether the code
/// imports or includes modules.
fn scan(code: &str) -> Result<(Edits, bool), String> {
    #[derive(PartialEq)]
    enum Open {
        Bracket,
        Interpolation,
    }
    let chars: Vec<(usize, char)> = code.char_indices().collect();
    let byte = |i: usize| chars.get(i).map_or(code.len(), |(b, _)| *b);
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let skip_space = |mut j: usize| {
        while j < chars.len() && chars[j].1.is_whitespace() {
            j += 1;
        }
        j
    };
    /// A definition being read: its name, bracket depth, where its guard would go, and every
    /// name its body (nested definitions' bodies included) mentions.
    struct OpenDef {
        name: String,
        depth: usize,
        at: usize,
        mentions: HashSet<String>,
    }
    let mut defs: Vec<OpenDef> = Vec::new();
    let mut done: Vec<OpenDef> = Vec::new();
    let mut edits = Vec::new();
    let mut modules = false;
    let mut open: Vec<Open> = Vec::new();
    let mut in_string = false;
    let mut line = 1;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i].1;
        if c == '\n' {
            line += 1;
        }
        if in_string {
            match c {
                '\\' if chars.get(i + 1).map(|c| c.1) == Some('(') => {
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
                while i + 1 < chars.len() && chars[i + 1].1 != '\n' {
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
            // A `;` at a definition's own depth ends its body (the innermost such).
            ';' => {
                if let Some(at) = defs.iter().rposition(|d| d.depth == open.len()) {
                    done.push(defs.remove(at));
                }
            }
            '$' if code[byte(i)..].starts_with("$__loc__") && !chars.get(i + 8).is_some_and(|c| ident(c.1)) => {
                let value = format!("{{file: \"<top-level>\", line: {line}}}");
                // `{$__loc__}` is `{__loc__: $__loc__}`.
                let before = chars[..i].iter().rev().map(|c| c.1).find(|c| !c.is_whitespace());
                let after = chars[i + 8..].iter().map(|c| c.1).find(|c| !c.is_whitespace());
                let in_object = open.last() == Some(&Open::Bracket)
                    && matches!(before, Some('{' | ','))
                    && matches!(after, Some('}' | ','));
                edits.push((byte(i), byte(i + 8), if in_object { format!("__loc__: {value}") } else { value }));
                i += 7;
            }
            // jq reads `.5` as a number where a value starts (jaq does not).
            '.' if chars.get(i + 1).is_some_and(|c| c.1.is_ascii_digit())
                && chars[..i].iter().rev().map(|c| c.1).find(|c| !c.is_whitespace()).is_none_or(|c| {
                    matches!(c, '(' | '[' | '{' | ',' | ':' | ';' | '|' | '+' | '-' | '*' | '/' | '%' | '<' | '>' | '=')
                }) =>
            {
                edits.push((byte(i), byte(i), "0".to_string()));
            }
            c if c.is_ascii_digit() => {
                while i + 1 < chars.len() && (chars[i + 1].1.is_ascii_alphanumeric() || chars[i + 1].1 == '.') {
                    i += 1;
                }
            }
            c if c.is_ascii_alphabetic() || c == '_' => {
                let start = i;
                while i + 1 < chars.len() && ident(chars[i + 1].1) {
                    i += 1;
                }
                let word = &code[byte(start)..byte(i + 1)];
                let before = chars[..start].iter().rev().map(|c| c.1).find(|c| !c.is_whitespace());
                // `.field`, `$var`, `@format` and `::name` are not keywords.
                let qualified = start >= 2 && chars[start - 1].1 == ':' && chars[start - 2].1 == ':';
                if matches!(before, Some('.' | '$' | '@')) || qualified {
                    i += 1;
                    continue;
                }
                let next = skip_space(i + 1);
                match word {
                    "import" | "include" if chars.get(next).is_some_and(|c| c.1 == '"') => modules = true,
                    // `def name:` or `def name(params):` — the guard goes after the colon.
                    "def" if chars.get(next).is_some_and(|c| c.1.is_ascii_alphabetic() || c.1 == '_') => {
                        let mut j = next;
                        while j < chars.len() && ident(chars[j].1) {
                            j += 1;
                        }
                        j = skip_space(j);
                        if chars.get(j).is_some_and(|c| c.1 == '(') {
                            while j < chars.len() && chars[j].1 != ')' && chars[j].1 != '"' && chars[j].1 != '#' {
                                j += 1;
                            }
                            j = skip_space(j + 1);
                        }
                        if chars.get(j).is_some_and(|c| c.1 == ':') {
                            let mut end = next;
                            while end < chars.len() && ident(chars[end].1) {
                                end += 1;
                            }
                            let name = code[byte(next)..byte(end)].to_string();
                            defs.push(OpenDef { name, depth: open.len(), at: byte(j + 1), mentions: HashSet::new() });
                            // The name is not a call.
                            i = end;
                            continue;
                        }
                    }
                    word => {
                        for def in &mut defs {
                            def.mentions.insert(word.to_string());
                        }
                    }
                }
            }
            _ => {}
        }
        i += 1;
    }
    done.append(&mut defs);
    // Guard the definitions that can call themselves, directly or through others (by name:
    // a shadowed name may be guarded needlessly, which costs only time). Calls run through a
    // cycle of names, so every unbounded recursion passes a guard.
    let mut calls: HashMap<&str, HashSet<&str>> = HashMap::new();
    for def in &done {
        calls.entry(&def.name).or_default().extend(def.mentions.iter().map(String::as_str));
    }
    let recursive = |start: &str| {
        let mut seen: HashSet<&str> = HashSet::new();
        let mut pending: Vec<&str> = calls.get(start).into_iter().flatten().copied().collect();
        while let Some(name) = pending.pop() {
            if name == start {
                return true;
            }
            if seen.insert(name) {
                pending.extend(calls.get(name).into_iter().flatten().copied());
            }
        }
        false
    };
    for def in &done {
        if recursive(&def.name) {
            edits.push((def.at, def.at, format!(" {GUARD} |")));
        }
    }
    edits.sort_by_key(|edit| edit.0);
    Ok((edits, modules))
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
            let small =
                super::compile_with(code, super::prelude_for(code), None).unwrap_or_else(|e| panic!("{code}: {e}")).0;
            let full = super::compile_with(code, super::PRELUDE.iter().cloned().collect(), None).unwrap().0;
            let stop = super::cpu::Stop::default();
            let run = |filter| super::evaluate(filter, &[], input.clone(), &stop).map_err(|e| e.to_string());
            let out = run(&small);
            assert!(out.is_ok(), "{code}: {out:?}");
            assert_eq!(out, run(&full), "{code}");
        }
    }

    fn eval(code: &str, input: serde_json::Value, stop: &super::cpu::Stop) -> Result<serde_json::Value, String> {
        let jq = super::Jq::compile(code, None)?;
        super::cpu::block_on({
            let stop = stop.clone();
            move || super::evaluate(&jq.filter, &jq.data, input, &stop).map_err(|e| e.to_string())
        })?
    }

    #[test]
    fn recursive_definitions_run_and_stop_with_an_error_before_the_stack_ends() {
        let stop = super::cpu::Stop::default();
        let fac = "def fac: if . <= 1 then 1 else . * (. - 1 | fac) end; [.[] | fac]";
        assert_eq!(eval(fac, serde_json::json!([1, 5, 10]), &stop), Ok(serde_json::json!([1, 120, 3628800])));
        // Recursion with a filter argument, a nested definition, a parameter named like its definition.
        let code = "def f(g): def down: . - 1; if . > 0 then down | f(g) else g end; [.[] | f(. + 100)]";
        assert_eq!(eval(code, serde_json::json!([0, 3, 10]), &stop), Ok(serde_json::json!([100, 100, 100])));
        assert_eq!(eval("def f(f): f + 1; f(2)", serde_json::json!(null), &stop), Ok(serde_json::json!(3)));
        // Without end: a jq error (catchable), not a crashed process.
        let err = eval("def f: 1 + f; f", serde_json::json!(null), &stop).unwrap_err();
        assert!(err.contains("recursion too deep"), "{err}");
        assert_eq!(
            eval("def f: [f]; try f catch \"caught\"", serde_json::json!(null), &stop),
            Ok(serde_json::json!("caught"))
        );
    }

    #[test]
    fn only_definitions_that_can_call_themselves_are_guarded() {
        let guarded = |code: &str| check(code).unwrap().0.matches(super::GUARD).count();
        assert_eq!(guarded("def inc: . + 1; def twice(f): f | f; [.[] | twice(inc)]"), 0);
        assert_eq!(guarded("def f: [f]; f"), 1);
        assert_eq!(guarded("def f: def g: [g]; g; f"), 1);
        assert_eq!(guarded("def a: b; def b: c; def c: a; def d: 1; a"), 3);
        assert_eq!(guarded("def f(g): def h: f(h); h; 1"), 2);
    }

    #[test]
    fn a_stopped_evaluation_ends_in_a_definition_that_loops() {
        let stop = super::cpu::Stop::default();
        stop.request();
        for code in ["def f: f; f", "def f: ., f; [f] | length", "def f(g): g | f(g); 1 | f(. + 1)"] {
            let err = eval(code, serde_json::json!(0), &stop).unwrap_err();
            assert!(err.contains("stopped"), "{code}: {err}");
        }
    }

    #[test]
    fn deep_nesting_is_refused_and_loc_is_known() {
        let stop = super::cpu::Stop::default();
        for ok in ["{map: 1, def_: 2} | .map", r#""\(.a) and \("x(")" | length"#, "# def f: f;\n.", ".import"] {
            assert!(eval(ok, serde_json::json!({"a": 1}), &stop).is_ok(), "{ok}");
        }
        // Without a directory to read them from, imports are refused.
        for bad in [r#"import "a" as a; ."#, r#"include "b"; ."#, r#"import "data" as $d; $d"#] {
            assert!(eval(bad, serde_json::json!(null), &stop).unwrap_err().contains("jq modules"), "{bad}");
        }
        assert_eq!(
            eval("1 as $x |\n$__loc__", serde_json::json!(null), &stop),
            Ok(serde_json::json!({"file": "<top-level>", "line": 2}))
        );
        let deep = format!("{}1{}", "(".repeat(20_000), ")".repeat(20_000));
        assert!(check(&deep).unwrap_err().contains("nests deeper than 256 levels"));
    }
}
