//! `causeway-bench apiserver`: the API server's benchmark. It starts the
//! real `causeway apiserver` binary on its embedded SQLite store and drives
//! it over HTTPS (HTTP/2, as client-go does):
//!
//! - create, get and update of ConfigMaps from 1 and from 50 clients;
//! - a full list of 10,000 ConfigMaps of 1 KiB, consistent and at
//!   `resourceVersion=0` (goal: under 300 ms);
//! - 1,000 watchers of one object, each receiving every update (goal: p99
//!   under 50 ms from the write to the delivery);
//! - the server's memory with 100,000 ConfigMaps, on a fresh server.

mod client;
mod server;

use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use bytes::Bytes;
use http::{Method, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use serde::Deserialize;

use self::client::{Conn, Endpoint};
use self::server::Server;
use crate::proc::{CpuMeter, CpuUsed, mib, rss_kib, status_kib};
use crate::{Measured, drive, ms};

const PARTS: [&str; 4] = ["crud", "watch", "list", "memory"];

/// Concurrent clients of the "many clients" rows and of every bulk load,
/// each on an HTTP/2 connection of its own.
const CLIENTS: usize = 50;
/// Bytes of data in every ConfigMap.
const PAYLOAD: usize = 1024;
/// The goals.
const LIST_GOAL: Duration = Duration::from_millis(300);
const WATCH_GOAL: Duration = Duration::from_millis(50);
/// How long watchers get, after the last update, to receive everything.
const WATCH_DRAIN: Duration = Duration::from_secs(60);
/// After the memory load, time for the watch cache to take in the last
/// events before memory is read.
const SETTLE: Duration = Duration::from_secs(2);

/// Benchmark `causeway apiserver` on its embedded SQLite store.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The causeway binary to run [default: `causeway` beside this
    /// executable, e.g. target/release/causeway].
    #[arg(long, value_name = "PATH")]
    causeway: Option<PathBuf>,
    /// Cut every size down so that a smoke run takes seconds (the goals are
    /// still shown, but they are meant for the full sizes).
    #[arg(long)]
    quick: bool,
    /// Run only these parts (comma-separated): crud, watch, list, memory.
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Watch streams per HTTP/2 connection (the server lets one connection
    /// have 200 streams open at once).
    #[arg(long, default_value_t = 100)]
    watchers_per_conn: usize,
    /// Keep the servers' data directories (SQLite database, certificates,
    /// log) instead of deleting them, and say where they are.
    #[arg(long)]
    keep: bool,
}

/// Sizes of every part; `--quick` shrinks them.
#[derive(Debug, Clone, Copy)]
struct Sizes {
    quick: bool,
    /// Requests of each verb from one client.
    crud_1: usize,
    /// Requests of each verb from `CLIENTS` clients.
    crud_many: usize,
    watchers: usize,
    watch_updates: usize,
    watch_interval: Duration,
    list_objects: usize,
    list_runs: usize,
    memory_objects: usize,
    memory_namespaces: usize,
}

impl Sizes {
    fn new(quick: bool) -> Self {
        if quick {
            Self {
                quick,
                crud_1: 50,
                crud_many: 500,
                watchers: 50,
                watch_updates: 5,
                watch_interval: Duration::from_millis(20),
                list_objects: 300,
                list_runs: 3,
                memory_objects: 1_000,
                memory_namespaces: 2,
            }
        } else {
            Self {
                quick,
                crud_1: 2_000,
                crud_many: 20_000,
                watchers: 1_000,
                watch_updates: 100,
                watch_interval: Duration::from_millis(100),
                list_objects: 10_000,
                list_runs: 20,
                memory_objects: 100_000,
                memory_namespaces: 10,
            }
        }
    }
}

/// One line of the table.
#[derive(Debug)]
struct Row {
    workload: String,
    clients: usize,
    m: Measured,
    /// The goal for the p99, if it sets one.
    goal: Option<Duration>,
    /// CPU the server and the benchmark itself spent on it: on a machine
    /// of few cores the client's share is the server's loss.
    cpu: CpuUsed,
    note: String,
}

/// The memory part's readings.
#[derive(Debug)]
struct Memory {
    objects: usize,
    namespaces: usize,
    load: Measured,
    load_cpu: CpuUsed,
    before_kib: u64,
    after_kib: u64,
    peak_kib: u64,
    /// After a restart on the same database, once ready.
    restarted_kib: u64,
    /// How long that restart took to be ready (filling the watch caches).
    restart: Duration,
    db_files: Vec<(String, u64)>,
}

/// Runs the selected parts and prints the table on stdout (progress goes
/// to stderr).
pub async fn run(args: Args) -> Result<()> {
    for p in &args.only {
        if !PARTS.contains(&p.as_str()) {
            bail!("unknown part {p:?}; known: {}", PARTS.join(", "));
        }
    }
    if args.watchers_per_conn == 0 {
        bail!("--watchers-per-conn must be at least 1");
    }
    let selected = |p: &str| args.only.is_empty() || args.only.iter().any(|o| o == p);
    let bin = match &args.causeway {
        Some(b) => b.clone(),
        None => std::env::current_exe()?
            .parent()
            .ok_or_else(|| anyhow!("this executable has no directory"))?
            .join("causeway"),
    };
    if !bin.is_file() {
        bail!(
            "no causeway binary at {} (build it with `cargo build --release -p causeway-cli`, or pass --causeway PATH)",
            bin.display()
        );
    }
    let s = Sizes::new(args.quick);
    let mut rows = Vec::new();

    if selected("crud") || selected("watch") || selected("list") {
        let server = Server::start(&bin).await?;
        eprintln!(
            "apiserver: {} running as pid {}",
            bin.display(),
            server.pid()
        );
        let conns = connect(&server.endpoint, CLIENTS).await?;
        if selected("crud") {
            crud(server.pid(), &conns, s, &mut rows).await?;
        }
        if selected("watch") {
            let w = watch(&server, &conns[0], s, args.watchers_per_conn).await?;
            rows.push(w);
        }
        if selected("list") {
            list(server.pid(), &conns, s, &mut rows).await?;
        }
        drop(conns);
        keep(server.stop().await?, args.keep);
    }
    let memory = if selected("memory") {
        Some(memory(&bin, s, args.keep).await?)
    } else {
        None
    };
    print_table(&bin, s, &rows, memory.as_ref());
    Ok(())
}

/// Deletes a stopped server's data directory, or with `--keep` leaves it
/// and says where it is.
fn keep(dir: tempfile::TempDir, keep: bool) {
    if keep {
        eprintln!("kept the data directory {}", dir.keep().display());
    }
}

async fn connect(endpoint: &Arc<Endpoint>, n: usize) -> Result<Vec<Conn>> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(endpoint.connect().await?);
    }
    Ok(out)
}

