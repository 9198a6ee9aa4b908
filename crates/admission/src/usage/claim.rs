//! PersistentVolumeClaims: the quota evaluator's claim usage.

use palisade_tenancy::quantity::Amount;
use serde_json::Value;

use super::{Usage, UsageError, amount, string};

/// The suffix of per-class resource names: `<class>.storageclass.storage.k8s.io/requests.storage`.
pub const STORAGE_CLASS_SUFFIX: &str = ".storageclass.storage.k8s.io/";
/// The deprecated annotation that, when present, names the class instead of `spec.storageClassName`.
pub const BETA_CLASS_ANNOTATION: &str = "volume.beta.kubernetes.io/storage-class";

pub(super) fn usage(claim: &Value) -> Result<Usage, UsageError> {
    let mut used = Usage::new();
    used.insert("persistentvolumeclaims".to_string(), Amount::units(1));
    used.insert("count/persistentvolumeclaims".to_string(), Amount::units(1));
    let class = class_of(claim)?;
    if let Some(class) = class {
        used.insert(
            format!("{class}{STORAGE_CLASS_SUFFIX}persistentvolumeclaims"),
            Amount::units(1),
        );
    }
    if let Some(storage) = storage(claim)? {
        used.insert("requests.storage".to_string(), storage);
        if let Some(class) = class {
            used.insert(format!("{class}{STORAGE_CLASS_SUFFIX}requests.storage"), storage);
        }
    }
    Ok(used)
}

/// The claim's storage class: the beta annotation if present, else `spec.storageClassName`;
/// `None` when neither names one (an empty name is no class).
fn class_of(claim: &Value) -> Result<Option<&str>, UsageError> {
    let annotation = claim
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(BETA_CLASS_ANNOTATION));
    let class = match string(
        annotation,
        &format!("metadata.annotations[\"{BETA_CLASS_ANNOTATION}\"]"),
    )? {
        Some(class) => Some(class),
        None => string(claim.pointer("/spec/storageClassName"), "spec.storageClassName")?,
    };
    Ok(class.filter(|c| !c.is_empty()))
}

/// Storage charged: the request, or what was allocated if that is larger (a resize in flight, or
/// one that failed and was reverted), rounded up to a whole byte. `None` without a request.
fn storage(claim: &Value) -> Result<Option<Amount>, UsageError> {
    let Some(request) = claim
        .pointer("/spec/resources/requests/storage")
        .filter(|v| !v.is_null())
    else {
        return Ok(None);
    };
    let mut charged = amount(request, "spec.resources.requests[\"storage\"]")?.ceil_units();
    if let Some(allocated) = claim
        .pointer("/status/allocatedResources/storage")
        .filter(|v| !v.is_null())
    {
        let allocated = amount(allocated, "status.allocatedResources[\"storage\"]")?.ceil_units();
        if allocated > charged {
            charged = allocated;
        }
    }
    Ok(Some(charged))
}
