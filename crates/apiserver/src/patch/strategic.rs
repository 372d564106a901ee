//! `application/strategic-merge-patch+json`, applied as kube-apiserver
//! applies it (`strategicpatch.StrategicMergeMapPatch` with
//! `MergeParallelList` and `IgnoreUnmatchedNulls`).
//!
//! The walk follows kube's step by step, because clients see its quirks:
//! which malformed directive is a 400 and which a 500, the order merged
//! lists come out in (Go's stable sort, reproduced exactly), and the places
//! where Go itself panics (comparing two objects used as merge keys, a list
//! whose first item is null), which kube answers with a bare 500.

use std::collections::HashMap;

use serde_json::{Map, Value};

use super::json::{go_s, go_type, go_type_s, go_v, is_float};
use super::meta::{PatchMeta, StrategyKind};

const DIRECTIVE: &str = "$patch";
const DELETE: &str = "delete";
const REPLACE: &str = "replace";
const MERGE: &str = "merge";
const RETAIN_KEYS: &str = "$retainKeys";
const DELETE_FROM_PRIMITIVE_LIST: &str = "$deleteFromPrimitiveList";
const SET_ELEMENT_ORDER: &str = "$setElementOrder";

const MAP_TYPE: &str = "map[string]interface {}";
const SLICE_TYPE: &str = "[]interface {}";

/// Why a strategic merge patch failed, sorted the way kube-apiserver's
/// `interpretStrategicMergePatchError` sorts it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum SmpError {
    /// One of the sentinel errors kube answers with 400 BadRequest.
    BadRequest(&'static str),
    /// One of the sentinel errors kube answers with a generic 422.
    Unprocessable(&'static str),
    /// Any other error: kube passes it on as is, a 500 without a reason.
    Other(String),
    /// Go would have panicked here; kube answers a bare 500.
    Panic(String),
}

/// `invalid patch format of primitive list`.
const ERR_PRIMITIVE_LIST: SmpError = SmpError::BadRequest("invalid patch format of primitive list");
/// `invalid patch format of retainKeys`.
const ERR_RETAIN_KEYS: SmpError = SmpError::BadRequest("invalid patch format of retainKeys");
/// `invalid patch format of setElementOrder list`.
const ERR_SET_ELEMENT_ORDER: SmpError =
    SmpError::BadRequest("invalid patch format of setElementOrder list");
/// `lists of lists are not supported`.
const ERR_LIST_OF_LISTS: SmpError = SmpError::Unprocessable("lists of lists are not supported");

type Result<T> = std::result::Result<T, SmpError>;

fn bad_arg_type(expected: &str, actual: &Value) -> SmpError {
    SmpError::Other(format!(
        "expected a {expected}, but received a {}",
        go_type_s(actual)
    ))
}

fn no_merge_key(m: &Map<String, Value>, key: &str) -> SmpError {
    SmpError::Other(format!(
        "map: {} does not contain declared merge key: {key}",
        go_v(&Value::Object(m.clone()))
    ))
}

fn bad_patch_type(t: &Value, m: &Map<String, Value>) -> SmpError {
    SmpError::Other(format!(
        "unknown patch type: {} in map: {}",
        go_s(t),
        go_v(&Value::Object(m.clone()))
    ))
}

fn uncomparable(v: &Value) -> SmpError {
    SmpError::Panic(format!(
        "runtime error: comparing uncomparable type {}",
        go_type(v).unwrap_or("<nil>")
    ))
}

fn unhashable(v: &Value) -> SmpError {
    SmpError::Panic(format!(
        "runtime error: hash of unhashable type {}",
        go_type(v).unwrap_or("<nil>")
    ))
}

/// Applies `patch` to `original` as kube does for a built-in kind.
pub(crate) fn apply(original: Value, patch: Value, meta: &dyn PatchMeta) -> Result<Value> {
    match (original, patch) {
        // A `null` patch decodes to a nil map: nothing to do.
        (original, Value::Null) => Ok(original),
        (Value::Object(o), Value::Object(p)) => merge_map(o, p, meta).map(Value::Object),
        (_, _) => Err(SmpError::BadRequest("invalid JSON document")),
    }
}

/// Go's `==` between two interface values holding decoded JSON: different
/// dynamic types are unequal, two maps or two slices panic.
fn go_eq(a: &Value, b: &Value) -> Result<bool> {
    match (a, b) {
        (Value::Null, Value::Null) => Ok(true),
        (Value::Bool(x), Value::Bool(y)) => Ok(x == y),
        (Value::String(x), Value::String(y)) => Ok(x == y),
        (Value::Number(x), Value::Number(y)) => {
            if is_float(x) != is_float(y) {
                Ok(false)
            } else if is_float(x) {
                Ok(x.as_f64() == y.as_f64())
            } else {
                Ok(x.as_i64().map(i128::from).or(x.as_u64().map(i128::from))
                    == y.as_i64().map(i128::from).or(y.as_u64().map(i128::from)))
            }
        }
        (Value::Array(_), Value::Array(_)) | (Value::Object(_), Value::Object(_)) => {
            Err(uncomparable(a))
        }
        _ => Ok(false),
    }
}

/// A JSON scalar as a Go map key, equal exactly when Go's `==` is.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum GoKey {
    Nil,
    Bool(bool),
    Int(i128),
    Float(u64),
    Str(String),
}

