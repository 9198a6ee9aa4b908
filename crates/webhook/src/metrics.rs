//! Prometheus metrics of the webhook.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReviewLabels {
    pub kind: String,
    /// `allowed`, `denied` or `patched`.
    pub verdict: String,
}

pub struct Metrics {
    registry: Registry,
    pub reviews: Family<ReviewLabels, Counter>,
    pub review_seconds: Histogram,
    pub bad_requests: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new(&palisade_view::driver::WatchMetrics::default())
    }
}

impl Metrics {
    /// The webhook's metrics, with the watches' (`palisade_webhook_watch_*`).
    pub fn new(watch: &palisade_view::driver::WatchMetrics) -> Self {
        let mut registry = Registry::with_prefix("palisade_webhook");
        watch.register(&mut registry);
        let reviews = Family::<ReviewLabels, Counter>::default();
        let review_seconds = Histogram::new([0.00001, 0.00005, 0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05]);
        let bad_requests = Counter::default();
        registry.register(
            "reviews",
            "Admission reviews answered, by kind and verdict",
            reviews.clone(),
        );
        registry.register(
            "review_seconds",
            "Time to decide one review, JSON included",
            review_seconds.clone(),
        );
        registry.register(
            "bad_requests",
            "Requests refused as malformed (HTTP 400)",
            bad_requests.clone(),
        );
        Metrics {
            registry,
            reviews,
            review_seconds,
            bad_requests,
        }
    }

    pub fn encode(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}
