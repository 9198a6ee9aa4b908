//! RoleBindings: one per owner and ClusterRole, plus the tenant's extra bindings.

use k8s_openapi::api::rbac::v1::{RoleBinding, RoleRef, Subject};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use palisade_api::{SubjectKind, SubjectRef, Tenant, labels};

use super::ManagedObject;
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
