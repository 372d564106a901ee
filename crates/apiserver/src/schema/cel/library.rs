//! The functions a rule may call, and the cost meter that stops a rule
//! before it can hold a request thread for long.
//!
//! `cel-interpreter` evaluates operators inline and has no notion of cost,
//! so [`super::compile`] renames the operators whose CEL semantics it gets
//! wrong or that can loop (`_[_]`, `_&&_`, `_||_`, `_+_`, `_==_`, `_!=_`,
//! `@in`, and every comprehension's range) to the functions here. Every
//! function charges the meter: one unit per call plus one per ten elements
//! or characters it walks, roughly as cel-go charges. A rule whose charge
//! passes kube's per-call limit stops with kube's error.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use cel_interpreter::objects::{Key, Map};
use cel_interpreter::{Context, ExecutionError, FunctionContext, Value};

use super::super::regex_go::GoRegex;

/// kube's per-call cost limit (`celconfig.PerCallLimit`).
pub(crate) const PER_CALL_LIMIT: u64 = 1_000_000;

/// What a cancelled evaluation reports, in cel-go's words; kube looks for
/// this prefix.
pub(crate) const COST_EXCEEDED: &str = "operation cancelled: actual cost limit exceeded";

/// The function name carried by the cost error, so it can be told apart.
pub(crate) const COST_FN: &str = "@@cost";

/// The internal names the rewritten operators call.
pub(crate) const INDEX: &str = "@@index";
pub(crate) const AND: &str = "@@and";
pub(crate) const OR: &str = "@@or";
pub(crate) const ADD: &str = "@@add";
pub(crate) const EQ: &str = "@@eq";
pub(crate) const NE: &str = "@@ne";
pub(crate) const IN: &str = "@@in";
pub(crate) const RANGE: &str = "@@range";

/// The functions registered here (beside the operators). Calls to them
/// get padding arguments (see [`super::rewrite`]) so that the interpreter
/// leaves the evaluation of every argument to them.
pub(crate) const OURS: &[&str] = &[
    "dyn",
    "size",
    "contains",
    "startsWith",
    "endsWith",
    "matches",
    "lowerAscii",
    "upperAscii",
    "trim",
    "split",
    "join",
    "replace",
    "substring",
    "charAt",
    "indexOf",
    "lastIndexOf",
    "isSorted",
    "sum",
    "min",
    "max",
    "none",
    "of",
    "hasValue",
    "value",
    "orValue",
];

/// The name of the optional value's marker (`Value::Function` with this
/// name and the value, or no value for `optional.none()`).
const OPTIONAL: &str = "optional";

/// cel-go's wording for a call whose arguments fit no overload.
pub(crate) const NO_OVERLOAD: &str = "no such overload";

thread_local! {
    static COST: Cell<u64> = const { Cell::new(0) };
    static REGEXES: RefCell<HashMap<String, Option<GoRegex>>> = RefCell::new(HashMap::new());
}

/// Sets the meter to zero before a rule runs.
pub(crate) fn reset_cost() {
    COST.with(|c| c.set(0));
}

/// What the rule that just ran cost.
pub(crate) fn cost() -> u64 {
    COST.with(Cell::get)
}

/// Charges `units` and fails once the rule is over the limit.
fn charge(units: u64) -> Result<(), ExecutionError> {
    let total = COST.with(|c| {
        let t = c.get().saturating_add(units);
        c.set(t);
        t
    });
    if total > PER_CALL_LIMIT {
        return Err(ExecutionError::function_error(COST_FN, COST_EXCEEDED));
    }
    Ok(())
}

/// One unit plus a tenth of `n`, as cel-go charges for walking `n` things.
fn charge_walk(n: usize) -> Result<(), ExecutionError> {
    charge(1 + (n as u64) / 10)
}

type R = Result<Value, ExecutionError>;

fn no_overload(ftx: &FunctionContext) -> ExecutionError {
    ExecutionError::function_error(ftx.name.as_str(), NO_OVERLOAD)
}

fn err(ftx: &FunctionContext, msg: impl ToString) -> ExecutionError {
    ExecutionError::function_error(ftx.name.as_str(), msg)
}

