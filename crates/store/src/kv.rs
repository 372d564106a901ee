//! Keys, values and the events that change them.

use bytes::Bytes;

/// One version of one key, as etcd's `mvccpb.KeyValue` shows it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeyValue {
    /// The key. Never empty.
    pub key: Bytes,
    /// The revision of the put that created the key's current generation.
    pub create_revision: i64,
    /// The revision of the last change to the key.
    pub mod_revision: i64,
    /// How many puts the key's current generation has seen (1 after creation).
    pub version: i64,
    /// The value.
    pub value: Bytes,
    /// The lease the key is attached to, or 0.
    pub lease: i64,
}

/// What an event did to its key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    /// The key was created or changed.
    Put,
    /// The key was deleted. The event's key-value carries only the key and
    /// the deletion's revision, as etcd's tombstones do.
    Delete,
}

/// One change to one key at one revision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// Put or delete.
    pub kind: EventKind,
    /// The key-value after the change (a tombstone for deletes).
    pub kv: KeyValue,
    /// The key-value before the change, when there was one.
    pub prev_kv: Option<KeyValue>,
}

impl Event {
    /// Whether this put created the key (its first version in a generation).
    /// etcd attaches no previous key-value to such events.
    pub fn is_create(&self) -> bool {
        self.kind == EventKind::Put && self.kv.create_revision == self.kv.mod_revision
    }

    /// The revision the event happened at.
    pub fn revision(&self) -> i64 {
        self.kv.mod_revision
    }
}

/// A set of keys: one key, a half-open interval, or everything from a key on.
///
/// This is etcd's `key` + `range_end` pair, parsed once: an empty `range_end`
/// means the single key, `"\0"` means every key from `key` on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyRange {
    /// Exactly this key.
    Single(Bytes),
    /// Keys `k` with `start <= k < end`, or `start <= k` when `end` is `None`.
    Interval {
        /// The first key of the interval.
        start: Bytes,
        /// The first key past the interval, or `None` for no upper bound.
        end: Option<Bytes>,
    },
}

impl KeyRange {
    /// Parses etcd's `key` and `range_end` pair.
    pub fn from_etcd(key: Bytes, range_end: Bytes) -> KeyRange {
        if range_end.is_empty() {
            KeyRange::Single(key)
        } else if range_end.as_ref() == [0] {
            KeyRange::Interval {
                start: key,
                end: None,
            }
        } else {
            KeyRange::Interval {
                start: key,
                end: Some(range_end),
            }
        }
    }

    /// All keys that start with `prefix`.
    pub fn prefix(prefix: impl Into<Bytes>) -> KeyRange {
        let start: Bytes = prefix.into();
        let end = prefix_end(&start);
        KeyRange::Interval { start, end }
    }

    /// Whether `key` is in the set.
    pub fn contains(&self, key: &[u8]) -> bool {
        match self {
            KeyRange::Single(k) => k.as_ref() == key,
            KeyRange::Interval { start, end } => {
                key >= start.as_ref() && end.as_ref().is_none_or(|e| key < e.as_ref())
            }
        }
    }

    /// The first key of the set.
    pub fn start(&self) -> &Bytes {
        match self {
            KeyRange::Single(k) => k,
            KeyRange::Interval { start, .. } => start,
        }
    }

    /// Whether two sets share a key.
    pub fn intersects(&self, other: &KeyRange) -> bool {
        match (self, other) {
            (KeyRange::Single(a), _) => other.contains(a),
            (_, KeyRange::Single(b)) => self.contains(b),
            (
                KeyRange::Interval { start: s1, end: e1 },
                KeyRange::Interval { start: s2, end: e2 },
            ) => {
                let below = |s: &Bytes, e: &Option<Bytes>| e.as_ref().is_none_or(|e| s < e);
                // Two half-open intervals meet when each starts before the other ends.
                below(s1, e2) && below(s2, e1) && !self.is_empty() && !other.is_empty()
            }
        }
    }

    /// Whether the set holds no key at all (an interval whose end is not past its start).
    pub fn is_empty(&self) -> bool {
        match self {
            KeyRange::Single(_) => false,
            KeyRange::Interval { start, end } => end.as_ref().is_some_and(|e| e <= start),
        }
    }
}

/// The smallest key greater than every key that starts with `prefix`, or
/// `None` when there is none (the prefix is empty or all `0xff`).
pub fn prefix_end(prefix: &[u8]) -> Option<Bytes> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return Some(Bytes::from(end));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_etcd_ranges() {
        let single = KeyRange::from_etcd(Bytes::from_static(b"a"), Bytes::new());
        assert!(single.contains(b"a"));
        assert!(!single.contains(b"ab"));
        let from = KeyRange::from_etcd(Bytes::from_static(b"b"), Bytes::from_static(b"\0"));
        assert!(from.contains(b"zzz"));
        assert!(!from.contains(b"a"));
        let prefix = KeyRange::prefix(Bytes::from_static(b"a\xff"));
        assert!(prefix.contains(b"a\xff\x01"));
        assert!(!prefix.contains(b"b\x00"));
        assert_eq!(prefix_end(b"\xff\xff"), None);
    }

    #[test]
    fn intersections() {
        let a = KeyRange::from_etcd(Bytes::from_static(b"a"), Bytes::from_static(b"c"));
        let b = KeyRange::from_etcd(Bytes::from_static(b"c"), Bytes::from_static(b"d"));
        assert!(!a.intersects(&b));
        let c = KeyRange::from_etcd(Bytes::from_static(b"b"), Bytes::from_static(b"\0"));
        assert!(a.intersects(&c));
        assert!(c.intersects(&KeyRange::Single(Bytes::from_static(b"zz"))));
        let empty = KeyRange::from_etcd(Bytes::from_static(b"c"), Bytes::from_static(b"a"));
        assert!(!empty.intersects(&c));
    }
}