impl GoKey {
    /// `None` for maps and slices, which Go cannot hash or compare.
    fn of(v: &Value) -> Option<GoKey> {
        Some(match v {
            Value::Null => GoKey::Nil,
            Value::Bool(b) => GoKey::Bool(*b),
            Value::String(s) => GoKey::Str(s.clone()),
            Value::Number(n) if is_float(n) => {
                let f = n.as_f64().unwrap_or(0.0);
                // +0 and -0 are the same key in Go.
                GoKey::Float(if f == 0.0 { 0 } else { f.to_bits() })
            }
            Value::Number(n) => GoKey::Int(
                n.as_i64()
                    .map(i128::from)
                    .or(n.as_u64().map(i128::from))
                    .unwrap_or(0),
            ),
            Value::Array(_) | Value::Object(_) => return None,
        })
    }
}

/// The value an item contributes to an order comparison: its merge key's
/// value for lists of maps (nil when missing or not a map), the item
/// itself otherwise.
fn order_value<'a>(item: &'a Value, merge_key: &str, maps: bool) -> &'a Value {
    if maps {
        item.as_object()
            .and_then(|m| m.get(merge_key))
            .unwrap_or(&Value::Null)
    } else {
        item
    }
}

/// Positions in a list, found the way Go's linear `index` finds them
/// (first match wins) but in constant time when every value can be hashed.
struct Positions<'a> {
    values: Vec<&'a Value>,
    by_key: Option<HashMap<GoKey, usize>>,
}

