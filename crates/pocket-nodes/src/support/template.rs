//! Go `text/template` templates over JSON values, with the helpers the original's docs promise.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use gotmpl::Value as Tv;
use serde_json::Value;

use super::cpu::Stop;
use super::gofmt;

/// The helper every printing action ends in (a name no template can write): it prints the
/// value as Go's `fmt` does.
const PRINT: &str = " print";

/// The helper a field given arguments becomes (`{{.a.b $x}}`, `{{$x | .a.b}}`): JSON has no
/// methods, so in Go that is an error — unless the field's receiver is missing, which gives
/// no value. (The crate refuses every such command.)
const FIELD_WITH_ARGS: &str = " field with args";

/// A template that failed to parse or to render.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TemplateError(String);

/// A parsed Go `text/template` template, rendered against JSON data.
///
/// The syntax is Go's (`{{.name}}`, `{{.a.b}}`, `{{index .list 0}}`, `{{if}}`/`{{else}}`,
/// `{{range}}`, `{{with}}`, variables, pipelines, `printf`, `len`, `and`/`or`/`not`), a missing
/// map key renders as `<no value>` like the original, and a call to an unknown function is a
/// parse error, as in Go.
///
/// Two things differ from Go, on purpose:
/// - **Comparisons** (`eq ne lt le gt ge`) compare any two numbers by value. JSON numbers were
///   always `float64` in the original, so `{{gt .score 0.8}}` worked whatever the score; here
///   integers stay integers, and mixed comparisons keep that behaviour.
/// - **Helpers** (sprig's argument order, so they read well in pipelines):
///   `contains NEEDLE HAYSTACK` (substring, list element or map key), `hasPrefix PREFIX S`,
///   `hasSuffix SUFFIX S`, `lower S`, `upper S`, `trim S`, `replace OLD NEW S`,
///   `split SEP S`, `join SEP LIST`, `json V` (compact JSON text; `toJson` is an alias),
///   `fromJson TEXT`, `default FALLBACK V` (`V` unless it is empty: missing, null, false, 0, "",
///   an empty list or map), `now` (RFC 3339, UTC).
///
/// ```
/// use pocket_nodes::Template;
/// use serde_json::json;
///
/// let t = Template::parse("greeting", "Hi {{.name | upper}}{{if gt .score 0.8}} (top){{end}}").unwrap();
/// assert_eq!(t.render(&json!({"name": "ada", "score": 1})).unwrap(), "Hi ADA (top)");
/// assert_eq!(Template::parse("t", "{{.missing}}").unwrap().render(&json!({})).unwrap(), "<no value>");
/// assert!(Template::parse("t", "{{nosuch .x}}").is_err());
/// ```
#[derive(Clone)]
pub struct Template {
    inner: Arc<gotmpl::Template>,
    /// The main tree's name among the trees, when it has actions.
    main: Option<String>,
    source: Arc<str>,
}

impl fmt::Debug for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Template").field("source", &self.source).finish()
    }
}

impl Template {
    /// Parse `source`; `name` appears in error messages.
    ///
    /// # Errors
    ///
    /// The parse error, with line and column, or the first call to an unknown function.
    pub fn parse(name: &str, source: &str) -> Result<Self, TemplateError> {
        let helpers = helpers();
        check_blocks(name, source)?;
        let parsed = gotmpl::Template::new(name)
            .max_range_iters(Self::MAX_RANGE_ITERATIONS)
            .funcs(helpers.clone())
            .parse(source)
            .map_err(|e| TemplateError(e.to_string()))?;
        // gotmpl resolves functions and variables when it runs; Go refuses unknown ones when
        // parsing.
        if let Ok((body, defines)) =
            gotmpl::parse::Parser::new(source, "{{", "}}").and_then(gotmpl::parse::Parser::parse)
        {
            let found = Checker::template(&helpers, &body.nodes)
                .or_else(|| defines.iter().find_map(|d| Checker::template(&helpers, &d.body.nodes)));
            if let Some((line, message)) = found {
                return Err(TemplateError(format!("template: {name}:{line}: {message}")));
            }
        }
        // Every action that prints ends in PRINT, so that values print as Go prints them; a
        // field given arguments is a call of FIELD_WITH_ARGS.
        let mut parsed = parsed;
        for tree_name in parsed.templates().into_iter().map(str::to_string).collect::<Vec<_>>() {
            if let Some(tree) = parsed.lookup(&tree_name).cloned() {
                parsed = parsed.add_parse_tree(&tree_name, printing(tree));
            }
        }
        // A main tree of only text and definitions is not among them (nothing in it prints).
        let main = parsed.lookup(name).is_some().then(|| name.to_string());
        Ok(Template { inner: Arc::new(parsed), main, source: source.into() })
    }

