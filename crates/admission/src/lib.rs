//! Admission decisions as pure functions.
//!
//! ```text
//!   AdmissionRequest ─┐
//!   ClusterView ──────┼─▶ review() ─▶ Verdict: Allow | Deny(message) | Patch(json patch)
//!   AdmissionConfig ──┘        │
//!                              └─ rules::{namespace, pod, workload, service, ingress, pvc,
//!                                         network_policy, managed, tenant}
//! ```
//!
//! No I/O happens here. Where a watch event becomes admission state: [`index`] (the
//! `palisade_view::Index` of every kind on [`Snapshot`]); where a decision is made: `rules`. The
//! webhook feeds watch events into a [`Snapshot`] and reads it through [`ClusterView`], `palisade
//! check` feeds it a dump of the cluster or manifests, and both get the same answer for the same
//! input. Every denial
//! names the tenant, the rule and the offending value, and says what would be allowed.

mod config;
mod image;
pub mod index;
pub mod offline;
pub mod quota;
mod requester;
mod rules;
pub mod usage;

/// Exact Kubernetes quantities, shared with the controller.
pub use palisade_tenancy::quantity;
mod verdict;
mod view;

pub use config::{AdmissionConfig, default_system_controllers};
pub use image::normalize_image;
pub use index::{SNAPSHOT_KINDS, SnapshotError};
pub use requester::Requester;
pub use verdict::Verdict;
pub use view::{ClusterView, IngressRoute, Snapshot, VolumeOwner};

/// The NetworkPolicy rule on a spec alone, for the controller's report of policies stored
/// without the webhook (the webhook calls the same function).
pub mod network_policy {
    pub use crate::rules::network_policy::{Reason, Refusal, check_spec};
}

use kube::core::DynamicObject;
use kube::core::admission::{AdmissionRequest, AdmissionResponse};

/// Decides one admission request.
pub fn review(request: &AdmissionRequest<DynamicObject>, view: &dyn ClusterView, config: &AdmissionConfig) -> Verdict {
    let requester = Requester::new(&request.user_info, config);
    if requester.is_exempt() {
        // Cluster administrators and Palisade itself; the webhook configuration keeps most of
        // these requests away from us already, this is the second line.
        return rules::tenant::always_checked(request, view).unwrap_or(Verdict::Allow);
    }
    rules::dispatch(request, &requester, view, config)
}

/// [`review`], as the AdmissionResponse to send back.
pub fn respond(
    request: &AdmissionRequest<DynamicObject>,
    view: &dyn ClusterView,
    config: &AdmissionConfig,
) -> AdmissionResponse {
    review(request, view, config).into_response(request)
}
