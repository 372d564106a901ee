//! The string formats kube validates in custom resources.
//!
//! apiextensions strips every format it does not list before validating
//! (so `int32` and `int64` are never checked on custom resources) and
//! checks the rest with kube-openapi's `strfmt` registry. Names are compared
//! with dashes removed, so `date-time` and `datetime` are the same format.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::OnceLock;

use regex::Regex;

/// A format kube checks, by its normalized (dash-free) name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    BsonObjectId,
    Uri,
    Email,
    Hostname,
    Ipv4,
    Ipv6,
    Cidr,
    Mac,
    Uuid,
    Uuid3,
    Uuid4,
    Uuid5,
    Isbn,
    Isbn10,
    Isbn13,
    CreditCard,
    Ssn,
    HexColor,
    RgbColor,
    Byte,
    Password,
    Date,
    Duration,
    DateTime,
}

impl Format {
    /// The format kube validates for this name, if any (`None` means kube
    /// strips it and never looks at it).
    pub(crate) fn lookup(name: &str) -> Option<Format> {
        let normalized: String = name.chars().filter(|c| *c != '-').collect();
        Some(match normalized.as_str() {
            "bsonobjectid" => Format::BsonObjectId,
            "uri" => Format::Uri,
            "email" => Format::Email,
            "hostname" => Format::Hostname,
            "ipv4" => Format::Ipv4,
            "ipv6" => Format::Ipv6,
            "cidr" => Format::Cidr,
            "mac" => Format::Mac,
            "uuid" => Format::Uuid,
            "uuid3" => Format::Uuid3,
            "uuid4" => Format::Uuid4,
            "uuid5" => Format::Uuid5,
            "isbn" => Format::Isbn,
            "isbn10" => Format::Isbn10,
            "isbn13" => Format::Isbn13,
            "creditcard" => Format::CreditCard,
            "ssn" => Format::Ssn,
            "hexcolor" => Format::HexColor,
            "rgbcolor" => Format::RgbColor,
            "byte" => Format::Byte,
            "password" => Format::Password,
            "date" => Format::Date,
            "duration" => Format::Duration,
            "datetime" => Format::DateTime,
            _ => return None,
        })
    }

    /// Whether `s` is valid for the format, as kube-openapi decides.
    pub(crate) fn check(self, s: &str) -> bool {
        match self {
            Format::BsonObjectId => s.len() == 24 && s.bytes().all(|b| b.is_ascii_hexdigit()),
            Format::Uri => is_request_uri(s),
            Format::Email => is_email(s),
            Format::Hostname => is_hostname(s),
            Format::Ipv4 => is_ipv4_sloppy(s) || (s.contains('.') && s.parse::<Ipv6Addr>().is_ok()),
            Format::Ipv6 => s.contains(':') && (s.parse::<Ipv6Addr>().is_ok()),
            Format::Cidr => is_cidr(s),
            Format::Mac => is_mac(s),
            Format::Uuid => re(&UUID, r"(?i)^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$").is_match(s),
            Format::Uuid3 => re(&UUID3, r"(?i)^[0-9a-f]{8}-?[0-9a-f]{4}-?3[0-9a-f]{3}-?[0-9a-f]{4}-?[0-9a-f]{12}$").is_match(s),
            Format::Uuid4 => re(&UUID4, r"(?i)^[0-9a-f]{8}-?[0-9a-f]{4}-?4[0-9a-f]{3}-?[89ab][0-9a-f]{3}-?[0-9a-f]{12}$").is_match(s),
            Format::Uuid5 => re(&UUID5, r"(?i)^[0-9a-f]{8}-?[0-9a-f]{4}-?5[0-9a-f]{3}-?[89ab][0-9a-f]{3}-?[0-9a-f]{12}$").is_match(s),
            Format::Isbn => is_isbn10(s) || is_isbn13(s),
            Format::Isbn10 => is_isbn10(s),
            Format::Isbn13 => is_isbn13(s),
            Format::CreditCard => is_credit_card(s),
            Format::Ssn => re(&SSN, r"^[0-9]{3}[- ]?[0-9]{2}[- ]?[0-9]{4}$").is_match(s),
            Format::HexColor => re(&HEXCOLOR, r"^#?([0-9a-fA-F]{3}|[0-9a-fA-F]{6})$").is_match(s),
            Format::RgbColor => re(
                &RGBCOLOR,
                r"^rgb\([\t\n\f\r ]*(0|[1-9][0-9]?|1[0-9][0-9]?|2[0-4][0-9]|25[0-5])[\t\n\f\r ]*,[\t\n\f\r ]*(0|[1-9][0-9]?|1[0-9][0-9]?|2[0-4][0-9]|25[0-5])[\t\n\f\r ]*,[\t\n\f\r ]*(0|[1-9][0-9]?|1[0-9][0-9]?|2[0-4][0-9]|25[0-5])[\t\n\f\r ]*\)$",
            )
            .is_match(s),
            Format::Byte => is_base64(s),
            Format::Password => true,
            Format::Date => is_date(s),
            Format::Duration => is_duration(s),
            Format::DateTime => is_date_time(s),
        }
    }
}

