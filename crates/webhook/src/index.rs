//! The webhook's view of the cluster: admission's [`Snapshot`], kept current by the
//! `palisade-view` driver and read under a lock by every review. How each kind becomes state is
//! admission's (`palisade_admission::index`), shared with `palisade check`; this module
//! only says what is watched, and reads live what a review must not wait for.

use std::sync::{Arc, RwLock, RwLockReadGuard};

use k8s_openapi::api::core::v1::{
    LimitRange, Namespace, Node, PersistentVolume, PersistentVolumeClaim, Pod, ResourceQuota, Service,
};
use k8s_openapi::api::networking::v1::{Ingress, ServiceCIDR};
use kube::runtime::watcher;
use kube::{Api, Client, Resource};
use palisade_admission::{ClusterView, Snapshot};
use palisade_api::{Tenant, labels};
use palisade_view::Index as _;
use palisade_view::driver::{Driver, IndexHolder, IndexSink, Needed, Synced, WatchMetrics, WatchTask};
use serde::de::DeserializeOwned;

#[derive(Default)]
pub struct Index {
    snapshot: RwLock<Snapshot>,
    synced: Synced,
    watch_metrics: WatchMetrics,
}

impl Index {
    /// The current view, for one review.
    pub fn read(&self) -> RwLockReadGuard<'_, Snapshot> {
        // A poisoned lock means a writer panicked mid-update; the data is still the last
        // consistent state we wrote field by field, so keep serving it.
        self.snapshot.read().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn write(&self, change: impl FnOnce(&mut Snapshot)) {
        let mut guard = self.snapshot.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        change(&mut guard);
    }

    /// Whether every watched kind has been listed once.
    pub fn is_synced(&self) -> bool {
        self.synced.is_synced()
    }

    /// The kinds not listed yet (for `/readyz`).
    pub fn pending_kinds(&self) -> Vec<String> {
        self.synced.pending()
    }

    /// Whether the watches have listed, shared with whoever waits for it.
    pub fn synced(&self) -> &Synced {
        &self.synced
    }

    pub fn watch_metrics(&self) -> &WatchMetrics {
        &self.watch_metrics
    }

    /// Makes sure the snapshot knows `name` if the cluster has it, reading it live when the
    /// watch has not delivered it yet. A failed read leaves the namespace unknown, which the
    /// rules deny: they never guess.
    pub async fn ensure_namespace(&self, client: &Client, name: &str) {
        if self.read().namespaces.contains_key(name) {
            return;
        }
        match Api::<Namespace>::all(client.clone()).get_opt(name).await {
            Ok(Some(namespace)) => self.write(|snapshot| snapshot.apply(namespace)),
            Ok(None) => {}
            Err(error) => tracing::warn!(namespace = name, %error, "cannot read a namespace the cache does not know"),
        }
    }

    /// Makes sure the snapshot knows Palisade's ResourceQuota and LimitRange of `namespace` if
    /// the cluster has them, reading them live when the watch says they are missing: a freshly
    /// set-up namespace must not wait for the watch to catch up.
    pub async fn ensure_managed_quota(&self, client: &Client, namespace: &str) {
        let (wants_quota, wants_limits) = {
            let view = self.read();
            let policy = view
                .tenant_of_namespace(namespace)
                .and_then(|tenant| view.tenant(tenant))
                .and_then(|tenant| tenant.spec.quota.clone())
                .unwrap_or_default();
            (
                !policy.namespace.is_empty() || !policy.tenant.is_empty(),
                !policy.limits.is_empty(),
            )
        };
        let missing = |kind: &str, wanted: bool| wanted && self.read().holds_managed(namespace, kind) == Some(false);
        if missing("ResourceQuota", wants_quota) {
            self.read_managed::<ResourceQuota>(client, namespace).await;
        }
        if missing("LimitRange", wants_limits) {
            self.read_managed::<LimitRange>(client, namespace).await;
        }
    }

    async fn read_managed<K>(&self, client: &Client, namespace: &str)
    where
        K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
            + Clone
            + DeserializeOwned
            + std::fmt::Debug,
        Snapshot: palisade_view::Index<K>,
    {
        let selector = format!("{}={}", labels::MANAGED_BY, labels::MANAGED_BY_VALUE);
        let params = kube::api::ListParams::default().labels(&selector);
        if let Ok(found) = Api::<K>::namespaced(client.clone(), namespace).list(&params).await {
            self.write(|snapshot| found.items.into_iter().for_each(|o| snapshot.apply(o)));
        }
    }

