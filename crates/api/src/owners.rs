//! Tenant owners and extra RoleBindings.

use kube::KubeSchema;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The kind of an RBAC subject.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, JsonSchema)]
pub enum SubjectKind {
    User,
    Group,
    ServiceAccount,
}

/// An RBAC subject: a user, a group, or a ServiceAccount (which also names its namespace).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, KubeSchema)]
#[x_kube(validation = Rule::new("self.kind == 'ServiceAccount' ? has(self.__namespace__) : !has(self.__namespace__)").message("namespace is required for a ServiceAccount and not allowed for a User or Group"))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SubjectRef {
    pub kind: SubjectKind,
    pub name: String,
    /// Namespace of a ServiceAccount; required for that kind, not allowed for the others.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

impl SubjectRef {
    /// The user name Kubernetes authenticates this subject as (ServiceAccounts as
    /// `system:serviceaccount:<ns>:<name>`); groups have none.
    pub fn username(&self) -> Option<String> {
        match self.kind {
            SubjectKind::User => Some(self.name.clone()),
            SubjectKind::ServiceAccount => Some(format!(
                "system:serviceaccount:{}:{}",
                self.namespace.as_deref().unwrap_or_default(),
                self.name
            )),
            SubjectKind::Group => None,
        }
    }
}

/// Someone who administers the tenant: gets `clusterRoles` in every tenant namespace and may create
/// namespaces in the tenant.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[x_kube(validation = Rule::new("self.kind == 'ServiceAccount' ? has(self.__namespace__) : !has(self.__namespace__)").message("namespace is required for a ServiceAccount and not allowed for a User or Group"))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Owner {
    pub kind: SubjectKind,
    pub name: String,
    /// Namespace of a ServiceAccount owner.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// ClusterRoles bound to this owner in every tenant namespace.
    #[serde(default = "default_owner_roles")]
    pub cluster_roles: Vec<String>,
}

pub fn default_owner_roles() -> Vec<String> {
    vec!["admin".to_string()]
}

impl Owner {
    pub fn subject(&self) -> SubjectRef {
        SubjectRef {
            kind: self.kind,
            name: self.name.clone(),
            namespace: self.namespace.clone(),
        }
    }
}

/// A RoleBinding Palisade keeps in every tenant namespace, beyond the owners'.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AdditionalRoleBinding {
    /// Name of the RoleBinding; when absent, one is derived from the role and subjects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub cluster_role: String,
    pub subjects: Vec<SubjectRef>,
}

/// What tenant users may bind in their own RoleBindings. By default a RoleBinding written in a
/// tenant namespace may name only the tenant's own people: its owners, ServiceAccounts of its
/// namespaces, and users or groups that own no other tenant. Broad system groups
/// (`system:authenticated`, `system:serviceaccounts`, ...), other tenants' owners and other
/// namespaces' ServiceAccounts are refused unless listed here.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RbacPolicy {
    /// Subjects outside the tenant that tenant users may nevertheless bind to roles in the
    /// tenant's namespaces (e.g. a platform monitoring ServiceAccount).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub outside_subjects: Vec<SubjectRef>,
}

impl RbacPolicy {
    pub fn is_default(&self) -> bool {
        self == &RbacPolicy::default()
    }
}