/// The receiver and the arguments, evaluated: `x.f(a)` and `f(x, a)` alike.
fn operands(ftx: &FunctionContext) -> Result<Vec<Value>, ExecutionError> {
    let mut out = Vec::with_capacity(ftx.args.len() + 1);
    if let Some(this) = &ftx.this {
        out.push(this.clone());
    }
    for a in ftx.args.iter().filter(|a| !is_padding(a)) {
        out.push(Value::resolve(a, ftx.ptx)?);
    }
    Ok(out)
}

/// The receiver and exactly `n - 1` arguments.
fn exactly(ftx: &FunctionContext, n: usize) -> Result<Vec<Value>, ExecutionError> {
    let ops = operands(ftx)?;
    if ops.len() != n {
        return Err(no_overload(ftx));
    }
    Ok(ops)
}

/// The interpreter evaluates the first argument of every one- and
/// two-argument call before it looks at the function, and again when the
/// function asks for it: twice per level, so a chain of `&&` would cost
/// exponential time, and an error on the left of `||` would win over a
/// `true` on the right. Calls to the functions here are padded to three
/// arguments, which the interpreter hands over untouched.
pub(crate) fn is_padding(e: &cel_parser::ast::IdedExpr) -> bool {
    matches!(e.expr, cel_parser::ast::Expr::Unspecified)
}

fn size_of(v: &Value) -> usize {
    match v {
        Value::List(l) => l.len(),
        Value::Map(m) => m.map.len(),
        Value::String(s) => s.len(),
        Value::Bytes(b) => b.len(),
        _ => 1,
    }
}

/// The shared context with every function registered. Each evaluation
/// opens a child scope of it for `self` and `oldSelf`.
pub(crate) fn base() -> &'static Context<'static> {
    static BASE: OnceLock<Context<'static>> = OnceLock::new();
    BASE.get_or_init(|| {
        let mut ctx = Context::default();
        ctx.add_variable_from_value(OPTIONAL, Value::String(Arc::new(OPTIONAL.to_string())));
        ctx.add_function(INDEX, index);
        ctx.add_function(AND, and);
        ctx.add_function(OR, or);
        ctx.add_function(ADD, add);
        ctx.add_function(EQ, |ftx: &FunctionContext| equal(ftx, true));
        ctx.add_function(NE, |ftx: &FunctionContext| equal(ftx, false));
        ctx.add_function(IN, in_op);
        ctx.add_function(RANGE, range);
        ctx.add_function(
            "dyn",
            |ftx: &FunctionContext| Ok(exactly(ftx, 1)?.remove(0)),
        );
        ctx.add_function("size", size);
        ctx.add_function("contains", |ftx: &FunctionContext| {
            strings2(ftx, |a, b| Value::Bool(a.contains(b)))
        });
        ctx.add_function("startsWith", |ftx: &FunctionContext| {
            strings2(ftx, |a, b| Value::Bool(a.starts_with(b)))
        });
        ctx.add_function("endsWith", |ftx: &FunctionContext| {
            strings2(ftx, |a, b| Value::Bool(a.ends_with(b)))
        });
        ctx.add_function("matches", matches);
        ctx.add_function("lowerAscii", |ftx: &FunctionContext| {
            string1(ftx, |s| s.to_ascii_lowercase())
        });
        ctx.add_function("upperAscii", |ftx: &FunctionContext| {
            string1(ftx, |s| s.to_ascii_uppercase())
        });
        ctx.add_function("trim", |ftx: &FunctionContext| {
            string1(ftx, |s| s.trim().to_string())
        });
        ctx.add_function("split", split);
        ctx.add_function("join", join);
        ctx.add_function("replace", replace);
        ctx.add_function("substring", substring);
        ctx.add_function("charAt", char_at);
        ctx.add_function("indexOf", |ftx: &FunctionContext| index_of(ftx, false));
        ctx.add_function("lastIndexOf", |ftx: &FunctionContext| index_of(ftx, true));
        ctx.add_function("isSorted", is_sorted);
        ctx.add_function("sum", sum);
        ctx.add_function("min", |ftx: &FunctionContext| extreme(ftx, true));
        ctx.add_function("max", |ftx: &FunctionContext| extreme(ftx, false));
        ctx.add_function("none", |ftx: &FunctionContext| {
            let ops = exactly(ftx, 1)?;
            optional_namespace(ftx, &ops[0])?;
            Ok(Value::Function(Arc::new(OPTIONAL.to_string()), None))
        });
        ctx.add_function("of", |ftx: &FunctionContext| {
            let mut ops = exactly(ftx, 2)?;
            optional_namespace(ftx, &ops[0])?;
            Ok(optional_of(ops.remove(1)))
        });
        ctx.add_function("hasValue", |ftx: &FunctionContext| {
            let ops = exactly(ftx, 1)?;
            Ok(Value::Bool(as_optional(ftx, &ops[0])?.is_some()))
        });
        ctx.add_function("value", |ftx: &FunctionContext| {
            let ops = exactly(ftx, 1)?;
            as_optional(ftx, &ops[0])?
                .cloned()
                .ok_or_else(|| err(ftx, "optional.none() dereference"))
        });
        ctx.add_function("orValue", |ftx: &FunctionContext| {
            let mut ops = exactly(ftx, 2)?;
            let alt = ops.remove(1);
            Ok(as_optional(ftx, &ops[0])?.cloned().unwrap_or(alt))
        });
        ctx
    })
}

