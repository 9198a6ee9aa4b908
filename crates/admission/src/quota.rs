//! The tenant-wide quota (`spec.quota.tenant`, and `spec.namespaces.max`), decided exactly under
//! concurrency. Pure: the webhook does the reading and writing around these functions.
//!
//! # Design
//!
//! A watch cache alone overshoots: two creates racing in two namespaces both see the same usage
//! and both fit. So every admission that adds usage *reserves* it first, in one ledger object per
//! tenant kept in the API server, written with optimistic concurrency (the write names the
//! `resourceVersion` it read; a concurrent writer makes it fail and the admission starts over
//! from a fresh read). The ledger is the serialisation point; any number of webhook replicas and
//! restarts share it.
//!
//! A tenant's usage is, per object, the larger of what the watch has seen of it and what the
//! ledger reserved for it (keyed by the object's uid, which the API server assigns before
//! validating admission, or by name for namespaces):
//!
//! ```text
//!   used(tenant) = Σ over keys k in the tenant:  max(observed[k], reserved[k])
//! ```
//!
//! Why there is no overshoot: a request is admitted only after a successful compare-and-swap
//! that added its reservation to a ledger whose every earlier reservation it counted. Two
//! admissions of one tenant are therefore ordered by the ledger's resourceVersion, and the later
//! one counts the earlier one's reservation (or, once the watch has it, the object itself).
//! Nothing is double counted, since a reservation and its object share a key.
//!
//! Why there is no leak: a reservation is only trusted for a grace period (longer than every
//! later admission step can take). After that the webhook checks it against the API server: if
//! the object exists with that uid, the watch counts it and the reservation goes; if it does
//! not (a later admission step refused the request, or storage failed), the reservation goes.
//! Usage is always re-derived from the real objects, so the ledger cannot drift; it only ever
//! holds the requests of the last grace period.
//!
//! Lowering a limit below current usage deletes nothing: growth is refused until usage drops.

use std::collections::BTreeMap;

use palisade_tenancy::quantity::{self, Amount};

use serde::{Deserialize, Serialize};

use crate::usage::Usage;

/// One admitted request's usage, held until the watch has the object or the grace has passed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Reservation {
    /// The namespace the object lives in (for a Namespace: its own name).
    pub namespace: String,
    /// `Kind/name`, to find the object again when checking the reservation.
    pub object: String,
    /// Unix seconds when the reservation was written.
    pub since: i64,
    /// Resource name to quantity text (exact, canonical).
    pub usage: BTreeMap<String, String>,
}

impl Reservation {
    pub fn amounts(&self) -> Usage {
        self.usage
            .iter()
            .filter_map(|(resource, text)| Some((resource.clone(), quantity::parse(text)?)))
            .collect()
    }
}

/// The ledger of one tenant: reservations by key ([`object_key`] or [`namespace_key`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ledger {
    #[serde(default)]
    pub reservations: BTreeMap<String, Reservation>,
}

/// The resource `spec.namespaces.max` limits: one per tenant namespace.
pub const NAMESPACES: &str = "namespaces";

/// The ledger key of a namespaced object: its resource and uid (the uid alone is unique; the
/// resource lets a relist of one kind find its own entries).
pub fn object_key(resource: &str, uid: &str) -> String {
    format!("{resource}/{uid}")
}

/// The ledger key of a namespace (namespaces are counted by name: unique cluster-wide).
pub fn namespace_key(name: &str) -> String {
    format!("namespace/{name}")
}

/// What one admission asks for, in the terms of the tenant's limits.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    pub tenant: &'a str,
    pub key: &'a str,
    /// `Pod "api-0"`, for the message.
    pub described: &'a str,
    /// The object's usage after the request.
    pub new: &'a Usage,
    /// Its usage before (updates), empty for creates.
    pub old: &'a Usage,
}

/// The resources of `hard` that the request makes grow.
pub fn growing<'h>(hard: &'h BTreeMap<String, Amount>, request: &Request<'_>) -> Vec<&'h str> {
    hard.keys()
        .filter(|resource| {
            let new = request.new.get(*resource).copied().unwrap_or_default();
            let old = request.old.get(*resource).copied().unwrap_or_default();
            new > old
        })
        .map(String::as_str)
        .collect()
}

/// The tenant's usage: per key, the larger of observed and reserved; `except` left out (the
/// object being admitted, which the caller counts with its new usage).
pub fn tenant_usage(observed: &BTreeMap<String, Usage>, ledger: &Ledger, except: &str) -> Usage {
    let mut total = Usage::new();
    let empty = Usage::new();
    let mut keys: Vec<&String> = observed.keys().chain(ledger.reservations.keys()).collect();
    keys.sort_unstable();
    keys.dedup();
    for key in keys.into_iter().filter(|k| k.as_str() != except) {
        let seen = observed.get(key).unwrap_or(&empty);
        let reserved = ledger
            .reservations
            .get(key)
            .map(Reservation::amounts)
            .unwrap_or_default();
        let mut resources: Vec<&String> = seen.keys().chain(reserved.keys()).collect();
        resources.sort_unstable();
        resources.dedup();
        for resource in resources {
            let larger = seen
                .get(resource)
                .copied()
                .unwrap_or_default()
                .max(reserved.get(resource).copied().unwrap_or_default());
            let sum = total.entry(resource.clone()).or_default();
            sum.0 = sum.0.saturating_add(larger.0);
        }
    }
    total
}

/// Whether the request fits: `Err` names the tenant, the resource, what is used across how many
/// namespaces, what the request adds, and the limit.
pub fn check(
    hard: &BTreeMap<String, Amount>,
    used_elsewhere: &Usage,
    namespace_count: usize,
    request: &Request<'_>,
) -> Result<(), String> {
    for resource in growing(hard, request) {
        let limit = hard.get(resource).copied().unwrap_or_default();
        let used = used_elsewhere.get(resource).copied().unwrap_or_default();
        let new = request.new.get(resource).copied().unwrap_or_default();
        let total = Amount(used.0.saturating_add(new.0));
        if total > limit {
            return Err(format!(
                "tenant \"{}\" would use {} of its {} {resource} ({} in {namespace_count} namespace{} + {} in this {}); free some up or ask your platform team to raise spec.quota.tenant[\"{resource}\"]",
                request.tenant,
                quantity::format(total),
                quantity::format(limit),
                quantity::format(used),
                if namespace_count == 1 { "" } else { "s" },
                quantity::format(new),
                request.described,
            ));
        }
    }
    Ok(())
}
