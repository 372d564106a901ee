//! The writer: every change goes through one database transaction at a
//! time, and many requests share one transaction (group commit), so one
//! fsync acknowledges them all.

use tokio::sync::oneshot;

use crate::apply::Change;
use crate::backend::{BackendError, Writer};
use crate::error::Error;
use crate::kv::Event;
use crate::request::{
    DeleteRangeRequest, DeleteRangeResponse, PutRequest, PutResponse, TxnRequest, TxnResponse,
};

/// The most requests one database transaction takes.
pub(crate) const MAX_BATCH: usize = 512;

/// A change to make.
#[derive(Debug)]
pub(crate) enum WriteOp {
    Put(PutRequest),
    DeleteRange(DeleteRangeRequest),
    Txn(TxnRequest),
    LeaseGrant {
        id: i64,
        ttl: i64,
    },
    LeaseRevoke {
        id: i64,
    },
    /// Revoke the lease only if it has expired by the database's clock.
    LeaseExpire {
        id: i64,
    },
    LeaseKeepAlive {
        id: i64,
    },
    /// Give every lease its full TTL again, as etcd does when a new leader
    /// takes over leases, so that downtime does not expire them all at once.
    LeaseRefreshAll,
    /// Move the compaction revision (logical compaction).
    Compact {
        revision: i64,
    },
    /// Remove history rows of revisions `from..=to` hidden by compaction.
    CompactStep {
        from: i64,
        to: i64,
    },
    /// Change nothing; answered once everything queued before it is done.
    Barrier,
    /// Rewrite the embedded database compactly. Only the SQLite writer
    /// takes it, and runs it on its own, outside any transaction.
    Defragment,
}

/// What a change produced.
#[derive(Debug)]
pub(crate) enum WriteOutcome {
    Put(PutResponse),
    DeleteRange(DeleteRangeResponse),
    Txn(TxnResponse),
    /// The revision after the change, for requests that answer only that.
    Revision(i64),
    /// A keep-alive's TTL.
    Ttl(i64),
    /// How many history rows a compaction step removed.
    Removed(u64),
}

/// A change with the channel its answer goes back on.
#[derive(Debug)]
pub(crate) struct WriteCommand {
    pub op: WriteOp,
    pub reply: oneshot::Sender<Result<WriteOutcome, Error>>,
}

/// What one database transaction did.
#[derive(Debug)]
pub(crate) struct BatchOutcome {
    pub results: Vec<Result<WriteOutcome, Error>>,
    pub events: Vec<Event>,
    pub revision: i64,
    pub compact: i64,
}

/// Applies `ops` in order inside the open write transaction `w`.
///
/// A request that is refused (a failed check) changes nothing and gets its
/// error; the others go on. A database error fails the whole batch, which
/// the caller rolls back.
pub(crate) async fn apply_batch<W: Writer>(
    w: &mut W,
    ops: &[&WriteOp],
) -> Result<BatchOutcome, BackendError> {
    let (start, start_compact) = w.revisions().await?;
    let now_ms = w.now_ms().await?;
    let mut revision = start;
    let mut compact = start_compact;
    let mut results = Vec::with_capacity(ops.len());
    let mut events = Vec::new();
    for op in ops {
        let mut c = Change::new(&mut *w, revision, compact, now_ms);
        let result = apply_one(&mut c, op, &mut compact).await;
        let changed = std::mem::take(&mut c.events);
        if let Err(Error::Backend(e)) = result {
            return Err(e);
        }
        if result.is_err() && !changed.is_empty() {
            // Every check runs before the first write, so a refusal after a
            // write means the rules above are broken. Fail the batch rather
            // than commit half a request.
            return Err(BackendError::Corrupt(format!(
                "request refused after writing: {:?}",
                result.err()
            )));
        }
        if !changed.is_empty() {
            revision += 1;
            events.extend(changed);
        }
        results.push(result);
    }
    if revision != start || compact != start_compact {
        w.set_revisions(revision, compact).await?;
    }
    Ok(BatchOutcome {
        results,
        events,
        revision,
        compact,
    })
}

async fn apply_one<W: Writer>(
    c: &mut Change<'_, W>,
    op: &WriteOp,
    compact: &mut i64,
) -> Result<WriteOutcome, Error> {
    Ok(match op {
        WriteOp::Put(p) => WriteOutcome::Put(c.put(p).await?),
        WriteOp::DeleteRange(d) => WriteOutcome::DeleteRange(c.delete_range(d).await?),
        WriteOp::Txn(t) => WriteOutcome::Txn(c.txn(t).await?),
        WriteOp::LeaseGrant { id, ttl } => {
            c.grant_lease(*id, *ttl).await?;
            WriteOutcome::Revision(c.revision())
        }
        WriteOp::LeaseRevoke { id } => {
            c.revoke_lease(*id).await?;
            WriteOutcome::Revision(c.revision())
        }
        WriteOp::LeaseExpire { id } => {
            match c.w.lease(*id).await? {
                Some(l) if l.expires_at_ms <= c.now_ms => c.revoke_lease(*id).await?,
                _ => {}
            }
            WriteOutcome::Revision(c.revision())
        }
        WriteOp::LeaseKeepAlive { id } => WriteOutcome::Ttl(c.keep_alive(*id).await?),
        WriteOp::LeaseRefreshAll => {
            for mut l in c.w.leases().await? {
                l.expires_at_ms = l
                    .expires_at_ms
                    .max(c.now_ms.saturating_add(l.ttl.saturating_mul(1000)));
                c.w.put_lease(l).await?;
            }
            WriteOutcome::Revision(c.revision())
        }
        WriteOp::Compact { revision } => {
            if *revision <= *compact {
                return Err(Error::Compacted);
            }
            if *revision > c.begin {
                return Err(Error::FutureRevision);
            }
            *compact = *revision;
            c.compact = *revision;
            WriteOutcome::Revision(c.begin)
        }
        // Inside a transaction a defragment can only change nothing; the
        // SQLite writer takes it out of the batch and runs it alone.
        WriteOp::Barrier | WriteOp::Defragment => WriteOutcome::Revision(c.begin),
        WriteOp::CompactStep { from, to } => {
            WriteOutcome::Removed(c.w.compact(*compact, *from, (*to).min(*compact)).await?)
        }
    })
}
