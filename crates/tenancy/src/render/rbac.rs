//! RoleBindings: one per owner and ClusterRole, plus the tenant's extra bindings.

use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, PolicyRule, RoleBinding, RoleRef, Subject};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use std::collections::BTreeSet;

use palisade_api::{SubjectKind, SubjectRef, Tenant, labels};

use super::ManagedObject;
use super::cluster_view::{Names, VisibleNames};
use super::naming::{object_name, short_hash};

pub fn render(tenant: &Tenant, namespace: &str) -> Vec<ManagedObject> {
    let tenant_name = tenant.metadata.name.as_deref().unwrap_or_default();
    let mut bindings = Vec::new();
    for owner in &tenant.spec.owners {
        let subject = owner.subject();
        for role in &owner.cluster_roles {
            let name = object_name(&["palisade-owner", role, kind_word(subject.kind), &subject_id(&subject)]);
            bindings.push(binding(
                tenant_name,
                namespace,
                name,
                role,
                std::slice::from_ref(&subject),
            ));
        }
    }
    for extra in &tenant.spec.role_bindings {
        let name = extra.name.clone().unwrap_or_else(|| {
            let subjects: Vec<String> = extra
                .subjects
                .iter()
                .map(|s| format!("{:?}/{}", s.kind, subject_id(s)))
                .collect();
            object_name(&["palisade", &extra.cluster_role, &short_hash(&subjects.join(","))])
        });
        bindings.push(binding(
            tenant_name,
            namespace,
            name,
            &extra.cluster_role,
            &extra.subjects,
        ));
    }
    bindings.sort_by(|a, b| a.name.cmp(&b.name));
    bindings.dedup_by(|a, b| a.name == b.name);
    bindings
}

fn kind_word(kind: SubjectKind) -> &'static str {
    match kind {
        SubjectKind::User => "user",
        SubjectKind::Group => "group",
        SubjectKind::ServiceAccount => "sa",
    }
}

fn subject_id(subject: &SubjectRef) -> String {
    match &subject.namespace {
        Some(ns) => format!("{ns}-{}", subject.name),
        None => subject.name.clone(),
    }
}

fn binding(tenant: &str, namespace: &str, name: String, role: &str, subjects: &[SubjectRef]) -> ManagedObject {
    let object = RoleBinding {
        metadata: ObjectMeta {
            name: Some(name),
            namespace: Some(namespace.to_string()),
            labels: Some(labels::managed_labels(tenant)),
            ..ObjectMeta::default()
        },
        role_ref: RoleRef {
            api_group: Some("rbac.authorization.k8s.io".to_string()),
            kind: "ClusterRole".to_string(),
            name: role.to_string(),
        },
        subjects: Some(subjects.iter().map(rbac_subject).collect()),
    };
    ManagedObject::from_typed(&object)
}

fn rbac_subject(subject: &SubjectRef) -> Subject {
    let (kind, api_group) = match subject.kind {
        SubjectKind::User => ("User", Some("rbac.authorization.k8s.io".to_string())),
        SubjectKind::Group => ("Group", Some("rbac.authorization.k8s.io".to_string())),
        SubjectKind::ServiceAccount => ("ServiceAccount", None),
    };
    Subject {
        kind: kind.to_string(),
        name: subject.name.clone(),
        namespace: subject.namespace.clone(),
        api_group,
    }
}

/// The name of the ClusterRole and ClusterRoleBinding that give `tenant`'s owners what they need
/// at cluster scope.
pub fn owner_cluster_role_name(tenant: &str) -> String {
    format!("palisade:tenant-owner:{tenant}")
}