impl<'a> Positions<'a> {
    fn new(list: &'a [Value], merge_key: &str, maps: bool) -> Positions<'a> {
        let values: Vec<&Value> = list
            .iter()
            .map(|i| order_value(i, merge_key, maps))
            .collect();
        let mut by_key = HashMap::with_capacity(values.len());
        let mut hashable = true;
        for (i, v) in values.iter().enumerate() {
            match GoKey::of(v) {
                Some(k) => {
                    by_key.entry(k).or_insert(i);
                }
                None => {
                    hashable = false;
                    break;
                }
            }
        }
        Positions {
            values,
            by_key: hashable.then_some(by_key),
        }
    }

    /// Go's `index(list, item, mergeKey, kind)`: -1 when absent.
    fn index(&self, item: &Value, merge_key: &str, maps: bool) -> Result<i64> {
        let wanted = order_value(item, merge_key, maps);
        if let (Some(map), Some(k)) = (&self.by_key, GoKey::of(wanted)) {
            return Ok(map.get(&k).map_or(-1, |&i| i as i64));
        }
        for (i, v) in self.values.iter().enumerate() {
            if go_eq(wanted, v)? {
                return Ok(i as i64);
            }
        }
        Ok(-1)
    }
}

/// Go's `sort.SliceStable`, reproduced step for step (insertion sort in
/// blocks of 20, then in-place symmetric merges), so that even a `less`
/// that is not a strict order leaves the items where kube leaves them.
fn stable_sort<T>(data: &mut [T], less: &mut dyn FnMut(&T, &T) -> Result<bool>) -> Result<()> {
    let n = data.len();
    let mut block = 20;
    let (mut a, mut b) = (0, block);
    while b <= n {
        insertion_sort(data, a, b, less)?;
        a = b;
        b += block;
    }
    insertion_sort(data, a, n, less)?;
    while block < n {
        let (mut a, mut b) = (0, 2 * block);
        while b <= n {
            sym_merge(data, a, a + block, b, less)?;
            a = b;
            b += 2 * block;
        }
        let m = a + block;
        if m < n {
            sym_merge(data, a, m, n, less)?;
        }
        block *= 2;
    }
    Ok(())
}

fn insertion_sort<T>(
    data: &mut [T],
    a: usize,
    b: usize,
    less: &mut dyn FnMut(&T, &T) -> Result<bool>,
) -> Result<()> {
    for i in a + 1..b {
        let mut j = i;
        while j > a && less(&data[j], &data[j - 1])? {
            data.swap(j, j - 1);
            j -= 1;
        }
    }
    Ok(())
}

fn sym_merge<T>(
    data: &mut [T],
    a: usize,
    m: usize,
    b: usize,
    less: &mut dyn FnMut(&T, &T) -> Result<bool>,
) -> Result<()> {
    if m - a == 1 {
        let (mut i, mut j) = (m, b);
        while i < j {
            let h = (i + j) / 2;
            if less(&data[h], &data[a])? {
                i = h + 1;
            } else {
                j = h;
            }
        }
        let mut k = a;
        while k + 1 < i {
            data.swap(k, k + 1);
            k += 1;
        }
        return Ok(());
    }
    if b - m == 1 {
        let (mut i, mut j) = (a, m);
        while i < j {
            let h = (i + j) / 2;
            if !less(&data[m], &data[h])? {
                i = h + 1;
            } else {
                j = h;
            }
        }
        let mut k = m;
        while k > i {
            data.swap(k, k - 1);
            k -= 1;
        }
        return Ok(());
    }
    let mid = (a + b) / 2;
    let n = mid + m;
    let (mut start, mut r) = if m > mid { (n - b, mid) } else { (a, m) };
    let p = n - 1;
    while start < r {
        let c = (start + r) / 2;
        if !less(&data[p - c], &data[c])? {
            start = c + 1;
        } else {
            r = c;
        }
    }
    let end = n - start;
    if start < m && m < end {
        rotate(data, start, m, end);
    }
    if a < start && start < mid {
        sym_merge(data, a, start, mid, less)?;
    }
    if mid < end && end < b {
        sym_merge(data, mid, end, b, less)?;
    }
    Ok(())
}

fn rotate<T>(data: &mut [T], a: usize, m: usize, b: usize) {
    let mut i = m - a;
    let mut j = b - m;
    while i != j {
        if i > j {
            swap_range(data, m - i, m, j);
            i -= j;
        } else {
            swap_range(data, m - i, m + j - i, i);
            j -= i;
        }
    }
    swap_range(data, m - i, m, i);
}

fn swap_range<T>(data: &mut [T], a: usize, b: usize, n: usize) {
    for i in 0..n {
        data.swap(a + i, b + i);
    }
}

/// The Go element type shared by every item of the lists, or kube's error.
/// `Ok(None)` never happens for non-empty input; a null first item is a
/// Go panic.
fn slice_element_type(slices: &[&[Value]]) -> Result<&'static str> {
    let mut prev: Option<Option<&'static str>> = None;
    for s in slices {
        for v in s.iter() {
            let current = go_type(v);
            match prev {
                None => {
                    match current {
                        None => {
                            return Err(SmpError::Panic(
                                "runtime error: invalid memory address or nil pointer dereference"
                                    .to_string(),
                            ));
                        }
                        Some(SLICE_TYPE) => return Err(ERR_LIST_OF_LISTS),
                        Some(_) => {}
                    }
                    prev = Some(current);
                }
                Some(p) => {
                    if p != current {
                        let all: Vec<Value> =
                            slices.iter().map(|s| Value::Array(s.to_vec())).collect();
                        return Err(SmpError::Other(format!(
                            "list element types are not identical: {}",
                            go_v(&Value::Array(all))
                        )));
                    }
                }
            }
        }
    }
    match prev {
        Some(Some(t)) => Ok(t),
        _ => Err(SmpError::Other(
            "no elements in any of the given slices".to_string(),
        )),
    }
}

/// Go's `mergeMap` with `MergeParallelList` and `IgnoreUnmatchedNulls`.
fn merge_map(
    mut original: Map<String, Value>,
    mut patch: Map<String, Value>,
    meta: &dyn PatchMeta,
) -> Result<Map<String, Value>> {
    if let Some(directive) = patch.get(DIRECTIVE) {
        return handle_directive_in_map(directive.clone(), patch);
    }
    apply_retain_keys(&mut original, &mut patch)?;
    merge_patch_into_original(&mut original, &mut patch, meta)?;

    for (key, patch_value) in patch {
        let mut key = key;
        let mut is_delete_list = false;
        if key.starts_with(DELETE_FROM_PRIMITIVE_LIST) {
            let stripped = extract_key(&key, DELETE_FROM_PRIMITIVE_LIST)?;
            is_delete_list = true;
            if !stripped.is_empty() {
                key = stripped;
            }
        }
        if patch_value.is_null() {
            original.remove(&key);
            continue;
        }
        let Some(current) = original.get(&key) else {
            if !is_delete_list {
                original.insert(key, discard_nulls(patch_value));
            }
            continue;
        };
        if go_type(current) != go_type(&patch_value) {
            if !is_delete_list {
                original.insert(key, discard_nulls(patch_value));
            }
            continue;
        }
        let Some(slot) = original.get_mut(&key) else {
            continue;
        };
        // Taken out and put back in place, so the key keeps its position.
        let current = std::mem::take(slot);
        let merged = match (current, patch_value) {
            (Value::Object(o), Value::Object(p)) => {
                let (strategy, sub) = meta.lookup_field(&key).map_err(SmpError::Other)?;
                if strategy.kind == StrategyKind::Replace {
                    Value::Object(p)
                } else {
                    Value::Object(merge_map(o, p, sub)?)
                }
            }
            (Value::Array(o), Value::Array(p)) => {
                let (strategy, sub) = meta.lookup_list(&key).map_err(SmpError::Other)?;
                if strategy.kind == StrategyKind::Merge {
                    Value::Array(merge_slice(o, p, sub, strategy.merge_key, is_delete_list)?)
                } else {
                    Value::Array(p)
                }
            }
            (_, p) => p,
        };
        if let Some(slot) = original.get_mut(&key) {
            *slot = merged;
        }
    }
    Ok(original)
}

