//! Network isolation of a tenant: who may connect in, where its pods may connect out, and which
//! policy engine enforces it.

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

/// A port, or a range of ports with `endPort`, for one protocol.
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
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PeerGrants {
    /// Other tenants whose pods may connect to this tenant's pods.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tenants: Vec<String>,
    /// Non-tenant namespaces (an ingress controller, monitoring) whose pods may connect in.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub namespaces: Vec<String>,
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
