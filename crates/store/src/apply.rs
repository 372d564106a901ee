//! etcd's rules for reading and writing, over any backend.
//!
//! This follows the order in which etcd's applier does things, because that
//! order is observable: a transaction's compares, at every depth, are all
//! evaluated against the state before the transaction; then the chosen
//! branches are checked (leases exist, `ignore_value` keys exist, read
//! revisions are in range); only then is anything written. Inside the
//! transaction, reads see the writes before them.

use std::collections::{BTreeSet, HashMap};

use bytes::Bytes;

use crate::backend::{LeaseRow, Reader, Writer};
use crate::error::Error;
use crate::kv::{Event, EventKind, KeyRange, KeyValue};
use crate::request::{
    Compare, CompareResult, CompareTarget, DeleteRangeRequest, DeleteRangeResponse, PutRequest,
    PutResponse, RangeRequest, RangeResponse, RequestOp, ResponseOp, SortOrder, SortTarget,
    TxnRequest, TxnResponse,
};

/// The most operations one transaction level may hold (etcd's `--max-txn-ops`).
pub const MAX_TXN_OPS: usize = 128;

/// The largest TTL a lease may have, in seconds (etcd's `MaxLeaseTTL`).
pub const MAX_LEASE_TTL: i64 = 9_000_000_000;

/// Where a read stands: the revision it reads as current, and the
/// compaction revision below which history is gone.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ReadPoint {
    pub current: i64,
    pub compact: i64,
}

/// Serves a range the way etcd's applier does.
pub(crate) async fn range<R: Reader>(
    r: &mut R,
    at: ReadPoint,
    req: &RangeRequest,
) -> Result<RangeResponse, Error> {
    if req.revision > at.current {
        return Err(Error::FutureRevision);
    }
    let rev = if req.revision <= 0 {
        at.current
    } else {
        req.revision
    };
    if rev < at.compact {
        return Err(Error::Compacted);
    }
    // The newest state is kept apart from history and is cheaper to read.
    let at_rev = (rev != at.current).then_some(rev);
    if req.count_only {
        let count = r.count(&req.range, at_rev).await?;
        return Ok(RangeResponse {
            revision: at.current,
            kvs: Vec::new(),
            more: false,
            count,
        });
    }
    // With sorting or filters etcd reads everything, then sorts and cuts;
    // otherwise it reads one past the limit to learn whether there is more.
    let fetch = if req.needs_full_scan() || req.limit <= 0 {
        0
    } else {
        usize::try_from(req.limit)
            .unwrap_or(usize::MAX)
            .saturating_add(1)
    };
    let keys_only = req.keys_only && req.sort_target != SortTarget::Value;
    let mut kvs = r.range(&req.range, at_rev, fetch, keys_only).await?;
    let count = if fetch > 0 && kvs.len() == fetch {
        r.count(&req.range, at_rev).await?
    } else {
        kvs.len() as i64
    };
    if req.max_mod_revision != 0 {
        kvs.retain(|kv| kv.mod_revision <= req.max_mod_revision);
    }
    if req.min_mod_revision != 0 {
        kvs.retain(|kv| kv.mod_revision >= req.min_mod_revision);
    }
    if req.max_create_revision != 0 {
        kvs.retain(|kv| kv.create_revision <= req.max_create_revision);
    }
    if req.min_create_revision != 0 {
        kvs.retain(|kv| kv.create_revision >= req.min_create_revision);
    }
    sort(&mut kvs, req.sort_order, req.sort_target);
    let mut more = false;
    if let Ok(limit) = usize::try_from(req.limit)
        && limit > 0
        && kvs.len() > limit
    {
        kvs.truncate(limit);
        more = true;
    }
    if req.keys_only {
        for kv in &mut kvs {
            kv.value = Bytes::new();
        }
    }
    Ok(RangeResponse {
        revision: at.current,
        kvs,
        more,
        count,
    })
}

/// Sorts as etcd does: a non-key target with no order means ascending, and
/// ascending by key is the order the rows already have.
fn sort(kvs: &mut [KeyValue], order: SortOrder, target: SortTarget) {
    let order = match (order, target) {
        (SortOrder::None, SortTarget::Key) | (SortOrder::Ascend, SortTarget::Key) => return,
        (SortOrder::None, _) => SortOrder::Ascend,
        (o, _) => o,
    };
    let key = |kv: &KeyValue| -> (i64, Bytes) {
        match target {
            SortTarget::Key => (0, kv.key.clone()),
            SortTarget::Version => (kv.version, Bytes::new()),
            SortTarget::Create => (kv.create_revision, Bytes::new()),
            SortTarget::Mod => (kv.mod_revision, Bytes::new()),
            SortTarget::Value => (0, kv.value.clone()),
        }
    };
    match order {
        SortOrder::Descend => kvs.sort_by_key(|kv| std::cmp::Reverse(key(kv))),
        _ => kvs.sort_by_key(key),
    }
}