/// Wraps `v` as `optional.of(v)`.
pub(crate) fn optional_of(v: Value) -> Value {
    Value::Function(Arc::new(OPTIONAL.to_string()), Some(Box::new(v)))
}

/// `optional.none()`.
pub(crate) fn optional_none() -> Value {
    Value::Function(Arc::new(OPTIONAL.to_string()), None)
}

fn optional_namespace(ftx: &FunctionContext, v: &Value) -> Result<(), ExecutionError> {
    match v {
        Value::String(s) if s.as_str() == OPTIONAL => Ok(()),
        _ => Err(no_overload(ftx)),
    }
}

fn as_optional<'v>(
    ftx: &FunctionContext,
    v: &'v Value,
) -> Result<Option<&'v Value>, ExecutionError> {
    match v {
        Value::Function(name, inner) if name.as_str() == OPTIONAL => Ok(inner.as_deref()),
        _ => Err(no_overload(ftx)),
    }
}

fn index(ftx: &FunctionContext) -> R {
    charge(1)?;
    let ops = exactly(ftx, 2)?;
    match (&ops[0], &ops[1]) {
        (Value::List(l), Value::Int(i)) => usize::try_from(*i)
            .ok()
            .and_then(|u| l.get(u))
            .cloned()
            .ok_or_else(|| err(ftx, format!("index out of bounds: {i}"))),
        (Value::List(l), Value::UInt(i)) => usize::try_from(*i)
            .ok()
            .and_then(|u| l.get(u))
            .cloned()
            .ok_or_else(|| err(ftx, format!("index out of bounds: {i}"))),
        (Value::Map(m), k) => {
            let key: Key = k.clone().try_into().map_err(|_| no_overload(ftx))?;
            m.get(&key)
                .cloned()
                .ok_or_else(|| ExecutionError::NoSuchKey(Arc::new(key.to_string())))
        }
        _ => Err(no_overload(ftx)),
    }
}

/// CEL's logical operators are commutative over errors: `false && error`
/// and `error && false` are both false.
fn logic(ftx: &FunctionContext, is_and: bool) -> R {
    charge(1)?;
    if ftx.args.iter().filter(|a| !is_padding(a)).count() != 2 {
        return Err(no_overload(ftx));
    }
    let decisive = !is_and;
    let left = Value::resolve(&ftx.args[0], ftx.ptx);
    if let Ok(Value::Bool(b)) = &left
        && *b == decisive
    {
        return Ok(Value::Bool(decisive));
    }
    let right = Value::resolve(&ftx.args[1], ftx.ptx);
    match (left, right) {
        (Ok(Value::Bool(_)), Ok(Value::Bool(b))) => Ok(Value::Bool(b)),
        (_, Ok(Value::Bool(b))) if b == decisive => Ok(Value::Bool(decisive)),
        (Err(e), _) => Err(e),
        (_, Err(e)) => Err(e),
        _ => Err(no_overload(ftx)),
    }
}

fn and(ftx: &FunctionContext) -> R {
    logic(ftx, true)
}