static UUID: OnceLock<Regex> = OnceLock::new();
static UUID3: OnceLock<Regex> = OnceLock::new();
static UUID4: OnceLock<Regex> = OnceLock::new();
static UUID5: OnceLock<Regex> = OnceLock::new();
static SSN: OnceLock<Regex> = OnceLock::new();
static HEXCOLOR: OnceLock<Regex> = OnceLock::new();
static RGBCOLOR: OnceLock<Regex> = OnceLock::new();
static HOSTNAME: OnceLock<Regex> = OnceLock::new();
static DURATION: OnceLock<Regex> = OnceLock::new();

/// A fixed pattern compiled on first use.
fn re(cell: &'static OnceLock<Regex>, pattern: &str) -> &'static Regex {
    cell.get_or_init(|| {
        // Every pattern passed here is a constant of this file, exercised by
        // the tests below, so it always compiles.
        Regex::new(pattern).expect("constant format pattern compiles")
    })
}

/// govalidator's base64 pattern: standard alphabet, padded, non-empty.
fn is_base64(s: &str) -> bool {
    let b = s.as_bytes();
    if b.is_empty() || !b.len().is_multiple_of(4) {
        return false;
    }
    let alpha = |c: u8| c.is_ascii_alphanumeric() || c == b'+' || c == b'/';
    let n = b.len();
    let body_ok = b[..n - 4].iter().all(|c| alpha(*c));
    let tail = &b[n - 4..];
    let tail_ok = (tail.iter().all(|c| alpha(*c)))
        || (alpha(tail[0]) && alpha(tail[1]) && alpha(tail[2]) && tail[3] == b'=')
        || (alpha(tail[0]) && alpha(tail[1]) && tail[2] == b'=' && tail[3] == b'=');
    body_ok && tail_ok
}

/// `strfmt.IsHostname`: the RFC 1034 pattern (letters and symbols of any
/// script allowed) and the length limits.
fn is_hostname(s: &str) -> bool {
    let rx = re(
        &HOSTNAME,
        r"^([a-zA-Z0-9\p{S}\p{L}]((-?[a-zA-Z0-9\p{S}\p{L}]{0,62})?)|([a-zA-Z0-9\p{S}\p{L}](([a-zA-Z0-9\-\p{S}\p{L}]{0,61}[a-zA-Z0-9\p{S}\p{L}])?)(\.)){1,}([a-zA-Z\p{L}]){2,63})$",
    );
    rx.is_match(s) && s.len() <= 255 && s.split('.').all(|p| p.len() <= 63)
}

/// `net.ParseIP` for IPv4 as kube's sloppy parser does it: four decimal
/// octets, leading zeros allowed.
fn is_ipv4_sloppy(s: &str) -> bool {
    parse_ipv4_sloppy(s).is_some()
}

fn parse_ipv4_sloppy(s: &str) -> Option<Ipv4Addr> {
    let parts: Vec<&str> = s.split('.').collect();
    if parts.len() != 4 {
        return None;
    }
    let mut octets = [0u8; 4];
    for (i, p) in parts.iter().enumerate() {
        if p.is_empty() || p.len() > 3 || !p.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let v: u32 = p.parse().ok()?;
        if v > 255 {
            return None;
        }
        octets[i] = v as u8;
    }
    Some(Ipv4Addr::from(octets))
}

fn is_cidr(s: &str) -> bool {
    let Some((ip, bits)) = s.split_once('/') else {
        return false;
    };
    if bits.is_empty() || bits.len() > 3 || !bits.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let Ok(bits) = bits.parse::<u32>() else {
        return false;
    };
    if parse_ipv4_sloppy(ip).is_some() {
        bits <= 32
    } else if ip.contains(':') && ip.parse::<Ipv6Addr>().is_ok() {
        bits <= 128
    } else {
        false
    }
}

/// `net.ParseMAC`: 6, 8 or 20 bytes as colon- or dash-separated pairs, or
/// dot-separated groups of four hex digits.
fn is_mac(s: &str) -> bool {
    let hex = |p: &str, n: usize| p.len() == n && p.bytes().all(|b| b.is_ascii_hexdigit());
    let sizes = [6usize, 8, 20];
    for sep in [':', '-'] {
        let parts: Vec<&str> = s.split(sep).collect();
        if parts.len() > 1 {
            return sizes.contains(&parts.len()) && parts.iter().all(|p| hex(p, 2));
        }
    }
    let parts: Vec<&str> = s.split('.').collect();
    parts.len() > 1 && sizes.contains(&(parts.len() * 2)) && parts.iter().all(|p| hex(p, 4))
}

/// `url.ParseRequestURI`: an absolute path, or a scheme followed by ':'
/// with a well-formed rest; no control characters, valid escapes.
fn is_request_uri(s: &str) -> bool {
    if s.is_empty() || s.bytes().any(|b| b < 0x20 || b == 0x7f) {
        return false;
    }
    let rest = match s.find(':') {
        Some(0) => return false,
        Some(i) if !s[..i].contains('/') => {
            let scheme = &s[..i];
            let mut chars = scheme.chars();
            let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
            if !first_ok
                || !chars.all(|c| c.is_ascii_alphanumeric() || c == '+' || c == '-' || c == '.')
            {
                return false;
            }
            &s[i + 1..]
        }
        _ => {
            if !s.starts_with('/') {
                return false;
            }
            s
        }
    };
    let rest = rest.split_once('#').map_or(rest, |(a, _)| a);
    let (rest, _query) = rest.split_once('?').unwrap_or((rest, ""));
    if let Some(auth_and_path) = rest.strip_prefix("//") {
        let (authority, path) = match auth_and_path.find('/') {
            Some(i) => (&auth_and_path[..i], &auth_and_path[i..]),
            None => (auth_and_path, ""),
        };
        let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        if !valid_host(host) {
            return false;
        }
        return valid_escapes(path);
    }
    valid_escapes(rest)
}

fn valid_host(host: &str) -> bool {
    if let Some(inner) = host.strip_prefix('[') {
        let Some(end) = inner.find(']') else {
            return false;
        };
        let port = &inner[end + 1..];
        return port.is_empty() || valid_port(port);
    }
    let (name, port) = match host.rfind(':') {
        Some(i) => (&host[..i], &host[i..]),
        None => (host, ""),
    };
    if !port.is_empty() && !valid_port(port) {
        return false;
    }
    valid_escapes(name)
        && name.chars().all(|c| {
            !matches!(
                c,
                ' ' | '<' | '>' | '"' | '{' | '}' | '|' | '\\' | '^' | '`'
            )
        })
}

fn valid_port(port: &str) -> bool {
    port.strip_prefix(':')
        .is_some_and(|p| p.bytes().all(|b| b.is_ascii_digit()))
}

fn valid_escapes(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            if !(b.get(i + 1).is_some_and(|c| c.is_ascii_hexdigit())
                && b.get(i + 2).is_some_and(|c| c.is_ascii_hexdigit()))
            {
                return false;
            }
            i += 3;
        } else {
            i += 1;
        }
    }
    true
}

