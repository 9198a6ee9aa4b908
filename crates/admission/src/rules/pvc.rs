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
        if let Some(owner) = volume.tenant.as_deref().filter(|owner| *owner != tenant) {
            return Verdict::deny(format!(
                "PersistentVolume \"{volume_name}\" belongs to tenant \"{owner}\"; tenant \"{tenant}\" cannot claim it"
            ));
        }
        if let Some(reserved) = volume.claim_namespace.as_deref().filter(|ns| *ns != context.namespace) {
            return Verdict::deny(format!(
                "PersistentVolume \"{volume_name}\" is reserved for a claim in namespace \"{reserved}\"; it cannot be bound from \"{}\"",
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
