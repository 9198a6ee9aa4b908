//! Where a watch event becomes admission state: [`Snapshot`] is an [`Index`] of every kind a
//! decision reads, driven by the webhook's watches (one event at a time, through the
//! `palisade-view` driver) and by `palisade check --cluster-state` (a dump of the cluster), so
//! that both decide from the same view of the same objects.
//!
//! Each kind has `put` (add or replace the object's entry), `remove` and `clear` (forget every
//! entry of the kind); a relist is clear, then put each. [`Snapshot::apply_object`] reads any of
//! these kinds from JSON, as `kubectl get -o json` prints them.

use k8s_openapi::api::core::v1::{
    LimitRange, Namespace, Node, PersistentVolume, PersistentVolumeClaim, Pod, ResourceQuota, Service,
};
use k8s_openapi::api::networking::v1::{Ingress, ServiceCIDR};
use kube::ResourceExt;
use palisade_api::{Tenant, labels};
use serde_json::Value;

use palisade_view::{Index, NamespaceEntry};

use crate::usage::{self, Counted};
use crate::{IngressRoute, Snapshot, VolumeOwner};

/// How one kind of cluster object is kept in a [`Snapshot`].
trait Entry: Sized {
    /// Adds the object's entry, replacing what an earlier version of it left.
    fn put(snapshot: &mut Snapshot, object: &Self);
    /// Removes the object's entry.
    fn remove(snapshot: &mut Snapshot, object: &Self);
    /// Removes every entry of this kind.
    fn clear(snapshot: &mut Snapshot);
}

macro_rules! index_of_entries {
    ($($kind:ty),* $(,)?) => {
        $(
            impl Index<$kind> for Snapshot {
                fn apply(&mut self, object: $kind) {
                    <$kind as Entry>::put(self, &object);
                }
                fn delete(&mut self, object: $kind) {
                    <$kind as Entry>::remove(self, &object);
                }
                fn reset(&mut self, objects: Vec<$kind>) {
                    <$kind as Entry>::clear(self);
                    for object in &objects {
                        <$kind as Entry>::put(self, object);
                    }
                }
            }
        )*
    };
}

index_of_entries!(
    Namespace,
    PersistentVolume,
    Node,
    ServiceCIDR,
    Ingress,
    Pod,
    PersistentVolumeClaim,
    Service,
    ResourceQuota,
    LimitRange,
);

/// Tenants live in the tenant directory, which keeps its own relations.
impl Index<Tenant> for Snapshot {
    fn apply(&mut self, tenant: Tenant) {
        self.directory.apply(tenant);
    }
    fn delete(&mut self, tenant: Tenant) {
        self.directory.delete(tenant);
    }
    fn reset(&mut self, tenants: Vec<Tenant>) {
        self.directory.reset(tenants);
    }
}

/// Every namespace's labels for the rules, and the labelled ones in the tenant directory.
impl Entry for Namespace {
    fn put(snapshot: &mut Snapshot, object: &Self) {
        snapshot.namespaces.insert(object.name_any(), object.labels().clone());
        snapshot.directory.apply(NamespaceEntry::from(object));
    }
    fn remove(snapshot: &mut Snapshot, object: &Self) {
        snapshot.namespaces.remove(&object.name_any());
        snapshot.directory.delete(NamespaceEntry::from(object));
    }
    fn clear(snapshot: &mut Snapshot) {
        snapshot.namespaces.clear();
        snapshot.directory.reset(Vec::<NamespaceEntry>::new());
    }
}

