//! `x-kubernetes-validations`: CEL rules, checked when a CRD is written
//! and run on every create and update of its objects, as kube-apiserver
//! 1.33 runs them.
//!
//! Rules are parsed by `cel-parser` and run by `cel-interpreter`, once per
//! CRD version: [`compile`] walks the built tree, reports kube's errors for
//! the rules it would refuse, and leaves each node's compiled [`Rule`]s in
//! the tree. [`eval::validate`] walks an object along the nodes that carry
//! rules (nothing at all when the schema has none).
//!
//! What differs from kube:
//!
//! * Parse errors say what `cel-parser` says after kube's `compilation
//!   failed: ERROR: <input>:L:C:` prefix; the type checker is lighter than
//!   cel-go's (see [`check`]) and never refuses what cel-go would accept.
//! * kube's libraries for URLs, quantities, IPs, CIDRs, semver, `format`
//!   and the `math`/`sets` extensions are declared but not evaluated: a
//!   rule that calls them is accepted and never fails.
//! * No static cost estimate: a rule kube refuses as too expensive over an
//!   unbounded list is accepted. At run time the cost meter (see
//!   [`library`]) charges roughly what cel-go charges and stops at kube's
//!   per-call and per-object limits with kube's errors, so no rule over a
//!   huge list holds a request for long. The charges are not cel-go's to
//!   the unit: `map` and `filter` over more than about 14,000 items stop
//!   where kube would go on (the interpreter copies its accumulator).
//! * Rules nest at most 64 levels deep and are at most 64 KiB long.
//! * Errors that kube's ratcheting turns into warnings (an unchanged value
//!   that already broke a rule) are dropped, not sent as warnings.
//! * `==` between lists ignores `x-kubernetes-list-type` (kube compares
//!   sets and map-lists without regard to order).

mod check;
pub(crate) mod eval;
mod library;

use std::fmt::Write as _;

use cel_parser::ast::{Expr, IdedExpr, operators};
use serde_json::Value;

use super::node::{Additional, ListType, NodeId, Tree};
use crate::field::{ErrorType, FieldError, Path, go_quote};

/// How deep a rule's expression may nest. cel-go refuses deeper
/// expressions too (its parser's recursion limit); the bound keeps the
/// recursive interpreter within any thread's stack.
const MAX_EXPR_DEPTH: usize = 64;

/// How long a rule may be. Longer sources are refused before parsing.
const MAX_SOURCE_LEN: usize = 64 * 1024;

/// `reason`: which kind of field error a failing rule reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reason {
    Invalid,
    Forbidden,
    Required,
    Duplicate,
}

impl Reason {
    const SUPPORTED: [&'static str; 4] = [
        "FieldValueDuplicate",
        "FieldValueForbidden",
        "FieldValueInvalid",
        "FieldValueRequired",
    ];

    fn parse(s: &str) -> Option<Reason> {
        Some(match s {
            "FieldValueInvalid" => Reason::Invalid,
            "FieldValueForbidden" => Reason::Forbidden,
            "FieldValueRequired" => Reason::Required,
            "FieldValueDuplicate" => Reason::Duplicate,
            _ => return None,
        })
    }
}

/// One compiled rule of one schema node.
#[derive(Debug)]
pub(crate) struct Rule {
    /// The rule as written.
    rule: Box<str>,
    /// `message` as written (kube trims it when it uses it).
    message: Box<str>,
    /// `messageExpression`, compiled, and as written.
    message_expression: Option<IdedExpr>,
    message_expression_source: Box<str>,
    reason: Option<Reason>,
    /// `fieldPath`, already in kube's field-path form (`spec.a[k]`).
    field_path: Option<Box<str>>,
    optional_old_self: bool,
    uses_old_self: bool,
    /// Calls a library function this server does not evaluate.
    unevaluated: bool,
    program: IdedExpr,
}

impl Rule {
    /// kube's `ruleErrorString`: the message if there is one, else the rule.
    fn error_string(&self) -> &str {
        let m = self.message.trim();
        if m.is_empty() { self.rule.trim() } else { m }
    }

    /// kube's `ruleMessageOrDefault`.
    fn message_or_default(&self) -> String {
        if self.message.is_empty() {
            format!("failed rule: {}", self.error_string())
        } else {
            self.message.trim().to_string()
        }
    }
}

