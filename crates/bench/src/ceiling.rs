//! `causeway-bench check-perf-ceiling`: how far `etcdctl check perf` can get
//! on this machine at all, whatever the server does.
//!
//! A minimal etcd v3 KV server runs in this process, on a tokio runtime of
//! its own, and etcdctl runs against it as a child process, once per mode:
//!
//! - `none`: a put is answered at once. What etcdctl and tonic reach
//!   between them, sharing the machine's cores.
//! - `fdatasync`: every put waits for a group commit on one thread, which
//!   writes 1,300 bytes per put (a 256-byte key and a 1 KiB value) into a
//!   preallocated file and calls `fdatasync`. The least any server that syncs
//!   before it acknowledges has to do.
//!
//! Nothing is stored: ranges are empty and deletes delete nothing, which is
//! all etcdctl's check of its prefix and its cleanup need.

use std::fs::File;
use std::io::{BufReader, Read, Write};
use std::net::SocketAddr;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use causeway_etcd::proto::etcdserverpb as pb;
use tokio::sync::oneshot;
use tonic::transport::server::TcpIncoming;
use tonic::{Request, Response, Status};

use crate::proc::{self, MachineCpu};

/// The flags of `check-perf-ceiling`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Which server to run etcdctl against; `both` runs `none`, then
    /// `fdatasync`, each on a fresh server.
    #[arg(long, value_enum, default_value_t = Modes::Both)]
    mode: Modes,
    /// `check perf`'s load (s, m, l or xl), passed to etcdctl as `--load`.
    #[arg(long, default_value = "l")]
    load: String,
    /// The etcdctl binary.
    #[arg(long, default_value = "etcdctl")]
    etcdctl: PathBuf,
    /// Run no etcdctl: start the server of `--mode` (`none` or `fdatasync`),
    /// print its address on stdout, and serve until stdin closes. For tests.
    #[arg(long, hide = true)]
    serve_only: bool,
}

/// The `--mode` flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Modes {
    None,
    Fdatasync,
    Both,
}

/// What a put waits for before it is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    None,
    Fdatasync,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::None => "none",
            Mode::Fdatasync => "fdatasync",
        }
    }
}

impl Modes {
    fn modes(self) -> &'static [Mode] {
        match self {
            Modes::None => &[Mode::None],
            Modes::Fdatasync => &[Mode::Fdatasync],
            Modes::Both => &[Mode::None, Mode::Fdatasync],
        }
    }
}

/// Bytes written per put: `check perf` writes 256-byte keys and 1 KiB values.
const PUT_BYTES: usize = 1_300;
/// The size of the file the group commits write into, round and round.
const FILE_BYTES: u64 = 64 << 20;
/// The server's threads are named so that their CPU time can be told from
/// that of the rest of this process.
const THREAD_PREFIX: &str = "ceiling-";
/// Any constant will do for etcdctl.
const CLUSTER_ID: u64 = 0xCE11_1A6E;
const MEMBER_ID: u64 = 1;

/// Runs the subcommand.
pub fn run(args: Args) -> Result<()> {
    if args.serve_only {
        let mode = match args.mode.modes() {
            [mode] => *mode,
            _ => bail!("--serve-only needs --mode none or --mode fdatasync"),
        };
        let server = Server::start(mode)?;
        let mut stdout = std::io::stdout();
        writeln!(stdout, "{}", server.addr)?;
        stdout.flush()?;
        // Serves until whoever started this closes our stdin.
        std::io::copy(&mut std::io::stdin(), &mut std::io::sink())?;
        server.stop()?;
        return Ok(());
    }
    let mut rows = Vec::new();
    for &mode in args.mode.modes() {
        rows.push(measure(&args, mode)?);
    }
    print_table(&args.load, &rows);
    Ok(())
}

/// One mode's run.
#[derive(Debug)]
struct Row {
    mode: Mode,
    outcome: Outcome,
    wall: Duration,
    machine: MachineCpu,
    etcdctl_cpu: f64,
    server_cpu: f64,
    syncs: Option<SyncStats>,
}

fn measure(args: &Args, mode: Mode) -> Result<Row> {
    let server = Server::start(mode)?;
    eprintln!(
        "[{}] etcdctl check perf --load={} against {} (a minute or more)",
        mode.name(),
        args.load,
        server.addr
    );
    let machine = MachineCpu::now()?;
    let children = proc::children_cpu_secs()?;
    let threads = proc::threads_cpu_secs(THREAD_PREFIX)?;
    let started = Instant::now();
    let outcome = run_etcdctl(args, mode, server.addr);
    let wall = started.elapsed();
    let machine = MachineCpu::now()?.since(&machine);
    let etcdctl_cpu = proc::children_cpu_secs()? - children;
    // Before the stop, while the server's threads are still there to read.
    let server_cpu = proc::threads_cpu_secs(THREAD_PREFIX)? - threads;
    let syncs = server.stop()?;
    Ok(Row {
        mode,
        outcome: outcome?,
        wall,
        machine,
        etcdctl_cpu,
        server_cpu,
        syncs,
    })
}

