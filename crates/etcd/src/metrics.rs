//! Prometheus metrics of the etcd server.

use std::sync::atomic::AtomicI64;
use std::time::Instant;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use tonic::Status;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: &'static str,
    code: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MethodLabels {
    method: &'static str,
}

/// Everything the server counts.
#[derive(Debug)]
pub struct Metrics {
    requests: Family<RequestLabels, Counter>,
    latency: Family<MethodLabels, Histogram>,
    /// The newest revision.
    pub revision: Gauge,
    /// The compaction revision.
    pub compact_revision: Gauge,
    /// Bytes the database takes.
    pub db_size: Gauge,
    /// Open watches.
    pub watchers: Gauge<i64, AtomicI64>,
    /// Open watch streams.
    pub watch_streams: Gauge<i64, AtomicI64>,
    /// Leases in the store.
    pub leases: Gauge,
}

impl Metrics {
    /// Creates the metrics and registers them under `causeway_store_`.
    pub fn new(registry: &mut Registry) -> Metrics {
        let m = Metrics {
            requests: Family::default(),
            latency: Family::new_with_constructor(|| {
                Histogram::new(exponential_buckets(0.000_05, 2.0, 20))
            }),
            revision: Gauge::default(),
            compact_revision: Gauge::default(),
            db_size: Gauge::default(),
            watchers: Gauge::default(),
            watch_streams: Gauge::default(),
            leases: Gauge::default(),
        };
        let r = registry.sub_registry_with_prefix("causeway_store");
        r.register(
            "requests",
            "gRPC requests by method and status code",
            m.requests.clone(),
        );
        r.register(
            "request_duration_seconds",
            "gRPC request latency",
            m.latency.clone(),
        );
        r.register("revision", "The newest revision", m.revision.clone());
        r.register(
            "compact_revision",
            "The revision history is compacted up to",
            m.compact_revision.clone(),
        );
        r.register(
            "db_size_bytes",
            "Bytes the database takes",
            m.db_size.clone(),
        );
        r.register("watchers", "Open watches", m.watchers.clone());
        r.register(
            "watch_streams",
            "Open watch streams",
            m.watch_streams.clone(),
        );
        r.register("leases", "Leases in the store", m.leases.clone());
        m
    }

    /// Records one finished unary request.
    pub(crate) fn observe<T>(
        &self,
        method: &'static str,
        started: Instant,
        result: &Result<T, Status>,
    ) {
        let code = match result {
            Ok(_) => "OK",
            Err(s) => code_name(s.code()),
        };
        self.requests
            .get_or_create(&RequestLabels { method, code })
            .inc();
        self.latency
            .get_or_create(&MethodLabels { method })
            .observe(started.elapsed().as_secs_f64());
    }
}

fn code_name(code: tonic::Code) -> &'static str {
    use tonic::Code::*;
    match code {
        Ok => "OK",
        Cancelled => "Canceled",
        Unknown => "Unknown",
        InvalidArgument => "InvalidArgument",
        DeadlineExceeded => "DeadlineExceeded",
        NotFound => "NotFound",
        AlreadyExists => "AlreadyExists",
        PermissionDenied => "PermissionDenied",
        ResourceExhausted => "ResourceExhausted",
        FailedPrecondition => "FailedPrecondition",
        Aborted => "Aborted",
        OutOfRange => "OutOfRange",
        Unimplemented => "Unimplemented",
        Internal => "Internal",
        Unavailable => "Unavailable",
        DataLoss => "DataLoss",
        Unauthenticated => "Unauthenticated",
    }
}
