//! What the watches have seen, kept small: for each managed object a fingerprint of its live
//! state, never the object itself (who holds which namespace is the tenant directory's, in
//! `palisade-view`). Pure: the watch tasks feed it, the reconciler reads it, and nothing here talks to the API server.
//!
//! Reconciles read this instead of listing the cluster: with 1,000 tenants a list per kind per
//! reconcile is a request storm that grows with the square of the cluster. An apply is skipped
//! when the live object still has the fingerprint it had right after Palisade last applied the
//! same manifest; any edit by anyone changes the fingerprint, so drift is re-applied.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;

use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use crate::diff::ObjectKey;
use crate::kinds::MANAGED_KINDS;
use palisade_tenancy::quantity::{self, Amount};

/// One object as a watch reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct Seen {
    pub key: ObjectKey,
    /// The `palisade.dev/tenant` label.
    pub tenant: Option<String>,
    /// Whether it carries `app.kubernetes.io/managed-by: palisade`.
    pub managed: bool,
    /// Changes whenever the parts of the object Palisade cares about change.
    pub fingerprint: u64,
    /// `status.used` of a ResourceQuota.
    pub quota_used: Option<BTreeMap<String, Quantity>>,
    /// The manifest hash in its `palisade.dev/applied` annotation, when its managedFields show
    /// that nobody but Palisade wrote it since.
    pub claimed: Option<u64>,
    /// Whether it is being deleted (has a deletionTimestamp); kept for namespaces only.
    pub terminating: bool,
}

/// The hash of a manifest, written into the objects (so it must not change between processes
/// or Rust versions): FNV-1a over its JSON.
pub fn manifest_hash(manifest: &serde_json::Value) -> u64 {
    let text = manifest.to_string();
    text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Hash of anything serializable; stable within one process, which is all the cache needs.
pub fn fingerprint_of(parts: &impl serde::Serialize) -> u64 {
    let mut hasher = DefaultHasher::new();
    serde_json::to_string(parts).unwrap_or_default().hash(&mut hasher);
    hasher.finish()
}

/// An object's identity, kept small: 40,000 of them make most of the controller's memory.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct Slot {
    /// Position in [`MANAGED_KINDS`].
    kind: u8,
    namespace: Option<Box<str>>,
    name: Box<str>,
}

impl Slot {
    fn of(key: &ObjectKey) -> Option<Slot> {
        Some(Slot {
            kind: kind_index(&key.api_version, &key.kind)?,
            namespace: key.namespace.as_deref().map(Box::from),
            name: Box::from(key.name.as_str()),
        })
    }

    fn key(&self) -> ObjectKey {
        let kind = &MANAGED_KINDS[usize::from(self.kind)];
        ObjectKey::new(kind.api_version, kind.kind, self.namespace.as_deref(), &self.name)
    }

    fn is(&self, api_version: &str, kind: &str) -> bool {
        let own = &MANAGED_KINDS[usize::from(self.kind)];
        own.api_version == api_version && own.kind == kind
    }
}

#[derive(Debug, Clone)]
struct Entry {
    tenant: Arc<str>,
    fingerprint: u64,
    claimed: Option<u64>,
    /// `(manifest hash, fingerprint right after the apply)` of Palisade's last apply.
    applied: Option<(u64, u64)>,
    quota_used: Option<BTreeMap<String, Quantity>>,
    /// The generation of the last list that held it.
    listed_in: u32,
}

/// The managed objects the watches have reported.
#[derive(Debug, Default)]
pub struct Cache {
    objects: HashMap<Arc<Slot>, Entry>,
    by_tenant: HashMap<Arc<str>, BTreeSet<Arc<Slot>>>,
    /// The lists in progress, by position in [`MANAGED_KINDS`]. Listed objects go straight into
    /// the cache, marked with the list's generation, instead of into a buffer: a buffer of
    /// 20,000 NetworkPolicies would be the controller's peak memory after a restart.
    relisting: HashMap<u8, Relist>,
    generation: u32,
}