/// Checks a transaction's shape before it touches the store: sizes, empty
/// keys, and keys written twice (etcd's `checkTxnRequest` and `checkIntervals`).
pub(crate) fn validate_txn(txn: &TxnRequest) -> Result<(), Error> {
    validate_txn_ops(txn, MAX_TXN_OPS)?;
    check_intervals(&txn.success)?;
    check_intervals(&txn.failure)?;
    Ok(())
}

fn validate_txn_ops(txn: &TxnRequest, max_ops: usize) -> Result<(), Error> {
    let ops = txn
        .compare
        .len()
        .max(txn.success.len())
        .max(txn.failure.len());
    if ops > max_ops {
        return Err(Error::TooManyOps);
    }
    if txn.compare.iter().any(|c| c.range.start().is_empty()) {
        return Err(Error::EmptyKey);
    }
    for op in txn.success.iter().chain(&txn.failure) {
        match op {
            RequestOp::Range(r) => validate_key(r.range.start())?,
            RequestOp::Put(p) => validate_put(p)?,
            RequestOp::DeleteRange(d) => validate_key(d.range.start())?,
            RequestOp::Txn(t) => validate_txn_ops(t, max_ops - ops)?,
        }
    }
    Ok(())
}

/// Rejects an empty key.
pub(crate) fn validate_key(key: &Bytes) -> Result<(), Error> {
    if key.is_empty() {
        return Err(Error::EmptyKey);
    }
    Ok(())
}

/// Rejects a put that etcd rejects before looking at the store.
pub(crate) fn validate_put(p: &PutRequest) -> Result<(), Error> {
    validate_key(&p.key)?;
    if p.ignore_value && !p.value.is_empty() {
        return Err(Error::ValueProvided);
    }
    if p.ignore_lease && p.lease != 0 {
        return Err(Error::LeaseProvided);
    }
    Ok(())
}

/// The keys put and the ranges deleted by one branch, with its nested
/// branches folded in. A key may be put by both branches of a nested
/// transaction, since only one of them runs.
fn check_intervals(ops: &[RequestOp]) -> Result<(BTreeSet<Bytes>, Vec<KeyRange>), Error> {
    let mut dels: Vec<KeyRange> = ops
        .iter()
        .filter_map(|op| match op {
            RequestOp::DeleteRange(d) => Some(d.range.clone()),
            _ => None,
        })
        .collect();
    // etcd checks deletes as literal intervals [key, range_end), so the
    // "\0" end that means "no upper bound" makes an empty interval there
    // and never conflicts. Clients can observe that, so it is kept.
    let deleted = |dels: &[KeyRange], k: &Bytes| {
        dels.iter().any(|d| match d {
            KeyRange::Interval { end: None, .. } => false,
            d => d.contains(k),
        })
    };
    let mut puts: BTreeSet<Bytes> = BTreeSet::new();
    // Each nested transaction's deletes join the set before the next one's
    // puts are checked, in etcd's order.
    for op in ops {
        let RequestOp::Txn(t) = op else { continue };
        let (puts_then, dels_then) = check_intervals(&t.success)?;
        let (puts_else, dels_else) = check_intervals(&t.failure)?;
        for k in &puts_then {
            if puts.contains(k) || deleted(&dels, k) {
                return Err(Error::DuplicateKey);
            }
            puts.insert(k.clone());
        }
        for k in &puts_else {
            if (puts.contains(k) && !puts_then.contains(k)) || deleted(&dels, k) {
                return Err(Error::DuplicateKey);
            }
            puts.insert(k.clone());
        }
        dels.extend(dels_then);
        dels.extend(dels_else);
    }
    for op in ops {
        let RequestOp::Put(p) = op else { continue };
        if puts.contains(&p.key) || deleted(&dels, &p.key) {
            return Err(Error::DuplicateKey);
        }
        puts.insert(p.key.clone());
    }
    Ok((puts, dels))
}

