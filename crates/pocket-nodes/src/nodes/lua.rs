//! The `lua` node type: a sandboxed Lua 5.4 script over the input, with a time limit that
//! stops runaway scripts and a memory limit.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use mlua::{HookTriggers, Lua, LuaOptions, StdLib, VmState};
use pocket::{Next, NodeError, Store};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::{Behaviour, StepFuture};
use crate::kind::{BuildCx, Built, Category, ConfigError, NodeKind};
use crate::support::cpu::Stop;
use crate::support::time::go_duration;

/// `lua` config: exactly one of `script` and `file`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct LuaConfig {
    /// The script. The input is the global `input` (a JSON `null` is `nil`, or `json_null`
    /// inside a list); `return value` sets the output and `return value, "action"` also the next action (no
    /// return: the input passes through).
    #[serde(default)]
    script: Option<String>,
    /// A file holding the script, relative to the workflow file.
    #[serde(default)]
    file: Option<String>,
    /// The sandbox (no `io`, no `os.execute`/`os.remove`/..., no `require`, no loading of
    /// bytecode) cannot be turned off: `false` is refused.
    #[serde(default = "yes")]
    sandbox: bool,
    /// How long the script may run (a Go duration, default 5s); a script still running then
    /// is stopped.
    #[serde(default, deserialize_with = "crate::support::de::opt_duration")]
    #[schemars(with = "Option<String>")]
    timeout: Option<Duration>,
    /// The most memory the script may allocate, in MiB (default 64).
    #[serde(default, deserialize_with = "crate::support::de::opt_count")]
    #[schemars(with = "Option<u64>")]
    memory_limit_mb: Option<u64>,
}

fn yes() -> bool {
    true
}

/// The node: its script, shared with the blocking thread that runs it.
#[derive(Clone)]
pub(crate) struct LuaNode(Arc<Script>);

struct Script {
    name: String,
    source: String,
    timeout: Duration,
    memory: usize,
}

impl NodeKind for LuaNode {
    const TYPE: &'static str = "lua";
    const CATEGORY: Category = Category::Script;
    const DESCRIPTION: &'static str = "Runs a sandboxed Lua 5.4 script on its input (global `input`); its return value is the output, and an optional second value the action.";
    type Config = LuaConfig;

    fn example() -> Value {
        json!({"script": "local score = #input.text / 10\nif score > 1 then return {score = score}, \"long\" end\nreturn {score = score}", "timeout": "1s"})
    }

    fn build(config: LuaConfig, cx: &BuildCx<'_>) -> Result<Built, ConfigError> {
        let spec = cx.spec();
        if !config.sandbox {
            return Err(ConfigError::field(
                "sandbox",
                "cannot be turned off; use an `exec` node (with its allow-list) for system access",
            ));
        }
        let (field, source) = spec.inline_or_file(("script", config.script), ("file", config.file))?;
        // Syntax errors are found now, not when the workflow runs.
        let lua = Lua::new_with(StdLib::NONE, LuaOptions::default()).map_err(|e| ConfigError::whole(e.to_string()))?;
        lua.load(source.as_str())
            .set_name(format!("={}", spec.name))
            .into_function()
            .map_err(|e| ConfigError::field(field, lua_message(&e)))?;
        let memory = config.memory_limit_mb.unwrap_or(64).saturating_mul(1024 * 1024);
        Ok(super::built(LuaNode(Arc::new(Script {
            name: spec.name.to_string(),
            source,
            timeout: config.timeout.unwrap_or(Duration::from_secs(5)),
            memory: usize::try_from(memory).unwrap_or(usize::MAX),
        }))))
    }
}

fn lua_message(e: &mlua::Error) -> String {
    match e {
        mlua::Error::CallbackError { cause, .. } => lua_message(cause),
        other => other.to_string().lines().next().unwrap_or_default().to_string(),
    }
}

/// A fresh sandboxed state: base (without file loading), string, table, math, utf8, and `os`
/// reduced to its clock functions.
fn sandbox(lua: &Lua) -> mlua::Result<()> {
    let globals = lua.globals();
    for name in ["dofile", "loadfile", "require", "collectgarbage"] {
        globals.set(name, mlua::Nil)?;
    }
    // `load` of text only: no precompiled bytecode.
    let load: mlua::Function = globals.get("load")?;
    let text_only = lua.create_function(
        move |_, (chunk, name, _mode, env): (mlua::Value, Option<String>, Option<String>, mlua::Value)| {
            load.call::<mlua::MultiValue>((chunk, name, "t", env))
        },
    )?;
    globals.set("load", text_only)?;
    let os: mlua::Table = globals.get("os")?;
    let safe = lua.create_table()?;
    for name in ["time", "date", "clock", "difftime"] {
        safe.set(name, os.get::<mlua::Value>(name)?)?;
    }
    globals.set("os", safe)?;
    // Finalizers (`__gc`) run inside the garbage collector, where the time limit's hook is
    // off: a metatable with one is refused. (A `__gc` added to a metatable later is never
    // called: Lua marks an object for finalization only when its metatable is set.)
    let set_metatable: mlua::Function = globals.get("setmetatable")?;
    globals.set(
        "setmetatable",
        lua.create_function(move |_, (table, meta): (mlua::Value, mlua::Value)| {
            if let mlua::Value::Table(meta) = &meta
                && !meta.raw_get::<mlua::Value>("__gc")?.is_nil()
            {
                return Err(mlua::Error::runtime(
                    "setmetatable: finalizers (`__gc`) are not available (they would run outside the time limit)",
                ));
            }
            set_metatable.call::<mlua::Value>((table, meta))
        })?,
    )?;
    Ok(())
}