#[derive(Debug, Default)]
struct Relist {
    generation: u32,
    woken: BTreeSet<String>,
}

fn kind_index(api_version: &str, kind: &str) -> Option<u8> {
    let index = MANAGED_KINDS
        .iter()
        .position(|k| k.api_version == api_version && k.kind == kind)?;
    u8::try_from(index).ok()
}

impl Cache {
    /// A watch reported `seen` created or changed; returns the tenants to reconcile.
    pub fn saw(&mut self, seen: Seen) -> BTreeSet<String> {
        let mut woken = BTreeSet::new();
        let Some(slot) = Slot::of(&seen.key) else {
            return woken;
        };
        let (Some(tenant), true) = (seen.tenant, seen.managed) else {
            // No longer Palisade's (a label was removed): forget it, wake its old tenant.
            woken.extend(self.forget(&slot));
            return woken;
        };
        let quota_used = seen.quota_used;
        let applied = match self.objects.get(&slot) {
            Some(entry) if *entry.tenant == *tenant && entry.fingerprint == seen.fingerprint => {
                if entry.quota_used == quota_used && entry.claimed == seen.claimed {
                    return woken;
                }
                entry.applied
            }
            Some(entry) if *entry.tenant == *tenant => entry.applied,
            _ => None,
        };
        woken.extend(self.forget(&slot));
        self.insert(
            slot,
            &tenant,
            Entry {
                tenant: Arc::from(""),
                fingerprint: seen.fingerprint,
                claimed: seen.claimed,
                applied,
                quota_used,
                listed_in: 0,
            },
        );
        woken.insert(tenant);
        woken
    }

    /// Stores `entry` for `slot` under `tenant`, sharing one copy of the tenant's name.
    fn insert(&mut self, slot: Slot, tenant: &str, mut entry: Entry) {
        let slot = Arc::new(slot);
        let name = match self.by_tenant.get_key_value(tenant) {
            Some((name, _)) => name.clone(),
            None => Arc::from(tenant),
        };
        self.by_tenant.entry(name.clone()).or_default().insert(slot.clone());
        entry.tenant = name;
        // Written while its kind is being listed: the list may predate it, but it exists.
        entry.listed_in = self.relisting.get(&slot.kind).map_or(0, |r| r.generation);
        self.objects.insert(slot, entry);
    }

    /// A watch reported `key` deleted; returns the tenants to reconcile.
    pub fn deleted(&mut self, key: &ObjectKey) -> BTreeSet<String> {
        Slot::of(key).and_then(|slot| self.forget(&slot)).into_iter().collect()
    }

    /// A watch of `(api_version, kind)` (re)starts listing.
    pub fn relist_started(&mut self, api_version: &str, kind: &str) {
        let Some(index) = kind_index(api_version, kind) else {
            return;
        };
        self.generation = self.generation.wrapping_add(1).max(1);
        let relist = Relist {
            generation: self.generation,
            ..Relist::default()
        };
        self.relisting.insert(index, relist);
    }

    /// One object of a list in progress.
    pub fn relisted(&mut self, seen: Seen) {
        let Some(slot) = Slot::of(&seen.key) else {
            return;
        };
        let woken = self.saw(seen);
        let Some(relist) = self.relisting.get_mut(&slot.kind) else {
            return;
        };
        relist.woken.extend(woken);
        if let Some(entry) = self.objects.get_mut(&slot) {
            entry.listed_in = relist.generation;
        }
    }

    /// The list of `(api_version, kind)` is complete: what it did not hold is gone. Returns the
    /// tenants whose objects changed.
    pub fn relist_done(&mut self, api_version: &str, kind: &str) -> BTreeSet<String> {
        let Some(relist) = kind_index(api_version, kind).and_then(|index| self.relisting.remove(&index)) else {
            return BTreeSet::new();
        };
        let gone: Vec<ObjectKey> = self
            .objects
            .iter()
            .filter(|(slot, entry)| slot.is(api_version, kind) && entry.listed_in != relist.generation)
            .map(|(slot, _)| slot.key())
            .collect();
        let mut woken = relist.woken;
        for key in &gone {
            woken.extend(self.deleted(key));
        }
        woken
    }

