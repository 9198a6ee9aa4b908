//! The `Tenant` custom resource.

use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{
    AdditionalRoleBinding, ClassAllowList, MeshPolicy, NamespacePolicy, NetworkPolicySpec, Owner, QuotaPolicy,
    RbacPolicy, ServicePolicy, TenantPolicies, TenantStatus, WorkloadPolicy,
};

/// A tenant: a group of namespaces administered by its owners and isolated from every other tenant.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[kube(
    group = "palisade.dev",
    version = "v1alpha1",
    kind = "Tenant",
    plural = "tenants",
    singular = "tenant",
    shortname = "tnt",
    category = "palisade",
    status = "TenantStatus",
    derive = "PartialEq",
    derive = "Default",
    doc = "A tenant: namespaces administered by their owners and isolated from every other tenant.",
    printcolumn(name = "Namespaces", type_ = "integer", json_path = ".status.namespaceCount"),
    printcolumn(name = "Max", type_ = "integer", json_path = ".spec.namespaces.max"),
    printcolumn(name = "Isolation", type_ = "string", json_path = ".spec.network.isolation"),
    printcolumn(name = "Mesh", type_ = "string", json_path = ".spec.mesh.provider"),
    printcolumn(name = "Ready", type_ = "string", json_path = ".status.conditions[?(@.type==\"Ready\")].status"),
    printcolumn(name = "Quota", type_ = "string", json_path = ".status.quotaSummary"),
    printcolumn(name = "Cordoned", type_ = "boolean", json_path = ".spec.cordoned"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp"),
    validation = Rule::new("size(self.metadata.name) <= 52").message(
        "a tenant name is at most 52 characters, so that `<tenant>-<suffix>` namespace names stay valid"
    ),
)]
#[x_kube(validation = Rule::new(
    "!has(self.namespaces) || !has(self.namespaces.max) || !has(self.namespaces.names) || size(self.namespaces.names) <= self.namespaces.max"
).message("spec.namespaces.names lists more namespaces than spec.namespaces.max allows"))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TenantSpec {
    /// Who administers the tenant.
    #[x_kube(validation = Rule::new("size(self) > 0").message("a tenant needs at least one owner"))]
    pub owners: Vec<Owner>,
    #[serde(default)]
    pub namespaces: NamespacePolicy,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quota: Option<QuotaPolicy>,
    #[serde(default)]
    pub pod_security: PodSecurityPolicy,
    #[serde(default)]
    pub workloads: WorkloadPolicy,
    #[serde(default)]
    pub storage: StoragePolicy,
    #[serde(default)]
    pub ingress: IngressPolicy,
    #[serde(default)]
    pub gateway: GatewayPolicy,
    #[serde(default)]
    pub services: ServicePolicy,
    #[serde(default)]
    pub network: NetworkPolicySpec,
    #[serde(default)]
    pub mesh: MeshPolicy,
    /// Extra RoleBindings in every tenant namespace.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub role_bindings: Vec<AdditionalRoleBinding>,
    /// Which subjects tenant users may name in the RoleBindings they write.
    #[serde(default, skip_serializing_if = "RbacPolicy::is_default")]
    pub rbac: RbacPolicy,
    /// What the platform's tenant policies (ValidatingAdmissionPolicies labelled
    /// `palisade.dev/tenant-policy: "true"`) read of this tenant, and how they are enforced for it.
    #[serde(default, skip_serializing_if = "TenantPolicies::is_default")]
    pub policies: TenantPolicies,
    /// Freeze every write by tenant users in the tenant's namespaces.
    #[serde(default)]
    pub cordoned: bool,
    /// Refuse deletion of this Tenant (and with it, all its namespaces).
    #[serde(default)]
    pub prevent_deletion: bool,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum PodSecurityLevel {
    Privileged,
    #[default]
    Baseline,
    Restricted,
}

impl PodSecurityLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            PodSecurityLevel::Privileged => "privileged",
            PodSecurityLevel::Baseline => "baseline",
            PodSecurityLevel::Restricted => "restricted",
        }
    }
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PodSecurityPolicy {
    /// Pod Security Standards level enforced in every tenant namespace.
    #[serde(default)]
    pub level: PodSecurityLevel,
    /// Version of the standard, `latest` or `v1.<minor>`.
    #[serde(default = "latest")]
    pub version: String,
}

fn latest() -> String {
    "latest".to_string()
}

impl Default for PodSecurityPolicy {
    fn default() -> Self {
        PodSecurityPolicy {
            level: PodSecurityLevel::default(),
            version: latest(),
        }
    }
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StoragePolicy {
    /// StorageClasses PersistentVolumeClaims may use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classes: Option<ClassAllowList>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum CollisionScope {
    /// A host and path may be used once in the whole cluster.
    #[default]
    Cluster,
    /// Once within the tenant; other tenants may reuse it.
    Tenant,
    /// Once within a namespace.
    Namespace,
    /// No collision check.
    Disabled,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IngressPolicy {
    /// IngressClasses Ingresses may use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classes: Option<ClassAllowList>,
    /// Hostnames Ingresses may serve: exact (`shop.example.com`) or a wildcard for one label
    /// (`*.shop.example.com`). Empty: any hostname.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hostnames: Vec<String>,
    /// Whether an Ingress may itself declare a wildcard host (`*.example.com`).
    #[serde(default)]
    pub allow_wildcard_hosts: bool,
    /// Where a host and path must be unique.
    #[serde(default)]
    pub collision_scope: CollisionScope,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GatewayPolicy {
    /// GatewayClasses Gateways may use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classes: Option<ClassAllowList>,
}