/// `net/mail.ParseAddress` for the forms people use: `local@domain` or
/// `Name <local@domain>`, with an RFC 5322 dot-atom or quoted local part.
fn is_email(s: &str) -> bool {
    let s = s.trim();
    let addr = match (s.rfind('<'), s.ends_with('>')) {
        (Some(i), true) => &s[i + 1..s.len() - 1],
        (None, false) => s,
        _ => return false,
    };
    let Some((local, domain)) = addr.rsplit_once('@') else {
        return false;
    };
    let atext = |c: char| {
        c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c) || (c as u32) > 0x7f
    };
    let dot_atom =
        |p: &str| !p.is_empty() && p.split('.').all(|a| !a.is_empty() && a.chars().all(atext));
    let local_ok = if local.len() >= 2 && local.starts_with('"') && local.ends_with('"') {
        true
    } else {
        dot_atom(local)
    };
    let domain_ok = if domain.starts_with('[') && domain.ends_with(']') {
        true
    } else {
        dot_atom(domain)
    };
    local_ok && domain_ok
}

fn is_isbn10(s: &str) -> bool {
    let clean: Vec<char> = s.chars().filter(|c| *c != ' ' && *c != '-').collect();
    if clean.len() != 10 {
        return false;
    }
    let mut sum = 0u32;
    for (i, c) in clean.iter().enumerate() {
        let v = if i == 9 && *c == 'X' {
            10
        } else if let Some(d) = c.to_digit(10) {
            d
        } else {
            return false;
        };
        sum += (i as u32 + 1) * v;
    }
    sum.is_multiple_of(11)
}

