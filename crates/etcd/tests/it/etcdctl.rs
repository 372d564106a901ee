//! The real `etcdctl` (API v3) run against two endpoints, command by
//! command, with outputs compared after normalising what legitimately
//! differs between two servers: cluster, member and lease IDs, addresses,
//! raft terms and indexes, database sizes and timings.
//!
//! Both endpoints must start fresh (revision 1, no keys).

use std::process::Stdio;
use std::time::{Duration, Instant};

use regex::Regex;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::Command;

/// etcdctl's own timeout; the test's is a little longer.
const COMMAND_TIMEOUT: &str = "--command-timeout=10s";

/// How `etcdctl watch` is run: it never exits by itself, so its output is
/// collected until it has been quiet for a while, then it is killed.
const WATCH_QUIET: Duration = Duration::from_millis(1500);
/// How long to wait for a watch's first line (or its exit, for a watch that
/// is canceled at once): starting etcdctl alone can take seconds on a busy
/// machine, and a watch killed while it still starts up looks like a hang.
const WATCH_FIRST: Duration = Duration::from_secs(6);
const WATCH_LIMIT: Duration = Duration::from_secs(15);

#[derive(Debug, Clone)]
enum Step {
    /// Arguments, split on spaces; `{leaseN}` is replaced by the N-th lease
    /// ID that side granted. `stdin` is fed to the command.
    Run {
        args: &'static str,
        stdin: Option<&'static str>,
    },
    /// `etcdctl watch <args>` in the background while `then` runs; the
    /// watch output is compared after the commands' outputs.
    Watch {
        args: &'static str,
        then: Vec<&'static str>,
    },
    Sleep(Duration),
}

fn run(args: &'static str) -> Step {
    Step::Run { args, stdin: None }
}

fn txn(args: &'static str, stdin: &'static str) -> Step {
    Step::Run {
        args,
        stdin: Some(stdin),
    }
}

