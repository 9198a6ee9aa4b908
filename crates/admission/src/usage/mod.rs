//! Quota usage of one object, counted the way Kubernetes' own quota evaluators count it, so that
//! the tenant-wide limit and the API server's ResourceQuota `status.used` agree on the same
//! objects. Pure: no I/O (the one input from the outside world, the current time, is a parameter
//! of [`usage_at`]; [`usage`] reads the clock).
//!
//! ```text
//!   pods ........................ pod::usage      pods, count/pods, cpu/memory/ephemeral-storage,
//!                                                 requests.*, limits.*, hugepages-*, requests.<extended>
//!   persistentvolumeclaims ...... claim::usage    persistentvolumeclaims, requests.storage, per class
//!   services .................... service::usage  services, services.loadbalancers, services.nodeports
//!   anything else ............... count/<resource>[.<group>] (+ the legacy bare name of
//!                                 configmaps, secrets, replicationcontrollers, resourcequotas)
//! ```
//!
//! What Kubernetes does and this module mirrors, in short:
//!
//! - `count/<resource>` counts every stored object, whatever its state: a Succeeded pod or a PVC
//!   being deleted still counts there.
//! - A pod that is terminal (phase Succeeded or Failed), or that is being deleted and whose grace
//!   period has run out (`deletionTimestamp + deletionGracePeriodSeconds < now`), counts only for
//!   `count/pods`: not for `pods`, not for any compute resource.
//! - A pod's requests are those of `PodRequests`: the sum of the app containers and the sidecars
//!   (init containers with `restartPolicy: Always`), or the largest single init container plus the
//!   sidecars started before it if that is larger, per resource; pod-level `spec.resources`
//!   replaces the aggregate for the resources it names (cpu, memory, hugepages); `spec.overhead`
//!   is added on top. Limits likewise, with overhead added only to resources that have a limit. A
//!   container without a limit adds nothing to `limits.*` (the ResourceQuota admission then refuses
//!   the pod outright if the quota tracks that limit: see [`pod::missing_constraints`]).
//! - After an in-place resize, the larger of spec, `status.containerStatuses[].resources` and
//!   `allocatedResources` counts (only the status when the resize is Infeasible).
//! - Extended resources count only as `requests.<name>`; hugepages as `hugepages-<size>` and
//!   `requests.hugepages-<size>`.
//! - A claim's storage is the larger of `spec.resources.requests.storage` and
//!   `status.allocatedResources.storage`, rounded up to a whole byte; its class is the beta
//!   annotation `volume.beta.kubernetes.io/storage-class` if present, else
//!   `spec.storageClassName`; a claim without a class counts for no class.
//! - A NodePort or LoadBalancer Service uses one node port per entry of `spec.ports`; with
//!   `allocateLoadBalancerNodePorts: false`, only the ports that name a `nodePort`.
//!
//! Which operations Kubernetes charges is [`charged_on`]: pods on create (and `pods/resize`),
//! claims and Services on create and update, every other kind on create only.

mod claim;
mod pod;
mod service;

use std::collections::BTreeMap;

use palisade_tenancy::quantity::Amount;
use serde_json::Value;

/// Quantities (parse, format, exact amounts), for callers that sum or compare usage.
pub use palisade_tenancy::quantity;

pub use pod::{is_counted as pod_is_counted, missing_constraints};

/// Resource name (`requests.cpu`, `pods`, `count/deployments.apps`, ...) to amount.
pub use palisade_view::Usage;

/// Which kind of object is counted: its API group, kind and plural resource name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counted<'a> {
    pub group: &'a str,
    pub kind: &'a str,
    pub resource: &'a str,
}

impl Counted<'static> {
    pub const POD: Counted<'static> = Counted {
        group: "",
        kind: "Pod",
        resource: "pods",
    };
    pub const PERSISTENT_VOLUME_CLAIM: Counted<'static> = Counted {
        group: "",
        kind: "PersistentVolumeClaim",
        resource: "persistentvolumeclaims",
    };
    pub const SERVICE: Counted<'static> = Counted {
        group: "",
        kind: "Service",
        resource: "services",
    };
}

/// Why an object's usage cannot be computed; such an object is denied, never admitted unmetered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UsageError {
    #[error("cannot read {field}: {reason}")]
    Unreadable { field: String, reason: String },
}