/// What a tenant's owners need outside their namespaces, and on the namespace objects
/// themselves, as one ClusterRole and its ClusterRoleBinding:
///
/// - `create` namespaces, cluster-wide (RBAC cannot limit a create by name; the webhook decides
///   which tenant a new namespace joins, and refuses names outside the tenant);
/// - `get`, `list`, `watch` their own Tenant, by name (never another tenant's spec);
/// - `get`, `list`, `watch`, `update`, `patch`, `delete` their own namespaces, by name:
///   `namespaces` holds exactly the tenant's current namespaces;
/// - `get`, `list`, `watch` the cluster-scoped objects of `visible` (see
///   [`super::visible_cluster_objects`]), one rule per kind: nodes, PersistentVolumes, then each
///   class kind.
///
/// A rule with `resourceNames` matches a `list` or `watch` only when the request names one
/// object with `fieldSelector=metadata.name=<name>` (the API server reads the name from that
/// selector); a plain list of the kind is still refused, so nothing beyond the names shows.
/// Hence a kind with no visible name gets no rule at all: a rule without `resourceNames` would
/// match every object of the kind. [`Names::All`] is the one rule without names. A tenant
/// without owners gets neither object.
pub fn render_owner_cluster_rbac(tenant: &Tenant, namespaces: &[String], visible: &VisibleNames) -> Vec<ManagedObject> {
    let tenant_name = tenant.metadata.name.as_deref().unwrap_or_default();
    let subjects: Vec<Subject> = tenant
        .spec
        .owners
        .iter()
        .map(|owner| rbac_subject(&owner.subject()))
        .collect();
    if subjects.is_empty() {
        return Vec::new();
    }
    let name = owner_cluster_role_name(tenant_name);
    let read = ["get", "list", "watch"];
    let mut rules = vec![
        PolicyRule {
            api_groups: Some(vec![String::new()]),
            resources: Some(vec!["namespaces".to_string()]),
            verbs: vec!["create".to_string()],
            ..PolicyRule::default()
        },
        PolicyRule {
            api_groups: Some(vec!["palisade.dev".to_string()]),
            resources: Some(vec!["tenants".to_string()]),
            resource_names: Some(vec![tenant_name.to_string()]),
            verbs: read.map(str::to_string).to_vec(),
            ..PolicyRule::default()
        },
    ];
    let namespaces: BTreeSet<String> = namespaces.iter().cloned().collect();
    let verbs = ["get", "list", "watch", "update", "patch", "delete"];
    rules.extend(named_rule("", "namespaces", &verbs, &Names::Only(namespaces)));
    rules.extend(named_rule("", "nodes", &read, &visible.nodes));
    rules.extend(named_rule("", "persistentvolumes", &read, &visible.volumes));
    for (kind, names) in &visible.classes {
        rules.extend(named_rule(kind.api_group(), kind.resource(), &read, names));
    }
    let metadata = ObjectMeta {
        name: Some(name.clone()),
        labels: Some(labels::managed_labels(tenant_name)),
        ..ObjectMeta::default()
    };
    let role = ClusterRole {
        metadata: metadata.clone(),
        rules: Some(rules),
        aggregation_rule: None,
    };
    let binding = ClusterRoleBinding {
        metadata,
        role_ref: RoleRef {
            api_group: Some("rbac.authorization.k8s.io".to_string()),
            kind: "ClusterRole".to_string(),
            name,
        },
        subjects: Some(subjects),
    };
    vec![ManagedObject::from_typed(&role), ManagedObject::from_typed(&binding)]
}

/// `verbs` on the objects of `group`/`resource` that `names` holds, sorted; `None` when it holds
/// none (a rule without `resourceNames` would match them all).
fn named_rule(group: &str, resource: &str, verbs: &[&str], names: &Names) -> Option<PolicyRule> {
    let resource_names = match names {
        Names::All => None,
        Names::Only(names) if names.is_empty() => return None,
        // A BTreeSet iterates sorted: the same names always render the same rule.
        Names::Only(names) => Some(names.iter().cloned().collect()),
    };
    Some(PolicyRule {
        api_groups: Some(vec![group.to_string()]),
        resources: Some(vec![resource.to_string()]),
        resource_names,
        verbs: verbs.iter().map(|v| v.to_string()).collect(),
        ..PolicyRule::default()
    })
}
