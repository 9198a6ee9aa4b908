//! Shared set-up of the controller's testenv tests: the CRDs, a controller running in this
//! process, and helpers to compare the cluster with what the renderer says.

#![allow(dead_code)] // each test binary uses a different part

use std::collections::BTreeSet;
use std::sync::OnceLock;
use std::time::Duration;

use kube::api::{DynamicObject, ListParams};
use kube::{Api, Client, ResourceExt};
use palisade_api::{Tenant, TenantCondition, labels};
use palisade_controller::diff::ObjectKey;
use palisade_controller::kinds::{MANAGED_KINDS, ManagedKind};
use palisade_tenancy::render::{AvailableApis, TenantPlan};
use palisade_tenancy::{ClusterFacts, ClusterInventory, TenantIndex, render_tenant};
use palisade_testenv::{TestEnv, eventually, unique_name};
use serde_json::Value;

pub const WAIT: Duration = Duration::from_secs(90);

pub fn unique(prefix: &str) -> String {
    unique_name(prefix)
}

pub fn env() -> &'static TestEnv {
    match TestEnv::get() {
        Ok(env) => env,
        Err(e) => panic!("{e}"),
    }
}

/// A controller running on its own thread and runtime, so that it outlives each test's runtime.
pub struct RunningController {
    kill: std::sync::Mutex<Option<tokio::sync::oneshot::Sender<()>>>,
    shutdown: std::sync::Mutex<Option<tokio::sync::oneshot::Sender<()>>>,
    thread: std::sync::Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl RunningController {
    /// Stops the controller at once, as a crash would: in-flight reconciles are dropped halfway.
    pub fn kill(&self) {
        if let Some(kill) = self.kill.lock().unwrap().take() {
            let _ = kill.send(());
        }
        self.join();
    }

    /// Stops the controller as SIGTERM would: it finishes its reconciles and leaves the election.
    pub fn shut_down(&self) {
        if let Some(shutdown) = self.shutdown.lock().unwrap().take() {
            let _ = shutdown.send(());
        }
        self.join();
    }

    fn join(&self) {
        if let Some(thread) = self.thread.lock().unwrap().take() {
            thread.join().unwrap();
        }
    }
}

impl Drop for RunningController {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Starts a controller against the testenv of this test binary (installing the CRDs first).
pub fn start_controller() -> RunningController {
    start_controller_with(|_| palisade_controller::Options {
        discovery_interval: Duration::from_secs(2),
        ..palisade_controller::Options::default()
    })
}

/// [`start_controller`] with options of the test's choosing; `options` gets a client of the
/// testenv that counts requests into the metrics it will be given.
pub fn start_controller_with(
    options: impl FnOnce(&mut palisade_controller::Options) -> palisade_controller::Options + Send + 'static,
) -> RunningController {
    // RUST_LOG=palisade_controller=info shows every reconcile.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let env = env();
    let (kill_tx, kill_rx) = tokio::sync::oneshot::channel::<()>();
    let (shutdown_tx, shutdown_rx) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let _ = rustls::crypto::ring::default_provider().install_default();
            install_crds(&env.admin_client().await.unwrap()).await;
            let mut defaults = palisade_controller::Options::default();
            let options = options(&mut defaults);
            let kubeconfig = kube::config::Kubeconfig::read_from(env.kubeconfig_path()).unwrap();
            let config = kube::Config::from_custom_kubeconfig(kubeconfig, &kube::config::KubeConfigOptions::default())
                .await
                .unwrap();
            let client = palisade_controller::counting_client(config, &options.metrics).unwrap();
            let shutdown = async move {
                let _ = shutdown_rx.await;
            };
            tokio::select! {
                result = palisade_controller::run(client, options, shutdown) => {
                    if let Err(error) = result {
                        eprintln!("controller stopped with an error: {error}");
                    }
                }
                _ = kill_rx => {}
            }
        });
        // Dropping the runtime here aborts whatever the controller was doing.
    });
    RunningController {
        kill: std::sync::Mutex::new(Some(kill_tx)),
        shutdown: std::sync::Mutex::new(Some(shutdown_tx)),
        thread: std::sync::Mutex::new(Some(thread)),
    }
}

static CONTROLLER: OnceLock<RunningController> = OnceLock::new();

/// The controller shared by the tests of this binary.
pub fn controller() -> &'static RunningController {
    CONTROLLER.get_or_init(start_controller)
}

static CRDS: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();

/// The CRDs from deploy/crds, applied and established.
pub async fn install_crds(client: &Client) {
    palisade_testenv::install_palisade_crds(client).await.unwrap();
}

/// A test's handle on the cluster, with the shared controller running.
pub struct Cluster {
    pub admin: Client,
}

impl Cluster {
    pub async fn start() -> Cluster {
        controller();
        Cluster::without_controller().await
    }

    /// The cluster with the CRDs installed, for tests that start their own controllers.
    pub async fn without_controller() -> Cluster {
        let admin = env().admin_client().await.unwrap();
        CRDS.get_or_init(|| install_crds(&admin)).await;
        Cluster { admin }
    }

    pub fn tenants(&self) -> Api<Tenant> {
        Api::all(self.admin.clone())
    }

    pub async fn create(&self, tenant: &Tenant) -> Tenant {
        self.tenants().create(&Default::default(), tenant).await.unwrap()
    }

