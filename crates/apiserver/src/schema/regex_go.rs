//! Go (RE2) regular expressions on top of the `regex` crate.
//!
//! kube compiles `pattern` with Go's `regexp`. The syntaxes are close, but
//! Go's `\d`, `\w`, `\s` and `\b` are ASCII-only, Go takes `[` inside a class
//! and an unmatched `{` literally, and Go words its compile errors its own
//! way (`error parsing regexp: missing closing ): `(a``). This module
//! rewrites the differences away and reproduces Go's error text for the
//! mistakes people actually make, so a CRD with a bad pattern is rejected
//! with kube's message when it is created.

use std::fmt;

use regex::Regex;

/// A compiled pattern that matches as Go's `regexp.MatchString` would.
#[derive(Clone)]
pub(crate) struct GoRegex {
    source: Box<str>,
    re: Regex,
}

impl GoRegex {
    /// Compiles a Go pattern, or returns Go's error text for it.
    pub(crate) fn compile(pattern: &str) -> Result<GoRegex, String> {
        if let Some(err) = structural_error(pattern) {
            return Err(err);
        }
        let translated = translate(pattern)?;
        match regex::RegexBuilder::new(&translated)
            .size_limit(32 << 20)
            .build()
        {
            Ok(re) => Ok(GoRegex {
                source: pattern.into(),
                re,
            }),
            Err(e) => Err(go_error_from(&e.to_string(), &translated)),
        }
    }

    /// Whether the pattern matches anywhere in `s` (Go's `MatchString`).
    pub(crate) fn is_match(&self, s: &str) -> bool {
        self.re.is_match(s)
    }

    /// The pattern as written in the schema.
    pub(crate) fn source(&self) -> &str {
        &self.source
    }
}

impl fmt::Debug for GoRegex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("GoRegex").field(&self.source).finish()
    }
}

fn go_err(code: &str, expr: &str) -> String {
    format!("error parsing regexp: {code}: `{expr}`")
}

/// Finds the unbalanced parentheses and brackets Go reports before
/// anything else, with the fragment Go quotes.
fn structural_error(pattern: &str) -> Option<String> {
    let bytes: Vec<char> = pattern.chars().collect();
    let mut depth = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            '\\' => i += 2,
            '[' => {
                let start = i;
                match class_end(&bytes, i) {
                    Some(end) => i = end + 1,
                    None => {
                        let frag: String = bytes[start..].iter().collect();
                        return Some(go_err("missing closing ]", &frag));
                    }
                }
            }
            '(' => {
                depth += 1;
                i += 1;
            }
            ')' => {
                if depth == 0 {
                    return Some(go_err("unexpected )", pattern));
                }
                depth -= 1;
                i += 1;
            }
            _ => i += 1,
        }
    }
    if depth > 0 {
        return Some(go_err("missing closing )", pattern));
    }
    None
}

/// The index of the `]` closing the class opened at `start`, Go style: a
/// `]` right after `[` or `[^` is literal, `[:name:]` is one unit, and any
/// other `[` is a literal character.
fn class_end(chars: &[char], start: usize) -> Option<usize> {
    let mut i = start + 1;
    if chars.get(i) == Some(&'^') {
        i += 1;
    }
    if chars.get(i) == Some(&']') {
        i += 1;
    }
    while i < chars.len() {
        match chars[i] {
            '\\' => i += 2,
            '[' if chars.get(i + 1) == Some(&':') => {
                let rest: String = chars[i..].iter().collect();
                match rest.find(":]") {
                    Some(off) if off > 1 => i += rest[..off + 2].chars().count(),
                    _ => i += 1,
                }
            }
            ']' => return Some(i),
            _ => i += 1,
        }
    }
    None
}