    /// Cluster facts some rule needs and the webhook does not have; those rules deny until
    /// they are known.
    pub fn missing_facts(&self, config: &palisade_admission::AdmissionConfig) -> Vec<String> {
        let mut missing = Vec::new();
        if config.pod_cidrs.is_empty() && self.read().node_pod_cidrs().is_empty() {
            missing.push(
                "pod CIDRs unknown (no node reports spec.podCIDRs, no --pod-cidr): tenant NetworkPolicies with ipBlocks are refused".to_string(),
            );
        }
        if config.service_cidrs.is_empty() && self.read().service_cidrs().is_empty() {
            missing.push(
                "Service CIDRs unknown (no ServiceCIDR object seen, no --service-cidr): tenant NetworkPolicies with ipBlocks are refused".to_string(),
            );
        }
        missing
    }

    /// Replaces the whole snapshot (tests, and `palisade check`-style callers): synced at once.
    pub fn replace(&self, snapshot: Snapshot) {
        self.write(|current| *current = snapshot);
        self.synced.force();
    }
}

/// The driver delivers each watched kind straight into the snapshot.
impl IndexHolder for Index {
    type State = Snapshot;
    fn change(&self, change: impl FnOnce(&mut Snapshot)) {
        self.write(change);
    }
}

/// Watches every kind the decisions need and keeps `index` current; runs until dropped or
/// aborted, and the watches stop with it.
pub async fn watch_all(client: Client, index: Arc<Index>) {
    let _watches = start_watches(&client, &index);
    std::future::pending::<()>().await;
}

/// Starts the watches; they run until the returned tasks are dropped.
pub fn start_watches(client: &Client, index: &Arc<Index>) -> Vec<WatchTask> {
    let driver = Driver::new(index.synced.clone(), index.watch_metrics.clone());
    let everything = watcher::Config::default;
    let managed = || watcher::Config::default().labels(&format!("{}={}", labels::MANAGED_BY, labels::MANAGED_BY_VALUE));
    // Tenants are kept without managedFields: half of a Tenant's size, never read.
    let tenants = |mut tenant: Tenant| {
        tenant.metadata.managed_fields = None;
        tenant
    };
    vec![
        driver.watch(
            "Tenant",
            Needed::Required,
            Api::all(client.clone()),
            everything(),
            tenants,
            IndexSink::of(index),
        ),
        driver.watch(
            "Namespace",
            Needed::Required,
            Api::<Namespace>::all(client.clone()),
            everything(),
            same,
            IndexSink::of(index),
        ),
        driver.watch(
            "PersistentVolume",
            Needed::Required,
            Api::<PersistentVolume>::all(client.clone()),
            everything(),
            same,
            IndexSink::of(index),
        ),
        driver.watch(
            "Ingress",
            Needed::Required,
            Api::<Ingress>::all(client.clone()),
            everything(),
            same,
            IndexSink::of(index),
        ),
        driver.watch(
            "Node",
            Needed::Required,
            Api::<Node>::all(client.clone()),
            everything(),
            same,
            IndexSink::of(index),
        ),
        driver.watch(
            "Pod",
            Needed::Required,
            Api::<Pod>::all(client.clone()),
            everything(),
            same,
            IndexSink::of(index),
        ),
        driver.watch(
            "PersistentVolumeClaim",
            Needed::Required,
            Api::<PersistentVolumeClaim>::all(client.clone()),
            everything(),
            same,
            IndexSink::of(index),
        ),
        driver.watch(
            "Service",
            Needed::Required,
            Api::<Service>::all(client.clone()),
            everything(),
            same,
            IndexSink::of(index),
        ),
        driver.watch(
            "ResourceQuota",
            Needed::Required,
            Api::<ResourceQuota>::all(client.clone()),
            managed(),
            same,
            IndexSink::of(index),
        ),
        driver.watch(
            "LimitRange",
            Needed::Required,
            Api::<LimitRange>::all(client.clone()),
            managed(),
            same,
            IndexSink::of(index),
        ),
        // Served since Kubernetes 1.33; on an older cluster the ipBlock rule refuses until
        // `--service-cidr` is given, which `/readyz` says (see `missing_facts`).
        driver.watch(
            "ServiceCIDR",
            Needed::Optional,
            Api::<ServiceCIDR>::all(client.clone()),
            everything(),
            same,
            IndexSink::of(index),
        ),
    ]
}

fn same<K>(object: K) -> K {
    object
}
