//! Which Service features a tenant may use.

use kube::KubeSchema;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServicePolicy {
    #[serde(default)]
    pub allow_node_port: bool,
    #[serde(default)]
    pub allow_load_balancer: bool,
    #[serde(default)]
    pub allow_external_name: bool,
    /// CIDRs that `spec.externalIPs` may use. Empty: no externalIPs at all, which closes the
    /// traffic-hijack of CVE-2020-8554.
    #[serde(default, rename = "externalIPs", skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64), inner(length(max = 43)))]
    #[x_kube(validation = Rule::new("self.all(c, isCIDR(c))").message("every entry must be a CIDR such as 203.0.113.0/24"))]
    pub external_ips: Vec<String>,
}

/// Closed by default: a tenant gets NodePort, LoadBalancer and ExternalName only when granted.
impl Default for ServicePolicy {
    fn default() -> Self {
        ServicePolicy {
            allow_node_port: false,
            allow_load_balancer: false,
            allow_external_name: false,
            external_ips: Vec::new(),
        }
    }
}