/// Whether every key of a compare's range satisfies it. A compare on keys
/// that do not exist sees a zero key-value, except that a value compare on
/// missing keys always fails (an absent value cannot be told from an empty one).
pub(crate) async fn compare<R: Reader>(r: &mut R, c: &Compare) -> Result<bool, Error> {
    let kvs = r.range(&c.range, None, 0, false).await?;
    if kvs.is_empty() {
        if matches!(c.target, CompareTarget::Value(_)) {
            return Ok(false);
        }
        return Ok(compare_kv(c, &KeyValue::default()));
    }
    Ok(kvs.iter().all(|kv| compare_kv(c, kv)))
}

fn compare_kv(c: &Compare, kv: &KeyValue) -> bool {
    let ord = match &c.target {
        CompareTarget::Version(v) => kv.version.cmp(v),
        CompareTarget::Create(v) => kv.create_revision.cmp(v),
        CompareTarget::Mod(v) => kv.mod_revision.cmp(v),
        CompareTarget::Lease(v) => kv.lease.cmp(v),
        CompareTarget::Value(v) => kv.value.as_ref().cmp(v.as_ref()),
    };
    match c.result {
        CompareResult::Equal => ord.is_eq(),
        CompareResult::NotEqual => ord.is_ne(),
        CompareResult::Greater => ord.is_gt(),
        CompareResult::Less => ord.is_lt(),
    }
}

/// Which branch every transaction level takes, in depth-first order,
/// decided against the state before any of it runs.
async fn txn_path<R: Reader>(
    r: &mut R,
    txn: &TxnRequest,
    path: &mut Vec<bool>,
) -> Result<(), Error> {
    let mut ok = true;
    for c in &txn.compare {
        if !compare(r, c).await? {
            ok = false;
            break;
        }
    }
    path.push(ok);
    let ops = if ok { &txn.success } else { &txn.failure };
    for op in ops {
        if let RequestOp::Txn(t) = op {
            Box::pin(txn_path(r, t, path)).await?;
        }
    }
    Ok(())
}

/// The branch a transaction level takes, by the next entry of `path` (the
/// decisions of every level in depth-first order), advancing `idx` past it.
fn branch<'t>(txn: &'t TxnRequest, path: &[bool], idx: &mut usize) -> (bool, &'t [RequestOp]) {
    // `path` holds one entry per level that `txn_path` visited, and the
    // walks that read it visit the same levels in the same order.
    let ok = path.get(*idx).copied().unwrap_or(false);
    *idx += 1;
    (ok, if ok { &txn.success } else { &txn.failure })
}

/// What `check_path` looks at in one pass.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Check {
    Puts,
    Ranges,
}

/// Checks the operations of the chosen branches against the state before
/// the transaction, as etcd's `checkRequests` does: every put first (in a
/// transaction that writes), then every range, so a bad put is reported
/// ahead of a bad range whatever their order.
async fn check_txn<R: Reader>(
    r: &mut R,
    at: ReadPoint,
    txn: &TxnRequest,
    path: &[bool],
    writes: bool,
) -> Result<(), Error> {
    if writes {
        check_path(r, at, txn, path, &mut 0, Check::Puts).await?;
    }
    check_path(r, at, txn, path, &mut 0, Check::Ranges).await
}

async fn check_path<R: Reader>(
    r: &mut R,
    at: ReadPoint,
    txn: &TxnRequest,
    path: &[bool],
    idx: &mut usize,
    check: Check,
) -> Result<(), Error> {
    let (_, ops) = branch(txn, path, idx);
    for op in ops {
        match op {
            RequestOp::Put(p) if check == Check::Puts => check_put(r, p).await?,
            RequestOp::Range(q) if check == Check::Ranges && q.revision > 0 => {
                if q.revision > at.current {
                    return Err(Error::FutureRevision);
                }
                if q.revision < at.compact {
                    return Err(Error::Compacted);
                }
            }
            RequestOp::Txn(t) => Box::pin(check_path(r, at, t, path, idx, check)).await?,
            _ => {}
        }
    }
    Ok(())
}

async fn check_put<R: Reader>(r: &mut R, p: &PutRequest) -> Result<(), Error> {
    if (p.ignore_value || p.ignore_lease)
        && r.range(&KeyRange::Single(p.key.clone()), None, 1, true)
            .await?
            .is_empty()
    {
        return Err(Error::KeyNotFound);
    }
    if p.lease != 0 && r.lease(p.lease).await?.is_none() {
        return Err(Error::LeaseNotFound);
    }
    Ok(())
}

