//! Namespaces: who may create one in which tenant, and the tenant binding that nothing but an
//! administrator or Palisade itself can ever set, change or remove — on create, on update, and on
//! the `status` and `finalize` subresources alike (three of Capsule's five CVEs went around this).

use std::collections::BTreeMap;

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
    match request.operation {
        Operation::Create => create(request, requester, view, config),
        Operation::Update => update(request, requester, view),
        Operation::Delete => delete(request, requester, view),
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
        // Not a tenant owner and not asking for a tenant: RBAC let them create namespaces, so
        // they act for the platform; the namespace is simply not a tenant namespace.
        (None, []) => return Verdict::Allow,
        (None, [only]) => *only,
        (None, several) => match by_prefix(namespace, several) {
            Ok(tenant) => tenant,
            Err(message) => return Verdict::deny(message),
        },
    };
    let tenant_name = name_of(tenant);

    if config.is_protected_namespace(namespace) {
        return Verdict::deny(format!(
            "namespace \"{namespace}\" is reserved for the cluster; tenant \"{tenant_name}\" cannot hold it"
        ));
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

fn tenant_references(object: Option<&DynamicObject>) -> Vec<(String, String)> {
    object
        .and_then(|o| o.metadata.owner_references.as_ref())
        .map(|refs| {
            refs.iter()
                .filter(|r| r.kind == "Tenant" && r.api_version.starts_with("palisade.dev/"))
                .map(|r| (r.name.clone(), r.uid.clone()))
                .collect()
        })
        .unwrap_or_default()
}

fn update(request: &AdmissionRequest<DynamicObject>, requester: &Requester, view: &dyn ClusterView) -> Verdict {
    let namespace = request.name.as_str();
    let old_labels = labels_of(request.old_object.as_ref());
    let new_labels = labels_of(request.object.as_ref());
    let old_tenant = old_labels.get(labels::TENANT);
    let new_tenant = new_labels.get(labels::TENANT);
    if old_tenant != new_tenant {
        let message = match (old_tenant, new_tenant) {
            (Some(old), None) => format!(
                "namespace \"{namespace}\" belongs to tenant \"{old}\"; only the platform team can remove the label {}",
                labels::TENANT
            ),
            (None, Some(new)) => format!(
                "namespace \"{namespace}\" is not a tenant namespace; the label {}={new} is set by Palisade when a tenant creates a namespace, and cannot be added",
                labels::TENANT
            ),
            (Some(old), Some(new)) => {
                format!("namespace \"{namespace}\" belongs to tenant \"{old}\" and cannot be moved to tenant \"{new}\"")
            }
            (None, None) => String::new(),
        };
        return Verdict::deny(message);
    }
    if tenant_references(request.old_object.as_ref()) != tenant_references(request.object.as_ref()) {
        return Verdict::deny(format!(
            "the owner reference binding namespace \"{namespace}\" to its Tenant is set by Palisade and cannot be added, changed or removed"
        ));
    }
    let Some(tenant_name) = old_tenant else {
        return Verdict::Allow;
    };
    let Some(tenant) = view.tenant(tenant_name) else {
        return Verdict::deny(format!(
            "namespace \"{namespace}\" belongs to tenant \"{tenant_name}\", which Palisade does not know (yet); retry in a moment"
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
    Verdict::Allow
}

fn delete(request: &AdmissionRequest<DynamicObject>, requester: &Requester, view: &dyn ClusterView) -> Verdict {
    let Some(tenant_name) = labels_of(request.old_object.as_ref()).get(labels::TENANT).cloned() else {
        return Verdict::Allow;
    };
    match view.tenant(&tenant_name) {
        Some(tenant) if tenant.spec.cordoned && !requester.is_system_component() => Verdict::deny(format!(
            "tenant \"{tenant_name}\" is cordoned: namespace \"{}\" cannot be deleted until the platform team lifts the cordon",
            request.name
        )),
        _ => Verdict::Allow,
    }
}
