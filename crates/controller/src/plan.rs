//! What one reconcile will do, decided before anything is written. Pure: no client, no I/O.
//!
//! ```text
//!  plan(desired, live, discovered) -> Plan
//!      cluster ....... per cluster-scoped object: apply | unchanged | skipped
//!      namespaces .... per namespace: create | existing | refused | terminating | gone,
//!                      its own Namespace object's action, then its objects' actions
//!      managed ....... what the tenant has live, for the prune
//!  Plan::settle(how each namespace ended) -> namespaces, conflicts, terminating, skipped, prune
//! ```
//!
//! Whose a namespace is comes first: one another tenant holds is refused before any of its
//! objects is looked at, so nothing is desired or applied in it, and what this tenant has there
//! is pruned. The executor (`executor.rs`) carries the plan out namespace by namespace;
//! when a namespace's own create or apply fails, nothing else is applied in it and nothing is
//! pruned there ([`NamespaceActions::after`], [`Plan::settle`]).

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use palisade_api::labels;
use palisade_tenancy::ManagedObject;
use palisade_tenancy::render::{Skipped, TenantPlan};
use palisade_view::TenantDirectory;
use serde_json::{Value, json};

use crate::cache::{Cache, manifest_hash};
use crate::diff::{ObjectKey, to_prune};
use crate::discovery::Discovered;
use crate::kinds::{ManagedKind, lookup};

/// What the plan needs to know about the cluster as it is: [`LiveView`], the watch-fed tenant
/// directory and [`Cache`] together.
pub trait Live {
    /// The tenant whose `palisade.dev/tenant` label `namespace` carries.
    fn namespace_owner(&self, namespace: &str) -> Option<&str>;
    /// Whether the labelled `namespace` is being deleted.
    fn namespace_terminating(&self, namespace: &str) -> bool;
    /// Whether `manifest_hash` must be applied to `key` (see [`Cache::needs_apply`]).
    fn needs_apply(&self, key: &ObjectKey, manifest_hash: u64, trust_claims: bool) -> bool;
    /// Every live object Palisade manages for `tenant` (both labels).
    fn managed_keys(&self, tenant: &str) -> Vec<ObjectKey>;
}

/// The cluster as the watches report it: namespaces from the tenant directory, managed objects
/// from the cache.
pub struct LiveView<'a> {
    pub directory: &'a TenantDirectory,
    pub cache: &'a Cache,
}

impl Live for LiveView<'_> {
    fn namespace_owner(&self, namespace: &str) -> Option<&str> {
        self.directory.tenant_of(namespace)
    }

    fn namespace_terminating(&self, namespace: &str) -> bool {
        self.directory.is_terminating(namespace)
    }

    fn needs_apply(&self, key: &ObjectKey, manifest_hash: u64, trust_claims: bool) -> bool {
        self.cache.needs_apply(key, manifest_hash, trust_claims)
    }

    fn managed_keys(&self, tenant: &str) -> Vec<ObjectKey> {
        self.cache.managed_keys(tenant)
    }
}

/// What the tenant should have, as rendered.
pub struct Desired<'a> {
    pub tenant: &'a str,
    pub rendered: &'a TenantPlan,
    /// `spec.namespaces.names`: the only namespaces Palisade ever creates.
    pub listed: &'a BTreeSet<String>,
    /// Namespaces the Tenant lists that another tenant holds (`TenantIndex::resolve`): never
    /// rendered.
    pub refused: &'a BTreeSet<String>,
    /// Set on every cluster-scoped object (the Tenant's deletion deletes them).
    pub owner: &'a OwnerReference,
    /// Apply everything, trusting no claim (see `Context::due_for_verification`).
    pub verify: bool,
}

/// A server-side apply to make.
#[derive(Debug, Clone, PartialEq)]
pub struct Apply<'a> {
    pub object: &'a ManagedObject,
    pub kind: &'static ManagedKind,
    pub key: ObjectKey,
    /// The manifest to apply: owner reference (cluster-scoped) and `palisade.dev/applied` set.
    pub manifest: Value,
    /// [`manifest_hash`] of the manifest before the annotation.
    pub hash: u64,
}

/// What to do with one desired object.
#[derive(Debug, Clone, PartialEq)]
pub enum ObjectAction<'a> {
    Apply(Apply<'a>),
    /// The live object is as Palisade's last apply of this manifest left it.
    Unchanged(ObjectKey),
    /// Not applied, with why.
    Skipped(Skipped),
}

impl ObjectAction<'_> {
    /// The object, when it is desired (applied or unchanged): kept from the prune.
    fn desired(&self) -> Option<&ObjectKey> {
        match self {
            ObjectAction::Apply(apply) => Some(&apply.key),
            ObjectAction::Unchanged(key) => Some(key),
            ObjectAction::Skipped(_) => None,
        }
    }
}

