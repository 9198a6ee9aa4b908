//! The `palisade.dev/v1alpha1` API.
//!
//! ```text
//!  Tenant (cluster-scoped)
//!   ├─ spec.owners ........... who administers the tenant, with which ClusterRoles
//!   ├─ spec.namespaces ....... how many, which names, which metadata they always carry
//!   ├─ spec.quota ............ ResourceQuota + LimitRange per namespace, tenant-wide hard limit
//!   ├─ spec.podSecurity ...... the Pod Security Standards level owners cannot lower
//!   ├─ spec.workloads ........ registries, pull policies, priority/runtime classes, node selector
//!   ├─ spec.storage/ingress/gateway ... class allow-lists, hostnames
//!   ├─ spec.services ......... Service types and externalIPs
//!   ├─ spec.network .......... isolation, who may come in, what may go out, which provider
//!   ├─ spec.mesh ............. Istio / Linkerd mTLS and workload-identity authorization
//!   ├─ spec.rbac ............. outside subjects tenant users may bind in their RoleBindings
//!   ├─ spec.policies ......... parameters the platform's tenant policies (VAPs) read, their actions
//!   └─ status ................ namespaces, conditions, quota usage
//! ```
//!
//! The types are plain data: no client, no I/O. The CRD YAML under `deploy/crds/` is generated from
//! them (`palisade crds`), so the schema the API server enforces and the Rust types cannot drift.

pub mod classes;
pub mod labels;
pub mod mesh;
pub mod namespaces;
pub mod network;
pub mod owners;
pub mod policies;
pub mod quota;
pub mod services;
pub mod status;
pub mod tenant;
pub mod workloads;

pub use classes::ClassAllowList;
pub use mesh::{MeshPolicy, MeshProvider, MtlsMode};
pub use namespaces::NamespacePolicy;
pub use network::{
    EgressCidr, EgressPolicy, IsolationMode, NetworkPolicySpec, NetworkProvider, PeerGrants, PortRule, TenantGrant,
};
pub use owners::{AdditionalRoleBinding, Owner, RbacPolicy, SubjectKind, SubjectRef};
pub use policies::{PolicyOverride, TenantPolicies, TenantPolicyStatus, ValidationAction};
pub use quota::QuotaPolicy;
pub use services::ServicePolicy;
pub use status::{TenantCondition, TenantStatus};
pub use tenant::{
    CollisionScope, GatewayPolicy, IngressPolicy, PodSecurityLevel, PodSecurityPolicy, StoragePolicy, Tenant,
    TenantSpec,
};
pub use workloads::{PullPolicy, WorkloadPolicy};