/// A ConfigMap of `PAYLOAD` bytes of data, and two short keys: `seq` (makes
/// every update change the object) and `sent` (when the write was sent, in
/// nanoseconds since the watch part began).
fn configmap(ns: &str, name: &str, rv: Option<&str>, seq: usize, sent: u128) -> Bytes {
    let rv = rv.map_or_else(String::new, |rv| format!(",\"resourceVersion\":\"{rv}\""));
    let payload = "x".repeat(PAYLOAD);
    Bytes::from(format!(
        "{{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{{\"name\":\"{name}\",\"namespace\":\"{ns}\"{rv}}},\
         \"data\":{{\"seq\":\"{seq}\",\"sent\":\"{sent}\",\"payload\":\"{payload}\"}}}}"
    ))
}

fn configmaps(ns: &str) -> String {
    format!("/api/v1/namespaces/{ns}/configmaps")
}

async fn create_namespace(c: &Conn, name: &str) -> Result<()> {
    let body = format!(
        "{{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{{\"name\":\"{name}\"}}}}"
    );
    c.expect(
        Method::POST,
        "/api/v1/namespaces",
        Some(Bytes::from(body)),
        StatusCode::CREATED,
    )
    .await?;
    Ok(())
}

#[derive(Deserialize)]
struct Object {
    metadata: Meta,
}

