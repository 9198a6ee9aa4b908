//! The watches that feed the [`Cache`] and wake tenants: one per managed kind the cluster
//! serves, started and stopped as discovery finds kinds appear and disappear.
//!
//! Most kinds are watched by metadata only (labels and resourceVersion): the controller never
//! holds whole objects, which keeps 40,000 managed objects in a few MiB. ResourceQuotas are
//! watched whole, for their `status.used`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};

use futures::StreamExt;
use futures::channel::mpsc::UnboundedSender;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::DynamicObject;
use kube::core::PartialObjectMeta;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client};
use palisade_api::{Tenant, labels};
use serde_json::Value;
use tokio::sync::{Notify, oneshot};

use crate::cache::{Cache, Seen, fingerprint_of};
use crate::diff::ObjectKey;
use crate::foreign::{ForeignPolicies, tenant_changes_verdicts};
use crate::kinds::ManagedKind;
use crate::related::mesh_callers_of;

/// The cache, the tenants, and where to send the tenants to reconcile.
pub struct Shared {
    cache: Mutex<Cache>,
    tenants: Store<Tenant>,
    wake: UnboundedSender<ObjectRef<Tenant>>,
    /// Verdicts on the NetworkPolicies Palisade did not write (see [`crate::foreign`]).
    foreign: Mutex<ForeignPolicies>,
    /// Tells the watch of those policies to list and judge them all again.
    pub judge_again: Notify,
    /// The platform namespaces each Tenant granted when last seen.
    granted_namespaces: Mutex<BTreeMap<String, Vec<String>>>,
}

impl Shared {
    pub fn new(tenants: Store<Tenant>, wake: UnboundedSender<ObjectRef<Tenant>>) -> Self {
        Shared {
            cache: Mutex::default(),
            tenants,
            wake,
            foreign: Mutex::default(),
            judge_again: Notify::new(),
            granted_namespaces: Mutex::default(),
        }
    }

    pub fn foreign(&self) -> MutexGuard<'_, ForeignPolicies> {
        self.foreign.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A Tenant was written: if it is new or grants other platform namespaces, the verdicts on
    /// the policies Palisade did not write are computed again.
    pub fn tenant_seen(&self, tenant: &Tenant) {
        let mut granted = self
            .granted_namespaces
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if tenant_changes_verdicts(&mut granted, tenant) {
            self.judge_again.notify_one();
        }
    }

    pub fn tenants(&self) -> &Store<Tenant> {
        &self.tenants
    }

    pub fn cache(&self) -> MutexGuard<'_, Cache> {
        self.cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Queues a reconcile of each tenant (the controller merges repeats).
    pub fn wake(&self, tenants: impl IntoIterator<Item = String>) {
        for tenant in tenants {
            // Fails only once the controller has stopped, when nothing is left to wake.
            let _ = self.wake.unbounded_send(ObjectRef::new(&tenant));
        }
    }

    /// Queues a reconcile of every known tenant.
    pub fn wake_all(&self) {
        let names: Vec<String> = self
            .tenants
            .state()
            .iter()
            .filter_map(|t| t.metadata.name.clone())
            .collect();
        self.wake(names);
    }
}

/// What a watch reports about an object, reduced to what the cache keeps.
pub fn seen(kind: &ManagedKind, metadata: &ObjectMeta, data: Option<&Value>) -> Seen {
    let labels = metadata.labels.as_ref();
    let label = |name: &str| labels.and_then(|l| l.get(name)).cloned();
    let quota_used = data
        .filter(|_| is_quota(kind))
        .and_then(|d| d.pointer("/status/used"))
        .and_then(|used| serde_json::from_value(used.clone()).ok());
    Seen {
        key: ObjectKey::new(
            kind.api_version,
            kind.kind,
            metadata.namespace.as_deref(),
            metadata.name.as_deref().unwrap_or_default(),
        ),
        tenant: label(labels::TENANT),
        managed: label(labels::MANAGED_BY).as_deref() == Some(labels::MANAGED_BY_VALUE),
        fingerprint: fingerprint(kind, metadata, data),
        quota_used,
        claimed: claimed(metadata),
        terminating: kind.kind == "Namespace" && metadata.deletion_timestamp.is_some(),
    }
}

/// The manifest hash of the `palisade.dev/applied` annotation, if only Palisade wrote the object
/// (status writers aside): any other writer shows in managedFields, and its edit may have
/// changed what Palisade set.
fn claimed(metadata: &ObjectMeta) -> Option<u64> {
    let only_palisade = metadata.managed_fields.iter().flatten().all(|entry| {
        entry.manager.as_deref() == Some(crate::FIELD_MANAGER)
            || entry.subresource.as_deref().is_some_and(|s| !s.is_empty())
    });
    if !only_palisade {
        return None;
    }
    let annotation = metadata.annotations.as_ref()?.get(labels::APPLIED_HASH)?;
    u64::from_str_radix(annotation, 16).ok()
}

/// The fingerprint of a live object. A quota's status changes with every pod, so a quota is
/// fingerprinted by what Palisade writes; everything else by its resourceVersion, which the API
/// server changes on every write and leaves alone when an apply changes nothing.
pub fn fingerprint(kind: &ManagedKind, metadata: &ObjectMeta, data: Option<&Value>) -> u64 {
    if is_quota(kind) {
        let spec = data.and_then(|d| d.get("spec"));
        fingerprint_of(&(&metadata.labels, &metadata.annotations, spec))
    } else {
        fingerprint_of(&metadata.resource_version)
    }
}