/// `$patch` in an object: `replace` keeps the patch as it is (minus the
/// marker), `delete` empties the object, anything else is refused.
fn handle_directive_in_map(
    directive: Value,
    mut patch: Map<String, Value>,
) -> Result<Map<String, Value>> {
    match directive.as_str() {
        Some(REPLACE) => {
            patch.remove(DIRECTIVE);
            Ok(patch)
        }
        Some(DELETE) => Ok(Map::new()),
        _ => Err(bad_patch_type(&directive, &patch)),
    }
}

/// kube's `discardNullValuesFromPatch`: null object members go, at any
/// depth; nulls inside lists stay.
fn discard_nulls(v: Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k, discard_nulls(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(discard_nulls).collect()),
        other => other,
    }
}

/// The field a `$deleteFromPrimitiveList/...` or `$setElementOrder/...`
/// key names.
fn extract_key(s: &str, prefix: &str) -> Result<String> {
    match s.split_once('/') {
        Some((head, rest)) if head == prefix => Ok(rest.to_string()),
        _ => Err(if prefix == DELETE_FROM_PRIMITIVE_LIST {
            ERR_PRIMITIVE_LIST
        } else {
            ERR_SET_ELEMENT_ORDER
        }),
    }
}

/// `$retainKeys`: every key the patch sets must be listed, and stored keys
/// not listed are dropped.
fn apply_retain_keys(
    original: &mut Map<String, Value>,
    patch: &mut Map<String, Value>,
) -> Result<()> {
    let Some(retain) = patch.remove(RETAIN_KEYS) else {
        return Ok(());
    };
    let Value::Array(list) = retain else {
        return Err(ERR_RETAIN_KEYS);
    };
    let mut keep = std::collections::HashSet::with_capacity(list.len());
    for v in &list {
        keep.insert(GoKey::of(v).ok_or_else(|| unhashable(v))?);
    }
    for (k, v) in patch.iter() {
        if v.is_null()
            || k.starts_with(DELETE_FROM_PRIMITIVE_LIST)
            || k.starts_with(SET_ELEMENT_ORDER)
        {
            continue;
        }
        if !keep.contains(&GoKey::Str(k.clone())) {
            return Err(ERR_RETAIN_KEYS);
        }
    }
    original.retain(|k, _| keep.contains(&GoKey::Str(k.clone())));
    Ok(())
}

