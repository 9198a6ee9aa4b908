//! The thin I/O half: discovery, server-side apply, pruning, status, and the watches that feed
//! reconciles.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{DeleteParams, DynamicObject, ListParams, Patch, PatchParams};
use kube::runtime::controller::{Action, Config as ControllerConfig, Controller};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, Resource, ResourceExt};
use palisade_api::{Tenant, labels};
use palisade_tenancy::render::{ApiServerEndpoint, AvailableApis, Skipped};
use palisade_tenancy::{ClusterFacts, TenantIndex, render_tenant};
use serde_json::{Value, json};

use crate::compare::satisfies;
use crate::diff::{ObjectKey, Observed, to_prune};
use crate::kinds::{MANAGED_KINDS, ManagedKind, lookup};
use crate::quantity::{self, Amount};
use crate::related::{mesh_callers_of, woken_by_tenant};
use crate::status::{Outcome, tenant_status};
use crate::{Error, RETRY_AFTER};

/// The field manager of everything Palisade applies.
pub const FIELD_MANAGER: &str = "palisade";

/// How the controller runs.
#[derive(Debug, Clone)]
pub struct Options {
    /// Every tenant is reconciled at least this often, even without a change.
    pub resync: Duration,
    /// Tenants reconciled at the same time.
    pub concurrency: u16,
    /// How long discovery results are reused before asking the API server again.
    pub discovery_ttl: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            resync: Duration::from_secs(300),
            concurrency: 8,
            discovery_ttl: Duration::from_secs(10),
        }
    }
}

/// What discovery found: the facts the renderer needs and the managed kinds served.
#[derive(Debug, Clone)]
struct Discovered {
    facts: ClusterFacts,
    served: BTreeSet<(&'static str, &'static str)>,
}

impl Discovered {
    fn serves(&self, kind: &ManagedKind) -> bool {
        kind.built_in || self.served.contains(&(kind.api_version, kind.kind))
    }
}

struct Context {
    client: Client,
    options: Options,
    tenants: Store<Tenant>,
    namespaces: Store<Namespace>,
    discovered: Mutex<Option<(Instant, Arc<Discovered>)>>,
}

impl Context {
    /// Discovery, reused for `discovery_ttl`.
    async fn discovered(&self) -> Result<Arc<Discovered>, Error> {
        {
            let cached = self
                .discovered
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if let Some((at, discovered)) = cached.as_ref()
                && at.elapsed() < self.options.discovery_ttl
            {
                return Ok(discovered.clone());
            }
        }
        let fresh = Arc::new(discover(&self.client).await?);
        *self
            .discovered
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some((Instant::now(), fresh.clone()));
        Ok(fresh)
    }

    /// Every tenant with its namespaces: `spec.namespaces.names` plus the namespaces labelled
    /// with the tenant. The status' list is left out, so a namespace that leaves both is gone.
    fn index(&self) -> TenantIndex {
        let tenants: Vec<Tenant> = self
            .tenants
            .state()
            .iter()
            .map(|t| Tenant {
                metadata: t.metadata.clone(),
                spec: t.spec.clone(),
                status: None,
            })
            .collect();
        let mut index = TenantIndex::new(tenants.iter());
        for namespace in self.namespaces.state() {
            if let Some(tenant) = namespace.labels().get(labels::TENANT) {
                index.add_namespace(tenant, &namespace.name_any());
            }
        }
        index
    }

    /// The tenant a namespace is bound to, if the watch has seen it labelled.
    fn namespace_tenant(&self, namespace: &str) -> Option<String> {
        self.namespaces
            .get(&ObjectRef::new(namespace))
            .and_then(|ns| ns.labels().get(labels::TENANT).cloned())
    }
}

