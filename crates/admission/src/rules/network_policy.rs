//! NetworkPolicies written by tenant users can never open a path to or from another tenant, or
//! to a platform namespace, that the Tenant spec did not grant — and revoking a grant closes
//! every path it opened, whatever tenants wrote.
//!
//! # Why tenants may name only themselves and the outside world
//!
//! NetworkPolicies are allow-lists and a connection needs both ends to allow it: the source's
//! egress and the destination's ingress. Palisade renders, in every namespace of a `Strict`
//! tenant, default deny in and out, allow within the tenant, DNS, and every grant of the Tenant
//! specs — on both sides (ingress in the granting tenant, egress in the granted one) — and prunes
//! those policies when a grant goes. A tenant's own policies can only add to that. So:
//!
//! - **A peerless rule** (`ingress: [{}]`, `egress: [{}]`, `from: []`, or a rule with only
//!   `ports`) allows every pod of every namespace and every address. One tenant's `ingress: [{}]`
//!   is harmless only as long as nobody else's egress reaches it — but another tenant writing
//!   `egress: [{}]` (or a tenant with isolation `None`, whose pods are not egress-isolated at
//!   all) completes the path, and `palisade reach` shows two tenants open to each other with no
//!   grant. Whether a path opens must not depend on what the other side writes, nor on the other
//!   Tenant's settings, so peerless rules are refused in both directions, for every provider
//!   and isolation mode (a policy stored under `None` keeps working when the tenant moves to
//!   `Strict`).
//! - **Selectors.** A `namespaceSelector` passes only when it pins `palisade.dev/tenant` to the
//!   tenant itself (`matchLabels`, or `In` with only that value). A selector that names other
//!   tenants — even granted ones — is refused: grants are rendered by Palisade and pruned on
//!   revocation, and a tenant-written copy would outlive the grant. `palisade.dev/tenant
//!   DoesNotExist` matches kube-system, default, palisade-system and every platform namespace, and
//!   `kubernetes.io/metadata.name` alone follows a name that someone else may hold tomorrow, so
//!   both are refused; the one exception is ingress from the platform namespaces the Tenant grants
//!   (`spec.network.allowFrom.namespaces`), named by `kubernetes.io/metadata.name` — whose names no
//!   tenant can take — so that tenants with isolation `None` can still narrow their own policies.
//!   A `podSelector` alone selects the policy's own namespace and always passes.
//! - **ipBlocks** name addresses outside the cluster only: a block overlapping the pod CIDRs or
//!   the Service CIDRs must except them whole (CNIs differ on whether ipBlocks match pod and
//!   ClusterIP addresses, so a block over them could reach other tenants). While either range is
//!   unknown every ipBlock is refused — the rule never guesses — and `/readyz` says so.
//!
//! Denials echo what the policy wrote and say what is allowed; they never say whose a namespace
//! is.

use std::collections::BTreeSet;
use std::fmt;

use ipnet::IpNet;
use k8s_openapi::api::networking::v1::{NetworkPolicy, NetworkPolicyPeer, NetworkPolicyPort, NetworkPolicySpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use palisade_api::{Tenant, labels};

use super::{InTenant, typed};
use crate::{AdmissionConfig, ClusterView, Verdict};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Direction {
    Ingress,
    Egress,
}

impl Direction {
    fn name(self) -> &'static str {
        match self {
            Direction::Ingress => "ingress",
            Direction::Egress => "egress",
        }
    }

    fn peers_field(self) -> &'static str {
        match self {
            Direction::Ingress => "from",
            Direction::Egress => "to",
        }
    }
}

pub fn review(context: &InTenant<'_>) -> Verdict {
    let policy: NetworkPolicy = match typed(context.request.object.as_ref(), "NetworkPolicy") {
        Ok(policy) => policy,
        Err(denial) => return denial,
    };
    let Some(spec) = policy.spec else {
        return Verdict::Allow;
    };
    match check_spec(context.tenant, context.tenant_name, context.view, context.config, &spec) {
        Ok(()) => Verdict::Allow,
        Err(refusal) => Verdict::deny(format!(
            "tenant \"{}\": NetworkPolicy \"{}\" {refusal}",
            context.tenant_name, context.request.name
        )),
    }
}

