//! What a cluster-wide read becomes for a tenant user: the per-namespace or per-name reads it
//! is made of (each one sent as the user, so the API server authorizes each), or nothing
//! special (passed through). Pure: the same scope and request always give the same plan.

use std::collections::BTreeSet;

use palisade_tenancy::render::{ClassKind, Names, VisibleNames};

use crate::merge::ListShape;
use crate::route::Collection;

/// What a user's tenants hold, sorted: computed from the tenant directory and the inventory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scope {
    pub tenants: Vec<String>,
    pub namespaces: Vec<String>,
    /// The cluster-scoped objects the tenants may see, by kind: the same names the owners'
    /// ClusterRoles grant (`palisade_tenancy::render::visible_cluster_objects`).
    pub visible: VisibleNames,
}

impl Default for Scope {
    fn default() -> Self {
        Scope {
            tenants: Vec::new(),
            namespaces: Vec::new(),
            visible: VisibleNames::nothing(),
        }
    }
}

/// What a user of several tenants may see: everything any of them may.
pub fn widen(into: &mut VisibleNames, other: VisibleNames) {
    fn union(into: &mut Names, other: Names) {
        match (&mut *into, other) {
            (Names::All, _) => {}
            (_, Names::All) => *into = Names::All,
            (Names::Only(mine), Names::Only(theirs)) => mine.extend(theirs),
        }
    }
    union(&mut into.nodes, other.nodes);
    union(&mut into.volumes, other.volumes);
    for (kind, names) in other.classes {
        union(into.classes.entry(kind).or_insert(Names::Only(BTreeSet::new())), names);
    }
}

impl Scope {
    /// Users of no tenant (platform engineers, components) get the API server as it is.
    pub fn is_tenant_user(&self) -> bool {
        !self.tenants.is_empty() || !self.namespaces.is_empty()
    }
}

/// What discovery says about a resource.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResourceInfo {
    pub namespaced: bool,
    pub kind: String,
}

/// One upstream read in a fan-out: its sort key (a namespace or an object name), its path,
/// and the object name it is narrowed to with `fieldSelector=metadata.name=...`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub key: String,
    pub path: String,
    pub name: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Plan {
    PassThrough,
    FanOut {
        view: &'static str,
        targets: Vec<Target>,
        shape: ListShape,
    },
}

pub fn plan(scope: &Scope, collection: &Collection, resource: Option<&ResourceInfo>, table: bool) -> Plan {
    if !scope.is_tenant_user() {
        return Plan::PassThrough;
    }
    let Some(resource) = resource else {
        // Unknown to discovery: the API server answers (404 or 403) as the user.
        return Plan::PassThrough;
    };
    let collection_path = format!("{}/{}", collection.prefix, collection.resource);
    let by_name = |names: &[String]| -> Vec<Target> {
        names
            .iter()
            .map(|name| Target {
                key: name.clone(),
                path: collection_path.clone(),
                name: Some(name.clone()),
            })
            .collect()
    };
    // A kind the tenants may see all of is the API server's to answer: the owners may list it.
    let only = |names: &Names| -> Option<Vec<String>> {
        match names {
            Names::All => None,
            Names::Only(names) => Some(names.iter().cloned().collect()),
        }
    };
    let class = ClassKind::ALL
        .into_iter()
        .find(|k| k.api_group() == collection.group && k.resource() == collection.resource);
    let (view, targets) = match (collection.group.as_str(), collection.resource.as_str()) {
        ("", "namespaces") => ("namespaces", by_name(&scope.namespaces)),
        ("", "nodes") => match only(&scope.visible.nodes) {
            Some(names) => ("nodes", by_name(&names)),
            None => return Plan::PassThrough,
        },
        ("", "persistentvolumes") => match only(&scope.visible.volumes) {
            Some(names) => ("persistentvolumes", by_name(&names)),
            None => return Plan::PassThrough,
        },
        _ if class.is_some() => {
            let names = class.and_then(|k| scope.visible.classes.get(&k)).and_then(only);
            match names {
                Some(names) => ("classes", by_name(&names)),
                None => return Plan::PassThrough,
            }
        }
        (group, "tenants") if group == <palisade_api::Tenant as kube::Resource>::group(&()) => {
            ("tenants", by_name(&scope.tenants))
        }
        _ if resource.namespaced => (
            "all-namespaces",
            scope
                .namespaces
                .iter()
                .map(|ns| Target {
                    key: ns.clone(),
                    path: format!("{}/namespaces/{ns}/{}", collection.prefix, collection.resource),
                    name: None,
                })
                .collect(),
        ),
        _ => return Plan::PassThrough,
    };
    let api_version = collection
        .prefix
        .trim_start_matches("/apis/")
        .trim_start_matches("/api/")
        .to_string();
    Plan::FanOut {
        view,
        targets,
        shape: ListShape {
            api_version,
            list_kind: format!("{}List", resource.kind),
            table,
        },
    }
}

#[cfg(test)]
mod tests {
    use http::Method;

    use super::*;
    use crate::route::collection;

    fn scope() -> Scope {
        let mut visible = VisibleNames::nothing();
        visible.nodes = Names::Only(BTreeSet::from(["node-a".to_string()]));
        visible.classes.insert(ClassKind::Storage, Names::All);
        visible
            .classes
            .insert(ClassKind::Ingress, Names::Only(BTreeSet::from(["public".to_string()])));
        Scope {
            tenants: vec!["payments".into()],
            namespaces: vec!["payments-api".into(), "payments-web".into()],
            visible,
        }
    }