/// What etcdctl reported.
#[derive(Debug)]
struct Outcome {
    /// Its last line: PASS or FAIL.
    verdict: String,
    writes_per_sec: Option<u64>,
    slowest_secs: Option<f64>,
}

/// Runs `etcdctl check perf` against `addr`, echoing its result lines (not
/// its progress bar) to stderr as they come.
fn run_etcdctl(args: &Args, mode: Mode, addr: SocketAddr) -> Result<Outcome> {
    let mut child = Command::new(&args.etcdctl)
        .env("ETCDCTL_API", "3")
        .arg("--endpoints")
        .arg(addr.to_string())
        .args(["check", "perf"])
        .arg(format!("--load={}", args.load))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot run {}", args.etcdctl.display()))?;
    let readers = [
        child
            .stdout
            .take()
            .map(|r| Box::new(r) as Box<dyn Read + Send>),
        child
            .stderr
            .take()
            .map(|r| Box::new(r) as Box<dyn Read + Send>),
    ]
    .into_iter()
    .flatten()
    .map(|r| {
        thread::Builder::new()
            .name("etcdctl-output".into())
            .spawn(move || result_lines(r, mode.name()))
    })
    .collect::<std::io::Result<Vec<_>>>()?;
    let status = child.wait()?;
    let mut lines = Vec::new();
    for r in readers {
        lines.extend(
            r.join()
                .map_err(|_| anyhow!("a reader of etcdctl's output panicked"))??,
        );
    }
    outcome(&lines, status)
}

/// The lines of `r`, split at `\r` as well, without the progress bar's
/// redraws; each is printed to stderr under `label` as it comes.
fn result_lines(r: impl Read, label: &str) -> std::io::Result<Vec<String>> {
    let mut lines = Vec::new();
    let mut line = Vec::new();
    let mut keep = |line: &mut Vec<u8>| {
        let mut text = String::from_utf8_lossy(line).trim().to_string();
        line.clear();
        let mut words = text.split_whitespace();
        // The progress bar reads "12 / 60   20.00% 00m48s".
        if words.next().is_some_and(|w| w.parse::<u64>().is_ok()) && words.next() == Some("/") {
            // Its last redraw has no line end: the first result line
            // follows it on the same line.
            let result = ["PASS", "FAIL"].iter().filter_map(|v| text.find(v)).min();
            text = result.map_or(String::new(), |i| text[i..].to_string());
        }
        if !text.is_empty() {
            eprintln!("[{label}]   {text}");
            lines.push(text);
        }
    };
    for byte in BufReader::new(r).bytes() {
        match byte? {
            b'\n' | b'\r' => keep(&mut line),
            b => line.push(b),
        }
    }
    keep(&mut line);
    Ok(lines)
}

/// Reads the verdict and figures from etcdctl's result lines, such as
/// "FAIL: Throughput too low: 6950 writes/s", "PASS: Slowest request took
/// 0.089s" and a last line "FAIL".
fn outcome(lines: &[String], status: ExitStatus) -> Result<Outcome> {
    let Some(verdict) = lines.iter().rev().find(|l| *l == "PASS" || *l == "FAIL") else {
        bail!(
            "etcdctl check perf gave no verdict ({status}); its output:\n{}",
            lines.join("\n")
        );
    };
    let writes_per_sec = lines.iter().find_map(|l| {
        let (before, _) = l.split_once(" writes/s")?;
        before.split_whitespace().last()?.parse().ok()
    });
    let slowest_secs = lines
        .iter()
        .filter(|l| l.contains("Slowest request took"))
        .find_map(|l| {
            l.split_whitespace()
                .last()?
                .trim_end_matches('s')
                .parse()
                .ok()
        });
    Ok(Outcome {
        verdict: verdict.clone(),
        writes_per_sec,
        slowest_secs,
    })
}

