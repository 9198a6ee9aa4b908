//! Namespaces: who may create one in which tenant, and the tenant binding that nothing but an
//! administrator or Palisade itself can ever set, change or remove — on create, on update, and on
//! the `status` and `finalize` subresources alike (three of Capsule's five CVEs went around this).

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::core::DynamicObject;
use kube::core::admission::{AdmissionRequest, Operation};
use palisade_api::{Tenant, labels};
use palisade_tenancy::render::{namespace_annotations, namespace_labels};
use serde_json::{Value, json};

use super::object_json;
use crate::{AdmissionConfig, ClusterView, Requester, Verdict};

pub fn review(
    request: &AdmissionRequest<DynamicObject>,
    requester: &Requester,
    view: &dyn ClusterView,
    config: &AdmissionConfig,
) -> Verdict {
    let acting = requester.tenants(view);
    match request.operation {
        Operation::Create => create(request, requester, view, config, &acting),
        Operation::Update => update(request, requester, view, &acting),
        Operation::Delete => delete(request, requester, view, &acting),
        Operation::Connect => Verdict::Allow,
    }
}

fn labels_of(object: Option<&DynamicObject>) -> BTreeMap<String, String> {
    object.and_then(|o| o.metadata.labels.clone()).unwrap_or_default()
}

fn annotations_of(object: Option<&DynamicObject>) -> BTreeMap<String, String> {
    object.and_then(|o| o.metadata.annotations.clone()).unwrap_or_default()
}

fn name_of(tenant: &Tenant) -> &str {
    tenant.metadata.name.as_deref().unwrap_or_default()
}

fn create(
    request: &AdmissionRequest<DynamicObject>,
    requester: &Requester,
    view: &dyn ClusterView,
    config: &AdmissionConfig,
    acting: &[&str],
) -> Verdict {
    let namespace = request.name.as_str();
    let claimed = labels_of(request.object.as_ref()).get(labels::TENANT).cloned();
    let owned: Vec<&Tenant> = view.tenants().into_iter().filter(|t| requester.owns(t)).collect();

    let tenant = match (&claimed, owned.as_slice()) {
        (Some(claimed), _) => match owned.iter().find(|t| name_of(t) == claimed) {
            Some(tenant) => *tenant,
            None => {
                return Verdict::deny(format!(
                    "namespace \"{namespace}\" asks for tenant \"{claimed}\" ({}={claimed}), but {} is not an owner of that tenant",
                    labels::TENANT,
                    requester.username
                ));
            }
        },
        // A ServiceAccount or user of a tenant who owns none: a namespace it made would stand
        // outside every tenant (no quota, no isolation), so it makes none.
        (None, []) if !acting.is_empty() && !requester.is_system_component() => {
            return Verdict::deny(format!(
                "{} acts for a tenant but is not one of its owners; only tenant owners create namespaces, and only inside their tenant",
                requester.username
            ));
        }
        // Not a tenant user and not asking for a tenant: RBAC let them create namespaces, so they
        // act for the platform; the namespace is simply not a tenant namespace, unless its name
        // is one a tenant's forced prefix reserves.
        (None, []) => {
            if !tenant_references(request.object.as_ref()).is_empty() {
                return foreign_tenant_reference(namespace);
            }
            return reserved_by_prefix(namespace, view).unwrap_or(Verdict::Allow);
        }
        (None, [only]) => *only,
        (None, several) => match by_prefix(namespace, several) {
            Ok(tenant) => tenant,
            Err(message) => return Verdict::deny(message),
        },
    };
    let tenant_name = name_of(tenant);
    // The validating pass sees the reference our mutating pass wrote; any other is forged.
    let ours = (tenant_name.to_string(), tenant.metadata.uid.clone().unwrap_or_default());
    if tenant_references(request.object.as_ref()).iter().any(|r| *r != ours) {
        return foreign_tenant_reference(namespace);
    }

    if config.is_protected_namespace(namespace) {
        return Verdict::deny(format!(
            "namespace \"{namespace}\" is reserved for the cluster; tenant \"{tenant_name}\" cannot hold it"
        ));
    }
    if is_granted_platform_namespace(namespace, view) {
        // Grants to platform namespaces go by name; a tenant namespace of that name would get them.
        return Verdict::deny(format!(
            "namespace name \"{namespace}\" is reserved for a platform namespace; tenant \"{tenant_name}\" cannot hold it, choose another name"
        ));
    }
    if let Some(denial) = lifetime_fields(request, &ours) {
        return denial;
    }
    if tenant.spec.cordoned {
        return Verdict::deny(format!(
            "tenant \"{tenant_name}\" is cordoned: no new namespaces until the platform team lifts the cordon"
        ));
    }
    let prefix = format!("{tenant_name}-");
    if tenant.spec.namespaces.force_prefix && !namespace.starts_with(&prefix) {
        return Verdict::deny(format!(
            "tenant \"{tenant_name}\" names its namespaces \"{prefix}<name>\"; \"{namespace}\" does not start with \"{prefix}\""
        ));
    }
    if let Some(max) = tenant.spec.namespaces.max {
        let existing = view.namespaces_of(tenant_name);
        if existing.len() >= max as usize {
            return Verdict::deny(format!(
                "tenant \"{tenant_name}\" may have at most {max} namespaces and already has {} ({}); delete one or ask your platform team to raise spec.namespaces.max",
                existing.len(),
                existing.join(", ")
            ));
        }
    }
    bind(request, tenant)
}

