//! Everything the cluster's admission would say about one object, as pure functions, so that
//! `palisade check` (objects from files, before they are sent) and the audit (objects already
//! stored, reported as PolicyReports) decide with one engine.
//!
//! ```text
//!   AdmissionRequest ──┬─▶ tenant rules (palisade_admission::review) ─┐
//!   PolicyState ───────┼─▶ Pod Security (namespace labels, pss) ──────┼─▶ Decided
//!   (policies, bindings,└─▶ admission policies (vap::evaluate) ────────┘      │
//!    namespaces, params)                                                       ▼
//!                                       report::policy_report(namespace) ─▶ PolicyReport
//! ```
//!
//! The order of the answer is the API server's: Palisade's webhook (mutating, then validating)
//! is met first in `check`'s verdict, PodSecurity before the admission policies, and a
//! PodSecurity refusal ends the request there.

mod decide;
mod pod_security;
mod policies;
pub mod report;

pub use decide::{Decided, decide};
pub use pod_security::{PodSecurityAnswer, evaluate as pod_security};
pub use policies::{PolicyState, policy_request};
