//! Differential testing: one seeded, randomised sequence of etcd v3
//! operations is sent to two endpoints, and every answer must match.
//!
//! The reference is a real etcd 3.5. To check the harness itself (that its
//! normalisation removes only what legitimately differs), it is run here with
//! a real etcd on both sides; [`differential_against`] runs it against a
//! candidate server.
//!
//! Both endpoints must start fresh: at the same revision, with the same data
//! (a new etcd is at revision 1 with no keys).

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use etcd_client::proto::{
    PbKeyValue, PbLeaseTimeToLiveResponse, PbRangeResponse, PbResponseHeader, PbTxnOpResponse,
    PbTxnResponse, PbWatchResponse,
};
use etcd_client::{
    Client, CompactionOptions, Compare, CompareOp, DeleteOptions, GetOptions, LeaseGrantOptions,
    LeaseTimeToLiveOptions, PutOptions, SortOrder, SortTarget, Txn, TxnOp, WatchFilterType,
    WatchOptions,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::task::JoinHandle;

/// The keys every operation picks from: few, so that operations collide.
const KEYS: usize = 20;
/// Leases the generator grants, revokes and attaches, by explicit ID so that
/// both endpoints hand out the same IDs.
const LEASES: [i64; 4] = [0x100, 0x101, 0x102, 0x103];
/// A lease ID that is never granted.
const NO_SUCH_LEASE: i64 = 0x1ff;
/// TTLs long enough that no lease expires on its own during a run, plus one
/// above etcd's maximum (9,000,000,000 s) to exercise the error.
const TTLS: [i64; 5] = [300, 600, 3600, 86_400, 9_000_000_001];
const WATCH_SLOTS: usize = 3;
/// How long both sides' watch transcripts must stay equal and unchanged
/// before they are taken as complete.
const WATCH_QUIET: Duration = Duration::from_millis(150);
const WATCH_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs a real etcd as the reference and `steps` operations against it and
/// against `endpoint`, which must be a fresh server. The seed comes from
/// `CAUSEWAY_DIFF_SEED` (default 1) and the step count from
/// `CAUSEWAY_DIFF_STEPS` (default 1000). Panics on the first mismatch.
#[allow(dead_code)]
pub async fn differential_against(endpoint: &str) {
    let seed = env_number("CAUSEWAY_DIFF_SEED", 1);
    let steps = env_number("CAUSEWAY_DIFF_STEPS", 1000) as usize;
    let reference = causeway_testkit::Etcd::start()
        .await
        .unwrap_or_else(|e| panic!("cannot start the reference etcd: {e}"));
    run_differential(seed, steps, &reference.endpoint(), endpoint).await;
}

fn env_number(var: &str, default: u64) -> u64 {
    match std::env::var(var) {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("{var}={v} is not a number")),
        Err(_) => default,
    }
}

/// Sends the operation sequence of `seed` to `a` (the reference) and `b`,
/// and panics with the seed, the step, the operation and both answers at the
/// first difference.
pub async fn run_differential(seed: u64, steps: usize, a: &str, b: &str) {
    if let Err(report) = try_differential(seed, steps, a, b).await {
        panic!("{report}");
    }
}

/// [`run_differential`], returning the mismatch report instead of panicking.
pub async fn try_differential(seed: u64, steps: usize, a: &str, b: &str) -> Result<(), String> {
    let mut ca = connect(a).await;
    let mut cb = connect(b).await;
    let ra = current_revision(&mut ca).await;
    let rb = current_revision(&mut cb).await;
    if ra != rb {
        return Err(format!(
            "endpoints must start fresh at the same revision: {a} is at {ra}, {b} at {rb}"
        ));
    }
    let mut run = Run {
        rng: StdRng::seed_from_u64(seed),
        rev: ra,
        compacted: 0,
        watches: (0..WATCH_SLOTS).map(|_| None).collect(),
        expiring: 0,
    };
    let mut recent: VecDeque<String> = VecDeque::new();
    let expire_at = (steps >= 50).then_some(steps / 2);
    for step in 0..steps + WATCH_SLOTS {
        // Past the last step, close every watch still open so its events are
        // compared too.
        let op = if step >= steps {
            match run.watches.iter().position(Option::is_some) {
                Some(slot) => Op::WatchClose { slot },
                None => break,
            }
        } else if Some(step) == expire_at {
            run.expiring += 1;
            Op::LeaseExpire {
                id: 0x7000 + run.expiring,
                key: key(run.rng.random_range(0..KEYS)),
            }
        } else {
            run.generate()
        };
        let (x, y) = run.execute(&op, &mut ca, &mut cb).await;
        if std::env::var_os("DIFF_TRACE").is_some() {
            eprintln!("step {step}: {op:?}\n  => {x:?}");
        }
        if x != y {
            let mut report = format!(
                "differential mismatch: seed={seed} step={step}\nop: {op:#?}\n--- {a} (reference) answered:\n{}\n--- {b} answered:\n{}\n--- the operations before it:\n",
                humanize(&format!("{x:#?}")),
                humanize(&format!("{y:#?}")),
            );
            for line in &recent {
                let _ = writeln!(report, "{line}");
            }
            return Err(report);
        }
        if !matches!(op, Op::WatchOpen { .. } | Op::WatchClose { .. }) {
            run.rev = current_revision(&mut ca).await;
        }
        if let (Op::Compact { revision, .. }, Answer::Compact(_)) = (&op, &x) {
            run.compacted = *revision;
        }
        recent.push_back(format!("step {step}: {}", humanize(&format!("{op:?}"))));
        if recent.len() > 12 {
            recent.pop_front();
        }
    }
    Ok(())
}

