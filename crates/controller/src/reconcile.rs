//! One tenant's reconcile: render, plan (pure: [`crate::plan`]), carry the plan out
//! ([`crate::executor`]): apply what the live objects lack, prune what is no longer desired,
//! write the status. It reads the watch-fed [`Cache`](crate::cache::Cache) and never lists the
//! cluster, so a tenant already as desired costs no request at all.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::DynamicObject;
use kube::runtime::controller::Action;
use kube::runtime::events::Recorder;
use kube::runtime::reflector::Store;
use kube::{Api, Client, Resource, ResourceExt};
use palisade_api::Tenant;
use palisade_tenancy::render_tenant;
use tracing::Instrument;

use crate::Error;
use crate::discovery::Discovered;
use crate::executor::Executor;
use crate::kinds::ManagedKind;
use crate::metrics::{Metrics, ResultLabels, Step};
use crate::plan::{Desired, LiveView, plan};
use crate::watch::Shared;

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
    let span = tracing::info_span!("reconcile", tenant = %tenant.name_any());
    let result = reconcile_tenant(&tenant, &ctx).instrument(span).await;
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
        ctx.metrics.count_failure(Step::Validate);
        let problem = "it has no metadata.uid (not read from the API server?)".into();
        return Err(Error::Invalid { tenant: name, problem });
    };
    if tenant.metadata.deletion_timestamp.is_some() {
        // The garbage collector removes what the Tenant owns.
        return Ok(Action::await_change());
    }
    let executor = Executor {
        ctx,
        tenant,
        name: &name,
    };
    let invalid = palisade_tenancy::validate(tenant);
    if !invalid.is_empty() {
        return executor.refuse_invalid(&invalid).await;
    }
    let verify = ctx.due_for_verification(&name);
    let discovered = ctx.discovered();
    // Each namespace belongs to one tenant at most: its label, else the oldest Tenant listing
    // it. The status' list is left out, so a namespace that leaves both the spec and the
    // cluster is gone. The directory and the inventory (what the owners may see of nodes,
    // classes and volumes) are kept by the watches: nothing is rebuilt here.
    let (rendered, refused) = {
        let (directory, inventory) = (ctx.shared.directory(), ctx.shared.inventory());
        let rendered = render_tenant(tenant, &*directory, &discovered.facts, inventory.cluster());
        (rendered, directory.refused(&name))
    };
    let desired = Desired {
        tenant: &name,
        rendered: &rendered,
        listed: &tenant.spec.namespaces.names.iter().cloned().collect(),
        refused: &refused,
        owner: &owner_reference(tenant, &uid),
        verify,
    };
    let plan = {
        let (directory, cache) = (ctx.shared.directory(), ctx.shared.cache());
        plan(
            &desired,
            &LiveView {
                directory: &directory,
                cache: &cache,
            },
            &discovered,
        )
    };
    let done = executor.run(&plan).await;
    executor.report(done, started).await
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
}