fn foreign_tenant_reference(namespace: &str) -> Verdict {
    Verdict::deny(format!(
        "namespace \"{namespace}\" carries an owner reference to a Tenant; Palisade sets that reference itself when a tenant owner creates a namespace, and no one else can"
    ))
}

/// A name under the forced `<tenant>-` prefix of some tenant belongs to that tenant: nobody else
/// may create it, or its owners could never have it.
fn reserved_by_prefix(namespace: &str, view: &dyn ClusterView) -> Option<Verdict> {
    let reserved = view
        .tenants()
        .into_iter()
        .any(|tenant| tenant.spec.namespaces.force_prefix && namespace.starts_with(&format!("{}-", name_of(tenant))));
    reserved.then(|| {
        Verdict::deny(format!(
            "namespace \"{namespace}\" is under a tenant's forced name prefix; only that tenant's owners can create it"
        ))
    })
}

/// Whether some Tenant grants access to a platform namespace of this name.
fn is_granted_platform_namespace(namespace: &str, view: &dyn ClusterView) -> bool {
    view.tenants()
        .into_iter()
        .any(|tenant| tenant.spec.network.allow_from.namespaces.iter().any(|n| n == namespace))
}

/// Owner references and finalizers decide when the API deletes a namespace or leaves it hanging;
/// a tenant namespace gets Palisade's reference and Kubernetes' finalizer, nothing a user wrote.
fn lifetime_fields(request: &AdmissionRequest<DynamicObject>, ours: &(String, String)) -> Option<Verdict> {
    let metadata = &request.object.as_ref()?.metadata;
    let foreign_reference = metadata
        .owner_references
        .iter()
        .flatten()
        .any(|r| !(is_tenant_reference(r) && (r.name.clone(), r.uid.clone()) == *ours));
    let field = if foreign_reference {
        "owner references"
    } else if metadata.finalizers.as_ref().is_some_and(|f| !f.is_empty()) {
        "finalizers"
    } else {
        return None;
    };
    Some(Verdict::deny(format!(
        "a tenant namespace cannot be created with {field}: they decide when Kubernetes deletes the namespace, and Palisade sets them itself"
    )))
}

