//! ResourceQuota and LimitRange for every tenant namespace.
//!
//! The ResourceQuota also lists every resource of the tenant-wide limit (`spec.quota.tenant`)
//! that the per-namespace limit does not, with the tenant-wide value: no namespace can use more
//! than the whole tenant may, so the entry limits nothing the tenant-wide quota does not, but it
//! makes Kubernetes count that resource in `status.used` (which the controller sums into the
//! Tenant's status) and refuse pods that leave a tracked request or limit unstated, exactly as a
//! per-namespace quota on it would.

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
    let mut hard = quota.namespace.clone();
    for (resource, limit) in &quota.tenant {
        hard.entry(resource.clone()).or_insert_with(|| limit.clone());
    }
    if !hard.is_empty() {
        objects.push(ManagedObject::from_typed(&ResourceQuota {
            metadata: metadata(QUOTA_NAME),
            spec: Some(ResourceQuotaSpec {
                hard: Some(hard),
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn the_resource_quota_also_tracks_what_only_the_tenant_wide_limit_names() {
        let tenant: Tenant = serde_saphyr::from_str(
            "metadata: { name: t }\nspec:\n  owners: [{ kind: User, name: u }]\n  quota:\n    namespace: { pods: \"10\" }\n    tenant: { pods: \"50\", requests.cpu: \"8\" }\n",
        )
        .unwrap();
        let objects = render(&tenant, "t-a");
        let hard = &objects[0].manifest["spec"]["hard"];
        assert_eq!(hard, &serde_json::json!({ "pods": "10", "requests.cpu": "8" }));
    }
}
