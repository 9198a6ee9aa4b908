//! Admission requests built from plain manifests, so that `palisade check` runs the very same
//! [`crate::review`] the webhook runs, without a cluster.

use kube::core::DynamicObject;
use kube::core::admission::{AdmissionRequest, AdmissionReview};
use serde_json::{Value, json};

/// Why a manifest could not be turned into an admission request.
#[derive(Debug, thiserror::Error)]
pub enum OfflineError {
    #[error("the manifest has no `{0}`")]
    MissingField(&'static str),
    #[error("cannot build an admission request from the manifest: {0}")]
    BuildRequest(String),
}

/// The plural resource name Kubernetes uses for `kind` (for the kinds Palisade reviews, and the
/// regular English plural otherwise).
pub fn resource_for(kind: &str) -> String {
    let lower = kind.to_ascii_lowercase();
    match lower.as_str() {
        "ingress" => "ingresses".to_string(),
        "networkpolicy" => "networkpolicies".to_string(),
        _ if lower.ends_with('s') => format!("{lower}es"),
        _ if lower.ends_with('y') => format!("{}ies", &lower[..lower.len() - 1]),
        _ => format!("{lower}s"),
    }
}

fn next_uid() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// A CREATE of `manifest` by `user` in `groups`, as the API server would send it.
pub fn create_request(
    manifest: &Value,
    user: &str,
    groups: &[String],
) -> Result<AdmissionRequest<DynamicObject>, OfflineError> {
    request(manifest, None, user, groups)
}

/// An UPDATE of `old` to `manifest` by `user` in `groups`, as the API server would send it.
pub fn update_request(
    manifest: &Value,
    old: &Value,
    user: &str,
    groups: &[String],
) -> Result<AdmissionRequest<DynamicObject>, OfflineError> {
    request(manifest, Some(old), user, groups)
}

fn request(
    manifest: &Value,
    old: Option<&Value>,
    user: &str,
    groups: &[String],
) -> Result<AdmissionRequest<DynamicObject>, OfflineError> {
    let api_version = manifest["apiVersion"]
        .as_str()
        .ok_or(OfflineError::MissingField("apiVersion"))?;
    let kind = manifest["kind"].as_str().ok_or(OfflineError::MissingField("kind"))?;
    let name = manifest["metadata"]["name"]
        .as_str()
        .ok_or(OfflineError::MissingField("metadata.name"))?;
    let (group, version) = match api_version.split_once('/') {
        Some((group, version)) => (group, version),
        None => ("", api_version),
    };
    let gvk = json!({ "group": group, "version": version, "kind": kind });
    let gvr = json!({ "group": group, "version": version, "resource": resource_for(kind) });
    // The API server gives an object its uid before validating admission; each object of a
    // run gets its own, so the quota step counts them apart.
    let uid = format!("00000000-0000-4000-8000-{:012x}", next_uid());
    let mut object = manifest.clone();
    if object["metadata"]["uid"].is_null() {
        // An update keeps the stored object's uid.
        let stored_uid = old.map(|old| old["metadata"]["uid"].clone()).filter(|v| !v.is_null());
        object["metadata"]["uid"] = stored_uid.unwrap_or_else(|| json!(uid));
    }
    let mut request = json!({
        "uid": uid,
        "kind": gvk, "resource": gvr, "requestKind": gvk, "requestResource": gvr,
        "name": name,
        "operation": if old.is_some() { "UPDATE" } else { "CREATE" },
        "userInfo": { "username": user, "groups": groups },
        "object": object,
        "oldObject": old,
        "dryRun": true,
    });
    if let Some(namespace) = manifest["metadata"]["namespace"].as_str() {
        request["namespace"] = json!(namespace);
    }
    let review = json!({ "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request });
    let review: AdmissionReview<DynamicObject> =
        serde_json::from_value(review).map_err(|e| OfflineError::BuildRequest(e.to_string()))?;
    review
        .try_into()
        .map_err(|e: kube::core::admission::ConvertAdmissionReviewError| OfflineError::BuildRequest(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::resource_for;

    #[test]
    fn plurals() {
        assert_eq!(resource_for("Pod"), "pods");
        assert_eq!(resource_for("Ingress"), "ingresses");
        assert_eq!(resource_for("NetworkPolicy"), "networkpolicies");
        assert_eq!(resource_for("PersistentVolumeClaim"), "persistentvolumeclaims");
    }
}