fn print_table(load: &str, rows: &[Row]) {
    let cores = thread::available_parallelism().map_or(0, |n| n.get());
    println!(
        "etcdctl check perf --load={load} against a minimal etcd v3 server in causeway-bench \
         (tonic, nothing stored); {cores} CPUs"
    );
    println!(
        "{:<10} {:<7} {:>8} {:>9} {:>6} {:>6} {:>6} {:>6} {:>19} {:>19}  note",
        "mode",
        "verdict",
        "writes/s",
        "slowest s",
        "user",
        "system",
        "idle",
        "iowait",
        "etcdctl cpu",
        "server cpu"
    );
    for r in rows {
        let cpu = |secs: f64| {
            format!(
                "{secs:.1} s = {:.2} core",
                secs / r.wall.as_secs_f64().max(1e-9)
            )
        };
        let m = &r.machine;
        let note = match (r.mode, r.syncs) {
            (Mode::None, _) => "puts answered at once".to_string(),
            (Mode::Fdatasync, Some(s)) => format!(
                "{} fdatasyncs, {:.1} puts each",
                s.syncs,
                s.puts as f64 / s.syncs.max(1) as f64
            ),
            (Mode::Fdatasync, None) => String::new(),
        };
        println!(
            "{:<10} {:<7} {:>8} {:>9} {:>5.0}% {:>5.0}% {:>5.0}% {:>5.0}% {:>19} {:>19}  {note}; {:.0} s",
            r.mode.name(),
            r.outcome.verdict,
            r.outcome
                .writes_per_sec
                .map_or("?".to_string(), |w| w.to_string()),
            r.outcome
                .slowest_secs
                .map_or("?".to_string(), |s| format!("{s:.3}")),
            m.percent(m.user),
            m.percent(m.system),
            m.percent(m.idle),
            m.percent(m.iowait),
            cpu(r.etcdctl_cpu),
            cpu(r.server_cpu),
            r.wall.as_secs_f64(),
        );
    }
}

/// What the group-commit thread did.
#[derive(Debug, Clone, Copy, Default)]
struct SyncStats {
    syncs: u64,
    puts: u64,
}

/// A running ceiling server, on a runtime of its own.
#[derive(Debug)]
struct Server {
    addr: SocketAddr,
    runtime: tokio::runtime::Runtime,
    stop: oneshot::Sender<()>,
    serving: tokio::task::JoinHandle<Result<(), tonic::transport::Error>>,
    /// In `fdatasync` mode, the group-commit thread and the directory of
    /// its file.
    syncer: Option<(thread::JoinHandle<Result<SyncStats>>, tempfile::TempDir)>,
}

impl Server {
    /// Starts a server on a free loopback port.
    fn start(mode: Mode) -> Result<Self> {
        // The default worker count, as `causeway store` has.
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .thread_name(format!("{THREAD_PREFIX}worker"))
            .build()?;
        let (puts, syncer) = match mode {
            Mode::None => (None, None),
            Mode::Fdatasync => {
                let dir = tempfile::tempdir()?;
                let file = preallocate(&dir.path().join("log"))?;
                let (tx, rx) = mpsc::channel();
                let thread = thread::Builder::new()
                    .name(format!("{THREAD_PREFIX}sync"))
                    .spawn(move || group_commit(&file, &rx))?;
                (Some(tx), Some((thread, dir)))
            }
        };
        let kv = Kv {
            revision: Arc::new(AtomicI64::new(1)),
            puts,
        };
        let incoming = {
            // Binding registers the socket with the runtime's reactor.
            let _in_runtime = runtime.enter();
            TcpIncoming::bind(SocketAddr::from(([127, 0, 0, 1], 0)))?
        };
        let addr = incoming.local_addr()?;
        let (stop, stopped) = oneshot::channel::<()>();
        // As `causeway store` serves: keepalives every 30 s, and Nagle's
        // algorithm off, without which small responses wait for the
        // client's delayed ACK.
        let serving = runtime.spawn(
            tonic::transport::Server::builder()
                .http2_keepalive_interval(Some(Duration::from_secs(30)))
                .add_service(pb::kv_server::KvServer::new(kv))
                .serve_with_incoming_shutdown(incoming.with_nodelay(Some(true)), async {
                    let _ = stopped.await;
                }),
        );
        Ok(Self {
            addr,
            runtime,
            stop,
            serving,
            syncer,
        })
    }

    /// Stops the server; in `fdatasync` mode, says what its group commits
    /// did.
    fn stop(self) -> Result<Option<SyncStats>> {
        let _ = self.stop.send(());
        let serving = self.serving;
        let served = self.runtime.block_on(async {
            // A client that keeps its connection open would hold a graceful
            // stop up for ever; the runtime's shutdown below ends it anyway.
            tokio::time::timeout(Duration::from_secs(5), serving).await
        });
        if let Ok(served) = served {
            served.context("the server task failed")??;
        }
        // Dropping the connections' tasks drops the last senders to the
        // group-commit thread, which then ends.
        self.runtime.shutdown_timeout(Duration::from_secs(5));
        match self.syncer {
            Some((thread, _dir)) => thread
                .join()
                .map_err(|_| anyhow!("the group-commit thread panicked"))?
                .map(Some),
            None => Ok(None),
        }
    }
}