async fn connect(endpoint: &str) -> Client {
    Client::connect([endpoint], None)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to {endpoint}: {e}"))
}

async fn current_revision(c: &mut Client) -> i64 {
    let resp = c
        .get("\0", None)
        .await
        .unwrap_or_else(|e| panic!("cannot read the current revision: {e}"));
    resp.0.header.map(|h| h.revision).unwrap_or_default()
}

fn key(i: usize) -> String {
    format!("k/{i:02}")
}

/// Which keys an operation covers.
#[derive(Debug, Clone)]
enum Keys {
    One(String),
    /// `[key, end)`; `end` may sort before `key`, which selects nothing.
    Range(String, String),
    Prefix(String),
    FromKey(String),
    All,
}

impl Keys {
    fn key(&self) -> String {
        match self {
            Keys::One(k) | Keys::Range(k, _) | Keys::Prefix(k) | Keys::FromKey(k) => k.clone(),
            Keys::All => "\0".into(),
        }
    }

    /// Sets the range of a get, delete or watch request.
    fn apply<O: RangeOptions>(&self, o: O) -> O {
        match self {
            Keys::One(_) => o,
            Keys::Range(_, end) => o.range(end.clone()),
            Keys::Prefix(_) => o.prefix(),
            Keys::FromKey(_) => o.starting_at(),
            Keys::All => o.all_keys(),
        }
    }

    fn compare(&self, c: Compare) -> Compare {
        match self {
            Keys::One(_) => c,
            Keys::Range(_, end) => c.with_range(end.clone()),
            Keys::Prefix(_) => c.with_prefix(),
            Keys::FromKey(_) => c.with_range(vec![0u8]),
            Keys::All => c.with_range(vec![0u8]),
        }
    }
}

/// The key-range setters etcd-client gives each request type separately.
trait RangeOptions {
    fn range(self, end: String) -> Self;
    fn prefix(self) -> Self;
    fn starting_at(self) -> Self;
    fn all_keys(self) -> Self;
}

macro_rules! range_options {
    ($($t:ty),*) => {$(
        impl RangeOptions for $t {
            fn range(self, end: String) -> Self {
                self.with_range(end)
            }
            fn prefix(self) -> Self {
                self.with_prefix()
            }
            fn starting_at(self) -> Self {
                self.with_from_key()
            }
            fn all_keys(self) -> Self {
                self.with_all_keys()
            }
        }
    )*};
}

range_options!(GetOptions, DeleteOptions, WatchOptions);

#[derive(Debug, Clone)]
struct RangeSpec {
    keys: Keys,
    limit: i64,
    revision: i64,
    sort: Option<(SortTarget, SortOrder)>,
    keys_only: bool,
    count_only: bool,
    serializable: bool,
    min_mod: i64,
    max_mod: i64,
    min_create: i64,
    max_create: i64,
}

impl RangeSpec {
    fn options(&self) -> GetOptions {
        let mut o = self.keys.apply(GetOptions::new());
        if self.limit != 0 {
            o = o.with_limit(self.limit);
        }
        if self.revision != 0 {
            o = o.with_revision(self.revision);
        }
        if let Some((target, order)) = self.sort {
            o = o.with_sort(target, order);
        }
        if self.keys_only {
            o = o.with_keys_only();
        }
        if self.count_only {
            o = o.with_count_only();
        }
        if self.serializable {
            o = o.with_serializable();
        }
        if self.min_mod != 0 {
            o = o.with_min_mod_revision(self.min_mod);
        }
        if self.max_mod != 0 {
            o = o.with_max_mod_revision(self.max_mod);
        }
        if self.min_create != 0 {
            o = o.with_min_create_revision(self.min_create);
        }
        if self.max_create != 0 {
            o = o.with_max_create_revision(self.max_create);
        }
        o
    }
}

#[derive(Debug, Clone)]
struct PutSpec {
    key: String,
    value: String,
    lease: i64,
    prev_kv: bool,
    ignore_value: bool,
    ignore_lease: bool,
}

impl PutSpec {
    fn options(&self) -> PutOptions {
        let mut o = PutOptions::new();
        if self.lease != 0 {
            o = o.with_lease(self.lease);
        }
        if self.prev_kv {
            o = o.with_prev_key();
        }
        if self.ignore_value {
            o = o.with_ignore_value();
        }
        if self.ignore_lease {
            o = o.with_ignore_lease();
        }
        o
    }
}

#[derive(Debug, Clone)]
struct DeleteSpec {
    keys: Keys,
    prev_kv: bool,
}