    fn info(namespaced: bool, kind: &str) -> ResourceInfo {
        ResourceInfo {
            namespaced,
            kind: kind.into(),
        }
    }

    fn plan_for(scope: &Scope, path: &str, resource: ResourceInfo) -> Plan {
        plan(
            scope,
            &collection(&Method::GET, path, None).unwrap(),
            Some(&resource),
            false,
        )
    }

    #[test]
    fn namespaces_are_read_one_by_name() {
        let Plan::FanOut { targets, shape, .. } = plan_for(&scope(), "/api/v1/namespaces", info(false, "Namespace"))
        else {
            panic!("namespaces must fan out")
        };
        assert_eq!(targets.len(), 2);
        assert_eq!(targets[0].path, "/api/v1/namespaces");
        assert_eq!(targets[0].name.as_deref(), Some("payments-api"));
        assert_eq!(
            (shape.api_version.as_str(), shape.list_kind.as_str()),
            ("v1", "NamespaceList")
        );
    }

    #[test]
    fn tenants_are_read_one_by_name() {
        let Plan::FanOut { targets, shape, .. } =
            plan_for(&scope(), "/apis/palisade.dev/v1alpha1/tenants", info(false, "Tenant"))
        else {
            panic!("tenants must fan out")
        };
        assert_eq!(
            targets.iter().map(|t| t.name.clone()).collect::<Vec<_>>(),
            [Some("payments".to_string())]
        );
        assert_eq!(shape.api_version, "palisade.dev/v1alpha1");
    }

    #[test]
    fn namespaced_kinds_are_read_in_each_namespace() {
        let Plan::FanOut { targets, .. } = plan_for(&scope(), "/apis/apps/v1/deployments", info(true, "Deployment"))
        else {
            panic!("deployments across namespaces must fan out")
        };
        assert_eq!(targets[1].path, "/apis/apps/v1/namespaces/payments-web/deployments");
        assert_eq!(targets[1].name, None);
    }

    #[test]
    fn cluster_kinds_are_read_by_the_names_the_tenant_may_see() {
        let Plan::FanOut { targets, .. } = plan_for(&scope(), "/api/v1/nodes", info(false, "Node")) else {
            panic!("nodes must fan out")
        };
        assert_eq!(
            targets.iter().map(|t| t.name.clone()).collect::<Vec<_>>(),
            [Some("node-a".to_string())]
        );
        let Plan::FanOut { targets, .. } = plan_for(
            &scope(),
            "/apis/networking.k8s.io/v1/ingressclasses",
            info(false, "IngressClass"),
        ) else {
            panic!("restricted classes must fan out")
        };
        assert_eq!(targets[0].path, "/apis/networking.k8s.io/v1/ingressclasses");
        let Plan::FanOut { targets, .. } =
            plan_for(&scope(), "/api/v1/persistentvolumes", info(false, "PersistentVolume"))
        else {
            panic!("volumes must fan out, even over nothing")
        };
        assert!(targets.is_empty());
        // Every storage class may be used: the owners may list them, the API server answers.
        assert_eq!(
            plan_for(
                &scope(),
                "/apis/storage.k8s.io/v1/storageclasses",
                info(false, "StorageClass")
            ),
            Plan::PassThrough
        );
    }

    #[test]
    fn several_tenants_see_the_union() {
        let mut visible = VisibleNames::nothing();
        let mut other = VisibleNames::nothing();
        other.nodes = Names::Only(BTreeSet::from(["n2".to_string()]));
        other.classes.insert(ClassKind::Runtime, Names::All);
        visible.nodes = Names::Only(BTreeSet::from(["n1".to_string()]));
        widen(&mut visible, other);
        assert_eq!(
            visible.nodes,
            Names::Only(BTreeSet::from(["n1".to_string(), "n2".to_string()]))
        );
        assert_eq!(visible.classes[&ClassKind::Runtime], Names::All);
        assert_eq!(visible.classes[&ClassKind::Priority], Names::Only(BTreeSet::new()));
    }

    #[test]
    fn other_cluster_kinds_and_non_tenant_users_pass_through() {
        assert_eq!(
            plan_for(
                &scope(),
                "/apis/rbac.authorization.k8s.io/v1/clusterroles",
                info(false, "ClusterRole")
            ),
            Plan::PassThrough
        );
        assert_eq!(
            plan_for(&Scope::default(), "/api/v1/namespaces", info(false, "Namespace")),
            Plan::PassThrough
        );
        let unknown = collection(&Method::GET, "/apis/example.com/v1/widgets", None).unwrap();
        assert_eq!(plan(&scope(), &unknown, None, false), Plan::PassThrough);
    }

    #[test]
    fn a_tenant_without_namespaces_gets_an_empty_view_not_the_cluster() {
        let empty = Scope {
            tenants: vec!["new".into()],
            ..Scope::default()
        };
        let Plan::FanOut { targets, .. } = plan_for(&empty, "/api/v1/pods", info(true, "Pod")) else {
            panic!("a tenant user's pods -A must fan out even over nothing")
        };
        assert!(targets.is_empty());
    }
}
