//! Carries out a [`Plan`](crate::plan::Plan): the cluster-scoped objects, then namespace by
//! namespace its own create and apply and, only if those went well, its other objects; then the
//! prune; then the status, an Event and the metrics. Thin: every decision is the plan's; this
//! talks to the API server, records what happened in the cache, and reports.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use kube::api::{DeleteParams, DynamicObject, Patch, PatchParams, PostParams};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType};
use kube::{Api, Resource, ResourceExt};
use palisade_api::{Tenant, labels};
use palisade_tenancy::ManagedObject;
use serde_json::{Value, json};
use tracing::Instrument;

use crate::Error;
use crate::diff::ObjectKey;
use crate::kinds::lookup;
use crate::metrics::{Step, TenantLabels};
use crate::plan::{Apply, NamespaceActions, NamespaceStep, ObjectAction, Plan, Settled};
use crate::reconcile::{Context, FIELD_MANAGER, api_for};
use crate::status::{Outcome, tenant_status};
use crate::watch::seen;
use palisade_tenancy::render::policy_statuses;

/// What carrying out a plan did.
#[derive(Debug, Default)]
pub struct Executed {
    pub outcome: Outcome,
    pub pruned: u64,
    /// The steps that failed at least once.
    pub failed: BTreeSet<Step>,
}

/// Carries out the plans of one tenant.
pub struct Executor<'a> {
    pub ctx: &'a Context,
    pub tenant: &'a Tenant,
    pub name: &'a str,
}

