//! RoleBindings written by tenant users name only the tenant's own people. Without this rule an
//! owner could bind `admin` in their namespace to another tenant's users or ServiceAccounts, or to
//! everyone (`system:authenticated`), and their namespace would stop being theirs alone.
//!
//! Inside the tenant: its owners; ServiceAccounts of its namespaces (and their group
//! `system:serviceaccounts:<namespace>`); users and groups that own no other tenant and are not
//! Kubernetes' own (`system:`). Anything else needs `spec.rbac.outsideSubjects`.

use k8s_openapi::api::rbac::v1::{RoleBinding, Subject};
use palisade_api::{SubjectKind, SubjectRef, Tenant};

use super::{InTenant, typed};
use crate::Verdict;

pub fn review(context: &InTenant<'_>) -> Verdict {
    let binding: RoleBinding = match typed(context.request.object.as_ref(), "RoleBinding") {
        Ok(binding) => binding,
        Err(denial) => return denial,
    };
    for subject in binding.subjects.iter().flatten() {
        if let Err(why) = inside(context, subject) {
            return Verdict::deny(format!(
                "tenant \"{}\": RoleBinding \"{}\" binds {} \"{}\", {why}; a RoleBinding in a tenant namespace may name only the tenant's own owners, ServiceAccounts and users (the platform team can allow this subject in spec.rbac.outsideSubjects)",
                context.tenant_name,
                context.request.name,
                subject.kind,
                subject_text(subject),
            ));
        }
    }
    Verdict::Allow
}

fn subject_text(subject: &Subject) -> String {
    match subject.namespace.as_deref().filter(|ns| !ns.is_empty()) {
        Some(namespace) if subject.kind == "ServiceAccount" => format!("{namespace}/{}", subject.name),
        _ => subject.name.clone(),
    }
}

/// `Ok` when `subject` is one of the tenant's own; otherwise why not.
fn inside(context: &InTenant<'_>, subject: &Subject) -> Result<(), &'static str> {
    let own_namespace = |namespace: &str| context.view.tenant_of_namespace(namespace) == Some(context.tenant_name);
    let as_ref = |kind: SubjectKind, name: &str, namespace: Option<&str>| SubjectRef {
        kind,
        name: name.to_string(),
        namespace: namespace.map(String::from),
    };
    let allowed = &context.tenant.spec.rbac.outside_subjects;
    match subject.kind.as_str() {
        "ServiceAccount" => {
            let namespace = subject
                .namespace
                .as_deref()
                .filter(|ns| !ns.is_empty())
                .unwrap_or(context.namespace);
            if own_namespace(namespace)
                || allowed.contains(&as_ref(SubjectKind::ServiceAccount, &subject.name, Some(namespace)))
            {
                return Ok(());
            }
            Err("a ServiceAccount of a namespace outside this tenant")
        }
        "User" => {
            if allowed.contains(&as_ref(SubjectKind::User, &subject.name, None)) {
                return Ok(());
            }
            if let Some(rest) = subject.name.strip_prefix("system:serviceaccount:") {
                let namespace = rest.split_once(':').map(|(ns, _)| ns).unwrap_or_default();
                return if own_namespace(namespace) {
                    Ok(())
                } else {
                    Err("a ServiceAccount of a namespace outside this tenant")
                };
            }
            if subject.name.starts_with("system:") {
                return Err("a Kubernetes system identity");
            }
            owner_elsewhere(context, |tenant| owned_by_user(tenant, &subject.name))
        }
        "Group" => {
            if allowed.contains(&as_ref(SubjectKind::Group, &subject.name, None)) {
                return Ok(());
            }
            if let Some(namespace) = subject.name.strip_prefix("system:serviceaccounts:") {
                return if own_namespace(namespace) {
                    Ok(())
                } else {
                    Err("the ServiceAccounts of a namespace outside this tenant")
                };
            }
            if subject.name.starts_with("system:") {
                return Err("a Kubernetes system group (it holds users of every tenant)");
            }
            owner_elsewhere(context, |tenant| owned_by_group(tenant, &subject.name))
        }
        _ => Err("a subject kind Kubernetes does not know"),
    }
}

/// A user or group that owns this tenant is inside; one that owns only other tenants is not.
fn owner_elsewhere(context: &InTenant<'_>, owns: impl Fn(&Tenant) -> bool) -> Result<(), &'static str> {
    if owns(context.tenant) {
        return Ok(());
    }
    if context.view.tenants().into_iter().any(owns) {
        return Err("an owner of another tenant");
    }
    Ok(())
}

fn owned_by_user(tenant: &Tenant, user: &str) -> bool {
    tenant
        .spec
        .owners
        .iter()
        .any(|o| o.kind == SubjectKind::User && o.name == user)
}

fn owned_by_group(tenant: &Tenant, group: &str) -> bool {
    tenant
        .spec
        .owners
        .iter()
        .any(|o| o.kind == SubjectKind::Group && o.name == group)
}
