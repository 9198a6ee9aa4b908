//! Shared set-up of the testenv tests: the CRDs, a PriorityClass, and one webhook per test binary,
//! served from this process on 127.0.0.1 and registered with the API server.

#![allow(dead_code)] // each test binary uses a different part

use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use k8s_openapi::api::core::v1::{Namespace, Pod, ServiceAccount};
use k8s_openapi::api::rbac::v1::ClusterRoleBinding;
use k8s_openapi::api::scheduling::v1::PriorityClass;
use kube::api::{Patch, PatchParams};
use kube::{Api, Client};
use palisade_admission::AdmissionConfig;
use palisade_api::Tenant;
use palisade_testenv::{TestEnv, eventually, unique_name};
use palisade_webhook::{Endpoint, Index, Options, Tls};
use serde_json::json;

pub const WAIT: Duration = Duration::from_secs(60);
pub const TENANT_NORMAL_PRIORITY: i32 = 1000;
/// Where the test webhook keeps its quota ledgers.
pub const LEDGER_NAMESPACE: &str = "palisade-system";
/// Short, so that the tests see a refused request's reservation released.
pub const RESERVATION_GRACE: Duration = Duration::from_secs(3);

pub fn unique(prefix: &str) -> String {
    unique_name(prefix)
}

pub fn env() -> &'static TestEnv {
    match TestEnv::get() {
        Ok(env) => env,
        Err(e) => panic!("{e}"),
    }
}

/// The webhook of this test binary, running on its own thread and runtime so that it outlives
/// each test's runtime.
pub struct RunningWebhook {
    pub index: Arc<Index>,
    pub port: u16,
    stop: std::sync::Mutex<Option<tokio::sync::oneshot::Sender<()>>>,
}

impl RunningWebhook {
    /// Stops the webhook (its configurations stay registered, as after a crash).
    pub fn stop(&self) {
        if let Some(stop) = self.stop.lock().unwrap().take() {
            let _ = stop.send(());
        }
    }
}

static WEBHOOK: OnceLock<RunningWebhook> = OnceLock::new();

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

pub fn webhook() -> &'static RunningWebhook {
    WEBHOOK.get_or_init(|| {
        let env = env();
        let port = free_port();
        let index = Arc::new(Index::default());
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let served = index.clone();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let _ = rustls::crypto::ring::default_provider().install_default();
                let client = env.admin_client().await.unwrap();
                prepare_cluster(&client).await;
                let options = Options {
                    listen: SocketAddr::from(([127, 0, 0, 1], port)),
                    metrics_listen: None,
                    endpoint: Endpoint::Url(format!("https://127.0.0.1:{port}")),
                    register: true,
                    tls: Tls::SelfManaged {
                        names: vec!["127.0.0.1".to_string()],
                        renew_before: Duration::from_secs(3600),
                    },
                    config: AdmissionConfig::default(),
                    ledger_namespace: LEDGER_NAMESPACE.to_string(),
                    reservation_grace: RESERVATION_GRACE,
                };
                let shutdown = async move {
                    let _ = stop_rx.await;
                };
                if let Err(error) = palisade_webhook::run_with_index(client, options, served, shutdown).await {
                    eprintln!("webhook stopped with an error: {error}");
                }
            });
        });
        RunningWebhook {
            index,
            port,
            stop: std::sync::Mutex::new(Some(stop_tx)),
        }
    })
}

/// CRDs from deploy/crds, the PriorityClass tenants default to, and Palisade's namespace.
async fn prepare_cluster(client: &Client) {
    palisade_testenv::install_palisade_crds(client).await.unwrap();
    let namespaces = Api::<Namespace>::all(client.clone());
    if namespaces.get_opt(LEDGER_NAMESPACE).await.unwrap().is_none() {
        namespaces
            .create(&Default::default(), &namespace_object(LEDGER_NAMESPACE))
            .await
            .unwrap();
    }
    let priority: PriorityClass =
        serde_json::from_value(json!({ "metadata": { "name": "tenant-normal" }, "value": TENANT_NORMAL_PRIORITY }))
            .unwrap();
    Api::<PriorityClass>::all(client.clone())
        .patch(
            "tenant-normal",
            &PatchParams::apply("palisade-test").force(),
            &Patch::Apply(&priority),
        )
        .await
        .unwrap();
}