/// Runs a transaction whose branches only read.
pub(crate) async fn read_txn<R: Reader>(
    r: &mut R,
    at: ReadPoint,
    txn: &TxnRequest,
) -> Result<TxnResponse, Error> {
    let mut path = Vec::new();
    txn_path(r, txn, &mut path).await?;
    check_txn(r, at, txn, &path, false).await?;
    let mut idx = 0;
    let mut resp = Box::pin(read_txn_level(r, at, txn, &path, &mut idx)).await?;
    resp.revision = at.current;
    Ok(resp)
}

async fn read_txn_level<R: Reader>(
    r: &mut R,
    at: ReadPoint,
    txn: &TxnRequest,
    path: &[bool],
    idx: &mut usize,
) -> Result<TxnResponse, Error> {
    let (ok, ops) = branch(txn, path, idx);
    let mut responses = Vec::with_capacity(ops.len());
    for op in ops {
        responses.push(match op {
            RequestOp::Range(q) => ResponseOp::Range(range(r, at, q).await?),
            RequestOp::Txn(t) => {
                ResponseOp::Txn(Box::pin(read_txn_level(r, at, t, path, idx)).await?)
            }
            // The caller routes transactions with writes to the writer.
            RequestOp::Put(_) | RequestOp::DeleteRange(_) => return Err(Error::EmptyOp),
        });
    }
    Ok(TxnResponse {
        revision: 0,
        succeeded: ok,
        responses,
    })
}

/// One write request's worth of changes inside a batch: the revision it
/// started from, whether it changed anything yet, and the events so far.
pub(crate) struct Change<'w, W> {
    pub w: &'w mut W,
    pub begin: i64,
    pub compact: i64,
    pub now_ms: i64,
    pub events: Vec<Event>,
    /// Each touched key as it was before the request. A watch event's
    /// previous key-value is the key one revision earlier, so a key put
    /// and then deleted in one transaction has none on its delete event.
    before: HashMap<Bytes, Option<KeyValue>>,
}

impl<'w, W: Writer> Change<'w, W> {
    /// A request starting at revision `begin`.
    pub fn new(w: &'w mut W, begin: i64, compact: i64, now_ms: i64) -> Self {
        Change {
            w,
            begin,
            compact,
            now_ms,
            events: Vec::new(),
            before: HashMap::new(),
        }
    }

    /// The key as it was before this request, remembering `now` as that if
    /// this is the request's first change to it.
    fn before(&mut self, key: &Bytes, now: &Option<KeyValue>) -> Option<KeyValue> {
        self.before
            .entry(key.clone())
            .or_insert_with(|| now.clone())
            .clone()
    }

    /// The revision reads inside the request see: one past the start once
    /// anything has changed.
    pub fn revision(&self) -> i64 {
        self.begin + i64::from(!self.events.is_empty())
    }

    fn point(&self) -> ReadPoint {
        ReadPoint {
            current: self.revision(),
            compact: self.compact,
        }
    }

    /// A top-level put.
    pub async fn put(&mut self, p: &PutRequest) -> Result<PutResponse, Error> {
        validate_put(p)?;
        if p.lease != 0 && self.w.lease(p.lease).await?.is_none() {
            return Err(Error::LeaseNotFound);
        }
        self.apply_put(p).await
    }

    async fn apply_put(&mut self, p: &PutRequest) -> Result<PutResponse, Error> {
        let prev = self
            .w
            .range(&KeyRange::Single(p.key.clone()), None, 1, false)
            .await?
            .pop();
        if (p.ignore_value || p.ignore_lease) && prev.is_none() {
            return Err(Error::KeyNotFound);
        }
        let rev = self.begin + 1;
        let kv = KeyValue {
            key: p.key.clone(),
            create_revision: prev.as_ref().map_or(rev, |kv| kv.create_revision),
            mod_revision: rev,
            version: prev.as_ref().map_or(1, |kv| kv.version + 1),
            value: match &prev {
                Some(kv) if p.ignore_value => kv.value.clone(),
                _ => p.value.clone(),
            },
            lease: match &prev {
                Some(kv) if p.ignore_lease => kv.lease,
                _ => p.lease,
            },
        };
        self.w.put(&kv, self.events.len() as i64).await?;
        let prev_kv = self.before(&kv.key, &prev);
        self.events.push(Event {
            kind: EventKind::Put,
            kv,
            prev_kv,
        });
        Ok(PutResponse {
            revision: rev,
            prev_kv: if p.prev_kv { prev } else { None },
        })
    }