/// `$setElementOrder/<list>`: merges the list now and puts its items in
/// the order the directive gives, server-only items kept where they were.
fn merge_patch_into_original(
    original: &mut Map<String, Value>,
    patch: &mut Map<String, Value>,
    meta: &dyn PatchMeta,
) -> Result<()> {
    let directives: Vec<String> = patch
        .keys()
        .filter(|k| k.starts_with(SET_ELEMENT_ORDER))
        .cloned()
        .collect();
    for key in directives {
        let Some(order) = patch.remove(&key) else {
            continue;
        };
        let Value::Array(order) = order else {
            return Err(bad_arg_type(SLICE_TYPE, &order));
        };
        let list_key = extract_key(&key, SET_ELEMENT_ORDER)?;
        let found_original = original.get(&list_key).cloned();
        let found_patch = patch.get(&list_key).cloned();
        let original_items = match &found_original {
            Some(Value::Array(items)) => items.clone(),
            Some(other) => return Err(bad_arg_type(SLICE_TYPE, other)),
            None => Vec::new(),
        };
        let patch_items = match &found_patch {
            Some(Value::Array(items)) => items.clone(),
            Some(other) => return Err(bad_arg_type(SLICE_TYPE, other)),
            None => Vec::new(),
        };
        let (strategy, sub) = meta.lookup_list(&list_key).map_err(SmpError::Other)?;
        let merge_key = strategy.merge_key;
        validate_patch_with_set_order_list(&patch_items, &order, merge_key)?;

        let merged = match (found_original.is_some(), found_patch.is_some()) {
            (true, false) => original_items.clone(),
            (false, true) => patch_items.clone(),
            (true, true) => {
                if strategy.kind == StrategyKind::Merge {
                    merge_slice(
                        original_items.clone(),
                        patch_items.clone(),
                        sub,
                        merge_key,
                        false,
                    )?
                } else {
                    patch_items.clone()
                }
            }
            (false, false) => continue,
        };

        let (patch_part, server_only) = if merge_key.is_empty() {
            partition_primitives(merged, &order)?
        } else {
            partition_maps(merged, &order, merge_key)?
        };
        let element_type = slice_element_type(&[&original_items, &patch_items])?;
        let maps = element_type == MAP_TYPE;
        let both = normalize_element_order(
            patch_part,
            server_only,
            &order,
            &original_items,
            merge_key,
            maps,
        )?;
        original.insert(list_key.clone(), Value::Array(both));
        patch.remove(&list_key);
    }
    Ok(())
}

/// Checks that the patch list's items appear in the `$setElementOrder`
/// list, in the same relative order.
fn validate_patch_with_set_order_list(
    patch_list: &[Value],
    order: &[Value],
    merge_key: &str,
) -> Result<()> {
    if order.is_empty() || patch_list.is_empty() {
        return Ok(());
    }
    let non_delete: Vec<&Value> = if merge_key.is_empty() {
        patch_list.iter().collect()
    } else {
        let (keep, _) = extract_to_delete_items(patch_list)?;
        keep
    };
    let (mut pi, mut oi) = (0, 0);
    while pi < non_delete.len() && oi < order.len() {
        if non_delete[pi]
            .as_object()
            .is_some_and(|m| m.contains_key(DIRECTIVE))
        {
            pi += 1;
            continue;
        }
        if merge_key_value_equal(non_delete[pi], &order[oi], merge_key)? {
            pi += 1;
        }
        oi += 1;
    }
    if pi < non_delete.len() && oi >= order.len() {
        return Err(SmpError::Other(format!(
            "The order in patch list:\n{}\n doesn't match {SET_ELEMENT_ORDER} list:\n{}\n",
            go_v(&Value::Array(patch_list.to_vec())),
            go_v(&Value::Array(order.to_vec()))
        )));
    }
    Ok(())
}

fn merge_key_value_equal(left: &Value, right: &Value, merge_key: &str) -> Result<bool> {
    if merge_key.is_empty() {
        return go_eq(left, right);
    }
    let l = left
        .as_object()
        .ok_or_else(|| bad_arg_type(MAP_TYPE, left))?;
    let r = right
        .as_object()
        .ok_or_else(|| bad_arg_type(MAP_TYPE, right))?;
    let lv = l.get(merge_key).ok_or_else(|| no_merge_key(l, merge_key))?;
    let rv = r.get(merge_key).ok_or_else(|| no_merge_key(r, merge_key))?;
    go_eq(lv, rv)
}

/// Splits items into those without and those with `$patch: delete`.
fn extract_to_delete_items(list: &[Value]) -> Result<(Vec<&Value>, Vec<&Value>)> {
    let (mut keep, mut delete) = (Vec::new(), Vec::new());
    for v in list {
        let m = v.as_object().ok_or_else(|| bad_arg_type(MAP_TYPE, v))?;
        if m.get(DIRECTIVE).and_then(Value::as_str) == Some(DELETE) {
            delete.push(v);
        } else {
            keep.push(v);
        }
    }
    Ok((keep, delete))
}

/// Go's `mergeSlice` for a list whose strategy is `merge`.
fn merge_slice(
    original: Vec<Value>,
    patch: Vec<Value>,
    meta: &dyn PatchMeta,
    merge_key: &str,
    is_delete_list: bool,
) -> Result<Vec<Value>> {
    if original.is_empty() && patch.is_empty() {
        return Ok(original);
    }
    let element_type = slice_element_type(&[&original, &patch])?;
    let maps = element_type == MAP_TYPE;
    let (original, patch, merged) = if !maps {
        if is_delete_list {
            return delete_from_slice(original, &patch);
        }
        let mut both = original.clone();
        both.extend(patch.iter().cloned());
        let merged = deduplicate_scalars(both)?;
        (original, patch, merged)
    } else {
        if merge_key.is_empty() {
            return Err(SmpError::Other(format!(
                "cannot merge lists without merge key for {}",
                meta.name()
            )));
        }
        let (original, patch) = merge_slice_with_special_elements(original, patch, merge_key)?;
        let merged =
            merge_slice_without_special_elements(original.clone(), &patch, merge_key, meta)?;
        (original, patch, merged)
    };
    let (patch_part, server_only) = if merge_key.is_empty() {
        partition_primitives(merged, &patch)?
    } else {
        partition_maps(merged, &patch, merge_key)?
    };
    normalize_element_order(patch_part, server_only, &patch, &original, merge_key, maps)
}

