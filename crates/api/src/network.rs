//! Network isolation of a tenant: who may connect in, where its pods may connect out, and which
//! policy engine enforces it.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::KubeSchema;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum IsolationMode {
    /// Palisade writes no network policy.
    None,
    /// Default deny in and out; only the tenant itself and what is granted below get through.
    #[default]
    Strict,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum NetworkProvider {
    /// `networking.k8s.io/v1` NetworkPolicy in every tenant namespace.
    #[default]
    Kubernetes,
    /// One `policy.networking.k8s.io/v1alpha1` AdminNetworkPolicy per tenant; tenant
    /// NetworkPolicies can narrow it but never widen it.
    AdminNetworkPolicy,
    /// One CiliumClusterwideNetworkPolicy per tenant.
    Cilium,
    /// A Calico `projectcalico.org/v3` NetworkPolicy in every tenant namespace.
    Calico,
}

/// A port, or a range of ports with `endPort`, for one protocol (TCP, UDP or SCTP; default TCP).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PortRule {
    #[serde(default = "default_protocol")]
    pub protocol: String,
    #[schemars(with = "i32", range(min = 1, max = 65535))]
    pub port: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<i32>", range(min = 1, max = 65535))]
    pub end_port: Option<u16>,
}

fn default_protocol() -> String {
    "TCP".to_string()
}

/// Sources allowed to connect into the tenant.
///
/// Palisade renders every grant on both sides (ingress in this tenant, egress in the granted
/// one) and prunes both when the grant is removed; policies written by tenants can never name
/// another tenant, so removing a grant closes every path it opened.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PeerGrants {
    /// Other tenants whose pods may connect to every port of every pod of this tenant.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tenants: Vec<String>,
    /// Other tenants whose pods may connect to some ports and/or some pods of this tenant, e.g.
    /// `{tenant: storefront, ports: [{port: 8080}], podSelector: {matchLabels: {app: api}}}`.
    /// Several entries for one tenant add up. A tenant listed in `tenants` already has every
    /// port of every pod and cannot be listed here too.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64))]
    pub tenant_grants: Vec<TenantGrant>,
    /// Non-tenant namespaces (an ingress controller, monitoring) whose pods may connect in.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub namespaces: Vec<String>,
}

impl PeerGrants {
    /// Every tenant granted something, whole or narrowed, sorted and without repeats.
    pub fn tenant_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .tenants
            .iter()
            .chain(self.tenant_grants.iter().map(|g| &g.tenant))
            .cloned()
            .collect();
        names.sort();
        names.dedup();
        names
    }

    /// Whether `tenant` is granted anything, whole or narrowed.
    pub fn grants_tenant(&self, tenant: &str) -> bool {
        self.tenants.iter().any(|t| t == tenant) || self.tenant_grants.iter().any(|g| g.tenant == tenant)
    }
}

/// A grant to another tenant narrowed to ports and/or pods of this tenant.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TenantGrant {
    /// The tenant whose pods may connect in (every pod of it: a tenant controls its own pod
    /// labels, so narrowing the callers by label would not be a boundary).
    pub tenant: String,
    /// Ports of this tenant's pods that the grant opens (the pods' own ports, as a NetworkPolicy
    /// sees them after a Service has translated its port); empty: every port.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32))]
    pub ports: Vec<PortRule>,
    /// The pods of this tenant, in each of its namespaces, that the grant opens; absent: every pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_selector: Option<LabelSelector>,
}

impl Eq for TenantGrant {}

impl TenantGrant {
    /// The pod selector when it narrows anything (`None` for an absent or empty selector, which
    /// both mean every pod).
    pub fn narrowing_selector(&self) -> Option<&LabelSelector> {
        self.pod_selector.as_ref().filter(|s| {
            s.match_labels.as_ref().is_some_and(|m| !m.is_empty())
                || s.match_expressions.as_ref().is_some_and(|e| !e.is_empty())
        })
    }
}

/// An external destination the tenant's pods may reach.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EgressCidr {
    #[schemars(length(max = 43))]
    #[x_kube(validation = Rule::new("isCIDR(self)").message("must be a CIDR such as 10.0.0.0/8"))]
    pub cidr: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64), inner(length(max = 43)))]
    #[x_kube(validation = Rule::new("self.all(c, isCIDR(c))").message("every entry must be a CIDR such as 10.1.0.0/16"))]
    pub except: Vec<String>,
    /// Ports allowed; empty: all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<PortRule>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EgressPolicy {
    /// Allow DNS to the cluster DNS pods (UDP and TCP 53).
    #[serde(default = "yes")]
    pub dns: bool,
    /// Allow connections to the Kubernetes API server.
    #[serde(default)]
    pub api_server: bool,
    /// Bounded so that the API server can budget the CEL rules checking each CIDR.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32))]
    pub cidrs: Vec<EgressCidr>,
}

fn yes() -> bool {
    true
}

impl Default for EgressPolicy {
    fn default() -> Self {
        EgressPolicy {
            dns: true,
            api_server: false,
            cidrs: Vec::new(),
        }
    }
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NetworkPolicySpec {
    #[serde(default)]
    pub isolation: IsolationMode,
    #[serde(default)]
    pub provider: NetworkProvider,
    #[serde(default)]
    pub allow_from: PeerGrants,
    #[serde(default)]
    pub egress: EgressPolicy,
}