/// Which optional APIs the cluster serves, and where the API server listens.
async fn discover(client: &Client) -> Result<Discovered, Error> {
    let groups = client.list_api_groups().await.map_err(Error::Discover)?;
    let group_versions: BTreeSet<String> = groups
        .groups
        .iter()
        .flat_map(|g| g.versions.iter().map(|v| v.group_version.clone()))
        .collect();
    let mut served = BTreeSet::new();
    let mut resources: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for kind in MANAGED_KINDS.iter().filter(|k| !k.built_in) {
        if !group_versions.contains(kind.api_version) {
            continue;
        }
        if !resources.contains_key(kind.api_version) {
            let list = client
                .list_api_group_resources(kind.api_version)
                .await
                .map_err(Error::Discover)?;
            resources.insert(kind.api_version, list.resources.into_iter().map(|r| r.kind).collect());
        }
        if resources
            .get(kind.api_version)
            .is_some_and(|kinds| kinds.contains(kind.kind))
        {
            served.insert((kind.api_version, kind.kind));
        }
    }
    let has = |api_version: &str, kind: &str| served.iter().any(|(v, k)| *v == api_version && *k == kind);
    let apis = AvailableApis {
        admin_network_policy: has("policy.networking.k8s.io/v1alpha1", "AdminNetworkPolicy"),
        cilium: has("cilium.io/v2", "CiliumClusterwideNetworkPolicy"),
        calico: has("projectcalico.org/v3", "NetworkPolicy"),
        istio: has("security.istio.io/v1", "PeerAuthentication") && has("security.istio.io/v1", "AuthorizationPolicy"),
        linkerd: has("policy.linkerd.io/v1beta3", "Server")
            && has("policy.linkerd.io/v1alpha1", "MeshTLSAuthentication")
            && has("policy.linkerd.io/v1alpha1", "AuthorizationPolicy"),
    };
    let facts = ClusterFacts {
        api_server: api_server_endpoints(client).await,
        apis,
        ..ClusterFacts::default()
    };
    Ok(Discovered { facts, served })
}

/// The endpoints behind the `kubernetes` Service (what a NetworkPolicy sees after DNAT).
async fn api_server_endpoints(client: &Client) -> Vec<ApiServerEndpoint> {
    let slices = Api::<EndpointSlice>::namespaced(client.clone(), "default");
    let list = match slices
        .list(&ListParams::default().labels("kubernetes.io/service-name=kubernetes"))
        .await
    {
        Ok(list) => list,
        Err(error) => {
            tracing::warn!(%error, "cannot read the API server's endpoints; tenants granted API access get no rule for it");
            return Vec::new();
        }
    };
    let mut endpoints = BTreeSet::new();
    for slice in list.items {
        let ports: Vec<u16> = slice
            .ports
            .iter()
            .flatten()
            .filter_map(|p| p.port.and_then(|p| u16::try_from(p).ok()))
            .collect();
        for address in slice.endpoints.iter().flatten().flat_map(|e| e.addresses.iter()) {
            if let Ok(ip) = address.parse() {
                endpoints.extend(ports.iter().map(|&port| ApiServerEndpoint { ip, port }));
            }
        }
    }
    endpoints.into_iter().collect()
}