fn script() -> Vec<Step> {
    let mut s = vec![
        // put
        run("put k1 v1"),
        run("put k1 v2 --prev-kv"),
        run("put k2 v2"),
        run("put k3 v3"),
        run("put a/1 x"),
        run("put a/2 y"),
        run("put b z"),
        run("put k2 v2b --prev-kv -w json"),
        run("put k3 v3 -w fields"),
        run("put k2 --ignore-value"),
        run("put nokey --ignore-value"),
        run("put k2 v --ignore-value"),
        run("put k6 v6 --lease=1234abcd"),
        // get
        run("get k1"),
        run("get k --prefix"),
        run("get k1 --from-key"),
        run("get k --prefix --limit 2"),
        run("get k --prefix --limit 2 -w json"),
        run("get k1 --rev 2"),
        run("get k1 --rev 1"),
        run("get k1 --rev 100"),
        run("get k1 k3"),
        run("get k --prefix --sort-by=MODIFY --order=DESCEND"),
        run("get k --prefix --sort-by=VALUE --order=ASCEND"),
        run("get k --prefix --sort-by=VERSION --order=DESCEND"),
        run("get k --prefix --sort-by=CREATE --order=ASCEND"),
        run("get k --prefix --sort-by=KEY --order=DESCEND"),
        run("get k --prefix --keys-only"),
        run("get k --prefix --count-only -w fields"),
        run("get k --prefix --count-only"),
        run("get k --prefix --print-value-only"),
        run("get k --prefix -w json"),
        run("get k --prefix -w fields"),
        run("get a --prefix --keys-only --limit 1 -w json"),
        run("get k1 --consistency=s"),
        run("get nothing"),
        run("get nothing -w json"),
        // lease
        run("lease grant 600"),
        run("lease grant 3600 -w json"),
        run("put k4 v4 --lease={lease0}"),
        run("put k5 v5 --lease={lease0}"),
        run("get k4 -w json"),
        run("lease timetolive {lease0}"),
        run("lease timetolive {lease0} --keys"),
        run("lease timetolive {lease0} --keys -w json"),
        run("lease list"),
        run("lease list -w json"),
        run("lease keep-alive --once {lease0}"),
        run("put k4 v4b --ignore-lease"),
        run("put k4 v4c --ignore-lease --lease={lease1}"),
        run("get k4 -w json"),
        run("lease revoke {lease0}"),
        run("get k --prefix"),
        run("lease timetolive {lease0}"),
        run("lease revoke {lease0}"),
        run("lease keep-alive --once {lease0}"),
        // etcd raises TTLs below its minimum (2 s here) to the minimum.
        run("lease grant 1"),
        run("put exp v --lease={lease2}"),
        Step::Sleep(Duration::from_secs(5)),
        run("get exp"),
        run("lease timetolive {lease2}"),
        // delete
        run("del k1 --prev-kv"),
        run("del a --prefix"),
        run("del a --prefix"),
        run("del nonexist"),
        run("put m1 1"),
        run("put m2 2"),
        run("del m --from-key --prev-kv -w json"),
        run("put k1 v1"),
        run("put k2 v2"),
        run("put k3 v3"),
        run("del k1 k3"),
        // txn
        txn(
            "txn",
            "mod(\"k2\") > \"0\"\nvalue(\"k2\") = \"v2\"\n\nput k1 \"v-success\"\nget k1\n\nput k1 \"v-failure\"\n\n",
        ),
        txn(
            "txn",
            "version(\"k1\") = \"5\"\n\nput k1 \"v-success\"\n\nput k1 \"v-failure\"\ndel k2\nget k --prefix\n\n",
        ),
        txn(
            "txn -w json",
            "create(\"k1\") < \"1000\"\n\nget k1\nput k7 seven\n\n\n",
        ),
        txn(
            "txn --interactive",
            "value(\"nokey\") != \"x\"\n\nget k1\n\ndel k1\n\n",
        ),
        txn("txn", "\nput k8 a\ndel k8\n\n\n"),
        txn("txn", "\nput k8 a\nput k8 b\n\n\n"),
        txn("txn", "\nput k8 a\ndel k --prefix\n\n\n"),
        txn("txn", "\n\n\n"),
        txn("txn", "mod(\"k1\") > \"1000\"\n\n\nget k1 --rev=2\n\n"),
        // watch
        Step::Watch {
            args: "k --prefix --rev 1 --prev-kv",
            then: vec![],
        },
        Step::Watch {
            args: "k1 --rev 1",
            then: vec![],
        },
        Step::Watch {
            args: "w --prefix --rev {next}",
            then: vec!["put w1 1", "put w2 2", "del w1", "put x 1", "put w2 3"],
        },
        Step::Watch {
            args: "w2 --rev {next} --prev-kv -w json",
            then: vec!["put w2 4", "del w2"],
        },
        // compaction
        run("compaction 5"),
        run("compaction --physical 8"),
        run("compaction 8"),
        run("compaction 1000"),
        run("get k1 --rev 3"),
        run("get k --prefix --rev 8"),
        Step::Watch {
            args: "k --prefix --rev 2",
            then: vec![],
        },
        // maintenance and cluster
        run("endpoint status"),
        run("endpoint status -w json"),
        run("endpoint health"),
        run("endpoint health -w json"),
        run("member list"),
        run("member list -w json"),
    ];
    s.shrink_to_fit();
    s
}

/// What one command printed, normalised.
#[derive(Debug, Clone, PartialEq)]
struct Output {
    status: Option<i32>,
    stdout: String,
    stderr: String,
}

/// One endpoint and what was learned from its outputs.
struct Side {
    endpoint: String,
    /// Lease IDs as etcdctl prints them (hex), in the order granted.
    leases: Vec<String>,
    rules: Rules,
}

impl Side {
    fn new(endpoint: &str) -> Self {
        Self {
            endpoint: endpoint.to_string(),
            leases: Vec::new(),
            rules: Rules::new(),
        }
    }

    /// Fills in `{leaseN}` and `{next}` for this side.
    fn args(&self, template: &str, next: i64) -> Vec<String> {
        template
            .split(' ')
            .map(|a| {
                let mut a = a.replace("{next}", &next.to_string());
                for (i, l) in self.leases.iter().enumerate() {
                    a = a.replace(&format!("{{lease{i}}}"), l);
                }
                a
            })
            .collect()
    }

