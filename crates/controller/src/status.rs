//! The Tenant's status, computed from what a reconcile did. Pure.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use palisade_api::{Tenant, TenantCondition, TenantPolicyStatus, TenantStatus};
use palisade_tenancy::quantity::{self, Amount};
use palisade_tenancy::render::Skipped;

/// What one reconcile found and did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Outcome {
    /// The tenant's namespaces, sorted.
    pub namespaces: Vec<String>,
    /// Objects applied.
    pub applied: usize,
    /// Objects that already held what would be applied.
    pub unchanged: usize,
    /// Objects the tenant should have but that were not applied, with why.
    pub skipped: Vec<Skipped>,
    /// Steps that failed, each naming its object.
    pub failures: Vec<String>,
    /// What `palisade_tenancy::validate` found wrong with the Tenant (then nothing is applied).
    pub invalid: Vec<String>,
    /// Namespaces the Tenant lists that are another tenant's (bound to it, or listed first by
    /// it): nothing is applied in them.
    pub conflicts: BTreeSet<String>,
    /// The tenant's namespaces that are being deleted.
    pub terminating: Vec<String>,
    /// ClusterRoles the API server would not let the controller bind.
    pub unbindable_roles: BTreeSet<String>,
    pub quota_used: BTreeMap<String, Quantity>,
    /// `namespace/name: why` of each NetworkPolicy in the tenant's namespaces, not written by
    /// Palisade, that the webhook would refuse today (see [`crate::foreign`]).
    pub foreign_policies: Vec<String>,
    /// Every tenant policy of the cluster, and whether it is bound for this tenant (see
    /// `palisade_tenancy::render::policy_statuses`).
    pub policies: Vec<TenantPolicyStatus>,
}

pub const READY: &str = "Ready";
pub const CORDONED: &str = "Cordoned";
pub const QUOTA_EXCEEDED: &str = "QuotaExceeded";
pub const FOREIGN_POLICIES: &str = "ForeignPolicies";

/// At most this many items are spelled out in a condition message.
const LISTED: usize = 5;

