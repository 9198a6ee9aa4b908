//! The tenant namespace itself: its tenant binding and the metadata owners cannot change.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use palisade_api::{MeshProvider, MtlsMode, Tenant, labels};

use super::ManagedObject;

/// Labels Palisade keeps on every namespace of `tenant`.
pub fn namespace_labels(tenant: &Tenant) -> BTreeMap<String, String> {
    let name = tenant.metadata.name.as_deref().unwrap_or_default();
    let mut result = tenant.spec.namespaces.labels.clone();
    result.extend(labels::managed_labels(name));
    let level = tenant.spec.pod_security.level.as_str().to_string();
    let version = tenant.spec.pod_security.version.clone();
    for (level_key, version_key) in [
        (labels::PSA_ENFORCE, labels::PSA_ENFORCE_VERSION),
        (labels::PSA_AUDIT, labels::PSA_AUDIT_VERSION),
        (labels::PSA_WARN, labels::PSA_WARN_VERSION),
    ] {
        result.insert(level_key.to_string(), level.clone());
        result.insert(version_key.to_string(), version.clone());
    }
    if tenant.spec.cordoned {
        result.insert(labels::CORDONED.to_string(), "true".to_string());
    }
    result
}

/// Annotations Palisade keeps on every namespace of `tenant`.
pub fn namespace_annotations(tenant: &Tenant) -> BTreeMap<String, String> {
    let mut result = tenant.spec.namespaces.annotations.clone();
    let selector = &tenant.spec.workloads.node_selector;
    if !selector.is_empty() {
        let value = selector
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(",");
        result.insert(labels::NODE_SELECTOR_ANNOTATION.to_string(), value);
    }
    if tenant.spec.mesh.provider == MeshProvider::Linkerd {
        // Strict: ports without a Server refuse everyone, so only authorized traffic gets in.
        let policy = match tenant.spec.mesh.mtls {
            MtlsMode::Strict => "deny",
            MtlsMode::Permissive => "all-unauthenticated",
        };
        result.insert(labels::LINKERD_DEFAULT_INBOUND_POLICY.to_string(), policy.to_string());
    }
    result
}

pub fn render(tenant: &Tenant, namespace: &str) -> ManagedObject {
    let object = Namespace {
        metadata: ObjectMeta {
            name: Some(namespace.to_string()),
            labels: Some(namespace_labels(tenant)),
            annotations: Some(namespace_annotations(tenant)).filter(|a| !a.is_empty()),
            ..ObjectMeta::default()
        },
        ..Namespace::default()
    };
    ManagedObject::from_typed(&object)
}