/// A test's handle on the cluster, with the webhook ready.
pub struct Cluster {
    pub admin: Client,
    pub webhook: &'static RunningWebhook,
}

impl Cluster {
    pub async fn start() -> Cluster {
        let webhook = webhook();
        let admin = env().admin_client().await.unwrap();
        let index = webhook.index.clone();
        let port = webhook.port;
        eventually("the webhook to sync and serve", Duration::from_secs(120), || {
            let index = index.clone();
            async move {
                let serving = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok();
                (index.is_synced() && serving).then_some(())
            }
        })
        .await
        .unwrap();
        Cluster { admin, webhook }
    }

    pub fn tenants_api(&self) -> Api<Tenant> {
        Api::all(self.admin.clone())
    }

    /// A new tenant `<prefix>-<random>` owned by a new user who may do anything RBAC allows
    /// (cluster-admin ClusterRole, but not in system:masters): the webhook is then the only gate.
    pub async fn tenant(&self, prefix: &str, namespaces: &str) -> (String, Client) {
        self.tenant_with(prefix, namespaces, "").await
    }

    pub async fn tenant_with(&self, prefix: &str, namespaces: &str, extra_spec: &str) -> (String, Client) {
        let name = unique(prefix);
        let owner = format!("{name}-owner");
        let tenant = tenant_object(&name, &owner, namespaces, extra_spec);
        self.tenants_api().create(&Default::default(), &tenant).await.unwrap();
        let binding: ClusterRoleBinding = serde_json::from_value(json!({
            "metadata": { "name": format!("{name}-owner") },
            "roleRef": { "apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin" },
            "subjects": [{ "apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": owner }]
        }))
        .unwrap();
        Api::<ClusterRoleBinding>::all(self.admin.clone())
            .create(&Default::default(), &binding)
            .await
            .unwrap();
        self.wait_for_tenant(&name).await;
        let client = env().user_client(&owner, &[]).await.unwrap();
        (name, client)
    }

    /// A tenant with a forced prefix and one namespace `<tenant>-<suffix>` made by its owner, the
    /// webhook knowing both: `(tenant, namespace, owner)`.
    pub async fn tenant_with_namespace(
        &self,
        prefix: &str,
        suffix: &str,
        extra_spec: &str,
    ) -> (String, String, Client) {
        let (tenant, owner) = self.tenant_with(prefix, "{ forcePrefix: true }", extra_spec).await;
        let namespace = format!("{tenant}-{suffix}");
        Api::<Namespace>::all(owner.clone())
            .create(&Default::default(), &namespace_object(&namespace))
            .await
            .unwrap();
        self.wait_for_namespace_count(&tenant, 1).await;
        (tenant, namespace, owner)
    }

    pub async fn wait_for_tenant(&self, name: &str) {
        let index = self.webhook.index.clone();
        let name = name.to_string();
        eventually("the webhook to know the tenant", WAIT, || {
            let index = index.clone();
            let name = name.clone();
            async move { index.read().directory.tenant(&name).is_some().then_some(()) }
        })
        .await
        .unwrap();
    }

    /// Cordons `tenant` and waits until the webhook knows.
    pub async fn cordon(&self, tenant: &str) {
        let cordon = serde_json::json!({ "spec": { "cordoned": true } });
        self.tenants_api()
            .patch(
                tenant,
                &kube::api::PatchParams::default(),
                &kube::api::Patch::Merge(cordon),
            )
            .await
            .unwrap();
        let index = self.webhook.index.clone();
        let name = tenant.to_string();
        eventually("the webhook to see the cordon", WAIT, || {
            let index = index.clone();
            let name = name.clone();
            async move {
                index
                    .read()
                    .directory
                    .tenant(&name)
                    .filter(|t| t.spec.cordoned)
                    .map(|_| ())
            }
        })
        .await
        .unwrap();
    }