impl DeleteSpec {
    fn options(&self) -> DeleteOptions {
        let o = self.keys.apply(DeleteOptions::new());
        if self.prev_kv { o.with_prev_key() } else { o }
    }
}

#[derive(Debug, Clone)]
enum Target {
    Version(i64),
    Create(i64),
    Mod(i64),
    Value(String),
    Lease(i64),
}

#[derive(Debug, Clone)]
struct CompareSpec {
    keys: Keys,
    target: Target,
    op: CompareOp,
}

#[derive(Debug, Clone)]
enum TxnOpSpec {
    Range(RangeSpec),
    Put(PutSpec),
    Delete(DeleteSpec),
    Txn(TxnSpec),
}

#[derive(Debug, Clone)]
struct TxnSpec {
    compares: Vec<CompareSpec>,
    success: Vec<TxnOpSpec>,
    failure: Vec<TxnOpSpec>,
}

impl TxnSpec {
    fn ops(&self) -> impl Iterator<Item = &TxnOpSpec> {
        self.success.iter().chain(&self.failure)
    }

    fn deletes(&self) -> bool {
        self.ops().any(|op| match op {
            TxnOpSpec::Delete(_) => true,
            TxnOpSpec::Txn(t) => t.deletes(),
            _ => false,
        })
    }

    fn clear_ignores(&mut self) {
        for op in self.success.iter_mut().chain(self.failure.iter_mut()) {
            match op {
                TxnOpSpec::Put(p) => {
                    p.ignore_value = false;
                    p.ignore_lease = false;
                }
                TxnOpSpec::Txn(t) => t.clear_ignores(),
                _ => {}
            }
        }
    }

    fn build(&self) -> Txn {
        let compares: Vec<Compare> = self
            .compares
            .iter()
            .map(|c| {
                let k = c.keys.key();
                let base = match &c.target {
                    Target::Version(v) => Compare::version(k, c.op, *v),
                    Target::Create(v) => Compare::create_revision(k, c.op, *v),
                    Target::Mod(v) => Compare::mod_revision(k, c.op, *v),
                    Target::Value(v) => Compare::value(k, c.op, v.clone()),
                    Target::Lease(v) => Compare::lease(k, c.op, *v),
                };
                c.keys.compare(base)
            })
            .collect();
        let ops = |list: &[TxnOpSpec]| -> Vec<TxnOp> {
            list.iter()
                .map(|op| match op {
                    TxnOpSpec::Range(r) => TxnOp::get(r.keys.key(), Some(r.options())),
                    TxnOpSpec::Put(p) => {
                        TxnOp::put(p.key.clone(), p.value.clone(), Some(p.options()))
                    }
                    TxnOpSpec::Delete(d) => TxnOp::delete(d.keys.key(), Some(d.options())),
                    TxnOpSpec::Txn(t) => TxnOp::txn(t.build()),
                })
                .collect()
        };
        Txn::new()
            .when(compares)
            .and_then(ops(&self.success))
            .or_else(ops(&self.failure))
    }
}

#[derive(Debug, Clone)]
enum Op {
    Put(PutSpec),
    Range(RangeSpec),
    Delete(DeleteSpec),
    Txn(TxnSpec),
    Compact {
        revision: i64,
        physical: bool,
    },
    LeaseGrant {
        id: i64,
        ttl: i64,
    },
    LeaseRevoke {
        id: i64,
    },
    LeaseTimeToLive {
        id: i64,
        keys: bool,
    },
    Leases,
    LeaseKeepAliveOnce {
        id: i64,
    },
    /// Grants a lease with TTL 1, attaches `key` to it, and waits until both
    /// sides have expired it: checks the minimum TTL and expiry deletes.
    LeaseExpire {
        id: i64,
        key: String,
    },
    WatchOpen {
        slot: usize,
        keys: Keys,
        start_revision: i64,
        prev_kv: bool,
        filters: Vec<WatchFilterType>,
    },
    WatchClose {
        slot: usize,
    },
}

/// One side's answer to one operation, normalised.
#[derive(Debug, Clone, PartialEq)]
enum Answer {
    Error(String),
    Put(etcd_client::proto::PbPutResponse),
    Range(PbRangeResponse),
    Delete(etcd_client::proto::PbDeleteResponse),
    Txn(PbTxnResponse),
    Compact(etcd_client::proto::PbCompactionResponse),
    LeaseGrant(etcd_client::proto::PbLeaseGrantResponse),
    LeaseRevoke(etcd_client::proto::PbLeaseRevokeResponse),
    TimeToLive(PbLeaseTimeToLiveResponse),
    Leases(etcd_client::proto::PbLeaseLeasesResponse),
    KeepAlive(Option<etcd_client::proto::PbLeaseKeepAliveResponse>),
    Expired(Vec<Answer>),
    WatchCreated(Option<PbWatchResponse>),
    WatchTranscript(Vec<WatchItem>),
}

/// What a watch delivered, with batching into responses removed: events
/// of one revision may legitimately come in one or several responses.
#[derive(Debug, Clone, PartialEq)]
enum WatchItem {
    Event(etcd_client::proto::PbEvent),
    Control {
        created: bool,
        canceled: bool,
        compact_revision: i64,
        cancel_reason: String,
        watch_id: i64,
    },
}