fn or(ftx: &FunctionContext) -> R {
    logic(ftx, false)
}

fn add(ftx: &FunctionContext) -> R {
    let mut ops = exactly(ftx, 2)?;
    let r = ops.remove(1);
    let l = ops.remove(0);
    match (&l, &r) {
        // The interpreter copies the left list on every append, so a
        // `map` or `filter` over n items does n²/2 copies; a hundredth of
        // a unit per element keeps a loop over a few thousand items
        // within the limit (kube charges about one unit per item there)
        // while a loop over a huge list still stops in time.
        (Value::List(a), Value::List(b)) => charge(1 + (a.len() + b.len()) as u64 / 100)?,
        (Value::String(a), Value::String(b)) => charge_walk(a.len() + b.len())?,
        (Value::Map(_), _) | (_, Value::Map(_)) => return Err(no_overload(ftx)),
        _ => charge(1)?,
    }
    (l + r).map_err(|e| match e {
        ExecutionError::UnsupportedBinaryOperator(..) => no_overload(ftx),
        other => other,
    })
}

fn equal(ftx: &FunctionContext, want: bool) -> R {
    let ops = exactly(ftx, 2)?;
    charge_walk(size_of(&ops[0]).min(size_of(&ops[1])))?;
    Ok(Value::Bool((ops[0] == ops[1]) == want))
}

fn in_op(ftx: &FunctionContext) -> R {
    let ops = exactly(ftx, 2)?;
    match &ops[1] {
        Value::List(l) => {
            charge_walk(l.len())?;
            Ok(Value::Bool(l.contains(&ops[0])))
        }
        Value::Map(m) => {
            charge(1)?;
            let key: Result<Key, _> = ops[0].clone().try_into();
            Ok(Value::Bool(key.is_ok_and(|k| m.get(&k).is_some())))
        }
        _ => Err(no_overload(ftx)),
    }
}

/// A comprehension's range must be a list or a map; the interpreter
/// cannot iterate anything else.
fn range(ftx: &FunctionContext) -> R {
    charge(1)?;
    let mut ops = exactly(ftx, 1)?;
    match &ops[0] {
        Value::List(_) | Value::Map(_) => Ok(ops.remove(0)),
        _ => Err(no_overload(ftx)),
    }
}

fn size(ftx: &FunctionContext) -> R {
    charge(1)?;
    let ops = exactly(ftx, 1)?;
    let n = match &ops[0] {
        // CEL counts a string's code points, not its bytes.
        Value::String(s) => s.chars().count(),
        Value::List(l) => l.len(),
        Value::Map(m) => m.map.len(),
        Value::Bytes(b) => b.len(),
        _ => return Err(no_overload(ftx)),
    };
    Ok(Value::Int(n as i64))
}

fn strings2(ftx: &FunctionContext, f: impl Fn(&str, &str) -> Value) -> R {
    let ops = exactly(ftx, 2)?;
    match (&ops[0], &ops[1]) {
        (Value::String(a), Value::String(b)) => {
            charge_walk(a.len())?;
            Ok(f(a, b))
        }
        _ => Err(no_overload(ftx)),
    }
}

fn string1(ftx: &FunctionContext, f: impl Fn(&str) -> String) -> R {
    let ops = exactly(ftx, 1)?;
    match &ops[0] {
        Value::String(a) => {
            charge_walk(a.len())?;
            Ok(Value::String(Arc::new(f(a))))
        }
        _ => Err(no_overload(ftx)),
    }
}

fn matches(ftx: &FunctionContext) -> R {
    let ops = exactly(ftx, 2)?;
    let (Value::String(s), Value::String(pattern)) = (&ops[0], &ops[1]) else {
        return Err(no_overload(ftx));
    };
    charge_walk(s.len())?;
    REGEXES.with(|cache| {
        let mut cache = cache.borrow_mut();
        // Rules use a handful of constant patterns; a bound keeps a rule
        // that builds patterns from data from growing the cache forever.
        if cache.len() > 256 {
            cache.clear();
        }
        let re = cache
            .entry(pattern.to_string())
            .or_insert_with(|| GoRegex::compile(pattern).ok());
        match re {
            Some(re) => Ok(Value::Bool(re.is_match(s))),
            None => Err(err(
                ftx,
                GoRegex::compile(pattern).err().unwrap_or_default(),
            )),
        }
    })
}