/// A rule as written in the CRD, before compiling.
struct Spec<'a> {
    rule: &'a str,
    message: &'a str,
    message_expression: &'a str,
    reason: Option<&'a str>,
    field_path: Option<&'a str>,
    optional_old_self: Option<bool>,
}

impl<'a> Spec<'a> {
    fn read(v: &'a Value) -> Spec<'a> {
        let s = |k: &str| v.get(k).and_then(Value::as_str);
        Spec {
            rule: s("rule").unwrap_or(""),
            message: s("message").unwrap_or(""),
            message_expression: s("messageExpression").unwrap_or(""),
            reason: s("reason"),
            field_path: s("fieldPath"),
            optional_old_self: v.get("optionalOldSelf").and_then(Value::as_bool),
        }
    }

    /// kube's compile error for this rule at `field`. The bad value is
    /// Go's `%#v` of the whole rule; it goes in the detail so that the
    /// message reads as kube's.
    fn compile_error(&self, field: Path, detail: String) -> FieldError {
        FieldError::new(
            ErrorType::Invalid,
            field,
            None,
            format!("{}: {detail}", self.go_sharp_v()),
        )
    }

    /// The rule as Go's `%#v` prints kube's `ValidationRule`, which kube
    /// puts in its compile errors. The pointers print as addresses in Go;
    /// a fixed stand-in is printed here.
    fn go_sharp_v(&self) -> String {
        let mut out = String::from("apiextensions.ValidationRule{");
        let _ = write!(
            out,
            "Rule:{}, Message:{}, MessageExpression:{}, ",
            go_quote(self.rule),
            go_quote(self.message),
            go_quote(self.message_expression)
        );
        out.push_str(if self.reason.is_some() {
            "Reason:(*apiextensions.FieldValueErrorReason)(0xc000010000), "
        } else {
            "Reason:(*apiextensions.FieldValueErrorReason)(nil), "
        });
        let _ = write!(
            out,
            "FieldPath:{}, ",
            go_quote(self.field_path.unwrap_or(""))
        );
        out.push_str(if self.optional_old_self.is_some() {
            "OptionalOldSelf:(*bool)(0xc000010008)}"
        } else {
            "OptionalOldSelf:(*bool)(nil)}"
        });
        out
    }
}

fn has_newlines(s: &str) -> bool {
    s.contains('\n') || s.contains('\r')
}

/// kube's `cel.Escape`: how a property name is spelled in a rule, or
/// `None` when it cannot be (the property is then invisible to rules).
pub(crate) fn escape(name: &str) -> Option<String> {
    const RESERVED: [&str; 21] = [
        "true",
        "false",
        "null",
        "in",
        "as",
        "break",
        "const",
        "continue",
        "else",
        "for",
        "function",
        "if",
        "import",
        "let",
        "loop",
        "package",
        "namespace",
        "return",
        "var",
        "void",
        "while",
    ];
    if RESERVED.contains(&name) {
        return Some(format!("__{name}__"));
    }
    let ok_start = |c: char| c.is_ascii_alphabetic() || matches!(c, '_' | '.' | '-' | '/');
    let mut chars = name.chars();
    match chars.next() {
        Some(c) if ok_start(c) => {}
        _ => return None,
    }
    if !chars.all(|c| ok_start(c) || c.is_ascii_digit()) {
        return None;
    }
    if !name.contains(['_', '.', '-', '/']) {
        return Some(name.to_string());
    }
    let mut out = String::with_capacity(name.len() + 8);
    let mut rest = name;
    while let Some(c) = rest.chars().next() {
        if let Some(r) = rest.strip_prefix("__") {
            out.push_str("__underscores__");
            rest = r;
            continue;
        }
        match c {
            '.' => out.push_str("__dot__"),
            '-' => out.push_str("__dash__"),
            '/' => out.push_str("__slash__"),
            c => out.push(c),
        }
        rest = &rest[c.len_utf8()..];
    }
    Some(out)
}

/// Checks every node's rules as kube does when a CRD is written and stores
/// the compiled rules in the tree. `path` is where the schema sits in the
/// CRD. kube reports the rules' own mistakes (`message`, `reason`,
/// `fieldPath`) with the schema's, and compiles a node's rules only when
/// nothing is wrong at or under it; the compile errors come last.
pub(crate) fn compile(tree: &mut Tree, path: &Path) -> Vec<FieldError> {
    let mut w = Walk {
        schema_errs: Vec::new(),
        cel_errs: Vec::new(),
        compiled: Vec::new(),
    };
    w.node(tree, 0, path, true, None);
    for (id, rules) in w.compiled {
        if let Some(n) = tree.nodes.get_mut(id as usize) {
            n.rules = rules;
        }
    }
    mark_rules_below(tree);
    let mut errs = w.schema_errs;
    errs.extend(w.cel_errs);
    errs
}

/// Sets `rules_below` on every node that has rules or leads to one, and
/// `has_rules` on the tree.
fn mark_rules_below(tree: &mut Tree) {
    // Children are always built after their parent, so one backward pass
    // sees every child before its parent.
    for i in (0..tree.nodes.len()).rev() {
        let n = &tree.nodes[i];
        let mut below = !n.rules.is_empty();
        let mut children: Vec<NodeId> = n.properties.iter().map(|(_, c)| *c).collect();
        if let Some(Additional::Schema(a)) = n.additional {
            children.push(a);
        }
        children.extend(n.items);
        for c in children {
            below |= tree.nodes.get(c as usize).is_some_and(|c| c.rules_below);
        }
        tree.nodes[i].rules_below = below;
    }
    tree.has_rules = tree.nodes.first().is_some_and(|n| n.rules_below);
}

struct Walk {
    schema_errs: Vec<FieldError>,
    cel_errs: Vec<FieldError>,
    compiled: Vec<(NodeId, Vec<Rule>)>,
}

impl Walk {
    /// Visits the children first, as kube's validation does, and returns
    /// whether a schema error was found at or under the node.
    fn node(
        &mut self,
        tree: &Tree,
        id: NodeId,
        path: &Path,
        resource_root: bool,
        uncorrelatable: Option<&Path>,
    ) -> bool {
        let n = tree.node(id);
        let before = self.schema_errs.len();
        if let Some(Additional::Schema(a)) = n.additional {
            self.node(
                tree,
                a,
                &path.child("additionalProperties"),
                tree.node(a).embedded,
                uncorrelatable,
            );
        }
        for (k, c) in &n.properties {
            self.node(
                tree,
                *c,
                &path.child("properties").key(k),
                tree.node(*c).embedded,
                uncorrelatable,
            );
        }
        if let Some(items) = n.items {
            let unc = match uncorrelatable {
                Some(p) => Some(p.clone()),
                None if n.list_type != Some(ListType::Map) => Some(path.clone()),
                None => None,
            };
            self.node(
                tree,
                items,
                &path.child("items"),
                tree.node(items).embedded,
                unc.as_ref(),
            );
        }
        let Some(Value::Array(raw)) = &n.validations else {
            return self.schema_errs.len() > before;
        };
        let specs: Vec<Spec> = raw.iter().map(Spec::read).collect();
        let vpath = path.child("x-kubernetes-validations");
        for (i, s) in specs.iter().enumerate() {
            self.rule_fields(tree, id, s, &vpath.index(i));
        }
        if self.schema_errs.len() > before {
            return true;
        }
        let self_ty = check::node_type(tree, id, resource_root);
        let mut rules = Vec::new();
        for (i, s) in specs.iter().enumerate() {
            let rpath = vpath.index(i);
            if let Some(r) = self.compile_rule(tree, id, s, &self_ty, &rpath, uncorrelatable) {
                rules.push(r);
            }
        }
        if !rules.is_empty() {
            self.compiled.push((id, rules));
        }
        false
    }

