//! The soak: a steady write load and many watchers (one of them reading
//! slowly) for a fixed time, while the server's resident memory is sampled.
//! Memory that keeps growing under a steady load is a leak, or a buffer
//! without a bound.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use etcd_client::Client;

use crate::proc::{mib, rss_kib};
use crate::{PREFIX, VALUE_SIZE, clear, open_watch};

/// Watchers that keep up, each on its own prefix.
const FAST_WATCHERS: usize = 99;
const WRITERS: usize = 4;
/// Writes per second from each writer.
const WRITER_RATE: u64 = 100;
/// Distinct keys per prefix: the keyspace stays bounded, only history grows.
const KEYS_PER_PREFIX: u64 = 20;
/// The slow watcher reads one response this often.
const SLOW_READ_EVERY: Duration = Duration::from_secs(1);
const SAMPLE_EVERY: Duration = Duration::from_secs(5);
/// Samples in the first part of the soak (this long, or a sixth of the soak
/// if that is shorter) are shown but not judged: caches and allocator pools
/// fill then, which is growth but not a leak.
const WARMUP: Duration = Duration::from_secs(30);
/// How long fast watchers get, after the writers stop, to catch up.
const DRAIN: Duration = Duration::from_secs(15);

fn soak_prefix(p: usize) -> String {
    format!("{PREFIX}soak/{p:02}/")
}

fn median(v: &[u64]) -> u64 {
    let mut v = v.to_vec();
    v.sort_unstable();
    v.get(v.len() / 2).copied().unwrap_or(0)
}

