//! Subresources of objects in tenant namespaces. The API server sends each as its own request
//! (`pods/binding`, `deployments/scale`, `serviceaccounts/token`, ...), with the subresource's own
//! kind, so the kind rules never see them: this module decides them all.
//!
//! Cordon already froze every one of them for tenant users before we get here. What remains is
//! the writes that belong to Kubernetes: a pod's binding is the scheduler's and its status the
//! kubelet's (status holds the pod IPs that Services route to), so tenant users write neither.
//! Ephemeral containers and in-place resizes change a running pod and get the pod rules.

use super::{InTenant, pod};
use crate::Verdict;

pub fn review(context: &InTenant<'_>, subresource: &str) -> Verdict {
    let resource = context.request.resource.resource.as_str();
    match (resource, subresource) {
        ("pods", "binding" | "status") if !context.requester.is_system_component() => Verdict::deny(format!(
            "tenant \"{}\": pods/{subresource} of pod \"{}\" is written by {}; tenant users cannot write it",
            context.tenant_name,
            context.request.name,
            if subresource == "binding" {
                "the scheduler"
            } else {
                "the kubelet"
            }
        )),
        ("pods", "ephemeralcontainers" | "resize") => pod::review(context),
        _ => Verdict::Allow,
    }
}