/// `$deleteFromPrimitiveList`: drops every stored item the list names.
fn delete_from_slice(current: Vec<Value>, to_delete: &[Value]) -> Result<Vec<Value>> {
    let mut gone = std::collections::HashSet::with_capacity(to_delete.len());
    for v in to_delete {
        gone.insert(GoKey::of(v).ok_or_else(|| unhashable(v))?);
    }
    let mut out = Vec::with_capacity(current.len());
    for v in current {
        let k = GoKey::of(&v).ok_or_else(|| unhashable(&v))?;
        if !gone.contains(&k) {
            out.push(v);
        }
    }
    Ok(out)
}

/// Go's `deduplicateScalars`: each later copy of a value is overwritten by
/// the current last item and the list shortened, which reorders the tail.
/// Reproduced exactly, in O(n log n) rather than Go's O(n²).
fn deduplicate_scalars(mut s: Vec<Value>) -> Result<Vec<Value>> {
    let mut keys = Vec::with_capacity(s.len());
    for v in &s {
        keys.push(GoKey::of(v).ok_or_else(|| uncomparable(v))?);
    }
    let mut positions: HashMap<GoKey, std::collections::BTreeSet<usize>> = HashMap::new();
    for (i, k) in keys.iter().enumerate() {
        positions.entry(k.clone()).or_default().insert(i);
    }
    let mut len = s.len();
    let mut i = 0;
    while i + 1 < len {
        let k = keys[i].clone();
        loop {
            let next = positions
                .get(&k)
                .and_then(|set| set.range(i + 1..).next().copied());
            let Some(p) = next else { break };
            let last = len - 1;
            if let Some(set) = positions.get_mut(&k) {
                set.remove(&p);
            }
            if last != p {
                let moved = keys[last].clone();
                if let Some(set) = positions.get_mut(&moved) {
                    set.remove(&last);
                    set.insert(p);
                }
                keys.swap(p, last);
                s.swap(p, last);
            }
            len -= 1;
        }
        i += 1;
    }
    s.truncate(len);
    Ok(s)
}

/// Handles `$patch` items in a merging list: `delete` removes matching
/// stored items, `replace` makes the patch's other items the whole list.
fn merge_slice_with_special_elements(
    mut original: Vec<Value>,
    patch: Vec<Value>,
    merge_key: &str,
) -> Result<(Vec<Value>, Vec<Value>)> {
    let mut plain = Vec::with_capacity(patch.len());
    let mut replace = false;
    for v in patch {
        let Some(m) = v.as_object() else {
            plain.push(v);
            continue;
        };
        let Some(directive) = m.get(DIRECTIVE) else {
            plain.push(v);
            continue;
        };
        match directive.as_str() {
            Some(DELETE) => match m.get(merge_key) {
                Some(value) => {
                    let mut kept = Vec::with_capacity(original.len());
                    for item in original {
                        let matches = match item.as_object() {
                            Some(im) => match im.get(merge_key) {
                                Some(iv) => go_eq(iv, value)?,
                                None => false,
                            },
                            None => {
                                return Err(SmpError::Other(format!(
                                    "value for key {} is not a map",
                                    kept.len()
                                )));
                            }
                        };
                        if !matches {
                            kept.push(item);
                        }
                    }
                    original = kept;
                }
                None => return Err(no_merge_key(m, merge_key)),
            },
            Some(REPLACE) => replace = true,
            Some(MERGE) => {
                return Err(SmpError::Other(
                    "merging lists cannot yet be specified in the patch".to_string(),
                ));
            }
            _ => return Err(bad_patch_type(directive, m)),
        }
    }
    if replace {
        return Ok((plain, Vec::new()));
    }
    Ok((original, plain))
}

