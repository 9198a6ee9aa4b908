//! Istio: PeerAuthentication (mTLS mode) and an ALLOW AuthorizationPolicy whose presence puts every
//! workload of the namespace into default deny, admitting only the listed identities.
//! Principals are `<trust domain>/ns/<namespace>/sa/<service account>`, without `spiffe://`, as
//! Istio matches them.

use palisade_api::{MtlsMode, Tenant};
use serde_json::json;

use super::{caller_namespaces, granted_service_accounts};
use crate::render::network::narrowed_names;
use crate::render::{ManagedObject, TenantLookup};

pub fn render(tenant: &Tenant, namespace: &str, index: &dyn TenantLookup) -> Vec<ManagedObject> {
    let name = tenant.metadata.name.as_deref().unwrap_or_default();
    let mesh = &tenant.spec.mesh;
    let mode = match mesh.mtls {
        MtlsMode::Strict => "STRICT",
        MtlsMode::Permissive => "PERMISSIVE",
    };
    let peer_authentication = ManagedObject::custom(
        "security.istio.io/v1",
        "PeerAuthentication",
        Some(namespace),
        "palisade-mtls",
        name,
        json!({ "mtls": { "mode": mode } }),
    );

    let domain = &mesh.trust_domain;
    let mut principals: Vec<String> = caller_namespaces(tenant, index)
        .iter()
        .map(|ns| format!("{domain}/ns/{ns}/sa/*"))
        .collect();
    principals.extend(
        granted_service_accounts(tenant)
            .iter()
            .map(|(ns, sa)| format!("{domain}/ns/{ns}/sa/{sa}")),
    );
    // The namespace being rendered is always a caller of itself, even before the index knows it.
    let own = format!("{domain}/ns/{namespace}/sa/*");
    if !principals.contains(&own) {
        principals.push(own);
    }
    principals.sort();
    let authorization = ManagedObject::custom(
        "security.istio.io/v1",
        "AuthorizationPolicy",
        Some(namespace),
        "palisade-tenant-isolation",
        name,
        json!({
            "action": "ALLOW",
            "rules": [{ "from": [{ "source": { "principals": principals } }] }],
        }),
    );
    let mut objects = vec![peer_authentication, authorization];

    // Narrowed grants: one ALLOW policy each, for the selected workloads and the listed ports.
    // ALLOW policies add up, so these only widen the tenant's own policy by what they say.
    let names = narrowed_names(mesh.allow_from_tenant_grants.iter().map(|g| g.tenant.as_str()));
    for (grant, suffix) in mesh.allow_from_tenant_grants.iter().zip(names) {
        let principals: Vec<String> = index
            .namespaces_of(&grant.tenant)
            .iter()
            .map(|ns| format!("{domain}/ns/{ns}/sa/*"))
            .collect();
        // No namespace yet: nothing to allow (an empty `principals` would match every caller).
        if principals.is_empty() {
            continue;
        }
        let mut rule = json!({ "from": [{ "source": { "principals": principals } }] });
        if !grant.ports.is_empty() {
            let ports: Vec<String> = grant.ports.iter().map(|p| p.port.to_string()).collect();
            rule["to"] = json!([{ "operation": { "ports": ports } }]);
        }
        let mut spec = json!({ "action": "ALLOW", "rules": [rule] });
        if let Some(labels) = grant.pod_selector.as_ref().and_then(|s| s.match_labels.as_ref()) {
            spec["selector"] = json!({ "matchLabels": labels });
        }
        objects.push(ManagedObject::custom(
            "security.istio.io/v1",
            "AuthorizationPolicy",
            Some(namespace),
            &format!("palisade-allow-from-tenant-{suffix}"),
            name,
            spec,
        ));
    }
    objects
}
