//! The webhook's view of the cluster: a [`Snapshot`] kept current by watches, read under a lock
//! by every review. Each kind has apply / delete / reset, so a watch restart replaces that
//! kind's contents atomically.

use std::fmt::Debug;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{RwLock, RwLockReadGuard};

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Namespace, Node, PersistentVolume};
use k8s_openapi::api::networking::v1::Ingress;
use kube::runtime::watcher::{self, Event};
use kube::{Api, Client, Resource, ResourceExt};
use palisade_admission::{IngressRoute, Snapshot, VolumeOwner};
use palisade_api::{Tenant, labels};
use serde::de::DeserializeOwned;

/// The kinds the webhook watches.
const WATCHED_KINDS: usize = 5;

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

    fn write(&self, change: impl FnOnce(&mut Snapshot)) {
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

/// Watches every kind the decisions need and keeps `index` current; runs until aborted.
pub async fn watch_all(client: Client, index: std::sync::Arc<Index>) {
    tokio::join!(
        watch::<Tenant>(Api::all(client.clone()), index.clone()),
        watch::<Namespace>(Api::all(client.clone()), index.clone()),
        watch::<PersistentVolume>(Api::all(client.clone()), index.clone()),
        watch::<Ingress>(Api::all(client.clone()), index.clone()),
        watch::<Node>(Api::all(client), index),
    );
}

async fn watch<K: Indexed>(api: Api<K>, index: std::sync::Arc<Index>) {
    let mut stream = watcher::watcher(api, watcher::Config::default()).boxed();
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