/// Why a NetworkPolicy spec is refused: the rule, what is wrong with it (which echoes what the
/// policy wrote, so it may name the tenants or namespaces the policy names), and the class of
/// problem, whose [`Reason::phrase`] names nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// `ingress rule 1`, `egress rule 2`: the rule, counted from 1 within its direction.
    pub rule: String,
    pub reason: Reason,
    /// What is wrong and what to write instead.
    pub problem: String,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.rule, self.problem)
    }
}

impl Refusal {
    /// `ingress rule 1 has no peers`: the rule and the class of problem, naming no tenant and no
    /// namespace (for the status of a Tenant, which must not map others).
    pub fn summary(&self) -> String {
        format!("{} {}", self.rule, self.reason.phrase())
    }
}

/// The classes of problems a NetworkPolicy rule can have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Reason {
    /// No peers, or only `ports`.
    Peerless,
    /// A namespaceSelector pinning the tenant label to another tenant.
    OtherTenant,
    /// A namespaceSelector on the tenant label with DoesNotExist/NotIn.
    OutsideTenants,
    /// A namespaceSelector that does not pin the tenant label.
    UnpinnedSelector,
    /// This tenant's own namespace by `kubernetes.io/metadata.name` alone.
    OwnNamespaceByName,
    /// A namespace by name that is neither this tenant's nor granted (for this direction).
    NamespaceByName,
    /// An ipBlock over the cluster's pod or Service addresses, or one that cannot be checked.
    IpBlock,
}

impl Reason {
    /// One phrase, naming nothing.
    pub fn phrase(self) -> &'static str {
        match self {
            Reason::Peerless => "has no peers, so it allows every pod of every namespace",
            Reason::OtherTenant => "selects another tenant's namespaces",
            Reason::OutsideTenants => "selects namespaces outside every tenant (DoesNotExist/NotIn)",
            Reason::UnpinnedSelector => "has a namespaceSelector not pinned to this tenant",
            Reason::OwnNamespaceByName => "selects a namespace by name alone",
            Reason::NamespaceByName => "selects a namespace by name that is neither this tenant's nor granted",
            Reason::IpBlock => "has an ipBlock over cluster addresses (or one that cannot be checked)",
        }
    }
}

/// What a rule of `tenant` may name; the parts of [`InTenant`] the rule reads.
struct Scope<'a> {
    view: &'a dyn ClusterView,
    config: &'a AdmissionConfig,
    tenant: &'a Tenant,
    tenant_name: &'a str,
}

/// The NetworkPolicy rule on a spec alone: whether `tenant` (named `tenant_name`) may hold a
/// NetworkPolicy with this spec in one of its namespaces. The webhook's `review` and the
/// controller's report of policies stored without the webhook (`ForeignPolicies`) both call it,
/// so they cannot disagree. The first problem found is returned.
pub fn check_spec(
    tenant: &Tenant,
    tenant_name: &str,
    view: &dyn ClusterView,
    config: &AdmissionConfig,
    spec: &NetworkPolicySpec,
) -> Result<(), Refusal> {
    let scope = Scope {
        view,
        config,
        tenant,
        tenant_name,
    };
    let ingress = spec
        .ingress
        .iter()
        .flatten()
        .map(|r| (Direction::Ingress, r.from.as_deref(), r.ports.as_deref()));
    let egress = spec
        .egress
        .iter()
        .flatten()
        .map(|r| (Direction::Egress, r.to.as_deref(), r.ports.as_deref()));
    let mut numbers = [0usize; 2];
    for (direction, peers, ports) in ingress.chain(egress) {
        let number = &mut numbers[usize::from(direction == Direction::Egress)];
        *number += 1;
        let rule = format!("{} rule {}", direction.name(), number);
        let peers = peers.unwrap_or_default();
        if peers.is_empty() {
            return Err(Refusal {
                rule,
                reason: Reason::Peerless,
                problem: peerless(&scope, direction, ports),
            });
        }
        for peer in peers {
            if let Err((reason, problem)) = check_peer(&scope, direction, peer) {
                return Err(Refusal { rule, reason, problem });
            }
        }
    }
    Ok(())
}