/// Merges each patch item into the stored item with the same merge key,
/// or appends it.
fn merge_slice_without_special_elements(
    mut original: Vec<Value>,
    patch: &[Value],
    merge_key: &str,
    meta: &dyn PatchMeta,
) -> Result<Vec<Value>> {
    let mut index = KeyIndex::new(&original, merge_key)?;
    for v in patch {
        let Some(typed) = v.as_object() else {
            return Err(bad_arg_type(MAP_TYPE, v));
        };
        let Some(value) = typed.get(merge_key) else {
            return Err(no_merge_key(typed, merge_key));
        };
        match index.find(&original, merge_key, value)? {
            Some(i) => {
                let stored = match std::mem::take(&mut original[i]) {
                    Value::Object(m) => m,
                    _ => Map::new(),
                };
                original[i] = Value::Object(merge_map(stored, typed.clone(), meta)?);
            }
            None => {
                index.push(value, original.len());
                original.push(v.clone());
            }
        }
    }
    Ok(original)
}

/// Go's `findMapInSliceBasedOnKeyValue` over a list of maps: the first
/// map whose merge key equals the value, an error if a non-map comes
/// first. Hashed when every key value can be hashed.
struct KeyIndex {
    by_key: Option<HashMap<GoKey, usize>>,
    first_non_map: Option<usize>,
}

impl KeyIndex {
    fn new(list: &[Value], merge_key: &str) -> Result<KeyIndex> {
        let mut by_key = HashMap::with_capacity(list.len());
        let mut hashable = true;
        let mut first_non_map = None;
        for (i, item) in list.iter().enumerate() {
            match item.as_object() {
                None => {
                    first_non_map.get_or_insert(i);
                }
                Some(m) => {
                    if let Some(v) = m.get(merge_key) {
                        match GoKey::of(v) {
                            Some(k) => {
                                by_key.entry(k).or_insert(i);
                            }
                            None => hashable = false,
                        }
                    }
                }
            }
        }
        Ok(KeyIndex {
            by_key: hashable.then_some(by_key),
            first_non_map,
        })
    }

    fn push(&mut self, value: &Value, at: usize) {
        match (&mut self.by_key, GoKey::of(value)) {
            (Some(map), Some(k)) => {
                map.entry(k).or_insert(at);
            }
            _ => self.by_key = None,
        }
    }

    fn find(&self, list: &[Value], merge_key: &str, value: &Value) -> Result<Option<usize>> {
        if let (Some(map), Some(k)) = (&self.by_key, GoKey::of(value)) {
            let hit = map.get(&k).copied();
            return match (hit, self.first_non_map) {
                (Some(i), Some(bad)) if bad < i => Err(not_a_map(bad)),
                (None, Some(bad)) => Err(not_a_map(bad)),
                (hit, _) => Ok(hit),
            };
        }
        find_map_linear(list, merge_key, value)
    }
}

fn not_a_map(i: usize) -> SmpError {
    SmpError::Other(format!("value for key {i} is not a map"))
}

fn find_map_linear(list: &[Value], merge_key: &str, value: &Value) -> Result<Option<usize>> {
    for (i, item) in list.iter().enumerate() {
        let Some(m) = item.as_object() else {
            return Err(not_a_map(i));
        };
        if let Some(v) = m.get(merge_key)
            && go_eq(v, value)?
        {
            return Ok(Some(i));
        }
    }
    Ok(None)
}

/// Splits scalars into those present in `by` and the rest.
fn partition_primitives(items: Vec<Value>, by: &[Value]) -> Result<(Vec<Value>, Vec<Value>)> {
    let mut present = std::collections::HashSet::with_capacity(by.len());
    for v in by {
        present.insert(GoKey::of(v).ok_or_else(|| unhashable(v))?);
    }
    let (mut inside, mut outside) = (Vec::new(), Vec::new());
    for v in items {
        let k = GoKey::of(&v).ok_or_else(|| unhashable(&v))?;
        if present.contains(&k) {
            inside.push(v);
        } else {
            outside.push(v);
        }
    }
    Ok((inside, outside))
}

/// Splits maps into those whose merge key appears in `by` and the rest.
fn partition_maps(
    items: Vec<Value>,
    by: &[Value],
    merge_key: &str,
) -> Result<(Vec<Value>, Vec<Value>)> {
    let index = KeyIndex::new(by, merge_key)?;
    let (mut inside, mut outside) = (Vec::new(), Vec::new());
    for v in items {
        let Some(m) = v.as_object() else {
            return Err(bad_arg_type(MAP_TYPE, &v));
        };
        let Some(value) = m.get(merge_key) else {
            return Err(no_merge_key(m, merge_key));
        };
        if index.find(by, merge_key, value)?.is_some() {
            inside.push(v);
        } else {
            outside.push(v);
        }
    }
    Ok((inside, outside))
}

