//! A light type checker: the compile errors people actually hit.
//!
//! cel-go checks a rule against the declared type of `self` before kube
//! accepts a CRD. This checker finds the same mistakes that matter in
//! practice (an identifier or function that does not exist, a field the
//! schema does not declare, a field selected from a scalar, a rule that is
//! not a boolean) and gives up (`Dyn`) wherever it is unsure, so it never
//! refuses a rule cel-go would take. Positions are found in the source
//! text, as cel-go's are not recorded by the parser.

use cel_parser::ast::{Expr, IdedExpr, operators};
use cel_parser::reference::Val;

use super::super::node::{Additional, NodeId, Tree, Types};
use super::{escape, library};

/// What the checker knows of a value's type.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Ty {
    Dyn,
    Bool,
    Int,
    Uint,
    Double,
    String,
    Bytes,
    Null,
    Timestamp,
    Duration,
    List(Box<Ty>),
    Map(Box<Ty>),
    /// An object with declared properties; `root` adds the resource
    /// fields `apiVersion`, `kind` and `metadata`.
    Object {
        id: NodeId,
        root: bool,
    },
    Optional(Box<Ty>),
}

impl Ty {
    fn name(&self) -> &'static str {
        match self {
            Ty::Dyn => "dyn",
            Ty::Bool => "bool",
            Ty::Int => "int",
            Ty::Uint => "uint",
            Ty::Double => "double",
            Ty::String => "string",
            Ty::Bytes => "bytes",
            Ty::Null => "null_type",
            Ty::Timestamp => "google.protobuf.Timestamp",
            Ty::Duration => "google.protobuf.Duration",
            Ty::List(_) => "list",
            Ty::Map(_) => "map",
            Ty::Object { .. } => "object",
            Ty::Optional(_) => "optional_type",
        }
    }
}

/// The CEL type of a schema node, as kube declares it.
pub(crate) fn node_type(tree: &Tree, id: NodeId, root: bool) -> Ty {
    let n = tree.node(id);
    if n.int_or_string || root || n.embedded {
        if root || n.embedded {
            return Ty::Object { id, root: true };
        }
        return Ty::Dyn;
    }
    let Some(types) = n.types else {
        return Ty::Dyn;
    };
    if types == Types::OBJECT {
        if let Some(Additional::Schema(a)) = n.additional {
            return Ty::Map(Box::new(node_type(tree, a, tree.node(a).embedded)));
        }
        if n.properties.is_empty() {
            return if n.preserve_unknown {
                Ty::Dyn
            } else {
                Ty::Map(Box::new(Ty::Dyn))
            };
        }
        return Ty::Object { id, root: false };
    }
    if types == Types::ARRAY {
        return Ty::List(Box::new(match n.items {
            Some(i) => node_type(tree, i, tree.node(i).embedded),
            None => Ty::Dyn,
        }));
    }
    if types == Types::STRING {
        return match n.format.as_ref().map(|(name, _)| name.as_ref()) {
            Some("byte") => Ty::Bytes,
            Some("date-time") | Some("datetime") => Ty::Timestamp,
            Some("duration") => Ty::Duration,
            _ => Ty::String,
        };
    }
    if types == Types::INTEGER {
        return Ty::Int;
    }
    if types == Types::NUMBER {
        return Ty::Double;
    }
    if types == Types::BOOLEAN {
        return Ty::Bool;
    }
    Ty::Dyn
}

/// Functions a rule may call beside the library's own
/// ([`library::OURS`]): the interpreter's conversions and timestamp
/// accessors.
const INTERPRETER_FUNCTIONS: &[&str] = &[
    "string",
    "int",
    "uint",
    "double",
    "bytes",
    "duration",
    "timestamp",
    "getFullYear",
    "getMonth",
    "getDayOfYear",
    "getDayOfMonth",
    "getDate",
    "getDayOfWeek",
    "getHours",
    "getMinutes",
    "getSeconds",
    "getMilliseconds",
];

fn is_function(name: &str) -> bool {
    library::OURS.contains(&name) || INTERPRETER_FUNCTIONS.contains(&name)
}

