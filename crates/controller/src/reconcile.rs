//! One tenant's reconcile: render, apply what the live objects lack, prune what is no longer
//! desired, write the status. It reads the watch-fed [`Cache`](crate::cache::Cache) and never
//! lists the cluster, so a tenant already as desired costs no request at all.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{DeleteParams, DynamicObject, Patch, PatchParams, PostParams};
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

    /// Every tenant with its namespaces, each namespace given to one tenant at most (its
    /// label, else the oldest Tenant listing it: see [`TenantIndex::resolve`]), and the
    /// namespaces each tenant lists but may not have. The status' list is left out, so a
    /// namespace that leaves both the spec and the cluster is gone.
    fn index(&self) -> (TenantIndex, BTreeMap<String, BTreeSet<String>>) {
        let tenants = self.tenants.state();
        let cache = self.shared.cache();
        TenantIndex::resolve(tenants.iter().map(AsRef::as_ref), cache.labelled_namespaces())
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
    let params = PatchParams::apply(FIELD_MANAGER).force();
    // An invalid Tenant is not applied at all (nor pruned): what it had stays as it was, and the
    // status says what to fix. The webhook refuses most of these, but not while it is down.
    let invalid = palisade_tenancy::validate(tenant);
    if !invalid.is_empty() {
        let outcome = Outcome {
            namespaces: ctx.shared.cache().namespaces_of(&name),
            invalid: invalid.iter().map(ToString::to_string).collect(),
            ..Outcome::default()
        };
        let outcome = Outcome {
            foreign_policies: ctx.shared.foreign().of(&name, &outcome.namespaces),
            ..outcome
        };
        write_status(ctx, tenant, &outcome, &params).await?;
        tracing::warn!(tenant = %name, errors = ?outcome.invalid, "invalid Tenant: nothing applied");
        return Ok(Action::await_change());
    }
    let verify = ctx.due_for_verification(&name);
    let discovered = ctx.discovered();
    let (index, refused) = ctx.index();
    let plan = render_tenant(tenant, &index, &discovered.facts);
    let owner = owner_reference(tenant, &uid);
    let listed: BTreeSet<&str> = tenant.spec.namespaces.names.iter().map(String::as_str).collect();

    let mut outcome = Outcome {
        skipped: plan.all_skipped().cloned().collect(),
        conflicts: refused.get(&name).into_iter().flatten().cloned().collect(),
        ..Outcome::default()
    };
    let mut desired = BTreeSet::new();
    let step = Step {
        ctx,
        tenant: &name,
        owner: &owner,
        discovered: &discovered,
        verify,
        params: &params,
    };
    for object in &plan.cluster_objects {
        step.apply(object, None, &mut outcome, &mut desired).await;
    }
    for namespace in &plan.namespaces {
        let ns = namespace.namespace.as_str();
        let Some(ns_object) = namespace
            .objects
            .iter()
            .find(|o| o.kind == "Namespace" && o.api_version == "v1")
        else {
            continue;
        };
        match step.prepare_namespace(ns_object, listed.contains(ns)).await {
            Prepared::Ready(live) => {
                outcome.namespaces.push(ns.to_string());
                for object in &namespace.objects {
                    step.apply(object, live.as_deref(), &mut outcome, &mut desired).await;
                }
            }
            Prepared::Terminating => {
                // Left alone until it is gone: nothing is applied or pruned in it.
                outcome.terminating.push(ns.to_string());
                desired.extend(namespace.objects.iter().map(ObjectKey::of));
            }
            Prepared::Conflict => {
                // Not this tenant's: nothing is applied in it, and what this tenant has there
                // (from before another tenant held it) is pruned, since it is not desired.
                outcome.conflicts.insert(ns.to_string());
            }
            Prepared::Gone => {}
            Prepared::Failed(error) => {
                outcome.failures.push(error);
                desired.extend(namespace.objects.iter().map(ObjectKey::of));
            }
        }
    }
    ctx.metrics.objects_applied.inc_by(outcome.applied as u64);

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
    outcome.foreign_policies = ctx.shared.foreign().of(&name, &outcome.namespaces);
    let previously_limited: Vec<String> = tenant
        .status
        .as_ref()
        .and_then(|s| s.quota_summary.as_deref())
        .map(|summary| {
            summary
                .split(", ")
                .filter_map(|item| item.split_once(' ').map(|(resource, _)| resource.to_string()))
                .collect()
        })
        .unwrap_or_default();
    let tenant_hard = tenant.spec.quota.as_ref().map(|q| q.tenant.clone()).unwrap_or_default();
    ctx.metrics
        .set_tenant_quota(&name, &tenant_hard, &outcome.quota_used, &previously_limited);
    ctx.metrics
        .tenant_namespaces
        .get_or_create(&TenantLabels { tenant: name.clone() })
        .set(outcome.namespaces.len() as i64);

    let status_changed = write_status(ctx, tenant, &outcome, &params).await?;
    publish_event(ctx, tenant, &outcome, pruned);
    tracing::info!(
        tenant = %name,
        namespaces = outcome.namespaces.len(),
        applied = outcome.applied,
        unchanged = outcome.unchanged,
        pruned,
        skipped = outcome.skipped.len(),
        failed = outcome.failures.len(),
        conflicts = outcome.conflicts.len(),
        terminating = outcome.terminating.len(),
        status_changed,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "reconciled"
    );
    if let Some(first) = outcome.failures.first() {
        return Err(Error::Apply {
            tenant: name,
            failed: outcome.failures.len(),
            first: first.clone(),
        });
    }
    Ok(Action::requeue(ctx.resync))
}