    /// kube's checks of a rule's `message`, `reason` and `fieldPath`.
    fn rule_fields(&mut self, tree: &Tree, id: NodeId, s: &Spec, rpath: &Path) {
        let trimmed_rule = s.rule.trim();
        let trimmed_msg = s.message.trim();
        if trimmed_rule.is_empty() {
            self.schema_errs.push(FieldError::required(
                rpath.child("rule"),
                "rule is not specified",
            ));
        } else if !s.message.is_empty() && trimmed_msg.is_empty() {
            self.schema_errs.push(FieldError::invalid(
                rpath.child("message"),
                Value::String(s.message.to_string()),
                "message must be non-empty if specified",
            ));
        } else if has_newlines(trimmed_msg) {
            self.schema_errs.push(FieldError::invalid(
                rpath.child("message"),
                Value::String(s.message.to_string()),
                "message must not contain line breaks",
            ));
        } else if has_newlines(trimmed_rule) && trimmed_msg.is_empty() {
            self.schema_errs.push(FieldError::required(
                rpath.child("message"),
                "message must be specified if rule contains line breaks",
            ));
        }
        if !s.message_expression.is_empty() && s.message_expression.trim().is_empty() {
            self.schema_errs.push(FieldError::required(
                rpath.child("messageExpression"),
                "messageExpression must be non-empty if specified",
            ));
        }
        if let Some(r) = s.reason
            && Reason::parse(r).is_none()
        {
            self.schema_errs.push(FieldError::not_supported(
                rpath.child("reason"),
                Value::String(r.to_string()),
                &Reason::SUPPORTED,
            ));
        }
        if let Some(fp) = s.field_path {
            if !fp.is_empty() && fp.trim().is_empty() {
                self.schema_errs.push(FieldError::invalid(
                    rpath.child("fieldPath"),
                    Value::String(fp.to_string()),
                    "fieldPath must be non-empty if specified",
                ));
            }
            if has_newlines(fp) {
                self.schema_errs.push(FieldError::invalid(
                    rpath.child("fieldPath"),
                    Value::String(fp.to_string()),
                    "fieldPath must not contain line breaks",
                ));
            }
            if !fp.is_empty() && valid_field_path(tree, id, fp).is_err() {
                self.schema_errs.push(FieldError::invalid(
                    rpath.child("fieldPath"),
                    Value::String(fp.to_string()),
                    "fieldPath must be a valid path",
                ));
            }
        }
    }