fn error_answer(e: etcd_client::Error) -> Answer {
    match e {
        etcd_client::Error::GRpcStatus(s) => {
            Answer::Error(format!("gRPC {:?}: {}", s.code(), s.message()))
        }
        other => Answer::Error(format!("client error: {other}")),
    }
}

/// Cluster and member IDs and the raft term are per-deployment.
fn norm_header(h: &mut Option<PbResponseHeader>) {
    if let Some(h) = h {
        h.cluster_id = 0;
        h.member_id = 0;
        h.raft_term = 0;
    }
}

fn sort_value(kv: &PbKeyValue, target: SortTarget) -> (i64, Vec<u8>) {
    match target {
        SortTarget::Key => (0, kv.key.clone()),
        SortTarget::Version => (kv.version, Vec::new()),
        SortTarget::Create => (kv.create_revision, Vec::new()),
        SortTarget::Mod => (kv.mod_revision, Vec::new()),
        SortTarget::Value => (0, kv.value.clone()),
    }
}

/// Keeps only the sort target of a key-value: which of several tied keys a
/// limit cuts off is up to the server's sort algorithm.
fn only_sort_value(kv: &PbKeyValue, target: SortTarget) -> PbKeyValue {
    let mut out = PbKeyValue::default();
    match target {
        SortTarget::Key => out.key = kv.key.clone(),
        SortTarget::Version => out.version = kv.version,
        SortTarget::Create => out.create_revision = kv.create_revision,
        SortTarget::Mod => out.mod_revision = kv.mod_revision,
        SortTarget::Value => out.value = kv.value.clone(),
    }
    out
}

/// Sorts tie groups; the header is left alone, since inside a txn it is
/// part of what is compared.
fn norm_range(r: &mut PbRangeResponse, spec: &RangeSpec) {
    let Some((target, order)) = spec.sort else {
        return;
    };
    if target == SortTarget::Key {
        return;
    }
    // etcd sorts with an unstable sort, so keys that tie on the target may
    // come in any order: compare each tie group as a set.
    let mut groups: Vec<Vec<PbKeyValue>> = Vec::new();
    for kv in r.kvs.drain(..) {
        match groups.last_mut() {
            Some(g) if sort_value(&g[0], target) == sort_value(&kv, target) => g.push(kv),
            _ => groups.push(vec![kv]),
        }
    }
    // With a sort order, etcd sorts all matches and then applies the limit,
    // so the last group may be any subset of its ties.
    let truncated = order != SortOrder::None && r.more;
    let n = groups.len();
    for (i, mut g) in groups.into_iter().enumerate() {
        if truncated && i + 1 == n {
            r.kvs.extend(g.iter().map(|kv| only_sort_value(kv, target)));
        } else {
            g.sort_by(|x, y| x.key.cmp(&y.key));
            r.kvs.extend(g);
        }
    }
}

/// Normalises the ranges inside a txn. Only the top-level header carries
/// the cluster's IDs; the sub-responses' headers (etcd fills in only their
/// revision, and leaves a nested txn's header empty) are compared as they
/// are.
fn norm_txn(t: &mut PbTxnResponse, spec: &TxnSpec) {
    let ops = if t.succeeded {
        &spec.success
    } else {
        &spec.failure
    };
    for (resp, op) in t.responses.iter_mut().zip(ops) {
        match (&mut resp.response, op) {
            (Some(PbTxnOpResponse::ResponseRange(r)), TxnOpSpec::Range(s)) => norm_range(r, s),
            (Some(PbTxnOpResponse::ResponseTxn(inner)), TxnOpSpec::Txn(s)) => norm_txn(inner, s),
            // A response of another kind than the request: leave it as it
            // is, so the comparison shows it.
            _ => {}
        }
    }
}

/// Remaining TTLs are read at slightly different moments on the two sides.
fn ttl_close(a: i64, b: i64) -> bool {
    (a - b).abs() <= 1
}

/// Makes the TTLs of two answers equal when they are within a second, so
/// that the rest of the answers can be compared exactly.
fn align_ttls(x: &Answer, y: &mut Answer) {
    match (x, y) {
        (Answer::TimeToLive(a), Answer::TimeToLive(b)) if ttl_close(a.ttl, b.ttl) => b.ttl = a.ttl,
        (Answer::KeepAlive(Some(a)), Answer::KeepAlive(Some(b))) if ttl_close(a.ttl, b.ttl) => {
            b.ttl = a.ttl
        }
        (Answer::Expired(a), Answer::Expired(b)) => {
            for (p, q) in a.iter().zip(b.iter_mut()) {
                align_ttls(p, q);
            }
        }
        _ => {}
    }
}

struct Collector {
    responses: Arc<Mutex<Vec<PbWatchResponse>>>,
    task: JoinHandle<()>,
    // Dropping the request side ends the stream; keep it as long as the
    // watch is meant to stay open.
    _sender: etcd_client::WatchRequestSender,
}

