//! One request against one (policy, binding): the API server's validating policy plugin, step by
//! step. Matching, params, matchConditions, validations and their messages, audit
//! annotations; evaluation errors become denials or admissions by failurePolicy.

use std::collections::BTreeMap;

use k8s_openapi::api::admissionregistration::v1::{
    ParamRef, ValidatingAdmissionPolicy, ValidatingAdmissionPolicyBinding,
};
use kube::core::cel::cel::Value as CelValue;
use serde_json::Value;

use super::cel_eval::{Bindings, Environment, Evaluated};
use super::compile::{CompiledPolicy, compile};
use super::matching::{Match, NamespaceFact, matches};
use super::value::{Request, to_cel};

/// A policy with its CEL compiled once.
#[derive(Debug)]
pub struct LoadedPolicy {
    pub policy: ValidatingAdmissionPolicy,
    pub compiled: CompiledPolicy,
}

impl LoadedPolicy {
    pub fn new(policy: ValidatingAdmissionPolicy) -> Self {
        let compiled = compile(&policy);
        Self { policy, compiled }
    }

    pub fn name(&self) -> &str {
        self.policy.metadata.name.as_deref().unwrap_or_default()
    }

    fn fails_closed(&self) -> bool {
        self.policy.spec.as_ref().and_then(|s| s.failure_policy.as_deref()) != Some("Ignore")
    }
}

/// A fact the evaluation asked for.
#[derive(Debug, Clone, PartialEq)]
pub enum Lookup<T> {
    Found(T),
    /// Known not to exist.
    Missing,
    /// Not known to the caller (not in the cluster state given): the verdict cannot be told.
    Unknown(String),
}

/// What the evaluation reads from the cluster besides the request.
pub trait Facts {
    /// The Namespace `name` as stored.
    fn namespace(&self, name: &str) -> Lookup<Value>;
    /// The params a binding's paramRef selects: by name, or every object its selector matches.
    fn params(
        &self,
        api_version: &str,
        kind: &str,
        reference: &ParamRef,
        request_namespace: &str,
    ) -> Lookup<Vec<Value>>;
}

/// Whether a failed validation denies, or an error is admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Admit,
    Deny,
}

/// Why a decision was reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Evaluation {
    /// The expression held.
    Admit,
    /// The expression was false.
    Reject,
    /// The expression, a variable it read or a match condition failed to evaluate.
    Error,
}

/// One validation's result (or the one error that stopped evaluation).
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub action: Action,
    pub evaluation: Evaluation,
    pub message: String,
    /// The status reason of a denial: Invalid unless the validation names another.
    pub reason: String,
    /// The validation's expression (empty for errors outside validations).
    pub expression: String,
}

/// An audit annotation's result: published, left out (empty or null), or an error.
#[derive(Debug, Clone, PartialEq)]
pub enum AuditAnnotationResult {
    Publish {
        key: String,
        value: String,
    },
    Exclude {
        key: String,
    },
    Error {
        key: String,
        message: String,
        action: Action,
    },
}

/// What a binding did with a request.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The policy or the binding does not select the request (or a match condition is false).
    NotMatched(String),
    /// Evaluated; every param's decisions in order.
    Evaluated {
        decisions: Vec<Decision>,
        audit_annotations: Vec<AuditAnnotationResult>,
    },
    /// The binding could not be configured (params missing under `Deny`): a denial under
    /// failurePolicy Fail, whatever the binding's validationActions.
    ConfigError { message: String, denies: bool },
    /// The policy uses CEL the offline engine cannot evaluate; no verdict is guessed.
    Unsupported(String),
    /// A fact the verdict depends on is not known here.
    Undecidable(String),
}

/// One binding's verdict on one request.
#[derive(Debug, Clone, PartialEq)]
pub struct BindingVerdict {
    pub policy: String,
    pub binding: String,
    pub validation_actions: Vec<String>,
    pub outcome: Outcome,
}

/// The namespace of a request, looked up once and shared by every binding evaluated for it.
#[derive(Debug, Clone)]
pub enum NamespaceLookup {
    ClusterScoped,
    Known(Value),
    Unknown,
}

