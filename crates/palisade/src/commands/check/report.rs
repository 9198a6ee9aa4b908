//! What `check` prints: per object, the tenant rules' verdict, each matching binding's decisions,
//! and the answer the API server would give, as text or JSON.

use palisade_admission::Verdict;
use palisade_audit::Decided;
use palisade_policy::vap::{Action, AuditAnnotationResult, BindingVerdict, Evaluation, Outcome};
use serde_json::{Value, json};

/// One checked object: where it came from and everything decided about it.
pub struct Checked {
    pub origin: String,
    pub decided: Decided,
}

impl std::ops::Deref for Checked {
    type Target = Decided;

    fn deref(&self) -> &Decided {
        &self.decided
    }
}

/// Counts over a run.
pub struct Summary {
    pub checked: usize,
    pub denied: usize,
    pub undecided: usize,
}

impl Summary {
    pub fn of(results: &[Checked]) -> Summary {
        Summary {
            checked: results.len(),
            denied: results.iter().filter(|r| r.denial().is_some()).count(),
            undecided: results
                .iter()
                .filter(|r| r.denial().is_none() && !r.undecided().is_empty())
                .count(),
        }
    }
}

pub fn print_text(results: &[Checked]) {
    for result in results {
        let what = result.what();
        let operation = if result.request.operation == "UPDATE" {
            " (update)"
        } else {
            ""
        };
        match (result.denial(), &result.tenant_rules) {
            (Some(message), tenant_rules) => {
                println!("DENIED   {what}{operation}: {message}");
                // The tenant rules' changes still show: they are what the API server would judge.
                if let Verdict::Patch(patch) = tenant_rules {
                    println!(
                        "  mutated by the tenant rules first: {}",
                        serde_json::to_string(patch).unwrap_or_default()
                    );
                }
            }
            (None, _) if !result.undecided().is_empty() => println!("UNDECIDED {what}{operation}"),
            (None, Verdict::Patch(patch)) => {
                let changes = serde_json::to_string(patch).unwrap_or_default();
                println!("mutated  {what}{operation}: {changes}");
            }
            (None, _) => println!("allowed  {what}{operation}"),
        }
        for warning in &result.response.warnings {
            println!("  warning: {warning}");
        }
        for why in result.undecided() {
            println!("  not evaluated: {why}");
        }
        for verdict in &result.policies {
            if let Outcome::Evaluated { decisions, .. } = &verdict.outcome {
                let failed = decisions.iter().filter(|d| d.action == Action::Deny).count();
                let actions = verdict.validation_actions.join(",");
                println!(
                    "  policy {} (binding {}, {actions}): {}",
                    verdict.policy,
                    verdict.binding,
                    if failed == 0 {
                        "passed".to_string()
                    } else {
                        format!("{failed} validation(s) failed")
                    }
                );
            }
        }
        for (key, value) in &result.response.audit_annotations {
            println!("  audit annotation {key}: {value}");
        }
    }
}

/// The whole answer as one JSON document: `-o json` prints it, `-o junit|sarif` are views of it.
pub fn document(results: &[Checked], summary: &Summary, not_checked: &[&str]) -> Value {
    let objects: Vec<Value> = results.iter().map(object_json).collect();
    json!({
        "summary": { "checked": summary.checked, "denied": summary.denied, "undecided": summary.undecided },
        "objects": objects,
        "notChecked": not_checked,
    })
}

/// The same document as [`document`], written object by object: ten thousand checked objects
/// never sit in memory as one JSON tree and one string besides.
pub fn write_json(
    out: &mut impl std::io::Write,
    results: &[Checked],
    summary: &Summary,
    not_checked: &[&str],
) -> std::io::Result<()> {
    let summary = json!({ "checked": summary.checked, "denied": summary.denied, "undecided": summary.undecided });
    write!(
        out,
        "{{\"summary\":{summary},\"notChecked\":{},\"objects\":[",
        json!(not_checked)
    )?;
    for (i, result) in results.iter().enumerate() {
        if i > 0 {
            out.write_all(b",")?;
        }
        out.write_all(b"\n")?;
        serde_json::to_writer(&mut *out, &object_json(result))?;
    }
    out.write_all(b"\n]}\n")?;
    out.flush()
}

