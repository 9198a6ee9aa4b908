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
use kube::{Api, Client, Resource, ResourceExt};
use palisade_admission::usage::{self, Counted};
use palisade_admission::{IngressRoute, Snapshot, VolumeOwner};
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

/// How one kind is kept in the snapshot.
trait Indexed: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static {
    fn apply(snapshot: &mut Snapshot, object: &Self);
    fn delete(snapshot: &mut Snapshot, object: &Self);
    fn reset(snapshot: &mut Snapshot);
}

impl Indexed for Tenant {
    fn apply(snapshot: &mut Snapshot, object: &Self) {
        snapshot.tenants.insert(object.name_any(), object.clone());
    }
    fn delete(snapshot: &mut Snapshot, object: &Self) {
        snapshot.tenants.remove(&object.name_any());
    }
    fn reset(snapshot: &mut Snapshot) {
        snapshot.tenants.clear();
    }
}

impl Indexed for Namespace {
    fn apply(snapshot: &mut Snapshot, object: &Self) {
        snapshot.namespaces.insert(object.name_any(), object.labels().clone());
    }
    fn delete(snapshot: &mut Snapshot, object: &Self) {
        snapshot.namespaces.remove(&object.name_any());
    }
    fn reset(snapshot: &mut Snapshot) {
        snapshot.namespaces.clear();
    }
}

impl Indexed for PersistentVolume {
    fn apply(snapshot: &mut Snapshot, object: &Self) {
        let owner = VolumeOwner {
            tenant: object.labels().get(labels::TENANT).cloned(),
            claim_namespace: object
                .spec
                .as_ref()
                .and_then(|s| s.claim_ref.as_ref())
                .and_then(|c| c.namespace.clone()),
        };
        snapshot.volumes.insert(object.name_any(), owner);
    }
    fn delete(snapshot: &mut Snapshot, object: &Self) {
        snapshot.volumes.remove(&object.name_any());
    }
    fn reset(snapshot: &mut Snapshot) {
        snapshot.volumes.clear();
    }
}

impl Indexed for Node {
    fn apply(snapshot: &mut Snapshot, object: &Self) {
        let spec = object.spec.as_ref();
        let cidrs = spec
            .and_then(|s| s.pod_cidrs.clone())
            .or_else(|| spec.and_then(|s| s.pod_cidr.clone()).map(|c| vec![c]))
            .unwrap_or_default()
            .iter()
            .filter_map(|c| c.parse().ok())
            .collect();
        snapshot.node_pod_cidrs.insert(object.name_any(), cidrs);
    }
    fn delete(snapshot: &mut Snapshot, object: &Self) {
        snapshot.node_pod_cidrs.remove(&object.name_any());
    }
    fn reset(snapshot: &mut Snapshot) {
        snapshot.node_pod_cidrs.clear();
    }
}

impl Indexed for Ingress {
    fn apply(snapshot: &mut Snapshot, object: &Self) {
        Self::delete(snapshot, object);
        let namespace = object.namespace().unwrap_or_default();
        let name = object.name_any();
        for rule in object.spec.iter().flat_map(|s| s.rules.iter().flatten()) {
            let host = rule.host.clone().unwrap_or_default();
            let paths: Vec<String> = rule
                .http
                .iter()
                .flat_map(|h| h.paths.iter())
                .map(|p| p.path.clone().unwrap_or_else(|| "/".to_string()))
                .collect();
            for path in if paths.is_empty() { vec!["/".to_string()] } else { paths } {
                snapshot.ingress_routes.push(IngressRoute {
                    namespace: namespace.clone(),
                    name: name.clone(),
                    host: host.clone(),
                    path,
                });
            }
        }
    }
    fn delete(snapshot: &mut Snapshot, object: &Self) {
        let namespace = object.namespace().unwrap_or_default();
        let name = object.name_any();
        snapshot
            .ingress_routes
            .retain(|r| !(r.namespace == namespace && r.name == name));
    }
    fn reset(snapshot: &mut Snapshot) {
        snapshot.ingress_routes.clear();
    }
}

/// Quota usage of the objects Kubernetes' quota counts by more than their number: computed once
/// per event, so a review only sums.
macro_rules! counted_by_usage {
    ($kind:ty, $group:expr, $name:expr, $resource:expr) => {
        impl Indexed for $kind {
            fn apply(snapshot: &mut Snapshot, object: &Self) {
                let Some(uid) = object.metadata.uid.clone() else {
                    return;
                };
                let counted = Counted {
                    group: $group,
                    kind: $name,
                    resource: $resource,
                };
                let usage = serde_json::to_value(object)
                    .ok()
                    .and_then(|value| usage::usage(&counted, &value).ok())
                    .unwrap_or_default();
                let namespace = object.namespace().unwrap_or_default();
                let key = palisade_admission::quota::object_key($resource, &uid);
                snapshot
                    .object_usage
                    .entry(namespace)
                    .or_default()
                    .insert(key, usage);
            }
            fn delete(snapshot: &mut Snapshot, object: &Self) {
                let namespace = object.namespace().unwrap_or_default();
                if let (Some(objects), Some(uid)) = (snapshot.object_usage.get_mut(&namespace), &object.metadata.uid) {
                    objects.remove(&palisade_admission::quota::object_key($resource, uid));
                }
            }
            fn reset(snapshot: &mut Snapshot) {
                for objects in snapshot.object_usage.values_mut() {
                    let prefix = palisade_admission::quota::object_key($resource, "");
                    objects.retain(|key, _| !key.starts_with(&prefix));
                }
            }
        }
    };
}

counted_by_usage!(Pod, "", "Pod", "pods");
counted_by_usage!(
    PersistentVolumeClaim,
    "",
    "PersistentVolumeClaim",
    "persistentvolumeclaims"
);
counted_by_usage!(Service, "", "Service", "services");

/// Palisade's own ResourceQuota and LimitRange in each namespace: until they are there, a fresh
/// namespace would take objects unmetered.
macro_rules! managed_presence {
    ($kind:ty, $name:expr) => {
        impl Indexed for $kind {
            fn apply(snapshot: &mut Snapshot, object: &Self) {
                let held = snapshot.managed_quota_objects.get_or_insert_default();
                held.insert((object.namespace().unwrap_or_default(), $name.to_string()));
            }
            fn delete(snapshot: &mut Snapshot, object: &Self) {
                let held = snapshot.managed_quota_objects.get_or_insert_default();
                held.remove(&(object.namespace().unwrap_or_default(), $name.to_string()));
            }
            fn reset(snapshot: &mut Snapshot) {
                let held = snapshot.managed_quota_objects.get_or_insert_default();
                held.retain(|(_, kind)| kind != $name);
            }
        }
    };
}

managed_presence!(ResourceQuota, "ResourceQuota");
managed_presence!(LimitRange, "LimitRange");

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
