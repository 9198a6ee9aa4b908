//! Who is asking: an administrator, Palisade itself, a Kubernetes component, or a tenant user.

use k8s_openapi::api::authentication::v1::UserInfo;
use palisade_api::{SubjectKind, Tenant};

use crate::{AdmissionConfig, ClusterView};

#[derive(Debug, Clone)]
pub struct Requester {
    pub username: String,
    pub groups: Vec<String>,
    admin: bool,
    palisade: bool,
    system_controller: bool,
}

impl Requester {
    pub fn new(user: &UserInfo, config: &AdmissionConfig) -> Self {
        let username = user.username.clone().unwrap_or_default();
        let groups = user.groups.clone().unwrap_or_default();
        let admin = config.admin_users.contains(&username) || groups.iter().any(|g| config.admin_groups.contains(g));
        let palisade = config.palisade_users.contains(&username);
        let system_controller = config.system_controllers.contains(&username);
        Requester {
            username,
            groups,
            admin,
            palisade,
            system_controller,
        }
    }

    /// Administrators and Palisade itself are never restricted.
    pub fn is_exempt(&self) -> bool {
        self.admin || self.palisade
    }

    /// A Kubernetes component acting on the cluster's behalf (controllers, nodes, the scheduler):
    /// it writes what users asked for, so object rules still apply to what it writes, but
    /// user-only rules (cordon, namespace ownership) do not.
    pub fn is_system_component(&self) -> bool {
        self.username.starts_with("system:serviceaccount:kube-system:")
            || self.username.starts_with("system:node:")
            || matches!(
                self.username.as_str(),
                "system:kube-controller-manager" | "system:kube-scheduler" | "system:apiserver"
            )
    }

    /// One of the configured controllers that empty and remove namespaces (exact identities).
    pub fn is_system_controller(&self) -> bool {
        self.system_controller
    }

    /// The namespace of a ServiceAccount requester (`system:serviceaccount:<ns>:<name>`).
    pub fn service_account_namespace(&self) -> Option<&str> {
        let rest = self.username.strip_prefix("system:serviceaccount:")?;
        rest.split_once(':').map(|(namespace, _)| namespace)
    }

    /// The tenants this requester acts for: those it owns, and the tenant of the namespace its
    /// ServiceAccount lives in. Empty for everyone else (platform users, Kubernetes components).
    pub fn tenants<'v>(&self, view: &'v dyn ClusterView) -> Vec<&'v str> {
        let mut names: Vec<&str> = view
            .tenants()
            .into_iter()
            .filter(|tenant| self.owns(tenant))
            .filter_map(|tenant| tenant.metadata.name.as_deref())
            .collect();
        if let Some(home) = self
            .service_account_namespace()
            .and_then(|ns| view.tenant_of_namespace(ns))
        {
            names.push(home);
        }
        names.sort_unstable();
        names.dedup();
        names
    }

    /// Whether this requester is one of `tenant`'s owners (by user, group or ServiceAccount).
    pub fn owns(&self, tenant: &Tenant) -> bool {
        tenant.spec.owners.iter().any(|owner| match owner.kind {
            SubjectKind::Group => self.groups.contains(&owner.name),
            SubjectKind::User | SubjectKind::ServiceAccount => {
                owner.subject().username().as_deref() == Some(self.username.as_str())
            }
        })
    }
}
