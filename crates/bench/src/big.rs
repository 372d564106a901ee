//! The big keyspace: `count-1m` and `page-1m` over 1,000,000 keys, the
//! reads kube-apiserver makes of a large resource and the ones kine is known
//! to answer in seconds.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use etcd_client::{Client, DeleteOptions, GetOptions, Txn, TxnOp};

use crate::{Measured, Sizes, drive, drive_until, value};

pub const COUNT: &str = "count-1m";
pub const PAGE: &str = "page-1m";
pub const WORKLOADS: [&str; 2] = [COUNT, PAGE];

/// Outside `PREFIX`, so that the other workloads' clearing leaves it alone.
const BIG_PREFIX: &str = "/causeway-bench-big/";
/// etcd's default --max-txn-ops, and causeway's limit too.
const TXN_PUTS: usize = 128;
/// Concurrent loading clients: enough to keep a server's batching busy.
const LOAD_CLIENTS: usize = 32;
/// Keys per delete request when removing the keyspace.
const DELETE_CHUNK: usize = 10_000;
/// kube-apiserver's default page size.
const PAGE_LIMIT: usize = 500;
const PAGE_CLIENTS: usize = 4;
/// No new request starts after this long, so one slow target cannot stall
/// the whole run; the note then says how many ran.
const READ_BUDGET: Duration = Duration::from_secs(90);

/// The keyspace as loaded: its size and the revision it was read at.
pub struct Loaded {
    keys: usize,
    revision: i64,
    note: String,
}

fn key(i: usize) -> String {
    format!("{BIG_PREFIX}{i:08}")
}

/// The first key after every key under `BIG_PREFIX`.
fn prefix_end() -> Vec<u8> {
    let mut end = BIG_PREFIX.as_bytes().to_vec();
    // BIG_PREFIX ends in '/', which has a successor byte.
    if let Some(last) = end.last_mut() {
        *last += 1;
    }
    end
}

async fn count(c: &Client) -> Result<(i64, i64)> {
    let r = c
        .clone()
        .get(
            BIG_PREFIX,
            Some(GetOptions::new().with_prefix().with_count_only()),
        )
        .await?;
    let rev = r.header().map_or(0, |h| h.revision());
    Ok((r.count(), rev))
}

/// Loads `n` keys under `BIG_PREFIX` from many clients in txns of
/// `TXN_PUTS` puts, unless `reuse` and exactly `n` are already there.
pub async fn prepare(target: &str, conns: &[Client], n: usize, reuse: bool) -> Result<Loaded> {
    let label = format!("[{target}] big keyspace");
    let (have, rev) = count(&conns[0]).await?;
    if reuse && have == n as i64 {
        eprintln!("{label}: reusing the {n} keys already loaded");
        return Ok(Loaded {
            keys: n,
            revision: rev,
            note: format!("{n} keys, loaded earlier"),
        });
    }
    if have > 0 {
        delete(target, conns, have as usize).await?;
    }
    eprintln!("{label}: loading {n} keys, {LOAD_CLIENTS} clients, txns of {TXN_PUTS} puts");
    let start = Instant::now();
    drive(
        &format!("{label} load (txns)"),
        conns,
        LOAD_CLIENTS,
        n.div_ceil(TXN_PUTS),
        move |mut c, b| async move {
            let ops: Vec<TxnOp> = (b * TXN_PUTS..((b + 1) * TXN_PUTS).min(n))
                .map(|i| TxnOp::put(key(i), value(i), None))
                .collect();
            c.txn(Txn::new().and_then(ops)).await?;
            Ok(())
        },
    )
    .await?;
    let took = start.elapsed();
    let (have, rev) = count(&conns[0]).await?;
    if have != n as i64 {
        bail!("loaded {n} keys but a count says {have}");
    }
    let rate = n as f64 / took.as_secs_f64().max(1e-9);
    eprintln!(
        "{label}: loaded in {:.1} s, {rate:.0} keys/s",
        took.as_secs_f64()
    );
    Ok(Loaded {
        keys: n,
        revision: rev,
        note: format!(
            "{n} keys loaded in {:.0} s ({rate:.0} keys/s)",
            took.as_secs_f64()
        ),
    })
}