fn owner_reference(tenant: &Tenant, uid: &str) -> OwnerReference {
    OwnerReference {
        api_version: Tenant::api_version(&()).to_string(),
        kind: Tenant::kind(&()).to_string(),
        name: tenant.name_any(),
        uid: uid.to_string(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

fn api_for(client: &Client, kind: &ManagedKind, namespace: Option<&str>) -> Api<DynamicObject> {
    let resource = kind.api_resource();
    match namespace {
        Some(ns) if kind.namespaced => Api::namespaced_with(client.clone(), ns, &resource),
        _ => Api::all_with(client.clone(), &resource),
    }
}

fn managed_selector(tenant: &str) -> String {
    format!(
        "{}={tenant},{}={}",
        labels::TENANT,
        labels::MANAGED_BY,
        labels::MANAGED_BY_VALUE
    )
}

async fn reconcile(tenant: Arc<Tenant>, ctx: Arc<Context>) -> Result<Action, Error> {
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
    tracing::debug!(tenant = %name, "step: discovery");
    let discovered = ctx.discovered().await?;
    let index = ctx.index();
    let plan = render_tenant(&tenant, &index, &discovered.facts);
    let owner = owner_reference(&tenant, &uid);

    let mut outcome = Outcome {
        namespaces: index.namespaces_of(&name),
        skipped: plan.all_skipped().cloned().collect(),
        ..Outcome::default()
    };
    // Observe what exists with both labels: to skip applies that would change nothing, to
    // prune, and to sum quota usage.
    let selector = managed_selector(&name);
    let mut observed = Vec::new();
    let mut live: BTreeMap<ObjectKey, Value> = BTreeMap::new();
    let mut quota_total: BTreeMap<String, Amount> = BTreeMap::new();
    let tenant_namespaces: BTreeSet<&String> = outcome.namespaces.iter().collect();
    for kind in MANAGED_KINDS.iter().filter(|k| discovered.serves(k)) {
        tracing::debug!(tenant = %name, kind = kind.kind, "step: list");
        let list = match api_for(&ctx.client, kind, None)
            .list(&ListParams::default().labels(&selector))
            .await
        {
            Ok(list) => list,
            Err(source) => {
                let error = Error::List {
                    tenant: name.clone(),
                    kind: kind.describe(),
                    source,
                };
                let error = crate::chain(&error);
                tracing::warn!(%error);
                outcome.failures.push(error);
                continue;
            }
        };
        for item in list.items {
            if kind.kind == "ResourceQuota" && item.namespace().is_some_and(|ns| tenant_namespaces.contains(&ns)) {
                let bad = quantity::add_all(&mut quota_total, &quota_used(&item.data));
                if !bad.is_empty() {
                    tracing::warn!(tenant = %name, quota = %item.name_any(), ?bad, "unreadable quota usage left out of the sum");
                }
            }
            let key = ObjectKey::new(
                kind.api_version,
                kind.kind,
                item.namespace().as_deref(),
                &item.name_any(),
            );
            if let Ok(mut value) = serde_json::to_value(&item) {
                // Items of a list carry no apiVersion and kind of their own.
                value["apiVersion"] = json!(kind.api_version);
                value["kind"] = json!(kind.kind);
                live.insert(key.clone(), value);
            }
            observed.push(Observed {
                key,
                labels: item.labels().clone(),
            });
        }
    }
    outcome.quota_used = quantity::to_quantities(&quota_total);
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
            if let Some(other) = ctx.namespace_tenant(ns).filter(|other| *other != name) {
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
        if live.get(&key).is_some_and(|have| satisfies(have, &manifest)) {
            outcome.unchanged += 1;
            continue;
        }
        let api = api_for(&ctx.client, kind, object.namespace.as_deref());
        tracing::debug!(tenant = %name, object = %object.describe(), "step: apply");
        match api.patch(&object.name, &params, &Patch::Apply(&manifest)).await {
            Ok(_) => outcome.applied += 1,
            Err(error) => {
                tracing::warn!(tenant = %name, object = %object.describe(), %error, "apply failed");
                outcome
                    .failures
                    .push(format!("applying {}: {error}", object.describe()));
            }
        }
    }

    // A namespace refused (bound to another tenant) is not this tenant's.
    outcome.namespaces.retain(|ns| !refused_namespaces.contains(ns));
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
                let error = Error::Prune {
                    tenant: name.clone(),
                    object: key.to_string(),
                    source,
                };
                let error = crate::chain(&error);
                tracing::warn!(%error);
                outcome.failures.push(error);
            }
        }
    }

    let now = k8s_openapi::jiff::Timestamp::now()
        .round(k8s_openapi::jiff::Unit::Second)
        .map_or_else(|_| k8s_openapi::jiff::Timestamp::now().to_string(), |t| t.to_string());
    let status = tenant_status(&tenant, &outcome, &now);
    let status_changed = tenant.status.as_ref() != Some(&status);
    if status_changed {
        let patch = json!({
            "apiVersion": Tenant::api_version(&()),
            "kind": Tenant::kind(&()),
            "status": status,
        });
        tracing::debug!(tenant = %name, "step: status");
        Api::<Tenant>::all(ctx.client.clone())
            .patch_status(&name, &params, &Patch::Apply(&patch))
            .await
            .map_err(|source| Error::Status {
                tenant: name.clone(),
                source,
            })?;
    }
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
        None => Ok(Action::requeue(ctx.options.resync)),
    }
}

fn skipped(object: &palisade_tenancy::ManagedObject, reason: &str) -> Skipped {
    Skipped {
        api_version: object.api_version.clone(),
        kind: object.kind.clone(),
        namespace: object.namespace.clone(),
        name: object.name.clone(),
        reason: reason.to_string(),
    }
}

/// `status.used` of a ResourceQuota held as a DynamicObject.
fn quota_used(data: &Value) -> BTreeMap<String, Quantity> {
    data.get("status")
        .and_then(|s| s.get("used"))
        .and_then(|u| serde_json::from_value(u.clone()).ok())
        .unwrap_or_default()
}

