//! The API server benchmark must keep working: a `--quick` run against the
//! real `causeway` binary completes and prints its whole table. No figure
//! is judged here; speed is for the benchmark itself.

#![allow(clippy::unwrap_used)]

use std::process::Command;

#[test]
fn quick_apiserver_bench_prints_every_row() {
    let causeway = causeway_testkit::causeway_bin().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_causeway-bench"))
        .args(["apiserver", "--quick", "--causeway"])
        .arg(&causeway)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "causeway-bench apiserver --quick failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(
        lines.iter().any(|l| l.starts_with("workload ")),
        "no table header:\n{stdout}"
    );
    // Each workload's rows, with their client counts.
    for (workload, clients) in [
        ("create", "1"),
        ("create", "50"),
        ("get", "1"),
        ("get", "50"),
        ("update", "1"),
        ("update", "50"),
        ("watch", "50"),
        ("list", "1"),
        ("list rv=0", "1"),
    ] {
        assert!(
            lines.iter().any(|l| {
                l.strip_prefix(workload)
                    .and_then(|rest| rest.split_whitespace().next())
                    == Some(clients)
            }),
            "no {workload} row for {clients} clients:\n{stdout}"
        );
    }
    // The rows with a goal carry a verdict.
    for workload in ["watch", "list", "list rv=0"] {
        assert!(
            lines.iter().any(|l| l.starts_with(&format!("{workload} "))
                && (l.contains(" PASS ") || l.contains(" FAIL "))),
            "no verdict on the {workload} row:\n{stdout}"
        );
    }
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("memory: 1000 ConfigMaps")),
        "no memory line:\n{stdout}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("VmRSS") && l.contains("MiB after")),
        "no memory readings:\n{stdout}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.trim_start().starts_with("SQLite files:")),
        "no SQLite file sizes:\n{stdout}"
    );
}
