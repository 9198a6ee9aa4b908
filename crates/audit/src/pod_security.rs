//! Pod Security admission for `palisade check`: the namespace's `pod-security.kubernetes.io`
//! labels, read as the API server's PodSecurity plugin reads them, applied by
//! `palisade_policy::pss` to a Pod (enforce: refused; warn: a warning; audit: an audit
//! annotation) or to a workload's pod template (warn and audit only: the API server never refuses
//! a workload for its template).

use std::collections::BTreeMap;

use palisade_api::labels;
use palisade_policy::pss::{self, Level, Version};
use palisade_policy::vap::{Denial, Request};

/// What PodSecurity answers one request.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct PodSecurityAnswer {
    pub denial: Option<Denial>,
    pub warnings: Vec<String>,
    pub audit_annotations: Vec<(String, String)>,
    /// Why PodSecurity could not be evaluated (the namespace is unknown, the object unreadable).
    pub undecided: Option<String>,
}

/// The level and version one mode of the namespace's labels sets; `privileged:latest` when the
/// label is absent, as the API server's default configuration has it.
fn mode(namespace_labels: &BTreeMap<String, String>, level_label: &str, version_label: &str) -> (Level, Version) {
    // An invalid label cannot be stored (the API server validates them on the namespace), so
    // the most restrictive reading is only a guard for hand-written cluster states.
    let level = match namespace_labels.get(level_label) {
        None => Level::Privileged,
        Some(value) => value.parse().unwrap_or(Level::Restricted),
    };
    let version = namespace_labels
        .get(version_label)
        .and_then(|value| value.parse().ok())
        .unwrap_or(Version::Latest);
    (level, version)
}

/// Evaluate `request` under `namespace_labels` (`None`: the namespace is not known here).
pub fn evaluate(request: &Request, namespace_labels: Option<&BTreeMap<String, String>>) -> PodSecurityAnswer {
    let mut answer = PodSecurityAnswer::default();
    // PodSecurity checks creations, and updates of a Pod's spec only in ways check does not model.
    if request.operation != "CREATE" || !request.sub_resource.is_empty() {
        return answer;
    }
    let Some(object) = &request.object else {
        return answer;
    };
    let is_pod = request.resource == "pods" && request.group_version.group.is_empty();
    // Only kinds that carry pods matter; for the rest, the namespace is irrelevant.
    let judge = |level: Level, version: Version| pss::check_object(level, version, object);
    match judge(Level::Privileged, Version::Latest) {
        Ok(None) => return answer,
        Ok(Some(_)) => {}
        Err(error) => {
            answer.undecided = Some(format!("Pod Security: {error}"));
            return answer;
        }
    }
    let Some(namespace_labels) = namespace_labels else {
        answer.undecided = Some(format!(
            "Pod Security: namespace {:?} is not known here, so its pod-security.kubernetes.io labels are not either",
            request.namespace
        ));
        return answer;
    };
    let enforce = mode(namespace_labels, labels::PSA_ENFORCE, labels::PSA_ENFORCE_VERSION);
    let warn = mode(namespace_labels, labels::PSA_WARN, labels::PSA_WARN_VERSION);
    let audit = mode(namespace_labels, labels::PSA_AUDIT, labels::PSA_AUDIT_VERSION);
    let failures = |(level, version): (Level, Version)| match judge(level, version) {
        Ok(Some(forbidden)) if !forbidden.is_empty() => Some(forbidden),
        _ => None,
    };
    if is_pod && let Some(forbidden) = failures(enforce) {
        answer.denial = Some(Denial {
            code: 403,
            reason: "Forbidden".to_string(),
            message: format!(
                "pods \"{}\" is forbidden: {}",
                request.name,
                pss::violation_message(enforce.0, enforce.1, &forbidden)
            ),
        });
    }
    // A workload's template is warned about at the warn level; a Pod only when it is admitted
    // and warn is not the enforced policy (a refusal carries no warnings).
    if answer.denial.is_none()
        && (!is_pod || warn != enforce)
        && let Some(forbidden) = failures(warn)
    {
        answer.warnings.push(pss::warning_message(warn.0, warn.1, &forbidden));
    }
    if let Some(forbidden) = failures(audit) {
        answer.audit_annotations.push((
            "pod-security.kubernetes.io/audit-violations".to_string(),
            pss::warning_message(audit.0, audit.1, &forbidden),
        ));
    }
    answer
}