impl NamespaceLookup {
    /// Look the namespace of `request` up in `facts` (a Namespace's own requests, and
    /// cluster-scoped ones, have none to look up).
    pub fn of(request: &Request, facts: &dyn Facts) -> Self {
        if request.namespace.is_empty() || is_namespace_object(request) {
            return NamespaceLookup::ClusterScoped;
        }
        match facts.namespace(&request.namespace) {
            Lookup::Found(value) => NamespaceLookup::Known(value),
            Lookup::Missing => NamespaceLookup::Known(Value::Null),
            Lookup::Unknown(_) => NamespaceLookup::Unknown,
        }
    }

    pub fn fact(&self) -> NamespaceFact<'_> {
        match self {
            NamespaceLookup::ClusterScoped => NamespaceFact::ClusterScoped,
            NamespaceLookup::Known(value) => NamespaceFact::Known(value),
            NamespaceLookup::Unknown => NamespaceFact::Unknown,
        }
    }
}

/// Whether the policy's own matchConstraints select `request`: when not, none of its bindings
/// needs to be looked at.
pub fn policy_matches(policy: &LoadedPolicy, request: &Request, namespace: NamespaceFact<'_>) -> Match {
    match policy
        .policy
        .spec
        .as_ref()
        .and_then(|spec| spec.match_constraints.as_ref())
    {
        Some(constraints) => matches(constraints, request, namespace, false),
        None => Match::No("the policy has no matchConstraints".into()),
    }
}

/// A request with the values every binding reads it through, converted to CEL once: an object
/// selected by many bindings is not converted again for each.
pub struct Subject<'a> {
    pub request: &'a Request,
    pub namespace: NamespaceFact<'a>,
    object: CelValue,
    old_object: CelValue,
    request_value: CelValue,
    namespace_object: CelValue,
}

impl<'a> Subject<'a> {
    pub fn new(request: &'a Request, namespace: NamespaceFact<'a>) -> Self {
        Subject {
            request,
            namespace,
            object: request.object.as_ref().map_or(CelValue::Null, to_cel),
            old_object: request.old_object.as_ref().map_or(CelValue::Null, to_cel),
            request_value: request.to_cel(),
            namespace_object: match namespace {
                NamespaceFact::Known(value) => to_cel(value),
                _ => CelValue::Null,
            },
        }
    }
}