#[derive(Deserialize)]
struct Meta {
    #[serde(rename = "resourceVersion")]
    resource_version: String,
}

fn resource_version(body: &[u8]) -> Result<String> {
    let o: Object = serde_json::from_slice(body).context("a response without metadata")?;
    Ok(o.metadata.resource_version)
}

/// Creates `n` ConfigMaps named `{prefix}{i}` in `namespaces` (the i-th in
/// the `i % namespaces.len()`-th), one client per connection, returning
/// each one's resourceVersion.
async fn load(
    label: &str,
    conns: &[Conn],
    namespaces: &[String],
    prefix: &str,
    n: usize,
) -> Result<(Measured, Vec<Mutex<String>>)> {
    let rvs: Arc<Vec<Mutex<String>>> =
        Arc::new((0..n).map(|_| Mutex::new(String::new())).collect());
    let namespaces = Arc::new(namespaces.to_vec());
    let prefix = Arc::new(prefix.to_string());
    let out = rvs.clone();
    let m = drive(label, conns, conns.len(), n, move |c: Conn, i| {
        let (rvs, namespaces, prefix) = (rvs.clone(), namespaces.clone(), prefix.clone());
        async move {
            let ns = &namespaces[i % namespaces.len()];
            let body = configmap(ns, &format!("{prefix}{i}"), None, i, 0);
            let resp = c
                .expect(
                    Method::POST,
                    &configmaps(ns),
                    Some(body),
                    StatusCode::CREATED,
                )
                .await?;
            *lock(&rvs[i]) = resource_version(&resp)?;
            Ok(())
        }
    })
    .await?;
    // Every client task has ended, and with them the other references.
    let rvs = Arc::try_unwrap(out).map_err(|_| anyhow!("a client task outlived the load"))?;
    Ok((m, rvs))
}

/// A poisoned lock only means another client task failed, which fails the
/// run anyway; its string is still usable.
fn lock(m: &Mutex<String>) -> std::sync::MutexGuard<'_, String> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// create, get and update from 1 and from `CLIENTS` clients. Every create
/// makes a new ConfigMap; gets and updates go over those, each update with
/// the resourceVersion the last write returned (as client-go's Update
/// does), so none conflicts.
async fn crud(pid: u32, conns: &[Conn], s: Sizes, rows: &mut Vec<Row>) -> Result<()> {
    const NS: &str = "bench-crud";
    const NOTE: &str = "new 1 KiB ConfigMaps in one namespace";
    create_namespace(&conns[0], NS).await?;
    let ns = [NS.to_string()];
    let ((m, one), cpu) = metered(
        pid,
        load("create, 1 client", &conns[..1], &ns, "one-", s.crud_1),
    )
    .await?;
    rows.push(row("create", 1, (m, cpu), None, NOTE));
    let ((m, many), cpu) = metered(
        pid,
        load(
            "create, many clients",
            &conns[..CLIENTS],
            &ns,
            "many-",
            s.crud_many,
        ),
    )
    .await?;
    rows.push(row("create", CLIENTS, (m, cpu), None, NOTE));
    // Every object's name and last resourceVersion.
    let objects: Arc<Vec<(String, Mutex<String>)>> = Arc::new(
        [("one-", one), ("many-", many)]
            .into_iter()
            .flat_map(|(prefix, rvs)| {
                rvs.into_iter()
                    .enumerate()
                    .map(move |(i, rv)| (format!("{prefix}{i}"), rv))
            })
            .collect(),
    );
    let total = objects.len();
    for (clients, n) in [(1, s.crud_1), (CLIENTS, s.crud_many)] {
        let objects = objects.clone();
        let m = metered(
            pid,
            drive(
                &format!("get, {clients} clients"),
                &conns[..clients],
                clients,
                n,
                move |c: Conn, i| {
                    let objects = objects.clone();
                    async move {
                        let path = format!("{}/{}", configmaps(NS), objects[i % total].0);
                        c.expect(Method::GET, &path, None, StatusCode::OK).await?;
                        Ok(())
                    }
                },
            ),
        )
        .await?;
        rows.push(row(
            "get",
            clients,
            m,
            None,
            "by name, no resourceVersion (from the store)",
        ));
    }
    for (clients, n) in [(1, s.crud_1), (CLIENTS, s.crud_many)] {
        let objects = objects.clone();
        let m = metered(
            pid,
            drive(
                &format!("update, {clients} clients"),
                &conns[..clients],
                clients,
                n,
                move |c: Conn, i| {
                    let objects = objects.clone();
                    async move {
                        // Fewer requests in flight than objects: no two clients
                        // update one object at once.
                        let (name, rv) = &objects[i % total];
                        let last = lock(rv).clone();
                        let body = configmap(NS, name, Some(&last), clients * total + i + 1, 0);
                        let path = format!("{}/{name}", configmaps(NS));
                        let resp = c
                            .expect(Method::PUT, &path, Some(body), StatusCode::OK)
                            .await?;
                        *lock(rv) = resource_version(&resp)?;
                        Ok(())
                    }
                },
            ),
        )
        .await?;
        rows.push(row(
            "update",
            clients,
            m,
            None,
            "PUT with the last resourceVersion",
        ));
    }
    Ok(())
}

