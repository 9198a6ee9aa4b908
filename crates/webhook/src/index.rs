//! The webhook's view of the cluster: a [`Snapshot`] kept current by watches, read under a lock
//! by every review. Each kind has apply / delete / reset, so a watch restart replaces that
//! kind's contents atomically.

use std::fmt::Debug;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{RwLock, RwLockReadGuard};

use futures::StreamExt;
use k8s_openapi::api::core::v1::{
    LimitRange, Namespace, Node, PersistentVolume, PersistentVolumeClaim, Pod, ResourceQuota, Service,
};
use k8s_openapi::api::networking::v1::Ingress;
use kube::runtime::watcher::{self, Event};
use kube::{Api, Client, Resource};
use palisade_admission::{Snapshot, SnapshotEntry};
use palisade_api::{Tenant, labels};
use serde::de::DeserializeOwned;

/// The kinds the webhook watches.
const WATCHED_KINDS: usize = 10;

#[derive(Default)]
pub struct Index {
    snapshot: RwLock<Snapshot>,
    synced_kinds: AtomicUsize,
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
        self.synced_kinds.load(Ordering::Acquire) >= WATCHED_KINDS
    }

    /// Makes sure the snapshot knows `name` if the cluster has it, reading it live when the
    /// watch has not delivered it yet. A failed read leaves the namespace unknown, which the
    /// rules deny: they never guess.
    pub async fn ensure_namespace(&self, client: &Client, name: &str) {
        if self.read().namespaces.contains_key(name) {
            return;
        }
        match Api::<Namespace>::all(client.clone()).get_opt(name).await {
            Ok(Some(namespace)) => self.write(|snapshot| Namespace::apply(snapshot, &namespace)),
            Ok(None) => {}
            Err(error) => tracing::warn!(namespace = name, %error, "cannot read a namespace the cache does not know"),
        }
    }

    /// Makes sure the snapshot knows Palisade's ResourceQuota and LimitRange of `namespace` if
    /// the cluster has them, reading them live when the watch says they are missing: a freshly
    /// set-up namespace must not wait for the watch to catch up.
    pub async fn ensure_managed_quota(&self, client: &Client, namespace: &str) {
        let (wants_quota, wants_limits) = {
            use palisade_admission::ClusterView;
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
        let missing = |kind: &str| {
            let wanted = if kind == "ResourceQuota" {
                wants_quota
            } else {
                wants_limits
            };
            wanted
                && self
                    .read()
                    .managed_quota_objects
                    .as_ref()
                    .is_some_and(|held| !held.contains(&(namespace.to_string(), kind.to_string())))
        };
        let selector = format!("{}={}", labels::MANAGED_BY, labels::MANAGED_BY_VALUE);
        let params = kube::api::ListParams::default().labels(&selector);
        if missing("ResourceQuota")
            && let Ok(found) = Api::<ResourceQuota>::namespaced(client.clone(), namespace)
                .list(&params)
                .await
        {
            self.write(|snapshot| found.items.iter().for_each(|o| ResourceQuota::apply(snapshot, o)));
        }
        if missing("LimitRange")
            && let Ok(found) = Api::<LimitRange>::namespaced(client.clone(), namespace)
                .list(&params)
                .await
        {
            self.write(|snapshot| found.items.iter().for_each(|o| LimitRange::apply(snapshot, o)));
        }
    }

    /// Cluster facts some rule needs and the webhook does not have; those rules deny until
    /// they are known.
    pub fn missing_facts(&self, config: &palisade_admission::AdmissionConfig) -> Vec<String> {
        use palisade_admission::ClusterView;
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

    /// Replaces the whole snapshot (tests, and `palisade check`-style callers).
    pub fn replace(&self, snapshot: Snapshot) {
        self.write(|current| *current = snapshot);
        self.synced_kinds.store(WATCHED_KINDS, Ordering::Release);
    }
}

/// How one kind is kept in the snapshot: the entry functions are palisade_admission's, shared
/// with `palisade check --cluster-state`, so the webhook and the CLI see the same objects alike.
trait Indexed:
    SnapshotEntry + Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static
{
}

impl<K> Indexed for K where
    K: SnapshotEntry + Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static
{
}

/// Watches every kind the decisions need and keeps `index` current; runs until aborted.
pub async fn watch_all(client: Client, index: std::sync::Arc<Index>) {
    let _service_cidrs = crate::service_cidr::spawn(client.clone(), index.clone());
    let everything = watcher::Config::default;
    let managed = || watcher::Config::default().labels(&format!("{}={}", labels::MANAGED_BY, labels::MANAGED_BY_VALUE));
    tokio::join!(
        watch::<Tenant>(Api::all(client.clone()), everything(), index.clone()),
        watch::<Namespace>(Api::all(client.clone()), everything(), index.clone()),
        watch::<PersistentVolume>(Api::all(client.clone()), everything(), index.clone()),
        watch::<Ingress>(Api::all(client.clone()), everything(), index.clone()),
        watch::<Node>(Api::all(client.clone()), everything(), index.clone()),
        watch::<Pod>(Api::all(client.clone()), everything(), index.clone()),
        watch::<PersistentVolumeClaim>(Api::all(client.clone()), everything(), index.clone()),
        watch::<Service>(Api::all(client.clone()), everything(), index.clone()),
        watch::<ResourceQuota>(Api::all(client.clone()), managed(), index.clone()),
        watch::<LimitRange>(Api::all(client), managed(), index),
    );
}

async fn watch<K: Indexed>(api: Api<K>, config: watcher::Config, index: std::sync::Arc<Index>) {
    let mut stream = watcher::watcher(api, config).boxed();
    let mut buffer: Vec<K> = Vec::new();
    let mut synced = false;
    while let Some(event) = stream.next().await {
        match event {
            Ok(Event::Init) => buffer.clear(),
            Ok(Event::InitApply(object)) => buffer.push(object),
            Ok(Event::InitDone) => {
                let objects = std::mem::take(&mut buffer);
                index.write(|snapshot| {
                    K::reset(snapshot);
                    for object in &objects {
                        K::apply(snapshot, object);
                    }
                });
                if !synced {
                    synced = true;
                    index.synced_kinds.fetch_add(1, Ordering::AcqRel);
                    tracing::info!(kind = %K::kind(&()), count = objects.len(), "cache synced");
                }
            }
            Ok(Event::Apply(object)) => index.write(|snapshot| K::apply(snapshot, &object)),
            Ok(Event::Delete(object)) => index.write(|snapshot| K::delete(snapshot, &object)),
            Err(error) => {
                // The watcher retries with backoff by itself; say why it had to.
                tracing::warn!(kind = %K::kind(&()), %error, "watch failed; retrying");
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
        }
    }
}