/// Why a rule without peers is refused, and what to write instead.
fn peerless(context: &Scope<'_>, direction: Direction, ports: Option<&[NetworkPolicyPort]>) -> String {
    let tenant = context.tenant_name;
    let field = direction.peers_field();
    let shape = if ports.is_some_and(|p| !p.is_empty()) {
        format!("has only `ports` and no `{field}`")
    } else {
        format!("has no `{field}`")
    };
    let mut cluster: Vec<String> = known_pod_cidrs(context)
        .iter()
        .chain(known_service_cidrs(context).iter())
        .map(ToString::to_string)
        .collect();
    if cluster.is_empty() {
        cluster.push("<pod and Service CIDRs>".to_string());
    }
    let dns = if direction == Direction::Egress && context.tenant.spec.network.egress.dns {
        "; DNS to the cluster's DNS pods is already allowed by Palisade (palisade-allow-dns)"
    } else {
        ""
    };
    format!(
        "{shape}, which allows every pod of every namespace (other tenants' included) and every address; list its peers instead: `namespaceSelector: {{matchLabels: {{{}: {tenant}}}}}` for this tenant's own pods, an `ipBlock` such as `{{cidr: 0.0.0.0/0, except: [{}]}}` for addresses outside the cluster{dns}",
        labels::TENANT,
        cluster.join(", ")
    )
}

fn check_peer(context: &Scope<'_>, direction: Direction, peer: &NetworkPolicyPeer) -> Result<(), (Reason, String)> {
    if let Some(selector) = &peer.namespace_selector {
        check_namespace_selector(context, direction, selector)?;
    }
    if let Some(block) = &peer.ip_block {
        check_ip_block(context, &block.cidr, block.except.as_deref().unwrap_or_default())
            .map_err(|problem| (Reason::IpBlock, problem))?;
    }
    Ok(())
}

/// Values a selector pins `key` to (`matchLabels`, or an `In` expression), if it pins it.
fn pinned_values(selector: &LabelSelector, key: &str) -> Option<BTreeSet<String>> {
    let mut pinned: Option<BTreeSet<String>> = None;
    let mut narrow = |values: BTreeSet<String>| {
        pinned = Some(match pinned.take() {
            Some(existing) => existing.intersection(&values).cloned().collect(),
            None => values,
        });
    };
    if let Some(value) = selector.match_labels.as_ref().and_then(|m| m.get(key)) {
        narrow(BTreeSet::from([value.clone()]));
    }
    for expression in selector.match_expressions.iter().flatten() {
        if expression.key == key && expression.operator == "In" {
            narrow(expression.values.iter().flatten().cloned().collect());
        }
    }
    pinned
}

fn check_namespace_selector(
    context: &Scope<'_>,
    direction: Direction,
    selector: &LabelSelector,
) -> Result<(), (Reason, String)> {
    let own = context.tenant_name;
    let pin_own = format!("{}: {own}", labels::TENANT);
    if let Some(tenants) = pinned_values(selector, labels::TENANT) {
        // An empty intersection matches nothing, which is confined too.
        return match tenants.iter().find(|t| t.as_str() != own) {
            None => Ok(()),
            Some(other) => Err((
                Reason::OtherTenant,
                format!(
                    "selects namespaces labelled {}={other}; a tenant's own NetworkPolicies select only its own namespaces ({pin_own}). Traffic with tenants granted in the Tenant spec (spec.network.allowFrom.tenants) is allowed by Palisade's own policies, which close when the grant is revoked",
                    labels::TENANT
                ),
            )),
        };
    }
    let granted = &context.tenant.spec.network.allow_from.namespaces;
    if let Some(names) = pinned_values(selector, labels::NAMESPACE_NAME) {
        let is_granted =
            |name: &str| granted.iter().any(|g| g == name) && context.view.tenant_of_namespace(name).is_none();
        for name in &names {
            if direction == Direction::Ingress && is_granted(name) {
                continue;
            }
            if context.view.tenant_of_namespace(name) == Some(own) {
                return Err((
                    Reason::OwnNamespaceByName,
                    format!(
                        "selects namespace \"{name}\" by {} alone; add {pin_own} to the same selector, so that it can never match a namespace of that name someone else creates later",
                        labels::NAMESPACE_NAME
                    ),
                ));
            }
            if granted.iter().any(|g| g == name) && direction == Direction::Egress {
                return Err((
                    Reason::NamespaceByName,
                    format!(
                        "selects namespace \"{name}\", which the Tenant grants for ingress only (spec.network.allowFrom.namespaces); egress may go only to this tenant's own namespaces ({pin_own}) and to addresses outside the cluster"
                    ),
                ));
            }
            return Err((
                Reason::NamespaceByName,
                format!(
                    "selects namespace \"{name}\", which is neither one of this tenant's namespaces nor granted to it; allowed: this tenant's own namespaces ({pin_own}){}",
                    granted_text(direction, granted)
                ),
            ));
        }
        return Ok(());
    }
    let excludes_tenants = selector
        .match_expressions
        .iter()
        .flatten()
        .any(|e| e.key == labels::TENANT && matches!(e.operator.as_str(), "DoesNotExist" | "NotIn"));
    if excludes_tenants {
        return Err((
            Reason::OutsideTenants,
            format!(
                "has a namespaceSelector on {} DoesNotExist/NotIn, which matches kube-system, default, palisade-system and every other namespace outside this tenant; allowed: this tenant's own namespaces ({pin_own}){}",
                labels::TENANT,
                granted_text(direction, granted)
            ),
        ));
    }
    Err((
        Reason::UnpinnedSelector,
        format!(
            "has a namespaceSelector that does not pin {pin_own}, so it could match namespaces outside this tenant (other tenants', kube-system, platform namespaces); add {pin_own} to it{}",
            granted_text(direction, granted)
        ),
    ))
}