fn row(
    workload: &str,
    clients: usize,
    (m, cpu): (Measured, CpuUsed),
    goal: Option<Duration>,
    note: &str,
) -> Row {
    Row {
        workload: workload.to_string(),
        clients,
        m,
        goal,
        cpu,
        note: note.to_string(),
    }
}

/// Runs `work`, and measures the CPU it cost the server `pid` and this
/// process.
async fn metered<T>(pid: u32, work: impl Future<Output = Result<T>>) -> Result<(T, CpuUsed)> {
    let meter = CpuMeter::start(pid)?;
    let out = work.await?;
    Ok((out, meter.stop()?))
}

#[derive(Deserialize)]
struct WatchEvent {
    #[serde(rename = "type")]
    kind: String,
    object: WatchedObject,
}

#[derive(Deserialize)]
struct WatchedObject {
    #[serde(default)]
    data: Option<SentData>,
}

#[derive(Deserialize)]
struct SentData {
    sent: String,
}

/// Many watchers of one ConfigMap (each with its own fieldSelector, as an
/// informer of one object has), then paced updates to it: each delivery's
/// latency runs from just before its update was sent to the moment the
/// watcher read the event.
async fn watch(server: &Server, writer: &Conn, s: Sizes, per_conn: usize) -> Result<Row> {
    const NS: &str = "bench-watch";
    const NAME: &str = "watched";
    create_namespace(writer, NS).await?;
    let created = writer
        .expect(
            Method::POST,
            &configmaps(NS),
            Some(configmap(NS, NAME, None, 0, 0)),
            StatusCode::CREATED,
        )
        .await?;
    let mut rv = resource_version(&created)?;

    let n_conns = s.watchers.div_ceil(per_conn);
    let conns = connect(&server.endpoint, n_conns).await?;
    let path = format!(
        "{}?watch=1&fieldSelector=metadata.name%3D{NAME}&resourceVersion={rv}",
        configmaps(NS)
    );
    eprintln!(
        "watch: opening {} watches on {n_conns} connections",
        s.watchers
    );
    let opening = Instant::now();
    // The server answers a watch's headers once it is registered, so after
    // this every update reaches every watcher.
    let bodies = futures::future::try_join_all((0..s.watchers).map(|w| {
        let (c, path) = (conns[w % n_conns].clone(), path.clone());
        async move {
            let resp = c.send(Method::GET, &path, None).await?;
            if resp.status() != StatusCode::OK {
                bail!("a watch was answered {}", resp.status());
            }
            Ok(resp.into_body())
        }
    }))
    .await?;
    let opened = opening.elapsed();

    let base = Instant::now();
    let readers: Vec<_> = bodies
        .into_iter()
        .map(|b| tokio::spawn(read_events(b, base, s.watch_updates)))
        .collect();

    eprintln!(
        "watch: {} updates, one every {:?}",
        s.watch_updates, s.watch_interval
    );
    let mut writes = Vec::with_capacity(s.watch_updates);
    let mut tick = tokio::time::interval(s.watch_interval);
    let meter = CpuMeter::start(server.pid())?;
    let start = Instant::now();
    for u in 1..=s.watch_updates {
        tick.tick().await;
        let sent = base.elapsed().as_nanos();
        let body = configmap(NS, NAME, Some(&rv), u, sent);
        let t0 = Instant::now();
        let resp = writer
            .expect(
                Method::PUT,
                &format!("{}/{NAME}", configmaps(NS)),
                Some(body),
                StatusCode::OK,
            )
            .await?;
        writes.push(t0.elapsed());
        rv = resource_version(&resp)?;
    }
    let writing = start.elapsed();

    let deadline = tokio::time::Instant::now() + WATCH_DRAIN;
    let mut latencies = Vec::with_capacity(s.watchers * s.watch_updates);
    // Per update, how long its first and its last watcher waited.
    let mut first = vec![Duration::MAX; s.watch_updates];
    let mut last = vec![Duration::ZERO; s.watch_updates];
    for r in readers {
        let got = tokio::time::timeout_at(deadline, r)
            .await
            .map_err(|_| anyhow!("watchers did not receive every update within {WATCH_DRAIN:?}"))?
            .context("a watcher task failed")??;
        // A watch delivers its object's updates in order.
        for (u, l) in got.iter().enumerate() {
            first[u] = first[u].min(*l);
            last[u] = last[u].max(*l);
        }
        latencies.extend(got);
    }
    let all = start.elapsed();
    let cpu = meter.stop()?;
    drop(conns);
    let spread = |v: Vec<Duration>| Measured {
        ops: v.len(),
        elapsed: all,
        latencies: v,
        note: String::new(),
    };
    let (first, last) = (spread(first), spread(last));
    let writes = Measured {
        ops: writes.len(),
        elapsed: writing,
        latencies: writes,
        note: String::new(),
    };
    let note = format!(
        "{} watchers of one object on {n_conns} HTTP/2 connection{} (opened in {:.0} ms), {} updates, \
         one per {} ms; latency from just before the write (write itself p50 {:.2} ms, p99 {:.2} ms; \
         per update, first watcher p50 {:.2} ms, last watcher p50 {:.2} ms, p99 {:.2} ms)",
        s.watchers,
        if n_conns == 1 { "" } else { "s" },
        ms(opened),
        s.watch_updates,
        s.watch_interval.as_millis(),
        ms(writes.percentile(0.5)),
        ms(writes.percentile(0.99)),
        ms(first.percentile(0.5)),
        ms(last.percentile(0.5)),
        ms(last.percentile(0.99)),
    );
    Ok(Row {
        workload: "watch".into(),
        clients: s.watchers,
        m: Measured {
            ops: latencies.len(),
            elapsed: all,
            latencies,
            note: String::new(),
        },
        goal: Some(WATCH_GOAL),
        cpu,
        note,
    })
}

