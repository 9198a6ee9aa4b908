//! Linkerd: a MeshTLSAuthentication naming the identities allowed in, an AuthorizationPolicy that
//! applies it to every Server of the namespace, and a Server per declared port. The namespace's
//! default inbound policy (set by the namespace renderer) refuses ports without a Server.

use palisade_api::Tenant;
use serde_json::{Value, json};

use super::{caller_namespaces, granted_service_accounts};
use crate::render::{ManagedObject, TenantIndex};

const IDENTITIES_NAME: &str = "palisade-tenant-identities";

pub fn render(tenant: &Tenant, namespace: &str, index: &TenantIndex) -> Vec<ManagedObject> {
    let name = tenant.metadata.name.as_deref().unwrap_or_default();
    let mut namespaces = caller_namespaces(tenant, index);
    if !namespaces.iter().any(|ns| ns == namespace) {
        namespaces.push(namespace.to_string());
        namespaces.sort();
    }
    let mut refs: Vec<Value> = namespaces
        .iter()
        .map(|ns| json!({ "kind": "Namespace", "name": ns }))
        .collect();
    refs.extend(
        granted_service_accounts(tenant)
            .into_iter()
            .map(|(ns, sa)| match sa.as_str() {
                "*" => json!({ "kind": "Namespace", "name": ns }),
                _ => json!({ "kind": "ServiceAccount", "name": sa, "namespace": ns }),
            }),
    );

    let mut objects: Vec<ManagedObject> = tenant
        .spec
        .mesh
        .ports
        .iter()
        .map(|port| {
            ManagedObject::custom(
                "policy.linkerd.io/v1beta3",
                "Server",
                Some(namespace),
                &format!("palisade-port-{port}"),
                name,
                json!({ "podSelector": {}, "port": port }),
            )
        })
        .collect();
    objects.push(ManagedObject::custom(
        "policy.linkerd.io/v1alpha1",
        "MeshTLSAuthentication",
        Some(namespace),
        IDENTITIES_NAME,
        name,
        json!({ "identityRefs": refs }),
    ));
    objects.push(ManagedObject::custom(
        "policy.linkerd.io/v1alpha1",
        "AuthorizationPolicy",
        Some(namespace),
        "palisade-tenant-isolation",
        name,
        json!({
            "targetRef": { "kind": "Namespace", "name": namespace },
            "requiredAuthenticationRefs": [{
                "group": "policy.linkerd.io",
                "kind": "MeshTLSAuthentication",
                "name": IDENTITIES_NAME,
            }],
        }),
    ));
    objects
}
