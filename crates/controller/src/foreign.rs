//! NetworkPolicies in tenant namespaces that the webhook would refuse today but that are stored
//! anyway: written before the webhook's NetworkPolicy rule existed, while the webhook was down,
//! or by an administrator (who is exempt). They are reported on the Tenant as the condition
//! `ForeignPolicies`, since Palisade's promise — revoking a grant closes every path it opened,
//! whatever tenants wrote — holds only while no such policy is stored.
//!
//! One watch of every NetworkPolicy Palisade did not write (label selector
//! `app.kubernetes.io/managed-by!=palisade`, whole objects, since the rule reads the spec) feeds a
//! small [`ForeignPolicies`] index: each policy is judged as it arrives, by the webhook's own rule
//! ([`palisade_admission::network_policy::check_spec`]), and only the verdicts of offending
//! policies are kept (namespace, name, tenant, one phrase), never the specs. A change of verdict
//! wakes the tenant; a reconcile reads the index and costs no request.
//!
//! A verdict depends on more than the policy: which tenant holds the namespace, and which
//! platform namespaces the Tenant grants. When either changes (a namespace is bound to a tenant
//! or leaves it, a Tenant appears or changes `spec.network.allowFrom.namespaces`), the watch
//! starts over, which lists the policies once more and judges them all again. A steady cluster
//! costs no request.
//!
//! ipBlocks are left to the webhook: it knows the cluster's pod and Service CIDRs (from the
//! nodes, ServiceCIDR objects or its flags) and the controller does not, so the controller judges
//! every ipBlock peer as allowed rather than reporting every ipBlock as unverifiable. Verdicts
//! never name another tenant: [`Refusal::summary`] names the rule and the class of problem only.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::networking::v1::{NetworkPolicy, NetworkPolicyPeer, NetworkPolicySpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::runtime::watcher;
use kube::{Api, Client};
use palisade_admission::network_policy::{Refusal, check_spec};
use palisade_admission::{AdmissionConfig, ClusterView, IngressRoute, VolumeOwner};
use palisade_api::{Tenant, labels};
use palisade_view::TenantDirectory;
use palisade_view::driver::{Driver, Needed, Sink};

use crate::watch::Shared;

/// How many offending policies a condition message spells out.
pub const LISTED: usize = 10;

/// An offending policy, as the index keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offence {
    /// The tenant whose namespace holds the policy.
    pub tenant: String,
    /// Why the webhook would refuse it, naming no other tenant (`ingress rule 1 has no peers…`).
    pub why: String,
}

type Key = (String, String);

/// The verdicts of the offending policies, by (namespace, name). Pure.
#[derive(Debug, Default)]
pub struct ForeignPolicies {
    offending: BTreeMap<Key, Offence>,
    /// While the watch lists again: what the list has shown so far.
    relisting: Option<BTreeMap<Key, Offence>>,
}

impl ForeignPolicies {
    /// A policy was written (or listed outside a relist); returns the tenants to wake.
    pub fn saw(&mut self, namespace: &str, name: &str, verdict: Option<Offence>) -> BTreeSet<String> {
        let key = (namespace.to_string(), name.to_string());
        let before = match verdict.clone() {
            Some(offence) => self.offending.insert(key, offence),
            None => self.offending.remove(&key),
        };
        changed(before.as_ref(), verdict.as_ref())
    }

    /// A policy was deleted; returns the tenants to wake.
    pub fn deleted(&mut self, namespace: &str, name: &str) -> BTreeSet<String> {
        self.saw(namespace, name, None)
    }

    pub fn relist_started(&mut self) {
        self.relisting = Some(BTreeMap::new());
    }

    pub fn relisted(&mut self, namespace: &str, name: &str, verdict: Option<Offence>) {
        if let (Some(listing), Some(offence)) = (self.relisting.as_mut(), verdict) {
            listing.insert((namespace.to_string(), name.to_string()), offence);
        }
    }

