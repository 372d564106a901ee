//! Go (RE2) regular expressions on top of the `regex` crate.
//!
//! kube compiles `pattern` with Go's `regexp`. The syntaxes are close, but
//! Go's `\d`, `\w`, `\s` and `\b` are ASCII-only, Go takes `[` inside a class
//! and an unmatched `{` literally, Go has escapes the `regex` crate reads
//! differently or not at all (`\Q...\E`, octal `\123`, `\p{^Greek}`, `\<`
//! as a plain `<`), Go knows fewer flags (no `x`), and Go words its compile
//! errors its own way (`error parsing regexp: missing closing ): `(a``).
//! This module rewrites the differences away and reproduces Go's error text
//! for the mistakes people actually make, so a CRD with a bad pattern is
//! rejected with kube's message when it is created.

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
            '\\' if bytes.get(i + 1) == Some(&'Q') => i = quote_end(&bytes, i + 2).1,
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
            '\\' if chars.get(i + 1) == Some(&'Q') => {
                let (literal, next) = quote_end(&chars, i + 2);
                let text: String = chars[i + 2..literal].iter().collect();
                out.push_str(&regex::escape(&text));
                i = next;
            }
            '\\' => {
                let (text, len) = escape(&chars, i, false)?;
                out.push_str(&text);
                i += len;
            }
            '(' if chars.get(i + 1) == Some(&'?') => {
                check_flags(&chars, i)?;
                out.push_str("(?");
                i += 2;
            }
            '[' => {
                let end = class_end(&chars, i).unwrap_or(chars.len() - 1);
                translate_class(&chars[i..=end], &mut out)?;
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

fn translate_class(class: &[char], out: &mut String) -> Result<(), String> {
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
                let (text, len) = escape(class, i, true)?;
                out.push_str(&text);
                i += len;
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
    Ok(())
}

/// The end of the literal text after `\Q` (which starts at `from`), and
/// where the pattern goes on: after the `\E`, or at the end when there is
/// none (Go reads the rest literally then).
fn quote_end(chars: &[char], from: usize) -> (usize, usize) {
    let mut j = from;
    while j < chars.len() {
        if chars[j] == '\\' && chars.get(j + 1) == Some(&'E') {
            return (j, j + 2);
        }
        j += 1;
    }
    (chars.len(), chars.len())
}

/// Go's Unicode general categories, the names `\p` takes besides `Any` and
/// the script names.
const GO_CATEGORIES: &[&str] = &[
    "C", "Cc", "Cf", "Co", "Cs", "L", "Ll", "Lm", "Lo", "Lt", "Lu", "M", "Mc", "Me", "Mn", "N",
    "Nd", "Nl", "No", "P", "Pc", "Pd", "Pe", "Pf", "Pi", "Po", "Ps", "S", "Sc", "Sk", "Sm", "So",
    "Z", "Zl", "Zp", "Zs",
];

/// Translates the escape at `chars[i]` (a backslash), inside a class or
/// not, into `regex` syntax with Go's meaning. Returns the text and how
/// many characters it consumed.
fn escape(chars: &[char], i: usize, in_class: bool) -> Result<(String, usize), String> {
    let Some(&n) = chars.get(i + 1) else {
        return Err(go_err("trailing backslash at end of expression", ""));
    };
    let invalid = |len: usize| {
        let frag: String = chars[i..(i + len).min(chars.len())].iter().collect();
        Err(go_err("invalid escape sequence", &frag))
    };
    let text = match n {
        'd' if in_class => "0-9".to_string(),
        'w' if in_class => "0-9A-Za-z_".to_string(),
        's' if in_class => "\\t\\n\\f\\r ".to_string(),
        'd' => "[0-9]".to_string(),
        'D' => "[^0-9]".to_string(),
        'w' => "[0-9A-Za-z_]".to_string(),
        'W' => "[^0-9A-Za-z_]".to_string(),
        's' => "[\\t\\n\\f\\r ]".to_string(),
        'S' => "[^\\t\\n\\f\\r ]".to_string(),
        'b' if !in_class => "(?-u:\\b)".to_string(),
        'B' if !in_class => "(?-u:\\B)".to_string(),
        'A' | 'z' | 'b' | 'B' if in_class => return invalid(2),
        'C' | 'Z' | 'e' | 'u' | 'U' | 'Q' | 'E' | '8' | '9' => return invalid(2),
        // Octal: up to three digits, but a lone non-zero digit would be a
        // backreference, which Go refuses.
        '0'..='7' => {
            let digits: String = chars[i + 1..]
                .iter()
                .take(3)
                .take_while(|c| ('0'..='7').contains(*c))
                .collect();
            if n != '0' && digits.len() == 1 {
                return invalid(2);
            }
            let code = u32::from_str_radix(&digits, 8).unwrap_or(0);
            return Ok((format!("\\x{{{code:X}}}"), 1 + digits.len()));
        }
        'p' | 'P' => return unicode_class(chars, i),
        // Go reads any escaped ASCII punctuation as itself; the `regex`
        // crate gives `\<` and `\>` a meaning (word start and end).
        '<' | '>' => n.to_string(),
        _ => format!("\\{n}"),
    };
    Ok((text, 2))
}

/// `\pL`, `\p{Greek}`, `\P{^Lu}`: Go's names, with `^` negating.
fn unicode_class(chars: &[char], i: usize) -> Result<(String, usize), String> {
    let negated = chars[i + 1] == 'P';
    let (name, len): (String, usize) = match chars.get(i + 2) {
        Some('{') => match chars[i + 3..].iter().position(|c| *c == '}') {
            Some(end) => (chars[i + 3..i + 3 + end].iter().collect(), end + 4),
            None => {
                let frag: String = chars[i..].iter().collect();
                return Err(go_err("invalid character class range", &frag));
            }
        },
        Some(c) => (c.to_string(), 3),
        None => return Err(go_err("invalid character class range", "")),
    };
    let (negated, name) = match name.strip_prefix('^') {
        Some(rest) => (!negated, rest.to_string()),
        None => (negated, name),
    };
    // Go's script names are capitalised words (`Greek`, `Old_Italic`); the
    // `regex` crate also takes other spellings, which Go refuses. (It also
    // takes binary properties such as `Alphabetic`, which look like script
    // names and get through; the crate refuses names it does not know.)
    let known = name == "Any"
        || GO_CATEGORIES.contains(&name.as_str())
        || (name.len() > 1
            && name.starts_with(|c: char| c.is_ascii_uppercase())
            && name.chars().all(|c| c.is_ascii_alphabetic() || c == '_'));
    if !known {
        let frag: String = chars[i..i + len].iter().collect();
        return Err(go_err("invalid character class range", &frag));
    }
    let p = if negated { 'P' } else { 'p' };
    Ok((format!("\\{p}{{{name}}}"), len))
}

/// Go knows the flags `i`, `m`, `s` and `U` (and named groups); anything
/// else after `(?` is a syntax error quoting what was read up to it.
fn check_flags(chars: &[char], i: usize) -> Result<(), String> {
    let mut j = i + 2;
    if matches!(chars.get(j), Some('P' | '<')) {
        return Ok(());
    }
    while let Some(&c) = chars.get(j) {
        match c {
            'i' | 'm' | 's' | 'U' | '-' => j += 1,
            ':' | ')' => return Ok(()),
            _ => {
                let frag: String = chars[i..=j].iter().collect();
                return Err(go_err("invalid or unsupported Perl syntax", &frag));
            }
        }
    }
    Ok(())
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
    } else if lower.contains("unicode property") {
        "invalid character class range"
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
    fn go_escapes_keep_their_go_meaning() {
        // \Q...\E is literal text, parentheses included.
        assert!(m(r"^\Q1+1 (x)\E$", "1+1 (x)"));
        assert!(!m(r"^\Q1+1\E$", "11"));
        assert!(m(r"^a\Q.*", "a.*"));
        // Octal, up to three digits.
        assert!(m(r"^\101\0$", "A\u{0}"));
        assert!(m(r"^\12$", "\n"));
        // \< and \> are plain characters.
        assert!(m(r"^\<a\>$", "<a>"));
        // Unicode classes, with Go's negation inside the braces.
        assert!(m(r"^\p{Lu}\pL*$", "Ébc"));
        assert!(!m(r"^\p{Lu}", "ébc"));
        assert!(m(r"^\p{^Greek}+$", "abc"));
        assert!(!m(r"^\p{^Greek}+$", "αβγ"));
        assert!(m(r"^\P{^Greek}+$", "αβγ"));
        assert!(m(r"^[\p{Greek}\d]+$", "α1"));
        assert!(m(r"^\p{Any}$", "€"));
        // A negated Perl class inside a class stays ASCII.
        assert!(m(r"^[\D]$", "١"));
        assert!(!m(r"^[\D]$", "1"));
        // Named groups, both spellings.
        assert!(m(r"^(?P<a>x)(?<b>y)$", "xy"));
    }

    #[test]
    fn escapes_and_flags_go_refuses() {
        for (pattern, error) in [
            (r"\8", r"invalid escape sequence: `\8`"),
            (r"[\b]", r"invalid escape sequence: `\b`"),
            (r"\E", r"invalid escape sequence: `\E`"),
            (r"[\Q]", r"invalid escape sequence: `\Q`"),
            (r"\p{greek}", r"invalid character class range: `\p{greek}`"),
            (r"\pX", r"invalid character class range: `\pX`"),
            (r"\p{Lu", r"invalid character class range: `\p{Lu`"),
            (r"\p{Foo}", r"invalid character class range: `\p{Foo}`"),
            (r"(?x)a b", r"invalid or unsupported Perl syntax: `(?x`"),
            (r"(?i-R:a)", r"invalid or unsupported Perl syntax: `(?i-R`"),
        ] {
            assert_eq!(
                GoRegex::compile(pattern).unwrap_err(),
                format!("error parsing regexp: {error}"),
                "{pattern}"
            );
        }
        // `\Q` with no `\E` reads the rest literally, parentheses too.
        assert!(m(r"\Q(", "("));
        assert!(m("(?ims-U:a)", "A"));
    }

    #[test]
    fn hostile_patterns_do_not_panic() {
        for p in [
            "", "\\", "[", "]", "(", ")", "{", "}", "(?", "[[:", "[^]", "\u{0}", "é+", "a{2,1}",
            "\\p", "\\p{", "\\P{^", "\\Q", "\\7", "[\\p", "(?P", "(?-",
        ] {
            let _ = GoRegex::compile(p);
        }
        let big = "(a|b)".repeat(5000);
        let _ = GoRegex::compile(&big);
    }
}