/// Reads one watch stream until it has seen `want` MODIFIED events, and
/// returns how long each took from its write.
async fn read_events(mut body: Incoming, base: Instant, want: usize) -> Result<Vec<Duration>> {
    let mut latencies = Vec::with_capacity(want);
    let mut buf: Vec<u8> = Vec::new();
    while latencies.len() < want {
        let Some(frame) = body.frame().await else {
            bail!("a watch ended after {} of {want} events", latencies.len());
        };
        let frame = frame.context("a watch stream failed")?;
        // One reading for everything in this frame: it all arrived now.
        let now = base.elapsed();
        let Ok(data) = frame.into_data() else {
            continue;
        };
        buf.extend_from_slice(&data);
        while let Some(end) = buf.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = buf.drain(..=end).collect();
            let e: WatchEvent =
                serde_json::from_slice(&line).context("a watch event is not JSON")?;
            if e.kind != "MODIFIED" {
                bail!(
                    "a watcher got a {} event: {}",
                    e.kind,
                    String::from_utf8_lossy(&line)
                );
            }
            let sent: u64 = e
                .object
                .data
                .ok_or_else(|| anyhow!("a watched object without data"))?
                .sent
                .parse()
                .context("a watched object's data.sent is not a number")?;
            latencies.push(now.saturating_sub(Duration::from_nanos(sent)));
        }
    }
    Ok(latencies)
}

