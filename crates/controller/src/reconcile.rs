//! One tenant's reconcile: render, apply what the live objects lack, prune what is no longer
//! desired, write the status. It reads the watch-fed [`Cache`](crate::cache::Cache) and never
//! lists the cluster, so a tenant already as desired costs no request at all.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{DeleteParams, DynamicObject, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType, Recorder};
use kube::runtime::reflector::Store;
use kube::{Api, Client, Resource, ResourceExt};
use palisade_api::{Tenant, labels};
use palisade_tenancy::render::Skipped;
use palisade_tenancy::{ManagedObject, TenantIndex, render_tenant};
use serde_json::json;

use crate::Error;
use crate::cache::manifest_hash;
use crate::diff::{ObjectKey, to_prune};
use crate::discovery::Discovered;
use crate::kinds::{ManagedKind, lookup};
use crate::metrics::{Metrics, ResultLabels, TenantLabels};
use crate::status::{Outcome, tenant_status};
use crate::watch::{Shared, seen};

/// The field manager of everything Palisade applies.
pub const FIELD_MANAGER: &str = "palisade";

/// Retries of a failing tenant start here and double up to [`MAX_RETRY`].
const FIRST_RETRY: Duration = Duration::from_secs(1);
const MAX_RETRY: Duration = Duration::from_secs(300);

/// Everything a reconcile reads.
pub struct Context {
    pub client: Client,
    pub resync: Duration,
    /// Every tenant's objects are applied without trusting the cache this often (see
    /// [`Context::due_for_verification`]).
    pub verify_interval: Duration,
    /// When each tenant was last verified (first seen, after a start).
    pub verified: Mutex<HashMap<String, Instant>>,
    pub tenants: Store<Tenant>,
    pub shared: Arc<Shared>,
    pub discovered: RwLock<Arc<Discovered>>,
    pub metrics: Arc<Metrics>,
    pub recorder: Recorder,
    /// Consecutive failures per tenant, for the retry backoff.
    pub failures: Mutex<HashMap<String, u32>>,
}

impl Context {
    pub fn discovered(&self) -> Arc<Discovered> {
        self.discovered
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Whether this reconcile of `tenant` applies every object, trusting neither fingerprints nor
    /// annotations. Watches see every edit while the controller runs, and annotations cover a
    /// restart, except an edit that only removed fields Palisade set while no replica ran: that
    /// leaves no other writer in managedFields. This bounds how long such drift can last,
    /// without re-applying everything at every start (a start only sets the clock).
    fn due_for_verification(&self, tenant: &str) -> bool {
        let mut verified = self.verified.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        match verified.get_mut(tenant) {
            None => {
                verified.insert(tenant.to_string(), Instant::now());
                false
            }
            Some(at) if at.elapsed() >= self.verify_interval => {
                *at = Instant::now();
                true
            }
            Some(_) => false,
        }
    }

    /// Every tenant with its namespaces: `spec.namespaces.names` plus the namespaces labelled
    /// with the tenant. The status' list is left out, so a namespace that leaves both is gone.
    fn index(&self) -> TenantIndex {
        let tenants = self.tenants.state();
        let mut index = TenantIndex::from_specs(tenants.iter().map(AsRef::as_ref));
        for (namespace, tenant) in self.shared.cache().labelled_namespaces() {
            index.add_namespace(tenant, namespace);
        }
        index
    }
}

fn owner_reference(tenant: &Tenant, uid: &str) -> OwnerReference {
    OwnerReference {
        api_version: Tenant::api_version(&()).to_string(),
        kind: Tenant::kind(&()).to_string(),
        name: tenant.name_any(),
        uid: uid.to_string(),
        controller: Some(true),
        // As the webhook sets it on namespaces tenant owners create: equal references let the
        // apply leave an adopted namespace's references alone. blockOwnerDeletion would need
        // `update tenants/finalizers` from every owner, and `delete namespaces` from Palisade
        // where OwnerReferencesPermissionEnforcement is on.
        block_owner_deletion: None,
    }
}

pub fn api_for(client: &Client, kind: &ManagedKind, namespace: Option<&str>) -> Api<DynamicObject> {
    let resource = kind.api_resource();
    match namespace {
        Some(ns) if kind.namespaced => Api::namespaced_with(client.clone(), ns, &resource),
        _ => Api::all_with(client.clone(), &resource),
    }
}

pub async fn reconcile(tenant: Arc<Tenant>, ctx: Arc<Context>) -> Result<Action, Error> {
    let started = Instant::now();
    let result = reconcile_tenant(&tenant, &ctx).await;
    ctx.metrics.reconcile_seconds.observe(started.elapsed().as_secs_f64());
    let label = ResultLabels {
        result: if result.is_ok() { "ok" } else { "error" }.to_string(),
    };
    ctx.metrics.reconciles.get_or_create(&label).inc();
    if result.is_ok() {
        ctx.failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&tenant.name_any());
    }
    result
}