    /// Waits until the controller has reconciled the tenant's current generation and its Ready
    /// condition has `ready` ("True"/"False"); returns the tenant.
    pub async fn wait_reconciled(&self, name: &str, ready: &str) -> Tenant {
        let tenants = self.tenants();
        eventually(&format!("tenant {name} reconciled with Ready={ready}"), WAIT, || {
            let tenants = tenants.clone();
            async move {
                let tenant = tenants.get(name).await.ok()?;
                let status = tenant.status.as_ref()?;
                let current = status.observed_generation == tenant.metadata.generation;
                let condition = condition(&tenant, "Ready")?;
                (current && condition.status == ready).then_some(tenant)
            }
        })
        .await
        .unwrap()
    }

    /// Every object labelled managed-by=palisade for `tenant`, of the kinds testenv serves.
    pub async fn managed_objects(&self, tenant: &str) -> BTreeSet<ObjectKey> {
        let built_in: Vec<&ManagedKind> = MANAGED_KINDS.iter().filter(|k| k.built_in).collect();
        managed_objects_of(&self.admin, tenant, &built_in).await
    }

    pub async fn get(&self, key: &ObjectKey) -> Option<DynamicObject> {
        api(&self.admin, kind_of(key), key.namespace.as_deref())
            .get_opt(&key.name)
            .await
            .unwrap()
    }

    /// Waits until the cluster holds exactly what the renderer says for `tenant` (testenv serves
    /// no optional API), every desired object containing the rendered fields.
    pub async fn wait_converged(&self, tenant: &Tenant) -> TenantPlan {
        let plan = expected_plan(tenant);
        let want: BTreeSet<ObjectKey> = plan.all_objects().map(ObjectKey::of).collect();
        let name = tenant.name_any();
        eventually(&format!("tenant {name}'s objects to match the renderer"), WAIT, || {
            let want = want.clone();
            let plan = &plan;
            let name = &name;
            async move {
                let have = self.managed_objects(name).await;
                if have != want {
                    return None;
                }
                holds_objects(&self.admin, plan).await.then_some(())
            }
        })
        .await
        .unwrap();
        plan
    }
}

/// Every object of `kinds` labelled as Palisade's for `tenant` (being deleted ones left out).
pub async fn managed_objects_of(client: &Client, tenant: &str, kinds: &[&ManagedKind]) -> BTreeSet<ObjectKey> {
    let selector = format!(
        "{}={tenant},{}={}",
        labels::TENANT,
        labels::MANAGED_BY,
        labels::MANAGED_BY_VALUE
    );
    let mut found = BTreeSet::new();
    for kind in kinds {
        let api: Api<DynamicObject> = Api::all_with(client.clone(), &kind.api_resource());
        for item in api.list(&ListParams::default().labels(&selector)).await.unwrap().items {
            if item.metadata.deletion_timestamp.is_none() {
                found.insert(ObjectKey::new(
                    kind.api_version,
                    kind.kind,
                    item.namespace().as_deref(),
                    &item.name_any(),
                ));
            }
        }
    }
    found
}

/// Whether every object of `plan` exists with its rendered fields (prints the first mismatch).
pub async fn holds_objects(client: &Client, plan: &TenantPlan) -> bool {
    for object in plan.all_objects() {
        let api = api(client, kind_of(&ObjectKey::of(object)), object.namespace.as_deref());
        let Ok(live) = api.get(&object.name).await else {
            return false;
        };
        let live = serde_json::to_value(&live).unwrap();
        if let Err(why) = contains(&live, &object.manifest, "") {
            eprintln!("{}: {why}", object.describe());
            return false;
        }
    }
    true
}

pub fn condition(tenant: &Tenant, type_: &str) -> Option<TenantCondition> {
    tenant
        .status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == type_)
        .cloned()
}

pub fn kind_of(key: &ObjectKey) -> &'static ManagedKind {
    palisade_controller::kinds::lookup(&key.api_version, &key.kind).unwrap()
}

pub fn api(client: &Client, kind: &ManagedKind, namespace: Option<&str>) -> Api<DynamicObject> {
    match namespace {
        Some(ns) => Api::namespaced_with(client.clone(), ns, &kind.api_resource()),
        None => Api::all_with(client.clone(), &kind.api_resource()),
    }
}

/// What the renderer says `tenant` must have in testenv (no optional API served), in the
/// namespaces of its spec and status. The inventory is empty: these tests make no Node and no
/// PersistentVolume, and their tenants restrict no class kind, so the owners' rules do not
/// depend on it.
pub fn expected_plan(tenant: &Tenant) -> TenantPlan {
    let facts = ClusterFacts {
        apis: AvailableApis::none(),
        ..ClusterFacts::default()
    };
    render_tenant(
        tenant,
        &TenantIndex::new([tenant]),
        &facts,
        &ClusterInventory::default(),
    )
}

/// Whether `live` holds every field of `expected` (the controller's own comparison).
pub fn contains(live: &Value, expected: &Value, path: &str) -> Result<(), String> {
    match palisade_controller::compare::mismatch(live, expected, path) {
        None => Ok(()),
        Some(why) => Err(why),
    }
}

pub fn tenant_from_yaml(yaml: &str) -> Tenant {
    serde_saphyr::from_str(yaml).unwrap_or_else(|e| panic!("{e}\n{yaml}"))
}