/// Rewrites a Go pattern into one the `regex` crate reads the same way.
fn translate(pattern: &str) -> Result<String, String> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = String::with_capacity(pattern.len() + 16);
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '\\' => {
                let Some(&n) = chars.get(i + 1) else {
                    return Err(go_err("trailing backslash at end of expression", ""));
                };
                match n {
                    'd' => out.push_str("[0-9]"),
                    'D' => out.push_str("[^0-9]"),
                    'w' => out.push_str("[0-9A-Za-z_]"),
                    'W' => out.push_str("[^0-9A-Za-z_]"),
                    's' => out.push_str("[\\t\\n\\f\\r ]"),
                    'S' => out.push_str("[^\\t\\n\\f\\r ]"),
                    'b' => out.push_str("(?-u:\\b)"),
                    'B' => out.push_str("(?-u:\\B)"),
                    'C' | 'Z' | 'e' | 'u' | 'U' => {
                        return Err(go_err("invalid escape sequence", &format!("\\{n}")));
                    }
                    n if n.is_ascii_digit() && n != '0' => {
                        return Err(go_err("invalid escape sequence", &format!("\\{n}")));
                    }
                    _ => {
                        out.push('\\');
                        out.push(n);
                    }
                }
                i += 2;
            }
            '[' => {
                let end = class_end(&chars, i).unwrap_or(chars.len() - 1);
                translate_class(&chars[i..=end], &mut out);
                i = end + 1;
            }
            '{' => match repeat_len(&chars, i) {
                Some((len, counts)) => {
                    if counts.iter().any(|n| *n > 1000) {
                        let frag: String = chars[i..i + len].iter().collect();
                        return Err(go_err("invalid repeat count", &frag));
                    }
                    if let [lo, hi] = counts[..]
                        && hi < lo
                    {
                        let frag: String = chars[i..i + len].iter().collect();
                        return Err(go_err("invalid repeat count", &frag));
                    }
                    out.extend(&chars[i..i + len]);
                    i += len;
                }
                None => {
                    out.push_str("\\{");
                    i += 1;
                }
            },
            '}' => {
                out.push_str("\\}");
                i += 1;
            }
            _ => {
                out.push(c);
                i += 1;
            }
        }
        // Go rejects a repetition operator applied to a repetition.
        if matches!(c, '*' | '+' | '?')
            && let Some(&next) = chars.get(i)
            && matches!(next, '*' | '+')
        {
            let frag: String = chars[i - 1..=i].iter().collect();
            return Err(go_err("invalid nested repetition operator", &frag));
        }
    }
    Ok(out)
}

/// If a valid `{n}`, `{n,}` or `{n,m}` starts at `i`, its length and counts.
fn repeat_len(chars: &[char], i: usize) -> Option<(usize, Vec<u64>)> {
    let mut j = i + 1;
    let mut counts = Vec::new();
    let mut current = String::new();
    let mut seen_comma = false;
    while j < chars.len() {
        let c = chars[j];
        if c.is_ascii_digit() {
            current.push(c);
        } else if c == ',' && !seen_comma {
            if current.is_empty() {
                return None;
            }
            counts.push(current.parse().unwrap_or(u64::MAX));
            current.clear();
            seen_comma = true;
        } else if c == '}' {
            if !seen_comma && current.is_empty() {
                return None;
            }
            if !current.is_empty() {
                counts.push(current.parse().unwrap_or(u64::MAX));
            }
            return Some((j - i + 1, counts));
        } else {
            return None;
        }
        j += 1;
    }
    None
}

fn translate_class(class: &[char], out: &mut String) {
    out.push('[');
    let mut i = 1;
    if class.get(i) == Some(&'^') {
        out.push('^');
        i += 1;
    }
    if class.get(i) == Some(&']') {
        out.push_str("\\]");
        i += 1;
    }
    let last = class.len().saturating_sub(1);
    while i < last {
        let c = class[i];
        match c {
            '\\' => {
                let n = class.get(i + 1).copied().unwrap_or('\\');
                match n {
                    'd' => out.push_str("0-9"),
                    'w' => out.push_str("0-9A-Za-z_"),
                    's' => out.push_str("\\t\\n\\f\\r "),
                    _ => {
                        out.push('\\');
                        out.push(n);
                    }
                }
                i += 2;
            }
            '[' if class.get(i + 1) == Some(&':') => {
                let rest: String = class[i..].iter().collect();
                match rest.find(":]") {
                    Some(off) if off > 1 => {
                        out.push_str(&rest[..off + 2]);
                        i += rest[..off + 2].chars().count();
                    }
                    _ => {
                        out.push_str("\\[");
                        i += 1;
                    }
                }
            }
            // The regex crate gives these meaning inside classes (nesting
            // and set operations); Go reads them as plain characters.
            '[' | '&' | '~' => {
                out.push('\\');
                out.push(c);
                i += 1;
            }
            '-' if class.get(i + 1) == Some(&'-') => {
                out.push_str("\\-");
                i += 1;
            }
            _ => {
                out.push(c);
                i += 1;
            }
        }
    }
    out.push(']');
}