#[derive(Deserialize)]
struct List {
    items: Vec<serde::de::IgnoredAny>,
}

/// Loads `list_objects` ConfigMaps into one namespace, then reads them all
/// in one request, one request at a time, consistently (no
/// resourceVersion) and with resourceVersion=0.
async fn list(pid: u32, conns: &[Conn], s: Sizes, rows: &mut Vec<Row>) -> Result<()> {
    const NS: &str = "bench-list";
    create_namespace(&conns[0], NS).await?;
    eprintln!("list: loading {} ConfigMaps", s.list_objects);
    let (loaded, _) = load("list load", conns, &[NS.to_string()], "cm-", s.list_objects).await?;
    eprintln!(
        "list: loaded in {:.1} s ({:.0}/s)",
        loaded.elapsed.as_secs_f64(),
        loaded.ops_per_sec()
    );
    let body = conns[0]
        .expect(Method::GET, &configmaps(NS), None, StatusCode::OK)
        .await?;
    let got: List = serde_json::from_slice(&body).context("the list is not a ConfigMapList")?;
    if got.items.len() != s.list_objects {
        bail!(
            "the list has {} items, not {}",
            got.items.len(),
            s.list_objects
        );
    }
    for (workload, query, what) in [
        ("list", "", "no resourceVersion (consistent read)"),
        ("list rv=0", "?resourceVersion=0", "resourceVersion=0 (any)"),
    ] {
        let size = Arc::new(AtomicUsize::new(0));
        let seen = size.clone();
        let path = Arc::new(format!("{}{query}", configmaps(NS)));
        let m = metered(
            pid,
            drive(workload, &conns[..1], 1, s.list_runs, move |c: Conn, _| {
                let (size, path) = (seen.clone(), path.clone());
                async move {
                    let body = c.expect(Method::GET, &path, None, StatusCode::OK).await?;
                    size.store(body.len(), Ordering::Relaxed);
                    Ok(())
                }
            }),
        )
        .await?;
        let note = format!(
            "{} ConfigMaps of 1 KiB in one namespace, {what}; {:.1} MiB of JSON",
            s.list_objects,
            size.load(Ordering::Relaxed) as f64 / (1 << 20) as f64
        );
        rows.push(row(workload, 1, m, Some(LIST_GOAL), &note));
    }
    Ok(())
}

/// A fresh server, its memory before and after `memory_objects` ConfigMaps.
async fn memory(bin: &std::path::Path, s: Sizes, keep_data: bool) -> Result<Memory> {
    let server = Server::start(bin).await?;
    let pid = server.pid();
    eprintln!("memory: a fresh apiserver, pid {pid}");
    let conns = connect(&server.endpoint, CLIENTS).await?;
    let before_kib = rss_kib(pid)?;
    let namespaces: Vec<String> = (0..s.memory_namespaces)
        .map(|i| format!("bench-mem-{i}"))
        .collect();
    for ns in &namespaces {
        create_namespace(&conns[0], ns).await?;
    }
    eprintln!(
        "memory: loading {} ConfigMaps of 1 KiB into {} namespaces",
        s.memory_objects, s.memory_namespaces
    );
    let ((load, _), load_cpu) = metered(
        pid,
        load("memory load", &conns, &namespaces, "cm-", s.memory_objects),
    )
    .await?;
    tokio::time::sleep(SETTLE).await;
    let after_kib = rss_kib(pid)?;
    let peak_kib = status_kib(pid, "VmHWM")?;
    let db_files = server.db_files();
    drop(conns);
    let dir = server.stop().await?;
    eprintln!("memory: restarting the apiserver on the same database");
    let restarting = Instant::now();
    let server = Server::start_in(bin, dir).await?;
    let restart = restarting.elapsed();
    let restarted_kib = rss_kib(server.pid())?;
    keep(server.stop().await?, keep_data);
    Ok(Memory {
        objects: s.memory_objects,
        namespaces: s.memory_namespaces,
        load,
        load_cpu,
        before_kib,
        after_kib,
        peak_kib,
        restarted_kib,
        restart,
        db_files,
    })
}