    /// The template's text.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Render with `data` as dot.
    ///
    /// # Errors
    ///
    /// What Go's `Execute` reports: a field of a non-map, a bad comparison, a failing helper.
    /// The output is at most [`Template::MAX_OUTPUT`] bytes and `{{range}}` runs at most
    /// [`Template::MAX_RANGE_ITERATIONS`] times in all; past either, rendering fails.
    pub fn render(&self, data: &Value) -> Result<String, TemplateError> {
        self.render_until(data, None)
    }

    /// The most a rendering may write.
    pub const MAX_OUTPUT: usize = 16 << 20;

    /// The most `{{range}}` iterations of one rendering (all ranges together).
    pub const MAX_RANGE_ITERATIONS: u64 = 1_000_000;

    /// [`render`](Self::render), stopping early (with an error) once `stop` is set.
    pub(crate) fn render_until(&self, data: &Value, stop: Option<&Stop>) -> Result<String, TemplateError> {
        let mut out = Capped { bytes: Vec::new(), full: false, stop };
        let data = to_template_value(data);
        let rendered = match &self.main {
            Some(main) => self.inner.execute_template(&mut out, main, &data),
            None => self.inner.execute(&mut out, &data),
        };
        if out.full {
            return Err(TemplateError(format!(
                "template: the output exceeds {}",
                super::de::show_bytes(Self::MAX_OUTPUT as u64)
            )));
        }
        if stop.is_some_and(Stop::requested) {
            return Err(TemplateError("template: stopped".into()));
        }
        rendered.map_err(|e| TemplateError(e.to_string()))?;
        String::from_utf8(out.bytes).map_err(|e| TemplateError(format!("template: the output is not UTF-8: {e}")))
    }
}

/// `tree` with PRINT at the end of every action that prints (not those that assign), and
/// every field given arguments made a call of FIELD_WITH_ARGS.
fn printing(mut tree: gotmpl::parse::ListNode) -> gotmpl::parse::ListNode {
    use gotmpl::parse::{CommandNode, Expr, Node};
    fn walk(nodes: &mut [Node]) {
        for node in nodes {
            match node {
                Node::List(list) => walk(&mut list.nodes),
                Node::Action(action) => {
                    fields_with_args(&mut action.pipe);
                    if action.pipe.decl.is_empty() {
                        let pos = action.pos;
                        action.pipe.commands.push(CommandNode { pos, args: vec![Expr::Identifier(pos, PRINT.into())] });
                    }
                }
                Node::If(branch) | Node::Range(branch) | Node::With(branch) => {
                    fields_with_args(&mut branch.pipe);
                    walk(&mut branch.body.nodes);
                    if let Some(otherwise) = &mut branch.else_body {
                        walk(&mut otherwise.nodes);
                    }
                }
                Node::Template(template) => {
                    if let Some(pipe) = &mut template.pipe {
                        fields_with_args(pipe);
                    }
                }
                Node::Define(define) => walk(&mut define.body.nodes),
                _ => {}
            }
        }
    }
    walk(&mut tree.nodes);
    tree
}