/// What to do with a namespace itself.
#[derive(Debug, Clone, PartialEq)]
pub enum NamespaceStep {
    /// Listed in the spec and not labelled: create it (POST, never an apply) with this body.
    Create(Value),
    /// Labelled with this tenant and not being deleted: write into it.
    Existing,
    /// Another tenant's: nothing is applied in it; this tenant's objects there are pruned.
    Refused,
    /// Being deleted: nothing is applied or pruned in it until it is gone.
    Terminating,
    /// Neither labelled nor listed any more: nothing to do, nothing desired.
    Gone,
}

/// One namespace of the plan.
#[derive(Debug, Clone, PartialEq)]
pub struct NamespaceActions<'a> {
    pub name: String,
    pub step: NamespaceStep,
    /// The Namespace object's own action; `None` unless the namespace is written into.
    pub own: Option<ObjectAction<'a>>,
    /// The other objects' actions, in render order; empty unless the namespace is written into.
    pub objects: Vec<ObjectAction<'a>>,
}

impl<'a> NamespaceActions<'a> {
    /// What is still to be done in this namespace once its own step ended `settled`: its
    /// objects if it is ready, else nothing.
    pub fn after(&self, settled: &Settled) -> &[ObjectAction<'a>] {
        match settled {
            Settled::Ready => &self.objects,
            _ => &[],
        }
    }

    fn writable(&self) -> bool {
        matches!(self.step, NamespaceStep::Create(_) | NamespaceStep::Existing)
    }
}

/// Everything one reconcile will do.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan<'a> {
    pub cluster: Vec<ObjectAction<'a>>,
    pub namespaces: Vec<NamespaceActions<'a>>,
    /// What the renderer skipped.
    pub rendered_skipped: Vec<Skipped>,
    /// Namespaces refused before rendering (listed first, or held, by another tenant).
    pub refused: BTreeSet<String>,
    /// The live managed objects of the tenant.
    pub managed: Vec<ObjectKey>,
}

/// How a namespace's own step ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settled {
    /// Created or existing, and its Namespace object applied or unchanged.
    Ready,
    Refused,
    Terminating,
    Gone,
    /// Its create, read or apply failed (the message says which and why).
    Failed(String),
}

/// The namespace-level result of a reconcile.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Settlement {
    /// The namespaces written into, in plan order.
    pub namespaces: Vec<String>,
    pub conflicts: BTreeSet<String>,
    pub terminating: Vec<String>,
    pub skipped: Vec<Skipped>,
    /// Managed objects no longer desired, outside namespaces being deleted or failed.
    pub prune: Vec<ObjectKey>,
}

/// Decides what a reconcile of `desired` does, given what `live` says and what `discovered`
/// serves.
pub fn plan<'a>(desired: &Desired<'a>, live: &dyn Live, discovered: &Discovered) -> Plan<'a> {
    let act = |object: &'a ManagedObject| object_action(desired, live, discovered, object);
    let namespaces = desired
        .rendered
        .namespaces
        .iter()
        .map(|rendered| {
            let name = rendered.namespace.clone();
            let (own, rest): (Vec<&ManagedObject>, Vec<&ManagedObject>) = rendered
                .objects
                .iter()
                .partition(|o| is_namespace(&o.api_version, &o.kind));
            let step = match (own.first(), live.namespace_owner(&name)) {
                (None, _) => NamespaceStep::Gone,
                (Some(_), Some(other)) if other != desired.tenant => NamespaceStep::Refused,
                (Some(_), Some(_)) if live.namespace_terminating(&name) => NamespaceStep::Terminating,
                (Some(_), Some(_)) => NamespaceStep::Existing,
                (Some(_), None) if !desired.listed.contains(&name) => NamespaceStep::Gone,
                (Some(object), None) => NamespaceStep::Create(create_body(object, desired.owner)),
            };
            let own = match (&step, own.first()) {
                // A namespace created now is always applied: the apply binds what the create
                // leaves out.
                (NamespaceStep::Create(_), Some(object)) => Some(apply(desired, object)),
                (NamespaceStep::Existing, Some(object)) => Some(act(object)),
                _ => None,
            };
            let objects = match own {
                Some(_) => rest.into_iter().map(act).collect(),
                None => Vec::new(),
            };
            NamespaceActions {
                name,
                step,
                own,
                objects,
            }
        })
        .collect();
    Plan {
        cluster: desired.rendered.cluster_objects.iter().map(act).collect(),
        namespaces,
        rendered_skipped: desired.rendered.all_skipped().cloned().collect(),
        refused: desired.refused.clone(),
        managed: live.managed_keys(desired.tenant),
    }
}