    fn compile_rule(
        &mut self,
        tree: &Tree,
        id: NodeId,
        s: &Spec,
        self_ty: &check::Ty,
        rpath: &Path,
        uncorrelatable: Option<&Path>,
    ) -> Option<Rule> {
        if s.rule.trim().is_empty() {
            return None;
        }
        let optional_old_self = s.optional_old_self.unwrap_or(false);
        let rule_err = |detail: String| s.compile_error(rpath.child("rule"), detail);
        let program = match parse(s.rule) {
            Ok(p) => p,
            Err(e) => {
                self.cel_errs
                    .push(rule_err(format!("compilation failed: {e}")));
                return None;
            }
        };
        let checked = check::check(tree, s.rule, &program, self_ty.clone(), optional_old_self);
        if !checked.errors.is_empty() {
            self.cel_errs.push(rule_err(format!(
                "compilation failed: {}",
                checked.errors.join("\n")
            )));
            return None;
        }
        if !matches!(checked.ty, check::Ty::Bool | check::Ty::Dyn) {
            self.cel_errs.push(rule_err(
                "cel expression must evaluate to a bool".to_string(),
            ));
            return None;
        }
        let mut ok = true;
        let mut message_expression = None;
        let mut unevaluated = checked.unevaluated;
        if !s.message_expression.is_empty() {
            let msg_err =
                |detail: String| s.compile_error(rpath.child("messageExpression"), detail);
            match parse(s.message_expression) {
                Err(e) => {
                    self.cel_errs.push(msg_err(format!(
                        "messageExpression compilation failed: {e}"
                    )));
                    ok = false;
                }
                Ok(p) => {
                    let mc = check::check(
                        tree,
                        s.message_expression,
                        &p,
                        self_ty.clone(),
                        optional_old_self,
                    );
                    if !mc.errors.is_empty() {
                        self.cel_errs.push(msg_err(format!(
                            "messageExpression compilation failed: {}",
                            mc.errors.join("\n")
                        )));
                        ok = false;
                    } else if !matches!(mc.ty, check::Ty::String | check::Ty::Dyn) {
                        self.cel_errs.push(msg_err(
                            "messageExpression must evaluate to a string".to_string(),
                        ));
                        ok = false;
                    } else {
                        unevaluated |= mc.unevaluated;
                        message_expression = Some(rewrite(p));
                    }
                }
            }
        }
        if checked.uses_old_self {
            if let Some(unc) = uncorrelatable {
                self.cel_errs.push(FieldError::invalid(
                    rpath.child("rule"),
                    Value::String(s.rule.to_string()),
                    format!(
                        "oldSelf cannot be used on the uncorrelatable portion of the schema within {unc}"
                    ),
                ));
                ok = false;
            }
        } else if let Some(b) = s.optional_old_self {
            self.cel_errs.push(FieldError::invalid(
                rpath.child("optionalOldSelf"),
                Value::Bool(b),
                "may not be set if oldSelf is not used in rule",
            ));
            ok = false;
        }
        if !ok {
            return None;
        }
        let field_path = s
            .field_path
            .filter(|fp| !fp.is_empty())
            .and_then(|fp| valid_field_path(tree, id, fp).ok())
            .map(|p| p.as_str().into());
        Some(Rule {
            rule: s.rule.into(),
            message: s.message.into(),
            message_expression,
            message_expression_source: s.message_expression.into(),
            reason: s.reason.and_then(Reason::parse),
            field_path,
            optional_old_self,
            uses_old_self: checked.uses_old_self,
            unevaluated,
            program: rewrite(program),
        })
    }
}

/// Parses a CEL expression, with kube's wording for what went wrong.
/// `cel-parser` panics on some malformed input and recurses once per
/// nesting level, so it runs on its own thread with a large stack, where a
/// panic is only an error.
fn parse(source: &str) -> Result<IdedExpr, String> {
    if source.len() > MAX_SOURCE_LEN {
        return Err(format!(
            "ERROR: <input>:1:1: expression size {} exceeds the limit of {MAX_SOURCE_LEN}",
            source.len()
        ));
    }
    let owned = source.to_string();
    let joined = std::thread::Builder::new()
        .name("cel-parse".into())
        .stack_size(64 << 20)
        .spawn(move || {
            cel_parser::Parser::new().parse(&owned).map_err(|errs| {
                errs.errors
                    .iter()
                    .map(|e| syntax_error(&owned, e.pos, &e.msg))
                    .collect::<Vec<_>>()
                    .join("\n")
            })
        })
        .map_err(|e| format!("ERROR: <input>:1:1: cannot start the parser: {e}"))?
        .join();
    let expr = match joined {
        Ok(r) => r?,
        Err(_) => {
            return Err(syntax_error(
                source,
                end_position(source),
                "Syntax error: unexpected end of input or unbalanced expression",
            ));
        }
    };
    if depth(&expr) > MAX_EXPR_DEPTH {
        return Err(format!(
            "ERROR: <input>:1:1: expression recursion limit exceeded: {MAX_EXPR_DEPTH}"
        ));
    }
    Ok(expr)
}

/// The line and 1-based column just after the last character.
fn end_position(source: &str) -> (isize, isize) {
    let line = source.matches('\n').count() + 1;
    let last = source.rsplit('\n').next().unwrap_or("");
    (line as isize, last.chars().count() as isize + 1)
}

/// cel-go's error layout: the location, the message, the line and a caret.
fn syntax_error(source: &str, (line, col): (isize, isize), msg: &str) -> String {
    let text = source.lines().nth((line.max(1) - 1) as usize).unwrap_or("");
    let col = col.max(1);
    format!(
        "ERROR: <input>:{line}:{col}: {msg}\n | {text}\n | {}^",
        ".".repeat((col - 1) as usize)
    )
}

fn depth(e: &IdedExpr) -> usize {
    1 + match &e.expr {
        Expr::Call(c) => c
            .target
            .iter()
            .map(|t| depth(t))
            .chain(c.args.iter().map(depth))
            .max()
            .unwrap_or(0),
        Expr::Comprehension(c) => [
            &c.iter_range,
            &c.accu_init,
            &c.loop_cond,
            &c.loop_step,
            &c.result,
        ]
        .iter()
        .map(|x| depth(x))
        .max()
        .unwrap_or(0),
        Expr::List(l) => l.elements.iter().map(depth).max().unwrap_or(0),
        Expr::Map(m) => m
            .entries
            .iter()
            .map(|en| match &en.expr {
                cel_parser::ast::EntryExpr::MapEntry(me) => depth(&me.key).max(depth(&me.value)),
                cel_parser::ast::EntryExpr::StructField(f) => depth(&f.value),
            })
            .max()
            .unwrap_or(0),
        Expr::Select(s) => depth(&s.operand),
        Expr::Struct(_) | Expr::Ident(_) | Expr::Literal(_) | Expr::Unspecified => 0,
    }
}

/// Points the operators the interpreter gets wrong, or that can run long,
/// at the library's metered versions (see [`library`]).
fn rewrite(mut e: IdedExpr) -> IdedExpr {
    rewrite_in_place(&mut e);
    e
}

fn rewrite_in_place(e: &mut IdedExpr) {
    match &mut e.expr {
        Expr::Call(c) => {
            let renamed = match c.func_name.as_str() {
                operators::INDEX => Some(library::INDEX),
                operators::LOGICAL_AND => Some(library::AND),
                operators::LOGICAL_OR => Some(library::OR),
                operators::ADD => Some(library::ADD),
                operators::EQUALS => Some(library::EQ),
                operators::NOT_EQUALS => Some(library::NE),
                operators::IN => Some(library::IN),
                _ => None,
            };
            if let Some(r) = renamed {
                c.func_name = r.to_string();
            }
            let ours = renamed.is_some() || library::OURS.contains(&c.func_name.as_str());
            if ours && (1..=2).contains(&c.args.len()) {
                while c.args.len() < 3 {
                    c.args.push(IdedExpr::default());
                }
            }
            if let Some(t) = &mut c.target {
                rewrite_in_place(t);
            }
            for a in &mut c.args {
                rewrite_in_place(a);
            }
        }
        Expr::Comprehension(c) => {
            for x in [
                &mut c.iter_range,
                &mut c.accu_init,
                &mut c.loop_cond,
                &mut c.loop_step,
                &mut c.result,
            ] {
                rewrite_in_place(x);
            }
            let range = std::mem::take(&mut *c.iter_range);
            *c.iter_range = IdedExpr {
                id: range.id,
                expr: Expr::Call(cel_parser::ast::CallExpr {
                    func_name: library::RANGE.to_string(),
                    target: None,
                    args: vec![range, IdedExpr::default(), IdedExpr::default()],
                }),
            };
        }
        Expr::List(l) => l.elements.iter_mut().for_each(rewrite_in_place),
        Expr::Map(m) => {
            for en in &mut m.entries {
                if let cel_parser::ast::EntryExpr::MapEntry(me) = &mut en.expr {
                    rewrite_in_place(&mut me.key);
                    rewrite_in_place(&mut me.value);
                }
            }
        }
        Expr::Select(s) => rewrite_in_place(&mut s.operand),
        Expr::Struct(_) | Expr::Ident(_) | Expr::Literal(_) | Expr::Unspecified => {}
    }
}

/// kube's `ValidFieldPath`: a JSON path of `.name` and `['name']` steps
/// through properties and additionalProperties under node `id`, returned
/// as the field path it names.
pub(crate) fn valid_field_path(tree: &Tree, id: NodeId, json_path: &str) -> Result<Path, String> {
    let mut path = Path::root();
    let mut node = id;
    let mut rest = json_path;
    let step = |name: &str, node: &mut NodeId, path: &mut Path| -> Result<(), String> {
        let n = tree.node(*node);
        if !n.properties.is_empty() {
            let Some(c) = n.property(name) else {
                return Err("does not refer to a valid field".to_string());
            };
            *path = path.child(name);
            *node = c;
        } else if let Some(Additional::Schema(a)) = n.additional {
            *path = path.key(name);
            *node = a;
        } else {
            return Err("does not refer to a valid field".to_string());
        }
        Ok(())
    };
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('.') {
            let end = r.find(['.', '[', ']']).unwrap_or(r.len());
            let name = &r[..end];
            if name.is_empty() {
                return Err("unexpected end of JSON path".to_string());
            }
            step(name, &mut node, &mut path)?;
            rest = &r[end..];
        } else if let Some(r) = rest.strip_prefix('[') {
            let Some(body) = r.strip_prefix('\'') else {
                return Err("expected single quoted string".to_string());
            };
            let mut end = None;
            let bytes = body.as_bytes();
            for i in 0..bytes.len() {
                if bytes[i] == b'\'' && (i == 0 || bytes[i - 1] != b'\\') {
                    end = Some(i);
                    break;
                }
            }
            let Some(end) = end else {
                return Err("unexpected end of JSON path".to_string());
            };
            let name = unescape_single_quoted(&body[..end])?;
            let after = &body[end + 1..];
            let Some(after) = after.strip_prefix(']') else {
                return Err("expected ]".to_string());
            };
            step(&name, &mut node, &mut path)?;
            rest = after;
        } else {
            return Err(format!("expected [ or . but got: {rest}"));
        }
    }
    Ok(path)
}

fn unescape_single_quoted(s: &str) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        out.push(match chars.next() {
            Some('a') => '\x07',
            Some('b') => '\x08',
            Some('f') => '\x0c',
            Some('n') => '\n',
            Some('r') => '\r',
            Some('t') => '\t',
            Some('v') => '\x0b',
            Some('\'') => '\'',
            Some('\\') => '\\',
            other => {
                return Err(format!(
                    "invalid escape char \\{}",
                    other.map(String::from).unwrap_or_default()
                ));
            }
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
