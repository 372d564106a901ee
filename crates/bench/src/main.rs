//! `causeway-bench`: the same etcd v3 workloads against several endpoints,
//! one after the other, reported side by side with the first endpoint (the
//! reference, a real etcd) as the yardstick.
//!
//! Besides the workloads there are `--big` (a 1,000,000-key keyspace) and
//! `--soak` (memory under a long watch and write load).
//!
//! `causeway-bench apiserver` benchmarks `causeway apiserver` instead: it
//! starts the binary on the embedded SQLite store and drives it over HTTPS
//! (see `api`).
//!
//! `causeway-bench check-perf-ceiling` runs `etcdctl check perf` against a
//! minimal server in this process, to show what this machine can reach at
//! all (see `ceiling`).

mod api;
mod big;
mod ceiling;
mod proc;
mod soak;

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use clap::{Parser, Subcommand};
use etcd_client::{Client, Compare, CompareOp, GetOptions, Txn, TxnOp, WatchOptions, WatchStream};

/// Runs etcd v3 workloads against each target and prints ops/s, p50 and p99
/// latency per target, with ratios to the first target; or, with the
/// `apiserver` subcommand, benchmarks `causeway apiserver`.
#[derive(Debug, Parser)]
#[command(
    name = "causeway-bench",
    version,
    about,
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    etcd: Args,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Benchmark `causeway apiserver` on its embedded SQLite store: create,
    /// get and update latency, a 10,000-object list, 1,000 watchers, and
    /// memory with 100,000 objects.
    Apiserver(api::Args),
    /// Run `etcdctl check perf` against a minimal etcd v3 server in this
    /// process that stores nothing: one whose puts are answered at once, and
    /// one whose puts wait for a group commit with `fdatasync`. The ceiling
    /// of any server on this machine.
    CheckPerfCeiling(ceiling::Args),
}

/// The etcd v3 benchmark's flags (when no subcommand is given).
#[derive(Debug, clap::Args)]
struct Args {
    /// A target as NAME=HOST:PORT. Give several; the first is the reference.
    #[arg(long = "target", required = true, value_parser = parse_target)]
    targets: Vec<(String, String)>,
    /// Cut every size down so that a smoke run takes seconds.
    #[arg(long)]
    quick: bool,
    /// Run only these workloads (comma-separated names, see the table).
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// gRPC connections per target; concurrent clients share them.
    #[arg(long, default_value_t = 8)]
    conns: usize,
    /// A second endpoint as NAME=HOST:PORT: `watch-cross` watches there for
    /// target NAME while it writes to the target (e.g. another causeway
    /// process on the same PostgreSQL database). Without one, it watches on
    /// the target itself.
    #[arg(long = "peer", value_parser = parse_target)]
    peers: Vec<(String, String)>,
    /// Also run count-1m and page-1m, which first load 1,000,000 keys into
    /// every target (minutes per target).
    #[arg(long)]
    big: bool,
    /// Leave the big keyspace in place afterwards (for throw-away servers;
    /// deleting it costs as much as a second load), and reuse one already
    /// there.
    #[arg(long, requires = "big")]
    keep_big: bool,
    /// Instead of the workloads, soak the first target for this many
    /// seconds: writers and many watchers, sampling the server's memory.
    #[arg(long, value_name = "SECONDS", requires = "soak_pid")]
    soak: Option<u64>,
    /// The server process whose resident memory the soak samples (from
    /// /proc/PID/status), so it must run on this machine.
    #[arg(long, value_name = "PID")]
    soak_pid: Option<u32>,
    /// The soak fails if the median memory of its second half exceeds that of
    /// its first half by more than this percentage.
    #[arg(long, value_name = "PERCENT", default_value_t = 20.0)]
    soak_max_growth: f64,
}

fn parse_target(s: &str) -> Result<(String, String), String> {
    let (name, endpoint) = s
        .split_once('=')
        .ok_or_else(|| format!("expected NAME=HOST:PORT, got {s:?}"))?;
    if name.is_empty() || endpoint.is_empty() {
        return Err(format!("expected NAME=HOST:PORT, got {s:?}"));
    }
    Ok((name.to_string(), endpoint.to_string()))
}

/// Sizes of every workload; `--quick` shrinks them.
#[derive(Debug, Clone, Copy)]
struct Sizes {
    put_1: usize,
    put_100: usize,
    get: usize,
    range_keys: usize,
    range: usize,
    count_keys: usize,
    count: usize,
    cas: usize,
    watch: usize,
    big_keys: usize,
    big_count: usize,
    big_page: usize,
}

