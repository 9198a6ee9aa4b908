//! Prometheus metrics of the controller, and the tower layer that counts every request the
//! controller's client sends (the figure that shows a request storm, or its absence).

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabels {
    /// `ok` or `error`.
    pub result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StepLabels {
    /// The step of a reconcile that failed: see [`Step`].
    pub step: String,
}

/// A step of a reconcile that can fail, named after what failed.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, PartialOrd, Ord)]
pub enum Step {
    /// The Tenant is invalid (or lacks a uid): nothing applied or pruned.
    Validate,
    /// Creating, reading or applying one of the tenant's namespaces.
    Namespace,
    /// Applying an object.
    Apply,
    /// Deleting an object no longer desired.
    Prune,
    /// Writing the Tenant's status.
    Status,
}

impl Step {
    pub fn as_str(self) -> &'static str {
        match self {
            Step::Validate => "validate",
            Step::Namespace => "namespace",
            Step::Apply => "apply",
            Step::Prune => "prune",
            Step::Status => "status",
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct VerbLabels {
    /// `get`, `list`, `watch`, `apply`, `delete`, ... as the API server would name it.
    pub verb: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TenantLabels {
    pub tenant: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TenantResourceLabels {
    pub tenant: String,
    /// A ResourceQuota resource name: `requests.cpu`, `pods`, `count/deployments.apps`, ...
    pub resource: String,
}

/// A gauge holding a fractional value (CPU in cores, memory in bytes).
pub type FloatGauge = Gauge<f64, AtomicU64>;

pub struct Metrics {
    registry: Registry,
    pub reconciles: Family<ResultLabels, Counter>,
    pub reconcile_seconds: Histogram,
    pub reconcile_failures: Family<StepLabels, Counter>,
    pub api_requests: Family<VerbLabels, Counter>,
    pub objects_applied: Counter,
    pub objects_pruned: Counter,
    pub tenants: Gauge,
    pub tenant_namespaces: Family<TenantLabels, Gauge>,
    pub tenant_quota_used: Family<TenantResourceLabels, FloatGauge>,
    pub tenant_quota_hard: Family<TenantResourceLabels, FloatGauge>,
    pub cached_objects: Gauge,
    pub leader: Gauge,
    /// Per-kind metrics of the watches (`palisade_controller_watch_*`).
    pub watch: palisade_view::driver::WatchMetrics,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("palisade_controller");
        let metrics = Metrics {
            reconciles: Family::default(),
            reconcile_seconds: Histogram::new([0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 30.0]),
            reconcile_failures: Family::default(),
            api_requests: Family::default(),
            objects_applied: Counter::default(),
            objects_pruned: Counter::default(),
            tenants: Gauge::default(),
            tenant_namespaces: Family::default(),
            tenant_quota_used: Family::default(),
            tenant_quota_hard: Family::default(),
            cached_objects: Gauge::default(),
            leader: Gauge::default(),
            watch: palisade_view::driver::WatchMetrics::default(),
            registry: Registry::default(),
        };
        metrics.watch.register(&mut registry);
        registry.register("reconciles", "Tenant reconciles, by result", metrics.reconciles.clone());
        registry.register(
            "reconcile_seconds",
            "Time to reconcile one tenant",
            metrics.reconcile_seconds.clone(),
        );
        registry.register(
            "reconcile_failures",
            "Reconciles in which a step failed, by step (a reconcile counts once for each step that failed in it)",
            metrics.reconcile_failures.clone(),
        );
        registry.register(
            "api_requests",
            "Requests sent to the API server, by verb",
            metrics.api_requests.clone(),
        );
        registry.register(
            "objects_applied",
            "Objects written by server-side apply",
            metrics.objects_applied.clone(),
        );
        registry.register(
            "objects_pruned",
            "Managed objects deleted because no tenant wants them any more",
            metrics.objects_pruned.clone(),
        );
        registry.register("tenants", "Tenants known to the controller", metrics.tenants.clone());
        registry.register(
            "tenant_namespaces",
            "Namespaces of each tenant",
            metrics.tenant_namespaces.clone(),
        );
        registry.register(
            "tenant_quota_used",
            "Usage of each resource limited tenant-wide (spec.quota.tenant), summed over the tenant's namespaces, in units (cores, bytes, objects)",
            metrics.tenant_quota_used.clone(),
        );
        registry.register(
            "tenant_quota_hard",
            "Tenant-wide limit of each resource (spec.quota.tenant), in units (cores, bytes, objects)",
            metrics.tenant_quota_hard.clone(),
        );
        registry.register(
            "cached_objects",
            "Managed objects the watches track",
            metrics.cached_objects.clone(),
        );
        registry.register(
            "leader",
            "1 while this replica holds the leader Lease",
            metrics.leader.clone(),
        );
        Metrics { registry, ..metrics }
    }
}

impl Metrics {
    /// Sets the tenant-wide quota gauges of `tenant`: hard for every limit of `hard`, used for
    /// the same resources (0 when no namespace reports it); resources no longer limited are removed.
    pub fn set_tenant_quota(
        &self,
        tenant: &str,
        hard: &std::collections::BTreeMap<String, k8s_openapi::apimachinery::pkg::api::resource::Quantity>,
        used: &std::collections::BTreeMap<String, k8s_openapi::apimachinery::pkg::api::resource::Quantity>,
        previously: &[String],
    ) {
        let units = |text: &str| palisade_tenancy::quantity::parse(text).map(|a| a.0 as f64 / 1e9);
        for resource in previously.iter().filter(|r| !hard.contains_key(*r)) {
            let labels = TenantResourceLabels {
                tenant: tenant.to_string(),
                resource: resource.clone(),
            };
            self.tenant_quota_hard.remove(&labels);
            self.tenant_quota_used.remove(&labels);
        }
        for (resource, limit) in hard {
            let labels = TenantResourceLabels {
                tenant: tenant.to_string(),
                resource: resource.clone(),
            };
            if let Some(limit) = units(&limit.0) {
                self.tenant_quota_hard.get_or_create(&labels).set(limit);
            }
            let used = used.get(resource).and_then(|q| units(&q.0)).unwrap_or(0.0);
            self.tenant_quota_used.get_or_create(&labels).set(used);
        }
    }

    /// Counts one reconcile in which `step` failed.
    pub fn count_failure(&self, step: Step) {
        self.reconcile_failures
            .get_or_create(&StepLabels {
                step: step.as_str().to_string(),
            })
            .inc();
    }

    pub fn encode(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }

    /// Counts one request of the controller's client.
    pub fn count_request<B>(&self, request: &http::Request<B>) {
        // A PATCH with the apply content type counts as a patch: kube does not tell them apart in
        // the URL.
        let verb = palisade_runtime::verb_of(request.method(), request.uri().query().unwrap_or_default());
        self.api_requests
            .get_or_create(&VerbLabels { verb: verb.to_string() })
            .inc();
    }
}

/// A client whose every request is counted in `metrics`.
pub fn counting_client(config: kube::Config, metrics: &Arc<Metrics>) -> Result<kube::Client, kube::Error> {
    let metrics = metrics.clone();
    let count = tower::util::MapRequestLayer::new(move |request: http::Request<kube::client::Body>| {
        metrics.count_request(&request);
        request
    });
    let builder = kube::client::ClientBuilder::try_from(config)?;
    Ok(builder.with_layer(&count).build())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_quota_gauges_show_used_and_hard_per_resource() {
        use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
        let metrics = Metrics::default();
        let map = |pairs: &[(&str, &str)]| -> std::collections::BTreeMap<String, Quantity> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), Quantity(v.to_string())))
                .collect()
        };
        metrics.set_tenant_quota(
            "payments",
            &map(&[("requests.cpu", "8"), ("pods", "50"), ("requests.memory", "1Gi")]),
            &map(&[("requests.cpu", "7500m"), ("pods", "12")]),
            &[],
        );
        let text = metrics.encode();
        for line in [
            "palisade_controller_tenant_quota_hard{tenant=\"payments\",resource=\"requests.cpu\"} 8.0",
            "palisade_controller_tenant_quota_used{tenant=\"payments\",resource=\"requests.cpu\"} 7.5",
            "palisade_controller_tenant_quota_used{tenant=\"payments\",resource=\"pods\"} 12.0",
            "palisade_controller_tenant_quota_hard{tenant=\"payments\",resource=\"requests.memory\"} 1073741824.0",
            "palisade_controller_tenant_quota_used{tenant=\"payments\",resource=\"requests.memory\"} 0.0",
        ] {
            assert!(text.contains(line), "missing {line} in\n{text}");
        }
        // A limit removed from the Tenant disappears from the exposition.
        metrics.set_tenant_quota(
            "payments",
            &map(&[("pods", "50")]),
            &map(&[("pods", "12")]),
            &[
                "requests.cpu".to_string(),
                "pods".to_string(),
                "requests.memory".to_string(),
            ],
        );
        let text = metrics.encode();
        assert!(!text.contains("resource=\"requests.cpu\""), "{text}");
        assert!(
            text.contains("palisade_controller_tenant_quota_hard{tenant=\"payments\",resource=\"pods\"} 50.0"),
            "{text}"
        );
    }

    #[test]
    fn failures_are_counted_by_the_step_that_failed() {
        let metrics = Metrics::default();
        metrics.count_failure(Step::Apply);
        metrics.count_failure(Step::Apply);
        metrics.count_failure(Step::Namespace);
        let text = metrics.encode();
        for line in [
            "palisade_controller_reconcile_failures_total{step=\"apply\"} 2",
            "palisade_controller_reconcile_failures_total{step=\"namespace\"} 1",
        ] {
            assert!(text.contains(line), "missing {line} in\n{text}");
        }
    }

    #[test]
    fn counted_requests_show_in_the_exposition() {
        let metrics = Metrics::default();
        let request = http::Request::get("/api/v1/namespaces?watch=true").body(()).unwrap();
        metrics.count_request(&request);
        metrics.count_request(&request);
        let text = metrics.encode();
        assert!(
            text.contains("palisade_controller_api_requests_total{verb=\"watch\"} 2"),
            "{text}"
        );
    }
}