    /// A delete, top-level or inside a transaction.
    pub async fn delete_range(
        &mut self,
        d: &DeleteRangeRequest,
    ) -> Result<DeleteRangeResponse, Error> {
        validate_key(d.range.start())?;
        let kvs = self.w.range(&d.range, None, 0, false).await?;
        self.delete_kvs(kvs.clone()).await?;
        Ok(DeleteRangeResponse {
            revision: self.revision(),
            deleted: kvs.len() as i64,
            prev_kvs: if d.prev_kv { kvs } else { Vec::new() },
        })
    }

    async fn delete_kvs(&mut self, kvs: Vec<KeyValue>) -> Result<(), Error> {
        let rev = self.begin + 1;
        for prev in kvs {
            self.w
                .delete(&prev.key, rev, self.events.len() as i64)
                .await?;
            let key = prev.key.clone();
            let prev_kv = self.before(&key, &Some(prev));
            self.events.push(Event {
                kind: EventKind::Delete,
                kv: KeyValue {
                    key,
                    mod_revision: rev,
                    ..KeyValue::default()
                },
                prev_kv,
            });
        }
        Ok(())
    }

    /// A top-level transaction that writes.
    pub async fn txn(&mut self, txn: &TxnRequest) -> Result<TxnResponse, Error> {
        validate_txn(txn)?;
        let mut path = Vec::new();
        txn_path(self.w, txn, &mut path).await?;
        let before = self.point();
        check_txn(self.w, before, txn, &path, true).await?;
        let mut idx = 0;
        let mut resp = Box::pin(self.txn_level(txn, &path, &mut idx)).await?;
        resp.revision = self.revision();
        Ok(resp)
    }

    async fn txn_level(
        &mut self,
        txn: &TxnRequest,
        path: &[bool],
        idx: &mut usize,
    ) -> Result<TxnResponse, Error> {
        let (ok, ops) = branch(txn, path, idx);
        let mut responses = Vec::with_capacity(ops.len());
        for op in ops {
            responses.push(match op {
                RequestOp::Range(q) => {
                    let at = self.point();
                    ResponseOp::Range(range(self.w, at, q).await?)
                }
                RequestOp::Put(p) => ResponseOp::Put(self.apply_put(p).await?),
                RequestOp::DeleteRange(d) => ResponseOp::DeleteRange(self.delete_range(d).await?),
                RequestOp::Txn(t) => ResponseOp::Txn(Box::pin(self.txn_level(t, path, idx)).await?),
            });
        }
        Ok(TxnResponse {
            revision: 0,
            succeeded: ok,
            responses,
        })
    }

    /// Revokes a lease: its keys go in one revision, in key order.
    pub async fn revoke_lease(&mut self, id: i64) -> Result<(), Error> {
        if self.w.lease(id).await?.is_none() {
            return Err(Error::LeaseNotFound);
        }
        let keys = self.w.lease_keys(id).await?;
        let mut kvs = Vec::with_capacity(keys.len());
        for key in keys {
            kvs.extend(self.w.range(&KeyRange::Single(key), None, 1, false).await?);
        }
        self.delete_kvs(kvs).await?;
        self.w.delete_lease(id).await?;
        Ok(())
    }

    /// Grants a lease.
    pub async fn grant_lease(&mut self, id: i64, ttl: i64) -> Result<(), Error> {
        if self.w.lease(id).await?.is_some() {
            return Err(Error::LeaseExists);
        }
        self.w
            .put_lease(LeaseRow {
                id,
                ttl,
                expires_at_ms: self.now_ms.saturating_add(ttl.saturating_mul(1000)),
            })
            .await?;
        Ok(())
    }

    /// Renews a lease to its full TTL. Returns the TTL, or 0 for a lease
    /// that does not exist or has already expired (etcd answers keep-alives
    /// for unknown leases with a TTL of 0, not an error).
    pub async fn keep_alive(&mut self, id: i64) -> Result<i64, Error> {
        let Some(mut lease) = self.w.lease(id).await? else {
            return Ok(0);
        };
        if lease.expires_at_ms <= self.now_ms {
            return Ok(0);
        }
        lease.expires_at_ms = self.now_ms.saturating_add(lease.ttl.saturating_mul(1000));
        self.w.put_lease(lease).await?;
        Ok(lease.ttl)
    }
}