/// Creates the file the group commits write into, with its blocks
/// allocated and on disk, so that `fdatasync` has only data to flush.
fn preallocate(path: &Path) -> Result<File> {
    let mut file = File::options()
        .read(true)
        .write(true)
        .create_new(true)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    let chunk = vec![0u8; 1 << 20];
    for _ in 0..FILE_BYTES / chunk.len() as u64 {
        file.write_all(&chunk)?;
    }
    file.sync_all()?;
    Ok(file)
}

/// The group-commit loop of `fdatasync` mode: waits for a put, takes every
/// other put already queued, writes 1,300 bytes for each at the file's
/// current offset (back at the start when the end would be passed), calls
/// `fdatasync`, then answers them all. Ends when the server, which holds
/// every sender, is gone.
fn group_commit(file: &File, puts: &mpsc::Receiver<oneshot::Sender<()>>) -> Result<SyncStats> {
    let mut stats = SyncStats::default();
    let mut offset = 0u64;
    let mut group = Vec::new();
    let mut bytes = Vec::new();
    while let Ok(first) = puts.recv() {
        group.push(first);
        group.extend(puts.try_iter());
        bytes.resize(group.len() * PUT_BYTES, 0xA5);
        let len = bytes.len() as u64;
        if offset + len > FILE_BYTES {
            offset = 0;
        }
        file.write_all_at(&bytes, offset)
            .context("cannot write the group-commit file")?;
        file.sync_data()
            .context("cannot fdatasync the group-commit file")?;
        offset += len;
        stats.syncs += 1;
        stats.puts += group.len() as u64;
        for reply in group.drain(..) {
            // A client that gave up on its put is no concern here.
            let _ = reply.send(());
        }
    }
    Ok(stats)
}

/// The KV service: puts count revisions and, in `fdatasync` mode, wait for
/// their group commit; nothing is kept.
#[derive(Debug, Clone)]
struct Kv {
    revision: Arc<AtomicI64>,
    /// Where a put's reply goes to wait for its group commit; `None` in
    /// `none` mode.
    puts: Option<mpsc::Sender<oneshot::Sender<()>>>,
}

impl Kv {
    fn header(&self, revision: i64) -> Option<pb::ResponseHeader> {
        Some(pb::ResponseHeader {
            cluster_id: CLUSTER_ID,
            member_id: MEMBER_ID,
            revision,
            raft_term: 2,
        })
    }

    fn current(&self) -> Option<pb::ResponseHeader> {
        self.header(self.revision.load(Ordering::Relaxed))
    }
}

#[tonic::async_trait]
impl pb::kv_server::Kv for Kv {
    async fn range(
        &self,
        _: Request<pb::RangeRequest>,
    ) -> Result<Response<pb::RangeResponse>, Status> {
        Ok(Response::new(pb::RangeResponse {
            header: self.current(),
            ..Default::default()
        }))
    }

    async fn put(&self, _: Request<pb::PutRequest>) -> Result<Response<pb::PutResponse>, Status> {
        let revision = self.revision.fetch_add(1, Ordering::Relaxed) + 1;
        if let Some(puts) = &self.puts {
            let (reply, committed) = oneshot::channel();
            puts.send(reply)
                .map_err(|_| Status::unavailable("the group-commit thread has stopped"))?;
            committed
                .await
                .map_err(|_| Status::internal("the group commit failed"))?;
        }
        Ok(Response::new(pb::PutResponse {
            header: self.header(revision),
            prev_kv: None,
        }))
    }

    async fn delete_range(
        &self,
        _: Request<pb::DeleteRangeRequest>,
    ) -> Result<Response<pb::DeleteRangeResponse>, Status> {
        Ok(Response::new(pb::DeleteRangeResponse {
            header: self.current(),
            ..Default::default()
        }))
    }

    async fn txn(&self, _: Request<pb::TxnRequest>) -> Result<Response<pb::TxnResponse>, Status> {
        Err(Status::unimplemented("check-perf-ceiling serves no txns"))
    }

    async fn compact(
        &self,
        _: Request<pb::CompactionRequest>,
    ) -> Result<Response<pb::CompactionResponse>, Status> {
        Err(Status::unimplemented(
            "check-perf-ceiling serves no compaction",
        ))
    }
}