/// The status `tenant` should have after `outcome`; `now` (RFC 3339) stamps conditions whose
/// status changed.
pub fn tenant_status(tenant: &Tenant, outcome: &Outcome, now: &str) -> TenantStatus {
    let generation = tenant.metadata.generation;
    let previous = tenant
        .status
        .as_ref()
        .map(|s| s.conditions.as_slice())
        .unwrap_or_default();
    let (ready, reason, message) = if !outcome.invalid.is_empty() {
        (
            false,
            "Invalid",
            format!(
                "the Tenant is invalid, so nothing was applied or pruned; fix: {}",
                listed(outcome.invalid.iter().cloned())
            ),
        )
    } else if !outcome.conflicts.is_empty() {
        // Never says which tenant holds them: a Tenant's status is no way to map others.
        (
            false,
            "NamespaceConflict",
            format!(
                "spec.namespaces.names lists {} that another tenant already holds, so nothing was applied in {}; remove {} from spec.namespaces.names or choose other names",
                listed(outcome.conflicts.iter().map(|ns| format!("namespace {ns}"))),
                if outcome.conflicts.len() == 1 { "it" } else { "them" },
                if outcome.conflicts.len() == 1 { "it" } else { "them" },
            ),
        )
    } else if !outcome.unbindable_roles.is_empty() {
        let roles = listed(outcome.unbindable_roles.iter().map(|r| format!("\"{r}\"")));
        (
            false,
            "RoleNotBindable",
            format!(
                "the Tenant binds ClusterRole {roles}, which Palisade's controller may not bind: add {roles} to the resourceNames of the `bind` rule in ClusterRole palisade-controller (deploy/palisade/controller-rbac.yaml), or name a role it may bind (admin, edit, view by default); {} step(s) failed: {}",
                outcome.failures.len(),
                listed(outcome.failures.iter().cloned())
            ),
        )
    } else if !outcome.failures.is_empty() {
        (
            false,
            "ApplyFailed",
            format!(
                "{} step(s) failed: {}",
                outcome.failures.len(),
                listed(outcome.failures.iter().cloned())
            ),
        )
    } else if !outcome.terminating.is_empty() {
        (
            false,
            "NamespaceTerminating",
            format!(
                "{} {} being deleted; nothing is applied in {} until {} gone (a namespace listed in spec.namespaces.names is then created again, empty; remove it from the list to keep it deleted)",
                listed(outcome.terminating.iter().map(|ns| format!("namespace {ns}"))),
                if outcome.terminating.len() == 1 { "is" } else { "are" },
                if outcome.terminating.len() == 1 { "it" } else { "them" },
                if outcome.terminating.len() == 1 {
                    "it is"
                } else {
                    "they are"
                },
            ),
        )
    } else if !outcome.skipped.is_empty() {
        (false, "ObjectsSkipped", skipped_message(&outcome.skipped))
    } else {
        (
            true,
            "Reconciled",
            format!(
                "{} object(s) as desired in {} namespace(s)",
                outcome.applied + outcome.unchanged,
                outcome.namespaces.len()
            ),
        )
    };
    let cordoned = tenant.spec.cordoned;
    let conditions = vec![
        condition(previous, READY, ready, reason, message, generation, now),
        condition(
            previous,
            CORDONED,
            cordoned,
            if cordoned { "Cordoned" } else { "NotCordoned" },
            if cordoned {
                "writes by tenant users are refused in every tenant namespace".to_string()
            } else {
                "tenant users may write in their namespaces".to_string()
            },
            generation,
            now,
        ),
        quota_condition(previous, tenant, &outcome.quota_used, generation, now),
        foreign_condition(previous, &outcome.foreign_policies, generation, now),
    ];
    let hard = tenant_hard(tenant);
    TenantStatus {
        namespaces: outcome.namespaces.clone(),
        namespace_count: u32::try_from(outcome.namespaces.len()).unwrap_or(u32::MAX),
        observed_generation: generation,
        conditions,
        quota_used: outcome.quota_used.clone(),
        quota_summary: (!hard.is_empty()).then(|| quota_summary(hard, &outcome.quota_used)),
        policies: outcome.policies.clone(),
    }
}

fn tenant_hard(tenant: &Tenant) -> &BTreeMap<String, Quantity> {
    static EMPTY: BTreeMap<String, Quantity> = BTreeMap::new();
    tenant.spec.quota.as_ref().map_or(&EMPTY, |q| &q.tenant)
}

/// One tenant-wide limit that usage is over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Over {
    pub resource: String,
    pub used: Amount,
    pub hard: Amount,
}

/// The limits of `hard` that `used` exceeds (a limit or a usage that does not parse is skipped:
/// `validate` reports the first, the cache the second).
pub fn quota_over(hard: &BTreeMap<String, Quantity>, used: &BTreeMap<String, Quantity>) -> Vec<Over> {
    hard.iter()
        .filter_map(|(resource, limit)| {
            let hard = quantity::parse(&limit.0)?;
            let used = quantity::parse(&used.get(resource)?.0)?;
            (used > hard).then(|| Over {
                resource: resource.clone(),
                used,
                hard,
            })
        })
        .collect()
}

