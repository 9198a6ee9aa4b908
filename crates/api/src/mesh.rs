//! Service-mesh isolation: mutual TLS and authorization by workload identity.

use schemars::JsonSchema;

use crate::TenantGrant;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum MeshProvider {
    #[default]
    None,
    Istio,
    Linkerd,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum MtlsMode {
    /// Plaintext is refused: every caller must present a mesh identity.
    #[default]
    Strict,
    /// Plaintext is still accepted (for migrations); identity rules then only see meshed callers.
    Permissive,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MeshPolicy {
    #[serde(default)]
    pub provider: MeshProvider,
    #[serde(default)]
    pub mtls: MtlsMode,
    /// Trust domain of workload identities.
    #[serde(default = "default_trust_domain")]
    pub trust_domain: String,
    /// Other tenants whose workloads may call this tenant's workloads.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow_from_tenants: Vec<String>,
    /// Other tenants whose workloads may call some ports and/or some workloads of this tenant:
    /// TCP ports without ranges. Istio: an AuthorizationPolicy per grant with
    /// `to.operation.ports` and a `matchLabels` selector. Linkerd: a Server per granted port
    /// (selecting the grant's pods; the ports must be listed, and every grant naming a port must
    /// select the same pods) and an AuthorizationPolicy per grant and port allowing the granted
    /// tenant's namespaces. A tenant in `allowFromTenants` cannot be listed here too.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64))]
    pub allow_from_tenant_grants: Vec<TenantGrant>,
    /// Workload identities from outside any tenant that may call in, as
    /// `<namespace>/<serviceaccount>` (`*` for any service account), e.g. an ingress gateway.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow_from_service_accounts: Vec<String>,
    /// Linkerd only: ports that get a `Server`, so that the authorization covers them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(with = "Vec<i32>", length(max = 64), inner(range(min = 1, max = 65535)))]
    pub ports: Vec<u16>,
}

pub fn default_trust_domain() -> String {
    "cluster.local".to_string()
}

impl Default for MeshPolicy {
    fn default() -> Self {
        MeshPolicy {
            provider: MeshProvider::None,
            mtls: MtlsMode::Strict,
            trust_domain: default_trust_domain(),
            allow_from_tenants: Vec::new(),
            allow_from_tenant_grants: Vec::new(),
            allow_from_service_accounts: Vec::new(),
            ports: Vec::new(),
        }
    }
}