fn int_arg(ftx: &FunctionContext, v: &Value) -> Result<i64, ExecutionError> {
    match v {
        Value::Int(i) => Ok(*i),
        _ => Err(no_overload(ftx)),
    }
}

fn split(ftx: &FunctionContext) -> R {
    let ops = operands(ftx)?;
    let (Some(Value::String(s)), Some(Value::String(sep))) = (ops.first(), ops.get(1)) else {
        return Err(no_overload(ftx));
    };
    charge_walk(s.len())?;
    let limit = match ops.get(2) {
        Some(v) => int_arg(ftx, v)?,
        None => -1,
    };
    let parts: Vec<Value> = if limit == 0 {
        Vec::new()
    } else if sep.is_empty() {
        let chars: Vec<String> = s.chars().map(String::from).collect();
        let n = if limit < 0 {
            chars.len()
        } else {
            (limit as usize).min(chars.len())
        };
        let mut out: Vec<String> = chars[..n.saturating_sub(1)].to_vec();
        if n > 0 {
            out.push(chars[n - 1..].concat());
        }
        out.into_iter()
            .map(|p| Value::String(Arc::new(p)))
            .collect()
    } else if limit < 0 {
        s.split(sep.as_str())
            .map(|p| Value::String(Arc::new(p.to_string())))
            .collect()
    } else {
        s.splitn(limit as usize, sep.as_str())
            .map(|p| Value::String(Arc::new(p.to_string())))
            .collect()
    };
    Ok(Value::List(Arc::new(parts)))
}

fn join(ftx: &FunctionContext) -> R {
    let ops = operands(ftx)?;
    let Some(Value::List(l)) = ops.first() else {
        return Err(no_overload(ftx));
    };
    let sep = match ops.get(1) {
        Some(Value::String(s)) => s.as_str(),
        Some(_) => return Err(no_overload(ftx)),
        None => "",
    };
    charge_walk(l.len())?;
    let mut parts = Vec::with_capacity(l.len());
    for v in l.iter() {
        match v {
            Value::String(s) => parts.push(s.as_str()),
            _ => return Err(no_overload(ftx)),
        }
    }
    Ok(Value::String(Arc::new(parts.join(sep))))
}

fn replace(ftx: &FunctionContext) -> R {
    let ops = operands(ftx)?;
    let (Some(Value::String(s)), Some(Value::String(from)), Some(Value::String(to))) =
        (ops.first(), ops.get(1), ops.get(2))
    else {
        return Err(no_overload(ftx));
    };
    charge_walk(s.len())?;
    let out = match ops.get(3) {
        Some(v) => {
            let n = int_arg(ftx, v)?;
            if n < 0 {
                s.replace(from.as_str(), to)
            } else {
                s.replacen(from.as_str(), to, n as usize)
            }
        }
        None => s.replace(from.as_str(), to),
    };
    Ok(Value::String(Arc::new(out)))
}

fn substring(ftx: &FunctionContext) -> R {
    let ops = operands(ftx)?;
    let Some(Value::String(s)) = ops.first() else {
        return Err(no_overload(ftx));
    };
    charge_walk(s.len())?;
    let chars: Vec<char> = s.chars().collect();
    let start = int_arg(ftx, ops.get(1).ok_or_else(|| no_overload(ftx))?)?;
    let end = match ops.get(2) {
        Some(v) => int_arg(ftx, v)?,
        None => chars.len() as i64,
    };
    if start < 0 || start as usize > chars.len() {
        return Err(err(ftx, format!("index out of range: {start}")));
    }
    if end < 0 || end as usize > chars.len() {
        return Err(err(ftx, format!("index out of range: {end}")));
    }
    if start > end {
        return Err(err(
            ftx,
            format!("invalid substring range. start: {start}, end: {end}"),
        ));
    }
    Ok(Value::String(Arc::new(
        chars[start as usize..end as usize].iter().collect(),
    )))
}