    /// The relist is complete: it replaces what was known. Returns the tenants whose verdicts
    /// changed.
    pub fn relist_done(&mut self) -> BTreeSet<String> {
        let Some(listed) = self.relisting.take() else {
            return BTreeSet::new();
        };
        let mut woken = BTreeSet::new();
        for (key, before) in &self.offending {
            woken.extend(changed(Some(before), listed.get(key)));
        }
        for (key, now) in &listed {
            if !self.offending.contains_key(key) {
                woken.insert(now.tenant.clone());
            }
        }
        self.offending = listed;
        woken
    }

    /// `namespace/name: why` of each offending policy of `tenant` in `namespaces`, sorted.
    pub fn of(&self, tenant: &str, namespaces: &[String]) -> Vec<String> {
        namespaces
            .iter()
            .flat_map(|ns| {
                self.offending
                    .range((ns.clone(), String::new())..)
                    .take_while(move |((n, _), _)| n == ns)
            })
            .filter(|(_, offence)| offence.tenant == tenant)
            .map(|((ns, name), offence)| format!("{ns}/{name}: {}", offence.why))
            .collect()
    }

    pub fn len(&self) -> usize {
        self.offending.len()
    }

    pub fn is_empty(&self) -> bool {
        self.offending.is_empty()
    }
}

fn changed(before: Option<&Offence>, now: Option<&Offence>) -> BTreeSet<String> {
    if before == now {
        return BTreeSet::new();
    }
    before.iter().chain(now.iter()).map(|o| o.tenant.clone()).collect()
}

/// The webhook's verdict on a policy Palisade did not write, in the namespace of a tenant.
/// `None` when the policy is Palisade's, its namespace is no known tenant's, or the webhook would
/// admit it (ipBlocks aside: see the module docs).
pub fn judge(policy: &NetworkPolicy, directory: &TenantDirectory) -> Option<Offence> {
    let metadata = &policy.metadata;
    let managed = metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(labels::MANAGED_BY))
        .is_some_and(|v| v == labels::MANAGED_BY_VALUE);
    if managed {
        return None;
    }
    let tenant_name = directory.tenant_of(metadata.namespace.as_deref()?)?;
    let tenant = directory.tenant(tenant_name)?;
    let spec = trusting_ip_blocks(policy.spec.as_ref()?);
    let view = DirectoryView(directory);
    let refusal: Refusal = check_spec(tenant, tenant_name, &view, &AdmissionConfig::default(), &spec).err()?;
    Some(Offence {
        tenant: tenant_name.to_string(),
        why: refusal.summary(),
    })
}

/// The spec with each ipBlock peer replaced by a peer of the policy's own namespace (which the
/// rule always allows): the controller does not know the ranges an ipBlock is judged against.
/// A peer holds either an ipBlock or selectors, never both, so nothing else changes.
pub fn trusting_ip_blocks(spec: &NetworkPolicySpec) -> NetworkPolicySpec {
    let own_namespace = || NetworkPolicyPeer {
        pod_selector: Some(LabelSelector::default()),
        ..NetworkPolicyPeer::default()
    };
    let trust = |peers: &mut Option<Vec<NetworkPolicyPeer>>| {
        for peer in peers.iter_mut().flatten() {
            if peer.ip_block.is_some() {
                *peer = own_namespace();
            }
        }
    };
    let mut spec = spec.clone();
    for rule in spec.ingress.iter_mut().flatten() {
        trust(&mut rule.from);
    }
    for rule in spec.egress.iter_mut().flatten() {
        trust(&mut rule.to);
    }
    spec
}

/// What the rule reads of the cluster, from the controller's tenant directory: which tenant
/// holds a namespace. Pod and Service CIDRs are unknown (ipBlocks are not judged here).
struct DirectoryView<'a>(&'a TenantDirectory);

impl ClusterView for DirectoryView<'_> {
    fn tenant(&self, _name: &str) -> Option<&Tenant> {
        None
    }
    fn tenants(&self) -> Vec<&Tenant> {
        Vec::new()
    }
    fn namespace_labels(&self, _namespace: &str) -> Option<&BTreeMap<String, String>> {
        None
    }
    fn namespaces_of(&self, tenant: &str) -> Vec<String> {
        self.0.labelled_namespaces_of(tenant).map(str::to_string).collect()
    }
    fn volume(&self, _name: &str) -> Option<&VolumeOwner> {
        None
    }
    fn ingress_routes(&self) -> Vec<&IngressRoute> {
        Vec::new()
    }
    fn tenant_of_namespace(&self, namespace: &str) -> Option<&str> {
        self.0.tenant_of(namespace)
    }
}

