//! The tenant controller: keeps every tenant namespace holding exactly what the renderer says.
//!
//! ```text
//!  watches: Tenants, Namespaces labelled palisade.dev/tenant, managed objects (by label)
//!      │ (any change maps to its tenant)
//!      ▼
//!  reconcile(tenant)
//!      ├─ discovery ........ which optional APIs the cluster serves      (ClusterFacts)
//!      ├─ render_tenant() .. the desired objects, and what is skipped   (pure, palisade-tenancy)
//!      ├─ observe .......... list the tenant's managed objects by label
//!      ├─ apply ............ server-side apply (field manager `palisade`) of each desired
//!      │                     object the live one does not already hold  (pure compare::satisfies)
//!      ├─ diff::to_prune() . managed objects no longer desired          (pure)
//!      ├─ prune ............ delete those, by both labels only
//!      └─ status ........... namespaces, conditions, quota usage        (pure status::tenant_status)
//! ```
//!
//! Namespaces (and cluster-scoped objects) carry an owner reference to their Tenant, so deleting
//! the Tenant lets the garbage collector delete them. Namespaces are never pruned.

pub mod compare;
pub mod diff;
pub mod kinds;
pub mod quantity;
mod reconcile;
pub mod related;
pub mod status;

use std::time::Duration;

pub use reconcile::{Options, run};

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
pub fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        // kube's errors often repeat their own source in their message.
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// How long to wait before retrying a tenant whose reconcile failed.
pub const RETRY_AFTER: Duration = Duration::from_secs(5);

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
}
