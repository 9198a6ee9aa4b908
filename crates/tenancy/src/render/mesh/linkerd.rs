//! Linkerd: a MeshTLSAuthentication naming the identities allowed in, an AuthorizationPolicy that
//! applies it to every Server of the namespace, and a Server per declared port. The namespace's
//! default inbound policy (set by the namespace renderer) refuses ports without a Server.
//!
//! Narrowed grants (`spec.mesh.allowFromTenantGrants`): a Server per granted port selecting the
//! grant's pods (the `spec.mesh.ports` Server when the grant selects every pod and the port is
//! there already: Linkerd lets one Server hold a pod's port), a MeshTLSAuthentication per granted
//! tenant naming its namespaces, and an AuthorizationPolicy per grant and port that targets the
//! Server and requires that authentication. Validation keeps out what this cannot express (no
//! ports, ranges, UDP/SCTP, two selectors for one port).

use std::collections::BTreeSet;

use palisade_api::Tenant;
use serde_json::{Value, json};

use super::{caller_namespaces, granted_service_accounts};
use crate::render::network::narrowed_names;
use crate::render::{ManagedObject, TenantLookup};

const IDENTITIES_NAME: &str = "palisade-tenant-identities";
const POLICY_GROUP: &str = "policy.linkerd.io";

fn server(namespace: &str, name: &str, tenant: &str, pod_selector: Value, port: u16) -> ManagedObject {
    ManagedObject::custom(
        "policy.linkerd.io/v1beta3",
        "Server",
        Some(namespace),
        name,
        tenant,
        json!({ "podSelector": pod_selector, "port": port }),
    )
}

pub fn render(tenant: &Tenant, namespace: &str, index: &dyn TenantLookup) -> Vec<ManagedObject> {
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
        .map(|&port| server(namespace, &format!("palisade-port-{port}"), name, json!({}), port))
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
                "group": POLICY_GROUP,
                "kind": "MeshTLSAuthentication",
                "name": IDENTITIES_NAME,
            }],
        }),
    ));
    objects.extend(narrowed_grants(tenant, namespace, index));
    objects
}

/// Servers, MeshTLSAuthentications and AuthorizationPolicies of `spec.mesh.allowFromTenantGrants`.
fn narrowed_grants(tenant: &Tenant, namespace: &str, index: &dyn TenantLookup) -> Vec<ManagedObject> {
    let name = tenant.metadata.name.as_deref().unwrap_or_default();
    let mesh = &tenant.spec.mesh;
    let mut objects = Vec::new();
    let mut servers = BTreeSet::new();
    let mut authentications = BTreeSet::new();
    let suffixes = narrowed_names(mesh.allow_from_tenant_grants.iter().map(|g| g.tenant.as_str()));
    for (grant, suffix) in mesh.allow_from_tenant_grants.iter().zip(suffixes) {
        let selector = grant.narrowing_selector();
        let ports: BTreeSet<u16> = grant.ports.iter().map(|p| p.port).collect();
        // The Servers come first and do not depend on the granted tenant's namespaces: they only
        // say which pods' port the policies below apply to (the tenant's own policy, targeting the
        // namespace, covers them too).
        let mut targets = Vec::new();
        for &port in &ports {
            let target = if selector.is_none() && mesh.ports.contains(&port) {
                format!("palisade-port-{port}")
            } else {
                let target = format!("palisade-grant-port-{port}");
                if servers.insert(port) {
                    let pod_selector = selector.map_or_else(|| json!({}), |s| json!(s));
                    objects.push(server(namespace, &target, name, pod_selector, port));
                }
                target
            };
            targets.push((port, target));
        }
        // No namespace yet: nothing to allow (an authentication naming no identity is not one).
        let callers = index.namespaces_of(&grant.tenant);
        if callers.is_empty() {
            continue;
        }
        let authentication = format!("palisade-tenant-{}-identities", grant.tenant);
        if authentications.insert(grant.tenant.clone()) {
            let refs: Vec<Value> = callers
                .iter()
                .map(|ns| json!({ "kind": "Namespace", "name": ns }))
                .collect();
            objects.push(ManagedObject::custom(
                "policy.linkerd.io/v1alpha1",
                "MeshTLSAuthentication",
                Some(namespace),
                &authentication,
                name,
                json!({ "identityRefs": refs }),
            ));
        }
        for (port, target) in targets {
            objects.push(ManagedObject::custom(
                "policy.linkerd.io/v1alpha1",
                "AuthorizationPolicy",
                Some(namespace),
                &format!("palisade-allow-from-tenant-{suffix}-port-{port}"),
                name,
                json!({
                    "targetRef": { "group": POLICY_GROUP, "kind": "Server", "name": target },
                    "requiredAuthenticationRefs": [{
                        "group": POLICY_GROUP,
                        "kind": "MeshTLSAuthentication",
                        "name": authentication,
                    }],
                }),
            ));
        }
    }
    objects
}