async fn reconcile_tenant(tenant: &Tenant, ctx: &Context) -> Result<Action, Error> {
    let started = Instant::now();
    let name = tenant.name_any();
    let Some(uid) = tenant.uid() else {
        return Err(Error::Invalid {
            tenant: name,
            problem: "it has no metadata.uid (not read from the API server?)".into(),
        });
    };
    if tenant.metadata.deletion_timestamp.is_some() {
        // The garbage collector removes what the Tenant owns.
        return Ok(Action::await_change());
    }
    let verify = ctx.due_for_verification(&name);
    let discovered = ctx.discovered();
    let index = ctx.index();
    let plan = render_tenant(tenant, &index, &discovered.facts);
    let owner = owner_reference(tenant, &uid);

    let mut outcome = Outcome {
        namespaces: index.namespaces_of(&name),
        skipped: plan.all_skipped().cloned().collect(),
        ..Outcome::default()
    };
    let mut desired = BTreeSet::new();
    let mut refused_namespaces = BTreeSet::new();
    let params = PatchParams::apply(FIELD_MANAGER).force();
    for object in plan.all_objects() {
        let Some(kind) = lookup(&object.api_version, &object.kind) else {
            outcome
                .skipped
                .push(skipped(object, "Palisade does not know how to apply this kind"));
            continue;
        };
        if !discovered.serves(kind) {
            outcome.skipped.push(skipped(
                object,
                &format!("the cluster does not serve {} {}", object.api_version, object.kind),
            ));
            continue;
        }
        let key = ObjectKey::of(object);
        desired.insert(key.clone());
        // A namespace bound to another tenant is never taken over.
        let namespace = if kind.kind == "Namespace" {
            Some(object.name.as_str())
        } else {
            object.namespace.as_deref()
        };
        if let Some(ns) = namespace {
            if refused_namespaces.contains(ns) {
                continue;
            }
            let other = ctx.shared.cache().namespace_tenant(ns).map(str::to_string);
            if let Some(other) = other.filter(|other| *other != name) {
                outcome.failures.push(format!(
                    "namespace {ns} belongs to tenant {other}; nothing applied in it"
                ));
                refused_namespaces.insert(ns.to_string());
                continue;
            }
        }
        let mut manifest = object.manifest.clone();
        if !kind.namespaced {
            manifest["metadata"]["ownerReferences"] = json!([owner]);
        }
        let manifest_hash = manifest_hash(&manifest);
        if !ctx.shared.cache().needs_apply(&key, manifest_hash, !verify) {
            outcome.unchanged += 1;
            continue;
        }
        manifest["metadata"]["annotations"][labels::APPLIED_HASH] = json!(format!("{manifest_hash:016x}"));
        let api = api_for(&ctx.client, kind, object.namespace.as_deref());
        tracing::debug!(tenant = %name, object = %object.describe(), "step: apply");
        match api.patch(&object.name, &params, &Patch::Apply(&manifest)).await {
            Ok(live) => {
                let live = seen(kind, &live.metadata, Some(&live.data));
                ctx.shared.cache().applied(&name, live, manifest_hash);
                outcome.applied += 1;
            }
            Err(error) => {
                let error = crate::describe(&error);
                tracing::warn!(tenant = %name, object = %object.describe(), %error, "apply failed");
                outcome
                    .failures
                    .push(format!("applying {}: {error}", object.describe()));
            }
        }
    }
    ctx.metrics.objects_applied.inc_by(outcome.applied as u64);

    // A namespace refused (bound to another tenant) is not this tenant's.
    outcome.namespaces.retain(|ns| !refused_namespaces.contains(ns));
    let observed = ctx.shared.cache().observed(&name);
    let mut pruned = 0;
    for key in to_prune(&name, &desired, &observed) {
        tracing::debug!(tenant = %name, object = %key, "step: prune");
        let Some(kind) = lookup(&key.api_version, &key.kind) else {
            continue;
        };
        match api_for(&ctx.client, kind, key.namespace.as_deref())
            .delete(&key.name, &DeleteParams::default())
            .await
        {
            Ok(_) => pruned += 1,
            Err(kube::Error::Api(status)) if status.code == 404 => {}
            Err(source) => {
                let error = crate::chain(&Error::Prune {
                    tenant: name.clone(),
                    object: key.to_string(),
                    source,
                });
                tracing::warn!(%error);
                outcome.failures.push(error);
                continue;
            }
        }
        // Forgotten now, so a reconcile before the watch reports it does not delete it twice.
        ctx.shared.cache().deleted(key);
    }
    ctx.metrics.objects_pruned.inc_by(pruned);

    let (quota_used, unreadable) = ctx.shared.cache().quota_used(&name, &outcome.namespaces);
    if !unreadable.is_empty() {
        tracing::warn!(tenant = %name, ?unreadable, "unreadable quota usage left out of the sum");
    }
    outcome.quota_used = quota_used;
    ctx.metrics
        .tenant_namespaces
        .get_or_create(&TenantLabels { tenant: name.clone() })
        .set(outcome.namespaces.len() as i64);

    let now = k8s_openapi::jiff::Timestamp::now()
        .round(k8s_openapi::jiff::Unit::Second)
        .map_or_else(|_| k8s_openapi::jiff::Timestamp::now().to_string(), |t| t.to_string());
    let status = tenant_status(tenant, &outcome, &now);
    let status_changed = tenant.status.as_ref() != Some(&status);
    if status_changed {
        let patch = json!({
            "apiVersion": Tenant::api_version(&()),
            "kind": Tenant::kind(&()),
            "status": status,
        });
        Api::<Tenant>::all(ctx.client.clone())
            .patch_status(&name, &params, &Patch::Apply(&patch))
            .await
            .map_err(|source| Error::Status {
                tenant: name.clone(),
                source,
            })?;
    }
    publish_event(ctx, tenant, &outcome, pruned);
    tracing::info!(
        tenant = %name,
        namespaces = outcome.namespaces.len(),
        applied = outcome.applied,
        unchanged = outcome.unchanged,
        pruned,
        skipped = outcome.skipped.len(),
        failed = outcome.failures.len(),
        status_changed,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "reconciled"
    );
    match outcome.failures.first() {
        Some(first) => Err(Error::Apply {
            tenant: name,
            failed: outcome.failures.len(),
            first: first.clone(),
        }),
        None => Ok(Action::requeue(ctx.resync)),
    }
}