fn error_policy(tenant: Arc<Tenant>, error: &Error, _ctx: Arc<Context>) -> Action {
    let error = crate::chain(error);
    tracing::warn!(tenant = %tenant.name_any(), %error, "reconcile failed; retrying in {RETRY_AFTER:?}");
    Action::requeue(RETRY_AFTER)
}

/// The tenant an object labelled `palisade.dev/tenant` belongs to.
fn tenant_of<K: Resource>(object: &K) -> Option<ObjectRef<Tenant>> {
    object.labels().get(labels::TENANT).map(|tenant| ObjectRef::new(tenant))
}

/// Stops a background task when the controller stops, however it stops.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Runs the controller until `shutdown` resolves.
pub async fn run(
    client: Client,
    options: Options,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) -> Result<(), Error> {
    let tenants = Api::<Tenant>::all(client.clone());
    tenants
        .list(&ListParams::default().limit(1))
        .await
        .map_err(Error::TenantApi)?;
    let discovered = discover(&client).await?;

    // Namespaces labelled with a tenant, cached: they are the tenants' adopted namespaces.
    let (namespaces, writer) = reflector::store();
    let _namespace_cache = AbortOnDrop(tokio::spawn(
        reflector::reflector(
            writer,
            watcher(
                Api::<Namespace>::all(client.clone()),
                watcher::Config::default().labels(labels::TENANT),
            ),
        )
        .default_backoff()
        .for_each(|event| async move {
            if let Err(error) = event {
                tracing::warn!(%error, "namespace watch failed; retrying");
            }
        }),
    ));
    // Waited for here, once: kube's readiness signal wakes only one of several waiters.
    if namespaces.wait_until_ready().await.is_err() {
        tracing::warn!("the namespace cache stopped before it was filled");
    }

    let controller = Controller::new(tenants.clone(), watcher::Config::default());
    let tenant_store = controller.store();
    // A tenant's change also wakes the tenants whose objects name it (see `related`).
    let grants: Arc<Mutex<BTreeMap<String, BTreeSet<String>>>> = Arc::default();
    let store = tenant_store.clone();
    let mut controller = controller.watches(tenants, watcher::Config::default(), move |tenant: Tenant| {
        let name = tenant.name_any();
        let now: BTreeSet<String> = tenant.spec.network.allow_from.tenants.iter().cloned().collect();
        let before = grants
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(name, now)
            .unwrap_or_default();
        let all = store.state();
        let all: Vec<&Tenant> = all.iter().map(AsRef::as_ref).collect();
        woken_by_tenant(&tenant, &before, &all)
            .into_iter()
            .map(|t| ObjectRef::new(&t))
            .collect::<Vec<_>>()
    });
    let store = tenant_store.clone();
    controller = controller.watches(
        Api::<Namespace>::all(client.clone()),
        watcher::Config::default().labels(labels::TENANT),
        move |namespace: Namespace| {
            let Some(tenant) = namespace.labels().get(labels::TENANT) else {
                return Vec::new();
            };
            let all = store.state();
            let all: Vec<&Tenant> = all.iter().map(AsRef::as_ref).collect();
            let mut woken = mesh_callers_of(tenant, &all);
            woken.insert(tenant.clone());
            woken.into_iter().map(|t| ObjectRef::new(&t)).collect()
        },
    );
    let managed = watcher::Config::default().labels(&format!("{}={}", labels::MANAGED_BY, labels::MANAGED_BY_VALUE));
    let mut watched = Vec::new();
    for kind in MANAGED_KINDS
        .iter()
        .filter(|k| k.kind != "Namespace" && discovered.serves(k))
    {
        let resource = kind.api_resource();
        controller = controller.watches_with(
            Api::all_with(client.clone(), &resource),
            resource,
            managed.clone(),
            |object: DynamicObject| tenant_of(&object),
        );
        watched.push(kind.describe());
    }
    tracing::info!(?watched, apis = ?discovered.facts.apis, "controller starting");

    let context = Arc::new(Context {
        client,
        tenants: tenant_store,
        namespaces,
        discovered: Mutex::new(Some((Instant::now(), Arc::new(discovered)))),
        options: options.clone(),
    });
    let reconciles = controller
        .with_config(ControllerConfig::default().concurrency(options.concurrency))
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, context)
        .for_each(|result| async move {
            if let Err(error) = result {
                tracing::debug!(%error, "controller event");
            }
        });
    reconciles.await;
    tracing::info!("controller stopped");
    Ok(())
}
