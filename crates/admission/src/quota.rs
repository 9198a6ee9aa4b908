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

use kube::core::DynamicObject;
use kube::core::admission::{AdmissionRequest, Operation};
use palisade_api::{Tenant, labels};
use palisade_tenancy::quantity::{self, Amount};

use serde::{Deserialize, Serialize};

use crate::usage::{self, Counted, Usage};
use crate::{ClusterView, Verdict};

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

/// A kind counted only by number, which the webhook lists live (it does not watch it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CountedKind {
    pub group: String,
    pub version: String,
    pub kind: String,
    pub plural: String,
}

/// The kinds whose usage the webhook's watches keep (`palisade_webhook`'s index); every other kind is counted
/// by listing it live when a request adds one.
pub const WATCHED: [(&str, &str); 3] = [("", "pods"), ("", "persistentvolumeclaims"), ("", "services")];

/// What the quota step is asked (by the webhook, and by `palisade check` offline): the tenant, its limits, and the request in quota terms.
pub struct Asked {
    pub tenant: String,
    pub hard: BTreeMap<String, Amount>,
    pub key: String,
    pub described: String,
    pub new: Usage,
    pub old: Usage,
    pub namespace: String,
    /// `<apiVersion>|<kind>|<plural>|<name>`, to find the object again.
    pub object: String,
    /// A kind the watches do not follow (counted only by number, `count/<resource>.<group>`):
    /// its objects in the tenant's namespaces are listed live at each admission.
    pub listed_live: Option<CountedKind>,
}

fn parse_limits(tenant: &Tenant, tenant_name: &str) -> Result<BTreeMap<String, Amount>, Verdict> {
    let Some(policy) = tenant.spec.quota.as_ref() else {
        return Ok(BTreeMap::new());
    };
    policy
        .tenant
        .iter()
        .map(|(resource, limit)| match quantity::parse(&limit.0) {
            Some(amount) => Ok((resource.clone(), amount)),
            None => Err(Verdict::deny(format!(
                "tenant \"{tenant_name}\" has spec.quota.tenant[\"{resource}\"] = \"{}\", which is not a quantity, so no request can be measured against it; ask your platform team to fix the Tenant",
                limit.0
            ))),
        })
        .collect()
}

