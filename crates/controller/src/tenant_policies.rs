//! Tenant policies: the ValidatingAdmissionPolicies labelled `palisade.dev/tenant-policy: "true"`.
//!
//! ```text
//!  watch VAPs (label selector) ─▶ MarkedPolicy::from_policy(vap, tenant_policy_problems(vap))
//!        │                          ├─▶ Inventory.policies ─▶ every tenant woken when one changes;
//!        │                          │     render_tenant binds each bindable policy per tenant
//!        │                          └─▶ our status condition, if it differs from the policy's
//!        ▼
//!  status writer ── server-side apply on /status (field manager `palisade`):
//!                   condition PalisadeTenantBindings True (Bound) or False (NotBindable, why)
//! ```
//!
//! The API server keeps a VAP's `status.conditions` as a list-map keyed by `type`, so the
//! condition Palisade applies coexists with those of the API server's own status controller.
//! A policy that loses its marker (or is deleted) leaves the watch: its bindings are pruned with
//! the next reconcile of each tenant, and Palisade's condition is taken off again (an apply
//! without it), so an unmarked policy does not claim to be bound.

use std::sync::Arc;

use futures::StreamExt;
use futures::channel::mpsc::{UnboundedReceiver, UnboundedSender, unbounded};
use k8s_openapi::api::admissionregistration::v1::ValidatingAdmissionPolicy;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::api::{Patch, PatchParams};
use kube::runtime::watcher;
use kube::{Api, Client};
use palisade_api::labels;
use palisade_runtime::Task;
use palisade_tenancy::render::MarkedPolicy;
use palisade_tenancy::render::policy_binding::{POLICY_CONDITION, policy_condition};
use palisade_view::driver::{Driver, Needed, Sink, WatchTask};
use serde_json::{Value, json};

use crate::reconcile::FIELD_MANAGER;
use crate::watch::Shared;

/// The name of the watch, for [`palisade_view::driver::Synced::listed`].
pub const WATCH_NAME: &str = "ValidatingAdmissionPolicy (tenant policies)";

/// Longest condition message the API server accepts is 32768 bytes; stay below it.
const MAX_MESSAGE: usize = 30_000;

/// One watched policy, reduced to what the renderer needs and the condition it carries.
#[derive(Debug, Clone)]
struct Seen {
    policy: MarkedPolicy,
    generation: Option<i64>,
    /// Palisade's condition as the policy holds it now.
    condition: Option<Condition>,
}

fn seen(vap: ValidatingAdmissionPolicy) -> Seen {
    let problems = palisade_policy::vap::tenant_policy_problems(&vap);
    let condition = vap
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|conditions| conditions.iter().find(|c| c.type_ == POLICY_CONDITION).cloned());
    Seen {
        policy: MarkedPolicy::from_policy(&vap, problems),
        generation: vap.metadata.generation,
        condition,
    }
}

/// A status write for the writer task: the condition a policy should carry (`None`: none of
/// Palisade's).
struct Write {
    name: String,
    generation: Option<i64>,
    desired: Option<(bool, &'static str, String)>,
    previous: Option<Condition>,
}

impl Write {
    /// What `seen` should carry, if it does not carry it yet.
    fn for_seen(seen: &Seen) -> Option<Write> {
        let (ok, reason, message) = policy_condition(&seen.policy);
        let message = truncate(message);
        let status = if ok { "True" } else { "False" };
        let holds = seen.condition.as_ref().is_some_and(|c| {
            c.status == status && c.reason == reason && c.message == message && c.observed_generation == seen.generation
        });
        (!holds).then(|| Write {
            name: seen.policy.name.clone(),
            generation: seen.generation,
            desired: Some((ok, reason, message)),
            previous: seen.condition.clone(),
        })
    }