impl Sizes {
    fn new(quick: bool) -> Self {
        if quick {
            Self {
                put_1: 100,
                put_100: 1_000,
                get: 500,
                range_keys: 1_000,
                range: 20,
                count_keys: 2_000,
                count: 10,
                cas: 300,
                watch: 100,
                big_keys: 20_000,
                big_count: 5,
                big_page: 20,
            }
        } else {
            Self {
                put_1: 2_000,
                put_100: 20_000,
                get: 20_000,
                range_keys: 1_000,
                range: 500,
                count_keys: 100_000,
                count: 100,
                cas: 5_000,
                watch: 2_000,
                big_keys: 1_000_000,
                big_count: 20,
                big_page: 300,
            }
        }
    }
}

const VALUE_SIZE: usize = 256;
const PREFIX: &str = "/causeway-bench/";
const CAS_CLIENTS: usize = 50;
const CAS_KEYS: usize = 4;
const READ_CLIENTS: usize = 10;
/// etcd refuses txns with more than 128 operations by default.
const LOAD_BATCH: usize = 100;

const WORKLOADS: [&str; 10] = [
    "put-1",
    "put-100",
    "get-1key",
    "range-1k",
    "count-100k",
    "txn-cas",
    "watch-latency",
    "watch-cross",
    big::COUNT,
    big::PAGE,
];

/// What one workload measured on one target.
#[derive(Debug, Clone)]
struct Measured {
    ops: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
    note: String,
}

impl Measured {
    fn ops_per_sec(&self) -> f64 {
        self.ops as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    fn percentile(&self, p: f64) -> Duration {
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        let mut l = self.latencies.clone();
        l.sort_unstable();
        let i = ((l.len() as f64 - 1.0) * p).round() as usize;
        l[i.min(l.len() - 1)]
    }
}

/// One target's connections, and the peer `watch-cross` watches on.
struct Target {
    name: String,
    conns: Vec<Client>,
    /// The peer's name for the table note, and a connection to it.
    peer: Option<(String, Client)>,
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        // No runtime here: its server's runtime is the only one in the
        // process, so that its threads' CPU time is the server's alone.
        Some(Command::CheckPerfCeiling(args)) => ceiling::run(args),
        Some(Command::Apiserver(args)) => tokio::runtime::Runtime::new()?.block_on(api::run(args)),
        None => tokio::runtime::Runtime::new()?.block_on(etcd_main(cli.etcd)),
    }
}

async fn etcd_main(args: Args) -> Result<()> {
    for w in &args.only {
        if !WORKLOADS.contains(&w.as_str()) {
            bail!("unknown workload {w:?}; known: {}", WORKLOADS.join(", "));
        }
        if big::WORKLOADS.contains(&w.as_str()) && !args.big {
            bail!("workload {w} loads 1,000,000 keys; it runs only with --big");
        }
    }
    let peers: HashMap<&str, &str> = args
        .peers
        .iter()
        .map(|(n, e)| (n.as_str(), e.as_str()))
        .collect();
    for name in peers.keys() {
        if !args.targets.iter().any(|(t, _)| t == name) {
            bail!("--peer names {name:?}, which is not a --target");
        }
    }
    let sizes = Sizes::new(args.quick);
    if let Some(secs) = args.soak {
        // `requires` makes clap refuse --soak without --soak-pid.
        let pid = args.soak_pid.context("--soak needs --soak-pid")?;
        let (name, endpoint) = &args.targets[0];
        let conns = connect(endpoint, args.conns.max(1))
            .await
            .with_context(|| format!("cannot reach target {name} at {endpoint}"))?;
        // The slow watcher gets a connection of its own, so that its
        // unread stream cannot hold up the others' shared HTTP/2 window.
        let slow = connect(endpoint, 1).await?.remove(0);
        return soak::run(
            name,
            &conns,
            slow,
            Duration::from_secs(secs),
            pid,
            args.soak_max_growth,
        )
        .await;
    }
    let selected: Vec<&str> = WORKLOADS
        .iter()
        .copied()
        .filter(|w| args.only.is_empty() || args.only.iter().any(|o| o == w))
        .filter(|w| args.big || !big::WORKLOADS.contains(w))
        .collect();
    let mut results: Vec<(String, String, Measured)> = Vec::new();
    for (name, endpoint) in &args.targets {
        let conns = connect(endpoint, args.conns.max(1))
            .await
            .with_context(|| format!("cannot reach target {name} at {endpoint}"))?;
        let peer = match peers.get(name.as_str()) {
            Some(&p) if selected.contains(&"watch-cross") => {
                let c = connect(p, 1)
                    .await
                    .with_context(|| format!("cannot reach the peer of {name} at {p}"))?;
                Some((p.to_string(), c[0].clone()))
            }
            _ => None,
        };
        let target = Target {
            name: name.clone(),
            conns,
            peer,
        };
        for &w in selected.iter().filter(|w| !big::WORKLOADS.contains(w)) {
            eprintln!("[{name}] {w}: running");
            clear(&target.conns[0]).await?;
            let m = run_workload(w, &target, sizes)
                .await
                .with_context(|| format!("workload {w} on {name} ({endpoint})"))?;
            report(name, w, &m);
            results.push((w.to_string(), name.clone(), m));
        }
        clear(&target.conns[0]).await?;
        let big: Vec<&str> = selected
            .iter()
            .copied()
            .filter(|w| big::WORKLOADS.contains(w))
            .collect();
        if !big.is_empty() {
            let loaded = big::prepare(name, &target.conns, sizes.big_keys, args.keep_big)
                .await
                .with_context(|| format!("loading the big keyspace into {name} ({endpoint})"))?;
            for w in big {
                eprintln!("[{name}] {w}: running");
                let m = big::run(w, name, &target.conns, sizes, &loaded)
                    .await
                    .with_context(|| format!("workload {w} on {name} ({endpoint})"))?;
                report(name, w, &m);
                results.push((w.to_string(), name.clone(), m));
            }
            if !args.keep_big {
                big::delete(name, &target.conns, sizes.big_keys).await?;
            }
        }
    }
    print_table(&results, &args.targets[0].0);
    Ok(())
}