/// Sorts the patch's items by the patch order and the server-only items by
/// the stored order, then interleaves them by the stored order.
fn normalize_element_order(
    patch: Vec<Value>,
    server_only: Vec<Value>,
    patch_order: &[Value],
    server_order: &[Value],
    merge_key: &str,
    maps: bool,
) -> Result<Vec<Value>> {
    let patch = normalize_slice_order(patch, patch_order, merge_key, maps)?;
    let server_only = normalize_slice_order(server_only, server_order, merge_key, maps)?;
    merge_sorted_slice(server_only, patch, server_order, merge_key, maps)
}

fn normalize_slice_order(
    to_sort: Vec<Value>,
    order: &[Value],
    merge_key: &str,
    maps: bool,
) -> Result<Vec<Value>> {
    let (mut to_sort, to_delete) = if maps {
        for item in to_sort.iter().chain(order.iter()) {
            let m = item
                .as_object()
                .ok_or_else(|| bad_arg_type(MAP_TYPE, item))?;
            if !m.contains_key(merge_key) {
                return Err(no_merge_key(m, merge_key));
            }
        }
        let (mut keep, mut delete) = (Vec::new(), Vec::new());
        for v in to_sort {
            if v.get(DIRECTIVE).and_then(Value::as_str) == Some(DELETE) {
                delete.push(v);
            } else {
                keep.push(v);
            }
        }
        (keep, delete)
    } else {
        (to_sort, Vec::new())
    };
    let positions = Positions::new(order, merge_key, maps);
    let mut less = |a: &Value, b: &Value| -> Result<bool> {
        let ia = positions.index(a, merge_key, maps)?;
        if ia >= 0 {
            let ib = positions.index(b, merge_key, maps)?;
            if ib >= 0 {
                return Ok(ia < ib);
            }
        }
        Ok(true)
    };
    stable_sort(&mut to_sort, &mut less)?;
    to_sort.extend(to_delete);
    Ok(to_sort)
}

/// Go's `mergeSortedSlice`: inserts each of `left` into `right` before the
/// first item it precedes in `server_order`.
fn merge_sorted_slice(
    left: Vec<Value>,
    right: Vec<Value>,
    server_order: &[Value],
    merge_key: &str,
    maps: bool,
) -> Result<Vec<Value>> {
    let positions = Positions::new(server_order, merge_key, maps);
    let size = left.len() + right.len();
    let mut out = Vec::with_capacity(size);
    let mut left = left.into_iter().peekable();
    let mut right = right.into_iter().peekable();
    for _ in 0..size {
        let take_left = match (left.peek(), right.peek()) {
            (Some(_), None) => true,
            (None, _) => false,
            (Some(l), Some(r)) => {
                let li = positions.index(l, merge_key, maps)?;
                let ri = positions.index(r, merge_key, maps)?;
                li >= 0 && ri >= 0 && li < ri
            }
        };
        let next = if take_left { left.next() } else { right.next() };
        if let Some(v) = next {
            out.push(v);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stable_sort_matches_go_on_a_proper_order() {
        let mut v: Vec<i32> = (0..100).rev().collect();
        stable_sort(&mut v, &mut |a, b| Ok(a < b)).unwrap();
        assert_eq!(v, (0..100).collect::<Vec<_>>());
        // Stability: equal keys keep their order.
        let mut v: Vec<(i32, i32)> = (0..50).map(|i| (i % 3, i)).collect();
        stable_sort(&mut v, &mut |a, b| Ok(a.0 < b.0)).unwrap();
        for w in v.windows(2) {
            assert!(w[0].0 < w[1].0 || (w[0].0 == w[1].0 && w[0].1 < w[1].1));
        }
    }

    #[test]
    fn deduplication_reorders_like_go() {
        // Go: [a b a c b] -> i=0 removes the a at 2 (c moves in): [a b c b]
        // -> i=1 removes the b at 3: [a b c].
        let v = vec![
            Value::from("a"),
            Value::from("b"),
            Value::from("a"),
            Value::from("c"),
            Value::from("b"),
        ];
        assert_eq!(
            deduplicate_scalars(v).unwrap(),
            vec![Value::from("a"), Value::from("b"), Value::from("c")]
        );
        // [x y x x z] -> the x at 2 takes z: [x y z x] -> the x at 3 goes.
        let v: Vec<Value> = ["x", "y", "x", "x", "z"]
            .iter()
            .map(|s| Value::from(*s))
            .collect();
        assert_eq!(
            deduplicate_scalars(v).unwrap(),
            ["x", "y", "z"]
                .iter()
                .map(|s| Value::from(*s))
                .collect::<Vec<_>>()
        );
        // Ints and floats are different Go types, so 1 and 1.0 both stay.
        let v = vec![Value::from(1), Value::from(1.0), Value::from(1)];
        assert_eq!(
            deduplicate_scalars(v).unwrap(),
            vec![Value::from(1), Value::from(1.0)]
        );
    }
}