    /// The server-side apply body of `/status`.
    fn body(&self, now: &str) -> Value {
        let conditions: Vec<Value> = self
            .desired
            .iter()
            .map(|(ok, reason, message)| {
                let status = if *ok { "True" } else { "False" };
                // The transition time moves only when the status does.
                let since = match &self.previous {
                    Some(previous) if previous.status == status => {
                        serde_json::to_value(&previous.last_transition_time).unwrap_or_else(|_| json!(now))
                    }
                    _ => json!(now),
                };
                let mut condition = json!({
                    "type": POLICY_CONDITION,
                    "status": status,
                    "reason": reason,
                    "message": message,
                    "lastTransitionTime": since,
                });
                if let Some(generation) = self.generation {
                    condition["observedGeneration"] = json!(generation);
                }
                condition
            })
            .collect();
        json!({
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingAdmissionPolicy",
            "metadata": { "name": self.name },
            "status": { "conditions": conditions },
        })
    }
}

fn truncate(mut message: String) -> String {
    if message.len() > MAX_MESSAGE {
        let mut cut = MAX_MESSAGE;
        while !message.is_char_boundary(cut) {
            cut -= 1;
        }
        message.truncate(cut);
        message.push_str(" ...");
    }
    message
}

/// Policies into the inventory; status writes to the writer.
struct PolicySink {
    shared: Arc<Shared>,
    writes: UnboundedSender<Write>,
}

impl PolicySink {
    fn write(&self, write: Option<Write>) {
        if let Some(write) = write {
            // Fails only once the writer stopped, with the controller.
            let _ = self.writes.unbounded_send(write);
        }
    }

    fn clear(&self, name: String) {
        self.write(Some(Write {
            name,
            generation: None,
            desired: None,
            previous: None,
        }));
    }
}

impl Sink<Seen> for PolicySink {
    fn apply(&self, seen: Seen) {
        self.write(Write::for_seen(&seen));
        self.shared.change_inventory_and_wake(|i| i.policy_applied(seen.policy));
    }

    fn delete(&self, seen: Seen) {
        self.shared
            .change_inventory_and_wake(|i| i.policy_deleted(&seen.policy.name));
        // Deleted, or no longer marked: in the second case, take Palisade's condition off.
        if seen.condition.is_some() {
            self.clear(seen.policy.name);
        }
    }

