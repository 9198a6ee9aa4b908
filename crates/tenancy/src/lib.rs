//! The pure tenancy model: what a Tenant means, with no client, no async runtime and no I/O.
//!
//! ```text
//!   Tenant ──validate()──▶ Vec<FieldError>            (CLI `validate`, webhook, controller)
//!   Tenant + namespace + RenderContext
//!          ──render_namespace()──▶ NamespacePlan       (CLI `render`, controller)
//!                                   ├─ namespace labels / annotations
//!                                   ├─ objects (RoleBindings, quota, network, mesh)
//!                                   └─ skipped (objects whose API the cluster lacks)
//! ```

pub mod quantity;
pub mod render;
pub mod validate;

pub use render::{
    ClusterFacts, ClusterInventory, ManagedObject, NamespacePlan, TenantIndex, TenantLookup, TenantPlan,
    render_cluster_scoped, render_namespace, render_tenant,
};
pub use validate::{FieldError, validate};