/// `pods 12/50, requests.cpu 7500m/8`: used (canonical) over hard (as written), in name order;
/// `?` for a resource no namespace quota reports.
pub fn quota_summary(hard: &BTreeMap<String, Quantity>, used: &BTreeMap<String, Quantity>) -> String {
    hard.iter()
        .map(|(resource, limit)| {
            let used = match used.get(resource) {
                Some(q) => quantity::parse(&q.0).map_or_else(|| q.0.clone(), quantity::format),
                None => "?".to_string(),
            };
            format!("{resource} {used}/{}", limit.0)
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn quota_condition(
    previous: &[TenantCondition],
    tenant: &Tenant,
    used: &BTreeMap<String, Quantity>,
    generation: Option<i64>,
    now: &str,
) -> TenantCondition {
    let hard = tenant_hard(tenant);
    if hard.is_empty() {
        return condition(
            previous,
            QUOTA_EXCEEDED,
            false,
            "NoTenantQuota",
            "spec.quota.tenant sets no tenant-wide limit".to_string(),
            generation,
            now,
        );
    }
    let over = quota_over(hard, used);
    if over.is_empty() {
        return condition(
            previous,
            QUOTA_EXCEEDED,
            false,
            "WithinLimits",
            format!("usage is within every tenant-wide limit: {}", quota_summary(hard, used)),
            generation,
            now,
        );
    }
    let items = listed(over.iter().map(|o| {
        format!(
            "{} uses {} of its limit {}",
            o.resource,
            quantity::format(o.used),
            hard.get(&o.resource)
                .map_or_else(|| quantity::format(o.hard), |q| q.0.clone())
        )
    }));
    condition(
        previous,
        QUOTA_EXCEEDED,
        true,
        "OverLimit",
        format!(
            "the tenant is over its tenant-wide limit (spec.quota.tenant): {items}; nothing is deleted, but requests that add to {} are refused until usage drops below the limit",
            if over.len() == 1 { "it" } else { "these resources" }
        ),
        generation,
        now,
    )
}

/// Skipped objects grouped by reason: `reason: Kind ns/name, ... (n objects)`.
fn skipped_message(skipped: &[Skipped]) -> String {
    let mut by_reason: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for s in skipped {
        let object = match &s.namespace {
            Some(ns) => format!("{} {ns}/{}", s.kind, s.name),
            None => format!("{} {}", s.kind, s.name),
        };
        by_reason.entry(&s.reason).or_default().push(object);
    }
    let parts: Vec<String> = by_reason
        .into_iter()
        .map(|(reason, objects)| {
            format!(
                "{reason}, so {} object(s) were not applied: {}",
                objects.len(),
                listed(objects.into_iter())
            )
        })
        .collect();
    parts.join("; ")
}

/// `ForeignPolicies`: NetworkPolicies in the tenant's namespaces that Palisade did not write and
/// the webhook would refuse. Each is named with why, never with another tenant's name.
fn foreign_condition(
    previous: &[TenantCondition],
    policies: &[String],
    generation: Option<i64>,
    now: &str,
) -> TenantCondition {
    if policies.is_empty() {
        return condition(
            previous,
            FOREIGN_POLICIES,
            false,
            "None",
            "every NetworkPolicy in the tenant's namespaces not written by Palisade is one the webhook admits today"
                .to_string(),
            generation,
            now,
        );
    }
    let mut text = policies
        .iter()
        .take(crate::foreign::LISTED)
        .cloned()
        .collect::<Vec<_>>()
        .join("; ");
    if policies.len() > crate::foreign::LISTED {
        text.push_str(&format!("; and {} more", policies.len() - crate::foreign::LISTED));
    }
    condition(
        previous,
        FOREIGN_POLICIES,
        true,
        "WouldBeRefused",
        format!(
            "{} NetworkPolicy(ies) in the tenant's namespaces, not written by Palisade (stored before the webhook's NetworkPolicy rule, or by an administrator), would be refused by the webhook today and may open paths no grant allows, or outlive a revoked grant: {text}. Delete them, or rewrite them to select only this tenant's namespaces and addresses outside the cluster",
            policies.len()
        ),
        generation,
        now,
    )
}

fn listed(items: impl Iterator<Item = String>) -> String {
    let items: Vec<String> = items.collect();
    let mut text = items.iter().take(LISTED).cloned().collect::<Vec<_>>().join(", ");
    if items.len() > LISTED {
        text.push_str(&format!(" and {} more", items.len() - LISTED));
    }
    text
}

fn condition(
    previous: &[TenantCondition],
    type_: &str,
    value: bool,
    reason: &str,
    message: String,
    generation: Option<i64>,
    now: &str,
) -> TenantCondition {
    let status = if value { "True" } else { "False" };
    let last_transition_time = previous
        .iter()
        .find(|c| c.type_ == type_ && c.status == status)
        .and_then(|c| c.last_transition_time.clone())
        .or_else(|| Some(now.to_string()));
    TenantCondition {
        type_: type_.to_string(),
        status: status.to_string(),
        reason: reason.to_string(),
        message,
        last_transition_time,
        observed_generation: generation,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenant(cordoned: bool) -> Tenant {
        let mut tenant: Tenant = serde_json::from_value(serde_json::json!({
            "apiVersion": "palisade.dev/v1alpha1",
            "kind": "Tenant",
            "metadata": { "name": "t", "generation": 3 },
            "spec": { "owners": [{ "kind": "User", "name": "alice" }] }
        }))
        .unwrap();
        tenant.spec.cordoned = cordoned;
        tenant
    }

    fn get<'a>(status: &'a TenantStatus, type_: &str) -> &'a TenantCondition {
        status.conditions.iter().find(|c| c.type_ == type_).unwrap()
    }

    fn skipped(name: &str) -> Skipped {
        Skipped {
            api_version: "policy.networking.k8s.io/v1alpha1".into(),
            kind: "AdminNetworkPolicy".into(),
            namespace: None,
            name: name.into(),
            reason: "the cluster does not serve policy.networking.k8s.io/v1alpha1 AdminNetworkPolicy".into(),
        }
    }

    #[test]
    fn table() {
        struct Case {
            what: &'static str,
            cordoned: bool,
            outcome: Outcome,
            ready: (&'static str, &'static str, &'static str),
            cordon: &'static str,
        }
        let namespaces = vec!["t-a".to_string(), "t-b".to_string()];
        let cases = vec![
            Case {
                what: "all applied",
                cordoned: false,
                outcome: Outcome {
                    namespaces: namespaces.clone(),
                    applied: 4,
                    unchanged: 5,
                    ..Outcome::default()
                },
                ready: ("True", "Reconciled", "9 object(s) as desired in 2 namespace(s)"),
                cordon: "False",
            },
            Case {
                what: "skipped objects make it not ready, with the reason",
                cordoned: true,
                outcome: Outcome {
                    namespaces: namespaces.clone(),
                    skipped: vec![skipped("palisade-t")],
                    ..Outcome::default()
                },
                ready: (
                    "False",
                    "ObjectsSkipped",
                    "the cluster does not serve policy.networking.k8s.io/v1alpha1 AdminNetworkPolicy, so 1 object(s) were not applied: AdminNetworkPolicy palisade-t",
                ),
                cordon: "True",
            },
            Case {
                what: "failures win over skipped, and long lists are cut",
                cordoned: false,
                outcome: Outcome {
                    namespaces,
                    skipped: vec![skipped("x")],
                    failures: (1..=7).map(|i| format!("f{i}")).collect(),
                    ..Outcome::default()
                },
                ready: (
                    "False",
                    "ApplyFailed",
                    "7 step(s) failed: f1, f2, f3, f4, f5 and 2 more",
                ),
                cordon: "False",
            },
        ];
        for case in cases {
            let status = tenant_status(&tenant(case.cordoned), &case.outcome, "2026-01-01T00:00:00Z");
            let ready = get(&status, READY);
            assert_eq!(
                (ready.status.as_str(), ready.reason.as_str(), ready.message.as_str()),
                case.ready,
                "{}",
                case.what
            );
            assert_eq!(get(&status, CORDONED).status, case.cordon, "{}", case.what);
            assert_eq!(status.observed_generation, Some(3));
            assert_eq!(status.namespace_count, 2);
        }
    }

    #[test]
    fn transition_time_kept_while_the_status_holds() {
        let mut t = tenant(false);
        let outcome = Outcome::default();
        t.status = Some(tenant_status(&t, &outcome, "then"));
        let again = tenant_status(&t, &outcome, "now");
        assert_eq!(get(&again, READY).last_transition_time.as_deref(), Some("then"));
        // Identical input, identical status: patching it again changes nothing.
        assert_eq!(Some(&again), t.status.as_ref());
        t.spec.cordoned = true;
        let cordoned = tenant_status(&t, &outcome, "now");
        assert_eq!(get(&cordoned, CORDONED).last_transition_time.as_deref(), Some("now"));
        assert_eq!(get(&cordoned, READY).last_transition_time.as_deref(), Some("then"));
    }

    fn with_tenant_quota(hard: &[(&str, &str)]) -> Tenant {
        let mut t = tenant(false);
        t.spec.quota = Some(palisade_api::QuotaPolicy {
            tenant: hard
                .iter()
                .map(|(k, v)| (k.to_string(), Quantity(v.to_string())))
                .collect(),
            ..Default::default()
        });
        t
    }

    fn used(pairs: &[(&str, &str)]) -> Outcome {
        Outcome {
            quota_used: pairs
                .iter()
                .map(|(k, v)| (k.to_string(), Quantity(v.to_string())))
                .collect(),
            ..Outcome::default()
        }
    }

    #[test]
    fn foreign_policies_listed_at_most_ten_then_counted() {
        let t = tenant(false);
        let none = tenant_status(&t, &Outcome::default(), "now");
        let c = get(&none, FOREIGN_POLICIES);
        assert_eq!((c.status.as_str(), c.reason.as_str()), ("False", "None"));
        let policies: Vec<String> = (0..12)
            .map(|i| format!("shop-1/p{i:02}: ingress rule 1 has no peers"))
            .collect();
        let outcome = Outcome {
            foreign_policies: policies,
            ..Outcome::default()
        };
        let some = tenant_status(&t, &outcome, "now");
        let c = get(&some, FOREIGN_POLICIES);
        assert_eq!((c.status.as_str(), c.reason.as_str()), ("True", "WouldBeRefused"));
        assert!(c.message.starts_with("12 NetworkPolicy(ies)"), "{}", c.message);
        assert!(
            c.message.contains("shop-1/p09: ingress rule 1 has no peers"),
            "{}",
            c.message
        );
        assert!(!c.message.contains("shop-1/p10"), "{}", c.message);
        assert!(c.message.contains("; and 2 more."), "{}", c.message);
        assert_eq!(get(&some, READY).status, "True", "reported, not a reconcile failure");
    }

    #[test]
    fn quota_exceeded_names_resource_used_and_hard() {
        let t = with_tenant_quota(&[("requests.cpu", "8"), ("pods", "50")]);
        let status = tenant_status(&t, &used(&[("requests.cpu", "8500m"), ("pods", "12")]), "now");
        let c = get(&status, QUOTA_EXCEEDED);
        assert_eq!((c.status.as_str(), c.reason.as_str()), ("True", "OverLimit"));
        assert!(
            c.message.contains("requests.cpu uses 8500m of its limit 8"),
            "{}",
            c.message
        );
        assert!(c.message.contains("nothing is deleted"), "{}", c.message);
        assert!(!c.message.contains("pods uses"), "{}", c.message);
        assert_eq!(
            status.quota_summary.as_deref(),
            Some("pods 12/50, requests.cpu 8500m/8")
        );
    }

    #[test]
    fn usage_at_the_limit_is_not_exceeded() {
        let t = with_tenant_quota(&[("requests.memory", "1Gi")]);
        let status = tenant_status(&t, &used(&[("requests.memory", "1073741824")]), "now");
        let c = get(&status, QUOTA_EXCEEDED);
        assert_eq!((c.status.as_str(), c.reason.as_str()), ("False", "WithinLimits"));
        assert_eq!(status.quota_summary.as_deref(), Some("requests.memory 1073741824/1Gi"));
    }

    #[test]
    fn a_limit_no_namespace_reports_shows_a_question_mark() {
        let t = with_tenant_quota(&[("services.loadbalancers", "2")]);
        let status = tenant_status(&t, &used(&[]), "now");
        assert_eq!(status.quota_summary.as_deref(), Some("services.loadbalancers ?/2"));
        assert_eq!(get(&status, QUOTA_EXCEEDED).status, "False");
    }

    #[test]
    fn without_a_tenant_quota_there_is_no_summary() {
        let status = tenant_status(&tenant(false), &used(&[("pods", "3")]), "now");
        assert_eq!(status.quota_summary, None);
        let c = get(&status, QUOTA_EXCEEDED);
        assert_eq!((c.status.as_str(), c.reason.as_str()), ("False", "NoTenantQuota"));
    }
}