/// Writes the status `outcome` calls for, unless the Tenant already has it; returns whether it
/// wrote.
async fn write_status(ctx: &Context, tenant: &Tenant, outcome: &Outcome, params: &PatchParams) -> Result<bool, Error> {
    let name = tenant.name_any();
    let now = k8s_openapi::jiff::Timestamp::now()
        .round(k8s_openapi::jiff::Unit::Second)
        .map_or_else(|_| k8s_openapi::jiff::Timestamp::now().to_string(), |t| t.to_string());
    let status = tenant_status(tenant, outcome, &now);
    if tenant.status.as_ref() == Some(&status) {
        return Ok(false);
    }
    let patch = json!({
        "apiVersion": Tenant::api_version(&()),
        "kind": Tenant::kind(&()),
        "status": status,
    });
    Api::<Tenant>::all(ctx.client.clone())
        .patch_status(&name, params, &Patch::Apply(&patch))
        .await
        .map_err(|source| Error::Status { tenant: name, source })?;
    Ok(true)
}

/// What a reconcile found a namespace of the plan to be.
enum Prepared {
    /// The tenant's, and not being deleted: its objects are applied. Holds the live namespace
    /// when this reconcile read or created it.
    Ready(Option<Box<DynamicObject>>),
    /// Being deleted.
    Terminating,
    /// Bound to another tenant, or listed first by another Tenant.
    Conflict,
    /// Neither listed in the spec nor in the cluster any more.
    Gone,
    /// Reading or creating it failed (the message says which and why).
    Failed(String),
}

/// One reconcile's writes.
struct Step<'a> {
    ctx: &'a Context,
    tenant: &'a str,
    owner: &'a OwnerReference,
    discovered: &'a Discovered,
    verify: bool,
    params: &'a PatchParams,
}

