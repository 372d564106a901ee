//! Helpers the robustness tests share: clients, watch collectors and
//! checks on gRPC errors.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use etcd_client::proto::{PbEvent, PbWatchResponse};
use etcd_client::{Client, WatchOptions};
use tokio::task::JoinHandle;

/// How long a test waits for something that should take milliseconds.
pub const PATIENCE: Duration = Duration::from_secs(10);

pub async fn connect(endpoint: &str) -> Client {
    Client::connect([endpoint], None).await.unwrap()
}

/// The newest revision, read through a plain range.
pub async fn revision(c: &mut Client) -> i64 {
    c.get("causeway-test-revision-probe", None)
        .await
        .unwrap()
        .header()
        .unwrap()
        .revision()
}

/// Fails unless `result` is the gRPC error `code` with exactly `message`.
#[track_caller]
pub fn assert_grpc_error<T: std::fmt::Debug>(
    result: Result<T, etcd_client::Error>,
    code: tonic::Code,
    message: &str,
) {
    match result {
        Err(etcd_client::Error::GRpcStatus(s)) => {
            assert_eq!(
                (s.code(), s.message()),
                (code, message),
                "wrong error: {s:?}"
            );
        }
        other => panic!("expected gRPC {code:?} {message:?}, got {other:?}"),
    }
}

/// A watch stream whose responses a background task collects, so that a
/// test can look at them while it goes on writing.
pub struct Collector {
    responses: Arc<Mutex<Vec<PbWatchResponse>>>,
    ended: Arc<Mutex<Option<String>>>,
    task: JoinHandle<()>,
    pub sender: etcd_client::WatchRequestSender,
}

impl Collector {
    /// Opens the watch and waits for its creation response.
    pub async fn open(c: &mut Client, key: impl Into<Vec<u8>>, options: WatchOptions) -> Self {
        let stream = c.watch(key, Some(options)).await.unwrap();
        let (sender, mut stream) = stream.split();
        let responses = Arc::new(Mutex::new(Vec::new()));
        let ended = Arc::new(Mutex::new(None));
        let (sink, end) = (responses.clone(), ended.clone());
        let task = tokio::spawn(async move {
            loop {
                match stream.message().await {
                    Ok(Some(r)) => sink.lock().unwrap().push(r.0),
                    Ok(None) => {
                        *end.lock().unwrap() = Some("stream ended".into());
                        break;
                    }
                    Err(e) => {
                        *end.lock().unwrap() = Some(e.to_string());
                        break;
                    }
                }
            }
        });
        let me = Self {
            responses,
            ended,
            task,
            sender,
        };
        me.wait(PATIENCE, |rs| !rs.is_empty()).await;
        let first = me.responses()[0].clone();
        assert!(
            first.created,
            "the first response is not a creation: {first:?}"
        );
        me
    }

    pub fn responses(&self) -> Vec<PbWatchResponse> {
        self.responses.lock().unwrap().clone()
    }

    /// Every event received so far, in order.
    pub fn events(&self) -> Vec<PbEvent> {
        self.responses()
            .into_iter()
            .flat_map(|r| r.events)
            .collect()
    }

    /// Waits until `done` holds for the responses so far; fails with them
    /// after `timeout`.
    pub async fn wait(&self, timeout: Duration, done: impl Fn(&[PbWatchResponse]) -> bool) {
        let deadline = Instant::now() + timeout;
        loop {
            if done(&self.responses.lock().unwrap()) {
                return;
            }
            if Instant::now() > deadline {
                panic!(
                    "watch condition still false after {timeout:?}; stream end: {:?}; responses: {:?}",
                    self.ended.lock().unwrap(),
                    summary(&self.responses())
                );
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Waits until an event at `revision` or later has arrived.
    pub async fn wait_for_revision(&self, revision: i64) {
        self.wait(PATIENCE, |rs| {
            rs.iter()
                .flat_map(|r| &r.events)
                .any(|e| mod_revision(e) >= revision)
        })
        .await
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The revision of an event (a delete's key-value carries it too).
pub fn mod_revision(e: &PbEvent) -> i64 {
    e.kv.as_ref().map_or(0, |kv| kv.mod_revision)
}

/// A short description of responses, for failure messages.
pub fn summary(rs: &[PbWatchResponse]) -> String {
    let mut out = Vec::new();
    for r in rs.iter().take(40) {
        let revs: Vec<i64> = r.events.iter().map(mod_revision).collect();
        out.push(format!(
            "{{id {} hdr {} created {} canceled {} compact {} reason {:?} fragment {} events {:?}}}",
            r.watch_id,
            r.header.as_ref().map_or(0, |h| h.revision),
            r.created,
            r.canceled,
            r.compact_revision,
            r.cancel_reason,
            r.fragment,
            revs
        ));
    }
    if rs.len() > 40 {
        out.push(format!("… {} more", rs.len() - 40));
    }
    out.join("\n")
}

/// Fails unless `events` are exactly one event per revision `first..=last`.
#[track_caller]
pub fn assert_gap_free(events: &[PbEvent], first: i64, last: i64) {
    let revs: Vec<i64> = events.iter().map(mod_revision).collect();
    let want: Vec<i64> = (first..=last).collect();
    if revs != want {
        let missing: Vec<i64> = want.iter().filter(|r| !revs.contains(r)).copied().collect();
        let mut seen = std::collections::HashSet::new();
        let repeated: Vec<i64> = revs.iter().filter(|r| !seen.insert(**r)).copied().collect();
        panic!(
            "watch events are not exactly revisions {first}..={last}: {} events, missing {missing:?}, \
             repeated {repeated:?}, out of order: {}",
            revs.len(),
            revs.windows(2).any(|w| w[0] >= w[1])
        );
    }
}

/// Two tests of `scenario(&Server)`: on a fresh in-process server over
/// SQLite, and over PostgreSQL.
macro_rules! on_both_backends {
    ($scenario:ident => $on_sqlite:ident, $on_postgres:ident) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $on_sqlite() {
            $scenario(&crate::server::Server::sqlite().await).await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $on_postgres() {
            $scenario(&crate::server::Server::postgres().await).await;
        }
    };
}
pub(crate) use on_both_backends;

/// Two tests of `scenario(CausewayProcess)`: on a `causeway store` process
/// (with the given extra flags) over SQLite, and over PostgreSQL.
macro_rules! on_both_processes {
    ($scenario:ident($($flag:expr),*) => $on_sqlite:ident, $on_postgres:ident) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $on_sqlite() {
            let p = causeway_testkit::CausewayProcess::start_sqlite(&[$($flag),*])
                .await
                .unwrap();
            $scenario(p).await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $on_postgres() {
            let db = causeway_testkit::Postgres::database().unwrap();
            let p = causeway_testkit::CausewayProcess::start(db.dsn(), &[$($flag),*])
                .await
                .unwrap();
            // `p` is gone when the scenario returns, before `db` is dropped.
            $scenario(p).await;
        }
    };
}
pub(crate) use on_both_processes;