    fn command(&self, args: &[String]) -> Command {
        let mut c = Command::new("etcdctl");
        c.env("ETCDCTL_API", "3")
            .arg(format!("--endpoints={}", self.endpoint))
            .arg(COMMAND_TIMEOUT)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        c
    }

    async fn run(&mut self, args: &[String], stdin: Option<&str>) -> Output {
        let mut child = self
            .command(args)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run etcdctl (is etcd-client installed?): {e}"));
        let mut input = child.stdin.take().unwrap();
        if let Some(text) = stdin {
            input.write_all(text.as_bytes()).await.unwrap();
        }
        drop(input);
        let out = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
            .await
            .unwrap_or_else(|_| panic!("etcdctl {args:?} did not finish in 30 s"))
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        self.learn(&stdout);
        self.normalise(
            out.status.code(),
            &stdout,
            &String::from_utf8_lossy(&out.stderr),
        )
    }

    /// Starts `etcdctl watch`, runs `then` once it is running, and returns
    /// the watch's output and each command's output.
    async fn watch(&mut self, args: &[String], then: &[Vec<String>]) -> (Output, Vec<Output>) {
        let mut full = vec!["watch".to_string()];
        full.extend_from_slice(args);
        let mut child = self
            .command(&full)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run etcdctl (is etcd-client installed?): {e}"));
        let stdout = child.stdout.take().unwrap();
        let stderr = child.stderr.take().unwrap();
        // Commands that follow read from `--rev {next}`, so the watch sees
        // them however long it takes to start.
        let mut outs = Vec::new();
        for cmd in then {
            outs.push(self.run(cmd, None).await);
        }
        let mut lines = BufReader::new(stdout).lines();
        let mut collected = String::new();
        let start = Instant::now();
        let mut exited = false;
        while start.elapsed() < WATCH_LIMIT {
            let quiet = if collected.is_empty() {
                WATCH_FIRST
            } else {
                WATCH_QUIET
            };
            match tokio::time::timeout(quiet, lines.next_line()).await {
                Ok(Ok(Some(line))) => {
                    collected.push_str(&line);
                    collected.push('\n');
                }
                // EOF: the watch ended by itself (e.g. compacted).
                Ok(_) => {
                    exited = true;
                    break;
                }
                Err(_) => break,
            }
        }
        let status = if exited {
            child.wait().await.ok().and_then(|s| s.code())
        } else {
            let _ = child.kill().await;
            None
        };
        let mut err = String::new();
        let mut err_lines = BufReader::new(stderr).lines();
        while let Ok(Ok(Some(line))) =
            tokio::time::timeout(Duration::from_secs(1), err_lines.next_line()).await
        {
            err.push_str(&line);
            err.push('\n');
        }
        if args.iter().any(|a| a == "json") {
            collected = split_watch_batches(&collected);
        }
        (self.normalise(status, &collected, &err), outs)
    }

    fn learn(&mut self, stdout: &str) {
        for c in self.rules.lease_granted.captures_iter(stdout) {
            self.leases.push(c[1].to_string());
        }
        for c in self.rules.lease_granted_json.captures_iter(stdout) {
            if let Ok(id) = c[1].parse::<i64>() {
                self.leases.push(format!("{id:x}"));
            }
        }
    }

    fn normalise(&self, status: Option<i32>, stdout: &str, stderr: &str) -> Output {
        Output {
            status,
            stdout: self.normalise_text(stdout),
            stderr: self.normalise_text(&self.rules.stderr(stderr)),
        }
    }

    fn normalise_text(&self, text: &str) -> String {
        let mut t = text.replace(&self.endpoint, "<endpoint>");
        // Longest first, so that no ID is replaced inside a longer one.
        let mut ids: Vec<(usize, &String)> = self.leases.iter().enumerate().collect();
        ids.sort_by_key(|(_, l)| std::cmp::Reverse(l.len()));
        for (i, hex) in ids {
            if let Ok(dec) = i64::from_str_radix(hex, 16) {
                t = t.replace(&dec.to_string(), &format!("<lease{i}>"));
                // `lease list` zero-pads IDs to 16 digits, `lease grant`
                // does not.
                t = t.replace(&format!("{dec:016x}"), &format!("<lease{i}>"));
            }
            t = t.replace(hex.as_str(), &format!("<lease{i}>"));
        }
        self.rules.apply(&t)
    }
}