impl Plan<'_> {
    /// Every namespace ending as planned (what [`Plan::settle`] takes when all goes well).
    pub fn as_planned(&self) -> BTreeMap<String, Settled> {
        self.namespaces
            .iter()
            .map(|ns| {
                let settled = match ns.step {
                    NamespaceStep::Create(_) | NamespaceStep::Existing => Settled::Ready,
                    NamespaceStep::Refused => Settled::Refused,
                    NamespaceStep::Terminating => Settled::Terminating,
                    NamespaceStep::Gone => Settled::Gone,
                };
                (ns.name.clone(), settled)
            })
            .collect()
    }

    /// The reconcile's namespace-level result once each namespace's own step ended as `settled`
    /// says (one missing from it is held as if it failed). A refused namespace's objects are not
    /// desired, so this tenant's objects there are pruned; a terminating or failed namespace is
    /// held: its objects stay desired and nothing in it is pruned.
    pub fn settle(&self, settled: &BTreeMap<String, Settled>) -> Settlement {
        let mut result = Settlement {
            conflicts: self.refused.clone(),
            skipped: self.rendered_skipped.clone(),
            ..Settlement::default()
        };
        let mut desired: BTreeSet<ObjectKey> = self.cluster.iter().filter_map(ObjectAction::desired).cloned().collect();
        let mut held = BTreeSet::new();
        let skips = |actions: &[ObjectAction<'_>]| -> Vec<Skipped> {
            actions
                .iter()
                .filter_map(|a| match a {
                    ObjectAction::Skipped(s) => Some(s.clone()),
                    _ => None,
                })
                .collect()
        };
        result.skipped.extend(skips(&self.cluster));
        for ns in &self.namespaces {
            if ns.writable() {
                result.skipped.extend(skips(ns.own.as_slice()));
                result.skipped.extend(skips(&ns.objects));
            }
            match settled.get(&ns.name).unwrap_or(&Settled::Failed(String::new())) {
                Settled::Ready => {
                    result.namespaces.push(ns.name.clone());
                    desired.extend(
                        ns.own
                            .iter()
                            .chain(&ns.objects)
                            .filter_map(ObjectAction::desired)
                            .cloned(),
                    );
                }
                Settled::Refused => {
                    result.conflicts.insert(ns.name.clone());
                }
                Settled::Terminating => {
                    result.terminating.push(ns.name.clone());
                    held.insert(ns.name.clone());
                }
                Settled::Gone => {}
                Settled::Failed(_) => {
                    held.insert(ns.name.clone());
                }
            }
        }
        result.prune = to_prune(&desired, &self.managed, &held);
        result
    }
}

fn is_namespace(api_version: &str, kind: &str) -> bool {
    api_version == "v1" && kind == "Namespace"
}

/// Apply, unchanged or skipped.
fn object_action<'a>(
    desired: &Desired<'a>,
    live: &dyn Live,
    discovered: &Discovered,
    object: &'a ManagedObject,
) -> ObjectAction<'a> {
    let Some(kind) = lookup(&object.api_version, &object.kind) else {
        return ObjectAction::Skipped(skipped(object, "Palisade does not know how to apply this kind"));
    };
    if !discovered.serves(kind) {
        let reason = format!("the cluster does not serve {} {}", object.api_version, object.kind);
        return ObjectAction::Skipped(skipped(object, &reason));
    }
    match apply(desired, object) {
        ObjectAction::Apply(apply) if !live.needs_apply(&apply.key, apply.hash, !desired.verify) => {
            ObjectAction::Unchanged(apply.key)
        }
        action => action,
    }
}

/// The apply of `object` (a kind Palisade knows), whatever the live object holds.
fn apply<'a>(desired: &Desired<'a>, object: &'a ManagedObject) -> ObjectAction<'a> {
    let Some(kind) = lookup(&object.api_version, &object.kind) else {
        return ObjectAction::Skipped(skipped(object, "Palisade does not know how to apply this kind"));
    };
    let mut manifest = object.manifest.clone();
    if !kind.namespaced {
        manifest["metadata"]["ownerReferences"] = json!([desired.owner]);
    }
    let hash = manifest_hash(&manifest);
    manifest["metadata"]["annotations"][labels::APPLIED_HASH] = json!(format!("{hash:016x}"));
    ObjectAction::Apply(Apply {
        object,
        kind,
        key: ObjectKey::of(object),
        manifest,
        hash,
    })
}