    fn forget(&mut self, slot: &Slot) -> Option<String> {
        let (slot, entry) = self.objects.remove_entry(slot)?;
        if let Some(slots) = self.by_tenant.get_mut(&entry.tenant) {
            slots.remove(&slot);
            if slots.is_empty() {
                self.by_tenant.remove(&entry.tenant);
            }
        }
        Some(entry.tenant.to_string())
    }

    /// Whether `manifest_hash` must be applied to `key`: unless the live object is exactly as
    /// Palisade's last apply of that same manifest left it, or (`trust_claims`) it carries that
    /// manifest's hash and no other writer touched it (what a restarted controller relies on).
    pub fn needs_apply(&self, key: &ObjectKey, manifest_hash: u64, trust_claims: bool) -> bool {
        let Some(slot) = Slot::of(key) else {
            return true;
        };
        self.objects.get(&slot).is_none_or(|entry| {
            entry.applied != Some((manifest_hash, entry.fingerprint))
                && !(trust_claims && entry.claimed == Some(manifest_hash))
        })
    }

    /// Palisade applied `manifest_hash` for `tenant`, and the API server answered with `live`.
    /// The watch will report the same state; recording it now spares a second apply when the
    /// tenant is reconciled before that event arrives.
    pub fn applied(&mut self, tenant: &str, live: Seen, manifest_hash: u64) {
        let Some(slot) = Slot::of(&live.key) else {
            return;
        };
        let quota_used = live
            .quota_used
            .or_else(|| self.objects.get(&slot).and_then(|e| e.quota_used.clone()));
        self.forget(&slot);
        let entry = Entry {
            tenant: Arc::from(""),
            fingerprint: live.fingerprint,
            claimed: live.claimed,
            applied: Some((manifest_hash, live.fingerprint)),
            quota_used,
            listed_in: 0,
        };
        self.insert(slot, tenant, entry);
    }

    /// The managed objects of `tenant`: those filed under it, which carry both labels.
    pub fn managed_keys(&self, tenant: &str) -> Vec<ObjectKey> {
        self.by_tenant
            .get(tenant)
            .into_iter()
            .flatten()
            .map(|slot| slot.key())
            .collect()
    }

    /// Quota usage summed over the managed ResourceQuotas of `tenant` in `namespaces`, and the
    /// quantities that could not be read.
    pub fn quota_used(&self, tenant: &str, namespaces: &[String]) -> (BTreeMap<String, Quantity>, Vec<String>) {
        let mut total: BTreeMap<String, Amount> = BTreeMap::new();
        let mut unreadable = Vec::new();
        for slot in self.by_tenant.get(tenant).into_iter().flatten() {
            let in_tenant = slot
                .namespace
                .as_deref()
                .is_some_and(|ns| namespaces.iter().any(|n| n == ns));
            if !slot.is("v1", "ResourceQuota") || !in_tenant {
                continue;
            }
            if let Some(used) = self.objects.get(slot).and_then(|e| e.quota_used.as_ref()) {
                unreadable.extend(quantity::add_all(&mut total, used));
            }
        }
        (quantity::to_quantities(&total), unreadable)
    }

    /// How many managed objects the cache holds (a metric).
    pub fn len(&self) -> usize {
        self.objects.len()
    }

