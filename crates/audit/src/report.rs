//! What already runs, as `wgpolicyk8s.io/v1alpha2` PolicyReports: one per tenant namespace,
//! read by Policy Reporter and the other tools of the policy working group's format.
//!
//! A report lists what fails, warns, errs or could not be evaluated; what passes is only
//! counted in the summary, so a namespace of a thousand compliant pods stays a small object.
//! The results are capped ([`MAX_RESULTS`]) for the same reason: the API server stores a
//! report in etcd, whose objects must stay well under its size limit. Results are sorted, so
//! the same cluster gives the same report and an unchanged report is never written again.

use std::collections::BTreeMap;

use palisade_admission::Verdict;
use palisade_policy::vap::{Action, Evaluation, Outcome};
use serde_json::{Value, json};

use crate::Decided;

pub const API_VERSION: &str = "wgpolicyk8s.io/v1alpha2";
pub const KIND: &str = "PolicyReport";
/// The name of Palisade's report in each tenant namespace.
pub const REPORT_NAME: &str = "palisade";
/// Results listed per report at most; the summary still counts every one.
pub const MAX_RESULTS: usize = 500;
/// The `source` of every result.
pub const SOURCE: &str = "palisade";

/// The stored object a result is about.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Resource {
    pub api_version: String,
    pub kind: String,
    pub namespace: String,
    pub name: String,
    pub uid: String,
}

impl Resource {
    /// The reference of `object` (as stored: apiVersion, kind, metadata).
    pub fn of(object: &Value) -> Resource {
        let text = |value: &Value| value.as_str().unwrap_or_default().to_string();
        Resource {
            api_version: text(&object["apiVersion"]),
            kind: text(&object["kind"]),
            namespace: text(&object["metadata"]["namespace"]),
            name: text(&object["metadata"]["name"]),
            uid: text(&object["metadata"]["uid"]),
        }
    }

    fn to_json(&self) -> Value {
        json!({
            "apiVersion": self.api_version, "kind": self.kind,
            "namespace": self.namespace, "name": self.name, "uid": self.uid,
        })
    }
}

/// One finding, before it is written.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Finding {
    pub resource: Resource,
    pub policy: String,
    pub rule: String,
    /// pass, fail, warn, error or skip.
    pub result: &'static str,
    pub category: &'static str,
    pub severity: &'static str,
    pub message: String,
}

/// Every finding about one stored object: the tenant rules, Pod Security at the namespace's
/// enforced level (a Pod only: that is what the level enforces), and every binding that
/// matched it.
pub fn findings(resource: &Resource, decided: &Decided) -> Vec<Finding> {
    let finding = |policy: &str, rule: &str, result, category, severity, message: String| Finding {
        resource: resource.clone(),
        policy: policy.to_string(),
        rule: rule.to_string(),
        result,
        category,
        severity,
        message,
    };
    let mut findings = Vec::new();
    findings.push(match &decided.tenant_rules {
        Verdict::Deny(message) => finding(
            "palisade-tenant-rules",
            "tenant-rules",
            "fail",
            "Tenant",
            "high",
            message.clone(),
        ),
        _ => finding(
            "palisade-tenant-rules",
            "tenant-rules",
            "pass",
            "Tenant",
            "high",
            String::new(),
        ),
    });
    let is_pod = decided.request.resource == "pods" && decided.request.group_version.group.is_empty();
    if is_pod {
        if let Some(why) = &decided.pod_security.undecided {
            findings.push(finding(
                "pod-security",
                "enforce",
                "skip",
                "Pod Security",
                "high",
                why.clone(),
            ));
        } else if let Some(denial) = &decided.pod_security.denial {
            findings.push(finding(
                "pod-security",
                "enforce",
                "fail",
                "Pod Security",
                "high",
                denial.message.clone(),
            ));
        } else {
            findings.push(finding(
                "pod-security",
                "enforce",
                "pass",
                "Pod Security",
                "high",
                String::new(),
            ));
        }
    }
    for verdict in &decided.policies {
        let add = |result, message: String| {
            finding(
                &verdict.policy,
                &verdict.binding,
                result,
                "ValidatingAdmissionPolicy",
                "medium",
                message,
            )
        };
        match &verdict.outcome {
            Outcome::NotMatched(_) => {}
            Outcome::Unsupported(why) | Outcome::Undecidable(why) => findings.push(add("skip", why.clone())),
            Outcome::ConfigError { message, .. } => findings.push(add("error", message.clone())),
            Outcome::Evaluated { decisions, .. } => {
                let failed: Vec<_> = decisions.iter().filter(|d| d.action == Action::Deny).collect();
                let enforced = verdict.validation_actions.iter().any(|a| a == "Deny");
                let errored = decisions.iter().any(|d| d.evaluation == Evaluation::Error);
                let messages = failed.iter().map(|d| d.message.as_str()).collect::<Vec<_>>().join("; ");
                findings.push(match (failed.is_empty(), errored, enforced) {
                    (true, false, _) => add("pass", String::new()),
                    (_, true, _) => add("error", messages),
                    (false, false, true) => add("fail", messages),
                    (false, false, false) => add("warn", messages),
                });
            }
        }
    }
    findings
}

/// The report of `namespace`, from every finding there; `seconds` stamps the results.
pub fn policy_report(namespace: &str, labels: &BTreeMap<String, String>, findings: &[Finding], seconds: i64) -> Value {
    let mut summary: BTreeMap<&str, usize> = ["pass", "fail", "warn", "error", "skip"]
        .into_iter()
        .map(|r| (r, 0))
        .collect();
    for finding in findings {
        *summary.entry(finding.result).or_default() += 1;
    }
    let mut listed: Vec<&Finding> = findings.iter().filter(|f| f.result != "pass").collect();
    // Failures first, then by object, so a capped report keeps the most important.
    listed.sort_by_key(|f| (severity_rank(f.result), &f.resource, &f.policy, &f.rule));
    let truncated = listed.len().saturating_sub(MAX_RESULTS);
    listed.truncate(MAX_RESULTS);
    let results: Vec<Value> = listed
        .iter()
        .map(|f| {
            json!({
                "policy": f.policy,
                "rule": f.rule,
                "result": f.result,
                "message": f.message,
                "category": f.category,
                "severity": f.severity,
                "source": SOURCE,
                "scored": true,
                "resources": [f.resource.to_json()],
                "timestamp": { "seconds": seconds, "nanos": 0 },
            })
        })
        .collect();
    let mut metadata = json!({ "name": REPORT_NAME, "namespace": namespace, "labels": labels });
    if truncated > 0 {
        metadata["annotations"] = json!({ "palisade.dev/results-not-listed": truncated.to_string() });
    }
    json!({
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": metadata,
        "summary": summary,
        "results": results,
    })
}

fn severity_rank(result: &str) -> u8 {
    match result {
        "fail" => 0,
        "error" => 1,
        "warn" => 2,
        "skip" => 3,
        _ => 4,
    }
}

/// The report without its timestamps: what decides whether it changed.
pub fn content(report: &Value) -> Value {
    let mut report = report.clone();
    if let Some(results) = report["results"].as_array_mut() {
        for result in results {
            if let Some(fields) = result.as_object_mut() {
                fields.remove("timestamp");
            }
        }
    }
    report
}