fn is_isbn13(s: &str) -> bool {
    let clean: Vec<char> = s.chars().filter(|c| *c != ' ' && *c != '-').collect();
    if clean.len() != 13 {
        return false;
    }
    let mut sum = 0u32;
    for (i, c) in clean.iter().enumerate() {
        let Some(d) = c.to_digit(10) else {
            return false;
        };
        sum += if i % 2 == 0 { d } else { 3 * d };
    }
    sum.is_multiple_of(10)
}

/// govalidator's credit card check: strip non-digits, match the issuer
/// pattern, pass Luhn.
fn is_credit_card(s: &str) -> bool {
    let digits: String = s.chars().filter(|c| c.is_ascii_digit()).collect();
    if s.chars()
        .any(|c| !c.is_ascii_digit() && c != ' ' && c != '-')
    {
        return false;
    }
    static CC: OnceLock<Regex> = OnceLock::new();
    let rx = re(
        &CC,
        r"^(?:4[0-9]{12}(?:[0-9]{3})?|5[1-5][0-9]{14}|(222[1-9]|22[3-9][0-9]|2[3-6][0-9]{2}|27[01][0-9]|2720)[0-9]{12}|6(?:011|5[0-9][0-9])[0-9]{12}|3[47][0-9]{13}|3(?:0[0-5]|[68][0-9])[0-9]{11}|(?:2131|1800|35[0-9]{3})[0-9]{11}|6[27][0-9]{14})$",
    );
    if !rx.is_match(&digits) {
        return false;
    }
    let mut sum = 0u32;
    let mut double = false;
    for c in digits.chars().rev() {
        let mut d = c.to_digit(10).unwrap_or(0);
        if double {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
        double = !double;
    }
    sum.is_multiple_of(10)
}

/// `strfmt.IsDate`: Go's `time.Parse("2006-01-02", s)`.
pub(crate) fn is_date(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return false;
    }
    let num = |r: &[u8]| -> Option<u32> {
        if r.iter().all(|c| c.is_ascii_digit()) {
            std::str::from_utf8(r).ok()?.parse().ok()
        } else {
            None
        }
    };
    let (Some(y), Some(m), Some(d)) = (num(&b[0..4]), num(&b[5..7]), num(&b[8..10])) else {
        return false;
    };
    (1..=12).contains(&m) && d >= 1 && d <= days_in_month(y, m)
}

pub(crate) fn days_in_month(y: u32, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if (y.is_multiple_of(4) && !y.is_multiple_of(100)) || y.is_multiple_of(400) => 29,
        2 => 28,
        _ => 0,
    }
}

/// `strfmt.IsDateTime`: lower-cased, split at every `t`; the first part must
/// be a date and the second `hh:mm:ss[.frac](z|±hh:mm)` with hh ≤ 23 and
/// mm, ss ≤ 59 compared as text.
fn is_date_time(s: &str) -> bool {
    if s.len() < 4 {
        return false;
    }
    let lower = s.to_lowercase();
    let parts: Vec<&str> = lower.split('t').collect();
    if parts.len() < 2 || !is_date(parts[0]) {
        return false;
    }
    let t = parts[1].as_bytes();
    if t.len() < 9 || t[2] != b':' || t[5] != b':' {
        return false;
    }
    let two = |r: &[u8]| r.len() == 2 && r.iter().all(|c| c.is_ascii_digit());
    if !two(&t[0..2]) || !two(&t[3..5]) || !two(&t[6..8]) {
        return false;
    }
    let mut rest = &t[8..];
    // `(.[0-9]+)?`: the dot in kube's pattern is unescaped, so any one
    // character followed by digits is accepted.
    if rest.len() >= 2 && rest[0] != b'z' && rest[0] != b'+' && rest[0] != b'-' {
        let digits = rest[1..].iter().take_while(|c| c.is_ascii_digit()).count();
        if digits == 0 {
            return false;
        }
        rest = &rest[1 + digits..];
    }
    let zone_ok = rest == b"z"
        || (rest.len() == 6
            && (rest[0] == b'+' || rest[0] == b'-')
            && two(&rest[1..3])
            && rest[3] == b':'
            && two(&rest[4..6]));
    zone_ok
        && &t[0..2] <= b"23".as_slice()
        && &t[3..5] <= b"59".as_slice()
        && &t[6..8] <= b"59".as_slice()
}