fn print_table(bin: &std::path::Path, s: Sizes, rows: &[Row], memory: Option<&Memory>) {
    println!(
        "causeway apiserver on its embedded SQLite store ({}), clients over HTTPS/HTTP2",
        bin.display()
    );
    if s.quick {
        println!("--quick: sizes cut down; the goals are meant for the full sizes");
    }
    if !rows.is_empty() {
        println!(
            "{:<10} {:>7} {:>8} {:>9} {:>9} {:>9} {:>9}  {:<12} {:<6} {:>11}  note",
            "workload",
            "clients",
            "ops",
            "ops/s",
            "p50 ms",
            "p99 ms",
            "max ms",
            "goal",
            "result",
            "cpu srv/cli"
        );
    }
    for r in rows {
        let p99 = r.m.percentile(0.99);
        let (goal, verdict) = match r.goal {
            Some(g) => (
                format!("p99 < {} ms", g.as_millis()),
                if p99 < g { "PASS" } else { "FAIL" },
            ),
            None => ("-".to_string(), "-"),
        };
        println!(
            "{:<10} {:>7} {:>8} {:>9.0} {:>9.2} {:>9.2} {:>9.2}  {:<12} {:<6} {:>11}  {}",
            r.workload,
            r.clients,
            r.m.ops,
            r.m.ops_per_sec(),
            ms(r.m.percentile(0.5)),
            ms(p99),
            ms(r.m.percentile(1.0)),
            goal,
            verdict,
            format!("{:.1}/{:.1} s", r.cpu.server, r.cpu.bench),
            r.note
        );
    }
    if let Some(m) = memory {
        let grown = m.after_kib.saturating_sub(m.before_kib);
        println!(
            "memory: {} ConfigMaps of 1 KiB in {} namespaces, loaded by {CLIENTS} clients in {:.1} s ({:.0} creates/s, p50 {:.2} ms, p99 {:.2} ms; CPU: server {:.1} s, client {:.1} s)",
            m.objects,
            m.namespaces,
            m.load.elapsed.as_secs_f64(),
            m.load.ops_per_sec(),
            ms(m.load.percentile(0.5)),
            ms(m.load.percentile(0.99)),
            m.load_cpu.server,
            m.load_cpu.bench,
        );
        println!(
            "  server resident memory (VmRSS): {:.1} MiB before, {:.1} MiB after (+{:.1} MiB, {:.2} KiB per object); peak (VmHWM) {:.1} MiB",
            mib(m.before_kib),
            mib(m.after_kib),
            mib(grown),
            grown as f64 / m.objects.max(1) as f64,
            mib(m.peak_kib),
        );
        println!(
            "  restarted on the same database: ready in {:.1} s, resident memory then {:.1} MiB",
            m.restart.as_secs_f64(),
            mib(m.restarted_kib),
        );
        let total: u64 = m.db_files.iter().map(|(_, b)| b).sum();
        let files: Vec<String> = m
            .db_files
            .iter()
            .map(|(n, b)| format!("{n} {:.1} MiB", *b as f64 / (1 << 20) as f64))
            .collect();
        println!(
            "  SQLite files: {:.1} MiB ({})",
            total as f64 / (1 << 20) as f64,
            files.join(", ")
        );
    }
}