/// The regular expressions of the normalisation.
struct Rules {
    lease_granted: Regex,
    lease_granted_json: Regex,
    replace: Vec<(Regex, &'static str)>,
    log_line: Regex,
    attached_keys: Regex,
    json_list: Regex,
}

impl Rules {
    fn new() -> Self {
        let r = |p: &str| Regex::new(p).unwrap();
        Self {
            lease_granted: r(r"lease ([0-9a-f]+) granted with TTL\(\d+s\)\n"),
            lease_granted_json: r(r#""ID":(\d+),"TTL""#),
            replace: vec![
                (r(r#""cluster_id":\d+"#), r#""cluster_id":<cluster>"#),
                (r(r#""member_id":\d+"#), r#""member_id":<member>"#),
                (r(r#""raft_term":\d+"#), r#""raft_term":<term>"#),
                (r(r#""ClusterID" : \d+"#), r#""ClusterID" : <cluster>"#),
                (r(r#""MemberID" : \d+"#), r#""MemberID" : <member>"#),
                (r(r#""RaftTerm" : \d+"#), r#""RaftTerm" : <term>"#),
                // member list -w json and endpoint status -w json.
                (r(r#""ID":\d+"#), r#""ID":<member>"#),
                (r(r#""leader":\d+"#), r#""leader":<member>"#),
                (
                    r(r#""(dbSize|dbSizeInUse|raftIndex|raftTerm|raftAppliedIndex)":\d+"#),
                    r#""$1":<n>"#,
                ),
                (r(r#""version":"(\d+\.\d+)\.\d+""#), r#""version":"$1.x""#),
                (r(r#""name":"[^"]*""#), r#""name":<name>"#),
                // causeway has no raft peers, so it has no peer URLs, and
                // an empty list leaves the field out of the JSON.
                (r(r#""peerURLs":\[[^\]]*\],?"#), ""),
                (r(r#""took":"[^"]*""#), r#""took":<duration>"#),
                // endpoint status: endpoint, ID, version, DB size, is
                // leader, is learner, raft term, raft index, applied index,
                // errors.
                (
                    r(
                        r"(?m)^(<endpoint>), [0-9a-f]+, (\d+\.\d+)\.\d+, [^,]+, (true|false), (true|false), \d+, \d+, \d+, ",
                    ),
                    "$1, <member>, $2.x, <size>, $3, $4, <term>, <index>, <applied>, ",
                ),
                // member list: ID, status, name, peer URLs, client URLs,
                // is learner.
                (
                    r(r"(?m)^[0-9a-f]+, (started|unstarted), [^,]*, [^,]*, "),
                    "<member>, $1, <name>, <peers>, ",
                ),
                (r(r"took = [0-9.]+[a-zµ]*s"), "took = <duration>"),
                // A remaining TTL is read at a different moment on each side.
                (r(r"remaining\(\d+s\)"), "remaining(<ttl>)"),
                (r(r#""ttl":\d+"#), r#""ttl":<ttl>"#),
            ],
            log_line: r(r"^\{.*\}$"),
            attached_keys: r(r"(attached keys\(\[)([^\]]*)(\]\))"),
            json_list: r(r#"("keys":\[|"leases":\[)([^\]]*)(\])"#),
        }
    }

    fn apply(&self, text: &str) -> String {
        let mut t = text.to_string();
        for (re, with) in &self.replace {
            t = re.replace_all(&t, *with).into_owned();
        }
        // A lease's keys and the lease list come from Go maps in etcd, in
        // random order.
        for (re, sep) in [(&self.attached_keys, " "), (&self.json_list, ",")] {
            t = re
                .replace_all(&t, |c: &regex::Captures<'_>| {
                    let mut items: Vec<&str> = c[2].split(sep).collect();
                    items.sort_unstable();
                    format!("{}{}{}", &c[1], items.join(sep), &c[3])
                })
                .into_owned();
        }
        if t.starts_with("found ") {
            let mut lines: Vec<&str> = t.lines().collect();
            lines[1..].sort_unstable();
            t = lines.join("\n") + "\n";
        }
        t
    }

    /// etcdctl's client library logs retries as JSON lines with
    /// timestamps and pointers; only the error in them is comparable.
    fn stderr(&self, text: &str) -> String {
        text.lines()
            .map(|line| {
                if !self.log_line.is_match(line) {
                    return line.to_string();
                }
                match serde_json::from_str::<serde_json::Value>(line) {
                    Ok(v) => format!(
                        "log: {} {}",
                        v["msg"].as_str().unwrap_or_default(),
                        v["error"].as_str().unwrap_or_default()
                    ),
                    Err(_) => line.to_string(),
                }
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// `etcdctl watch -w json` prints one line per watch response. Which
/// events share a response depends on whether the watch had caught up when
/// they were written, a race with the commands that write them; so each
/// event goes on its own line, without the response's header.
fn split_watch_batches(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
            out.push_str(line);
            out.push('\n');
            continue;
        };
        if let Some(events) = v["Events"].as_array() {
            for e in events {
                out.push_str(&format!("event {e}\n"));
            }
        }
        let control = serde_json::json!({
            "CompactRevision": v["CompactRevision"],
            "Canceled": v["Canceled"],
            "Created": v["Created"],
        });
        if v["CompactRevision"] != 0 || v["Canceled"] == true || v["Created"] == true {
            out.push_str(&format!("control {control}\n"));
        }
    }
    out
}

async fn current_revision(endpoint: &str) -> i64 {
    let mut c = etcd_client::Client::connect([endpoint], None)
        .await
        .unwrap();
    let r = c.get("\0", None).await.unwrap();
    r.header().map(|h| h.revision()).unwrap_or_default()
}

fn mismatch(step: usize, what: &str, x: &Output, y: &Output, log: &[String]) -> String {
    format!(
        "etcdctl mismatch at step {step}: {what}\n--- reference:\nexit {:?}\nstdout:\n{}\nstderr:\n{}\n--- candidate:\nexit {:?}\nstdout:\n{}\nstderr:\n{}\n--- earlier steps:\n{}",
        x.status,
        x.stdout,
        x.stderr,
        y.status,
        y.stdout,
        y.stderr,
        log.join("\n")
    )
}

/// Runs the etcdctl script against `reference` (a real etcd) and
/// `candidate`, both fresh, and panics at the first difference. Then runs
/// `etcdctl check perf --load=s` on both (a minute) and compares what it
/// reports, except its measurements.
pub async fn etcdctl_against(reference: &str, candidate: &str) {
    if let Err(report) = try_etcdctl(reference, candidate, true).await {
        panic!("{report}");
    }
}

async fn try_etcdctl(reference: &str, candidate: &str, perf: bool) -> Result<(), String> {
    let mut x = Side::new(reference);
    let mut y = Side::new(candidate);
    let mut log = Vec::new();
    for (i, step) in script().into_iter().enumerate() {
        match &step {
            Step::Run { args, stdin } => {
                let next = current_revision(reference).await + 1;
                let (ax, ay) = (x.args(args, next), y.args(args, next));
                let (ox, oy) = tokio::join!(x.run(&ax, *stdin), y.run(&ay, *stdin));
                if ox != oy {
                    return Err(mismatch(i, &format!("etcdctl {args}"), &ox, &oy, &log));
                }
                log.push(format!("{i}: etcdctl {args} -> {ox:?}"));
            }
            Step::Watch { args, then } => {
                let next = current_revision(reference).await + 1;
                let (ax, ay) = (x.args(args, next), y.args(args, next));
                let tx: Vec<Vec<String>> = then.iter().map(|t| x.args(t, next)).collect();
                let ty: Vec<Vec<String>> = then.iter().map(|t| y.args(t, next)).collect();
                // One side at a time: the commands write, and the writes
                // must land on each side in the same order.
                let (wx, cx) = x.watch(&ax, &tx).await;
                let (wy, cy) = y.watch(&ay, &ty).await;
                for (j, (ox, oy)) in cx.iter().zip(&cy).enumerate() {
                    if ox != oy {
                        return Err(mismatch(i, &format!("etcdctl {}", then[j]), ox, oy, &log));
                    }
                }
                if wx != wy {
                    return Err(mismatch(
                        i,
                        &format!("etcdctl watch {args}"),
                        &wx,
                        &wy,
                        &log,
                    ));
                }
                log.push(format!("{i}: etcdctl watch {args} -> {wx:?}"));
            }
            Step::Sleep(d) => tokio::time::sleep(*d).await,
        }
    }
    if perf {
        check_perf(&x, &y).await?;
    }
    Ok(())
}

async fn check_perf_side(side: &Side) -> (Output, String) {
    let args: Vec<String> = ["check", "perf", "--load=s"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let out = side
        .command(&args)
        .output()
        .await
        .unwrap_or_else(|e| panic!("cannot run etcdctl: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // The progress bar redraws itself with carriage returns, and the
    // measurements are of this machine: keep which checks ran and what went
    // wrong, not how fast it was.
    // A request that was too slow is reported without the "FAIL: " that
    // the other misses carry, so the verdict word is optional.
    let measured = Regex::new(r"(?:(?:PASS|FAIL): )?(Throughput|Slowest request|Stddev)").unwrap();
    let keep = |text: &str| -> String {
        let mut kept: Vec<String> = Vec::new();
        for segment in text.split(['\n', '\r']) {
            if let Some(c) = measured.captures(segment) {
                kept.push(format!("<verdict>: {} <measured>", &c[1]));
            } else if segment.contains("ERROR")
                || segment.contains("Error")
                || segment.contains("too many errors")
            {
                kept.push(segment.trim().to_string());
            }
        }
        kept.join("\n")
    };
    let mut o = side.normalise(None, &keep(&stdout), &keep(&stderr));
    // check perf exits 1 when a measurement misses its target, which on a
    // shared test machine says nothing about the server; any other exit (an
    // error from the server) must match.
    o.status = out.status.code().map(|c| if c == 1 { 0 } else { c });
    let raw = format!("{stdout}\n{stderr}").replace('\r', "\n");
    let tail: String = raw
        .lines()
        .filter(|l| !l.contains('%'))
        .collect::<Vec<_>>()
        .join("\n");
    (o, tail)
}

async fn check_perf(x: &Side, y: &Side) -> Result<(), String> {
    let ((ox, rx), (oy, ry)) = tokio::join!(check_perf_side(x), check_perf_side(y));
    if !ox.stdout.contains("<verdict>: Throughput") {
        return Err(format!("check perf on the reference did not finish:\n{rx}"));
    }
    if ox != oy {
        return Err(format!(
            "{}\n--- raw reference output:\n{rx}\n--- raw candidate output:\n{ry}",
            mismatch(usize::MAX, "etcdctl check perf --load=s", &ox, &oy, &[])
        ));
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcdctl_harness_agrees_etcd_vs_etcd() {
    let x = causeway_testkit::Etcd::start().await.unwrap();
    let y = causeway_testkit::Etcd::start().await.unwrap();
    etcdctl_against(&x.endpoint(), &y.endpoint()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcdctl_harness_reports_a_difference() {
    let x = causeway_testkit::Etcd::start().await.unwrap();
    let y = causeway_testkit::Etcd::start().await.unwrap();
    // Same revision, different value: the first read of k1's history shows it.
    let mut c = etcd_client::Client::connect([y.endpoint()], None)
        .await
        .unwrap();
    c.put("zz", "only on the candidate", None).await.unwrap();
    let mut c = etcd_client::Client::connect([x.endpoint()], None)
        .await
        .unwrap();
    c.put("zz", "only on the reference", None).await.unwrap();
    let report = try_etcdctl(&x.endpoint(), &y.endpoint(), false)
        .await
        .expect_err("a difference must be reported");
    assert!(report.contains("etcdctl mismatch at step"), "{report}");
}