fn object_json(result: &Checked) -> Value {
    let tenant_rules = match &result.tenant_rules {
        Verdict::Allow => json!({ "verdict": "allow" }),
        Verdict::Patch(patch) => json!({ "verdict": "patch", "patch": patch }),
        Verdict::Deny(message) => json!({ "verdict": "deny", "message": message }),
    };
    let denial_json =
        |d: &palisade_policy::vap::Denial| json!({ "code": d.code, "reason": d.reason, "message": d.message });
    let denial = result.response.denial.as_ref().map(denial_json);
    let denials: Vec<Value> = result.response.denials.iter().map(denial_json).collect();
    let annotations: serde_json::Map<String, Value> = result
        .response
        .audit_annotations
        .iter()
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect();
    json!({
        "origin": result.origin,
        "apiVersion": if result.request.group_version.group.is_empty() {
            result.request.group_version.version.clone()
        } else {
            format!("{}/{}", result.request.group_version.group, result.request.group_version.version)
        },
        "kind": result.request.kind,
        "namespace": result.request.namespace,
        "name": result.request.name,
        "operation": result.request.operation,
        "allowed": result.denial().is_none(),
        "decided": result.denial().is_some() || result.undecided().is_empty(),
        "message": result.denial(),
        "tenantRules": tenant_rules,
        "podSecurity": {
            "denial": result.pod_security.denial.as_ref().map(denial_json),
            "warnings": result.pod_security.warnings,
            "undecided": result.pod_security.undecided,
        },
        "policies": result.policies.iter().map(verdict_json).collect::<Vec<_>>(),
        "response": { "denial": denial, "denials": denials, "warnings": result.response.warnings, "auditAnnotations": annotations },
    })
}

fn verdict_json(verdict: &BindingVerdict) -> Value {
    let (outcome, details) = match &verdict.outcome {
        Outcome::NotMatched(why) => ("notMatched", json!({ "why": why })),
        Outcome::Unsupported(why) => ("unsupported", json!({ "why": why })),
        Outcome::Undecidable(why) => ("undecidable", json!({ "why": why })),
        Outcome::ConfigError { message, denies } => ("configError", json!({ "message": message, "denies": denies })),
        Outcome::Evaluated {
            decisions,
            audit_annotations,
        } => {
            let decisions: Vec<Value> = decisions
                .iter()
                .map(|d| {
                    json!({
                        "action": if d.action == Action::Deny { "Deny" } else { "Admit" },
                        "evaluation": match d.evaluation {
                            Evaluation::Admit => "admit",
                            Evaluation::Reject => "reject",
                            Evaluation::Error => "error",
                        },
                        "message": d.message,
                        "reason": d.reason,
                        "expression": d.expression,
                    })
                })
                .collect();
            let annotations: Vec<Value> = audit_annotations
                .iter()
                .map(|a| match a {
                    AuditAnnotationResult::Publish { key, value } => json!({ "key": key, "value": value }),
                    AuditAnnotationResult::Exclude { key } => json!({ "key": key, "excluded": true }),
                    AuditAnnotationResult::Error { key, message, .. } => json!({ "key": key, "error": message }),
                })
                .collect();
            let outcome = if decisions.iter().any(|d| d["action"] == "Deny") {
                "denied"
            } else {
                "admitted"
            };
            (
                outcome,
                json!({ "decisions": decisions, "auditAnnotations": annotations }),
            )
        }
    };
    let mut value = json!({
        "policy": verdict.policy,
        "binding": verdict.binding,
        "validationActions": verdict.validation_actions,
        "outcome": outcome,
    });
    if let (Some(target), Value::Object(extra)) = (value.as_object_mut(), details) {
        target.extend(extra);
    }
    value
}
