//! The tenant controller: keeps every tenant namespace holding exactly what the renderer says.
//!
//! ```text
//!  palisade-view driver ── Tenants; Namespaces labelled palisade.dev/tenant and managed
//!      │                     objects by label (metadata only)
//!      │  watch::TenantSink ... kube-runtime's store, the tenant's own trigger, the tenant
//!      │                        directory (owners, grants, mesh callers) that wakes related tenants
//!      │  watch::ManagedSink .. cache::Cache (a fingerprint per object); namespaces also the
//!      │                        directory
//!      │  (view) inventory_watch  Nodes, PersistentVolumes and the five class kinds into
//!      │                        inventory::Inventory, which wakes the tenants whose view changed
//!      │  tenant_policies ..... ValidatingAdmissionPolicies labelled palisade.dev/tenant-policy
//!      │                        into the inventory (a change wakes every tenant); their
//!      │                        PalisadeTenantBindings status condition
//!      ▼
//!  reconcile(tenant)                                  (kube-runtime Controller; a `reconcile` span)
//!      ├─ render_tenant() .. the desired objects, and what is skipped   (pure, palisade-tenancy)
//!      ├─ plan::plan() ..... per namespace: create, existing, refused, terminating or gone; per
//!      │                     object: apply, unchanged (live fingerprint as Palisade's last apply
//!      │                     left it) or skipped; the live managed objects      (pure)
//!      ├─ executor ......... namespace by namespace: its own create and apply, then (only if
//!      │                     those succeeded) server-side apply (field manager `palisade`) of
//!      │                     the rest; then the prune: managed objects no longer desired,
//!      │                     never in a namespace that terminates or failed (Plan::settle, pure)
//!      └─ status ........... namespaces, conditions, quota usage, tenant policies
//!                            (pure status::tenant_status)
//!                            metrics: reconcile_failures_total{step} names the step that failed
//!  foreign .......... a watch of NetworkPolicies Palisade did not write (whole objects), each
//!                     judged by the webhook's rule (admission::network_policy::check_spec) into
//!                     a verdict-only index that wakes its tenant: the `ForeignPolicies` condition
//!  discovery ........ optional APIs, API server endpoints, DNS; refreshed on CRD changes
//!  leader ........... a Lease, so only one replica writes
//! ```
//!
//! Reconciles never list the cluster: a tenant already as desired costs no request. Namespaces
//! (and cluster-scoped objects) carry an owner reference to their Tenant, so deleting the Tenant
//! lets the garbage collector delete them. Namespaces are never pruned.
//!
//! Whose namespaces, and which ones exist:
//!
//! - **Validation first.** Every Tenant goes through `palisade_tenancy::validate`; an invalid one
//!   is neither applied nor pruned, and is Ready=False (`Invalid`) with every problem listed
//!   (the webhook's Tenant check fails open, so this is what holds while it is down).
//! - **One tenant per namespace.** A namespace labelled `palisade.dev/tenant` is that tenant's;
//!   an unlabelled one listed in several Tenants' `spec.namespaces.names` is the oldest Tenant's
//!   (creationTimestamp, then name; the tenant directory of `palisade-view`). A later claim is Ready=False
//!   (`NamespaceConflict`) with a message that never names the other tenant; nothing is applied
//!   into the namespace for it, and what it has there from before is pruned.
//! - **Creation.** Only `spec.namespaces.names` are ever created, and only by a create (POST),
//!   which fails when the name exists; an owner-created namespace is never created. Applies to an
//!   existing namespace carry its live uid, so a namespace deleted meanwhile is refused by the API
//!   server ("uid mismatch") instead of being re-created from a stale cache. Nothing is applied
//!   into, or pruned from, a terminating namespace (Ready=False, `NamespaceTerminating`), nor a
//!   namespace whose own create or apply failed.
//! - **Re-creation after an administrator deletes a listed namespace** (the documented choice):
//!   it is created again, empty, once it is fully gone, because the Tenant still lists it; never
//!   while it terminates. To keep it deleted, remove it from `spec.namespaces.names`.
//! - **Roles.** The controller may `bind` only the ClusterRoles its RBAC names (`admin`, `edit`,
//!   `view` by default); a RoleBinding the API server refuses for that reason makes the Tenant
//!   Ready=False (`RoleNotBindable`) with the exact resourceNames entry to add. The 403 of the
//!   apply is used rather than a SubjectAccessReview beforehand: it is the API server's own
//!   verdict (escalation check included), and costs no request when all is well.
//! - **Policies the webhook never saw.** A NetworkPolicy in a tenant namespace that Palisade did
//!   not write and that the webhook would refuse today (stored before its NetworkPolicy rule,
//!   while it was down, or by an administrator) makes the Tenant `ForeignPolicies=True`, listing
//!   `namespace/name` and why, never another tenant's name (see [`foreign`]): revoking a grant
//!   closes every path it opened only while no such policy is stored.
//! - **Owners' cluster RBAC.** Each Tenant gets a ClusterRole and ClusterRoleBinding
//!   `palisade:tenant-owner:<tenant>`: create namespaces, get/list/watch its own Tenant, and
//!   get/list/watch/update/patch/delete its current namespaces by name; get/list/watch by name
//!   on the nodes its node selector picks, the volumes claimed in its namespaces and the classes
//!   it may use (all of a kind it does not restrict), from the watched [`inventory`], so that
//!   Palisade's proxy can show them by asking as the owner. The controller holds those
//!   permissions itself, which RBAC requires of whoever writes them.
//! - **Tenant policies.** Each ValidatingAdmissionPolicy labelled
//!   `palisade.dev/tenant-policy: "true"` that can be bound (paramKind the Tenant, CEL that
//!   compiles and that Palisade can evaluate too) gets one ValidatingAdmissionPolicyBinding per
//!   tenant, `palisade-<tenant>.<policy>`, with the Tenant as params and matching only the
//!   tenant's namespaces and the namespaced objects in them (see
//!   `palisade_tenancy::render::policy_binding`); applied and pruned like every other managed
//!   object. The Tenant's `status.policies` says, per policy, whether it is bound, with which
//!   validation actions, or why not; the policy's own status carries a
//!   `PalisadeTenantBindings` condition (see [`tenant_policies`]).