impl Collector {
    async fn open(c: &mut Client, keys: &Keys, options: WatchOptions) -> Result<Self, Answer> {
        let stream = c
            .watch(keys.key(), Some(options))
            .await
            .map_err(error_answer)?;
        let (sender, mut stream) = stream.split();
        let responses = Arc::new(Mutex::new(Vec::new()));
        let sink = responses.clone();
        let task = tokio::spawn(async move {
            while let Ok(Some(r)) = stream.message().await {
                sink.lock().unwrap().push(r.0);
            }
        });
        Ok(Self {
            responses,
            task,
            _sender: sender,
        })
    }

    fn snapshot(&self) -> Vec<PbWatchResponse> {
        self.responses.lock().unwrap().clone()
    }

    async fn first(&self) -> Option<PbWatchResponse> {
        let deadline = Instant::now() + WATCH_TIMEOUT;
        while Instant::now() < deadline {
            if let Some(r) = self.responses.lock().unwrap().first() {
                return Some(r.clone());
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        None
    }

    /// Everything after the creation response, flattened.
    fn transcript(&self) -> Vec<WatchItem> {
        let mut out = Vec::new();
        for r in self.snapshot().into_iter().skip(1) {
            let control = r.created || r.canceled || r.compact_revision != 0;
            if r.events.is_empty() && !control {
                // A progress notification: sent on a timer, so when it comes
                // is not comparable.
                continue;
            }
            for e in r.events {
                out.push(WatchItem::Event(e));
            }
            if control {
                out.push(WatchItem::Control {
                    created: r.created,
                    canceled: r.canceled,
                    compact_revision: r.compact_revision,
                    cancel_reason: r.cancel_reason,
                    watch_id: r.watch_id,
                });
            }
        }
        out
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        self.task.abort();
    }
}

struct Run {
    rng: StdRng,
    rev: i64,
    compacted: i64,
    watches: Vec<Option<(Collector, Collector)>>,
    expiring: i64,
}

impl Run {
    fn chance(&mut self, p: f64) -> bool {
        self.rng.random_bool(p)
    }

    fn pick<T: Clone>(&mut self, items: &[T]) -> T {
        items[self.rng.random_range(0..items.len())].clone()
    }

    fn any_key(&mut self) -> String {
        key(self.rng.random_range(0..KEYS))
    }

    fn value(&mut self) -> String {
        match self.rng.random_range(0..10) {
            0 => String::new(),
            1 => "x".repeat(self.rng.random_range(100..300)),
            _ => format!("v{}", self.rng.random_range(0..8)),
        }
    }

    fn keys(&mut self) -> Keys {
        match self.rng.random_range(0..20) {
            0..=8 => Keys::One(self.any_key()),
            9..=12 => {
                let (x, y) = (self.any_key(), self.any_key());
                if self.chance(0.85) && x > y {
                    Keys::Range(y, x)
                } else {
                    Keys::Range(x, y)
                }
            }
            13..=15 => Keys::Prefix(self.pick(&["k/", "k/0", "k/1", "k/05"]).to_string()),
            16..=17 => Keys::FromKey(self.any_key()),
            _ => Keys::All,
        }
    }

    /// A revision to read at: mostly current, sometimes old, compacted,
    /// exactly the compaction point, or in the future.
    fn read_revision(&mut self) -> i64 {
        let rev = self.rev;
        match self.rng.random_range(0..20) {
            0..=11 => 0,
            12..=14 => self.rng.random_range(self.compacted.max(1)..=rev),
            15 => rev,
            16 => rev + self.rng.random_range(1..3),
            17 if self.compacted > 1 => self.rng.random_range(1..self.compacted),
            17 => -1,
            _ => self.compacted.max(1),
        }
    }

    fn some_revision(&mut self) -> i64 {
        self.rng.random_range(0..=self.rev + 1)
    }

    fn lease_id(&mut self) -> i64 {
        if self.chance(0.1) {
            NO_SUCH_LEASE
        } else {
            self.pick(&LEASES)
        }
    }

    fn range(&mut self) -> RangeSpec {
        let keys = self.keys();
        let limit = if self.chance(0.3) {
            self.pick(&[1, 2, 3, 5, 25, -1])
        } else {
            0
        };
        let revision = self.read_revision();
        let sort = self.chance(0.35).then(|| {
            let target = self.pick(&[
                SortTarget::Key,
                SortTarget::Version,
                SortTarget::Create,
                SortTarget::Mod,
                SortTarget::Value,
            ]);
            let order = self.pick(&[SortOrder::None, SortOrder::Ascend, SortOrder::Descend]);
            (target, order)
        });
        let mut r = RangeSpec {
            keys,
            limit,
            revision,
            sort,
            keys_only: self.chance(0.15),
            count_only: self.chance(0.1),
            serializable: self.chance(0.1),
            min_mod: 0,
            max_mod: 0,
            min_create: 0,
            max_create: 0,
        };
        if self.chance(0.1) {
            r.min_mod = self.some_revision();
        }
        if self.chance(0.1) {
            r.max_mod = self.some_revision();
        }
        if self.chance(0.1) {
            r.min_create = self.some_revision();
        }
        if self.chance(0.1) {
            r.max_create = self.some_revision();
        }
        r
    }

    fn put(&mut self) -> PutSpec {
        let ignore_value = self.chance(0.08);
        let ignore_lease = self.chance(0.08);
        let value = if ignore_value && self.chance(0.7) {
            String::new()
        } else {
            self.value()
        };
        let lease = if self.chance(0.25) && (!ignore_lease || self.chance(0.3)) {
            self.lease_id()
        } else {
            0
        };
        PutSpec {
            key: self.any_key(),
            value,
            lease,
            prev_kv: self.chance(0.4),
            ignore_value,
            ignore_lease,
        }
    }

    fn delete(&mut self) -> DeleteSpec {
        DeleteSpec {
            keys: self.keys(),
            prev_kv: self.chance(0.5),
        }
    }

    fn compare(&mut self) -> CompareSpec {
        let keys = if self.chance(0.8) {
            Keys::One(self.any_key())
        } else {
            self.keys()
        };
        let target = match self.rng.random_range(0..5) {
            0 => Target::Version(self.rng.random_range(0..4)),
            1 => Target::Create(self.some_revision()),
            2 => Target::Mod(self.some_revision()),
            3 => Target::Value(self.value()),
            _ => Target::Lease(if self.chance(0.3) { 0 } else { self.lease_id() }),
        };
        let op = self.pick(&[
            CompareOp::Equal,
            CompareOp::NotEqual,
            CompareOp::Greater,
            CompareOp::Less,
        ]);
        CompareSpec { keys, target, op }
    }

    fn txn(&mut self, depth: usize) -> TxnSpec {
        let n = self.rng.random_range(0..=3);
        let compares = (0..n).map(|_| self.compare()).collect();
        let branch = |run: &mut Run| -> Vec<TxnOpSpec> {
            let n = run.rng.random_range(0..=3);
            (0..n)
                .map(|_| match run.rng.random_range(0..10) {
                    0..=2 => TxnOpSpec::Put(run.put()),
                    3..=5 => TxnOpSpec::Range(run.range()),
                    6..=7 => TxnOpSpec::Delete(run.delete()),
                    _ if depth < 2 => TxnOpSpec::Txn(run.txn(depth + 1)),
                    _ => TxnOpSpec::Range(run.range()),
                })
                .collect()
        };
        let success = branch(self);
        let failure = branch(self);
        let mut t = TxnSpec {
            compares,
            success,
            failure,
        };
        if depth == 0 && t.deletes() {
            // etcd 3.5 checks that an ignore_value or ignore_lease put has a
            // key before the txn runs; when an earlier delete in the same
            // txn removed it, applying the put fails and etcd panics and
            // exits. Such txns would only test that crash.
            t.clear_ignores();
        }
        t
    }

    fn generate(&mut self) -> Op {
        let free_slot = self.watches.iter().position(Option::is_none);
        let open: Vec<usize> = (0..WATCH_SLOTS)
            .filter(|&i| self.watches[i].is_some())
            .collect();
        loop {
            let op = match self.rng.random_range(0..1000) {
                0..=279 => Op::Put(self.put()),
                280..=499 => Op::Range(self.range()),
                500..=579 => Op::Delete(self.delete()),
                580..=779 => Op::Txn(self.txn(0)),
                780..=819 => Op::LeaseGrant {
                    id: self.lease_id(),
                    ttl: self.pick(&TTLS),
                },
                820..=844 => Op::LeaseRevoke {
                    id: self.lease_id(),
                },
                845..=874 => Op::LeaseTimeToLive {
                    id: self.lease_id(),
                    keys: self.chance(0.5),
                },
                875..=884 => Op::Leases,
                885..=899 => Op::LeaseKeepAliveOnce {
                    id: self.lease_id(),
                },
                // A watch that is still catching up when its start
                // revision is compacted is cancelled, one that caught up is
                // not: which one happens is a race inside etcd. So watches
                // are closed before any compaction.
                900..=914 if !open.is_empty() => Op::WatchClose { slot: open[0] },
                900..=914 => {
                    let rev = self.rev;
                    let revision = match self.rng.random_range(0..10) {
                        0 => self.compacted,
                        1 => rev + 1,
                        _ => self
                            .rng
                            .random_range(self.compacted + 1..=rev.max(self.compacted + 1)),
                    };
                    Op::Compact {
                        revision,
                        physical: self.chance(0.5),
                    }
                }
                915..=964 => match free_slot {
                    Some(slot) => {
                        let start_revision = match self.rng.random_range(0..6) {
                            0 => 0,
                            5 => self.rev + self.rng.random_range(1..3),
                            _ => self.rng.random_range(1..=self.rev),
                        };
                        let filters = match self.rng.random_range(0..6) {
                            0 => vec![WatchFilterType::NoPut],
                            1 => vec![WatchFilterType::NoDelete],
                            _ => vec![],
                        };
                        Op::WatchOpen {
                            slot,
                            keys: self.keys(),
                            start_revision,
                            prev_kv: self.chance(0.5),
                            filters,
                        }
                    }
                    None => continue,
                },
                _ if open.is_empty() => continue,
                _ => Op::WatchClose {
                    slot: self.pick(&open),
                },
            };
            return op;
        }
    }

    async fn execute(&mut self, op: &Op, a: &mut Client, b: &mut Client) -> (Answer, Answer) {
        match op {
            Op::WatchOpen {
                slot,
                keys,
                start_revision,
                prev_kv,
                filters,
            } => {
                let mut o = keys.apply(WatchOptions::new());
                if *start_revision != 0 {
                    o = o.with_start_revision(*start_revision);
                }
                if *prev_kv {
                    o = o.with_prev_key();
                }
                if !filters.is_empty() {
                    o = o.with_filters(filters.clone());
                }
                let (x, y) = tokio::join!(
                    Collector::open(a, keys, o.clone()),
                    Collector::open(b, keys, o)
                );
                match (x, y) {
                    (Ok(x), Ok(y)) => {
                        let (fx, fy) = tokio::join!(x.first(), y.first());
                        let mut fx = fx.map(|mut r| {
                            norm_header(&mut r.header);
                            r
                        });
                        let mut fy = fy.map(|mut r| {
                            norm_header(&mut r.header);
                            r
                        });
                        // Anything after the creation response belongs to
                        // the transcript compared when the watch closes.
                        for r in [&mut fx, &mut fy].into_iter().flatten() {
                            if !r.created {
                                r.events.clear();
                            }
                        }
                        self.watches[*slot] = Some((x, y));
                        (Answer::WatchCreated(fx), Answer::WatchCreated(fy))
                    }
                    (x, y) => (
                        x.err().unwrap_or(Answer::WatchCreated(None)),
                        y.err().unwrap_or(Answer::WatchCreated(None)),
                    ),
                }
            }
            Op::WatchClose { slot } => {
                let Some((x, y)) = self.watches[*slot].take() else {
                    return (
                        Answer::WatchTranscript(vec![]),
                        Answer::WatchTranscript(vec![]),
                    );
                };
                let deadline = Instant::now() + WATCH_TIMEOUT;
                let mut last = (x.transcript(), y.transcript());
                loop {
                    tokio::time::sleep(WATCH_QUIET).await;
                    let now = (x.transcript(), y.transcript());
                    if (now.0 == now.1 && now == last) || Instant::now() > deadline {
                        last = now;
                        break;
                    }
                    last = now;
                }
                let norm = |items: Vec<WatchItem>| Answer::WatchTranscript(items);
                (norm(last.0), norm(last.1))
            }
            _ => {
                let (x, mut y) = tokio::join!(one(op, a), one(op, b));
                align_ttls(&x, &mut y);
                (x, y)
            }
        }
    }
}

/// Runs a non-watch operation on one side and normalises its answer.
async fn one(op: &Op, c: &mut Client) -> Answer {
    match op {
        Op::Put(p) => match c
            .put(p.key.clone(), p.value.clone(), Some(p.options()))
            .await
        {
            Ok(r) => {
                let mut r = r.0;
                norm_header(&mut r.header);
                Answer::Put(r)
            }
            Err(e) => error_answer(e),
        },
        Op::Range(s) => match c.get(s.keys.key(), Some(s.options())).await {
            Ok(r) => {
                let mut r = r.0;
                norm_header(&mut r.header);
                norm_range(&mut r, s);
                Answer::Range(r)
            }
            Err(e) => error_answer(e),
        },
        Op::Delete(d) => match c.delete(d.keys.key(), Some(d.options())).await {
            Ok(r) => {
                let mut r = r.0;
                norm_header(&mut r.header);
                Answer::Delete(r)
            }
            Err(e) => error_answer(e),
        },
        Op::Txn(t) => match c.txn(t.build()).await {
            Ok(r) => {
                let mut r = r.0;
                norm_header(&mut r.header);
                norm_txn(&mut r, t);
                Answer::Txn(r)
            }
            Err(e) => error_answer(e),
        },
        Op::Compact { revision, physical } => {
            let o = physical.then(|| CompactionOptions::new().with_physical());
            match c.compact(*revision, o).await {
                Ok(r) => {
                    let mut r = r.0;
                    norm_header(&mut r.header);
                    Answer::Compact(r)
                }
                Err(e) => error_answer(e),
            }
        }
        Op::LeaseGrant { id, ttl } => {
            match c
                .lease_grant(*ttl, Some(LeaseGrantOptions::new().with_id(*id)))
                .await
            {
                Ok(r) => {
                    let mut r = r.0;
                    norm_header(&mut r.header);
                    Answer::LeaseGrant(r)
                }
                Err(e) => error_answer(e),
            }
        }
        Op::LeaseRevoke { id } => match c.lease_revoke(*id).await {
            Ok(r) => {
                let mut r = r.0;
                norm_header(&mut r.header);
                Answer::LeaseRevoke(r)
            }
            Err(e) => error_answer(e),
        },
        Op::LeaseTimeToLive { id, keys } => time_to_live(c, *id, *keys).await,
        Op::Leases => match c.leases().await {
            Ok(r) => {
                let mut r = r.0;
                norm_header(&mut r.header);
                // etcd lists leases in Go map order, which is random.
                r.leases.sort_by_key(|l| l.id);
                Answer::Leases(r)
            }
            Err(e) => error_answer(e),
        },
        Op::LeaseKeepAliveOnce { id } => match c.lease_keep_alive(*id).await {
            Ok((mut keeper, mut stream)) => {
                if let Err(e) = keeper.keep_alive().await {
                    return error_answer(e);
                }
                match stream.message().await {
                    Ok(r) => Answer::KeepAlive(r.map(|r| {
                        let mut r = r.0;
                        norm_header(&mut r.header);
                        r
                    })),
                    Err(e) => error_answer(e),
                }
            }
            Err(e) => error_answer(e),
        },
        Op::LeaseExpire { id, key } => {
            let mut steps = Vec::new();
            let grant = Box::pin(one(&Op::LeaseGrant { id: *id, ttl: 1 }, c)).await;
            steps.push(grant);
            let put = PutSpec {
                key: key.clone(),
                value: "expiring".into(),
                lease: *id,
                prev_kv: true,
                ignore_value: false,
                ignore_lease: false,
            };
            steps.push(Box::pin(one(&Op::Put(put), c)).await);
            let deadline = Instant::now() + Duration::from_secs(15);
            let expired = loop {
                let ttl = time_to_live(c, *id, true).await;
                let gone = matches!(&ttl, Answer::TimeToLive(r) if r.ttl == -1);
                if gone || Instant::now() > deadline {
                    break ttl;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            };
            steps.push(expired);
            let all = RangeSpec {
                keys: Keys::All,
                limit: 0,
                revision: 0,
                sort: None,
                keys_only: false,
                count_only: false,
                serializable: false,
                min_mod: 0,
                max_mod: 0,
                min_create: 0,
                max_create: 0,
            };
            steps.push(Box::pin(one(&Op::Range(all), c)).await);
            Answer::Expired(steps)
        }
        Op::WatchOpen { .. } | Op::WatchClose { .. } => {
            Answer::Error("watch operations run on both sides at once".into())
        }
    }
}

async fn time_to_live(c: &mut Client, id: i64, keys: bool) -> Answer {
    let o = keys.then(|| LeaseTimeToLiveOptions::new().with_keys());
    match c.lease_time_to_live(id, o).await {
        Ok(r) => {
            let mut r = r.0;
            norm_header(&mut r.header);
            // The keys of a lease come from a Go map: their order is random.
            r.keys.sort();
            Answer::TimeToLive(r)
        }
        Err(e) => error_answer(e),
    }
}

/// Shows byte strings in `{:#?}` output as text: `[107, 47, 48]` becomes
/// `b"k/0"` when every byte is printable ASCII.
fn humanize(debug: &str) -> String {
    let mut out = String::with_capacity(debug.len());
    let mut rest = debug;
    while let Some(open) = rest.find('[') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let Some(close) = after.find(']') else {
            out.push_str(&rest[open..]);
            return out;
        };
        let inner = &after[..close];
        let bytes: Option<Vec<u8>> = inner
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| s.parse::<u8>().ok())
            .collect();
        match bytes {
            Some(b) if !b.is_empty() && b.iter().all(|c| (0x20..0x7f).contains(c)) => {
                let _ = write!(out, "b{:?}", String::from_utf8_lossy(&b));
                rest = &after[close + 1..];
            }
            _ => {
                out.push('[');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn harness_agrees_with_itself_etcd_vs_etcd() {
    // CAUSEWAY_DIFF_SEED and CAUSEWAY_DIFF_STEPS pick one seed and a longer
    // run, to check a normalisation change against many sequences.
    let seeds = match std::env::var("CAUSEWAY_DIFF_SEED") {
        Ok(_) => vec![env_number("CAUSEWAY_DIFF_SEED", 1)],
        Err(_) => vec![1, 2, 3],
    };
    let steps = env_number("CAUSEWAY_DIFF_STEPS", 300) as usize;
    for seed in seeds {
        let x = causeway_testkit::Etcd::start().await.unwrap();
        let y = causeway_testkit::Etcd::start().await.unwrap();
        run_differential(seed, steps, &x.endpoint(), &y.endpoint()).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn harness_reports_a_difference() {
    let x = causeway_testkit::Etcd::start().await.unwrap();
    let y = causeway_testkit::Etcd::start().await.unwrap();
    // Same revision on both sides, but one more lease on the reference, with
    // an ID the generator never touches: the first lease listing must show
    // it.
    let mut cx = connect(&x.endpoint()).await;
    cx.lease_grant(86_400, Some(LeaseGrantOptions::new().with_id(0x555)))
        .await
        .unwrap();
    let report = try_differential(7, 300, &x.endpoint(), &y.endpoint())
        .await
        .expect_err("a difference between the endpoints must be reported");
    assert!(report.contains("seed=7 step="), "{report}");
    assert!(report.contains("1365"), "{report}");
}

#[test]
fn humanize_turns_printable_bytes_into_text() {
    assert_eq!(humanize("key: [107, 47, 48]"), "key: b\"k/0\"");
    assert_eq!(humanize("v: [0, 1]"), "v: [0, 1]");
    assert_eq!(humanize("[]"), "[]");
}
