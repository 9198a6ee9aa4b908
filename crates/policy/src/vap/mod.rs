//! ValidatingAdmissionPolicy evaluation, the way the API server's admission plugin does it.
//!
//! A policy is [`compile`]d once. A request is then matched and evaluated per binding
//! ([`evaluate`]): the policy's matchConstraints and the binding's matchResources (resource
//! rules, namespace and object selectors), the policy's matchConditions, its validations with
//! lazily evaluated variables, then its audit annotations; evaluation errors follow
//! failurePolicy. [`respond`] turns the decisions into what the API server answers: the first
//! denial's message, the warnings, the audit annotations.

mod compile;

pub use compile::{
    AuditAnnotation, CompileProblem, CompiledPolicy, Expression, FieldPath, MatchCondition, TENANT_PARAM_API_VERSION,
    TENANT_PARAM_KIND, Validation, Variable, compile, tenant_policy_problems,
};

mod cel_eval;
mod evaluate;
mod matching;
mod response;
mod value;

pub use cel_eval::Environment;
pub use evaluate::{
    Action, AuditAnnotationResult, BindingVerdict, Decision, Evaluation, Facts, LoadedPolicy, Lookup, NamespaceLookup,
    Outcome, Subject, evaluate, policy_matches,
};
pub use matching::{Match, NamespaceFact, matches, rule_matches, selector_matches};
pub use response::{Denial, Response, VALIDATION_FAILURE_ANNOTATION, respond};
pub use value::{GroupVersion, Request, UserInfo, as_admitted, to_cel};
