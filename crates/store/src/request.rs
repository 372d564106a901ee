//! The requests the store answers and their responses, shaped after etcd's
//! KV API but free of any wire format.

use bytes::Bytes;

use crate::kv::{KeyRange, KeyValue};

/// How to order a range's results.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SortOrder {
    /// Key order, as stored.
    #[default]
    None,
    /// Smallest first.
    Ascend,
    /// Largest first.
    Descend,
}

/// Which field a range is sorted by.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SortTarget {
    /// The key.
    #[default]
    Key,
    /// The version.
    Version,
    /// The create revision.
    Create,
    /// The mod revision.
    Mod,
    /// The value.
    Value,
}

/// Read the keys of a range, now or at a past revision.
#[derive(Clone, Debug)]
pub struct RangeRequest {
    /// Which keys.
    pub range: KeyRange,
    /// At most this many key-values; 0 is no limit.
    pub limit: i64,
    /// The revision to read at; 0 or less reads the newest.
    pub revision: i64,
    /// Result order.
    pub sort_order: SortOrder,
    /// Field to sort by.
    pub sort_target: SortTarget,
    /// Leave values out.
    pub keys_only: bool,
    /// Return only the count.
    pub count_only: bool,
    /// Drop keys whose mod revision is below this (0: no bound).
    pub min_mod_revision: i64,
    /// Drop keys whose mod revision is above this (0: no bound).
    pub max_mod_revision: i64,
    /// Drop keys whose create revision is below this (0: no bound).
    pub min_create_revision: i64,
    /// Drop keys whose create revision is above this (0: no bound).
    pub max_create_revision: i64,
}

impl RangeRequest {
    /// A plain read of `range` at the newest revision.
    pub fn new(range: KeyRange) -> RangeRequest {
        RangeRequest {
            range,
            limit: 0,
            revision: 0,
            sort_order: SortOrder::None,
            sort_target: SortTarget::Key,
            keys_only: false,
            count_only: false,
            min_mod_revision: 0,
            max_mod_revision: 0,
            min_create_revision: 0,
            max_create_revision: 0,
        }
    }

    /// Whether the backend can stop early: with sorting or revision filters
    /// etcd reads the whole range first, then sorts and truncates.
    pub(crate) fn needs_full_scan(&self) -> bool {
        self.sort_order != SortOrder::None
            || self.min_mod_revision != 0
            || self.max_mod_revision != 0
            || self.min_create_revision != 0
            || self.max_create_revision != 0
    }
}

/// The answer to a [`RangeRequest`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RangeResponse {
    /// The store's revision when the read was served.
    pub revision: i64,
    /// The key-values, empty for `count_only`.
    pub kvs: Vec<KeyValue>,
    /// Whether the limit cut the result short.
    pub more: bool,
    /// How many keys the range holds, unaffected by limit and filters.
    pub count: i64,
}

/// Write one key.
#[derive(Clone, Debug, Default)]
pub struct PutRequest {
    /// The key.
    pub key: Bytes,
    /// The value.
    pub value: Bytes,
    /// The lease to attach, or 0.
    pub lease: i64,
    /// Return the key-value that was replaced.
    pub prev_kv: bool,
    /// Keep the current value (the key must exist).
    pub ignore_value: bool,
    /// Keep the current lease (the key must exist).
    pub ignore_lease: bool,
}

/// The answer to a [`PutRequest`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PutResponse {
    /// The revision of the write.
    pub revision: i64,
    /// The replaced key-value, when asked for and present.
    pub prev_kv: Option<KeyValue>,
}

/// Delete the keys of a range.
#[derive(Clone, Debug)]
pub struct DeleteRangeRequest {
    /// Which keys.
    pub range: KeyRange,
    /// Return the deleted key-values.
    pub prev_kv: bool,
}

/// The answer to a [`DeleteRangeRequest`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeleteRangeResponse {
    /// The revision of the delete, or the current one if nothing was deleted.
    pub revision: i64,
    /// How many keys were deleted.
    pub deleted: i64,
    /// The deleted key-values, when asked for.
    pub prev_kvs: Vec<KeyValue>,
}

/// How a compare relates the key's field to the operand.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CompareResult {
    /// Field equals operand.
    Equal,
    /// Field is greater.
    Greater,
    /// Field is less.
    Less,
    /// Field differs.
    NotEqual,
}

/// The field a compare looks at, with the operand to compare it to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CompareTarget {
    /// The version.
    Version(i64),
    /// The create revision.
    Create(i64),
    /// The mod revision.
    Mod(i64),
    /// The value.
    Value(Bytes),
    /// The lease.
    Lease(i64),
}

/// One guard of a transaction.
#[derive(Clone, Debug)]
pub struct Compare {
    /// The keys it applies to; every one must satisfy it.
    pub range: KeyRange,
    /// The relation.
    pub result: CompareResult,
    /// The field and operand.
    pub target: CompareTarget,
}

/// One operation inside a transaction.
#[derive(Clone, Debug)]
pub enum RequestOp {
    /// A read.
    Range(RangeRequest),
    /// A write.
    Put(PutRequest),
    /// A delete.
    DeleteRange(DeleteRangeRequest),
    /// A nested transaction.
    Txn(TxnRequest),
}

/// An atomic if-then-else over the store.
#[derive(Clone, Debug, Default)]
pub struct TxnRequest {
    /// The guards; all must hold for `success` to run.
    pub compare: Vec<Compare>,
    /// Run when every guard holds.
    pub success: Vec<RequestOp>,
    /// Run otherwise.
    pub failure: Vec<RequestOp>,
}

impl TxnRequest {
    /// Whether no branch at any depth writes.
    pub fn is_read_only(&self) -> bool {
        self.success.iter().chain(&self.failure).all(|op| match op {
            RequestOp::Range(_) => true,
            RequestOp::Put(_) | RequestOp::DeleteRange(_) => false,
            RequestOp::Txn(t) => t.is_read_only(),
        })
    }
}

/// The answer to one [`RequestOp`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ResponseOp {
    /// A read's answer.
    Range(RangeResponse),
    /// A write's answer.
    Put(PutResponse),
    /// A delete's answer.
    DeleteRange(DeleteRangeResponse),
    /// A nested transaction's answer.
    Txn(TxnResponse),
}

/// The answer to a [`TxnRequest`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TxnResponse {
    /// The store's revision after the transaction. Nested transactions
    /// report 0, as etcd leaves their header out.
    pub revision: i64,
    /// Whether the guards held.
    pub succeeded: bool,
    /// One answer per operation of the branch that ran.
    pub responses: Vec<ResponseOp>,
}

/// The answer to a lease grant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LeaseGrantResponse {
    /// The store's revision.
    pub revision: i64,
    /// The lease's ID.
    pub id: i64,
    /// The TTL granted, in seconds.
    pub ttl: i64,
}

/// What a lease looks like now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaseTimeToLive {
    /// The store's revision.
    pub revision: i64,
    /// The lease's ID.
    pub id: i64,
    /// Seconds left, or -1 for a lease that does not exist.
    pub ttl: i64,
    /// The TTL granted.
    pub granted_ttl: i64,
    /// The attached keys, when asked for.
    pub keys: Vec<Bytes>,
}

/// Facts about the store for status and metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StoreStatus {
    /// The newest revision.
    pub revision: i64,
    /// The revision history is compacted up to.
    pub compact_revision: i64,
    /// Bytes the database takes on disk.
    pub db_size: i64,
    /// Bytes in use by live data, as far as the database can tell.
    pub db_size_in_use: i64,
}
