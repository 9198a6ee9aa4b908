//! What the controller reports about a tenant.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TenantStatus {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub namespaces: Vec<String>,
    #[serde(default)]
    #[schemars(with = "i32")]
    pub namespace_count: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<TenantCondition>,
    /// Quota usage summed over the tenant's namespaces.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub quota_used: BTreeMap<String, Quantity>,
    /// Used/hard of every tenant-wide limit (`spec.quota.tenant`), for `kubectl get tenant`:
    /// `pods 12/50, requests.cpu 7500m/8`; `?` where no namespace quota reports the usage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quota_summary: Option<String>,
    /// Every tenant policy of the cluster: whether it is bound for this tenant, and if not, why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub policies: Vec<crate::TenantPolicyStatus>,
}

/// A condition in the shape of `metav1.Condition`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TenantCondition {
    /// `Ready`, `Cordoned` or `QuotaExceeded`.
    #[serde(rename = "type")]
    pub type_: String,
    /// `True`, `False` or `Unknown`.
    pub status: String,
    #[serde(default)]
    pub reason: String,
    #[serde(default)]
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}