/// Turns a `regex` crate error into Go's wording, quoting the fragment the
/// crate points at.
fn go_error_from(message: &str, translated: &str) -> String {
    let fragment = caret_fragment(message, translated);
    let lower = message.to_ascii_lowercase();
    let code = if lower.contains("look-around")
        || lower.contains("backreference")
        || lower.contains("flag")
    {
        "invalid or unsupported Perl syntax"
    } else if lower.contains("escape") {
        "invalid escape sequence"
    } else if lower.contains("class range") {
        "invalid character class range"
    } else if lower.contains("missing expression") {
        "missing argument to repetition operator"
    } else if lower.contains("repetition") || lower.contains("decimal") {
        "invalid repeat count"
    } else if lower.contains("unclosed character class") {
        "missing closing ]"
    } else if lower.contains("unclosed group") {
        "missing closing )"
    } else if lower.contains("unopened group") {
        "unexpected )"
    } else if lower.contains("character class") {
        "invalid character class"
    } else if lower.contains("size limit") || lower.contains("nest limit") {
        "expression too large"
    } else {
        "invalid or unsupported Perl syntax"
    };
    go_err(code, &fragment)
}

/// The part of the pattern the `regex` crate's caret line underlines.
fn caret_fragment(message: &str, translated: &str) -> String {
    let lines: Vec<&str> = message.lines().collect();
    for (n, line) in lines.iter().enumerate() {
        let trimmed = line.trim_start();
        if !trimmed.is_empty() && trimmed.chars().all(|c| c == '^') && n > 0 {
            let start = line.len() - trimmed.len();
            let pat_line = lines[n - 1];
            let pat_chars: Vec<char> = pat_line.chars().collect();
            let from = start.min(pat_chars.len());
            let to = (start + trimmed.len()).min(pat_chars.len());
            return pat_chars[from..to].iter().collect();
        }
    }
    translated.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, s: &str) -> bool {
        GoRegex::compile(p).unwrap().is_match(s)
    }

    #[test]
    fn perl_classes_are_ascii_like_go() {
        assert!(m(r"^\d+$", "123"));
        assert!(!m(r"^\d+$", "١٢٣"));
        assert!(m(r"^\w+$", "a_1"));
        assert!(!m(r"^\w+$", "é"));
        assert!(m(r"^[\d.]+$", "1.2"));
        assert!(m(r"^\s$", " "));
        assert!(!m(r"^\s$", "\u{a0}"));
        assert!(m(r"\bfoo\b", "a foo b"));
    }

    #[test]
    fn go_literal_quirks_are_kept() {
        assert!(m(r"^[[]$", "["));
        assert!(m(r"^a{$", "a{"));
        assert!(m(r"^a{,2}$", "a{,2}"));
        assert!(m(r"^[]a]$", "]"));
        assert!(m(r"^[a&&b]$", "&"));
        assert!(m(r"^[[:alpha:]]+$", "abc"));
        assert!(m(r"^a{2,3}$", "aa"));
        assert!(m(r"^x}$", "x}"));
        assert!(m("^[a-z]$", "q"));
        assert!(m("(?i)^ABC$", "abc"));
    }

    #[test]
    fn bad_patterns_fail_with_go_wording() {
        assert_eq!(
            GoRegex::compile("(abc").unwrap_err(),
            "error parsing regexp: missing closing ): `(abc`"
        );
        assert_eq!(
            GoRegex::compile("abc)").unwrap_err(),
            "error parsing regexp: unexpected ): `abc)`"
        );
        assert_eq!(
            GoRegex::compile("a[b-").unwrap_err(),
            "error parsing regexp: missing closing ]: `[b-`"
        );
        assert_eq!(
            GoRegex::compile("*a").unwrap_err(),
            "error parsing regexp: missing argument to repetition operator: `*`"
        );
        assert_eq!(
            GoRegex::compile("a**").unwrap_err(),
            "error parsing regexp: invalid nested repetition operator: `**`"
        );
        assert_eq!(
            GoRegex::compile(r"\q").unwrap_err(),
            "error parsing regexp: invalid escape sequence: `\\q`"
        );
        assert_eq!(
            GoRegex::compile(r"(a)\1").unwrap_err(),
            "error parsing regexp: invalid escape sequence: `\\1`"
        );
        assert_eq!(
            GoRegex::compile("[z-a]").unwrap_err(),
            "error parsing regexp: invalid character class range: `z-a`"
        );
        assert_eq!(
            GoRegex::compile("a{1001}").unwrap_err(),
            "error parsing regexp: invalid repeat count: `{1001}`"
        );
        assert_eq!(
            GoRegex::compile("(?=a)").unwrap_err(),
            "error parsing regexp: invalid or unsupported Perl syntax: `(?=`"
        );
    }

    #[test]
    fn hostile_patterns_do_not_panic() {
        for p in [
            "", "\\", "[", "]", "(", ")", "{", "}", "(?", "[[:", "[^]", "\u{0}", "é+", "a{2,1}",
        ] {
            let _ = GoRegex::compile(p);
        }
        let big = "(a|b)".repeat(5000);
        let _ = GoRegex::compile(&big);
    }
}