/// `strfmt.IsDuration`: Go's `time.ParseDuration`, or any `<int> <unit>`
/// pair with a unit kube-openapi knows anywhere in the string.
fn is_duration(s: &str) -> bool {
    if go_parse_duration(s) {
        return true;
    }
    let rx = re(
        &DURATION,
        r"((?:-[\t\n\f\r ]?)?[0-9]+)[\t\n\f\r ]*([A-Za-zµ]+)",
    );
    let units: [&[&str]; 8] = [
        &["ns", "nano"],
        &["us", "µs", "micro"],
        &["ms", "milli"],
        &["s", "sec"],
        &["m", "min"],
        &["h", "hr", "hour"],
        &["d", "day"],
        &["w", "wk", "week"],
    ];
    let mut ok = false;
    for caps in rx.captures_iter(s) {
        let value = caps.get(1).map_or("", |m| m.as_str());
        let value = value.strip_prefix('-').unwrap_or(value).trim();
        if value.parse::<i64>().is_err() {
            return false;
        }
        let unit = caps.get(2).map_or("", |m| m.as_str()).to_lowercase();
        for variants in units {
            let last = variants.len() - 1;
            for (i, v) in variants.iter().enumerate() {
                if (i == last && unit.starts_with(v)) || unit.eq_ignore_ascii_case(v) {
                    ok = true;
                }
            }
        }
    }
    ok
}

