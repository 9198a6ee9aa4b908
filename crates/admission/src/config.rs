//! Settings of the admission engine that do not come from Tenants.

use ipnet::IpNet;

#[derive(Debug, Clone)]
pub struct AdmissionConfig {
    /// Groups whose members are cluster administrators, never checked.
    pub admin_groups: Vec<String>,
    /// Users who are cluster administrators, never checked.
    pub admin_users: Vec<String>,
    /// The identity Palisade's controller runs as: the only one (besides administrators) that may
    /// write objects labelled managed-by Palisade and bind namespaces to tenants.
    pub palisade_users: Vec<String>,
    /// Kubernetes controllers that must delete, finalize and garbage-collect in every namespace,
    /// even while the webhook is down: exact user names, never prefixes. The webhook
    /// configurations keep their requests away from the webhook, and the rules let them through.
    pub system_controllers: Vec<String>,
    /// Namespace names no tenant may ever hold, beyond `default`, `kube-*` and `palisade-system`:
    /// exact names, or prefixes ending in `*`.
    pub protected_namespaces: Vec<String>,
    /// The cluster's pod CIDRs. Tenant NetworkPolicies may not use ipBlocks that reach pod
    /// addresses (other tenants' pods) without excepting them. Empty: the nodes' `spec.podCIDRs`.
    pub pod_cidrs: Vec<IpNet>,
    /// The cluster's Service CIDRs. Tenant NetworkPolicies may not use ipBlocks that reach
    /// ClusterIPs without excepting them. Empty: the cluster's ServiceCIDR objects.
    pub service_cidrs: Vec<IpNet>,
}

impl Default for AdmissionConfig {
    fn default() -> Self {
        AdmissionConfig {
            admin_groups: vec!["system:masters".to_string()],
            admin_users: Vec::new(),
            palisade_users: vec!["system:serviceaccount:palisade-system:palisade".to_string()],
            system_controllers: default_system_controllers(),
            protected_namespaces: Vec::new(),
            pod_cidrs: Vec::new(),
            service_cidrs: Vec::new(),
        }
    }
}

/// The controllers that empty and remove namespaces: kube-controller-manager's namespace
/// controller and garbage collector under their own ServiceAccounts
/// (`--use-service-account-credentials`, as kubeadm runs them), and kube-controller-manager's own
/// identity for clusters that run it without per-controller credentials.
pub fn default_system_controllers() -> Vec<String> {
    [
        "system:serviceaccount:kube-system:namespace-controller",
        "system:serviceaccount:kube-system:generic-garbage-collector",
        "system:kube-controller-manager",
    ]
    .map(String::from)
    .to_vec()
}

impl AdmissionConfig {
    /// Whether no tenant may hold a namespace of this name.
    pub fn is_protected_namespace(&self, name: &str) -> bool {
        palisade_tenancy::validate::is_protected_namespace(name)
            || self
                .protected_namespaces
                .iter()
                .any(|pattern| match pattern.strip_suffix('*') {
                    Some(prefix) => name.starts_with(prefix),
                    None => pattern == name,
                })
    }
}