pub async fn run(
    target: &str,
    conns: &[Client],
    slow_conn: Client,
    duration: Duration,
    pid: u32,
    max_growth_pct: f64,
) -> Result<()> {
    let label = format!("[{target}] soak");
    clear(&conns[0]).await?;
    rss_kib(pid)?;

    // Counts events the fast watchers receive; each write lands under
    // exactly one fast watcher's prefix.
    let delivered = Arc::new(AtomicU64::new(0));
    let mut readers = Vec::with_capacity(FAST_WATCHERS);
    for p in 0..FAST_WATCHERS {
        let mut s = open_watch(&conns[p % conns.len()], &soak_prefix(p)).await?;
        let delivered = delivered.clone();
        readers.push(tokio::spawn(async move {
            while let Some(r) = s.message().await? {
                if r.canceled() {
                    bail!("a fast watcher was cancelled: {}", r.cancel_reason());
                }
                delivered.fetch_add(r.events().len() as u64, Ordering::Relaxed);
            }
            Ok::<_, anyhow::Error>(())
        }));
    }
    // The slow watcher sees every write and reads one response a second,
    // so the server has to hold back (or drop) what it cannot send yet.
    let mut slow_stream = open_watch(&slow_conn, &format!("{PREFIX}soak/")).await?;
    let slow_seen = Arc::new(AtomicU64::new(0));
    let slow_cancelled = Arc::new(AtomicBool::new(false));
    let slow = {
        let (seen, cancelled) = (slow_seen.clone(), slow_cancelled.clone());
        tokio::spawn(async move {
            while let Ok(Some(r)) = slow_stream.message().await {
                if r.canceled() {
                    cancelled.store(true, Ordering::Relaxed);
                    break;
                }
                seen.fetch_add(r.events().len() as u64, Ordering::Relaxed);
                tokio::time::sleep(SLOW_READ_EVERY).await;
            }
        })
    };

    let stop = Arc::new(AtomicBool::new(false));
    let written = Arc::new(AtomicU64::new(0));
    let mut writers = Vec::with_capacity(WRITERS);
    for w in 0..WRITERS {
        let mut c = conns[w % conns.len()].clone();
        let (stop, written) = (stop.clone(), written.clone());
        writers.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / WRITER_RATE));
            // A late tick is not made up with a burst: the rate stays steady.
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut i = w as u64;
            while !stop.load(Ordering::Relaxed) {
                tick.tick().await;
                let p = (i % FAST_WATCHERS as u64) as usize;
                let k = (i / FAST_WATCHERS as u64) % KEYS_PER_PREFIX;
                let mut v = format!("{i:016}").into_bytes();
                v.resize(VALUE_SIZE, b'x');
                c.put(format!("{}{k}", soak_prefix(p)), v, None).await?;
                written.fetch_add(1, Ordering::Relaxed);
                i += WRITERS as u64;
            }
            Ok::<_, anyhow::Error>(())
        }));
    }
    eprintln!(
        "{label}: {} s, {WRITERS} writers at {WRITER_RATE}/s each, {FAST_WATCHERS} watchers \
         on prefixes and 1 slow one on all of them, sampling pid {pid} every {} s",
        duration.as_secs(),
        SAMPLE_EVERY.as_secs()
    );

    let start = Instant::now();
    let mut samples: Vec<(Duration, u64)> = Vec::new();
    let mut tick = tokio::time::interval(SAMPLE_EVERY);
    loop {
        tick.tick().await;
        let t = start.elapsed();
        let rss = rss_kib(pid)?;
        samples.push((t, rss));
        eprintln!(
            "{label}: t={:>4} s rss={:>7.1} MiB written={} delivered={} slow watcher={}",
            t.as_secs(),
            mib(rss),
            written.load(Ordering::Relaxed),
            delivered.load(Ordering::Relaxed),
            slow_seen.load(Ordering::Relaxed)
        );
        if writers.iter().any(|w| w.is_finished()) || readers.iter().any(|r| r.is_finished()) {
            break;
        }
        if t >= duration {
            break;
        }
    }
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.await.context("a writer task failed")??;
    }
    let written = written.load(Ordering::Relaxed);
    let drain_until = Instant::now() + DRAIN;
    while delivered.load(Ordering::Relaxed) < written && Instant::now() < drain_until {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let delivered = delivered.load(Ordering::Relaxed);
    // Aborting a reader drops its stream, which cancels its watch.
    for r in &readers {
        r.abort();
    }
    for r in readers {
        // An aborted reader is expected; one that ended on its own failed.
        if let Ok(res) = r.await {
            res?;
        }
    }
    slow.abort();
    clear(&conns[0]).await?;

    let warmup = WARMUP.min(duration / 6);
    let rss: Vec<u64> = samples
        .iter()
        .filter(|(t, _)| *t >= warmup)
        .map(|(_, r)| *r)
        .collect();
    let half = rss.len() / 2;
    if half == 0 {
        bail!(
            "the soak took too few samples; run it for at least {} s",
            4 * SAMPLE_EVERY.as_secs()
        );
    }
    let (first, second) = (median(&rss[..half]), median(&rss[rss.len() - half..]));
    let growth = second as f64 - first as f64;
    let growth_pct = 100.0 * growth / (first as f64).max(1.0);
    println!(
        "soak of {target} (pid {pid}): resident memory every {} s",
        SAMPLE_EVERY.as_secs()
    );
    for (t, r) in &samples {
        let warming = if *t < warmup {
            "  (warm-up, not judged)"
        } else {
            ""
        };
        println!("  t={:>4} s  {:>7.1} MiB{warming}", t.as_secs(), mib(*r));
    }
    println!(
        "writes {written} ({:.0}/s), fast watchers' events {delivered} of {written}, \
         slow watcher's events {}{}",
        written as f64 / start.elapsed().as_secs_f64().max(1e-9),
        slow_seen.load(Ordering::Relaxed),
        if slow_cancelled.load(Ordering::Relaxed) {
            " (then the server cancelled it)"
        } else {
            ""
        }
    );
    println!(
        "median of first half {:.1} MiB, of second half {:.1} MiB: growth {:+.1} MiB ({growth_pct:+.1}%), \
         peak {:.1} MiB; limit {max_growth_pct}%",
        mib(first),
        mib(second),
        growth / 1024.0,
        mib(samples.iter().map(|(_, r)| *r).max().unwrap_or(0))
    );
    if delivered < written {
        bail!("fast watchers received {delivered} events of {written} written");
    }
    if growth_pct > max_growth_pct {
        bail!("memory grew {growth_pct:.1}% between the soak's halves (limit {max_growth_pct}%)");
    }
    println!("soak: PASS");
    Ok(())
}