/// In `pipe` (and the pipelines inside it), each command that gives a field arguments — its
/// own, or the value piped into it — becomes `FIELD_WITH_ARGS receiver "name" args…`.
fn fields_with_args(pipe: &mut gotmpl::parse::PipeNode) {
    use gotmpl::parse::Expr;
    for (i, command) in pipe.commands.iter_mut().enumerate() {
        for arg in &mut command.args {
            let mut arg = arg;
            while let Expr::Chain(_, inner, _) = arg {
                arg = &mut **inner;
            }
            if let Expr::Pipe(_, inner) = arg {
                fields_with_args(inner);
            }
        }
        let given = command.args.len() > 1 || i > 0;
        // The receiver, the field's name, and whether the receiver is itself a field (only a
        // missing field gives no value; a null dot or variable is Go's nil pointer error).
        let split = match command.args.first() {
            Some(Expr::Field(pos, fields)) if given => fields.split_last().map(|(name, rest)| {
                let receiver = if rest.is_empty() { Expr::Dot(*pos) } else { Expr::Field(*pos, rest.to_vec()) };
                (*pos, receiver, name.clone(), !rest.is_empty())
            }),
            Some(Expr::Variable(pos, var, fields)) if given => fields.split_last().map(|(name, rest)| {
                (*pos, Expr::Variable(*pos, var.clone(), rest.to_vec()), name.clone(), !rest.is_empty())
            }),
            Some(Expr::Chain(pos, inner, fields)) if given && !matches!(**inner, Expr::Identifier(..)) => {
                fields.split_last().map(|(name, rest)| {
                    let receiver = if rest.is_empty() {
                        (**inner).clone()
                    } else {
                        Expr::Chain(*pos, inner.clone(), rest.to_vec())
                    };
                    (*pos, receiver, name.clone(), !rest.is_empty())
                })
            }
            _ => None,
        };
        if let Some((pos, receiver, name, is_field)) = split {
            let rest = command.args.split_off(1);
            command.args = vec![
                Expr::Identifier(pos, FIELD_WITH_ARGS.into()),
                receiver,
                Expr::String(pos, Arc::from(name.as_str())),
                Expr::Bool(pos, is_field),
            ];
            command.args.extend(rest);
        }
    }
}

/// Where a rendering writes: at most [`Template::MAX_OUTPUT`] bytes, and each write is a
/// chance to notice that the step has gone.
struct Capped<'a> {
    bytes: Vec<u8>,
    full: bool,
    stop: Option<&'a Stop>,
}

impl std::io::Write for Capped<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.stop.is_some_and(Stop::requested) {
            return Err(std::io::Error::other("stopped"));
        }
        if self.bytes.len() + buf.len() > Template::MAX_OUTPUT {
            self.full = true;
            return Err(std::io::Error::other("the output is too large"));
        }
        self.bytes.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Go refuses a block left open (`{{if .x}}...` without `{{end}}`) and an `{{end}}` or
/// `{{else}}` outside a block; gotmpl accepts both, so the actions are checked here.
fn check_blocks(name: &str, source: &str) -> Result<(), TemplateError> {
    let mut open: Vec<(&str, usize)> = Vec::new();
    let mut rest = source;
    let mut offset = 0;
    let line_at = |at: usize| source[..at].matches('\n').count() + 1;
    while let Some(start) = rest.find("{{") {
        let body_start = start + 2;
        let Some(len) = action_len(&rest[body_start..]) else { break };
        let body = &rest[body_start..body_start + len];
        let at = offset + start;
        let body = body.strip_prefix('-').unwrap_or(body);
        let body = body.strip_suffix('-').unwrap_or(body).trim();
        if !body.starts_with("/*") {
            let word = body.split(|c: char| c.is_whitespace() || c == '(').next().unwrap_or("");
            match word {
                "if" | "range" | "with" | "define" | "block" => open.push((word, at)),
                "end" => {
                    open.pop().ok_or_else(|| {
                        TemplateError(format!("template: {name}:{}: unexpected {{{{end}}}}", line_at(at)))
                    })?;
                }
                "else" if open.last().is_none_or(|(w, _)| matches!(*w, "define" | "block")) => {
                    return Err(TemplateError(format!("template: {name}:{}: unexpected {{{{else}}}}", line_at(at))));
                }
                _ => {}
            }
        }
        let consumed = body_start + len + 2;
        offset += consumed;
        rest = &rest[consumed..];
    }
    match open.last() {
        None => Ok(()),
        Some((word, at)) => Err(TemplateError(format!(
            "template: {name}:{}: unexpected EOF: {{{{{word}}}}} is never closed with {{{{end}}}}",
            line_at(*at)
        ))),
    }
}

