//! What to delete: the managed objects of a tenant that the renderer no longer lists. Pure.

use std::collections::BTreeSet;

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

/// The managed objects to delete: those of `managed` (what the tenant has live, both labels)
/// not `desired`, except in a `held` namespace (being deleted, or whose own apply failed: its
/// objects stay as they are). Namespaces are never pruned: a namespace holds the tenant's data,
/// and one that leaves the plan stays (it is deleted with its Tenant, or by its owners).
pub fn to_prune(desired: &BTreeSet<ObjectKey>, managed: &[ObjectKey], held: &BTreeSet<String>) -> Vec<ObjectKey> {
    let mut result: Vec<ObjectKey> = managed
        .iter()
        .filter(|key| !(key.api_version == "v1" && key.kind == "Namespace"))
        .filter(|key| !key.namespace.as_ref().is_some_and(|ns| held.contains(ns)))
        .filter(|key| !desired.contains(key))
        .cloned()
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

    #[test]
    fn table() {
        struct Case {
            what: &'static str,
            desired: Vec<ObjectKey>,
            managed: Vec<ObjectKey>,
            held: &'static [&'static str],
            pruned: Vec<ObjectKey>,
        }
        let rb = |name: &str| key("RoleBinding", Some("a-1"), name);
        let cases = vec![
            Case {
                what: "nothing managed, nothing pruned",
                desired: vec![rb("x")],
                managed: vec![],
                held: &[],
                pruned: vec![],
            },
            Case {
                what: "desired objects stay",
                desired: vec![rb("x")],
                managed: vec![rb("x")],
                held: &[],
                pruned: vec![],
            },
            Case {
                what: "an object no longer desired goes",
                desired: vec![rb("x")],
                managed: vec![rb("x"), rb("old")],
                held: &[],
                pruned: vec![rb("old")],
            },
            Case {
                what: "namespaces are never pruned",
                desired: vec![],
                managed: vec![key("Namespace", None, "a-1")],
                held: &[],
                pruned: vec![],
            },
            Case {
                what: "nothing in a held namespace is pruned",
                desired: vec![],
                managed: vec![rb("old"), key("RoleBinding", Some("a-2"), "old")],
                held: &["a-1"],
                pruned: vec![key("RoleBinding", Some("a-2"), "old")],
            },
            Case {
                what: "same name, other kind or namespace, is a different object",
                desired: vec![rb("x")],
                managed: vec![
                    key("NetworkPolicy", Some("a-1"), "x"),
                    key("RoleBinding", Some("a-2"), "x"),
                ],
                held: &[],
                pruned: vec![
                    key("NetworkPolicy", Some("a-1"), "x"),
                    key("RoleBinding", Some("a-2"), "x"),
                ],
            },
            Case {
                what: "a cluster-scoped object of a switched-away provider goes",
                desired: vec![rb("x")],
                managed: vec![key("AdminNetworkPolicy", None, "palisade-a")],
                held: &["a-1"],
                pruned: vec![key("AdminNetworkPolicy", None, "palisade-a")],
            },
        ];
        for case in cases {
            let desired: BTreeSet<ObjectKey> = case.desired.into_iter().collect();
            let held: BTreeSet<String> = case.held.iter().map(|s| s.to_string()).collect();
            let got = to_prune(&desired, &case.managed, &held);
            let mut want = case.pruned;
            want.sort();
            assert_eq!(got, want, "{}", case.what);
        }
    }
}