fn char_at(ftx: &FunctionContext) -> R {
    let ops = exactly(ftx, 2)?;
    let Value::String(s) = &ops[0] else {
        return Err(no_overload(ftx));
    };
    charge_walk(s.len())?;
    let i = int_arg(ftx, &ops[1])?;
    let n = s.chars().count() as i64;
    if i < 0 || i > n {
        return Err(err(ftx, format!("index out of range: {i}")));
    }
    Ok(Value::String(Arc::new(
        s.chars()
            .nth(i as usize)
            .map(String::from)
            .unwrap_or_default(),
    )))
}

fn index_of(ftx: &FunctionContext, last: bool) -> R {
    let ops = operands(ftx)?;
    match (ops.first(), ops.get(1)) {
        (Some(Value::String(s)), Some(Value::String(sub))) => {
            charge_walk(s.len())?;
            let chars: Vec<char> = s.chars().collect();
            let needle: Vec<char> = sub.chars().collect();
            let from = match ops.get(2) {
                Some(v) => int_arg(ftx, v)?,
                None if last => chars.len() as i64,
                None => 0,
            };
            if from < 0 || from as usize > chars.len() {
                return Err(err(ftx, format!("index out of range: {from}")));
            }
            let from = from as usize;
            let fits = |i: usize| {
                i + needle.len() <= chars.len() && chars[i..i + needle.len()] == needle[..]
            };
            let found = if last {
                (0..=from.min(chars.len())).rev().find(|&i| fits(i))
            } else {
                (from..=chars.len()).find(|&i| fits(i))
            };
            Ok(Value::Int(found.map_or(-1, |i| i as i64)))
        }
        (Some(Value::List(l)), Some(x)) if ops.len() == 2 => {
            charge_walk(l.len())?;
            let found = if last {
                l.iter().rposition(|v| v == x)
            } else {
                l.iter().position(|v| v == x)
            };
            Ok(Value::Int(found.map_or(-1, |i| i as i64)))
        }
        _ => Err(no_overload(ftx)),
    }
}

fn list_operand(ftx: &FunctionContext) -> Result<Arc<Vec<Value>>, ExecutionError> {
    match exactly(ftx, 1)?.remove(0) {
        Value::List(l) => {
            charge_walk(l.len())?;
            Ok(l)
        }
        _ => Err(no_overload(ftx)),
    }
}

fn is_sorted(ftx: &FunctionContext) -> R {
    let l = list_operand(ftx)?;
    for w in l.windows(2) {
        match w[0].partial_cmp(&w[1]) {
            Some(std::cmp::Ordering::Greater) => return Ok(Value::Bool(false)),
            Some(_) => {}
            None => return Err(no_overload(ftx)),
        }
    }
    Ok(Value::Bool(true))
}

fn sum(ftx: &FunctionContext) -> R {
    let l = list_operand(ftx)?;
    let mut acc: Option<Value> = None;
    for v in l.iter() {
        acc = Some(match acc {
            None => v.clone(),
            Some(a) => (a + v.clone()).map_err(|_| no_overload(ftx))?,
        });
    }
    // The sum of an empty list is its type's zero; an untyped empty list
    // sums to the integer zero.
    Ok(acc.unwrap_or(Value::Int(0)))
}

/// `min`/`max` of a list receiver (kube's lists library), or of the
/// arguments.
fn extreme(ftx: &FunctionContext, min: bool) -> R {
    let ops = operands(ftx)?;
    let items: Vec<Value> = match ops.as_slice() {
        [Value::List(l)] => l.as_ref().clone(),
        _ => ops,
    };
    charge_walk(items.len())?;
    let mut best: Option<Value> = None;
    for v in items {
        best = Some(match best {
            None => v,
            Some(b) => match v.partial_cmp(&b) {
                Some(std::cmp::Ordering::Less) if min => v,
                Some(std::cmp::Ordering::Greater) if !min => v,
                Some(_) => b,
                None => return Err(no_overload(ftx)),
            },
        });
    }
    best.ok_or_else(|| {
        err(
            ftx,
            if min {
                "min(list) argument must not be empty"
            } else {
                "max(list) argument must not be empty"
            },
        )
    })
}

/// A map with string keys, as objects are given to rules.
pub(crate) fn string_map(entries: HashMap<Key, Value>) -> Value {
    Value::Map(Map {
        map: Arc::new(entries),
    })
}