impl UsageError {
    fn at(field: impl Into<String>, reason: impl Into<String>) -> UsageError {
        UsageError::Unreadable {
            field: field.into(),
            reason: reason.into(),
        }
    }
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

/// The bare name a ResourceQuota also accepts for counting some core kinds (`configmaps`,
/// `secrets`, `replicationcontrollers`, `resourcequotas`; pods, Services and claims have their own
/// evaluators, which also count under `pods`, `services`, `persistentvolumeclaims`).
pub fn legacy_count_name(what: &Counted<'_>) -> Option<&'static str> {
    if !what.group.is_empty() {
        return None;
    }
    match what.resource {
        "configmaps" => Some("configmaps"),
        "secrets" => Some("secrets"),
        "replicationcontrollers" => Some("replicationcontrollers"),
        "resourcequotas" => Some("resourcequotas"),
        _ => None,
    }
}

/// Every quota resource `object` consumes, now.
pub fn usage(what: &Counted<'_>, object: &Value) -> Result<Usage, UsageError> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0);
    usage_at(what, object, now)
}

/// Every quota resource `object` consumes at `now` (seconds since the Unix epoch; it only matters
/// for pods being deleted, which stop counting once their grace period has run out).
pub fn usage_at(what: &Counted<'_>, object: &Value, now: i64) -> Result<Usage, UsageError> {
    if what.group.is_empty() {
        match what.resource {
            "pods" => return pod::usage(object, now),
            "persistentvolumeclaims" => return claim::usage(object),
            "services" => return service::usage(object),
            _ => {}
        }
    }
    let mut used = Usage::new();
    used.insert(count_name(what), Amount::units(1));
    if let Some(legacy) = legacy_count_name(what) {
        used.insert(legacy.to_string(), Amount::units(1));
    }
    Ok(used)
}

/// Whether Kubernetes' quota admission charges this operation on this kind: creates always; updates
/// of claims and Services (a claim grows, a Service changes type); updates of pods only through
/// the `resize` subresource. Deletes never charge (they free usage once the object is gone).
pub fn charged_on(what: &Counted<'_>, operation: &str, subresource: Option<&str>) -> bool {
    let subresource = subresource.unwrap_or_default();
    let core = what.group.is_empty();
    match (operation, subresource) {
        ("CREATE", "") => true,
        ("UPDATE", "resize") => core && what.resource == "pods",
        ("UPDATE", "") => core && matches!(what.resource, "persistentvolumeclaims" | "services"),
        _ => false,
    }
}

/// What `new` adds over `old`, per resource (positive entries only): the amount a quota must have
/// room for when an object changes. A resource that shrinks or disappears is not listed.
pub fn growth(new: &Usage, old: &Usage) -> Usage {
    new.iter()
        .filter_map(|(resource, amount)| {
            let before = old.get(resource).copied().unwrap_or(Amount::ZERO);
            let delta = amount.saturating_sub(before);
            (delta > Amount::ZERO).then(|| (resource.clone(), delta))
        })
        .collect()
}

/// Adds `more` into `total`.
pub fn add_into(total: &mut Usage, more: &Usage) {
    for (resource, amount) in more {
        *total.entry(resource.clone()).or_default() += *amount;
    }
}

// ---- reading resource lists out of JSON ----

/// A resource list (`{"cpu": "500m", ...}`) at `value`, or empty when absent or null.
fn resource_list(value: Option<&Value>, field: &str) -> Result<BTreeMap<String, Amount>, UsageError> {
    let mut list = BTreeMap::new();
    let Some(value) = value else { return Ok(list) };
    let map = match value {
        Value::Null => return Ok(list),
        Value::Object(map) => map,
        other => {
            return Err(UsageError::at(
                field,
                format!("expected a map of resource name to quantity, found {}", kind_of(other)),
            ));
        }
    };
    for (name, quantity) in map {
        list.insert(name.clone(), amount(quantity, &format!("{field}[\"{name}\"]"))?);
    }
    Ok(list)
}

/// One quantity: a string like `"500m"` or a bare JSON number (the API server accepts both).
fn amount(value: &Value, field: &str) -> Result<Amount, UsageError> {
    let text = match value {
        Value::String(text) => text.clone(),
        Value::Number(number) => number.to_string(),
        other => {
            return Err(UsageError::at(
                field,
                format!(
                    "expected a quantity such as \"500m\" or \"1Gi\", found {}",
                    kind_of(other)
                ),
            ));
        }
    };
    quantity::parse(&text).ok_or_else(|| {
        UsageError::at(
            field,
            format!("{text:?} is not a Kubernetes quantity (expected e.g. \"500m\", \"2\", \"1.5Gi\")"),
        )
    })
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a map",
    }
}

/// `value` as a list (absent or null is empty).
fn array<'v>(value: Option<&'v Value>, field: &str) -> Result<&'v [Value], UsageError> {
    match value {
        None | Some(Value::Null) => Ok(&[]),
        Some(Value::Array(items)) => Ok(items),
        Some(other) => Err(UsageError::at(
            field,
            format!("expected a list, found {}", kind_of(other)),
        )),
    }
}

/// `value` as a string (absent or null is `None`).
fn string<'v>(value: Option<&'v Value>, field: &str) -> Result<Option<&'v str>, UsageError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text)),
        Some(other) => Err(UsageError::at(
            field,
            format!("expected a string, found {}", kind_of(other)),
        )),
    }
}

/// Per resource, the larger of the two into `into`.
fn max_into(into: &mut BTreeMap<String, Amount>, other: &BTreeMap<String, Amount>) {
    for (name, amount) in other {
        let slot = into.entry(name.clone()).or_insert(*amount);
        if *amount > *slot {
            *slot = *amount;
        }
    }
}

/// Per resource, the sum into `into`.
fn sum_into(into: &mut BTreeMap<String, Amount>, other: &BTreeMap<String, Amount>) {
    for (name, amount) in other {
        *into.entry(name.clone()).or_default() += *amount;
    }
}
