//! Policy evaluation as pure functions: what the API server's own admission policies would
//! decide, computed without a cluster, so that `palisade check`, the controller's audit and the
//! live cluster give one answer.
//!
//! ```text
//!   ValidatingAdmissionPolicy + Binding ─┐
//!   params (the Tenant), namespace ──────┼─▶ vap::evaluate() ─▶ per binding: Admit | Deny | Warn |
//!   AdmissionRequest (object, oldObject) ┘                       Audit, message, audit annotations
//!
//!   Pod (or a workload's pod template) + level + version ─▶ pss::check_object() ─▶ forbidden reasons
//! ```
//!
//! - [`vap`]: ValidatingAdmissionPolicy matching (matchConstraints, binding matchResources,
//!   namespace and object selectors), matchConditions, variables, validations with `message`
//!   and `messageExpression`, auditAnnotations, and failurePolicy, on kube-cel's CEL libraries.
//!   What kube-cel cannot evaluate (`cel.bind`, `sortBy`, two-variable comprehensions,
//!   `authorizer`) is reported as unsupported, never guessed.
//! - [`pss`]: every check of the Pod Security Standards, baseline and restricted, versioned.
//!
//! No I/O, no client, no async.

pub mod pss;
pub mod vap;
