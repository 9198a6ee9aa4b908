//! How many namespaces a tenant may have, what they are called, and what they always carry.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NamespacePolicy {
    /// Namespaces Palisade creates and keeps for this tenant (owners may create more, up to `max`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub names: Vec<String>,
    /// Most namespaces the tenant may have, counting `names`. Absent: no limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<i32>", range(min = 0))]
    pub max: Option<u32>,
    /// Every namespace must be named `<tenant>-<something>`.
    #[serde(default)]
    pub force_prefix: bool,
    /// Labels put on every tenant namespace; tenant users cannot change or remove them.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Annotations put on every tenant namespace; tenant users cannot change or remove them.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}
