//! How Go prints the values that end up in kube's messages.
//!
//! kube-openapi formats bounds with `%v` (so a `float64` maximum of one
//! million reads `1e+06`), lists enum values through `encoding/json`, and
//! `field.Error` prints compound bad values with `%#v`. Messages only match
//! kube byte for byte if these follow Go's rules rather than Rust's.

use serde_json::Value;

use crate::field::go_quote;

/// Formats a float as Go's `%v` does: the shortest digits that round-trip,
/// written in exponent form (`1e+06`, `1.5e-07`) when the decimal exponent is
/// below -4 or at least 6, and plainly (`0.001`, `123456`) otherwise.
pub fn go_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".to_string();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf" } else { "-Inf" }.to_string();
    }
    if f == 0.0 {
        return if f.is_sign_negative() { "-0" } else { "0" }.to_string();
    }
    let (negative, digits, exp) = shortest_digits(f);
    let mut out = String::new();
    if negative {
        out.push('-');
    }
    if !(-4..6).contains(&exp) {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        out.push('e');
        out.push(if exp < 0 { '-' } else { '+' });
        let e = exp.unsigned_abs();
        if e < 10 {
            out.push('0');
        }
        out.push_str(&e.to_string());
    } else {
        push_plain(&mut out, &digits, exp);
    }
    out
}

/// Formats a float as Go's `encoding/json` does: integers without a
/// fraction, exponent form only below 1e-6 or from 1e21 on (`1e+21`,
/// `1e-07`).
pub fn go_json_float(f: f64) -> String {
    if !f.is_finite() {
        return go_float(f);
    }
    if f == 0.0 {
        return if f.is_sign_negative() { "-0" } else { "0" }.to_string();
    }
    let abs = f.abs();
    let (negative, digits, exp) = shortest_digits(f);
    let mut out = String::new();
    if negative {
        out.push('-');
    }
    if !(1e-6..1e21).contains(&abs) {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        out.push('e');
        out.push(if exp < 0 { '-' } else { '+' });
        let e = exp.unsigned_abs();
        // encoding/json strips the padding Go's 'e' format puts on small
        // negative exponents (e-07 becomes e-7) but keeps it on positive ones.
        if exp > 0 && e < 10 {
            out.push('0');
        }
        out.push_str(&e.to_string());
    } else {
        push_plain(&mut out, &digits, exp);
    }
    out
}

/// Splits a finite, non-zero float into its sign, shortest round-trip
/// decimal digits and decimal exponent (value = 0.d1d2... * 10^(exp+1)).
fn shortest_digits(f: f64) -> (bool, String, i32) {
    // Rust's `{:e}` already yields the shortest round-trip digits.
    let s = format!("{:e}", f.abs());
    let (mantissa, exp) = s.split_once('e').unwrap_or((s.as_str(), "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    (f.is_sign_negative(), digits, exp)
}

fn push_plain(out: &mut String, digits: &str, exp: i32) {
    if exp < 0 {
        out.push_str("0.");
        for _ in 0..(-exp - 1) {
            out.push('0');
        }
        out.push_str(digits);
        return;
    }
    let int_len = exp as usize + 1;
    if digits.len() <= int_len {
        out.push_str(digits);
        for _ in digits.len()..int_len {
            out.push('0');
        }
    } else {
        out.push_str(&digits[..int_len]);
        out.push('.');
        out.push_str(&digits[int_len..]);
    }
}

/// Prints a JSON number the way kube holds it after decoding: integers that
/// fit an int64 as integers, everything else as a float64.
pub fn go_number(n: &serde_json::Number) -> String {
    if let Some(i) = n.as_i64() {
        i.to_string()
    } else {
        go_float(n.as_f64().unwrap_or(0.0))
    }
}

/// Marshals a value as Go's `encoding/json` would (sorted keys, HTML-safe
/// escapes, Go's float style), as kube does for non-string enum values.
pub fn go_json(value: &Value) -> String {
    let mut out = String::new();
    write_go_json(&mut out, value);
    out
}

fn write_go_json(out: &mut String, value: &Value) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                out.push_str(&i.to_string());
            } else if let Some(u) = n.as_u64() {
                out.push_str(&go_json_float(u as f64));
            } else {
                out.push_str(&go_json_float(n.as_f64().unwrap_or(0.0)));
            }
        }
        Value::String(s) => write_go_json_string(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_go_json(out, item);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_go_json_string(out, k);
                out.push(':');
                if let Some(v) = map.get(k.as_str()) {
                    write_go_json(out, v);
                }
            }
            out.push('}');
        }
    }
}