/// kube library functions that are declared but not evaluated here.
pub(crate) const UNEVALUATED: &[&str] = &[
    "bool",
    "type",
    "format",
    "quote",
    "reverse",
    "url",
    "isURL",
    "getScheme",
    "getHost",
    "getHostname",
    "getPort",
    "getEscapedPath",
    "getQuery",
    "quantity",
    "isQuantity",
    "sign",
    "isInteger",
    "asInteger",
    "asApproximateFloat",
    "add",
    "sub",
    "isLessThan",
    "isGreaterThan",
    "compareTo",
    "ip",
    "isIP",
    "family",
    "isUnspecified",
    "isLoopback",
    "isLinkLocalMulticast",
    "isLinkLocalUnicast",
    "isGlobalUnicast",
    "cidr",
    "isCIDR",
    "containsIP",
    "containsCIDR",
    "prefixLength",
    "masked",
    "semver",
    "isSemver",
    "major",
    "minor",
    "patch",
    "or",
    "optMap",
    "optFlatMap",
    "getTimeZone",
    "getZone",
    "least",
    "greatest",
    "ceil",
    "floor",
    "round",
    "abs",
    "isNaN",
    "isInf",
    "isFinite",
    "base64",
    "encode",
    "decode",
    "sets",
    "intersects",
    "equivalent",
    "math",
    "strings",
];

/// The outcome of checking one expression.
#[derive(Debug)]
pub(crate) struct Checked {
    /// The expression's type, `Dyn` where unknown.
    pub(crate) ty: Ty,
    /// cel-go style error lines, empty when the expression checks.
    pub(crate) errors: Vec<String>,
    /// Whether `oldSelf` is referred to.
    pub(crate) uses_old_self: bool,
    /// Whether a function this server does not evaluate is called.
    pub(crate) unevaluated: bool,
}

struct Checker<'a> {
    tree: &'a Tree,
    source: &'a str,
    self_ty: Ty,
    old_self_ty: Ty,
    scopes: Vec<(String, Ty)>,
    out: Checked,
}

/// Checks `expr` (parsed from `source`) with `self` of type `self_ty`.
pub(crate) fn check(
    tree: &Tree,
    source: &str,
    expr: &IdedExpr,
    self_ty: Ty,
    optional_old_self: bool,
) -> Checked {
    let old_self_ty = if optional_old_self {
        Ty::Optional(Box::new(self_ty.clone()))
    } else {
        self_ty.clone()
    };
    let mut c = Checker {
        tree,
        source,
        self_ty,
        old_self_ty,
        scopes: Vec::new(),
        out: Checked {
            ty: Ty::Dyn,
            errors: Vec::new(),
            uses_old_self: false,
            unevaluated: false,
        },
    };
    c.out.ty = c.expr(expr, 0);
    c.out
}