fn is_quota(kind: &ManagedKind) -> bool {
    kind.api_version == "v1" && kind.kind == "ResourceQuota"
}

/// Aborts a task when dropped, so a watch stops with whatever owns it.
pub struct AbortOnDrop(pub tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The running watches, by kind.
#[derive(Default)]
pub struct Watches {
    running: BTreeMap<(&'static str, &'static str), AbortOnDrop>,
}

impl Watches {
    /// Starts a watch for each of `kinds` not watched yet and stops those no longer served (their
    /// objects leave the cache). Returns a receiver per started watch, completed once its first
    /// list is in the cache.
    pub fn ensure(
        &mut self,
        client: &Client,
        kinds: &[&'static ManagedKind],
        shared: &Arc<Shared>,
    ) -> Vec<oneshot::Receiver<()>> {
        let wanted: BTreeSet<(&str, &str)> = kinds.iter().map(|k| (k.api_version, k.kind)).collect();
        let stopped: Vec<(&str, &str)> = self
            .running
            .keys()
            .filter(|id| !wanted.contains(*id))
            .copied()
            .collect();
        for id in stopped {
            self.running.remove(&id);
            let mut cache = shared.cache();
            cache.relist_started(id.0, id.1);
            let woken = cache.relist_done(id.0, id.1);
            drop(cache);
            tracing::info!(api_version = id.0, kind = id.1, "no longer served; stopped watching it");
            shared.wake(woken);
        }
        let mut ready = Vec::new();
        for kind in kinds {
            let id = (kind.api_version, kind.kind);
            if self.running.contains_key(&id) {
                continue;
            }
            let (done, listed) = oneshot::channel();
            let task = tokio::spawn(watch_kind(client.clone(), kind, shared.clone(), done));
            self.running.insert(id, AbortOnDrop(task));
            ready.push(listed);
        }
        ready
    }
}

async fn watch_kind(client: Client, kind: &'static ManagedKind, shared: Arc<Shared>, listed: oneshot::Sender<()>) {
    let resource = kind.api_resource();
    // Namespaces: every one bound to a tenant, adopted ones too. Other kinds: what Palisade made.
    let selector = if kind.kind == "Namespace" {
        labels::TENANT.to_string()
    } else {
        format!("{}={}", labels::MANAGED_BY, labels::MANAGED_BY_VALUE)
    };
    let config = watcher::Config::default().labels(&selector);
    if is_quota(kind) {
        let events = watcher(Api::<DynamicObject>::all_with(client, &resource), config)
            .default_backoff()
            .map(|e| e.map(|e| reduce(e, |o| seen(kind, &o.metadata, Some(&o.data)))));
        pump(events, kind, &shared, listed).await;
    } else {
        // An Api of PartialObjectMeta asks for metadata only.
        let events = watcher(
            Api::<PartialObjectMeta<DynamicObject>>::all_with(client, &resource),
            config,
        )
        .default_backoff()
        .map(|e| e.map(|e| reduce(e, |o| seen(kind, &o.metadata, None))));
        pump(events, kind, &shared, listed).await;
    }
}

fn reduce<K>(event: watcher::Event<K>, to_seen: impl Fn(K) -> Seen) -> watcher::Event<Seen> {
    match event {
        watcher::Event::Apply(o) => watcher::Event::Apply(to_seen(o)),
        watcher::Event::Delete(o) => watcher::Event::Delete(to_seen(o)),
        watcher::Event::Init => watcher::Event::Init,
        watcher::Event::InitApply(o) => watcher::Event::InitApply(to_seen(o)),
        watcher::Event::InitDone => watcher::Event::InitDone,
    }
}

async fn pump(
    events: impl futures::Stream<Item = Result<watcher::Event<Seen>, watcher::Error>>,
    kind: &ManagedKind,
    shared: &Shared,
    listed: oneshot::Sender<()>,
) {
    let mut listed = Some(listed);
    let mut events = std::pin::pin!(events);
    while let Some(event) = events.next().await {
        let mut woken = {
            let mut cache = shared.cache();
            match event {
                Ok(watcher::Event::Init) => {
                    cache.relist_started(kind.api_version, kind.kind);
                    BTreeSet::new()
                }
                Ok(watcher::Event::InitApply(seen)) => {
                    cache.relisted(seen);
                    BTreeSet::new()
                }
                Ok(watcher::Event::InitDone) => {
                    let woken = cache.relist_done(kind.api_version, kind.kind);
                    if let Some(listed) = listed.take() {
                        let _ = listed.send(());
                    }
                    woken
                }
                Ok(watcher::Event::Apply(seen)) => {
                    if kind.kind == "Namespace" && cache.namespace_tenant(&seen.key.name) != seen.tenant.as_deref() {
                        // Bound to a tenant or leaving one: the policies in it are judged again.
                        shared.judge_again.notify_one();
                    }
                    cache.saw(seen)
                }
                Ok(watcher::Event::Delete(seen)) => cache.deleted(&seen.key),
                Err(error) => {
                    tracing::warn!(kind = %kind.describe(), %error, "watch failed; retrying with backoff");
                    BTreeSet::new()
                }
            }
        };
        if kind.kind == "Namespace" && !woken.is_empty() {
            // The mesh rules of the tenants allowed to call a tenant name its namespaces.
            let all = shared.tenants.state();
            let all: Vec<&Tenant> = all.iter().map(AsRef::as_ref).collect();
            let callers: Vec<String> = woken.iter().flat_map(|t| mesh_callers_of(t, &all)).collect();
            woken.extend(callers);
        }
        shared.wake(woken);
    }
}
