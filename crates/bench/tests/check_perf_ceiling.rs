//! The server of `causeway-bench check-perf-ceiling` must answer what
//! `etcdctl check perf` sends: puts with increasing revisions, an empty
//! prefix range, a delete; and turn other calls away. Started with the
//! hidden `--serve-only` flag, so no etcdctl runs and nothing is timed.

#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use etcd_client::{Client, DeleteOptions, GetOptions, Txn, TxnOp};

/// A `--serve-only` server, killed if a test fails before stopping it.
struct ServeOnly {
    child: Child,
    addr: String,
}

impl ServeOnly {
    fn start(mode: &str) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_causeway-bench"))
            .args(["check-perf-ceiling", "--serve-only", "--mode", mode])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut addr = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut addr)
            .unwrap();
        let addr = addr.trim().to_string();
        assert!(
            addr.starts_with("127.0.0.1:"),
            "not a loopback address: {addr:?}"
        );
        Self { child, addr }
    }

    /// Closes the server's stdin, which stops it, and checks that it exits
    /// cleanly.
    fn stop(mut self) {
        drop(self.child.stdin.take());
        let status = self.child.wait().unwrap();
        assert!(status.success(), "the server exited with {status}");
    }
}

impl Drop for ServeOnly {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

const PREFIX: &str = "/etcdctl-check-perf/";

async fn serves_check_perf(mode: &str) {
    let server = ServeOnly::start(mode);
    let mut c = Client::connect([server.addr.as_str()], None).await.unwrap();

    // etcdctl first checks that its prefix holds no keys.
    let empty = c
        .get(PREFIX, Some(GetOptions::new().with_prefix().with_limit(1)))
        .await
        .unwrap();
    assert!(empty.kvs().is_empty());
    assert_eq!(empty.count(), 0);
    let mut last = empty.header().unwrap().revision();

    let value = vec![b'v'; 1024];
    for i in 0..20 {
        let r = c
            .put(format!("{PREFIX}{i:0>250}"), value.clone(), None)
            .await
            .unwrap();
        let revision = r.header().unwrap().revision();
        assert!(revision > last, "revision {revision} after {last}");
        last = revision;
    }

    // Concurrent puts, which share group commits in `fdatasync` mode, each
    // get a revision of their own.
    let puts: Vec<_> = (0..50)
        .map(|i| {
            let mut c = c.clone();
            let value = value.clone();
            tokio::spawn(async move {
                c.put(format!("{PREFIX}c{i}"), value, None)
                    .await
                    .unwrap()
                    .header()
                    .unwrap()
                    .revision()
            })
        })
        .collect();
    let mut revisions = Vec::new();
    for p in puts {
        revisions.push(p.await.unwrap());
    }
    revisions.sort_unstable();
    revisions.dedup();
    assert_eq!(revisions.len(), 50, "revisions shared: {revisions:?}");
    assert!(revisions[0] > last);
    let last = revisions[49];

    // Nothing is stored: the range is still empty, at the latest revision.
    let after = c
        .get(PREFIX, Some(GetOptions::new().with_prefix()))
        .await
        .unwrap();
    assert!(after.kvs().is_empty());
    assert_eq!(after.header().unwrap().revision(), last);

    // etcdctl's cleanup.
    let deleted = c
        .delete(PREFIX, Some(DeleteOptions::new().with_prefix()))
        .await
        .unwrap();
    assert_eq!(deleted.deleted(), 0);

    match c
        .txn(Txn::new().and_then([TxnOp::put("k", "v", None)]))
        .await
    {
        Err(etcd_client::Error::GRpcStatus(s)) => {
            assert_eq!(s.code(), tonic::Code::Unimplemented, "{s:?}");
        }
        other => panic!("a txn was not turned away as unimplemented: {other:?}"),
    }

    drop(c);
    server.stop();
}

#[tokio::test]
async fn none_mode_serves_check_perf() {
    serves_check_perf("none").await;
}

#[tokio::test]
async fn fdatasync_mode_serves_check_perf() {
    serves_check_perf("fdatasync").await;
}

#[test]
fn serve_only_needs_one_mode() {
    let out = Command::new(env!("CARGO_BIN_EXE_causeway-bench"))
        .args(["check-perf-ceiling", "--serve-only", "--mode", "both"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--serve-only needs"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