/// Among several owned tenants, the one whose `<tenant>-` prefix the name carries (the longest).
fn by_prefix<'a>(namespace: &str, owned: &[&'a Tenant]) -> Result<&'a Tenant, String> {
    let mut matching: Vec<&Tenant> = owned
        .iter()
        .copied()
        .filter(|t| namespace.starts_with(&format!("{}-", name_of(t))))
        .collect();
    matching.sort_by_key(|t| std::cmp::Reverse(name_of(t).len()));
    let names = || {
        owned
            .iter()
            .map(|t| format!("\"{}\"", name_of(t)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    match matching.as_slice() {
        [] => Err(format!(
            "you own several tenants ({}): say which one \"{namespace}\" belongs to with the label {}=<tenant>, or name it <tenant>-<name>",
            names(),
            labels::TENANT
        )),
        [first, second, ..] if name_of(first).len() == name_of(second).len() => Err(format!(
            "\"{namespace}\" matches the prefix of more than one of your tenants ({}); add the label {}=<tenant>",
            names(),
            labels::TENANT
        )),
        [first, ..] => Ok(*first),
    }
}

/// The patch that binds the new namespace to `tenant`: tenant and managed labels, managed
/// annotations, and an owner reference so the namespace goes when the Tenant goes.
fn bind(request: &AdmissionRequest<DynamicObject>, tenant: &Tenant) -> Verdict {
    let Some(before) = object_json(request.object.as_ref()) else {
        return Verdict::deny("the request carries no Namespace");
    };
    let mut after = before.clone();
    let metadata = &mut after["metadata"];
    merge_map(&mut metadata["labels"], namespace_labels(tenant));
    merge_map(&mut metadata["annotations"], namespace_annotations(tenant));
    if let Some(uid) = &tenant.metadata.uid {
        let reference = json!({
            "apiVersion": "palisade.dev/v1alpha1",
            "kind": "Tenant",
            "name": name_of(tenant),
            "uid": uid,
            "controller": true,
        });
        match &mut metadata["ownerReferences"] {
            Value::Array(references) => references.push(reference),
            slot => *slot = Value::Array(vec![reference]),
        }
    }
    Verdict::patch_between(&before, &after)
}

fn merge_map(slot: &mut Value, entries: BTreeMap<String, String>) {
    if entries.is_empty() {
        return;
    }
    if !slot.is_object() {
        *slot = json!({});
    }
    if let Value::Object(map) = slot {
        for (key, value) in entries {
            map.insert(key, Value::String(value));
        }
    }
}

/// Whether an owner reference points at a Tenant, however its group is spelled: the API server
/// compares group names case-sensitively, but a look-alike spelling must not slip past the guard.
fn is_tenant_reference(reference: &OwnerReference) -> bool {
    let group = reference.api_version.split('/').next().unwrap_or_default();
    reference.kind.eq_ignore_ascii_case("Tenant") && group.eq_ignore_ascii_case("palisade.dev")
}

fn tenant_references(object: Option<&DynamicObject>) -> Vec<(String, String)> {
    object
        .and_then(|o| o.metadata.owner_references.as_ref())
        .map(|refs| {
            refs.iter()
                .filter(|r| is_tenant_reference(r))
                .map(|r| (r.name.clone(), r.uid.clone()))
                .collect()
        })
        .unwrap_or_default()
}

/// Label and annotation prefixes that steer Palisade, Pod Security or the scheduler: a tenant
/// user changes none of them on a namespace, managed value or not.
const RESERVED_PREFIXES: [&str; 3] = [
    "palisade.dev/",
    "pod-security.kubernetes.io/",
    "scheduler.alpha.kubernetes.io/",
];

fn update(
    request: &AdmissionRequest<DynamicObject>,
    requester: &Requester,
    view: &dyn ClusterView,
    acting: &[&str],
) -> Verdict {
    let namespace = request.name.as_str();
    let old_labels = labels_of(request.old_object.as_ref());
    let new_labels = labels_of(request.object.as_ref());
    let old_tenant = old_labels.get(labels::TENANT);
    let new_tenant = new_labels.get(labels::TENANT);
    if old_tenant != new_tenant {
        let message = match (old_tenant, new_tenant) {
            (Some(_), None) => format!(
                "namespace \"{namespace}\" belongs to a tenant; only the platform team can remove the label {}",
                labels::TENANT
            ),
            (None, Some(new)) => format!(
                "namespace \"{namespace}\" is not a tenant namespace; the label {}={new} is set by Palisade when a tenant creates a namespace, and cannot be added",
                labels::TENANT
            ),
            (Some(_), Some(new)) => format!(
                "namespace \"{namespace}\" belongs to a tenant and cannot be moved to tenant \"{new}\" (the label {} is set once, by Palisade)",
                labels::TENANT
            ),
            (None, None) => String::new(),
        };
        return Verdict::deny(message);
    }
    if tenant_references(request.old_object.as_ref()) != tenant_references(request.object.as_ref()) {
        return Verdict::deny(format!(
            "the owner reference binding namespace \"{namespace}\" to its Tenant is set by Palisade and cannot be added, changed or removed"
        ));
    }
    let is_tenant_user = !acting.is_empty() && !requester.is_system_component();
    if is_tenant_user {
        if !old_tenant.is_some_and(|t| acting.contains(&t.as_str())) {
            return not_yours(namespace, "change");
        }
        if let Some(denial) = lifetime_and_subresources(request) {
            return denial;
        }
    }
    let Some(tenant_name) = old_tenant else {
        return Verdict::Allow;
    };
    let Some(tenant) = view.tenant(tenant_name) else {
        return Verdict::deny(format!(
            "namespace \"{namespace}\" is bound to a tenant Palisade does not know yet; retry in a moment"
        ));
    };
    if requester.is_system_component() {
        return Verdict::Allow;
    }
    if tenant.spec.cordoned {
        return Verdict::deny(format!(
            "tenant \"{tenant_name}\" is cordoned: namespace \"{namespace}\" is read-only until the platform team lifts the cordon"
        ));
    }
    let old_annotations = annotations_of(request.old_object.as_ref());
    let new_annotations = annotations_of(request.object.as_ref());
    let managed = [
        ("label", namespace_labels(tenant), &old_labels, &new_labels),
        (
            "annotation",
            namespace_annotations(tenant),
            &old_annotations,
            &new_annotations,
        ),
    ];
    for (what, desired, old, new) in managed {
        for (key, wanted) in &desired {
            // Setting a managed key to its managed value is fine (the controller may not have
            // caught up with the Tenant yet); anything else is not.
            if old.get(key) != new.get(key) && new.get(key) != Some(wanted) {
                let shown = new
                    .get(key)
                    .map(|v| format!("\"{v}\""))
                    .unwrap_or_else(|| "removed".to_string());
                return Verdict::deny(format!(
                    "tenant \"{tenant_name}\" manages the {what} {key} of namespace \"{namespace}\" (it must stay {}); it cannot be {}",
                    old.get(key)
                        .map(|v| format!("\"{v}\""))
                        .unwrap_or_else(|| "unset".into()),
                    if shown == "removed" {
                        "removed".to_string()
                    } else {
                        format!("changed to {shown}")
                    }
                ));
            }
        }
    }
    if is_tenant_user && let Some(denial) = reserved_keys(request) {
        return denial;
    }
    Verdict::Allow
}

/// What a tenant user may not do even to a namespace of their own tenant: the subresources that
/// belong to Kubernetes, and the fields that decide when the API deletes or orphans it.
fn lifetime_and_subresources(request: &AdmissionRequest<DynamicObject>) -> Option<Verdict> {
    let namespace = request.name.as_str();
    if let Some(subresource) = request.sub_resource.as_deref().filter(|s| !s.is_empty()) {
        return Some(Verdict::deny(format!(
            "the {subresource} of namespace \"{namespace}\" is written by Kubernetes' namespace controller; tenant users cannot write namespaces/{subresource}"
        )));
    }
    let metadata_of = |object: Option<&DynamicObject>| object.map(|o| o.metadata.clone()).unwrap_or_default();
    let (old, new) = (
        metadata_of(request.old_object.as_ref()),
        metadata_of(request.object.as_ref()),
    );
    if old.owner_references.unwrap_or_default() != new.owner_references.unwrap_or_default() {
        return Some(Verdict::deny(format!(
            "the owner references of namespace \"{namespace}\" decide when Kubernetes deletes it; tenant users cannot change them"
        )));
    }
    if old.finalizers.unwrap_or_default() != new.finalizers.unwrap_or_default() {
        return Some(Verdict::deny(format!(
            "the finalizers of namespace \"{namespace}\" decide when Kubernetes may remove it; tenant users cannot change them"
        )));
    }
    None
}

/// Labels and annotations that steer Palisade, Pod Security or the scheduler, managed value or
/// not (a key the Tenant does not set today is still not the tenant user's to set).
fn reserved_keys(request: &AdmissionRequest<DynamicObject>) -> Option<Verdict> {
    let namespace = request.name.as_str();
    let metadata_of = |object: Option<&DynamicObject>| object.map(|o| o.metadata.clone()).unwrap_or_default();
    let (old, new) = (
        metadata_of(request.old_object.as_ref()),
        metadata_of(request.object.as_ref()),
    );
    let maps = [
        ("label", old.labels.unwrap_or_default(), new.labels.unwrap_or_default()),
        (
            "annotation",
            old.annotations.unwrap_or_default(),
            new.annotations.unwrap_or_default(),
        ),
    ];
    for (what, old, new) in &maps {
        let keys = old.keys().chain(new.keys());
        for key in keys {
            if old.get(key) != new.get(key) && RESERVED_PREFIXES.iter().any(|p| key.starts_with(p)) {
                return Some(Verdict::deny(format!(
                    "the {what} {key} of namespace \"{namespace}\" is kept by Palisade from the Tenant; tenant users cannot set, change or remove it (ask your platform team to change the Tenant)"
                )));
            }
        }
    }
    None
}

/// The denial for a tenant user touching a namespace outside their tenants. It never says whose
/// the namespace is.
fn not_yours(namespace: &str, verb: &str) -> Verdict {
    Verdict::deny(format!(
        "namespace \"{namespace}\" is not a namespace of your tenant; tenant users can {verb} only their own tenant's namespaces"
    ))
}

fn delete(
    request: &AdmissionRequest<DynamicObject>,
    requester: &Requester,
    view: &dyn ClusterView,
    acting: &[&str],
) -> Verdict {
    let tenant_name = labels_of(request.old_object.as_ref()).get(labels::TENANT).cloned();
    if requester.is_system_component() {
        return Verdict::Allow;
    }
    if !acting.is_empty() && !tenant_name.as_deref().is_some_and(|t| acting.contains(&t)) {
        return not_yours(&request.name, "delete");
    }
    let Some(tenant_name) = tenant_name else {
        return Verdict::Allow;
    };
    match view.tenant(&tenant_name) {
        Some(tenant) if tenant.spec.cordoned => Verdict::deny(format!(
            "tenant \"{tenant_name}\" is cordoned: namespace \"{}\" cannot be deleted until the platform team lifts the cordon",
            request.name
        )),
        _ => Verdict::Allow,
    }
}
