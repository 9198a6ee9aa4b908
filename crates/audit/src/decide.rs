//! One object, every admission step that would judge it.

use kube::core::DynamicObject;
use kube::core::admission::AdmissionRequest;
use palisade_admission::Verdict;
use palisade_policy::vap::{BindingVerdict, Outcome, Request, Response};

use crate::pod_security::{self, PodSecurityAnswer};
use crate::policies::{PolicyRequestError, PolicyState, policy_request};

/// Everything decided about one object.
#[derive(Debug, Clone)]
pub struct Decided {
    pub request: Request,
    /// Palisade's own rules (the webhook's `review`).
    pub tenant_rules: Verdict,
    /// Every binding's verdict, by policy then binding name.
    pub policies: Vec<BindingVerdict>,
    pub pod_security: PodSecurityAnswer,
    /// The API server's own answer: PodSecurity, then the admission policies.
    pub response: Response,
}

/// Judge `request`, whose tenant rules' verdict the caller has (the webhook's `review`, with or
/// without the quota ledger), under the policies and namespaces of `policies`.
pub fn decide(
    request: &AdmissionRequest<DynamicObject>,
    tenant_rules: Verdict,
    policies: &PolicyState,
) -> Result<Decided, PolicyRequestError> {
    let request = policy_request(request)?;
    let verdicts = policies.evaluate(&request);
    let pod_security = pod_security::evaluate(&request, policies.namespace_labels(&request).as_ref());
    let response = combine(&pod_security, palisade_policy::vap::respond(&request, &verdicts));
    Ok(Decided {
        request,
        tenant_rules,
        policies: verdicts,
        pod_security,
        response,
    })
}

/// PodSecurity runs before the admission policies, and its refusal ends the request there.
fn combine(pod_security: &PodSecurityAnswer, policies: Response) -> Response {
    let mut response = Response {
        warnings: pod_security.warnings.clone(),
        audit_annotations: pod_security.audit_annotations.clone(),
        ..Default::default()
    };
    if let Some(denial) = &pod_security.denial {
        response.denial = Some(denial.clone());
        response.denials = vec![denial.clone()];
        return response;
    }
    response.denial = policies.denial;
    response.denials = policies.denials;
    response.warnings.extend(policies.warnings);
    response.audit_annotations.extend(policies.audit_annotations);
    response
}

impl Decided {
    /// `Deployment team-a/web`.
    pub fn what(&self) -> String {
        if self.request.namespace.is_empty() || self.request.resource == "namespaces" {
            format!("{} {}", self.request.kind, self.request.name)
        } else {
            format!("{} {}/{}", self.request.kind, self.request.namespace, self.request.name)
        }
    }

    /// The message of the first refusal, in the API server's order: Palisade's webhook is a
    /// mutating and validating webhook met before the admission policies' verdicts are final,
    /// so a tenant rule's denial is reported first.
    pub fn denial(&self) -> Option<String> {
        match &self.tenant_rules {
            Verdict::Deny(message) => Some(message.clone()),
            _ => self.response.denial.as_ref().map(|denial| denial.message.clone()),
        }
    }

    /// What could not be evaluated: Pod Security, then binding by binding.
    pub fn undecided(&self) -> Vec<String> {
        let policies = self.policies.iter().filter_map(|verdict| match &verdict.outcome {
            Outcome::Unsupported(why) | Outcome::Undecidable(why) => Some(format!(
                "policy {} (binding {}): {why}",
                verdict.policy, verdict.binding
            )),
            _ => None,
        });
        self.pod_security
            .undecided
            .clone()
            .into_iter()
            .chain(policies)
            .collect()
    }
}
