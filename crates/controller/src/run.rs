//! Wiring: the watches, the discovery refresh, leader election, health, and kube-runtime's
//! Controller that calls [`reconcile`](crate::reconcile) once per woken tenant.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use futures::{FutureExt, StreamExt};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::ListParams;
use kube::core::PartialObjectMeta;
use kube::runtime::controller::{Config as ControllerConfig, Controller};
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::reflector;
use kube::runtime::watcher;
use kube::{Api, Client};
use palisade_api::Tenant;
use palisade_tenancy::render::DnsFacts;

use crate::Error;
use crate::discovery::discover;
use crate::leader::{self, LeaderElection};
use crate::metrics::Metrics;
use crate::reconcile::{Context, error_policy, reconcile};
use crate::watch::{Shared, TenantSink, Watches, watch_tenants};
use palisade_runtime::{HealthServer, Probe, Task};
use palisade_view::driver::{Driver, Needed, Sink, Synced};
use palisade_view::inventory_watch::watch_inventory;
use tokio::sync::Notify;

/// What `/readyz` and `/metrics` report: ready once leading with full caches, or as a healthy
/// standby.
struct Health {
    metrics: Arc<Metrics>,
    ready: Arc<AtomicBool>,
}

impl Probe for Health {
    fn readiness(&self) -> Result<String, String> {
        if self.ready.load(Ordering::Relaxed) {
            Ok("ready".into())
        } else {
            Err("filling caches".into())
        }
    }

    fn metrics(&self) -> String {
        self.metrics.encode()
    }
}

/// How long a start waits for a watch's first list before going on without it.
const FIRST_LIST_TIMEOUT: Duration = Duration::from_secs(30);

/// How the controller runs.
#[derive(Clone)]
pub struct Options {
    /// Every tenant is reconciled at least this often, even without a change.
    pub resync: Duration,
    /// Every tenant's objects are re-applied this often even when the caches say they are as
    /// desired (at most; the first time one interval after the controller starts).
    pub verify_interval: Duration,
    /// Tenants reconciled at the same time.
    pub concurrency: u16,
    /// How often discovery asks again which optional APIs are served (it also asks soon after
    /// any CustomResourceDefinition changes).
    pub discovery_interval: Duration,
    /// Where cluster DNS runs; `None` reads the `kube-system/kube-dns` Service.
    pub dns: Option<DnsFacts>,
    /// `None` runs without an election: only for a single replica.
    pub leader_election: Option<LeaderElection>,
    /// Where `/healthz`, `/readyz` and `/metrics` listen, if anywhere.
    pub health_listen: Option<SocketAddr>,
    /// Shared with the client when it counts its requests (see [`crate::metrics::counting_client`]).
    pub metrics: Arc<Metrics>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            resync: Duration::from_secs(300),
            verify_interval: Duration::from_secs(3600),
            concurrency: 8,
            discovery_interval: Duration::from_secs(30),
            dns: None,
            leader_election: None,
            health_listen: None,
            metrics: Arc::default(),
        }
    }
}

/// Runs the controller until `shutdown` resolves, or until this replica loses leadership.
pub async fn run(
    client: Client,
    options: Options,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    let shutdown = shutdown.boxed().shared();
    let ready = Arc::new(AtomicBool::new(false));
    let _health = match options.health_listen {
        Some(listen) => {
            let probe = Arc::new(Health {
                metrics: options.metrics.clone(),
                ready: ready.clone(),
            });
            Some(HealthServer::bind(listen).await?.serve(probe))
        }
        None => None,
    };
    let Some(election) = options.leader_election.clone() else {
        return run_controller(client, options, ready, shutdown).await;
    };
    let mut elected = leader::join(client.clone(), &election).await?;
    // A standby is healthy and ready: it has nothing to serve until it leads.
    ready.store(true, Ordering::Relaxed);
    tracing::info!(identity = %election.identity, lease = %election.lease_name, "waiting to lead");
    tokio::select! {
        () = shutdown.clone() => {
            elected.resign().await;
            return Ok(());
        }
        leads = leader::until_leading(&mut elected.leading) => {
            if !leads {
                return Err(Error::LeaderElection("the election stopped before this replica could lead".into()));
            }
        }
    }
    tracing::info!(identity = %election.identity, "leading");
    options.metrics.leader.set(1);
    ready.store(false, Ordering::Relaxed);
    let result = tokio::select! {
        result = run_controller(client, options.clone(), ready, shutdown) => result,
        () = leader::until_lost(elected.leading.clone()) => Err(Error::LeadershipLost),
    };
    options.metrics.leader.set(0);
    elected.resign().await;
    result
}