    fn reset(&self, listed: Vec<Seen>) {
        let before: Vec<String> = self.shared.inventory().cluster().policies.keys().cloned().collect();
        for gone in before
            .into_iter()
            .filter(|name| !listed.iter().any(|s| &s.policy.name == name))
        {
            self.clear(gone);
        }
        for seen in &listed {
            self.write(Write::for_seen(seen));
        }
        self.shared
            .change_inventory_and_wake(|i| i.policies_reset(listed.into_iter().map(|s| s.policy)));
    }
}

/// Starts the watch of tenant policies and the writer of their conditions. Returns both (dropping
/// one stops it).
pub fn watch(driver: &Driver, client: &Client, shared: &Arc<Shared>) -> (WatchTask, Task) {
    let (writes, pending) = unbounded();
    let sink = Arc::new(PolicySink {
        shared: shared.clone(),
        writes,
    });
    let selector = format!("{}={}", labels::TENANT_POLICY, labels::TENANT_POLICY_VALUE);
    let task = driver.watch(
        WATCH_NAME,
        Needed::Required,
        Api::<ValidatingAdmissionPolicy>::all(client.clone()),
        watcher::Config::default().labels(&selector),
        seen,
        vec![sink],
    );
    (task, Task::spawn(write_conditions(client.clone(), pending)))
}

/// Applies each condition write in turn. A failed write is logged; the next change of the
/// policy (or the next relist) tries again.
async fn write_conditions(client: Client, mut pending: UnboundedReceiver<Write>) {
    let api = Api::<ValidatingAdmissionPolicy>::all(client);
    let params = PatchParams::apply(FIELD_MANAGER).force();
    while let Some(write) = pending.next().await {
        let now = k8s_openapi::jiff::Timestamp::now()
            .round(k8s_openapi::jiff::Unit::Second)
            .map_or_else(|_| k8s_openapi::jiff::Timestamp::now().to_string(), |t| t.to_string());
        let body = write.body(&now);
        match api.patch_status(&write.name, &params, &Patch::Apply(&body)).await {
            Ok(_) => tracing::debug!(policy = %write.name, "tenant policy condition written"),
            Err(kube::Error::Api(status)) if status.code == 404 && write.desired.is_none() => {}
            Err(error) => tracing::warn!(
                policy = %write.name,
                error = %crate::describe(&error),
                "writing the {POLICY_CONDITION} condition of a tenant policy failed"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn vap(param_kind: &str) -> ValidatingAdmissionPolicy {
        serde_json::from_value(json!({
            "metadata": { "name": "p", "generation": 3, "labels": { labels::TENANT_POLICY: "true" } },
            "spec": {
                "paramKind": { "apiVersion": "palisade.dev/v1alpha1", "kind": param_kind },
                "matchConstraints": { "resourceRules": [{ "apiGroups": ["apps"], "apiVersions": ["v1"], "operations": ["CREATE"], "resources": ["deployments"] }] },
                "validations": [{ "expression": "object.spec.replicas <= params.spec.policies.parameters.maxReplicas" }],
            },
        }))
        .unwrap()
    }

    #[test]
    fn a_condition_is_written_once_and_kept_while_it_holds() {
        let first = seen(vap("Tenant"));
        assert!(first.policy.bindable(), "{:?}", first.policy.problems);
        let write = Write::for_seen(&first).unwrap();
        let body = write.body("2026-01-01T00:00:00Z");
        assert_eq!(body["status"]["conditions"][0]["status"], "True");
        assert_eq!(body["status"]["conditions"][0]["observedGeneration"], 3);
        // The policy as the API server stores it after the write: nothing more to write.
        let mut written = vap("Tenant");
        written.status = Some(serde_json::from_value(json!({ "conditions": body["status"]["conditions"] })).unwrap());
        assert!(Write::for_seen(&seen(written.clone())).is_none());

        // A wrong paramKind: False, with the reason, and a new transition time.
        let mut wrong = vap("Namespace");
        wrong.status = written.status;
        let write = Write::for_seen(&seen(wrong)).unwrap();
        let body = write.body("2026-02-02T00:00:00Z");
        let condition = &body["status"]["conditions"][0];
        assert_eq!(condition["status"], "False");
        assert_eq!(condition["reason"], "NotBindable");
        assert!(
            condition["message"].as_str().unwrap().contains("paramKind"),
            "{condition}"
        );
        assert_eq!(condition["lastTransitionTime"], "2026-02-02T00:00:00Z");
    }

    /// The policies of examples/policies: each one Palisade can bind (the testenv test applies
    /// them to a real API server).
    pub const EXAMPLES: [(&str, &str); 5] = [
        (
            "max-replicas",
            include_str!("../../../examples/policies/max-replicas.yaml"),
        ),
        (
            "required-labels",
            include_str!("../../../examples/policies/required-labels.yaml"),
        ),
        (
            "no-latest-tag",
            include_str!("../../../examples/policies/no-latest-tag.yaml"),
        ),
        (
            "resource-limits",
            include_str!("../../../examples/policies/resource-limits.yaml"),
        ),
        ("probes", include_str!("../../../examples/policies/probes.yaml")),
    ];

    #[test]
    fn every_example_policy_is_bindable() {
        for (name, yaml) in EXAMPLES {
            let vap: ValidatingAdmissionPolicy = serde_saphyr::from_str(yaml).unwrap();
            let seen = seen(vap);
            assert!(seen.policy.bindable(), "{name}: {:?}", seen.policy.problems);
        }
    }

    #[test]
    fn clearing_applies_no_condition() {
        let write = Write {
            name: "p".into(),
            generation: None,
            desired: None,
            previous: None,
        };
        assert_eq!(write.body("now")["status"]["conditions"], json!([]));
    }
}