/// The length of an action's body up to its `}}`, skipping quoted strings.
fn action_len(body: &str) -> Option<usize> {
    let bytes = body.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'"' | b'`' | b'\'' => {
                let quote = bytes[i];
                i += 1;
                while i < bytes.len() && bytes[i] != quote {
                    if bytes[i] == b'\\' && quote != b'`' {
                        i += 1;
                    }
                    i += 1;
                }
            }
            b'}' if bytes.get(i + 1) == Some(&b'}') => return Some(i),
            _ => {}
        }
        i += 1;
    }
    None
}

/// Whether `source` contains template actions (texts without `{{` are used as they are).
pub(crate) fn is_templated(source: &str) -> bool {
    source.contains("{{")
}

/// JSON to template data: integers stay integers, objects become maps (missing keys render as
/// `<no value>`).
pub(crate) fn to_template_value(value: &Value) -> Tv {
    match value {
        Value::Null => Tv::Nil,
        Value::Bool(b) => Tv::Bool(*b),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Tv::Int(i)
            } else if let Some(u) = n.as_u64() {
                Tv::Uint(u)
            } else {
                Tv::Float(n.as_f64().unwrap_or(f64::NAN))
            }
        }
        Value::String(s) => Tv::String(s.as_str().into()),
        Value::Array(items) => Tv::List(items.iter().map(to_template_value).collect()),
        Value::Object(map) => {
            Tv::Map(Arc::new(map.iter().map(|(k, v)| (Arc::from(k.as_str()), to_template_value(v))).collect()))
        }
    }
}

/// Template data back to JSON (for `json` and for values helpers return).
fn to_json(value: &Tv) -> Value {
    match value {
        Tv::Nil => Value::Null,
        Tv::Bool(b) => Value::Bool(*b),
        Tv::Int(i) => Value::from(*i),
        Tv::Uint(u) => Value::from(*u),
        Tv::Float(f) => serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number),
        Tv::String(s) => Value::String(s.to_string()),
        Tv::List(items) => Value::Array(items.iter().map(to_json).collect()),
        Tv::Map(map) => Value::Object(map.iter().map(|(k, v)| (k.to_string(), to_json(v))).collect()),
        other => Value::String(other.to_string()),
    }
}

/// The checks Go's parser makes and gotmpl leaves to execution (which may never reach them:
/// `{{if false}}{{$nope}}{{end}}`): calls to unknown functions, variables used or assigned
/// before they are declared (a variable lives to the `{{end}}` of the control structure that
/// declares it, as in Go), and `{{break}}`/`{{continue}}` outside the body of a `{{range}}`.
/// The first problem, as Go words it (`undefined variable "$x"`), with its line.
struct Checker<'f> {
    funcs: &'f gotmpl::FuncMap,
    vars: Vec<gotmpl::parse::SmolStr>,
    range_depth: usize,
    problem: Option<(usize, String)>,
}

impl<'f> Checker<'f> {
    /// Check one template body (the main one or a `{{define}}`d one: each starts with only `$`).
    fn template(funcs: &'f gotmpl::FuncMap, nodes: &[gotmpl::parse::Node]) -> Option<(usize, String)> {
        let mut checker = Checker { funcs, vars: vec!["$".into()], range_depth: 0, problem: None };
        checker.nodes(nodes);
        checker.problem
    }

    fn fail(&mut self, line: usize, message: String) {
        if self.problem.is_none() {
            self.problem = Some((line, message));
        }
    }