/// The most values one conversion of a Lua value to JSON makes: a table used many times (a
/// deep structure of shared tables) is copied for each use, which can grow without end.
const MAX_VALUES: usize = 1_000_000;

/// Bytes the script may still allocate: helpers that build their result outside Lua check
/// it against this first.
fn room(lua: &Lua, limit: usize) -> usize {
    limit.saturating_sub(lua.used_memory())
}

fn too_big(helper: &str, bytes: usize) -> mlua::Error {
    mlua::Error::runtime(format!("{helper}: the result (about {bytes} bytes) would exceed the script's memory limit"))
}

/// The helpers the original offers scripts.
fn helpers(lua: &Lua, array_mt: &mlua::Table, limit: usize) -> mlua::Result<()> {
    let globals = lua.globals();
    let mt = array_mt.clone();
    globals.set(
        "json_encode",
        lua.create_function(move |lua, value: mlua::Value| match to_json(&value, 0, &mut { MAX_VALUES }) {
            Ok(json) => {
                let text = json.to_string();
                if text.len() > room(lua, limit) {
                    return Err(too_big("json_encode", text.len()));
                }
                Ok((Some(text), None))
            }
            Err(e) => Ok((None, Some(e))),
        })?,
    )?;
    globals.set(
        "json_decode",
        lua.create_function(move |lua, text: String| {
            // The parsed value lives outside Lua for a moment: about 16 bytes per byte of text
            // at worst (`[1,1,1,…]`).
            if text.len().saturating_mul(16) > room(lua, limit) {
                return Err(too_big("json_decode", text.len().saturating_mul(16)));
            }
            match pocket_yaml::json_exact(&text) {
                Ok(json) => Ok((to_lua(lua, &json, &mt)?, None)),
                Err(e) => Ok((mlua::Nil, Some(e.to_string()))),
            }
        })?,
    )?;
    globals.set("json_null", mlua::Value::NULL)?;
    globals.set(
        "type_of",
        lua.create_function(|_, value: mlua::Value| {
            Ok(if value == mlua::Value::NULL { "null".to_string() } else { value.type_name().to_string() })
        })?,
    )?;
    globals.set(
        "str_split",
        lua.create_function(move |lua, (s, sep): (String, Option<String>)| {
            let sep = sep.filter(|s| !s.is_empty()).unwrap_or_else(|| " ".into());
            // Each piece costs a string and a table slot besides its bytes.
            let bytes = s.len().saturating_add(s.matches(sep.as_str()).count().saturating_add(1).saturating_mul(64));
            if bytes > room(lua, limit) {
                return Err(too_big("str_split", bytes));
            }
            Ok(s.split(sep.as_str()).map(str::to_string).collect::<Vec<_>>())
        })?,
    )?;
    globals.set("str_trim", lua.create_function(|_, s: String| Ok(s.trim().to_string()))?)?;
    globals.set("str_contains", lua.create_function(|_, (s, sub): (String, String)| Ok(s.contains(&sub)))?)?;
    globals.set(
        "str_replace",
        lua.create_function(move |lua, (s, old, new, n): (String, String, String, Option<usize>)| {
            // Sized before it is built: a short string with many matches can grow a lot.
            let found = if old.is_empty() { s.chars().count() + 1 } else { s.matches(old.as_str()).count() };
            let found = n.map_or(found, |n| n.min(found));
            let bytes = s.len().saturating_add(found.saturating_mul(new.len()));
            if bytes > room(lua, limit) {
                return Err(too_big("str_replace", bytes));
            }
            Ok(match n {
                Some(n) => s.replacen(&old, &new, n),
                None => s.replace(&old, &new),
            })
        })?,
    )?;
    Ok(())
}