    pub async fn wait_for_namespace_count(&self, tenant: &str, count: usize) {
        let index = self.webhook.index.clone();
        let tenant = tenant.to_string();
        eventually("the webhook to see the tenant's namespaces", WAIT, || {
            let index = index.clone();
            let tenant = tenant.clone();
            async move {
                use palisade_admission::ClusterView;
                (index.read().namespaces_of(&tenant).len() == count).then_some(())
            }
        })
        .await
        .unwrap();
    }

    /// Pods need the namespace's `default` ServiceAccount, which a controller creates.
    pub async fn wait_for_service_account(&self, namespace: &str) {
        let accounts = Api::<ServiceAccount>::namespaced(self.admin.clone(), namespace);
        eventually("the default ServiceAccount", WAIT, || {
            let accounts = accounts.clone();
            async move { accounts.get_opt("default").await.ok().flatten().map(|_| ()) }
        })
        .await
        .unwrap();
    }
}

pub fn tenant_object(name: &str, owner: &str, namespaces: &str, extra_spec: &str) -> Tenant {
    let yaml = format!(
        "apiVersion: palisade.dev/v1alpha1\nkind: Tenant\nmetadata:\n  name: {name}\nspec:\n  owners: [{{ kind: User, name: {owner} }}]\n  namespaces: {namespaces}\n  {extra_spec}\n"
    );
    serde_saphyr::from_str(&yaml).unwrap_or_else(|e| panic!("{e}\n{yaml}"))
}

pub fn namespace_object(name: &str) -> Namespace {
    serde_json::from_value(json!({ "metadata": { "name": name } })).unwrap()
}

pub fn pod_object(name: &str, image: &str) -> Pod {
    serde_json::from_value(json!({
        "metadata": { "name": name },
        "spec": { "containers": [{ "name": "app", "image": image }] }
    }))
    .unwrap()
}

/// The Service ranges the API server reports in its ServiceCIDR objects (never empty on a
/// cluster that serves them).
pub async fn service_cidrs(client: &Client) -> Vec<String> {
    let cidrs: Vec<String> = Api::<k8s_openapi::api::networking::v1::ServiceCIDR>::all(client.clone())
        .list(&Default::default())
        .await
        .unwrap()
        .items
        .iter()
        .flat_map(|s| s.spec.iter().flat_map(|spec| spec.cidrs.clone().unwrap_or_default()))
        .collect();
    assert!(!cidrs.is_empty(), "the API server reports no ServiceCIDR");
    cidrs
}

/// Every attempt (one per API path) was denied with all `fragments`, and none names `secret`.
#[track_caller]
pub fn expect_every_path_denied<T>(
    subject: &str,
    attempts: Vec<(&str, Result<T, kube::Error>)>,
    fragments: &[&str],
    secret: &str,
) {
    for (path, result) in attempts {
        match result {
            Ok(_) => panic!("{path} of {subject} was admitted"),
            Err(error) => {
                let message = error.to_string();
                for fragment in fragments {
                    assert!(message.contains(fragment), "{path}: {message:?} lacks {fragment:?}");
                }
                assert!(!message.contains(secret), "{path}: {message:?} names {secret:?}");
            }
        }
    }
}

/// The request failed, and the message the user sees contains every fragment.
#[track_caller]
pub fn expect_denied<T: std::fmt::Debug>(result: Result<T, kube::Error>, fragments: &[&str]) {
    match result {
        Ok(value) => panic!("expected a denial, the request succeeded: {value:?}"),
        Err(error) => {
            let message = error.to_string();
            for fragment in fragments {
                assert!(message.contains(fragment), "the denial {message:?} lacks {fragment:?}");
            }
        }
    }
}
