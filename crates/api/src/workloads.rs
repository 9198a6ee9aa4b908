//! What pods in tenant namespaces may run, and where.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::ClassAllowList;

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum PullPolicy {
    Always,
    IfNotPresent,
    Never,
}

impl PullPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            PullPolicy::Always => "Always",
            PullPolicy::IfNotPresent => "IfNotPresent",
            PullPolicy::Never => "Never",
        }
    }
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WorkloadPolicy {
    /// Image prefixes every container image must start with, e.g. `registry.example.com/payments/`.
    /// Images are compared in their fully qualified form (`nginx` is `docker.io/library/nginx`).
    /// Empty: any registry.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub registries: Vec<String>,
    /// Image pull policies containers may use. Empty: any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pull_policies: Vec<PullPolicy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority_classes: Option<ClassAllowList>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime_classes: Option<ClassAllowList>,
    /// Node selector every pod gets; pods cannot remove or contradict it.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub node_selector: BTreeMap<String, String>,
    /// Whether pods may mount network storage inline (`nfs`, `iscsi`, `cephfs`, `rbd`,
    /// `glusterfs`, `fc`, cloud disks, `flexVolume`, ...) by address and credentials, outside any
    /// PersistentVolume Palisade can tie to the tenant. Default false: such pods and templates
    /// are refused, and storage comes through PersistentVolumeClaims of allowed classes.
    /// (Pod Security `restricted` refuses these volumes too; this rule covers `baseline` and
    /// `privileged` tenants.)
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_inline_network_volumes: bool,
}