/// Evaluate `subject` against `policy` bound by `binding`.
pub fn evaluate(
    environment: &Environment,
    policy: &LoadedPolicy,
    binding: &ValidatingAdmissionPolicyBinding,
    subject: &Subject<'_>,
    facts: &dyn Facts,
) -> BindingVerdict {
    let (request, namespace) = (subject.request, subject.namespace);
    let verdict = |outcome| BindingVerdict {
        policy: policy.name().to_string(),
        binding: binding.metadata.name.clone().unwrap_or_default(),
        validation_actions: binding.spec.validation_actions.clone(),
        outcome,
    };
    let Some(spec) = &policy.policy.spec else {
        return verdict(Outcome::NotMatched("the policy has no spec".into()));
    };
    for (constraints, is_binding) in [
        (spec.match_constraints.as_ref(), false),
        (binding.spec.match_resources.as_ref(), true),
    ] {
        let Some(constraints) = constraints else { continue };
        match matches(constraints, request, namespace, is_binding) {
            Match::Yes => {}
            Match::No(why) => {
                let whose = if is_binding { "binding" } else { "policy" };
                return verdict(Outcome::NotMatched(format!("{whose}: {why}")));
            }
            Match::Undecidable(why) => return verdict(Outcome::Undecidable(why)),
        }
    }
    if let Some(problem) = policy.compiled.problems.first() {
        return verdict(Outcome::Unsupported(problem.to_string()));
    }

    let params = match (&spec.param_kind, binding.spec.param_ref.as_ref()) {
        (None, _) => vec![Value::Null],
        (Some(_), None) => {
            return verdict(config_error(
                policy,
                "the binding has no paramRef but the policy has a paramKind",
            ));
        }
        (Some(kind), Some(reference)) => {
            let api_version = kind.api_version.as_deref().unwrap_or_default();
            let kind = kind.kind.as_deref().unwrap_or_default();
            match facts.params(api_version, kind, reference, &request.namespace) {
                Lookup::Unknown(why) => return verdict(Outcome::Undecidable(why)),
                Lookup::Found(found) if !found.is_empty() => found,
                Lookup::Found(_) | Lookup::Missing => {
                    if reference.parameter_not_found_action.as_deref() == Some("Allow") {
                        return verdict(Outcome::NotMatched(
                            "no params found and the binding's parameterNotFoundAction is Allow".into(),
                        ));
                    }
                    return verdict(config_error(
                        policy,
                        "no params found for policy binding with `Deny` parameterNotFoundAction",
                    ));
                }
            }
        }
    };

    let mut decisions = Vec::new();
    let mut audit_annotations = Vec::new();
    let mut any_matched = false;
    let mut not_matched_why = String::new();
    for param in &params {
        let mut inputs = BTreeMap::new();
        inputs.insert("object", subject.object.clone());
        inputs.insert("oldObject", subject.old_object.clone());
        inputs.insert("request", subject.request_value.clone());
        inputs.insert("params", to_cel(param));
        inputs.insert("namespaceObject", subject.namespace_object.clone());
        let mut bindings = Bindings::new(environment, inputs, &policy.compiled.variables);
        match evaluate_one(policy, &mut bindings) {
            Err(unsupported) => return verdict(Outcome::Unsupported(unsupported)),
            Ok(ParamResult::NotMatched(why)) => not_matched_why = why,
            Ok(ParamResult::Evaluated(d, a)) => {
                any_matched = true;
                decisions.extend(d);
                audit_annotations.extend(a);
            }
        }
    }
    if !any_matched {
        return verdict(Outcome::NotMatched(not_matched_why));
    }
    verdict(Outcome::Evaluated {
        decisions,
        audit_annotations,
    })
}

fn is_namespace_object(request: &Request) -> bool {
    request.resource == "namespaces" && request.group_version.group.is_empty()
}

fn config_error(policy: &LoadedPolicy, why: &str) -> Outcome {
    Outcome::ConfigError {
        message: format!("failed to configure binding: {why}"),
        denies: policy.fails_closed(),
    }
}

enum ParamResult {
    NotMatched(String),
    Evaluated(Vec<Decision>, Vec<AuditAnnotationResult>),
}

fn error_action(policy: &LoadedPolicy) -> Action {
    if policy.fails_closed() {
        Action::Deny
    } else {
        Action::Admit
    }
}