/// Whether a Tenant's change calls for judging every policy again: a Tenant not seen before
/// (`before` is its previous version, if any), or other granted platform namespaces.
pub fn tenant_changes_verdicts(before: Option<&Tenant>, tenant: &Tenant) -> bool {
    let granted = |t: &Tenant| t.spec.network.allow_from.namespaces.clone();
    before.is_none_or(|before| granted(before) != granted(tenant))
}

/// The name the policy watch has in the driver (and in the watch metrics).
pub const WATCH_NAME: &str = "NetworkPolicy (not Palisade's)";

/// Watches the NetworkPolicies Palisade did not write, feeding the shared [`ForeignPolicies`];
/// starts over (a fresh list, every policy judged again) whenever `Shared::judge_again` is
/// notified. Each policy is judged as it arrives, so a list holds verdicts, not policies.
pub async fn watch(driver: Driver, client: Client, shared: Arc<Shared>) {
    loop {
        // A call to judge again made before this list starts is answered by it: forget it.
        let _ = futures::FutureExt::now_or_never(shared.judge_again.notified());
        let selector = format!("{}!={}", labels::MANAGED_BY, labels::MANAGED_BY_VALUE);
        let judging = shared.clone();
        let judged = move |policy: NetworkPolicy| Judged {
            verdict: judge(&policy, &judging.directory()),
            namespace: policy.metadata.namespace.unwrap_or_default(),
            name: policy.metadata.name.unwrap_or_default(),
        };
        let sink: Arc<dyn Sink<Judged>> = Arc::new(Verdicts(shared.clone()));
        let watch = driver.watch(
            WATCH_NAME,
            Needed::Required,
            Api::<NetworkPolicy>::all(client.clone()),
            watcher::Config::default().labels(&selector),
            judged,
            vec![sink],
        );
        shared.judge_again.notified().await;
        drop(watch);
        // Changes come in bursts (a Tenant and its namespaces): judge once they settle.
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// One policy's verdict, as the watch reduces it.
#[derive(Clone)]
pub struct Judged {
    namespace: String,
    name: String,
    verdict: Option<Offence>,
}

/// Verdicts into [`ForeignPolicies`], waking the tenants whose verdicts changed.
struct Verdicts(Arc<Shared>);

impl Sink<Judged> for Verdicts {
    fn apply(&self, judged: Judged) {
        let woken = self.0.foreign().saw(&judged.namespace, &judged.name, judged.verdict);
        self.0.wake(woken);
    }

    fn delete(&self, judged: Judged) {
        let woken = self.0.foreign().deleted(&judged.namespace, &judged.name);
        self.0.wake(woken);
    }

    fn reset(&self, listed: Vec<Judged>) {
        let woken = {
            let mut foreign = self.0.foreign();
            foreign.relist_started();
            for judged in listed {
                foreign.relisted(&judged.namespace, &judged.name, judged.verdict);
            }
            foreign.relist_done()
        };
        self.0.wake(woken);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use palisade_view::{Index, NamespaceEntry};

    fn offence(tenant: &str, why: &str) -> Option<Offence> {
        Some(Offence {
            tenant: tenant.into(),
            why: why.into(),
        })
    }

    fn set(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn index_wakes_on_changes_only_and_relists_replace() {
        let mut index = ForeignPolicies::default();
        assert_eq!(index.saw("a-1", "p", offence("a", "x")), set(&["a"]));
        assert_eq!(index.saw("a-1", "p", offence("a", "x")), set(&[]), "same verdict");
        assert_eq!(index.saw("a-1", "fine", None), set(&[]), "never offending");
        assert_eq!(index.saw("a-1", "p", offence("a", "y")), set(&["a"]));
        assert_eq!(index.saw("b-1", "q", offence("b", "z")), set(&["b"]));
        assert_eq!(
            index.of("a", &["a-1".into(), "b-1".into()]),
            vec!["a-1/p: y".to_string()]
        );
        assert_eq!(index.deleted("a-1", "p"), set(&["a"]));
        assert!(index.of("a", &["a-1".into()]).is_empty());

        index.relist_started();
        index.relisted("b-1", "q", offence("b", "z"));
        index.relisted("c-1", "r", offence("c", "w"));
        index.relisted("c-1", "ok", None);
        assert_eq!(index.relist_done(), set(&["c"]), "b unchanged, c new");
        index.relist_started();
        assert_eq!(index.relist_done(), set(&["b", "c"]), "both gone");
        assert!(index.is_empty());
    }

    fn policy(namespace: &str, spec: serde_json::Value, managed: bool) -> NetworkPolicy {
        let labels = if managed {
            serde_json::json!({ "app.kubernetes.io/managed-by": "palisade" })
        } else {
            serde_json::json!({})
        };
        serde_json::from_value(serde_json::json!({
            "metadata": { "name": "p", "namespace": namespace, "labels": labels },
            "spec": spec,
        }))
        .unwrap()
    }

    fn tenant(name: &str) -> Arc<Tenant> {
        Arc::new(
            serde_json::from_value(serde_json::json!({
                "apiVersion": "palisade.dev/v1alpha1", "kind": "Tenant",
                "metadata": { "name": name },
                "spec": { "owners": [{ "kind": "User", "name": "alice" }] }
            }))
            .unwrap(),
        )
    }

    fn namespace(name: &str, tenant: &str) -> NamespaceEntry {
        NamespaceEntry {
            name: name.into(),
            tenant: Some(tenant.into()),
            terminating: false,
        }
    }

    #[test]
    fn judge_table() {
        let mut directory = TenantDirectory::default();
        directory.apply(namespace("alpha-1", "alpha"));
        directory.apply(namespace("beta-1", "beta"));
        directory.apply((*tenant("alpha")).clone());
        directory.apply((*tenant("beta")).clone());
        let foreign = serde_json::json!({"ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"palisade.dev/tenant": "beta"}}}]}]});
        let cases = [
            (
                "selects another tenant",
                "alpha-1",
                foreign.clone(),
                false,
                Some("ingress rule 1 selects another tenant's namespaces"),
            ),
            ("Palisade's own", "alpha-1", foreign.clone(), true, None),
            ("not a tenant namespace", "kube-system", foreign.clone(), false, None),
            (
                "own tenant",
                "alpha-1",
                serde_json::json!({"egress": [{"to": [{"namespaceSelector": {"matchLabels": {"palisade.dev/tenant": "alpha"}}}]}]}),
                false,
                None,
            ),
            (
                "peerless egress",
                "beta-1",
                serde_json::json!({"egress": [{}]}),
                false,
                Some("egress rule 1 has no peers"),
            ),
            (
                "ipBlocks are the webhook's",
                "alpha-1",
                serde_json::json!({"egress": [{"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}]}]}),
                false,
                None,
            ),
            (
                "a rule after an ipBlock still counts",
                "alpha-1",
                serde_json::json!({"egress": [{"to": [{"ipBlock": {"cidr": "10.0.0.0/8"}}]}, {}]}),
                false,
                Some("egress rule 2 has no peers"),
            ),
        ];
        for (what, ns, spec, managed, want) in cases {
            let got = judge(&policy(ns, spec, managed), &directory);
            match (got, want) {
                (None, None) => {}
                (Some(offence), Some(start)) => {
                    assert!(offence.why.starts_with(start), "{what}: {}", offence.why);
                    assert!(
                        !offence.why.contains("beta"),
                        "{what} names another tenant: {}",
                        offence.why
                    );
                }
                (got, want) => panic!("{what}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn tenants_call_for_judging_again_when_new_or_granting_other_namespaces() {
        let before = (*tenant("alpha")).clone();
        let mut t = before.clone();
        assert!(tenant_changes_verdicts(None, &t), "new");
        assert!(!tenant_changes_verdicts(Some(&before), &t), "unchanged");
        t.spec.network.allow_from.namespaces = vec!["monitoring".into()];
        assert!(tenant_changes_verdicts(Some(&before), &t), "grants another namespace");
    }
}
