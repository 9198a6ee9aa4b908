//! A tenant namespace takes no quota-relevant object before Palisade's ResourceQuota and
//! LimitRange are in it: created a moment ago, it would otherwise accept pods that no quota
//! counts and no LimitRange defaults, and the ResourceQuota, once there, cannot evict them.

use kube::core::admission::Operation;

use super::InTenant;
use crate::Verdict;

/// The kinds a ResourceQuota or LimitRange would have had a say about.
const METERED: [(&str, &str); 3] = [("", "Pod"), ("", "PersistentVolumeClaim"), ("", "Service")];

pub fn review(context: &InTenant<'_>) -> Option<Verdict> {
    let request = context.request;
    if request.operation != Operation::Create
        || !METERED.contains(&(request.kind.group.as_str(), request.kind.kind.as_str()))
    {
        return None;
    }
    let policy = context.tenant.spec.quota.as_ref()?;
    let wanted = [
        // The ResourceQuota also carries the tenant-wide resources (see the renderer).
        (
            "ResourceQuota",
            !policy.namespace.is_empty() || !policy.tenant.is_empty(),
        ),
        ("LimitRange", !policy.limits.is_empty()),
    ];
    for (kind, needed) in wanted {
        // `None`: this view does not track them (offline); the live webhook always does.
        if needed && context.view.holds_managed(context.namespace, kind) == Some(false) {
            return Some(Verdict::deny(format!(
                "namespace \"{}\" of tenant \"{}\" is still being set up: Palisade has not written its {kind} yet, and nothing it would meter is admitted before; retry in a moment",
                context.namespace, context.tenant_name
            )));
        }
    }
    None
}