/// The match conditions, validations and audit annotations for one param.
fn evaluate_one(policy: &LoadedPolicy, bindings: &mut Bindings<'_>) -> Result<ParamResult, String> {
    let compiled = &policy.compiled;
    // Every match condition is evaluated: one false skips the policy even when another erred.
    let mut condition_errors = Vec::new();
    for condition in &compiled.match_conditions {
        match bindings.evaluate(&condition.expression) {
            Evaluated::Value(CelValue::Bool(true)) => {}
            Evaluated::Value(CelValue::Bool(false)) => {
                return Ok(ParamResult::NotMatched(format!(
                    "match condition {:?} is false",
                    condition.name
                )));
            }
            Evaluated::Value(other) => condition_errors.push(format!(
                "expression '{}' resulted in error: expected a bool, got {}",
                condition.expression.source,
                type_name(&other)
            )),
            Evaluated::Error(error) => condition_errors.push(error),
            Evaluated::Unsupported(why) => return Err(why),
        }
    }
    if !condition_errors.is_empty() {
        let message = if condition_errors.len() == 1 {
            condition_errors.remove(0)
        } else {
            format!("[{}]", condition_errors.join(", "))
        };
        let decision = error_decision(policy, message, String::new());
        return Ok(ParamResult::Evaluated(vec![decision], Vec::new()));
    }

    let mut decisions = Vec::new();
    for validation in &compiled.validations {
        let expression = validation.expression.source.clone();
        let decision = match bindings.evaluate(&validation.expression) {
            Evaluated::Unsupported(why) => return Err(why),
            Evaluated::Error(error) => error_decision(policy, error, expression),
            Evaluated::Value(CelValue::Bool(true)) => Decision {
                action: Action::Admit,
                evaluation: Evaluation::Admit,
                message: String::new(),
                reason: String::new(),
                expression,
            },
            Evaluated::Value(CelValue::Bool(false)) => {
                let from_expression = match validation.message_expression.as_ref().map(|e| bindings.evaluate(e)) {
                    Some(Evaluated::Unsupported(why)) => return Err(why),
                    Some(Evaluated::Value(CelValue::String(message))) => usable_message(&message),
                    _ => None,
                };
                let message = from_expression
                    .or_else(|| {
                        validation
                            .message
                            .as_deref()
                            .map(str::trim)
                            .filter(|m| !m.is_empty())
                            .map(String::from)
                    })
                    .unwrap_or_else(|| format!("failed expression: {}", expression.trim()));
                Decision {
                    action: Action::Deny,
                    evaluation: Evaluation::Reject,
                    message,
                    reason: validation.reason.clone().unwrap_or_else(|| "Invalid".to_string()),
                    expression,
                }
            }
            Evaluated::Value(other) => error_decision(
                policy,
                format!(
                    "expression '{expression}' resulted in error: expected a bool, got {}",
                    type_name(&other)
                ),
                expression.clone(),
            ),
        };
        decisions.push(decision);
    }

    let mut annotations = Vec::new();
    for annotation in &compiled.audit_annotations {
        let key = annotation.key.clone();
        annotations.push(match bindings.evaluate(&annotation.value_expression) {
            Evaluated::Unsupported(why) => return Err(why),
            Evaluated::Error(message) => AuditAnnotationResult::Error { key, message, action: error_action(policy) },
            Evaluated::Value(CelValue::Null) => AuditAnnotationResult::Exclude { key },
            Evaluated::Value(CelValue::String(value)) if value.trim().is_empty() => AuditAnnotationResult::Exclude { key },
            Evaluated::Value(CelValue::String(value)) => {
                AuditAnnotationResult::Publish { key, value: value.trim().to_string() }
            }
            Evaluated::Value(other) => AuditAnnotationResult::Error {
                message: format!(
                    "valueExpression '{}' resulted in unsupported return type: {}. Return type must be either string or null.",
                    annotation.value_expression.source,
                    type_name(&other)
                ),
                key,
                action: error_action(policy),
            },
        });
    }
    Ok(ParamResult::Evaluated(decisions, annotations))
}

fn error_decision(policy: &LoadedPolicy, message: String, expression: String) -> Decision {
    Decision {
        action: error_action(policy),
        evaluation: Evaluation::Error,
        message,
        reason: String::new(),
        expression,
    }
}

/// The API server uses a messageExpression's result only when it is a non-blank, single-line
/// string of at most 5 KiB; otherwise it falls back to `message`.
fn usable_message(message: &str) -> Option<String> {
    const MAX_MESSAGE_BYTES: usize = 5 * 1024;
    let trimmed = message.trim();
    (!trimmed.is_empty() && trimmed.len() <= MAX_MESSAGE_BYTES && !trimmed.contains('\n')).then(|| trimmed.to_string())
}

/// CEL's name for a value's type.
fn type_name(value: &CelValue) -> &'static str {
    match value {
        CelValue::List(_) => "list",
        CelValue::Map(_) => "map",
        CelValue::Function(..) => "function",
        CelValue::Int(_) => "int",
        CelValue::UInt(_) => "uint",
        CelValue::Float(_) => "double",
        CelValue::String(_) => "string",
        CelValue::Bytes(_) => "bytes",
        CelValue::Bool(_) => "bool",
        CelValue::Duration(_) => "google.protobuf.Duration",
        CelValue::Timestamp(_) => "google.protobuf.Timestamp",
        CelValue::Opaque(_) => "opaque",
        CelValue::Null => "null_type",
    }
}