fn report(target: &str, w: &str, m: &Measured) {
    eprintln!(
        "[{target}] {w}: {:.0} ops/s, p50 {:.2} ms, p99 {:.2} ms {}",
        m.ops_per_sec(),
        ms(m.percentile(0.5)),
        ms(m.percentile(0.99)),
        m.note
    );
}

async fn connect(endpoint: &str, n: usize) -> Result<Vec<Client>> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let c = Client::connect([endpoint], None).await?;
        out.push(c);
    }
    let mut probe = out[0].clone();
    probe.get("causeway-bench-probe", None).await?;
    Ok(out)
}

async fn clear(c: &Client) -> Result<()> {
    let mut c = c.clone();
    c.delete(
        PREFIX,
        Some(etcd_client::DeleteOptions::new().with_prefix()),
    )
    .await?;
    Ok(())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn value(i: usize) -> Vec<u8> {
    let mut v = format!("{i:016}").into_bytes();
    v.resize(VALUE_SIZE, b'x');
    v
}

async fn run_workload(w: &str, target: &Target, s: Sizes) -> Result<Measured> {
    let label = format!("[{}] {w}", target.name);
    let conns = target.conns.as_slice();
    match w {
        "put-1" => {
            drive(&label, conns, 1, s.put_1, |mut c, i| async move {
                c.put(format!("{PREFIX}put1/{i}"), value(i), None).await?;
                Ok(())
            })
            .await
        }
        "put-100" => {
            drive(&label, conns, 100, s.put_100, |mut c, i| async move {
                c.put(format!("{PREFIX}put100/{i}"), value(i), None).await?;
                Ok(())
            })
            .await
        }
        "get-1key" => {
            let key = format!("{PREFIX}get/one");
            conns[0].clone().put(key.clone(), value(0), None).await?;
            let key = Arc::new(key);
            drive(&label, conns, READ_CLIENTS, s.get, move |mut c, _| {
                let key = key.clone();
                async move {
                    let r = c.get(key.as_str(), None).await?;
                    if r.kvs().len() != 1 {
                        bail!("get returned {} keys, not 1", r.kvs().len());
                    }
                    Ok(())
                }
            })
            .await
        }
        "range-1k" => {
            load(&label, conns, "range", s.range_keys).await?;
            let want = s.range_keys;
            drive(
                &label,
                conns,
                READ_CLIENTS,
                s.range,
                move |mut c, _| async move {
                    let r = c
                        .get(
                            format!("{PREFIX}range/"),
                            Some(GetOptions::new().with_prefix()),
                        )
                        .await?;
                    if r.kvs().len() != want {
                        bail!("range returned {} keys, not {want}", r.kvs().len());
                    }
                    Ok(())
                },
            )
            .await
        }
        "count-100k" => {
            load(&label, conns, "count", s.count_keys).await?;
            let want = s.count_keys as i64;
            drive(&label, conns, 1, s.count, move |mut c, _| async move {
                let r = c
                    .get(
                        format!("{PREFIX}count/"),
                        Some(GetOptions::new().with_prefix().with_count_only()),
                    )
                    .await?;
                if r.count() != want {
                    bail!("count is {}, not {want}", r.count());
                }
                Ok(())
            })
            .await
        }
        "txn-cas" => cas(&label, conns, s.cas).await,
        "watch-latency" => {
            let watcher = conns[conns.len() - 1].clone();
            let mut m = watch_latency(&label, conns[0].clone(), watcher, "watch", s.watch).await?;
            m.note = "put-to-event delivery; ops/s is the writer's".into();
            Ok(m)
        }
        "watch-cross" => {
            let (watcher, on) = match &target.peer {
                Some((endpoint, c)) => (c.clone(), format!("watcher on peer {endpoint}")),
                None => (
                    conns[conns.len() - 1].clone(),
                    "no peer: watcher on the target itself".to_string(),
                ),
            };
            let mut m = watch_latency(&label, conns[0].clone(), watcher, "cross", s.watch).await?;
            m.note = format!("put-to-event delivery, {on}");
            Ok(m)
        }
        other => Err(anyhow!("unknown workload {other}")),
    }
}

/// Writes `n` keys under `PREFIX/<name>/` in txns of `LOAD_BATCH` puts.
async fn load(label: &str, conns: &[Client], name: &str, n: usize) -> Result<()> {
    eprintln!("{label}: loading {n} keys");
    let batches = n.div_ceil(LOAD_BATCH);
    let name = Arc::new(name.to_string());
    drive(
        &format!("{label} load"),
        conns,
        16,
        batches,
        move |mut c, b| {
            let name = name.clone();
            async move {
                let ops: Vec<TxnOp> = (b * LOAD_BATCH..((b + 1) * LOAD_BATCH).min(n))
                    .map(|i| TxnOp::put(format!("{PREFIX}{name}/{i:08}"), value(i), None))
                    .collect();
                c.txn(Txn::new().and_then(ops)).await?;
                Ok(())
            }
        },
    )
    .await?;
    Ok(())
}

/// Compare-and-swap: each attempt reads a hot key and writes it only if its
/// mod revision is unchanged. Many clients race on few keys, so many fail.
async fn cas(label: &str, conns: &[Client], n: usize) -> Result<Measured> {
    for k in 0..CAS_KEYS {
        conns[0]
            .clone()
            .put(format!("{PREFIX}cas/{k}"), value(0), None)
            .await?;
    }
    let won = Arc::new(AtomicUsize::new(0));
    let counter = won.clone();
    let mut m = drive(label, conns, CAS_CLIENTS, n, move |mut c, i| {
        let won = counter.clone();
        async move {
            let key = format!("{PREFIX}cas/{}", i % CAS_KEYS);
            let r = c.get(key.as_str(), None).await?;
            let rev = r
                .kvs()
                .first()
                .map(|kv| kv.mod_revision())
                .ok_or_else(|| anyhow!("{key} is missing"))?;
            let t = Txn::new()
                .when([Compare::mod_revision(key.as_str(), CompareOp::Equal, rev)])
                .and_then([TxnOp::put(key.as_str(), value(i), None)])
                .or_else([TxnOp::get(key.as_str(), None)]);
            if c.txn(t).await?.succeeded() {
                won.fetch_add(1, Ordering::Relaxed);
            }
            Ok(())
        }
    })
    .await?;
    let won = won.load(Ordering::Relaxed);
    m.note = format!(
        "{CAS_CLIENTS} clients on {CAS_KEYS} keys, {:.0}% of swaps won",
        100.0 * won as f64 / n.max(1) as f64
    );
    Ok(m)
}

/// One writer puts its send time in each value; a watcher (on the same
/// endpoint or another) measures how long each event took to arrive. Both
/// run in this process, so they share one clock.
async fn watch_latency(
    label: &str,
    mut writer: Client,
    watcher: Client,
    name: &str,
    n: usize,
) -> Result<Measured> {
    let base = Instant::now();
    let prefix = format!("{PREFIX}{name}/");
    let mut stream = open_watch(&watcher, &prefix).await?;
    let collector = tokio::spawn(async move {
        let mut latencies = Vec::with_capacity(n);
        while latencies.len() < n {
            let Some(resp) = stream.message().await? else {
                bail!("watch stream ended after {} events", latencies.len());
            };
            for e in resp.events() {
                let Some(kv) = e.kv() else { continue };
                let sent: [u8; 8] = kv
                    .value()
                    .get(..8)
                    .and_then(|b| b.try_into().ok())
                    .ok_or_else(|| anyhow!("value without a timestamp"))?;
                let sent = Duration::from_nanos(u64::from_be_bytes(sent));
                latencies.push(base.elapsed().saturating_sub(sent));
            }
        }
        Ok(latencies)
    });
    let start = Instant::now();
    for i in 0..n {
        let mut v = (base.elapsed().as_nanos() as u64).to_be_bytes().to_vec();
        v.resize(VALUE_SIZE, b'x');
        writer.put(format!("{prefix}{}", i % 100), v, None).await?;
        if i % 500 == 499 {
            eprintln!("{label}: {}/{n}", i + 1);
        }
    }
    let latencies = tokio::time::timeout(Duration::from_secs(60), collector)
        .await
        .context("watch events did not all arrive within 60 s")???;
    Ok(Measured {
        ops: n,
        elapsed: start.elapsed(),
        latencies,
        note: String::new(),
    })
}

/// Opens a prefix watch and waits for its creation response, so that no put
/// made after this returns can precede the watch.
async fn open_watch(c: &Client, prefix: &str) -> Result<WatchStream> {
    let mut s = c
        .clone()
        .watch(prefix, Some(WatchOptions::new().with_prefix()))
        .await?;
    let created = s
        .message()
        .await?
        .ok_or_else(|| anyhow!("watch on {prefix} closed before it was created"))?;
    if !created.created() {
        bail!("first response of the watch on {prefix} was not its creation: {created:?}");
    }
    Ok(s)
}

/// Runs `total` operations from `clients` concurrent tasks spread over the
/// connections, timing each one, with progress on stderr.
async fn drive<C, F, Fut>(
    label: &str,
    conns: &[C],
    clients: usize,
    total: usize,
    op: F,
) -> Result<Measured>
where
    C: Clone + Send + 'static,
    F: Fn(C, usize) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<()>> + Send,
{
    drive_until(label, conns, clients, total, None, op).await
}

/// `drive`, but no operation starts after `deadline`, so a slow target
/// cannot hold the run up for long; `ops` then counts those that ran.
async fn drive_until<C, F, Fut>(
    label: &str,
    conns: &[C],
    clients: usize,
    total: usize,
    deadline: Option<Instant>,
    op: F,
) -> Result<Measured>
where
    C: Clone + Send + 'static,
    F: Fn(C, usize) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<()>> + Send,
{
    let next = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    let progress = {
        let done = done.clone();
        let label = label.to_string();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(2));
            tick.tick().await;
            loop {
                tick.tick().await;
                eprintln!("{label}: {}/{total}", done.load(Ordering::Relaxed));
            }
        })
    };
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(clients);
    for t in 0..clients {
        let client = conns[t % conns.len()].clone();
        let (next, done, op) = (next.clone(), done.clone(), op.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            loop {
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    break;
                }
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total {
                    break;
                }
                let t0 = Instant::now();
                op(client.clone(), i).await?;
                latencies.push(t0.elapsed());
                done.fetch_add(1, Ordering::Relaxed);
            }
            Ok::<_, anyhow::Error>(latencies)
        }));
    }
    let mut latencies = Vec::with_capacity(total);
    let mut failure = None;
    for t in tasks {
        match t.await {
            Ok(Ok(l)) => latencies.extend(l),
            Ok(Err(e)) => failure = Some(e),
            Err(e) => failure = Some(anyhow!("a client task failed: {e}")),
        }
    }
    let elapsed = start.elapsed();
    progress.abort();
    if let Some(e) = failure {
        return Err(e);
    }
    Ok(Measured {
        ops: latencies.len(),
        elapsed,
        latencies,
        note: String::new(),
    })
}

fn print_table(results: &[(String, String, Measured)], reference: &str) {
    println!(
        "{:<14} {:<12} {:>11} {:>9} {:>9} {:>12} {:>11}  note",
        "workload", "target", "ops/s", "p50 ms", "p99 ms", "ops/s vs ref", "p99 vs ref"
    );
    for (w, target, m) in results {
        let base = results
            .iter()
            .find(|(rw, rt, _)| rw == w && rt == reference)
            .map(|(_, _, r)| r);
        let (tput, p99) = match base {
            Some(b) => (
                format!("{:.2}x", m.ops_per_sec() / b.ops_per_sec().max(1e-9)),
                format!(
                    "{:.2}x",
                    m.percentile(0.99).as_secs_f64() / b.percentile(0.99).as_secs_f64().max(1e-9)
                ),
            ),
            None => ("-".into(), "-".into()),
        };
        println!(
            "{:<14} {:<12} {:>11.0} {:>9.2} {:>9.2} {:>12} {:>11}  {}",
            w,
            target,
            m.ops_per_sec(),
            ms(m.percentile(0.5)),
            ms(m.percentile(0.99)),
            tput,
            p99,
            m.note
        );
    }
}