/// Go's `time.ParseDuration` grammar: `[-+]?([0-9]*(\.[0-9]*)?[a-z]+)+`
/// with units ns, us, µs, μs, ms, s, m, h; a bare `0` is allowed.
pub(crate) fn go_parse_duration(s: &str) -> bool {
    let mut rest = s;
    if let Some(r) = rest.strip_prefix(['-', '+']) {
        rest = r;
    }
    if rest == "0" {
        return true;
    }
    if rest.is_empty() {
        return false;
    }
    while !rest.is_empty() {
        let int_len = rest.bytes().take_while(|b| b.is_ascii_digit()).count();
        let mut frac_len = 0;
        let mut after = &rest[int_len..];
        if let Some(f) = after.strip_prefix('.') {
            frac_len = f.bytes().take_while(|b| b.is_ascii_digit()).count();
            after = &f[frac_len..];
        }
        if int_len == 0 && frac_len == 0 {
            return false;
        }
        let unit_len = after
            .char_indices()
            .find(|(_, c)| *c == '.' || c.is_ascii_digit())
            .map_or(after.len(), |(i, _)| i);
        let unit = &after[..unit_len];
        if !matches!(unit, "ns" | "us" | "µs" | "μs" | "ms" | "s" | "m" | "h") {
            return false;
        }
        rest = &after[unit_len..];
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(f: &str, s: &str) -> bool {
        Format::lookup(f).map(|f| f.check(s)).unwrap_or(true)
    }

    #[test]
    fn lookup_normalizes_dashes_and_strips_unknown() {
        assert_eq!(Format::lookup("date-time"), Some(Format::DateTime));
        assert_eq!(Format::lookup("datetime"), Some(Format::DateTime));
        assert_eq!(Format::lookup("int32"), None);
        assert_eq!(Format::lookup("int-or-string"), None);
        assert_eq!(Format::lookup("Date"), None);
    }

    #[test]
    fn each_format_accepts_and_rejects() {
        let cases: &[(&str, &str, bool)] = &[
            ("byte", "aGVsbG8=", true),
            ("byte", "aGVsbG8", false),
            ("byte", "", false),
            ("byte", "aGk=", true),
            ("byte", "a-_b", false),
            ("date", "2024-02-29", true),
            ("date", "2023-02-29", false),
            ("date", "2024-13-01", false),
            ("date", "24-01-01", false),
            ("date-time", "2024-01-02T03:04:05Z", true),
            ("date-time", "2024-01-02T03:04:05.123+02:00", true),
            ("date-time", "2024-01-02t03:04:05z", true),
            ("date-time", "2024-01-02T24:00:00Z", false),
            ("date-time", "2024-01-02T03:04:05", false),
            ("date-time", "2024-01-02", false),
            ("date-time", "not a date", false),
            ("uuid", "123e4567-e89b-12d3-a456-426614174000", true),
            ("uuid", "123E4567E89B12D3A456426614174000", true),
            ("uuid", "123e4567", false),
            ("uuid4", "123e4567-e89b-42d3-a456-426614174000", true),
            ("uuid4", "123e4567-e89b-12d3-a456-426614174000", false),
            ("uuid3", "123e4567-e89b-32d3-a456-426614174000", true),
            ("uuid5", "123e4567-e89b-52d3-a456-426614174000", true),
            ("email", "a@b.c", true),
            ("email", "Jo <jo@example.com>", true),
            ("email", "nope", false),
            ("email", "a@", false),
            ("hostname", "example.com", true),
            ("hostname", "localhost", true),
            ("hostname", "-bad.com", false),
            ("hostname", "a_b.com", false),
            ("hostname", "bücher.de", true),
            ("ipv4", "10.0.0.1", true),
            ("ipv4", "010.000.000.001", true),
            ("ipv4", "256.0.0.1", false),
            ("ipv4", "::1", false),
            ("ipv4", "::ffff:1.2.3.4", true),
            ("ipv6", "::1", true),
            ("ipv6", "fe80::1", true),
            ("ipv6", "1.2.3.4", false),
            ("ipv6", "gg::1", false),
            ("cidr", "10.0.0.0/8", true),
            ("cidr", "10.0.0.0/33", false),
            ("cidr", "fd00::/64", true),
            ("cidr", "10.0.0.0", false),
            ("mac", "00:00:5e:00:53:01", true),
            ("mac", "00-00-5e-00-53-01", true),
            ("mac", "0000.5e00.5301", true),
            ("mac", "00:00:5e:00:53", false),
            ("uri", "https://example.com/a?b#c", true),
            ("uri", "/just/a/path", true),
            ("uri", "mailto:a@b.c", true),
            ("uri", "example.com", false),
            ("uri", "", false),
            ("uri", "http://[::1]:8080/", true),
            ("uri", "http://a b/", false),
            ("uri", "/%zz", false),
            ("duration", "1h30m", true),
            ("duration", "0", true),
            ("duration", "1.5s", true),
            ("duration", "5 hours", true),
            ("duration", "3d", true),
            ("duration", "abc", false),
            ("duration", "", false),
            ("bsonobjectid", "507f1f77bcf86cd799439011", true),
            ("bsonobjectid", "507f1f77", false),
            ("hexcolor", "#fff", true),
            ("hexcolor", "ffffff", true),
            ("hexcolor", "#ffff", false),
            ("rgbcolor", "rgb(255, 0, 10)", true),
            ("rgbcolor", "rgb(256,0,0)", false),
            ("ssn", "123-45-6789", true),
            ("ssn", "12-345-6789", false),
            ("isbn10", "0321751043", true),
            ("isbn13", "978-0321751041", true),
            ("isbn", "0321751043", true),
            ("isbn", "0321751044", false),
            ("creditcard", "4111 1111 1111 1111", true),
            ("creditcard", "4111 1111 1111 1112", false),
            ("password", "anything at all", true),
            ("int32", "not checked", true),
        ];
        for (f, s, want) in cases {
            assert_eq!(ok(f, s), *want, "format {f} value {s:?}");
        }
    }

    #[test]
    fn go_durations() {
        for s in ["1h", "-1.5h", "300ms", "2h45m", "1µs", "1us", ".5s", "+3s"] {
            assert!(go_parse_duration(s), "{s}");
        }
        for s in ["", "1", "h", "1d", "1.s.", "--1s"] {
            assert!(!go_parse_duration(s), "{s}");
        }
    }

    #[test]
    fn odd_inputs_do_not_panic() {
        let long = "a".repeat(100_000);
        for f in [
            "uri",
            "email",
            "hostname",
            "ipv4",
            "ipv6",
            "cidr",
            "mac",
            "date-time",
            "duration",
            "byte",
            "creditcard",
            "isbn",
        ] {
            for s in [
                "",
                "%",
                "%%",
                "%1",
                "[",
                "@",
                "<>",
                "\u{0}",
                "é",
                "T",
                "tt",
                long.as_str(),
            ] {
                let _ = ok(f, s);
            }
        }
    }
}