async fn run_controller(
    client: Client,
    options: Options,
    ready: Arc<AtomicBool>,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) -> Result<(), Error> {
    let tenants = Api::<Tenant>::all(client.clone());
    tenants
        .list(&ListParams::default().limit(1))
        .await
        .map_err(Error::TenantApi)?;
    let discovered = discover(&client, options.dns.as_ref()).await?;

    // Every watch runs in the view driver. A Tenant reaches kube-runtime's store, the trigger
    // of its own reconcile, and the tenant directory, which wakes the other tenants whose
    // objects name it (grants, mesh callers, claims on the same namespace).
    let driver = Driver::new(Synced::default(), options.metrics.watch.clone());
    let (tenant_store, tenant_writer) = reflector::store();
    let (wake, woken) = futures::channel::mpsc::unbounded();
    let shared = Arc::new(Shared::new(tenant_store.clone(), wake));
    let _tenant_watch = watch_tenants(&driver, &client, TenantSink::new(shared.clone(), tenant_writer));
    // Every reconcile is queued by name (the Tenant sink wakes each Tenant it sees): the
    // Controller reads the object from the store, so no Tenant is copied into a queue.
    let controller = Controller::for_stream(
        futures::stream::pending::<Result<Tenant, watcher::Error>>(),
        tenant_store.clone(),
    )
    .reconcile_on(woken);

    let mut watches = Watches::new(driver.clone());
    let served = discovered.served_kinds();
    // Reconciles wait for the first lists: until the namespaces are known, a reconcile could
    // not tell a namespace of another tenant from a free one. A kind that cannot be listed (a
    // missing permission) must not stall every tenant: after a while, go on without it.
    let mut first_lists = watches.ensure(&client, &served, &shared);
    first_lists.push("Tenant".to_string());
    // Nodes, classes and volumes, for the owners' views: listed before the first reconciles too,
    // or each owner ClusterRole would be written once without their names and again with them.
    let (_inventory, inventory_lists) = watch_inventory(&driver, &client, &shared);
    first_lists.extend(inventory_lists);
    // Tenant policies: listed first too, or a first reconcile would prune every binding.
    let _tenant_policies = crate::tenant_policies::watch(&driver, &client, &shared);
    first_lists.push(crate::tenant_policies::WATCH_NAME.to_string());
    let synced = driver.synced();
    for kind in first_lists {
        if tokio::time::timeout(FIRST_LIST_TIMEOUT, synced.listed(&kind))
            .await
            .is_err()
        {
            tracing::error!(
                kind,
                "a watch has not listed its objects after {FIRST_LIST_TIMEOUT:?} (see the warnings above); starting without it"
            );
        }
    }
    // NetworkPolicies Palisade did not write, judged by the webhook's rule (see `foreign`):
    // started once the namespaces are known, so each policy's tenant is.
    let _foreign = Task::spawn(crate::foreign::watch(driver.clone(), client.clone(), shared.clone()));
    if tokio::time::timeout(FIRST_LIST_TIMEOUT, synced.listed(crate::foreign::WATCH_NAME))
        .await
        .is_err()
    {
        tracing::error!(
            "the watch of NetworkPolicies not written by Palisade has not listed them after {FIRST_LIST_TIMEOUT:?}; starting without it"
        );
    }
    tracing::info!(
        watched = ?served.iter().map(|k| k.describe()).collect::<Vec<_>>(),
        apis = ?discovered.facts.apis,
        cached_objects = shared.cache().len(),
        "caches filled; controller starting"
    );

    let context = Arc::new(Context {
        recorder: Recorder::new(client.clone(), Reporter::from("palisade-controller")),
        client: client.clone(),
        resync: options.resync,
        verify_interval: options.verify_interval,
        verified: Mutex::new(HashMap::new()),
        tenants: tenant_store,
        shared: shared.clone(),
        discovered: RwLock::new(Arc::new(discovered)),
        metrics: options.metrics.clone(),
        failures: Mutex::new(HashMap::new()),
    });
    let _discovery = Task::spawn(refresh_discovery(
        client,
        driver.clone(),
        options.clone(),
        context.clone(),
        watches,
    ));
    ready.store(true, Ordering::Relaxed);
    controller
        .with_config(ControllerConfig::default().concurrency(options.concurrency))
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, context)
        .for_each(|result| async move {
            if let Err(error) = result {
                tracing::debug!(%error, "controller event");
            }
        })
        .await;
    tracing::info!("controller stopped");
    Ok(())
}

/// A CustomResourceDefinition was created, changed or deleted: discovery is asked again. A
/// relist is not a change.
struct CrdChanged(Notify);

impl Sink<()> for CrdChanged {
    fn apply(&self, (): ()) {
        self.0.notify_one();
    }
    fn delete(&self, (): ()) {
        self.0.notify_one();
    }
    fn reset(&self, _: Vec<()>) {}
}

/// Asks discovery again every `discovery_interval`, and two seconds after any CRD changes (a
/// new CRD is served only once Established). When what is served changes, watches start or stop
/// and every tenant is reconciled, so Istio installed after Palisade gets its policies at once.
async fn refresh_discovery(client: Client, driver: Driver, options: Options, ctx: Arc<Context>, mut watches: Watches) {
    // Optional: without it (no permission to watch CRDs) discovery still refreshes periodically.
    let changed = Arc::new(CrdChanged(Notify::new()));
    let _crds = driver.watch(
        "CustomResourceDefinition",
        Needed::Optional,
        Api::<PartialObjectMeta<CustomResourceDefinition>>::all(client.clone()),
        watcher::Config::default(),
        |_| (),
        vec![changed.clone()],
    );
    loop {
        tokio::select! {
            () = tokio::time::sleep(options.discovery_interval) => {}
            () = changed.0.notified() => tokio::time::sleep(Duration::from_secs(2)).await,
        }
        let state = ctx.tenants.state();
        options.metrics.tenants.set(state.len() as i64);
        options.metrics.cached_objects.set(ctx.shared.cache().len() as i64);
        let fresh = match discover(&client, options.dns.as_ref()).await {
            Ok(fresh) => fresh,
            Err(error) => {
                tracing::warn!(error = %crate::chain(&error), "discovery failed; keeping what was found before");
                continue;
            }
        };
        if *ctx.discovered() == fresh {
            continue;
        }
        tracing::info!(apis = ?fresh.facts.apis, "the cluster's APIs changed; reconciling every tenant");
        let served = fresh.served_kinds();
        *ctx.discovered
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(fresh);
        // New watches are not waited for: an object applied before its watch lists is applied
        // once more at most.
        drop(watches.ensure(&client, &served, &ctx.shared));
        ctx.shared.wake_all();
    }
}
