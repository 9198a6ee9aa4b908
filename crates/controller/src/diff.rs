//! What to delete: the managed objects of a tenant that the renderer no longer lists. Pure.

use std::collections::{BTreeMap, BTreeSet};

use palisade_api::labels;
use palisade_tenancy::ManagedObject;

/// The identity of an object: `(apiVersion, kind, namespace, name)`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectKey {
    pub api_version: String,
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
}

impl ObjectKey {
    pub fn new(api_version: &str, kind: &str, namespace: Option<&str>, name: &str) -> Self {
        ObjectKey {
            api_version: api_version.to_string(),
            kind: kind.to_string(),
            namespace: namespace.map(str::to_string),
            name: name.to_string(),
        }
    }

    pub fn of(object: &ManagedObject) -> Self {
        ObjectKey::new(
            &object.api_version,
            &object.kind,
            object.namespace.as_deref(),
            &object.name,
        )
    }
}

impl std::fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{} {ns}/{}", self.kind, self.name),
            None => write!(f, "{} {}", self.kind, self.name),
        }
    }
}

/// An object found in the cluster, with its labels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed {
    pub key: ObjectKey,
    pub labels: BTreeMap<String, String>,
}

/// Whether `labels` mark an object Palisade manages for `tenant`: both labels, exact values.
pub fn managed_for(labels: &BTreeMap<String, String>, tenant: &str) -> bool {
    labels.get(labels::MANAGED_BY).map(String::as_str) == Some(labels::MANAGED_BY_VALUE)
        && labels.get(labels::TENANT).map(String::as_str) == Some(tenant)
}

/// The observed objects to delete: managed by Palisade for `tenant` (both labels), not desired.
/// Namespaces are never pruned: a namespace holds the tenant's data, and one that leaves the
/// plan stays (it is deleted with its Tenant, or by its owners).
pub fn to_prune<'a>(tenant: &str, desired: &BTreeSet<ObjectKey>, observed: &'a [Observed]) -> Vec<&'a ObjectKey> {
    let mut result: Vec<&ObjectKey> = observed
        .iter()
        .filter(|o| managed_for(&o.labels, tenant))
        .filter(|o| !(o.key.api_version == "v1" && o.key.kind == "Namespace"))
        .filter(|o| !desired.contains(&o.key))
        .map(|o| &o.key)
        .collect();
    result.sort();
    result.dedup();
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(kind: &str, ns: Option<&str>, name: &str) -> ObjectKey {
        let api_version = match kind {
            "RoleBinding" => "rbac.authorization.k8s.io/v1",
            "NetworkPolicy" => "networking.k8s.io/v1",
            "AdminNetworkPolicy" => "policy.networking.k8s.io/v1alpha1",
            _ => "v1",
        };
        ObjectKey::new(api_version, kind, ns, name)
    }

    fn observed(key: ObjectKey, pairs: &[(&str, &str)]) -> Observed {
        Observed {
            key,
            labels: pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        }
    }

    const MANAGED_A: &[(&str, &str)] = &[(labels::MANAGED_BY, "palisade"), (labels::TENANT, "a")];

    #[test]
    fn table() {
        struct Case {
            what: &'static str,
            desired: Vec<ObjectKey>,
            observed: Vec<Observed>,
            pruned: Vec<ObjectKey>,
        }
        let rb = |name: &str| key("RoleBinding", Some("a-1"), name);
        let cases = vec![
            Case {
                what: "nothing observed, nothing pruned",
                desired: vec![rb("x")],
                observed: vec![],
                pruned: vec![],
            },
            Case {
                what: "desired objects stay",
                desired: vec![rb("x")],
                observed: vec![observed(rb("x"), MANAGED_A)],
                pruned: vec![],
            },
            Case {
                what: "an object no longer desired goes",
                desired: vec![rb("x")],
                observed: vec![observed(rb("x"), MANAGED_A), observed(rb("old"), MANAGED_A)],
                pruned: vec![rb("old")],
            },
            Case {
                what: "without managed-by it is not ours",
                desired: vec![],
                observed: vec![observed(rb("user"), &[(labels::TENANT, "a")])],
                pruned: vec![],
            },
            Case {
                what: "managed-by another tool is not ours",
                desired: vec![],
                observed: vec![observed(
                    rb("helm"),
                    &[(labels::MANAGED_BY, "Helm"), (labels::TENANT, "a")],
                )],
                pruned: vec![],
            },
            Case {
                what: "without the tenant label it is not ours",
                desired: vec![],
                observed: vec![observed(rb("x"), &[(labels::MANAGED_BY, "palisade")])],
                pruned: vec![],
            },
            Case {
                what: "another tenant's objects are never pruned",
                desired: vec![],
                observed: vec![observed(
                    rb("x"),
                    &[(labels::MANAGED_BY, "palisade"), (labels::TENANT, "b")],
                )],
                pruned: vec![],
            },
            Case {
                what: "namespaces are never pruned",
                desired: vec![],
                observed: vec![observed(key("Namespace", None, "a-1"), MANAGED_A)],
                pruned: vec![],
            },
            Case {
                what: "same name, other kind or namespace, is a different object",
                desired: vec![rb("x")],
                observed: vec![
                    observed(key("NetworkPolicy", Some("a-1"), "x"), MANAGED_A),
                    observed(key("RoleBinding", Some("a-2"), "x"), MANAGED_A),
                ],
                pruned: vec![
                    key("NetworkPolicy", Some("a-1"), "x"),
                    key("RoleBinding", Some("a-2"), "x"),
                ],
            },
            Case {
                what: "a cluster-scoped object of a switched-away provider goes",
                desired: vec![rb("x")],
                observed: vec![observed(key("AdminNetworkPolicy", None, "palisade-a"), MANAGED_A)],
                pruned: vec![key("AdminNetworkPolicy", None, "palisade-a")],
            },
        ];
        for case in cases {
            let desired: BTreeSet<ObjectKey> = case.desired.into_iter().collect();
            let got: Vec<ObjectKey> = to_prune("a", &desired, &case.observed).into_iter().cloned().collect();
            let mut want = case.pruned;
            want.sort();
            assert_eq!(got, want, "{}", case.what);
        }
    }
}
