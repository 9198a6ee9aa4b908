//! ResourceQuota and LimitRange for every tenant namespace.

use k8s_openapi::api::core::v1::{LimitRange, LimitRangeSpec, ResourceQuota, ResourceQuotaSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use palisade_api::{Tenant, labels};

use super::ManagedObject;

pub const QUOTA_NAME: &str = "palisade-quota";
pub const LIMITS_NAME: &str = "palisade-limits";

pub fn render(tenant: &Tenant, namespace: &str) -> Vec<ManagedObject> {
    let Some(quota) = &tenant.spec.quota else {
        return Vec::new();
    };
    let tenant_name = tenant.metadata.name.as_deref().unwrap_or_default();
    let metadata = |name: &str| ObjectMeta {
        name: Some(name.to_string()),
        namespace: Some(namespace.to_string()),
        labels: Some(labels::managed_labels(tenant_name)),
        ..ObjectMeta::default()
    };
    let mut objects = Vec::new();
    if !quota.namespace.is_empty() {
        objects.push(ManagedObject::from_typed(&ResourceQuota {
            metadata: metadata(QUOTA_NAME),
            spec: Some(ResourceQuotaSpec {
                hard: Some(quota.namespace.clone()),
                ..ResourceQuotaSpec::default()
            }),
            status: None,
        }));
    }
    if !quota.limits.is_empty() {
        objects.push(ManagedObject::from_typed(&LimitRange {
            metadata: metadata(LIMITS_NAME),
            spec: Some(LimitRangeSpec {
                limits: quota.limits.clone(),
            }),
        }));
    }
    objects
}