    pub fn is_empty(&self) -> bool {
        self.objects.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rb(ns: &str, name: &str) -> ObjectKey {
        ObjectKey::new("rbac.authorization.k8s.io/v1", "RoleBinding", Some(ns), name)
    }

    fn seen(key: ObjectKey, tenant: &str, fingerprint: u64) -> Seen {
        Seen {
            key,
            tenant: Some(tenant.to_string()),
            managed: true,
            fingerprint,
            quota_used: None,
            claimed: None,
            terminating: false,
        }
    }

    fn namespace(name: &str, tenant: Option<&str>, managed: bool) -> Seen {
        Seen {
            key: ObjectKey::new("v1", "Namespace", None, name),
            tenant: tenant.map(str::to_string),
            managed,
            fingerprint: 1,
            quota_used: None,
            claimed: None,
            terminating: false,
        }
    }

    fn keys(cache: &Cache, tenant: &str) -> Vec<ObjectKey> {
        let mut keys = cache.managed_keys(tenant);
        keys.sort();
        keys
    }

    fn set(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn an_object_as_palisade_left_it_is_not_applied_again() {
        let mut cache = Cache::default();
        let key = rb("a-1", "owner");
        assert!(cache.needs_apply(&key, 7, true), "unknown objects are applied");
        cache.applied("a", seen(key.clone(), "a", 100), 7);
        assert!(!cache.needs_apply(&key, 7, true));
        assert!(cache.needs_apply(&key, 8, true), "a changed manifest is applied");
        // The watch reports the state the apply produced: still nothing to do.
        assert_eq!(cache.saw(seen(key.clone(), "a", 100)), BTreeSet::new());
        assert!(!cache.needs_apply(&key, 7, true));
    }

    #[test]
    fn an_edit_or_a_deletion_by_anyone_is_applied_again() {
        let mut cache = Cache::default();
        let key = rb("a-1", "owner");
        cache.applied("a", seen(key.clone(), "a", 100), 7);
        assert_eq!(cache.saw(seen(key.clone(), "a", 101)), set(&["a"]));
        assert!(cache.needs_apply(&key, 7, true), "edited");
        cache.applied("a", seen(key.clone(), "a", 102), 7);
        assert_eq!(cache.deleted(&key), set(&["a"]));
        assert!(cache.needs_apply(&key, 7, true), "deleted");
    }

    #[test]
    fn objects_seen_but_never_applied_are_applied_once() {
        // After a restart nothing is recorded: every object gets one apply.
        let mut cache = Cache::default();
        let key = rb("a-1", "owner");
        cache.saw(seen(key.clone(), "a", 100));
        assert!(cache.needs_apply(&key, 7, true));
    }

    #[test]
    fn a_claim_spares_the_apply_after_a_restart_unless_distrusted() {
        let mut cache = Cache::default();
        let key = rb("a-1", "owner");
        cache.saw(Seen {
            claimed: Some(7),
            ..seen(key.clone(), "a", 100)
        });
        assert!(!cache.needs_apply(&key, 7, true));
        assert!(cache.needs_apply(&key, 8, true), "a claim for another manifest");
        assert!(
            cache.needs_apply(&key, 7, false),
            "a periodic verification ignores claims"
        );
        // Someone else wrote it: the watch reports no claim any more.
        cache.saw(seen(key.clone(), "a", 101));
        assert!(cache.needs_apply(&key, 7, true));
    }

    #[test]
    fn manifest_hashes_are_fixed_values() {
        // Written into objects: a change here makes every controller re-apply everything once.
        assert_eq!(manifest_hash(&serde_json::json!({})), 0x08f4_4b07_b590_1a25);
        assert_ne!(
            manifest_hash(&serde_json::json!({"a": 1})),
            manifest_hash(&serde_json::json!({"a": 2}))
        );
    }

    #[test]
    fn unlabelling_or_moving_an_object_wakes_both_tenants() {
        let mut cache = Cache::default();
        let key = rb("a-1", "x");
        cache.saw(seen(key.clone(), "a", 1));
        assert_eq!(cache.saw(seen(key.clone(), "b", 1)), set(&["a", "b"]));
        assert_eq!(keys(&cache, "a"), Vec::<ObjectKey>::new());
        assert_eq!(keys(&cache, "b"), vec![key.clone()]);
        let mut unlabelled = seen(key.clone(), "b", 2);
        unlabelled.managed = false;
        assert_eq!(cache.saw(unlabelled), set(&["b"]));
        assert!(cache.is_empty());
    }

    #[test]
    fn a_relist_replaces_what_the_watch_missed() {
        let mut cache = Cache::default();
        let stays = rb("a-1", "stays");
        let gone = rb("a-1", "gone");
        let np = ObjectKey::new("networking.k8s.io/v1", "NetworkPolicy", Some("a-1"), "deny");
        cache.applied("a", seen(stays.clone(), "a", 1), 7);
        cache.saw(seen(gone.clone(), "a", 1));
        cache.saw(seen(np.clone(), "a", 1));
        cache.relist_started("rbac.authorization.k8s.io/v1", "RoleBinding");
        cache.relisted(seen(stays.clone(), "a", 1));
        let woken = cache.relist_done("rbac.authorization.k8s.io/v1", "RoleBinding");
        assert_eq!(woken, set(&["a"]));
        let mut want = vec![stays.clone(), np];
        want.sort();
        assert_eq!(keys(&cache, "a"), want, "other kinds are untouched");
        assert!(
            !cache.needs_apply(&stays, 7, true),
            "what Palisade applied is remembered across a relist"
        );
    }

    #[test]
    fn an_object_applied_while_its_kind_is_listed_survives_the_list() {
        let mut cache = Cache::default();
        let listed = rb("a-1", "listed");
        let fresh = rb("a-1", "fresh");
        cache.relist_started("rbac.authorization.k8s.io/v1", "RoleBinding");
        cache.relisted(seen(listed.clone(), "a", 1));
        // The list was taken before this apply created the object.
        cache.applied("a", seen(fresh.clone(), "a", 2), 7);
        cache.relist_done("rbac.authorization.k8s.io/v1", "RoleBinding");
        assert_eq!(keys(&cache, "a"), vec![fresh.clone(), listed]);
        assert!(!cache.needs_apply(&fresh, 7, true));
        // The next list that lacks it removes it.
        cache.relist_started("rbac.authorization.k8s.io/v1", "RoleBinding");
        assert_eq!(
            cache.relist_done("rbac.authorization.k8s.io/v1", "RoleBinding"),
            set(&["a"])
        );
        assert!(cache.is_empty());
    }

    #[test]
    fn only_a_namespace_palisade_manages_is_a_managed_object() {
        // Who holds a namespace is the tenant directory's (palisade-view); the cache keeps only
        // the fingerprints of the namespaces Palisade applied.
        let mut cache = Cache::default();
        cache.saw(namespace("a-1", Some("a"), true));
        cache.saw(namespace("adopted", Some("a"), false));
        assert_eq!(keys(&cache, "a").len(), 1);
        cache.relist_started("v1", "Namespace");
        assert_eq!(cache.relist_done("v1", "Namespace"), set(&["a"]));
        assert!(cache.is_empty());
    }

    #[test]
    fn quota_usage_sums_the_tenants_quotas_in_its_namespaces() {
        let mut cache = Cache::default();
        let quota = |ns: &str, tenant: &str, cpu: &str| Seen {
            quota_used: Some([("requests.cpu".to_string(), Quantity(cpu.to_string()))].into()),
            ..seen(ObjectKey::new("v1", "ResourceQuota", Some(ns), "quota"), tenant, 1)
        };
        cache.saw(quota("a-1", "a", "500m"));
        cache.saw(quota("a-2", "a", "1"));
        cache.saw(quota("a-3", "a", "2"));
        cache.saw(quota("b-1", "b", "4"));
        let (used, unreadable) = cache.quota_used("a", &["a-1".to_string(), "a-2".to_string()]);
        assert_eq!(used.get("requests.cpu"), Some(&Quantity("1500m".to_string())));
        assert!(unreadable.is_empty());
        // A usage change alone, same spec, still wakes the tenant (its status shows usage).
        assert_eq!(cache.saw(quota("a-1", "a", "600m")), set(&["a"]));
    }

    #[test]
    fn fingerprints_differ_when_content_differs() {
        assert_eq!(fingerprint_of(&("1", "x")), fingerprint_of(&("1", "x")));
        assert_ne!(fingerprint_of(&("1", "x")), fingerprint_of(&("2", "x")));
    }
}
