//! Who is asking: an administrator, Palisade itself, a Kubernetes component, or a tenant user.

use k8s_openapi::api::authentication::v1::UserInfo;
use palisade_api::{SubjectKind, Tenant};

use crate::AdmissionConfig;

#[derive(Debug, Clone)]
pub struct Requester {
    pub username: String,
    pub groups: Vec<String>,
    admin: bool,
    palisade: bool,
}

impl Requester {
    pub fn new(user: &UserInfo, config: &AdmissionConfig) -> Self {
        let username = user.username.clone().unwrap_or_default();
        let groups = user.groups.clone().unwrap_or_default();
        let admin = config.admin_users.contains(&username) || groups.iter().any(|g| config.admin_groups.contains(g));
        let palisade = config.palisade_users.contains(&username);
        Requester {
            username,
            groups,
            admin,
            palisade,
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
