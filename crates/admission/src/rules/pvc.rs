//! PersistentVolumeClaims: the storage class allow-list (with its default mutated in), and no
//! claim on a volume that belongs to another tenant or is reserved for another namespace.

use k8s_openapi::api::core::v1::PersistentVolumeClaim;

use super::pod::check_class;
use super::{InTenant, default_class, typed};
use crate::Verdict;

pub fn review(context: &InTenant<'_>) -> Verdict {
    let request = context.request;
    let claim: PersistentVolumeClaim = match typed(request.object.as_ref(), "PersistentVolumeClaim") {
        Ok(claim) => claim,
        Err(denial) => return denial,
    };
    let tenant = context.tenant_name;
    let spec = claim.spec.unwrap_or_default();
    let classes = context.tenant.spec.storage.classes.as_ref();
    let context_text = format!(" (PersistentVolumeClaim \"{}\")", request.name);
    if let Err(message) = check_class(
        tenant,
        "storage class",
        classes,
        spec.storage_class_name.as_deref(),
        &context_text,
    ) {
        return Verdict::deny(message);
    }
    if let Some(volume_name) = spec.volume_name.as_deref().filter(|v| !v.is_empty())
        && let Some(volume) = context.view.volume(volume_name)
    {
        // Whose volume it is, or which namespace it is reserved for, is not said: it may be
        // another tenant's.
        if volume.tenant.as_deref().is_some_and(|owner| owner != tenant) {
            return Verdict::deny(format!(
                "PersistentVolume \"{volume_name}\" is not a volume of tenant \"{tenant}\"; it cannot be claimed from namespace \"{}\"",
                context.namespace
            ));
        }
        if volume
            .claim_namespace
            .as_deref()
            .is_some_and(|ns| ns != context.namespace)
        {
            return Verdict::deny(format!(
                "PersistentVolume \"{volume_name}\" is reserved for a claim in another namespace; it cannot be bound from \"{}\"",
                context.namespace
            ));
        }
    }
    default_class(
        request,
        spec.storage_class_name.as_deref(),
        classes,
        &["spec", "storageClassName"],
    )
}