pub mod cache;
pub mod compare;
pub mod diff;
pub mod discovery;
mod executor;
pub mod foreign;
pub mod inventory;
pub mod kinds;
pub mod leader;
pub mod metrics;
pub mod plan;
mod reconcile;
mod run;
pub mod status;
pub mod tenant_policies;
mod watch;

pub use leader::LeaderElection;
pub use metrics::{Metrics, counting_client};
pub use reconcile::FIELD_MANAGER;
pub use run::{Options, run};

/// Why a step of the controller failed; every message names the tenant or object involved.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Asking the API server which APIs it serves failed.
    #[error("discovering the cluster's APIs")]
    Discover(#[source] kube::Error),
    /// The Tenant API is not served (the CRD is not installed).
    #[error(
        "the Tenant API palisade.dev/v1alpha1 is not served (install the CRDs: `palisade crds | kubectl apply -f -`)"
    )]
    TenantApi(#[source] kube::Error),
    /// A Tenant object lacks what the controller needs.
    #[error("tenant {tenant}: {problem}")]
    Invalid { tenant: String, problem: String },
    /// Some desired objects could not be applied.
    #[error("tenant {tenant}: {failed} object(s) could not be applied; first: {first}")]
    Apply {
        tenant: String,
        failed: usize,
        first: String,
    },
    /// Listing a managed kind, to find what to prune, failed.
    #[error("tenant {tenant}: listing {kind} to find objects to prune")]
    List {
        tenant: String,
        kind: String,
        #[source]
        source: kube::Error,
    },
    /// Deleting an object no longer desired failed.
    #[error("tenant {tenant}: pruning {object}")]
    Prune {
        tenant: String,
        object: String,
        #[source]
        source: kube::Error,
    },
    /// Taking part in the leader election failed.
    #[error("leader election: {0}")]
    LeaderElection(String),
    /// Another replica took the Lease while this one led; this one stops writing at once.
    #[error("lost the leader Lease to another replica; stopping so this replica restarts as a standby")]
    LeadershipLost,
    /// The shell could not start (the health and metrics port could not be opened).
    #[error(transparent)]
    Start(#[from] palisade_runtime::Error),
    /// Writing the Tenant's status failed.
    #[error("tenant {tenant}: writing the status")]
    Status {
        tenant: String,
        #[source]
        source: kube::Error,
    },
}

/// `error: cause: cause ...`, for logs and status messages (the Display of [`Error`] names the
/// failing step only; its causes are its sources).
pub fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let api_error = matches!(cause.downcast_ref::<kube::Error>(), Some(kube::Error::Api(_)));
        let cause_text = match cause.downcast_ref::<kube::Error>() {
            Some(kube_error) => describe(kube_error),
            None => cause.to_string(),
        };
        // kube's errors often repeat their own source in their message.
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        // An API error's source is its Status, already described.
        source = if api_error { None } else { cause.source() };
    }
    text
}

/// A kube error as a person wants to read it: the API server's own message with its code and
/// reason, not kube's debug dump of the Status object.
pub fn describe(error: &kube::Error) -> String {
    match error {
        kube::Error::Api(status) => format!("{} ({} {})", status.message, status.code, status.reason),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_step_and_chain_the_cause() {
        let cause = kube::Error::LinesCodecMaxLineLengthExceeded;
        let error = Error::Status {
            tenant: "shop".into(),
            source: cause,
        };
        assert_eq!(error.to_string(), "tenant shop: writing the status");
        let text = chain(&error);
        assert!(text.starts_with("tenant shop: writing the status: "), "{text}");
        assert!(text.len() > "tenant shop: writing the status: ".len(), "{text}");
    }

    #[test]
    fn api_errors_read_as_the_api_server_wrote_them() {
        let status =
            kube::core::Status::failure("rolebindings \"x\" is forbidden: cannot bind", "Forbidden").with_code(403);
        let error = Error::Prune {
            tenant: "shop".into(),
            object: "RoleBinding shop-1/x".into(),
            source: kube::Error::Api(Box::new(status)),
        };
        assert_eq!(
            chain(&error),
            "tenant shop: pruning RoleBinding shop-1/x: rolebindings \"x\" is forbidden: cannot bind (403 Forbidden)"
        );
    }
}