/// The create of namespace `object`: only the labels every tenant namespace always has, since
/// fields a create writes stay owned by it and the apply that follows could never remove them.
fn create_body(object: &ManagedObject, owner: &OwnerReference) -> Value {
    let always: serde_json::Map<String, Value> = object.manifest["metadata"]["labels"]
        .as_object()
        .map(|labels| {
            labels
                .iter()
                .filter(|(key, _)| {
                    *key == labels::TENANT
                        || *key == labels::MANAGED_BY
                        || key.starts_with("pod-security.kubernetes.io/")
                })
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
        .unwrap_or_default();
    json!({
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": { "name": object.name, "labels": always, "ownerReferences": [owner] },
    })
}

fn skipped(object: &ManagedObject, reason: &str) -> Skipped {
    Skipped {
        api_version: object.api_version.clone(),
        kind: object.kind.clone(),
        namespace: object.namespace.clone(),
        name: object.name.clone(),
        reason: reason.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use palisade_tenancy::ClusterFacts;
    use palisade_tenancy::render::NamespacePlan;

    use super::*;

    /// A live view written out by hand.
    #[derive(Default)]
    struct Fake {
        owners: BTreeMap<String, String>,
        terminating: BTreeSet<String>,
        /// Keys whose live object already holds any manifest (fingerprint match).
        current: BTreeSet<ObjectKey>,
        /// Keys whose live object carries a claim for any manifest (trusted unless verifying).
        claimed: BTreeSet<ObjectKey>,
        managed: Vec<ObjectKey>,
    }

    impl Live for Fake {
        fn namespace_owner(&self, namespace: &str) -> Option<&str> {
            self.owners.get(namespace).map(String::as_str)
        }
        fn namespace_terminating(&self, namespace: &str) -> bool {
            self.terminating.contains(namespace)
        }
        fn needs_apply(&self, key: &ObjectKey, _: u64, trust_claims: bool) -> bool {
            let current = self.current.contains(key);
            let claimed = trust_claims && self.claimed.contains(key);
            !(current || claimed)
        }
        fn managed_keys(&self, _: &str) -> Vec<ObjectKey> {
            self.managed.clone()
        }
    }

    fn object(api_version: &str, kind: &str, namespace: Option<&str>, name: &str) -> ManagedObject {
        let mut metadata = json!({
            "name": name,
            "labels": {
                labels::TENANT: "a",
                labels::MANAGED_BY: labels::MANAGED_BY_VALUE,
                "pod-security.kubernetes.io/enforce": "restricted",
                "team": "x",
            },
        });
        if let Some(ns) = namespace {
            metadata["namespace"] = json!(ns);
        }
        ManagedObject {
            api_version: api_version.into(),
            kind: kind.into(),
            namespace: namespace.map(str::to_string),
            name: name.into(),
            manifest: json!({ "apiVersion": api_version, "kind": kind, "metadata": metadata }),
        }
    }

    fn ns_object(name: &str) -> ManagedObject {
        object("v1", "Namespace", None, name)
    }

    fn rb(ns: &str, name: &str) -> ManagedObject {
        object("rbac.authorization.k8s.io/v1", "RoleBinding", Some(ns), name)
    }

    fn key(object: &ManagedObject) -> ObjectKey {
        ObjectKey::of(object)
    }

    fn rendered(namespaces: &[(&str, Vec<ManagedObject>)], cluster: Vec<ManagedObject>) -> TenantPlan {
        TenantPlan {
            tenant: "a".into(),
            cluster_objects: cluster,
            namespaces: namespaces
                .iter()
                .map(|(ns, objects)| NamespacePlan {
                    namespace: ns.to_string(),
                    objects: objects.clone(),
                    skipped: vec![],
                })
                .collect(),
            skipped: vec![],
        }
    }

    fn owner() -> OwnerReference {
        OwnerReference {
            api_version: "palisade.dev/v1alpha1".into(),
            kind: "Tenant".into(),
            name: "a".into(),
            uid: "u-1".into(),
            controller: Some(true),
            block_owner_deletion: None,
        }
    }

    fn discovered(served: &[(&'static str, &'static str)]) -> Discovered {
        Discovered {
            facts: ClusterFacts::default(),
            served: served.iter().copied().collect(),
        }
    }

    /// A plan and its settlement, reduced to what the table compares.
    #[derive(Debug, Default, PartialEq)]
    struct Summary {
        /// `ns: step`, in plan order.
        steps: Vec<String>,
        applied: Vec<ObjectKey>,
        unchanged: Vec<ObjectKey>,
        skipped: Vec<String>,
        conflicts: Vec<String>,
        terminating: Vec<String>,
        namespaces: Vec<String>,
        pruned: Vec<ObjectKey>,
    }

    /// What the executor carries out: the cluster objects, then per namespace its own action
    /// and, if it ended ready, the rest ([`NamespaceActions::after`]).
    fn carried_out(plan: &Plan<'_>, settled: &BTreeMap<String, Settled>) -> (Vec<ObjectKey>, Vec<ObjectKey>) {
        let mut actions: Vec<&ObjectAction<'_>> = plan.cluster.iter().collect();
        for ns in &plan.namespaces {
            actions.extend(ns.own.iter());
            actions.extend(ns.after(settled.get(&ns.name).unwrap_or(&Settled::Gone)));
        }
        let mut applied = vec![];
        let mut unchanged = vec![];
        for action in actions {
            match action {
                ObjectAction::Apply(apply) => applied.push(apply.key.clone()),
                ObjectAction::Unchanged(key) => unchanged.push(key.clone()),
                ObjectAction::Skipped(_) => {}
            }
        }
        (applied, unchanged)
    }

    fn summary(plan: &Plan<'_>, settled: &BTreeMap<String, Settled>) -> Summary {
        let settlement = plan.settle(settled);
        let (applied, unchanged) = carried_out(plan, settled);
        Summary {
            steps: plan
                .namespaces
                .iter()
                .map(|ns| {
                    let step = match ns.step {
                        NamespaceStep::Create(_) => "create",
                        NamespaceStep::Existing => "existing",
                        NamespaceStep::Refused => "refused",
                        NamespaceStep::Terminating => "terminating",
                        NamespaceStep::Gone => "gone",
                    };
                    format!("{}: {step}", ns.name)
                })
                .collect(),
            applied,
            unchanged,
            skipped: settlement
                .skipped
                .iter()
                .map(|s| format!("{} {}: {}", s.kind, s.name, s.reason))
                .collect(),
            conflicts: settlement.conflicts.into_iter().collect(),
            terminating: settlement.terminating,
            namespaces: settlement.namespaces,
            pruned: settlement.prune,
        }
    }

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn table() {
        struct Case {
            what: &'static str,
            rendered: TenantPlan,
            listed: &'static [&'static str],
            refused: &'static [&'static str],
            live: Fake,
            verify: bool,
            served: &'static [(&'static str, &'static str)],
            /// Namespace steps that end otherwise than planned.
            failed: &'static [&'static str],
            want: Summary,
        }
        let ours = |names: &[&str]| -> BTreeMap<String, String> {
            names.iter().map(|n| (n.to_string(), "a".to_string())).collect()
        };
        let anp = object(
            "policy.networking.k8s.io/v1alpha1",
            "AdminNetworkPolicy",
            None,
            "palisade-a",
        );
        let gadget = object("example.com/v1", "Gadget", Some("a-1"), "g");
        let cases = vec![
            Case {
                what: "another tenant's namespace is refused: nothing of it desired or applied, this tenant's old objects there pruned",
                rendered: rendered(&[("a-1", vec![ns_object("a-1"), rb("a-1", "x")])], vec![]),
                listed: &["a-1"],
                refused: &[],
                live: Fake {
                    owners: [("a-1".to_string(), "b".to_string())].into(),
                    current: [key(&rb("a-1", "x"))].into(),
                    managed: vec![key(&rb("a-1", "x")), key(&rb("a-1", "old"))],
                    ..Fake::default()
                },
                verify: false,
                served: &[],
                failed: &[],
                want: Summary {
                    steps: strings(&["a-1: refused"]),
                    conflicts: strings(&["a-1"]),
                    pruned: vec![key(&rb("a-1", "old")), key(&rb("a-1", "x"))],
                    ..Summary::default()
                },
            },
            Case {
                what: "a namespace refused before rendering is a conflict, and what this tenant has there is pruned",
                rendered: rendered(&[], vec![]),
                listed: &["b-1"],
                refused: &["b-1"],
                live: Fake {
                    owners: [("b-1".to_string(), "b".to_string())].into(),
                    managed: vec![key(&rb("b-1", "x"))],
                    ..Fake::default()
                },
                verify: false,
                served: &[],
                failed: &[],
                want: Summary {
                    conflicts: strings(&["b-1"]),
                    pruned: vec![key(&rb("b-1", "x"))],
                    ..Summary::default()
                },
            },
            Case {
                what: "a terminating namespace: nothing applied or pruned in it",
                rendered: rendered(&[("a-1", vec![ns_object("a-1"), rb("a-1", "x")])], vec![]),
                listed: &["a-1"],
                refused: &[],
                live: Fake {
                    owners: ours(&["a-1"]),
                    terminating: ["a-1".to_string()].into(),
                    managed: vec![key(&ns_object("a-1")), key(&rb("a-1", "x")), key(&rb("a-1", "old"))],
                    ..Fake::default()
                },
                verify: false,
                served: &[],
                failed: &[],
                want: Summary {
                    steps: strings(&["a-1: terminating"]),
                    terminating: strings(&["a-1"]),
                    ..Summary::default()
                },
            },
            Case {
                what: "neither labelled nor listed: gone, nothing desired in it",
                rendered: rendered(&[("a-1", vec![ns_object("a-1"), rb("a-1", "x")])], vec![]),
                listed: &[],
                refused: &[],
                live: Fake {
                    managed: vec![key(&rb("a-1", "x"))],
                    ..Fake::default()
                },
                verify: false,
                served: &[],
                failed: &[],
                want: Summary {
                    steps: strings(&["a-1: gone"]),
                    pruned: vec![key(&rb("a-1", "x"))],
                    ..Summary::default()
                },
            },
            Case {
                what: "listed and absent: created, then everything in it applied",
                rendered: rendered(&[("a-1", vec![ns_object("a-1"), rb("a-1", "x")])], vec![]),
                listed: &["a-1"],
                refused: &[],
                live: Fake::default(),
                verify: false,
                served: &[],
                failed: &[],
                want: Summary {
                    steps: strings(&["a-1: create"]),
                    applied: vec![key(&ns_object("a-1")), key(&rb("a-1", "x"))],
                    namespaces: strings(&["a-1"]),
                    ..Summary::default()
                },
            },
            Case {
                what: "labelled by an owner, not listed: written into, never created",
                rendered: rendered(&[("a-own", vec![ns_object("a-own"), rb("a-own", "x")])], vec![]),
                listed: &[],
                refused: &[],
                live: Fake {
                    owners: ours(&["a-own"]),
                    ..Fake::default()
                },
                verify: false,
                served: &[],
                failed: &[],
                want: Summary {
                    steps: strings(&["a-own: existing"]),
                    applied: vec![key(&ns_object("a-own")), key(&rb("a-own", "x"))],
                    namespaces: strings(&["a-own"]),
                    ..Summary::default()
                },
            },
            Case {
                what: "a kind the cluster does not serve is skipped, and one it serves is not",
                rendered: rendered(&[], vec![anp.clone()]),
                listed: &[],
                refused: &[],
                live: Fake::default(),
                verify: false,
                served: &[],
                failed: &[],
                want: Summary {
                    skipped: strings(&[
                        "AdminNetworkPolicy palisade-a: the cluster does not serve policy.networking.k8s.io/v1alpha1 AdminNetworkPolicy",
                    ]),
                    ..Summary::default()
                },
            },
            Case {
                what: "a served optional kind is applied",
                rendered: rendered(&[], vec![anp.clone()]),
                listed: &[],
                refused: &[],
                live: Fake::default(),
                verify: false,
                served: &[("policy.networking.k8s.io/v1alpha1", "AdminNetworkPolicy")],
                failed: &[],
                want: Summary {
                    applied: vec![key(&anp)],
                    ..Summary::default()
                },
            },
            Case {
                what: "a kind Palisade does not know is skipped",
                rendered: rendered(&[("a-1", vec![ns_object("a-1"), gadget.clone()])], vec![]),
                listed: &[],
                refused: &[],
                live: Fake {
                    owners: ours(&["a-1"]),
                    current: [key(&ns_object("a-1"))].into(),
                    ..Fake::default()
                },
                verify: false,
                served: &[],
                failed: &[],
                want: Summary {
                    steps: strings(&["a-1: existing"]),
                    unchanged: vec![key(&ns_object("a-1"))],
                    skipped: strings(&["Gadget g: Palisade does not know how to apply this kind"]),
                    namespaces: strings(&["a-1"]),
                    ..Summary::default()
                },
            },
            Case {
                what: "fingerprint or claim match: unchanged",
                rendered: rendered(
                    &[("a-1", vec![ns_object("a-1"), rb("a-1", "x"), rb("a-1", "y")])],
                    vec![],
                ),
                listed: &["a-1"],
                refused: &[],
                live: Fake {
                    owners: ours(&["a-1"]),
                    current: [key(&ns_object("a-1")), key(&rb("a-1", "x"))].into(),
                    claimed: [key(&rb("a-1", "y"))].into(),
                    managed: vec![key(&ns_object("a-1")), key(&rb("a-1", "x")), key(&rb("a-1", "y"))],
                    ..Fake::default()
                },
                verify: false,
                served: &[],
                failed: &[],
                want: Summary {
                    steps: strings(&["a-1: existing"]),
                    unchanged: vec![key(&ns_object("a-1")), key(&rb("a-1", "x")), key(&rb("a-1", "y"))],
                    namespaces: strings(&["a-1"]),
                    ..Summary::default()
                },
            },
            Case {
                what: "verify mode distrusts claims: applied",
                rendered: rendered(
                    &[("a-1", vec![ns_object("a-1"), rb("a-1", "x"), rb("a-1", "y")])],
                    vec![],
                ),
                listed: &["a-1"],
                refused: &[],
                live: Fake {
                    owners: ours(&["a-1"]),
                    current: [key(&ns_object("a-1")), key(&rb("a-1", "x"))].into(),
                    claimed: [key(&rb("a-1", "y"))].into(),
                    ..Fake::default()
                },
                verify: true,
                served: &[],
                failed: &[],
                want: Summary {
                    steps: strings(&["a-1: existing"]),
                    applied: vec![key(&rb("a-1", "y"))],
                    unchanged: vec![key(&ns_object("a-1")), key(&rb("a-1", "x"))],
                    namespaces: strings(&["a-1"]),
                    ..Summary::default()
                },
            },
            Case {
                what: "an object no longer desired is pruned; namespaces never are",
                rendered: rendered(&[("a-1", vec![ns_object("a-1"), rb("a-1", "x")])], vec![]),
                listed: &["a-1"],
                refused: &[],
                live: Fake {
                    owners: ours(&["a-1", "a-2"]),
                    current: [key(&ns_object("a-1")), key(&rb("a-1", "x"))].into(),
                    managed: vec![
                        key(&ns_object("a-1")),
                        key(&ns_object("a-old")),
                        key(&rb("a-1", "x")),
                        key(&rb("a-1", "old")),
                        key(&anp),
                    ],
                    ..Fake::default()
                },
                verify: false,
                served: &[],
                failed: &[],
                want: Summary {
                    steps: strings(&["a-1: existing"]),
                    unchanged: vec![key(&ns_object("a-1")), key(&rb("a-1", "x"))],
                    namespaces: strings(&["a-1"]),
                    pruned: vec![key(&anp), key(&rb("a-1", "old"))],
                    ..Summary::default()
                },
            },
            Case {
                what: "a namespace whose own apply failed: nothing else applied in it, nothing pruned there",
                rendered: rendered(
                    &[
                        ("a-1", vec![ns_object("a-1"), rb("a-1", "x")]),
                        ("a-2", vec![ns_object("a-2"), rb("a-2", "x")]),
                    ],
                    vec![],
                ),
                listed: &["a-1", "a-2"],
                refused: &[],
                live: Fake {
                    owners: ours(&["a-1", "a-2"]),
                    managed: vec![key(&rb("a-1", "old")), key(&rb("a-2", "old"))],
                    ..Fake::default()
                },
                verify: false,
                served: &[],
                failed: &["a-1"],
                want: Summary {
                    steps: strings(&["a-1: existing", "a-2: existing"]),
                    applied: vec![key(&ns_object("a-1")), key(&ns_object("a-2")), key(&rb("a-2", "x"))],
                    namespaces: strings(&["a-2"]),
                    pruned: vec![key(&rb("a-2", "old"))],
                    ..Summary::default()
                },
            },
            Case {
                what: "a namespace whose create failed: same",
                rendered: rendered(&[("a-1", vec![ns_object("a-1"), rb("a-1", "x")])], vec![]),
                listed: &["a-1"],
                refused: &[],
                live: Fake {
                    managed: vec![key(&rb("a-1", "old"))],
                    ..Fake::default()
                },
                verify: false,
                served: &[],
                failed: &["a-1"],
                want: Summary {
                    steps: strings(&["a-1: create"]),
                    applied: vec![key(&ns_object("a-1"))],
                    ..Summary::default()
                },
            },
        ];
        for case in cases {
            let listed: BTreeSet<String> = case.listed.iter().map(|s| s.to_string()).collect();
            let refused: BTreeSet<String> = case.refused.iter().map(|s| s.to_string()).collect();
            let owner = owner();
            let desired = Desired {
                tenant: "a",
                rendered: &case.rendered,
                listed: &listed,
                refused: &refused,
                owner: &owner,
                verify: case.verify,
            };
            let plan = plan(&desired, &case.live, &discovered(case.served));
            let mut settled = plan.as_planned();
            for ns in case.failed {
                settled.insert(
                    ns.to_string(),
                    Settled::Failed(format!("applying Namespace {ns}: boom")),
                );
            }
            assert_eq!(summary(&plan, &settled), case.want, "{}", case.what);
        }
    }

    #[test]
    fn a_namespace_found_another_tenants_when_created_is_refused_and_pruned() {
        // The cache had not seen the label yet; the create's 409 and read showed it.
        let rendered = rendered(&[("a-1", vec![ns_object("a-1"), rb("a-1", "x")])], vec![]);
        let listed: BTreeSet<String> = ["a-1".to_string()].into();
        let live = Fake {
            managed: vec![key(&rb("a-1", "x"))],
            ..Fake::default()
        };
        let owner = owner();
        let desired = Desired {
            tenant: "a",
            rendered: &rendered,
            listed: &listed,
            refused: &BTreeSet::new(),
            owner: &owner,
            verify: false,
        };
        let plan = plan(&desired, &live, &discovered(&[]));
        let settled: BTreeMap<String, Settled> = [("a-1".to_string(), Settled::Refused)].into();
        let settlement = plan.settle(&settled);
        assert_eq!(settlement.conflicts, ["a-1".to_string()].into());
        assert_eq!(settlement.prune, vec![key(&rb("a-1", "x"))]);
        assert!(plan.namespaces[0].after(&Settled::Refused).is_empty());
        // A namespace the executor never reported on is held, not pruned.
        assert_eq!(plan.settle(&BTreeMap::new()).prune, Vec::<ObjectKey>::new());
    }

    #[test]
    fn the_cache_gives_the_prune_only_what_palisade_manages_for_the_tenant() {
        use crate::cache::Seen;
        let seen = |object: &ManagedObject, tenant: Option<&str>, managed: bool| Seen {
            key: key(object),
            tenant: tenant.map(str::to_string),
            managed,
            fingerprint: 1,
            quota_used: None,
            claimed: None,
            terminating: false,
        };
        let mut cache = Cache::default();
        cache.saw(seen(&rb("a-1", "ours"), Some("a"), true));
        cache.saw(seen(&rb("a-1", "users"), Some("a"), false));
        cache.saw(seen(&rb("a-1", "unlabelled"), None, true));
        cache.saw(seen(&rb("b-1", "theirs"), Some("b"), true));
        cache.saw(seen(&ns_object("a-1"), Some("a"), true));
        let mut directory = TenantDirectory::default();
        palisade_view::Index::apply(
            &mut directory,
            palisade_view::NamespaceEntry {
                name: "a-1".into(),
                tenant: Some("a".into()),
                terminating: false,
            },
        );
        let live: &dyn Live = &LiveView {
            directory: &directory,
            cache: &cache,
        };
        let mut managed = live.managed_keys("a");
        managed.sort();
        assert_eq!(managed, vec![key(&rb("a-1", "ours")), key(&ns_object("a-1"))]);
        assert_eq!(live.namespace_owner("a-1"), Some("a"));
        assert!(!live.namespace_terminating("a-1"));
        assert!(live.needs_apply(&key(&rb("a-1", "ours")), 7, true));
    }

    #[test]
    fn applies_carry_the_owner_on_cluster_scoped_objects_and_the_manifest_hash() {
        let rendered = rendered(&[("a-1", vec![ns_object("a-1"), rb("a-1", "x")])], vec![]);
        let listed: BTreeSet<String> = ["a-1".to_string()].into();
        let owner = owner();
        let desired = Desired {
            tenant: "a",
            rendered: &rendered,
            listed: &listed,
            refused: &BTreeSet::new(),
            owner: &owner,
            verify: false,
        };
        let plan = plan(&desired, &Fake::default(), &discovered(&[]));
        let ns = &plan.namespaces[0];
        let NamespaceStep::Create(body) = &ns.step else {
            panic!("{:?}", ns.step);
        };
        assert_eq!(
            body["metadata"]["labels"],
            json!({
                labels::TENANT: "a",
                labels::MANAGED_BY: labels::MANAGED_BY_VALUE,
                "pod-security.kubernetes.io/enforce": "restricted",
            }),
            "a create writes only the labels every tenant namespace has"
        );
        assert_eq!(body["metadata"]["ownerReferences"][0]["uid"], "u-1");
        let Some(ObjectAction::Apply(own)) = &ns.own else {
            panic!("{:?}", ns.own);
        };
        assert_eq!(own.manifest["metadata"]["ownerReferences"][0]["uid"], "u-1");
        let ObjectAction::Apply(binding) = &ns.objects[0] else {
            panic!("{:?}", ns.objects[0]);
        };
        assert!(binding.manifest["metadata"].get("ownerReferences").is_none());
        assert_eq!(binding.hash, manifest_hash(&rb("a-1", "x").manifest));
        assert_eq!(
            binding.manifest["metadata"]["annotations"][labels::APPLIED_HASH],
            format!("{:016x}", binding.hash)
        );
    }
}
