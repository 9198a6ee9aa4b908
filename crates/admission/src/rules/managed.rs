//! Objects Palisade manages (labelled `app.kubernetes.io/managed-by=palisade`) belong to the
//! platform: tenant users can neither create look-alikes, edit nor delete them. Kubernetes' own
//! controllers still may (namespace deletion removes them; the quota controller writes status).

use kube::core::admission::Operation;
use palisade_api::labels;

use super::{InTenant, described};
use crate::Verdict;

pub fn review(context: &InTenant<'_>) -> Option<Verdict> {
    if context.requester.is_system_component() {
        return None;
    }
    let request = context.request;
    let is_managed = |object: Option<&kube::core::DynamicObject>| {
        object
            .and_then(|o| o.metadata.labels.as_ref())
            .and_then(|l| l.get(labels::MANAGED_BY))
            .is_some_and(|v| v == labels::MANAGED_BY_VALUE)
    };
    let was_managed = is_managed(request.old_object.as_ref());
    let will_be_managed = is_managed(request.object.as_ref());
    let verb = match request.operation {
        Operation::Create if will_be_managed => "create objects labelled",
        Operation::Update if was_managed || will_be_managed => "change objects labelled",
        Operation::Delete if was_managed => "delete objects labelled",
        _ => return None,
    };
    Some(Verdict::deny(format!(
        "tenant \"{}\": {} in namespace \"{}\" is managed by Palisade; tenant users cannot {verb} {}={} (change the Tenant instead, or ask your platform team)",
        context.tenant_name,
        described(request),
        context.namespace,
        labels::MANAGED_BY,
        labels::MANAGED_BY_VALUE,
    )))
}