    fn nodes(&mut self, nodes: &[gotmpl::parse::Node]) {
        use gotmpl::parse::Node;
        for node in nodes {
            if self.problem.is_some() {
                return;
            }
            match node {
                Node::List(list) => self.nodes(&list.nodes),
                Node::Action(action) => self.pipe(&action.pipe),
                Node::If(branch) | Node::With(branch) => self.control(branch, false),
                Node::Range(branch) => self.control(branch, true),
                Node::Template(template) => {
                    if let Some(pipe) = &template.pipe {
                        self.pipe(pipe);
                    }
                }
                Node::Define(define) => {
                    let found = Checker::template(self.funcs, &define.body.nodes);
                    if let Some((line, message)) = found {
                        self.fail(line, message);
                    }
                }
                Node::Break(pos) if self.range_depth == 0 => self.fail(pos.line, "{{break}} outside {{range}}".into()),
                Node::Continue(pos) if self.range_depth == 0 => {
                    self.fail(pos.line, "{{continue}} outside {{range}}".into());
                }
                _ => {}
            }
        }
    }

    /// `if`, `with`, `range`: what the pipeline declares is seen up to the `{{end}}`; only the
    /// body of a `range` (not its `else`) is inside the loop.
    fn control(&mut self, branch: &gotmpl::parse::BranchNode, is_range: bool) {
        let outer = self.vars.len();
        self.pipe(&branch.pipe);
        self.range_depth += usize::from(is_range);
        self.nodes(&branch.body.nodes);
        self.range_depth -= usize::from(is_range);
        if let Some(otherwise) = &branch.else_body {
            self.nodes(&otherwise.nodes);
        }
        self.vars.truncate(outer);
    }

    fn pipe(&mut self, pipe: &gotmpl::parse::PipeNode) {
        if pipe.is_assign {
            for name in &pipe.decl {
                self.variable(pipe.pos.line, name);
            }
        }
        for command in &pipe.commands {
            for arg in &command.args {
                self.expr(arg);
            }
        }
        if !pipe.is_assign {
            self.vars.extend(pipe.decl.iter().cloned());
        }
    }

    fn variable(&mut self, line: usize, name: &str) {
        if !self.vars.iter().any(|v| v == name) {
            self.fail(line, format!("undefined variable \"{name}\""));
        }
    }

    fn expr(&mut self, expr: &gotmpl::parse::Expr) {
        use gotmpl::parse::Expr;
        match expr {
            Expr::Identifier(pos, name)
                if !self.funcs.contains_key(name.as_str()) && !BUILTINS.contains(&name.as_str()) =>
            {
                self.fail(pos.line, format!("function \"{name}\" not defined"));
            }
            Expr::Variable(pos, name, _) => self.variable(pos.line, name),
            Expr::Pipe(_, pipe) => self.pipe(pipe),
            Expr::Chain(_, inner, _) => self.expr(inner),
            _ => {}
        }
    }
}

/// Go's built-in template functions (gotmpl's set).
const BUILTINS: &[&str] = &[
    "and", "or", "not", "len", "index", "slice", "print", "printf", "println", "call", "html", "js", "urlquery", "eq",
    "ne", "lt", "le", "gt", "ge",
];

type HelperResult = gotmpl::Result<Tv>;

fn err(message: impl Into<String>) -> gotmpl::TemplateError {
    gotmpl::TemplateError::Exec(message.into())
}

fn string_arg<'a>(func: &str, args: &'a [Tv], index: usize) -> gotmpl::Result<&'a str> {
    match args.get(index) {
        Some(Tv::String(s)) => Ok(s),
        Some(other) => Err(err(format!("{func}: argument {} must be a string, not {}", index + 1, kind(other)))),
        None => Err(err(format!("{func}: missing argument {}", index + 1))),
    }
}

fn arity(func: &str, args: &[Tv], n: usize) -> gotmpl::Result<()> {
    if args.len() == n {
        Ok(())
    } else {
        Err(err(format!("wrong number of args for {func}: want {n} got {}", args.len())))
    }
}