impl Executor<'_> {
    /// Applies and prunes what `plan` says, namespace by namespace.
    pub async fn run(&self, plan: &Plan<'_>) -> Executed {
        let mut done = Executed::default();
        for action in &plan.cluster {
            self.object(action, &mut done).await;
        }
        let mut settled = BTreeMap::new();
        for ns in &plan.namespaces {
            let span = tracing::debug_span!("namespace", namespace = %ns.name);
            let result = self.namespace(ns, &mut done).instrument(span.clone()).await;
            if let Settled::Failed(error) = &result {
                tracing::warn!(tenant = %self.name, namespace = %ns.name, %error, "namespace step failed; nothing else applied or pruned in it");
                done.outcome.failures.push(error.clone());
                done.failed.insert(Step::Namespace);
            }
            for action in ns.after(&result) {
                self.object(action, &mut done).instrument(span.clone()).await;
            }
            settled.insert(ns.name.clone(), result);
        }
        let settlement = plan.settle(&settled);
        done.outcome.namespaces = settlement.namespaces;
        done.outcome.conflicts = settlement.conflicts;
        done.outcome.terminating = settlement.terminating;
        done.outcome.skipped = settlement.skipped;
        self.prune(&settlement.prune, &mut done).await;
        done
    }

    /// Carries out one object's action.
    async fn object(&self, action: &ObjectAction<'_>, done: &mut Executed) {
        let apply = match action {
            ObjectAction::Apply(apply) => apply,
            ObjectAction::Unchanged(_) => {
                done.outcome.unchanged += 1;
                return;
            }
            ObjectAction::Skipped(_) => return,
        };
        match self.apply(apply, &apply.manifest).await {
            Ok(()) => done.outcome.applied += 1,
            Err(error) => {
                if let Some(role) = unbindable_role(apply.object, &error) {
                    done.outcome.unbindable_roles.insert(role);
                }
                let error = crate::describe(&error);
                tracing::warn!(tenant = %self.name, object = %apply.object.describe(), %error, "apply failed");
                done.outcome
                    .failures
                    .push(format!("applying {}: {error}", apply.object.describe()));
                done.failed.insert(Step::Apply);
            }
        }
    }

    /// Server-side applies `manifest` (the plan's, or with a uid added) and records the result.
    async fn apply(&self, apply: &Apply<'_>, manifest: &Value) -> Result<(), kube::Error> {
        tracing::debug!(tenant = %self.name, object = %apply.object.describe(), "step: apply");
        let api = api_for(&self.ctx.client, apply.kind, apply.object.namespace.as_deref());
        let params = PatchParams::apply(FIELD_MANAGER).force();
        let live = api.patch(&apply.object.name, &params, &Patch::Apply(manifest)).await?;
        let live = seen(apply.kind, &live.metadata, Some(&live.data));
        self.ctx.shared.cache().applied(self.name, live, apply.hash);
        Ok(())
    }

    /// The namespace's own step: its create when the plan says so, then its Namespace object.
    async fn namespace(&self, ns: &NamespaceActions<'_>, done: &mut Executed) -> Settled {
        let created = match &ns.step {
            NamespaceStep::Create(body) => match self.create(&ns.name, body).await {
                Ok(live) => Some(live),
                Err(settled) => return settled,
            },
            NamespaceStep::Existing => None,
            NamespaceStep::Refused => return Settled::Refused,
            NamespaceStep::Terminating => return Settled::Terminating,
            NamespaceStep::Gone => return Settled::Gone,
        };
        let apply = match &ns.own {
            Some(ObjectAction::Apply(apply)) => apply,
            Some(ObjectAction::Unchanged(_)) => {
                done.outcome.unchanged += 1;
                return Settled::Ready;
            }
            Some(ObjectAction::Skipped(_)) | None => return Settled::Ready,
        };
        // An apply creates what is absent, so it goes only to a namespace read live just now,
        // and names that namespace's uid: if it is deleted in between, the API server refuses
        // the apply ("uid mismatch") instead of creating a new namespace.
        let live = match created {
            Some(live) => live,
            None => match namespaces(self.ctx).get_opt(&ns.name).await {
                Ok(Some(live)) => live,
                Ok(None) => {
                    return Settled::Failed(format!("namespace {} was deleted meanwhile; trying again", ns.name));
                }
                Err(error) => {
                    return Settled::Failed(format!("reading namespace {}: {}", ns.name, crate::describe(&error)));
                }
            },
        };
        if live.metadata.deletion_timestamp.is_some() {
            return Settled::Terminating;
        }
        let mut manifest = apply.manifest.clone();
        manifest["metadata"]["uid"] = json!(live.metadata.uid);
        match self.apply(apply, &manifest).await {
            Ok(()) => {
                done.outcome.applied += 1;
                Settled::Ready
            }
            Err(error) => Settled::Failed(format!(
                "applying {}: {}",
                apply.object.describe(),
                crate::describe(&error)
            )),
        }
    }

    /// Creates namespace `name` from `body` (a create, which fails when the name exists, never
    /// an apply: see the crate's documentation), or reads it when it exists; settles it unless
    /// it is the tenant's and not being deleted.
    async fn create(&self, name: &str, body: &Value) -> Result<DynamicObject, Settled> {
        let api = namespaces(self.ctx);
        let body: DynamicObject = serde_json::from_value(body.clone())
            .map_err(|error| Settled::Failed(format!("creating namespace {name}: {error}")))?;
        let params = PostParams {
            field_manager: Some(FIELD_MANAGER.to_string()),
            ..PostParams::default()
        };
        let live = match api.create(&params, &body).await {
            Ok(live) => {
                tracing::info!(tenant = %self.name, namespace = %name, "created namespace");
                live
            }
            Err(kube::Error::Api(status)) if status.code == 409 => match api.get_opt(name).await {
                Ok(Some(live)) => live,
                Ok(None) => {
                    return Err(Settled::Failed(format!(
                        "namespace {name} was deleted while Palisade was creating it; trying again"
                    )));
                }
                Err(error) => {
                    return Err(Settled::Failed(format!(
                        "reading namespace {name}: {}",
                        crate::describe(&error)
                    )));
                }
            },
            Err(error) => {
                return Err(Settled::Failed(format!(
                    "creating namespace {name}: {}",
                    crate::describe(&error)
                )));
            }
        };
        if let Some(kind) = lookup("v1", "Namespace") {
            self.ctx.shared.saw_namespace(kind, &live.metadata);
        }
        if live
            .labels()
            .get(labels::TENANT)
            .is_some_and(|holder| holder != self.name)
        {
            return Err(Settled::Refused);
        }
        if live.metadata.deletion_timestamp.is_some() {
            return Err(Settled::Terminating);
        }
        // Ours, or an existing namespace without a tenant that the Tenant lists (a cluster
        // administrator wrote the Tenant): the apply binds it.
        Ok(live)
    }

    /// Deletes `keys`, each forgotten by the cache once gone.
    async fn prune(&self, keys: &[ObjectKey], done: &mut Executed) {
        for key in keys {
            tracing::debug!(tenant = %self.name, object = %key, "step: prune");
            let Some(kind) = lookup(&key.api_version, &key.kind) else {
                continue;
            };
            match api_for(&self.ctx.client, kind, key.namespace.as_deref())
                .delete(&key.name, &DeleteParams::default())
                .await
            {
                Ok(_) => done.pruned += 1,
                Err(kube::Error::Api(status)) if status.code == 404 => {}
                Err(source) => {
                    let error = crate::chain(&Error::Prune {
                        tenant: self.name.to_string(),
                        object: key.to_string(),
                        source,
                    });
                    tracing::warn!(%error);
                    done.outcome.failures.push(error);
                    done.failed.insert(Step::Prune);
                    continue;
                }
            }
            // Forgotten now, so a reconcile before the watch reports it does not delete it twice.
            self.ctx.shared.cache().deleted(key);
        }
    }

    /// Completes `done` with quota usage and foreign policies, then writes the status, the
    /// metrics and an Event; fails when anything did.
    pub async fn report(&self, mut done: Executed, started: Instant) -> Result<Action, Error> {
        let (ctx, name) = (self.ctx, self.name);
        let outcome = &mut done.outcome;
        let (quota_used, unreadable) = ctx.shared.cache().quota_used(name, &outcome.namespaces);
        if !unreadable.is_empty() {
            tracing::warn!(tenant = %name, ?unreadable, "unreadable quota usage left out of the sum");
        }
        outcome.quota_used = quota_used;
        outcome.foreign_policies = ctx.shared.foreign().of(name, &outcome.namespaces);
        outcome.policies = policy_statuses(self.tenant, &ctx.shared.inventory().cluster().policies);
        self.metrics(&done);
        let outcome = &done.outcome;
        let status_changed = self.write_status(outcome).await?;
        self.publish_event(outcome, done.pruned);
        tracing::info!(
            tenant = %name,
            namespaces = outcome.namespaces.len(),
            applied = outcome.applied,
            unchanged = outcome.unchanged,
            pruned = done.pruned,
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
                tenant: name.to_string(),
                failed: outcome.failures.len(),
                first: first.clone(),
            });
        }
        Ok(Action::requeue(self.ctx.resync))
    }

    /// An invalid Tenant is not applied at all (nor pruned): what it had stays as it was, and
    /// the status says what to fix. The webhook refuses most of these, but not while it is down.
    pub async fn refuse_invalid(&self, invalid: &[impl ToString]) -> Result<Action, Error> {
        self.ctx.metrics.count_failure(Step::Validate);
        let namespaces: Vec<String> = self
            .ctx
            .shared
            .directory()
            .labelled_namespaces_of(self.name)
            .map(str::to_string)
            .collect();
        let outcome = Outcome {
            foreign_policies: self.ctx.shared.foreign().of(self.name, &namespaces),
            namespaces,
            invalid: invalid.iter().map(ToString::to_string).collect(),
            // Nothing is applied or pruned: the bindings stay as the last valid spec left them.
            policies: self
                .tenant
                .status
                .as_ref()
                .map(|s| s.policies.clone())
                .unwrap_or_default(),
            ..Outcome::default()
        };
        self.write_status(&outcome).await?;
        tracing::warn!(tenant = %self.name, errors = ?outcome.invalid, "invalid Tenant: nothing applied");
        Ok(Action::await_change())
    }

    fn metrics(&self, done: &Executed) {
        let (metrics, name, outcome) = (&self.ctx.metrics, self.name, &done.outcome);
        metrics.objects_applied.inc_by(outcome.applied as u64);
        metrics.objects_pruned.inc_by(done.pruned);
        for step in &done.failed {
            metrics.count_failure(*step);
        }
        let previously_limited: Vec<String> = self
            .tenant
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
        let tenant_hard = self
            .tenant
            .spec
            .quota
            .as_ref()
            .map(|q| q.tenant.clone())
            .unwrap_or_default();
        metrics.set_tenant_quota(name, &tenant_hard, &outcome.quota_used, &previously_limited);
        metrics
            .tenant_namespaces
            .get_or_create(&TenantLabels {
                tenant: name.to_string(),
            })
            .set(outcome.namespaces.len() as i64);
    }

    /// Writes the status `outcome` calls for, unless the Tenant already has it; returns whether
    /// it wrote.
    async fn write_status(&self, outcome: &Outcome) -> Result<bool, Error> {
        let now = k8s_openapi::jiff::Timestamp::now()
            .round(k8s_openapi::jiff::Unit::Second)
            .map_or_else(|_| k8s_openapi::jiff::Timestamp::now().to_string(), |t| t.to_string());
        let status = tenant_status(self.tenant, outcome, &now);
        if self.tenant.status.as_ref() == Some(&status) {
            return Ok(false);
        }
        let patch = json!({
            "apiVersion": Tenant::api_version(&()),
            "kind": Tenant::kind(&()),
            "status": status,
        });
        let params = PatchParams::apply(FIELD_MANAGER).force();
        match Api::<Tenant>::all(self.ctx.client.clone())
            .patch_status(self.name, &params, &Patch::Apply(&patch))
            .await
        {
            Ok(_) => Ok(true),
            Err(source) => {
                self.ctx.metrics.count_failure(Step::Status);
                Err(Error::Status {
                    tenant: self.name.to_string(),
                    source,
                })
            }
        }
    }

    /// An Event on the Tenant when a reconcile changed something or failed; nothing when all
    /// was already as desired, so a resync does not flood the namespace with Events.
    fn publish_event(&self, outcome: &Outcome, pruned: u64) {
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
        let recorder = self.ctx.recorder.clone();
        let reference = self.tenant.object_ref(&());
        // Events are best effort: a reconcile never waits for, or fails on, its Event.
        tokio::spawn(async move {
            if let Err(error) = recorder.publish(&event, &reference).await {
                tracing::debug!(%error, "publishing an Event failed");
            }
        });
    }
}