/// JSON to Lua: lists become sequences (marked, so an empty list stays a list), maps tables,
/// integers integers. `null` is `nil` (as in the original: `if input.x then` is false for a
/// null `x`), except inside a list, where it is the sentinel `json_null` so that the elements
/// keep their places.
fn to_lua(lua: &Lua, value: &Value, array_mt: &mlua::Table) -> mlua::Result<mlua::Value> {
    Ok(match value {
        Value::Null => mlua::Nil,
        Value::Bool(b) => mlua::Value::Boolean(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => mlua::Value::Integer(i),
            None => mlua::Value::Number(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(s) => mlua::Value::String(lua.create_string(s)?),
        Value::Array(items) => {
            let table = lua.create_table_with_capacity(items.len(), 0)?;
            for (i, item) in items.iter().enumerate() {
                let item = if item.is_null() { mlua::Value::NULL } else { to_lua(lua, item, array_mt)? };
                table.raw_set(i + 1, item)?;
            }
            table.set_metatable(Some(array_mt.clone()))?;
            mlua::Value::Table(table)
        }
        Value::Object(map) => {
            let table = lua.create_table_with_capacity(0, map.len())?;
            for (k, v) in map {
                table.raw_set(k.as_str(), to_lua(lua, v, array_mt)?)?;
            }
            mlua::Value::Table(table)
        }
    })
}

/// Lua to JSON: a table whose keys are exactly 1..n is a list, any other a map (string or
/// number keys); integers stay integers.
fn to_json(value: &mlua::Value, depth: usize, budget: &mut usize) -> Result<Value, String> {
    let max = pocket_yaml::max_depth();
    if depth > max {
        return Err(format!("the value nests more than {max} levels (a table that contains itself?)"));
    }
    if *budget == 0 {
        return Err(format!(
            "the value has more than {MAX_VALUES} parts (a table used in many places is copied for each use)"
        ));
    }
    *budget -= 1;
    Ok(match value {
        mlua::Value::Nil => Value::Null,
        mlua::Value::LightUserData(p) if p.0.is_null() => Value::Null,
        mlua::Value::Boolean(b) => Value::Bool(*b),
        mlua::Value::Integer(i) => Value::from(*i),
        mlua::Value::Number(f) => {
            serde_json::Number::from_f64(*f).map(Value::Number).ok_or_else(|| format!("{f} has no JSON form"))?
        }
        mlua::Value::String(s) => Value::String(s.to_string_lossy()),
        mlua::Value::Table(table) => {
            let marked = table.metatable().is_some_and(|mt| mt.raw_get::<bool>("__pocket_array").unwrap_or(false));
            let len = table.raw_len();
            let pairs: Vec<(mlua::Value, mlua::Value)> = table
                .clone()
                .pairs::<mlua::Value, mlua::Value>()
                .collect::<Result<_, _>>()
                .map_err(|e| e.to_string())?;
            let is_sequence = (marked || len > 0) && pairs.len() == len;
            if is_sequence {
                let mut items = Vec::with_capacity(len);
                for i in 1..=len {
                    items.push(to_json(
                        &table.raw_get::<mlua::Value>(i).map_err(|e| e.to_string())?,
                        depth + 1,
                        budget,
                    )?);
                }
                Value::Array(items)
            } else {
                let mut map = Map::new();
                for (k, v) in pairs {
                    let key = match k {
                        mlua::Value::String(s) => s.to_string_lossy(),
                        mlua::Value::Integer(i) => i.to_string(),
                        mlua::Value::Number(f) => f.to_string(),
                        other => return Err(format!("a table key of type {} has no JSON form", other.type_name())),
                    };
                    map.insert(key, to_json(&v, depth + 1, budget)?);
                }
                // A Lua table has no key order (its iteration order changes from run to run):
                // objects made from one come out with their keys sorted, the same every time.
                map.sort_keys();
                Value::Object(map)
            }
        }
        other => return Err(format!("a {} has no JSON form", other.type_name())),
    })
}

impl Script {
    fn run(&self, input: &Value, stop: &Stop) -> Result<Value, NodeError> {
        let fail = |e: mlua::Error| NodeError::fatal_msg(format!("lua: {}", lua_message(&e)));
        let libs = StdLib::STRING | StdLib::TABLE | StdLib::MATH | StdLib::UTF8 | StdLib::OS;
        let lua = Lua::new_with(libs, LuaOptions::default()).map_err(fail)?;
        lua.set_memory_limit(self.memory).map_err(fail)?;
        sandbox(&lua).map_err(fail)?;
        let array_mt = lua.create_table().map_err(fail)?;
        array_mt.raw_set("__pocket_array", true).map_err(fail)?;
        helpers(&lua, &array_mt, self.memory).map_err(fail)?;
        let name = self.name.clone();
        lua.globals()
            .set(
                "print",
                lua.create_function(move |_, args: mlua::Variadic<mlua::Value>| {
                    let text: Vec<String> = args.iter().map(|v| v.to_string().unwrap_or_default()).collect();
                    tracing::info!(node = %name, "lua: {}", text.join("\t"));
                    Ok(())
                })
                .map_err(fail)?,
            )
            .map_err(fail)?;
        lua.globals().set("input", to_lua(&lua, input, &array_mt).map_err(fail)?).map_err(fail)?;

        let deadline = Instant::now() + self.timeout;
        let stop = stop.clone();
        let timed_out = Arc::new(AtomicBool::new(false));
        let flag = timed_out.clone();
        lua.set_hook(HookTriggers::new().every_nth_instruction(1_000), move |_, _| {
            if stop.requested() {
                return Err(mlua::Error::runtime("cancelled"));
            }
            if Instant::now() >= deadline {
                flag.store(true, Ordering::Relaxed);
                return Err(mlua::Error::runtime("time limit reached"));
            }
            Ok(VmState::Continue)
        })
        .map_err(fail)?;

        // Run under `xpcall`, whose handler turns an error value that is a table
        // (`error({code = 1})`) into its JSON text, so the message shows it.
        let chunk = lua.load(&*self.source).set_name(format!("={}", self.name)).into_function().map_err(fail)?;
        let handler = lua
            .create_function(|lua, error: mlua::Value| {
                Ok(match &error {
                    mlua::Value::Table(_) => match to_json(&error, 0, &mut { MAX_VALUES }) {
                        Ok(json) => mlua::Value::String(lua.create_string(json.to_string())?),
                        Err(_) => error,
                    },
                    _ => error,
                })
            })
            .map_err(fail)?;
        let xpcall: mlua::Function = lua.globals().get("xpcall").map_err(fail)?;
        let result = xpcall.call::<mlua::MultiValue>((chunk, handler)).and_then(|values| {
            let mut values = values.into_iter();
            match values.next() {
                Some(mlua::Value::Boolean(true)) => Ok(values.collect::<mlua::MultiValue>()),
                _ => Err(match values.next() {
                    Some(mlua::Value::Error(error)) => *error,
                    Some(mlua::Value::String(text)) if text.to_string_lossy() == "not enough memory" => {
                        mlua::Error::MemoryError(text.to_string_lossy())
                    }
                    Some(mlua::Value::String(text)) => mlua::Error::RuntimeError(text.to_string_lossy()),
                    Some(other) => mlua::Error::RuntimeError(other.to_string().unwrap_or_default()),
                    None => mlua::Error::RuntimeError("the script failed".into()),
                }),
            }
        });
        let values = match result {
            Ok(values) => values,
            Err(_) if timed_out.load(Ordering::Relaxed) => {
                return Err(NodeError::fatal_msg(format!(
                    "lua: the script ran longer than {} and was stopped",
                    go_duration(self.timeout)
                )));
            }
            Err(mlua::Error::MemoryError(_)) => {
                return Err(NodeError::fatal_msg(format!(
                    "lua: the script used more than {} MiB and was stopped",
                    self.memory / (1024 * 1024)
                )));
            }
            Err(e) => return Err(fail(e)),
        };
        let mut values = values.into_iter();
        let output = match values.next() {
            None => input.clone(),
            Some(value) => to_json(&value, 0, &mut { MAX_VALUES })
                .map_err(|e| NodeError::fatal_msg(format!("lua: the result: {e}")))?,
        };
        let action = match values.next() {
            None | Some(mlua::Value::Nil) => Value::Null,
            Some(mlua::Value::String(s)) => Value::String(s.to_string_lossy()),
            Some(other) => {
                return Err(NodeError::fatal_msg(format!(
                    "lua: the second return value (the action) must be a string, not a {}",
                    other.type_name()
                )));
            }
        };
        Ok(json!({"output": output, "action": action}))
    }
}

impl Behaviour for LuaNode {
    fn exec<'a>(&'a self, input: &'a Value) -> StepFuture<'a> {
        // On an evaluation thread: the step ends at its timeout even while the script is
        // inside one long C call (a pattern match over a huge string), which the instruction
        // hook cannot interrupt.
        let script = self.0.clone();
        let input = input.clone();
        Box::pin(async move {
            let timeout = script.timeout;
            let ran =
                tokio::time::timeout(timeout, crate::support::cpu::run(move |stop| script.run(&input, stop))).await;
            match ran {
                Ok(result) => result?,
                Err(_) => Err(NodeError::fatal_msg(format!(
                    "lua: the script ran longer than {} and was stopped",
                    go_duration(timeout)
                ))),
            }
        })
    }

    fn post(&self, _: &Store, _: Value, exec: Value) -> Result<(Value, Next), NodeError> {
        let next = match exec["action"].as_str() {
            Some(action) if !action.is_empty() => Next::to(action.to_string()),
            _ => Next::Default,
        };
        let mut exec = exec;
        Ok((exec["output"].take(), next))
    }
}