impl Step<'_> {
    /// Makes sure namespace `object` may be written into, creating it if it is listed in the
    /// spec and absent. Namespaces are only ever created with a create (POST), which fails when
    /// the name exists, never by an apply, which would silently re-create a namespace the cache
    /// still lists after someone deleted it. So Palisade creates exactly the namespaces of
    /// `spec.namespaces.names`, each only while it does not exist (a listed namespace deleted
    /// by an administrator is created again, empty, once it is fully gone; never while it is
    /// terminating), and never creates a namespace an owner made.
    async fn prepare_namespace(&self, object: &ManagedObject, listed: bool) -> Prepared {
        let ns = object.name.as_str();
        let (bound, terminating) = {
            let cache = self.ctx.shared.cache();
            (
                cache.namespace_tenant(ns).map(str::to_string),
                cache.namespace_terminating(ns),
            )
        };
        match bound {
            Some(other) if other != self.tenant => return Prepared::Conflict,
            Some(_) if terminating => return Prepared::Terminating,
            Some(_) => return Prepared::Ready(None),
            None if !listed => return Prepared::Gone,
            None => {}
        }
        let Some(kind) = lookup("v1", "Namespace") else {
            return Prepared::Gone;
        };
        let api = api_for(&self.ctx.client, kind, None);
        // Only the labels every tenant namespace always has: fields a create writes stay owned
        // by it, so the apply that follows could never remove them.
        let always: serde_json::Map<String, serde_json::Value> = object.manifest["metadata"]["labels"]
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
        let body = json!({
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": { "name": ns, "labels": always, "ownerReferences": [self.owner] },
        });
        let created = match serde_json::from_value::<DynamicObject>(body) {
            Ok(body) => {
                let params = PostParams {
                    field_manager: Some(FIELD_MANAGER.to_string()),
                    ..PostParams::default()
                };
                api.create(&params, &body).await
            }
            Err(error) => return Prepared::Failed(format!("creating namespace {ns}: {error}")),
        };
        let live = match created {
            Ok(live) => {
                tracing::info!(tenant = %self.tenant, namespace = %ns, "created namespace");
                live
            }
            Err(kube::Error::Api(status)) if status.code == 409 => match api.get_opt(ns).await {
                Ok(Some(live)) => live,
                Ok(None) => {
                    return Prepared::Failed(format!(
                        "namespace {ns} was deleted while Palisade was creating it; trying again"
                    ));
                }
                Err(error) => {
                    return Prepared::Failed(format!("reading namespace {ns}: {}", crate::describe(&error)));
                }
            },
            Err(error) => {
                return Prepared::Failed(format!("creating namespace {ns}: {}", crate::describe(&error)));
            }
        };
        self.ctx.shared.cache().saw(seen(kind, &live.metadata, None));
        let holder = live.labels().get(labels::TENANT).cloned();
        if holder.as_deref().is_some_and(|holder| holder != self.tenant) {
            return Prepared::Conflict;
        }
        if live.metadata.deletion_timestamp.is_some() {
            return Prepared::Terminating;
        }
        // Ours, or an existing namespace without a tenant that the Tenant lists (a cluster
        // administrator wrote the Tenant): the apply binds it.
        Prepared::Ready(Some(Box::new(live)))
    }

    /// Applies `object` unless the live object already holds it; `live_namespace` is the
    /// namespace as this reconcile read or created it, if it did.
    async fn apply(
        &self,
        object: &ManagedObject,
        live_namespace: Option<&DynamicObject>,
        outcome: &mut Outcome,
        desired: &mut BTreeSet<ObjectKey>,
    ) {
        let Some(kind) = lookup(&object.api_version, &object.kind) else {
            outcome
                .skipped
                .push(skipped(object, "Palisade does not know how to apply this kind"));
            return;
        };
        if !self.discovered.serves(kind) {
            outcome.skipped.push(skipped(
                object,
                &format!("the cluster does not serve {} {}", object.api_version, object.kind),
            ));
            return;
        }
        let key = ObjectKey::of(object);
        desired.insert(key.clone());
        let mut manifest = object.manifest.clone();
        if !kind.namespaced {
            manifest["metadata"]["ownerReferences"] = json!([self.owner]);
        }
        let manifest_hash = manifest_hash(&manifest);
        if !self.ctx.shared.cache().needs_apply(&key, manifest_hash, !self.verify) {
            outcome.unchanged += 1;
            return;
        }
        manifest["metadata"]["annotations"][labels::APPLIED_HASH] = json!(format!("{manifest_hash:016x}"));
        let api = api_for(&self.ctx.client, kind, object.namespace.as_deref());
        if kind.kind == "Namespace" && kind.api_version == "v1" {
            // An apply creates what is absent, so it goes only to a namespace read live just
            // now, and names that namespace's uid: if it is deleted in between, the API server
            // refuses the apply ("uid mismatch") instead of creating a new namespace.
            let live = match live_namespace {
                Some(live) => Some(live.clone()),
                None => match api.get_opt(&object.name).await {
                    Ok(live) => live,
                    Err(error) => {
                        outcome.failures.push(format!(
                            "reading namespace {}: {}",
                            object.name,
                            crate::describe(&error)
                        ));
                        return;
                    }
                },
            };
            let Some(live) = live.filter(|live| live.metadata.deletion_timestamp.is_none()) else {
                tracing::info!(tenant = %self.tenant, namespace = %object.name, "namespace gone or terminating; not applied");
                return;
            };
            manifest["metadata"]["uid"] = json!(live.metadata.uid);
        }
        tracing::debug!(tenant = %self.tenant, object = %object.describe(), "step: apply");
        match api.patch(&object.name, self.params, &Patch::Apply(&manifest)).await {
            Ok(live) => {
                let live = seen(kind, &live.metadata, Some(&live.data));
                self.ctx.shared.cache().applied(self.tenant, live, manifest_hash);
                outcome.applied += 1;
            }
            Err(error) => {
                if let Some(role) = unbindable_role(object, &error) {
                    outcome.unbindable_roles.insert(role);
                }
                let error = crate::describe(&error);
                tracing::warn!(tenant = %self.tenant, object = %object.describe(), %error, "apply failed");
                outcome
                    .failures
                    .push(format!("applying {}: {error}", object.describe()));
            }
        }
    }
}

/// The ClusterRole a RoleBinding or ClusterRoleBinding names, when the API server refused it
/// because the controller may neither `bind` that role nor holds what it grants (RBAC's
/// escalation check). Read from the API server's own 403 rather than asked beforehand with a
/// SubjectAccessReview: it is the verdict that counts, and costs no request when all is well.
fn unbindable_role(object: &ManagedObject, error: &kube::Error) -> Option<String> {
    let kube::Error::Api(status) = error else {
        return None;
    };
    let binding = object.api_version == "rbac.authorization.k8s.io/v1"
        && (object.kind == "RoleBinding" || object.kind == "ClusterRoleBinding");
    let escalation = status.code == 403
        && status
            .message
            .contains("attempting to grant RBAC permissions not currently held");
    if !(binding && escalation) {
        return None;
    }
    object.manifest["roleRef"]["name"].as_str().map(str::to_string)
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