impl Entry for PersistentVolume {
    fn put(snapshot: &mut Snapshot, object: &Self) {
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
    fn remove(snapshot: &mut Snapshot, object: &Self) {
        snapshot.volumes.remove(&object.name_any());
    }
    fn clear(snapshot: &mut Snapshot) {
        snapshot.volumes.clear();
    }
}

impl Entry for Node {
    fn put(snapshot: &mut Snapshot, object: &Self) {
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
    fn remove(snapshot: &mut Snapshot, object: &Self) {
        snapshot.node_pod_cidrs.remove(&object.name_any());
    }
    fn clear(snapshot: &mut Snapshot) {
        snapshot.node_pod_cidrs.clear();
    }
}

impl Entry for ServiceCIDR {
    /// Entries that do not parse are left out (the API server validates them, so there are none).
    fn put(snapshot: &mut Snapshot, object: &Self) {
        let cidrs = object
            .spec
            .iter()
            .flat_map(|spec| spec.cidrs.iter().flatten())
            .filter_map(|cidr| cidr.parse().ok())
            .collect();
        snapshot.service_cidrs.insert(object.name_any(), cidrs);
    }
    fn remove(snapshot: &mut Snapshot, object: &Self) {
        snapshot.service_cidrs.remove(&object.name_any());
    }
    fn clear(snapshot: &mut Snapshot) {
        snapshot.service_cidrs.clear();
    }
}

impl Entry for Ingress {
    /// Every host and path the Ingress serves (a rule without paths serves `/`).
    fn put(snapshot: &mut Snapshot, object: &Self) {
        Self::remove(snapshot, object);
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
    fn remove(snapshot: &mut Snapshot, object: &Self) {
        let namespace = object.namespace().unwrap_or_default();
        let name = object.name_any();
        snapshot
            .ingress_routes
            .retain(|r| !(r.namespace == namespace && r.name == name));
    }
    fn clear(snapshot: &mut Snapshot) {
        snapshot.ingress_routes.clear();
    }
}

/// Quota usage of the objects Kubernetes' quota counts by more than their number: computed once
/// per object, so a review only sums.
macro_rules! counted_by_usage {
    ($kind:ty, $counted:expr) => {
        impl Entry for $kind {
            fn put(snapshot: &mut Snapshot, object: &Self) {
                let Some(uid) = object.metadata.uid.clone() else {
                    return;
                };
                let counted: Counted<'static> = $counted;
                let usage = serde_json::to_value(object)
                    .ok()
                    .and_then(|value| usage::usage(&counted, &value).ok())
                    .unwrap_or_default();
                let namespace = object.namespace().unwrap_or_default();
                let key = crate::quota::object_key(counted.resource, &uid);
                snapshot.directory.set_usage(&namespace, key, usage);
            }
            fn remove(snapshot: &mut Snapshot, object: &Self) {
                let namespace = object.namespace().unwrap_or_default();
                let counted: Counted<'static> = $counted;
                if let Some(uid) = &object.metadata.uid {
                    let key = crate::quota::object_key(counted.resource, uid);
                    snapshot.directory.remove_usage(&namespace, &key);
                }
            }
            fn clear(snapshot: &mut Snapshot) {
                let counted: Counted<'static> = $counted;
                let prefix = crate::quota::object_key(counted.resource, "");
                snapshot.directory.retain_usage(|key| !key.starts_with(&prefix));
            }
        }
    };
}

counted_by_usage!(Pod, Counted::POD);
counted_by_usage!(PersistentVolumeClaim, Counted::PERSISTENT_VOLUME_CLAIM);
counted_by_usage!(Service, Counted::SERVICE);

/// Palisade's own ResourceQuota and LimitRange in each namespace (until they are there, a fresh
/// namespace would take objects unmetered). Objects not labelled managed-by Palisade are not
/// entries (the webhook watches only Palisade's; a dump holds everyone's).
macro_rules! managed_presence {
    ($kind:ty, $name:expr) => {
        impl Entry for $kind {
            fn put(snapshot: &mut Snapshot, object: &Self) {
                let held = snapshot.managed_quota_objects.get_or_insert_default();
                let entry = (object.namespace().unwrap_or_default(), $name.to_string());
                if is_managed(object.labels()) {
                    held.insert(entry);
                } else {
                    held.remove(&entry);
                }
            }
            fn remove(snapshot: &mut Snapshot, object: &Self) {
                let held = snapshot.managed_quota_objects.get_or_insert_default();
                held.remove(&(object.namespace().unwrap_or_default(), $name.to_string()));
            }
            fn clear(snapshot: &mut Snapshot) {
                let held = snapshot.managed_quota_objects.get_or_insert_default();
                held.retain(|(_, kind)| kind != $name);
            }
        }
    };
}

managed_presence!(ResourceQuota, "ResourceQuota");
managed_presence!(LimitRange, "LimitRange");

fn is_managed(object_labels: &std::collections::BTreeMap<String, String>) -> bool {
    object_labels.get(labels::MANAGED_BY).map(String::as_str) == Some(labels::MANAGED_BY_VALUE)
}

/// The kinds a [`Snapshot`] is made of, as `apiVersion` and `kind`.
pub const SNAPSHOT_KINDS: &[(&str, &str)] = &[
    ("palisade.dev/v1alpha1", "Tenant"),
    ("v1", "Namespace"),
    ("v1", "PersistentVolume"),
    ("v1", "Node"),
    ("networking.k8s.io/v1", "ServiceCIDR"),
    ("networking.k8s.io/v1", "Ingress"),
    ("v1", "Pod"),
    ("v1", "PersistentVolumeClaim"),
    ("v1", "Service"),
    ("v1", "ResourceQuota"),
    ("v1", "LimitRange"),
];

/// Why an object could not be put in a snapshot.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("the object has no `{0}`")]
    MissingField(&'static str),
    #[error(
        "{api_version} {kind} is not part of the cluster state Palisade decides from; expected one of: {}",
        expected_kinds()
    )]
    UnknownKind { api_version: String, kind: String },
    #[error("not a valid {kind}: {field}: {message}")]
    Invalid {
        kind: String,
        field: String,
        message: String,
    },
}

fn expected_kinds() -> String {
    SNAPSHOT_KINDS
        .iter()
        .map(|(api_version, kind)| format!("{kind} ({api_version})"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn typed<K: serde::de::DeserializeOwned>(kind: &str, object: &Value) -> Result<K, SnapshotError> {
    serde_path_to_error::deserialize(object).map_err(|error| SnapshotError::Invalid {
        kind: kind.to_string(),
        field: error.path().to_string(),
        message: error.inner().to_string(),
    })
}

impl Snapshot {
    /// Adds one object of any kind in [`SNAPSHOT_KINDS`], read from JSON (an item of
    /// `kubectl get -o json`); returns its kind.
    pub fn apply_object(&mut self, object: &Value) -> Result<&'static str, SnapshotError> {
        let api_version = object
            .get("apiVersion")
            .and_then(Value::as_str)
            .ok_or(SnapshotError::MissingField("apiVersion"))?;
        let kind = object
            .get("kind")
            .and_then(Value::as_str)
            .ok_or(SnapshotError::MissingField("kind"))?;
        let Some(&(_, known)) = SNAPSHOT_KINDS.iter().find(|(v, k)| *v == api_version && *k == kind) else {
            return Err(SnapshotError::UnknownKind {
                api_version: api_version.to_string(),
                kind: kind.to_string(),
            });
        };
        match known {
            "Tenant" => Index::<Tenant>::apply(self, typed(known, object)?),
            "Namespace" => Index::<Namespace>::apply(self, typed(known, object)?),
            "PersistentVolume" => Index::<PersistentVolume>::apply(self, typed(known, object)?),
            "Node" => Index::<Node>::apply(self, typed(known, object)?),
            "ServiceCIDR" => Index::<ServiceCIDR>::apply(self, typed(known, object)?),
            "Ingress" => Index::<Ingress>::apply(self, typed(known, object)?),
            "Pod" => Index::<Pod>::apply(self, typed(known, object)?),
            "PersistentVolumeClaim" => Index::<PersistentVolumeClaim>::apply(self, typed(known, object)?),
            "Service" => Index::<Service>::apply(self, typed(known, object)?),
            "ResourceQuota" => Index::<ResourceQuota>::apply(self, typed(known, object)?),
            "LimitRange" => Index::<LimitRange>::apply(self, typed(known, object)?),
            _ => {
                return Err(SnapshotError::UnknownKind {
                    api_version: api_version.to_string(),
                    kind: kind.to_string(),
                });
            }
        }
        Ok(known)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::ClusterView;

    #[test]
    fn objects_of_each_kind_become_entries() {
        let mut snapshot = Snapshot::default();
        let objects = [
            json!({ "apiVersion": "v1", "kind": "Namespace", "metadata": { "name": "a", "labels": { "palisade.dev/tenant": "t" } } }),
            json!({ "apiVersion": "v1", "kind": "PersistentVolume", "metadata": { "name": "pv", "labels": { "palisade.dev/tenant": "t" } },
                    "spec": { "claimRef": { "namespace": "a", "name": "c" } } }),
            json!({ "apiVersion": "v1", "kind": "Node", "metadata": { "name": "n" }, "spec": { "podCIDR": "10.244.0.0/24" } }),
            json!({ "apiVersion": "networking.k8s.io/v1", "kind": "ServiceCIDR", "metadata": { "name": "kubernetes" }, "spec": { "cidrs": ["10.96.0.0/12"] } }),
            json!({ "apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": { "name": "i", "namespace": "a" },
                    "spec": { "rules": [{ "host": "x.example.com" }] } }),
            json!({ "apiVersion": "v1", "kind": "Pod", "metadata": { "name": "p", "namespace": "a", "uid": "u1" },
                    "spec": { "containers": [{ "name": "c", "image": "i", "resources": { "requests": { "cpu": "1" } } }] } }),
            json!({ "apiVersion": "v1", "kind": "ResourceQuota", "metadata": { "name": "palisade-quota", "namespace": "a",
                    "labels": { "app.kubernetes.io/managed-by": "palisade" } } }),
            json!({ "apiVersion": "v1", "kind": "LimitRange", "metadata": { "name": "someone-elses", "namespace": "a" } }),
        ];
        for object in &objects {
            snapshot.apply_object(object).unwrap();
        }
        assert_eq!(snapshot.tenant_of_namespace("a"), Some("t"));
        assert_eq!(
            snapshot.volume("pv").and_then(|v| v.claim_namespace.as_deref()),
            Some("a")
        );
        assert_eq!(snapshot.node_pod_cidrs(), vec!["10.244.0.0/24".parse().unwrap()]);
        assert_eq!(snapshot.service_cidrs(), vec!["10.96.0.0/12".parse().unwrap()]);
        assert_eq!(snapshot.ingress_routes().len(), 1);
        assert_eq!(snapshot.ingress_routes()[0].path, "/");
        assert!(snapshot.directory.usage_of("t").contains_key("pods/u1"));
        assert_eq!(snapshot.holds_managed("a", "ResourceQuota"), Some(true));
        assert_eq!(snapshot.holds_managed("a", "LimitRange"), Some(false));
    }

    #[test]
    fn unknown_kinds_and_bad_fields_are_named() {
        let mut snapshot = Snapshot::default();
        let error = snapshot
            .apply_object(&json!({ "apiVersion": "apps/v1", "kind": "Deployment", "metadata": { "name": "d" } }))
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("apps/v1 Deployment") && error.contains("Namespace (v1)"),
            "{error}"
        );
        let error = snapshot
            .apply_object(&json!({ "apiVersion": "v1", "kind": "Node", "metadata": { "name": "n" }, "spec": { "podCIDRs": "x" } }))
            .unwrap_err()
            .to_string();
        assert!(error.contains("spec.podCIDRs"), "{error}");
        let error = snapshot
            .apply_object(&json!({ "kind": "Node" }))
            .unwrap_err()
            .to_string();
        assert!(error.contains("apiVersion"), "{error}");
    }
}