/// An Event on the Tenant when a reconcile changed something or failed; nothing when all was
/// already as desired, so a resync does not flood the namespace with Events.
fn publish_event(ctx: &Context, tenant: &Tenant, outcome: &Outcome, pruned: u64) {
    let event = if let Some(first) = outcome.failures.first() {
        Event {
            type_: EventType::Warning,
            reason: "ApplyFailed".into(),
            note: Some(truncate(&format!(
                "{} step(s) failed; first: {first}",
                outcome.failures.len()
            ))),
            action: "Reconcile".into(),
            secondary: None,
        }
    } else if outcome.applied > 0 || pruned > 0 {
        Event {
            type_: EventType::Normal,
            reason: "Reconciled".into(),
            note: Some(format!(
                "applied {} and pruned {pruned} object(s) across {} namespace(s)",
                outcome.applied,
                outcome.namespaces.len()
            )),
            action: "Reconcile".into(),
            secondary: None,
        }
    } else {
        return;
    };
    let recorder = ctx.recorder.clone();
    let reference = tenant.object_ref(&());
    // Events are best effort: a reconcile never waits for, or fails on, its Event.
    tokio::spawn(async move {
        if let Err(error) = recorder.publish(&event, &reference).await {
            tracing::debug!(%error, "publishing an Event failed");
        }
    });
}

/// Event notes are limited to 1 KiB by the API server.
fn truncate(note: &str) -> String {
    const LIMIT: usize = 1000;
    if note.len() <= LIMIT {
        return note.to_string();
    }
    let mut end = LIMIT;
    while !note.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &note[..end])
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

/// Retries a failed tenant after 1 s, 2 s, 4 s, ... up to 5 minutes.
pub fn error_policy(tenant: Arc<Tenant>, error: &Error, ctx: Arc<Context>) -> Action {
    let name = tenant.name_any();
    let failures = {
        let mut failures = ctx.failures.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let count = failures.entry(name.clone()).or_insert(0);
        *count = count.saturating_add(1);
        *count
    };
    let delay = retry_delay(failures);
    let error = crate::chain(error);
    tracing::warn!(tenant = %name, %error, failures, "reconcile failed; retrying in {delay:?}");
    Action::requeue(delay)
}

fn retry_delay(failures: u32) -> Duration {
    let doublings = failures.saturating_sub(1).min(16);
    FIRST_RETRY.saturating_mul(1 << doublings).min(MAX_RETRY)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_exponentially_up_to_five_minutes() {
        let delays: Vec<u64> = [1, 2, 3, 4, 9, 10, 100]
            .iter()
            .map(|&n| retry_delay(n).as_secs())
            .collect();
        assert_eq!(delays, vec![1, 2, 4, 8, 256, 300, 300]);
    }

    #[test]
    fn long_event_notes_are_cut_on_a_character_boundary() {
        let note = "é".repeat(800);
        let cut = truncate(&note);
        assert!(cut.len() <= 1004, "{}", cut.len());
        assert!(cut.ends_with('…'));
        assert_eq!(truncate("short"), "short");
    }
}
