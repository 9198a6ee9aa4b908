//! The proxy's Prometheus metrics: requests and their latency by verb and view, token
//! reviews by outcome, and open merged watches.

use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// `list`, `watch`, `get`, `create`, ... as the API server would name it.
    pub verb: String,
    /// `namespaces`, `tenants`, `all-namespaces`, or `pass-through`.
    pub view: String,
    pub code: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LatencyLabels {
    pub verb: String,
    pub view: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    pub outcome: String,
}

#[derive(Clone)]
pub struct ProxyMetrics {
    requests: Family<RequestLabels, Counter>,
    latency: Family<LatencyLabels, Histogram>,
    token_reviews: Family<OutcomeLabels, Counter>,
    open_watches: Gauge,
}

impl Default for ProxyMetrics {
    fn default() -> Self {
        ProxyMetrics {
            requests: Family::default(),
            latency: Family::new_with_constructor(|| Histogram::new(exponential_buckets(0.0005, 2.0, 16))),
            token_reviews: Family::default(),
            open_watches: Gauge::default(),
        }
    }
}

/// Counts one open merged watch while alive.
pub struct OpenWatch(Gauge);

impl Drop for OpenWatch {
    fn drop(&mut self) {
        self.0.dec();
    }
}

impl ProxyMetrics {
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "palisade_proxy_requests",
            "Requests served, by verb, view and status code",
            self.requests.clone(),
        );
        registry.register(
            "palisade_proxy_request_duration_seconds",
            "Time to the response head (watches: to the start of the stream), by verb and view",
            self.latency.clone(),
        );
        registry.register(
            "palisade_proxy_token_reviews",
            "Bearer tokens checked, by outcome (accepted, refused, failed, cached)",
            self.token_reviews.clone(),
        );
        registry.register(
            "palisade_proxy_open_watches",
            "Merged watches currently open",
            self.open_watches.clone(),
        );
    }

    pub fn request(&self, verb: &str, view: &str, code: u16, seconds: f64) {
        self.requests
            .get_or_create(&RequestLabels {
                verb: verb.to_string(),
                view: view.to_string(),
                code,
            })
            .inc();
        self.latency
            .get_or_create(&LatencyLabels {
                verb: verb.to_string(),
                view: view.to_string(),
            })
            .observe(seconds);
    }

    pub fn token_review(&self, outcome: &str) {
        self.token_reviews
            .get_or_create(&OutcomeLabels {
                outcome: outcome.to_string(),
            })
            .inc();
    }

    pub fn open_watch(&self) -> OpenWatch {
        self.open_watches.inc();
        OpenWatch(self.open_watches.clone())
    }
}

/// The registry the health server serves.
pub fn registry(metrics: &ProxyMetrics, watches: &palisade_view::driver::WatchMetrics) -> Arc<Registry> {
    let mut registry = Registry::default();
    metrics.register(&mut registry);
    watches.register(&mut registry);
    Arc::new(registry)
}
