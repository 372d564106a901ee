//! Prometheus metrics of the API server, served at `/metrics`.

use std::sync::OnceLock;
use std::time::Duration;

use http::{Response, StatusCode};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::http::{Body, bytes_response};

/// The labels of a request.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    code: String,
}

/// The labels of a latency sample.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MethodLabel {
    method: String,
}

struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<MethodLabel, Histogram>,
}

fn metrics() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(|| {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::<MethodLabel, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.0005, 2.0, 16))
        });
        registry.register(
            "apiserver_request",
            "Requests answered, by HTTP method and status code",
            requests.clone(),
        );
        registry.register(
            "apiserver_request_duration_seconds",
            "Time to answer a request (to the start of the body for watches)",
            latency.clone(),
        );
        Metrics {
            registry,
            requests,
            latency,
        }
    })
}

/// Records one answered request.
pub fn observe(method: &str, code: u16, elapsed: Duration) {
    let m = metrics();
    m.requests
        .get_or_create(&RequestLabels {
            method: method.to_string(),
            code: code.to_string(),
        })
        .inc();
    m.latency
        .get_or_create(&MethodLabel {
            method: method.to_string(),
        })
        .observe(elapsed.as_secs_f64());
}

/// The `/metrics` response.
pub fn response() -> Response<Body> {
    let text = causeway_ops::encode(&metrics().registry).unwrap_or_default();
    bytes_response(
        StatusCode::OK,
        "application/openmetrics-text; version=1.0.0; charset=utf-8",
        text.into(),
    )
}
