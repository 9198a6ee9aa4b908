//! The kinds Palisade manages: their REST plural, scope, and whether every cluster serves them.

use kube::api::ApiResource;
use kube::core::GroupVersionKind;

/// One kind the renderer emits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ManagedKind {
    pub api_version: &'static str,
    pub kind: &'static str,
    pub plural: &'static str,
    pub namespaced: bool,
    /// Built into Kubernetes: served by every cluster, never looked up by discovery.
    pub built_in: bool,
}

impl ManagedKind {
    /// `(group, version)` of the kind; the core group is `""`.
    pub fn group_version(&self) -> (&'static str, &'static str) {
        match self.api_version.split_once('/') {
            Some((group, version)) => (group, version),
            None => ("", self.api_version),
        }
    }

    pub fn api_resource(&self) -> ApiResource {
        let (group, version) = self.group_version();
        ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, self.kind), self.plural)
    }

    /// `kind (apiVersion)`, for messages.
    pub fn describe(&self) -> String {
        format!("{} ({})", self.kind, self.api_version)
    }
}

const fn kind(
    api_version: &'static str,
    kind: &'static str,
    plural: &'static str,
    namespaced: bool,
    built_in: bool,
) -> ManagedKind {
    ManagedKind {
        api_version,
        kind,
        plural,
        namespaced,
        built_in,
    }
}

/// Every kind the renderer can emit, cluster-scoped kinds first.
pub const MANAGED_KINDS: &[ManagedKind] = &[
    kind("v1", "Namespace", "namespaces", false, true),
    kind(
        "rbac.authorization.k8s.io/v1",
        "ClusterRole",
        "clusterroles",
        false,
        true,
    ),
    kind(
        "rbac.authorization.k8s.io/v1",
        "ClusterRoleBinding",
        "clusterrolebindings",
        false,
        true,
    ),
    kind(
        "policy.networking.k8s.io/v1alpha1",
        "AdminNetworkPolicy",
        "adminnetworkpolicies",
        false,
        false,
    ),
    kind(
        "cilium.io/v2",
        "CiliumClusterwideNetworkPolicy",
        "ciliumclusterwidenetworkpolicies",
        false,
        false,
    ),
    kind(
        "admissionregistration.k8s.io/v1",
        "ValidatingAdmissionPolicyBinding",
        "validatingadmissionpolicybindings",
        false,
        true,
    ),
    kind(
        "rbac.authorization.k8s.io/v1",
        "RoleBinding",
        "rolebindings",
        true,
        true,
    ),
    kind("v1", "ResourceQuota", "resourcequotas", true, true),
    kind("v1", "LimitRange", "limitranges", true, true),
    kind("networking.k8s.io/v1", "NetworkPolicy", "networkpolicies", true, true),
    kind("projectcalico.org/v3", "NetworkPolicy", "networkpolicies", true, false),
    kind(
        "security.istio.io/v1",
        "PeerAuthentication",
        "peerauthentications",
        true,
        false,
    ),
    kind(
        "security.istio.io/v1",
        "AuthorizationPolicy",
        "authorizationpolicies",
        true,
        false,
    ),
    kind("policy.linkerd.io/v1beta3", "Server", "servers", true, false),
    kind(
        "policy.linkerd.io/v1alpha1",
        "MeshTLSAuthentication",
        "meshtlsauthentications",
        true,
        false,
    ),
    kind(
        "policy.linkerd.io/v1alpha1",
        "AuthorizationPolicy",
        "authorizationpolicies",
        true,
        false,
    ),
];

/// The managed kind of `api_version`/`kind`, if Palisade manages it.
pub fn lookup(api_version: &str, kind: &str) -> Option<&'static ManagedKind> {
    MANAGED_KINDS
        .iter()
        .find(|k| k.api_version == api_version && k.kind == kind)
}

#[cfg(test)]
mod tests {
    use k8s_openapi::Resource;
    use k8s_openapi::api::admissionregistration::v1::ValidatingAdmissionPolicyBinding;
    use k8s_openapi::api::core::v1::{LimitRange, Namespace, ResourceQuota};
    use k8s_openapi::api::networking::v1::NetworkPolicy;
    use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, RoleBinding};
    use palisade_api::{MeshProvider, NetworkProvider, Tenant};
    use palisade_tenancy::{ClusterFacts, ClusterInventory, TenantIndex, render_tenant};

    use super::*;

    fn built_in<K: Resource>(namespaced: bool) -> ManagedKind {
        ManagedKind {
            api_version: K::API_VERSION,
            kind: K::KIND,
            plural: K::URL_PATH_SEGMENT,
            namespaced,
            built_in: true,
        }
    }

    #[test]
    fn built_in_kinds_match_k8s_openapi() {
        for expected in [
            built_in::<Namespace>(false),
            built_in::<ClusterRole>(false),
            built_in::<ClusterRoleBinding>(false),
            built_in::<ValidatingAdmissionPolicyBinding>(false),
            built_in::<RoleBinding>(true),
            built_in::<ResourceQuota>(true),
            built_in::<LimitRange>(true),
            built_in::<NetworkPolicy>(true),
        ] {
            assert_eq!(lookup(expected.api_version, expected.kind), Some(&expected));
        }
    }

    #[test]
    fn plurals_are_lowercase_kind_plus_s_or_ies() {
        for k in MANAGED_KINDS {
            let lower = k.kind.to_ascii_lowercase();
            let expected = match lower.strip_suffix('y') {
                Some(stem) => format!("{stem}ies"),
                None => format!("{lower}s"),
            };
            assert_eq!(k.plural, expected, "{}", k.describe());
        }
    }

    #[test]
    fn every_kind_the_renderer_emits_is_known() {
        let providers = [
            (NetworkProvider::Kubernetes, MeshProvider::Istio),
            (NetworkProvider::AdminNetworkPolicy, MeshProvider::Linkerd),
            (NetworkProvider::Cilium, MeshProvider::None),
            (NetworkProvider::Calico, MeshProvider::Istio),
        ];
        for (network, mesh) in providers {
            let mut tenant: Tenant = serde_json::from_value(serde_json::json!({
                "apiVersion": "palisade.dev/v1alpha1",
                "kind": "Tenant",
                "metadata": { "name": "t" },
                "spec": {
                    "owners": [{ "kind": "User", "name": "alice" }],
                    "namespaces": { "names": ["t-a"] },
                    "quota": { "namespace": { "pods": "10" }, "limits": [{ "type": "Container", "max": { "cpu": "1" } }] },
                    "mesh": { "ports": [8080] }
                }
            }))
            .unwrap();
            tenant.spec.network.provider = network;
            tenant.spec.mesh.provider = mesh;
            let plan = render_tenant(
                &tenant,
                &TenantIndex::new([&tenant]),
                &ClusterFacts::default(),
                &ClusterInventory::default(),
            );
            assert_eq!(plan.all_skipped().count(), 0);
            for object in plan.all_objects() {
                let known = lookup(&object.api_version, &object.kind)
                    .unwrap_or_else(|| panic!("{} is not a managed kind", object.describe()));
                assert_eq!(known.namespaced, object.namespace.is_some(), "{}", object.describe());
            }
        }
    }
}