fn kind(value: &Tv) -> &'static str {
    match value {
        Tv::Nil => "nil",
        Tv::Bool(_) => "bool",
        Tv::Int(_) | Tv::Uint(_) => "int",
        Tv::Float(_) => "float64",
        Tv::String(_) => "string",
        Tv::List(_) => "list",
        Tv::Map(_) => "map",
        _ => "function",
    }
}

fn number(value: &Tv) -> Option<f64> {
    match value {
        #[allow(clippy::cast_precision_loss)]
        Tv::Int(i) => Some(*i as f64),
        #[allow(clippy::cast_precision_loss)]
        Tv::Uint(u) => Some(*u as f64),
        Tv::Float(f) => Some(*f),
        _ => None,
    }
}

/// Compare two basic values: numbers by value, strings lexically, bools by equality only.
fn compare(func: &str, a: &Tv, b: &Tv) -> gotmpl::Result<Option<std::cmp::Ordering>> {
    match (a, b) {
        (Tv::Int(x), Tv::Int(y)) => Ok(Some(x.cmp(y))),
        (Tv::Uint(x), Tv::Uint(y)) => Ok(Some(x.cmp(y))),
        (Tv::Int(x), Tv::Uint(y)) => Ok(Some(i128::from(*x).cmp(&i128::from(*y)))),
        (Tv::Uint(x), Tv::Int(y)) => Ok(Some(i128::from(*x).cmp(&i128::from(*y)))),
        (Tv::String(x), Tv::String(y)) => Ok(Some(x.cmp(y))),
        (Tv::Bool(x), Tv::Bool(y)) if func == "eq" || func == "ne" => Ok(Some(x.cmp(y))),
        (Tv::Nil, Tv::Nil) if func == "eq" || func == "ne" => Ok(Some(std::cmp::Ordering::Equal)),
        // A missing or null operand is unequal to any value, as in Go (`eq` false, `ne` true),
        // so `{{if ne .status "done"}}` with no `status` takes the `if` branch.
        (Tv::Nil, _) | (_, Tv::Nil) if func == "eq" || func == "ne" => Ok(None),
        _ => match (number(a), number(b)) {
            (Some(x), Some(y)) => Ok(x.partial_cmp(&y)),
            _ => Err(err(format!("incompatible types for comparison: {} and {}", kind(a), kind(b)))),
        },
    }
}

fn comparison(name: &'static str, test: fn(std::cmp::Ordering) -> bool) -> gotmpl::ValueFunc {
    Arc::new(move |args: &[Tv]| -> HelperResult {
        if name == "eq" {
            // eq ARG1 ARG2 ARG3...: true if ARG1 equals any of the others.
            if args.len() < 2 {
                return Err(err("wrong number of args for eq: want at least 2"));
            }
            for other in &args[1..] {
                if compare(name, &args[0], other)? == Some(std::cmp::Ordering::Equal) {
                    return Ok(Tv::Bool(true));
                }
            }
            return Ok(Tv::Bool(false));
        }
        arity(name, args, 2)?;
        let order = compare(name, &args[0], &args[1])?;
        Ok(Tv::Bool(if name == "ne" { order.is_none_or(test) } else { order.is_some_and(test) }))
    })
}

fn is_empty(value: &Tv) -> bool {
    match value {
        Tv::Nil => true,
        Tv::Bool(b) => !b,
        Tv::Int(i) => *i == 0,
        Tv::Uint(u) => *u == 0,
        Tv::Float(f) => *f == 0.0,
        Tv::String(s) => s.is_empty(),
        Tv::List(l) => l.is_empty(),
        Tv::Map(m) => m.is_empty(),
        _ => false,
    }
}

/// An escaper over its arguments' text as Go's `evalArgs` makes it: one string as it is (a
/// missing value as `<no value>`), otherwise `fmt.Sprint` of them all.
fn escaper(name: &'static str, escape: fn(&str) -> String) -> gotmpl::ValueFunc {
    Arc::new(move |args: &[Tv]| -> HelperResult {
        let text = match args {
            [] => return Err(err(format!("wrong number of args for {name}: want at least 1 got 0"))),
            [one] => gofmt::action(one),
            many => gofmt::sprint(many),
        };
        Ok(Tv::String(Arc::from(escape(&text))))
    })
}