/// Removes the keyspace in chunks, so that no single request deletes a
/// million keys.
pub async fn delete(target: &str, conns: &[Client], n: usize) -> Result<()> {
    let label = format!("[{target}] big keyspace delete");
    eprintln!("{label}: deleting {n} keys");
    let chunks = n.div_ceil(DELETE_CHUNK);
    drive(&label, conns, 4, chunks + 1, move |mut c, i| async move {
        // The last request sweeps whatever the numbered chunks missed (a
        // keyspace of another size left by an earlier run).
        let (from, to) = if i == chunks {
            (key(chunks * DELETE_CHUNK).into_bytes(), prefix_end())
        } else {
            (
                key(i * DELETE_CHUNK).into_bytes(),
                key((i + 1) * DELETE_CHUNK).into_bytes(),
            )
        };
        c.delete(from, Some(DeleteOptions::new().with_range(to)))
            .await?;
        Ok(())
    })
    .await?;
    Ok(())
}

/// A well-mixed index in `0..n` for request `i` (splitmix64), so that pages
/// start at keys spread over the whole keyspace without a random crate.
fn spread(i: usize, n: usize) -> usize {
    let mut z = (i as u64).wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    (z % n.max(1) as u64) as usize
}

pub async fn run(
    w: &str,
    target: &str,
    conns: &[Client],
    s: Sizes,
    loaded: &Loaded,
) -> Result<Measured> {
    let label = format!("[{target}] {w}");
    let n = loaded.keys;
    let deadline = Some(Instant::now() + READ_BUDGET);
    let (total, mut m) = match w {
        COUNT => {
            let total = s.big_count;
            let m = drive_until(
                &label,
                conns,
                1,
                total,
                deadline,
                move |mut c, _| async move {
                    let r = c
                        .get(
                            BIG_PREFIX,
                            Some(GetOptions::new().with_prefix().with_count_only()),
                        )
                        .await?;
                    if r.count() != n as i64 {
                        bail!("count is {}, not {n}", r.count());
                    }
                    Ok(())
                },
            )
            .await?;
            (total, m)
        }
        PAGE => {
            let total = s.big_page;
            let rev = loaded.revision;
            // etcd returns, with each page, the count of every key from the
            // start key to the range end; a different count is noted.
            let miscounts = Arc::new(AtomicUsize::new(0));
            let seen = miscounts.clone();
            let mut m = drive_until(
                &label,
                conns,
                PAGE_CLIENTS,
                total,
                deadline,
                move |mut c, i| {
                    let miscounts = seen.clone();
                    async move {
                        let start = spread(i, n);
                        // Continuation pages are read at the first page's
                        // revision, as kube-apiserver does.
                        let r = c
                            .get(
                                key(start),
                                Some(
                                    GetOptions::new()
                                        .with_range(prefix_end())
                                        .with_limit(PAGE_LIMIT as i64)
                                        .with_revision(rev),
                                ),
                            )
                            .await?;
                        let left = n - start;
                        if r.kvs().len() != left.min(PAGE_LIMIT) {
                            bail!(
                                "a page from key {start} has {} keys, not {}",
                                r.kvs().len(),
                                left.min(PAGE_LIMIT)
                            );
                        }
                        if r.more() != (left > PAGE_LIMIT) {
                            bail!("a page from key {start} says more={}", r.more());
                        }
                        if r.count() != left as i64 {
                            miscounts.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(())
                    }
                },
            )
            .await?;
            let miscounts = miscounts.load(Ordering::Relaxed);
            if miscounts > 0 {
                m.note = format!("{miscounts} pages' count differs from etcd's; ");
            }
            (total, m)
        }
        other => bail!("unknown big workload {other}"),
    };
    let mut note = format!("{}{}", m.note, loaded.note);
    if w == PAGE {
        note = format!("limit {PAGE_LIMIT} from random keys, {PAGE_CLIENTS} clients; {note}");
    }
    if m.ops < total {
        note = format!(
            "{note}; only {} of {total} ran within {} s",
            m.ops,
            READ_BUDGET.as_secs()
        );
    }
    m.note = note;
    Ok(m)
}