/// The request in quota terms, or `None` when it cannot add to a limited resource.
pub fn ask(request: &AdmissionRequest<DynamicObject>, view: &dyn ClusterView) -> Result<Option<Asked>, Verdict> {
    let Some(object) = request.object.as_ref() else {
        return Ok(None);
    };
    let api_version = if request.kind.group.is_empty() {
        request.kind.version.clone()
    } else {
        format!("{}/{}", request.kind.group, request.kind.version)
    };
    let plural = request.resource.resource.as_str();
    if request.kind.group.is_empty() && request.kind.kind == "Namespace" {
        if request.operation != Operation::Create {
            return Ok(None);
        }
        let Some(tenant_name) = object.metadata.labels.as_ref().and_then(|l| l.get(labels::TENANT)) else {
            return Ok(None);
        };
        let Some(max) = view.tenant(tenant_name).and_then(|t| t.spec.namespaces.max) else {
            return Ok(None);
        };
        let counted = Usage::from([(NAMESPACES.to_string(), Amount::units(1))]);
        return Ok(Some(Asked {
            tenant: tenant_name.clone(),
            hard: BTreeMap::from([(NAMESPACES.to_string(), Amount::units(i64::from(max)))]),
            key: namespace_key(&request.name),
            described: format!("new namespace \"{}\"", request.name),
            new: counted,
            old: Usage::new(),
            namespace: request.name.clone(),
            object: format!("{api_version}|Namespace|namespaces|{}", request.name),
            listed_live: None,
        }));
    }
    let Some(namespace) = request.namespace.as_deref() else {
        return Ok(None);
    };
    let Some(tenant_name) = view.tenant_of_namespace(namespace) else {
        return Ok(None);
    };
    let Some(tenant) = view.tenant(tenant_name) else {
        return Ok(None);
    };
    let hard = parse_limits(tenant, tenant_name)?;
    if hard.is_empty() {
        return Ok(None);
    }
    let counted = Counted {
        group: &request.kind.group,
        kind: &request.kind.kind,
        resource: plural,
    };
    let operation = match request.operation {
        Operation::Create => "CREATE",
        Operation::Update => "UPDATE",
        Operation::Delete | Operation::Connect => return Ok(None),
    };
    if !usage::charged_on(
        &counted,
        operation,
        request.sub_resource.as_deref().filter(|s| !s.is_empty()),
    ) {
        return Ok(None);
    }
    let measure = |object: Option<&DynamicObject>| -> Result<Usage, Verdict> {
        let Some(object) = object else {
            return Ok(Usage::new());
        };
        let value = serde_json::to_value(object)
            .map_err(|e| Verdict::deny(format!("cannot read the {}: {e}", request.kind.kind)))?;
        usage::usage(&counted, &value).map_err(|error| {
            Verdict::deny(format!(
                "tenant \"{tenant_name}\" limits its quota across namespaces, and the quota use of {} \"{}\" cannot be measured: {error}",
                request.kind.kind, request.name
            ))
        })
    };
    let new = measure(Some(object))?;
    let old = measure(request.old_object.as_ref())?;
    let probe = Request {
        tenant: tenant_name,
        key: "",
        described: "",
        new: &new,
        old: &old,
    };
    if growing(&hard, &probe).is_empty() {
        return Ok(None);
    }
    let Some(uid) = object.metadata.uid.clone() else {
        // The API server assigns uids before validating admission; a request without one
        // cannot be tied to its object, so it cannot be reserved.
        return Err(Verdict::deny(format!(
            "{} \"{}\" reached Palisade's quota check without a uid; retry, and report this if it persists",
            request.kind.kind, request.name
        )));
    };
    Ok(Some(Asked {
        tenant: tenant_name.to_string(),
        hard,
        key: object_key(plural, &uid),
        described: format!("{} \"{}\"", request.kind.kind, request.name),
        new,
        old,
        namespace: namespace.to_string(),
        object: format!("{api_version}|{}|{plural}|{}", request.kind.kind, request.name),
        listed_live: (!WATCHED.contains(&(request.kind.group.as_str(), plural))).then(|| CountedKind {
            group: request.kind.group.clone(),
            version: request.kind.version.clone(),
            kind: request.kind.kind.clone(),
            plural: plural.to_string(),
        }),
    }))
}

/// The quota step as `palisade check` runs it: against what `view` observed plus the
/// reservations of the requests checked before it in the same run (`ledger`, which an admitted
/// request extends, as the webhook's ledger would be). Kinds counted only by number that the view
/// does not hold are not counted offline; the caller says so.
pub fn check_offline(
    request: &AdmissionRequest<DynamicObject>,
    view: &dyn ClusterView,
    ledger: &mut Ledger,
) -> Verdict {
    let asked = match ask(request, view) {
        Ok(Some(asked)) => asked,
        Ok(None) => return Verdict::Allow,
        Err(denial) => return denial,
    };
    if asked.listed_live.is_some() {
        return Verdict::Allow;
    }
    let observed = view.observed_usage(&asked.tenant);
    let namespaces = view.namespaces_of(&asked.tenant).len();
    admit_into(&asked, &observed, namespaces, ledger, 0, true)
}

/// Decides `asked` against the tenant's usage (`observed` plus `ledger`'s reservations) and, when
/// it fits and `reserve` is set (not a dry run), adds its reservation, written at `now`, to
/// `ledger`. The one decision of the webhook's group commit and of `palisade check` alike.
pub fn admit_into(
    asked: &Asked,
    observed: &BTreeMap<String, Usage>,
    namespaces: usize,
    ledger: &mut Ledger,
    now: i64,
    reserve: bool,
) -> Verdict {
    let used = tenant_usage(observed, ledger, &asked.key);
    let request = Request {
        tenant: &asked.tenant,
        key: &asked.key,
        described: &asked.described,
        new: &asked.new,
        old: &asked.old,
    };
    if let Err(message) = check(&asked.hard, &used, namespaces, &request) {
        return Verdict::deny(message);
    }
    if reserve {
        let usage = asked
            .new
            .iter()
            .filter(|(resource, _)| asked.hard.contains_key(*resource))
            .map(|(resource, amount)| (resource.clone(), quantity::format(*amount)))
            .collect();
        ledger.reservations.insert(
            asked.key.clone(),
            Reservation {
                namespace: asked.namespace.clone(),
                object: asked.object.clone(),
                since: now,
                usage,
            },
        );
    }
    Verdict::Allow
}