/// ", or the granted platform namespaces (...)" for ingress rules of a tenant that has some.
fn granted_text(direction: Direction, granted: &[String]) -> String {
    if direction == Direction::Egress || granted.is_empty() {
        return String::new();
    }
    format!(
        ", or for ingress the platform namespaces the Tenant grants, by {} In [{}]",
        labels::NAMESPACE_NAME,
        granted.join(", ")
    )
}

/// Pod CIDRs: configured ones win; otherwise what the nodes were given.
fn known_pod_cidrs(context: &Scope<'_>) -> Vec<IpNet> {
    if context.config.pod_cidrs.is_empty() {
        context.view.node_pod_cidrs()
    } else {
        context.config.pod_cidrs.clone()
    }
}

/// Service CIDRs: configured ones win; otherwise the cluster's ServiceCIDR objects.
fn known_service_cidrs(context: &Scope<'_>) -> Vec<IpNet> {
    if context.config.service_cidrs.is_empty() {
        context.view.service_cidrs()
    } else {
        context.config.service_cidrs.clone()
    }
}

fn check_ip_block(context: &Scope<'_>, cidr: &str, except: &[String]) -> Result<(), String> {
    let pod_cidrs = known_pod_cidrs(context);
    if pod_cidrs.is_empty() {
        // Unknown pod ranges would make every ipBlock pass unchecked.
        return Err(format!(
            "has ipBlock \"{cidr}\", and Palisade does not know the cluster's pod CIDRs (no node reports spec.podCIDRs and the webhook has no --pod-cidr), so it cannot tell whether the block reaches other tenants' pods; ask your platform team to set --pod-cidr"
        ));
    }
    let service_cidrs = known_service_cidrs(context);
    if service_cidrs.is_empty() {
        return Err(format!(
            "has ipBlock \"{cidr}\", and Palisade does not know the cluster's Service CIDRs (no ServiceCIDR object seen and the webhook has no --service-cidr), so it cannot tell whether the block reaches other tenants' Services; ask your platform team to set --service-cidr"
        ));
    }
    let Ok(block) = cidr.parse::<IpNet>() else {
        return Err(format!("has ipBlock \"{cidr}\", which is not a CIDR"));
    };
    let excepted: Vec<IpNet> = except.iter().filter_map(|e| e.parse().ok()).collect();
    let ranges = pod_cidrs
        .iter()
        .map(|r| ("pod addresses", "other tenants' pods", r))
        .chain(
            service_cidrs
                .iter()
                .map(|r| ("Service addresses", "other tenants' Services", r)),
        );
    for (what, whose, range) in ranges {
        let overlaps = block.contains(range) || range.contains(&block);
        let carved_out = excepted.iter().any(|e| e.contains(range));
        if overlaps && !carved_out {
            let fix = if range.contains(&block) && block != *range {
                "select pods with podSelector/namespaceSelector instead".to_string()
            } else {
                format!("add except: [{range}], or select pods with podSelector/namespaceSelector instead")
            };
            return Err(format!(
                "has ipBlock {cidr}, which covers {what} ({range}) and so {whose}; ipBlocks may name only addresses outside the cluster: {fix}"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Snapshot;

    fn tenant(name: &str, granted: &[&str]) -> Tenant {
        let mut t: Tenant = serde_json::from_value(serde_json::json!({
            "apiVersion": "palisade.dev/v1alpha1", "kind": "Tenant",
            "metadata": { "name": name },
            "spec": { "owners": [{ "kind": "User", "name": "alice" }] }
        }))
        .unwrap();
        t.spec.network.allow_from.namespaces = granted.iter().map(|s| s.to_string()).collect();
        t
    }

    fn spec(value: serde_json::Value) -> NetworkPolicySpec {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn check_spec_table() {
        let view = Snapshot::default()
            .with_tenant(tenant("alpha", &["monitoring"]))
            .with_tenant(tenant("beta", &[]))
            .with_namespace("alpha-1", Some("alpha"))
            .with_namespace("beta-1", Some("beta"))
            .with_namespace("monitoring", None);
        let config = AdmissionConfig::default();
        let alpha = tenant("alpha", &["monitoring"]);
        let own = serde_json::json!({"namespaceSelector": {"matchLabels": {"palisade.dev/tenant": "alpha"}}});
        let cases = [
            ("own tenant", serde_json::json!({"ingress": [{"from": [own]}]}), None),
            (
                "pod selector alone",
                serde_json::json!({"egress": [{"to": [{"podSelector": {}}]}]}),
                None,
            ),
            (
                "granted platform namespace, ingress",
                serde_json::json!({"ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}]}]}),
                None,
            ),
            (
                "peerless ingress",
                serde_json::json!({"ingress": [{}]}),
                Some(("ingress rule 1", Reason::Peerless)),
            ),
            (
                "port-only egress, second rule",
                serde_json::json!({"egress": [{"to": [own]}, {"ports": [{"port": 53}]}]}),
                Some(("egress rule 2", Reason::Peerless)),
            ),
            (
                "another tenant",
                serde_json::json!({"ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"palisade.dev/tenant": "beta"}}}]}]}),
                Some(("ingress rule 1", Reason::OtherTenant)),
            ),
            (
                "outside every tenant",
                serde_json::json!({"egress": [{"to": [{"namespaceSelector": {"matchExpressions": [{"key": "palisade.dev/tenant", "operator": "DoesNotExist"}]}}]}]}),
                Some(("egress rule 1", Reason::OutsideTenants)),
            ),
            (
                "unpinned selector",
                serde_json::json!({"ingress": [{"from": [{"namespaceSelector": {}}]}]}),
                Some(("ingress rule 1", Reason::UnpinnedSelector)),
            ),
            (
                "another tenant's namespace by name",
                serde_json::json!({"ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "beta-1"}}}]}]}),
                Some(("ingress rule 1", Reason::NamespaceByName)),
            ),
            (
                "own namespace by name alone",
                serde_json::json!({"ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "alpha-1"}}}]}]}),
                Some(("ingress rule 1", Reason::OwnNamespaceByName)),
            ),
            (
                "ipBlock while the ranges are unknown",
                serde_json::json!({"egress": [{"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}]}]}),
                Some(("egress rule 1", Reason::IpBlock)),
            ),
        ];
        for (what, policy, want) in cases {
            let got = check_spec(&alpha, "alpha", &view, &config, &spec(policy));
            match (got, want) {
                (Ok(()), None) => {}
                (Err(refusal), Some((rule, reason))) => {
                    assert_eq!((refusal.rule.as_str(), refusal.reason), (rule, reason), "{what}");
                    let summary = refusal.summary();
                    assert!(summary.starts_with(rule), "{what}: {summary}");
                    assert!(
                        !summary.contains("beta"),
                        "{what}: the summary names another tenant: {summary}"
                    );
                }
                (got, want) => panic!("{what}: got {got:?}, want {want:?}"),
            }
        }
    }
}
