//! Resource limits: per namespace (ResourceQuota + LimitRange) and across the whole tenant.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::LimitRangeItem;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct QuotaPolicy {
    /// `hard` of the ResourceQuota `palisade-quota` in every tenant namespace
    /// (e.g. `requests.cpu: "4"`, `pods: "50"`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub namespace: BTreeMap<String, Quantity>,
    /// Items of the LimitRange `palisade-limits` in every tenant namespace.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub limits: Vec<LimitRangeItem>,
    /// Hard limit summed over all the tenant's namespaces.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tenant: BTreeMap<String, Quantity>,
}