fn string_fn(name: &'static str, f: fn(&str) -> String) -> gotmpl::ValueFunc {
    Arc::new(move |args: &[Tv]| -> HelperResult {
        arity(name, args, 1)?;
        Ok(Tv::String(f(string_arg(name, args, 0)?).into()))
    })
}

fn helpers() -> gotmpl::FuncMap {
    let mut map: BTreeMap<String, gotmpl::ValueFunc> = BTreeMap::new();
    map.insert("eq".into(), comparison("eq", |o| o.is_eq()));
    map.insert("ne".into(), comparison("ne", |o| o.is_ne()));
    map.insert("lt".into(), comparison("lt", |o| o.is_lt()));
    map.insert("le".into(), comparison("le", |o| o.is_le()));
    map.insert("gt".into(), comparison("gt", |o| o.is_gt()));
    map.insert("ge".into(), comparison("ge", |o| o.is_ge()));
    map.insert(
        "contains".into(),
        Arc::new(|args: &[Tv]| -> HelperResult {
            arity("contains", args, 2)?;
            let found = match (&args[0], &args[1]) {
                (Tv::String(needle), Tv::String(hay)) => hay.contains(&**needle),
                (needle, Tv::List(items)) => {
                    items.iter().any(|item| compare("eq", needle, item).ok().flatten().is_some_and(|o| o.is_eq()))
                }
                (Tv::String(key), Tv::Map(map)) => map.contains_key(&**key),
                (Tv::Nil, _) | (_, Tv::Nil) => false,
                (needle, hay) => {
                    return Err(err(format!("contains: cannot look for {} in {}", kind(needle), kind(hay))));
                }
            };
            Ok(Tv::Bool(found))
        }),
    );
    map.insert(
        "hasPrefix".into(),
        Arc::new(|args: &[Tv]| -> HelperResult {
            arity("hasPrefix", args, 2)?;
            Ok(Tv::Bool(string_arg("hasPrefix", args, 1)?.starts_with(string_arg("hasPrefix", args, 0)?)))
        }),
    );
    map.insert(
        "hasSuffix".into(),
        Arc::new(|args: &[Tv]| -> HelperResult {
            arity("hasSuffix", args, 2)?;
            Ok(Tv::Bool(string_arg("hasSuffix", args, 1)?.ends_with(string_arg("hasSuffix", args, 0)?)))
        }),
    );
    // Go's `index x` with no index returns x; the crate's wants at least one.
    map.insert(
        "index".into(),
        Arc::new(|args: &[Tv]| -> HelperResult {
            let Some((first, indexes)) = args.split_first() else {
                return Err(err("wrong number of args for index: want at least 1 got 0"));
            };
            indexes.iter().try_fold(first.clone(), |value, index| value.index(index))
        }),
    );
    // Go's fmt, for what the crate prints with Rust's formatting.
    map.insert("print".into(), Arc::new(|args: &[Tv]| -> HelperResult { Ok(Tv::String(gofmt::sprint(args).into())) }));
    map.insert(
        "println".into(),
        Arc::new(|args: &[Tv]| -> HelperResult { Ok(Tv::String(gofmt::sprintln(args).into())) }),
    );
    map.insert(
        "printf".into(),
        Arc::new(|args: &[Tv]| -> HelperResult {
            let Some((Tv::String(format), rest)) = args.split_first() else {
                return Err(err("printf: the first argument must be a format string"));
            };
            Ok(Tv::String(gofmt::sprintf(format, rest).into()))
        }),
    );
    map.insert(
        PRINT.into(),
        Arc::new(|args: &[Tv]| -> HelperResult {
            Ok(match args.first() {
                // The crate prints these as Go does: no copy.
                None => Tv::Nil,
                Some(value @ (Tv::Nil | Tv::Bool(_) | Tv::Int(_) | Tv::Uint(_) | Tv::String(_))) => value.clone(),
                Some(value) => Tv::String(gofmt::action(value).into()),
            })
        }),
    );
    map.insert(
        FIELD_WITH_ARGS.into(),
        Arc::new(|args: &[Tv]| -> HelperResult {
            match args {
                // Go: a missing field (here also a null one) gives no value.
                [Tv::Nil, _, Tv::Bool(true), ..] => Ok(Tv::Nil),
                [Tv::Nil, Tv::String(name), ..] => Err(err(format!("nil pointer evaluating interface {{}}.{name}"))),
                [Tv::Map(_), Tv::String(name), ..] => Err(err(format!("{name} is not a method but has arguments"))),
                [other, Tv::String(name), ..] => {
                    Err(err(format!("can't evaluate field {name} in type {}", gofmt::type_name(other))))
                }
                _ => Err(err("a field given arguments")),
            }
        }),
    );
    // Go's escapers take any number of arguments, joined as `fmt.Sprint` joins them.
    map.insert("html".into(), escaper("html", gotmpl::html_escape));
    map.insert("js".into(), escaper("js", gotmpl::js_escape));
    map.insert("urlquery".into(), escaper("urlquery", gotmpl::url_encode));
    map.insert("lower".into(), string_fn("lower", str::to_lowercase));
    map.insert("upper".into(), string_fn("upper", str::to_uppercase));
    map.insert("trim".into(), string_fn("trim", |s| s.trim().to_string()));
    map.insert(
        "replace".into(),
        Arc::new(|args: &[Tv]| -> HelperResult {
            arity("replace", args, 3)?;
            let (old, new, s) =
                (string_arg("replace", args, 0)?, string_arg("replace", args, 1)?, string_arg("replace", args, 2)?);
            Ok(Tv::String(s.replace(old, new).into()))
        }),
    );
    map.insert(
        "split".into(),
        Arc::new(|args: &[Tv]| -> HelperResult {
            arity("split", args, 2)?;
            let (sep, s) = (string_arg("split", args, 0)?, string_arg("split", args, 1)?);
            Ok(Tv::List(s.split(sep).map(|part| Tv::String(part.into())).collect()))
        }),
    );
    map.insert(
        "join".into(),
        Arc::new(|args: &[Tv]| -> HelperResult {
            arity("join", args, 2)?;
            let sep = string_arg("join", args, 0)?;
            match &args[1] {
                Tv::List(items) => Ok(Tv::String(
                    items
                        .iter()
                        .map(|item| gofmt::sprint(std::slice::from_ref(item)))
                        .collect::<Vec<_>>()
                        .join(sep)
                        .into(),
                )),
                other => Err(err(format!("join: argument 2 must be a list, not {}", kind(other)))),
            }
        }),
    );
    let json: gotmpl::ValueFunc = Arc::new(|args: &[Tv]| -> HelperResult {
        arity("json", args, 1)?;
        Ok(Tv::String(to_json(&args[0]).to_string().into()))
    });
    map.insert("json".into(), json.clone());
    map.insert("toJson".into(), json);
    map.insert(
        "fromJson".into(),
        Arc::new(|args: &[Tv]| -> HelperResult {
            arity("fromJson", args, 1)?;
            let text = string_arg("fromJson", args, 0)?;
            let value = pocket_yaml::json_exact(text).map_err(|e| err(format!("fromJson: {e}")))?;
            Ok(to_template_value(&value))
        }),
    );
    map.insert(
        "default".into(),
        Arc::new(|args: &[Tv]| -> HelperResult {
            match args {
                [fallback] => Ok(fallback.clone()),
                [fallback, value] => Ok(if is_empty(value) { fallback.clone() } else { value.clone() }),
                _ => Err(err(format!("wrong number of args for default: want 1 or 2 got {}", args.len()))),
            }
        }),
    );
    map.insert(
        "now".into(),
        Arc::new(|args: &[Tv]| -> HelperResult {
            arity("now", args, 0)?;
            Ok(Tv::String(crate::support::time::now_rfc3339().into()))
        }),
    );
    map
}
