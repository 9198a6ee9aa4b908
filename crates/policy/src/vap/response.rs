//! What the API server answers once every binding has decided: the first denial as the
//! request's error, a warning per failed validation bound with `Warn`, and the audit
//! annotations of `Audit` bindings and of `auditAnnotations`.

use super::evaluate::{Action, AuditAnnotationResult, BindingVerdict, Outcome};
use super::value::Request;

/// The API server's answer to a request, as far as its admission policies decide it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Response {
    /// The error status, when a binding denies: HTTP code, reason and message.
    pub denial: Option<Denial>,
    /// Every denial, `denial` first. The API server reports one; which one, when several
    /// bindings deny, follows its internal policy order, not the names.
    pub denials: Vec<Denial>,
    /// `Warning` headers, in binding order.
    pub warnings: Vec<String>,
    /// Audit annotations: `<policy>/<key>` and the `validation.policy.admission.k8s.io/validation_failure`
    /// entries of `Audit` bindings.
    pub audit_annotations: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Denial {
    pub code: u16,
    pub reason: String,
    pub message: String,
}

/// The audit annotation key under which `Audit` bindings record their failures.
pub const VALIDATION_FAILURE_ANNOTATION: &str = "validation.policy.admission.k8s.io/validation_failure";

/// Combine the verdicts of every binding, in the order the API server would meet them.
pub fn respond(request: &Request, verdicts: &[BindingVerdict]) -> Response {
    let mut response = Response::default();
    let mut failures = Vec::new();
    for verdict in verdicts {
        let denial_message = |message: &str| {
            format!(
                "ValidatingAdmissionPolicy '{}' with binding '{}' denied request: {message}",
                verdict.policy, verdict.binding
            )
        };
        match &verdict.outcome {
            Outcome::ConfigError { message, denies: true } => {
                response
                    .denials
                    .push(forbidden(request, "Invalid", &denial_message(message)));
            }
            Outcome::Evaluated {
                decisions,
                audit_annotations,
            } => {
                for decision in decisions.iter().filter(|d| d.action == Action::Deny) {
                    for action in &verdict.validation_actions {
                        match action.as_str() {
                            "Deny" => {
                                let reason = if decision.reason.is_empty() {
                                    "Invalid"
                                } else {
                                    &decision.reason
                                };
                                response
                                    .denials
                                    .push(forbidden(request, reason, &denial_message(&decision.message)));
                            }
                            "Warn" => response.warnings.push(format!(
                                "Validation failed for ValidatingAdmissionPolicy '{}' with binding '{}': {}",
                                verdict.policy, verdict.binding, decision.message
                            )),
                            "Audit" => failures.push(serde_json::json!({
                                "message": decision.message,
                                "policy": verdict.policy,
                                "binding": verdict.binding,
                                "expressionIndex": 0,
                                "validationActions": verdict.validation_actions,
                            })),
                            _ => {}
                        }
                    }
                }
                for annotation in audit_annotations {
                    if let AuditAnnotationResult::Publish { key, value } = annotation {
                        response
                            .audit_annotations
                            .push((format!("{}/{key}", verdict.policy), value.clone()));
                    }
                }
            }
            _ => {}
        }
    }
    // The API server stops at a binding's first denial.
    response.denials.dedup_by(|later, earlier| {
        later.message.split(" denied request: ").next() == earlier.message.split(" denied request: ").next()
    });
    response.denial = response.denials.first().cloned();
    if !failures.is_empty() {
        response.audit_annotations.push((
            VALIDATION_FAILURE_ANNOTATION.to_string(),
            serde_json::Value::Array(failures).to_string(),
        ));
    }
    response
}

/// `admission.NewForbidden` with the policy's reason: `<resource>[.<group>] "<name>" is
/// forbidden: <message>`.
fn forbidden(request: &Request, reason: &str, message: &str) -> Denial {
    let resource = if request.group_version.group.is_empty() {
        request.resource.clone()
    } else {
        format!("{}.{}", request.resource, request.group_version.group)
    };
    let message = if request.name.is_empty() {
        format!("{resource} is forbidden: {message}")
    } else {
        format!("{resource} \"{}\" is forbidden: {message}", request.name)
    };
    let code = match reason {
        "Unauthorized" => 401,
        "Forbidden" => 403,
        "RequestEntityTooLarge" => 413,
        _ => 422,
    };
    Denial {
        code,
        reason: reason.to_string(),
        message,
    }
}
