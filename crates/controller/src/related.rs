//! Which tenants a change wakes besides the changed one: the renderer reads other tenants'
//! grants and namespaces, so their objects depend on it. Pure.

use std::collections::BTreeSet;

use palisade_api::Tenant;

/// Tenants to reconcile when `changed` changes, given its network grants before the change and
/// all tenants now: the tenants it grants network access to (before and after: they gain or lose
/// egress rules to it), and the tenants whose mesh lets it call in (their authorization lists
/// its namespaces). `changed` itself is not included.
pub fn woken_by_tenant(changed: &Tenant, granted_before: &BTreeSet<String>, tenants: &[&Tenant]) -> BTreeSet<String> {
    let name = changed.metadata.name.as_deref().unwrap_or_default();
    let mut woken: BTreeSet<String> = granted_before.clone();
    woken.extend(changed.spec.network.allow_from.tenant_names());
    woken.extend(mesh_callers_of(name, tenants));
    woken.remove(name);
    woken
}

/// Tenants whose mesh authorization names the namespaces of `tenant`.
pub fn mesh_callers_of(tenant: &str, tenants: &[&Tenant]) -> BTreeSet<String> {
    tenants
        .iter()
        .filter(|t| {
            let mesh = &t.spec.mesh;
            mesh.allow_from_tenants.iter().any(|g| g == tenant)
                || mesh.allow_from_tenant_grants.iter().any(|g| g.tenant == tenant)
        })
        .filter_map(|t| t.metadata.name.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenant(name: &str, network_from: &[&str], mesh_from: &[&str]) -> Tenant {
        let mut t: Tenant = serde_json::from_value(serde_json::json!({
            "apiVersion": "palisade.dev/v1alpha1", "kind": "Tenant",
            "metadata": { "name": name },
            "spec": { "owners": [{ "kind": "User", "name": "alice" }] }
        }))
        .unwrap();
        t.spec.network.allow_from.tenants = network_from.iter().map(|s| s.to_string()).collect();
        t.spec.mesh.allow_from_tenants = mesh_from.iter().map(|s| s.to_string()).collect();
        t
    }

    fn set(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn table() {
        let a_now = tenant("a", &["b"], &[]);
        let c = tenant("c", &[], &["a"]);
        let d = tenant("d", &[], &["x"]);
        let all = [&a_now, &c, &d];
        let cases = [
            ("grants now, none before", set(&[]), set(&["b", "c"])),
            (
                "a grant withdrawn still wakes its tenant",
                set(&["e"]),
                set(&["b", "c", "e"]),
            ),
            ("itself is never listed", set(&["a"]), set(&["b", "c"])),
        ];
        for (what, before, want) in cases {
            assert_eq!(woken_by_tenant(&a_now, &before, &all), want, "{what}");
        }
        assert_eq!(mesh_callers_of("x", &all), set(&["d"]));
        assert!(mesh_callers_of("nobody", &all).is_empty());
    }
}