fn write_go_json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Prints a decoded JSON value as Go's `%#v` prints the `interface{}` kube
/// holds: `map[string]interface {}{"a":1}`, `[]interface {}{"x", 2}`,
/// quoted strings, `<nil>` for null. kube's `field.Error` uses this form for
/// bad values that are maps or lists.
pub fn go_sharp_v(value: &Value) -> String {
    let mut out = String::new();
    write_sharp_v(&mut out, value, true);
    out
}

fn write_sharp_v(out: &mut String, value: &Value, top: bool) {
    match value {
        Value::Null => out.push_str(if top { "<nil>" } else { "interface {}(nil)" }),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&go_number(n)),
        Value::String(s) => out.push_str(&go_quote(s)),
        Value::Array(items) => {
            out.push_str("[]interface {}{");
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_sharp_v(out, item, false);
            }
            out.push('}');
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push_str("map[string]interface {}{");
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(&go_quote(k));
                out.push(':');
                if let Some(v) = map.get(k.as_str()) {
                    write_sharp_v(out, v, false);
                }
            }
            out.push('}');
        }
    }
}

/// Prints a value as Go's `%v` prints the `interface{}` kube holds, as used
/// in `fmt.Sprintf("%v", values)` for enum lists: `map[a:1]`, `[x 2]`.
pub fn go_v(value: &Value) -> String {
    match value {
        Value::Null => "<nil>".to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => go_number(n),
        Value::String(s) => s.clone(),
        Value::Array(items) => {
            let parts: Vec<String> = items.iter().map(go_v).collect();
            format!("[{}]", parts.join(" "))
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let parts: Vec<String> = keys
                .iter()
                .map(|k| format!("{k}:{}", map.get(k.as_str()).map(go_v).unwrap_or_default()))
                .collect();
            format!("map[{}]", parts.join(" "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn floats_print_like_go_percent_v() {
        assert_eq!(go_float(10.0), "10");
        assert_eq!(go_float(1.5), "1.5");
        assert_eq!(go_float(100000.0), "100000");
        assert_eq!(go_float(1e6), "1e+06");
        assert_eq!(go_float(12345678.0), "1.2345678e+07");
        assert_eq!(go_float(0.0001), "0.0001");
        assert_eq!(go_float(0.00001), "1e-05");
        assert_eq!(go_float(-2.5), "-2.5");
        assert_eq!(go_float(1e100), "1e+100");
        assert_eq!(go_float(0.1), "0.1");
        assert_eq!(go_float(123.456), "123.456");
        assert_eq!(go_float(f64::NAN), "NaN");
        assert_eq!(go_float(f64::INFINITY), "+Inf");
        assert_eq!(go_float(-0.0), "-0");
    }

    #[test]
    fn floats_marshal_like_go_json() {
        assert_eq!(go_json_float(1.0), "1");
        assert_eq!(go_json_float(1e6), "1000000");
        assert_eq!(go_json_float(1e21), "1e+21");
        assert_eq!(go_json_float(1e-7), "1e-7");
        assert_eq!(go_json_float(0.5), "0.5");
        assert_eq!(
            go_json(&json!({"b": 1.5, "a": "<x>"})),
            r#"{"a":"\u003cx\u003e","b":1.5}"#
        );
        assert_eq!(go_json(&json!([1, true, null])), "[1,true,null]");
    }

    #[test]
    fn sharp_v_prints_like_go() {
        assert_eq!(
            go_sharp_v(&json!({"name": "a", "port": 80})),
            r#"map[string]interface {}{"name":"a", "port":80}"#
        );
        assert_eq!(
            go_sharp_v(&json!(["x", 2, null])),
            r#"[]interface {}{"x", 2, interface {}(nil)}"#
        );
        assert_eq!(go_sharp_v(&json!({})), "map[string]interface {}{}");
        assert_eq!(go_sharp_v(&Value::Null), "<nil>");
        assert_eq!(go_v(&json!(["a", 1, {"k": true}])), "[a 1 map[k:true]]");
    }
}