impl Checker<'_> {
    fn error_at(&mut self, offset: usize, msg: String) {
        let line_no = self.source[..offset].matches('\n').count() + 1;
        let line_start = self.source[..offset].rfind('\n').map_or(0, |i| i + 1);
        let col = self.source[line_start..offset].chars().count();
        let line = self.source[line_start..].lines().next().unwrap_or("");
        self.out.errors.push(format!(
            "ERROR: <input>:{line_no}:{}: {msg}\n | {line}\n | {}^",
            col + 1,
            ".".repeat(col)
        ));
    }

    /// Where `word` first stands on its own in the source (not part of a
    /// longer identifier), optionally right after a `.`.
    fn find(&self, word: &str, after_dot: bool) -> usize {
        let bytes = self.source.as_bytes();
        let is_ident = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
        let mut from = 0;
        while let Some(i) = self.source[from..].find(word) {
            let at = from + i;
            let end = at + word.len();
            let before_ok = at == 0 || !is_ident(bytes[at - 1]);
            let after_ok = end >= bytes.len() || !is_ident(bytes[end]);
            let dot = self.source[..at].trim_end().ends_with('.');
            if before_ok && after_ok && dot == after_dot {
                if after_dot {
                    return self.source[..at].trim_end().len() - 1;
                }
                return at;
            }
            from = end.max(at + 1);
        }
        0
    }

    fn lookup(&self, name: &str) -> Option<Ty> {
        self.scopes
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, t)| t.clone())
    }

    fn expr(&mut self, e: &IdedExpr, depth: usize) -> Ty {
        match &e.expr {
            Expr::Literal(v) => match v {
                Val::String(_) => Ty::String,
                Val::Boolean(_) => Ty::Bool,
                Val::Int(_) => Ty::Int,
                Val::UInt(_) => Ty::Uint,
                Val::Double(_) => Ty::Double,
                Val::Bytes(_) => Ty::Bytes,
                Val::Null => Ty::Null,
            },
            Expr::Ident(name) => {
                if let Some(t) = self.lookup(name) {
                    return t;
                }
                match name.as_str() {
                    "self" => self.self_ty.clone(),
                    "oldSelf" => {
                        self.out.uses_old_self = true;
                        self.old_self_ty.clone()
                    }
                    // Type names are values too (`type(x) == string`).
                    "optional" | "int" | "uint" | "double" | "bool" | "string" | "bytes"
                    | "list" | "map" | "null_type" | "type" => Ty::Dyn,
                    _ => {
                        let at = self.find(name, false);
                        self.error_at(
                            at,
                            format!("undeclared reference to '{name}' (in container '')"),
                        );
                        Ty::Dyn
                    }
                }
            }
            Expr::Select(s) => {
                let operand = self.expr(&s.operand, depth + 1);
                if s.test {
                    self.field(&operand, &s.field);
                    return Ty::Bool;
                }
                self.field(&operand, &s.field)
            }
            Expr::List(l) => {
                let mut elem = None;
                for x in &l.elements {
                    let t = self.expr(x, depth + 1);
                    elem.get_or_insert(t);
                }
                Ty::List(Box::new(elem.unwrap_or(Ty::Dyn)))
            }
            Expr::Map(m) => {
                let mut value = None;
                for entry in &m.entries {
                    if let cel_parser::ast::EntryExpr::MapEntry(me) = &entry.expr {
                        self.expr(&me.key, depth + 1);
                        let t = self.expr(&me.value, depth + 1);
                        value.get_or_insert(t);
                    }
                }
                Ty::Map(Box::new(value.unwrap_or(Ty::Dyn)))
            }
            Expr::Struct(s) => {
                let at = self.find(&s.type_name, false);
                self.error_at(
                    at,
                    format!(
                        "undeclared reference to '{}' (in container '')",
                        s.type_name
                    ),
                );
                Ty::Dyn
            }
            Expr::Unspecified => Ty::Dyn,
            Expr::Comprehension(c) => {
                let range = self.expr(&c.iter_range, depth + 1);
                let elem = match &range {
                    Ty::List(t) => (**t).clone(),
                    Ty::Map(_) | Ty::Object { .. } => Ty::String,
                    Ty::Dyn => Ty::Dyn,
                    other => {
                        let at = self.find(&c.iter_var, false);
                        let name = other.name();
                        self.error_at(
                            at,
                            format!("expression of type '{name}' cannot be range of a comprehension (must be list, map, or dynamic)"),
                        );
                        Ty::Dyn
                    }
                };
                let accu = self.expr(&c.accu_init, depth + 1);
                self.scopes.push((c.accu_var.clone(), accu));
                self.scopes.push((c.iter_var.clone(), elem));
                self.expr(&c.loop_cond, depth + 1);
                self.expr(&c.loop_step, depth + 1);
                self.scopes.pop();
                let t = self.expr(&c.result, depth + 1);
                self.scopes.pop();
                t
            }
            Expr::Call(call) => self.call(call, depth),
        }
    }

    fn field(&mut self, operand: &Ty, field: &str) -> Ty {
        match operand {
            Ty::Object { id, root } => {
                let n = self.tree.node(*id);
                if let Some(pid) = n
                    .properties
                    .iter()
                    .find(|(k, _)| escape(k).as_deref() == Some(field))
                    .map(|(_, p)| *p)
                {
                    let embedded = self.tree.node(pid).embedded;
                    return node_type(self.tree, pid, embedded);
                }
                if *root {
                    match field {
                        "apiVersion" | "kind" => return Ty::String,
                        "metadata" => return Ty::Dyn,
                        _ => {}
                    }
                }
                if n.preserve_unknown {
                    return Ty::Dyn;
                }
                let at = self.find(field, true);
                self.error_at(at, format!("undefined field '{field}'"));
                Ty::Dyn
            }
            Ty::Map(v) => (**v).clone(),
            Ty::Dyn => Ty::Dyn,
            other => {
                let at = self.find(field, true);
                let name = other.name();
                self.error_at(
                    at,
                    format!("type '{name}' does not support field selection"),
                );
                Ty::Dyn
            }
        }
    }

    fn call(&mut self, call: &cel_parser::ast::CallExpr, depth: usize) -> Ty {
        let target = call.target.as_ref().map(|t| self.expr(t, depth + 1));
        let args: Vec<Ty> = call.args.iter().map(|a| self.expr(a, depth + 1)).collect();
        let name = call.func_name.as_str();
        match name {
            operators::LOGICAL_AND
            | operators::LOGICAL_OR
            | operators::LOGICAL_NOT
            | operators::EQUALS
            | operators::NOT_EQUALS
            | operators::LESS
            | operators::LESS_EQUALS
            | operators::GREATER
            | operators::GREATER_EQUALS
            | operators::IN
            | operators::NOT_STRICTLY_FALSE => Ty::Bool,
            operators::ADD
            | operators::SUBSTRACT
            | operators::MULTIPLY
            | operators::DIVIDE
            | operators::MODULO => {
                let l = args.first().cloned().unwrap_or(Ty::Dyn);
                let r = args.get(1).cloned().unwrap_or(Ty::Dyn);
                if l == r || r == Ty::Dyn {
                    l
                } else if l == Ty::Dyn {
                    r
                } else if matches!((&l, &r), (Ty::List(_), Ty::List(_))) {
                    l
                } else if name == operators::ADD || name == operators::SUBSTRACT {
                    match (&l, &r) {
                        (Ty::Timestamp, Ty::Duration) | (Ty::Duration, Ty::Timestamp) => {
                            Ty::Timestamp
                        }
                        _ => self.no_overload(name, &l, &r),
                    }
                } else {
                    self.no_overload(name, &l, &r)
                }
            }
            operators::NEGATE => args.first().cloned().unwrap_or(Ty::Dyn),
            operators::CONDITIONAL => args.get(1).cloned().unwrap_or(Ty::Dyn),
            operators::INDEX => match args.first() {
                Some(Ty::List(t)) | Some(Ty::Map(t)) => (**t).clone(),
                _ => Ty::Dyn,
            },
            _ => {
                if !is_function(name) {
                    if UNEVALUATED.contains(&name) {
                        self.out.unevaluated = true;
                    } else {
                        let at = self.find(name, target.is_some());
                        let at = if target.is_some() {
                            // cel-go points at the name, not the dot.
                            at + 1
                        } else {
                            at
                        };
                        self.error_at(
                            at,
                            format!("undeclared reference to '{name}' (in container '')"),
                        );
                    }
                    return Ty::Dyn;
                }
                let recv = target.or_else(|| args.first().cloned());
                match name {
                    "size" | "indexOf" | "lastIndexOf" | "int" | "getFullYear" | "getMonth"
                    | "getDayOfYear" | "getDayOfMonth" | "getDate" | "getDayOfWeek"
                    | "getHours" | "getMinutes" | "getSeconds" | "getMilliseconds" => Ty::Int,
                    "contains" | "startsWith" | "endsWith" | "matches" | "isSorted"
                    | "hasValue" => Ty::Bool,
                    "lowerAscii" | "upperAscii" | "trim" | "join" | "replace" | "substring"
                    | "charAt" | "string" => Ty::String,
                    "split" => Ty::List(Box::new(Ty::String)),
                    "uint" => Ty::Uint,
                    "double" => Ty::Double,
                    "bytes" => Ty::Bytes,
                    "duration" => Ty::Duration,
                    "timestamp" => Ty::Timestamp,
                    "sum" | "min" | "max" => match recv {
                        Some(Ty::List(t)) => *t,
                        _ => Ty::Dyn,
                    },
                    "value" => match recv {
                        Some(Ty::Optional(t)) => *t,
                        _ => Ty::Dyn,
                    },
                    _ => Ty::Dyn,
                }
            }
        }
    }

    fn no_overload(&mut self, op: &str, l: &Ty, r: &Ty) -> Ty {
        let symbol = op.trim_matches('_');
        let at = self.source.find(symbol).unwrap_or(0);
        self.error_at(
            at,
            format!(
                "found no matching overload for '{op}' applied to '({}, {})'",
                l.name(),
                r.name()
            ),
        );
        Ty::Dyn
    }
}