fn namespaces(ctx: &Context) -> Api<DynamicObject> {
    let resource = kube::api::ApiResource::erase::<k8s_openapi::api::core::v1::Namespace>(&());
    Api::all_with(ctx.client.clone(), &resource)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_event_notes_are_cut_on_a_character_boundary() {
        let note = "é".repeat(800);
        let cut = truncate(&note);
        assert!(cut.len() <= 1004, "{}", cut.len());
        assert!(cut.ends_with('…'));
        assert_eq!(truncate("short"), "short");
    }

    #[test]
    fn only_an_escalation_refusal_of_a_binding_names_its_role() {
        let binding = ManagedObject {
            api_version: "rbac.authorization.k8s.io/v1".into(),
            kind: "RoleBinding".into(),
            namespace: Some("a-1".into()),
            name: "x".into(),
            manifest: json!({ "roleRef": { "name": "cluster-admin" } }),
        };
        let refusal = |message: &str, code: u16| {
            kube::Error::Api(Box::new(
                kube::core::Status::failure(message, "Forbidden").with_code(code),
            ))
        };
        let escalation =
            "rolebindings \"x\" is forbidden: user is attempting to grant RBAC permissions not currently held";
        assert_eq!(
            unbindable_role(&binding, &refusal(escalation, 403)),
            Some("cluster-admin".to_string())
        );
        assert_eq!(unbindable_role(&binding, &refusal("forbidden", 403)), None);
        let quota = ManagedObject {
            kind: "ResourceQuota".into(),
            api_version: "v1".into(),
            ..binding
        };
        assert_eq!(unbindable_role(&quota, &refusal(escalation, 403)), None);
    }
}
