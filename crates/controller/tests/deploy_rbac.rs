#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed step should stop the test loudly
//! deploy/palisade/ against a real API server: every manifest is accepted, and the controller
//! running as its ServiceAccount, with nothing but the RBAC those manifests grant, makes tenants
//! of every network provider and mesh Ready, prunes, elects itself, reports Events; the webhook's
//! ServiceAccount can fill its caches and register itself. Access reviews show the rest of the
//! RBAC the code needs only on paths that degrade silently, and what neither identity can do.
//!
//! A missing rule shows up as a tenant Ready=False (ApplyFailed) whose message names the
//! forbidden request; the test prints it and stops.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{condition, env, kind_of, tenant_from_yaml, unique};
use futures::StreamExt;
use k8s_openapi::api::admissionregistration::v1::ValidatingAdmissionPolicy;
use k8s_openapi::api::authorization::v1::{ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Namespace, Node, PersistentVolume, Pod};
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::api::networking::v1::Ingress;
use k8s_openapi::api::rbac::v1::ClusterRole;
use kube::api::{DynamicObject, ListParams, Patch, PatchParams, PostParams, WatchParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::core::GroupVersionKind;
use kube::{Api, Client, Config, ResourceExt};
use palisade_api::{Tenant, labels};
use palisade_controller::LeaderElection;
use palisade_controller::diff::ObjectKey;
use palisade_controller::discovery::discover;
use palisade_controller::kinds::{MANAGED_KINDS, ManagedKind};
use palisade_tenancy::render::{MarkedPolicy, TenantPlan};
use palisade_tenancy::{ClusterInventory, TenantIndex, render_tenant};
use palisade_testenv::{StandInKind, eventually, install_stand_in_crd};
use serde_json::{Value, json};

const CONTROLLER_SA: &str = "system:serviceaccount:palisade-system:palisade";
const WEBHOOK_SA: &str = "system:serviceaccount:palisade-system:palisade-webhook";
const FIELD_MANAGER: &str = "palisade-deploy-test";
/// Generous for a loaded 2-core machine; a tenant is Ready in about a second.
const WAIT: Duration = Duration::from_secs(45);

fn deploy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/palisade")
}

/// Every YAML document under deploy/palisade/, in file-name order, with its file.
fn manifests() -> Vec<(String, Value)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(deploy_dir())
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no manifests under {}", deploy_dir().display());
    let mut documents = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let name = file.file_name().unwrap().to_string_lossy().to_string();
        let parsed: Vec<Value> = serde_saphyr::from_multiple(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        documents.extend(parsed.into_iter().filter(|d| !d.is_null()).map(|d| (name.clone(), d)));
    }
    documents
}

fn describe(document: &Value) -> String {
    format!(
        "{} {}/{}",
        document["kind"].as_str().unwrap_or("?"),
        document["metadata"]["namespace"].as_str().unwrap_or("-"),
        document["metadata"]["name"].as_str().unwrap_or("?"),
    )
}

#[test]
fn roles_name_every_verb_resource_and_group() {
    let mut roles = 0;
    for (file, document) in manifests() {
        if !matches!(document["kind"].as_str(), Some("ClusterRole" | "Role")) {
            continue;
        }
        roles += 1;
        let rules = document["rules"]
            .as_array()
            .unwrap_or_else(|| panic!("{file}: no rules"));
        for rule in rules {
            for field in ["verbs", "resources", "apiGroups", "resourceNames", "nonResourceURLs"] {
                let entries = rule[field].as_array().cloned().unwrap_or_default();
                for entry in entries {
                    let entry = entry.as_str().unwrap_or_default();
                    assert!(
                        !entry.contains('*'),
                        "{file}: {} grants {field} {entry:?} in {rule}",
                        describe(&document)
                    );
                }
            }
            assert!(rule.get("nonResourceURLs").is_none(), "{file}: {rule}");
        }
    }
    assert!(roles >= 2, "the controller's and the webhook's roles");
}

/// The API server's own answer on the ClusterRoles, once applied: aggregation or a typo could
/// make them differ from the file.
async fn assert_no_wildcards_live(admin: &Client) {
    for name in ["palisade-controller", "palisade-webhook"] {
        let role = Api::<ClusterRole>::all(admin.clone()).get(name).await.unwrap();
        for rule in role.rules.unwrap_or_default() {
            let fields = [
                rule.verbs.clone(),
                rule.resources.clone().unwrap_or_default(),
                rule.api_groups.clone().unwrap_or_default(),
            ];
            assert!(!fields.iter().flatten().any(|e| e.contains('*')), "{name}: {rule:?}");
        }
    }
}

static SETUP: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();

/// Palisade's CRDs, a stand-in CRD for every optional kind (so the controller uses them all),
/// and every manifest of deploy/palisade/, applied once per test binary as the admin.
async fn set_up(admin: &Client) {
    SETUP
        .get_or_init(|| async {
            let _ = rustls::crypto::ring::default_provider().install_default();
            common::install_crds(admin).await;
            let stand_ins = MANAGED_KINDS.iter().filter(|k| !k.built_in).map(|k| async move {
                let kind = StandInKind {
                    api_version: k.api_version,
                    kind: k.kind,
                    plural: k.plural,
                    namespaced: k.namespaced,
                };
                install_stand_in_crd(admin, kind).await.unwrap();
            });
            futures::future::join_all(stand_ins).await;
            publish_api_server_endpoints(admin).await;
            for (file, document) in manifests() {
                apply_manifest(admin, &document)
                    .await
                    .unwrap_or_else(|e| panic!("{file}: applying {}: {e}", describe(&document)));
            }
            wait_for_rbac().await;
        })
        .await;
}

/// The API server authorizes from informer caches, so a binding just applied may not count yet,
/// and a forbidden request then would be a false alarm: waits until the first rule of every
/// bound role is in effect for its ServiceAccount.
async fn wait_for_rbac() {
    let documents: Vec<Value> = manifests().into_iter().map(|(_, d)| d).collect();
    let bindings = documents
        .iter()
        .filter(|d| matches!(d["kind"].as_str(), Some("RoleBinding" | "ClusterRoleBinding")));
    for binding in bindings {
        let namespace = binding["metadata"]["namespace"].as_str();
        let role = documents
            .iter()
            .find(|d| {
                d["kind"] == binding["roleRef"]["kind"]
                    && d["metadata"]["name"] == binding["roleRef"]["name"]
                    && d["metadata"]["namespace"].as_str() == namespace
            })
            .unwrap_or_else(|| panic!("{}: its role is not in deploy/palisade/", describe(binding)));
        let rule = &role["rules"][0];
        let field = |name: &str| rule[name][0].as_str().map(str::to_string);
        let resource = format!("{}/{}", field("apiGroups").unwrap(), field("resources").unwrap());
        let check = Check {
            verb: field("verbs").unwrap(),
            resource,
            namespace: namespace.map(str::to_string),
            name: field("resourceNames"),
            allowed: true,
        };
        for subject in binding["subjects"].as_array().unwrap() {
            let user = format!(
                "system:serviceaccount:{}:{}",
                subject["namespace"].as_str().unwrap(),
                subject["name"].as_str().unwrap()
            );
            let client = client_as(&user).await;
            let what = format!("{} to take effect for {user}", describe(binding));
            eventually(&what, WAIT, || async { check.holds(&client).await.then_some(()) })
                .await
                .unwrap();
        }
    }
}

/// testenv runs without the API server's endpoint reconciler, so nothing says where it listens;
/// this slice does, the way the reconciler would, so that tenants granted API access are
/// rendered in full and discovery's read of the slices (whose failure is only logged) is
/// compared with the admin's.
async fn publish_api_server_endpoints(admin: &Client) {
    use k8s_openapi::api::discovery::v1::EndpointSlice;

    let name = "palisade-test-kubernetes";
    let slice: EndpointSlice = serde_json::from_value(json!({
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": { "name": name, "namespace": "default", "labels": { "kubernetes.io/service-name": "kubernetes" } },
        "addressType": "IPv4",
        // A documentation address (loopback is refused): it only ends up in NetworkPolicies.
        "endpoints": [{ "addresses": ["192.0.2.10"] }],
        "ports": [{ "name": "https", "port": 6443, "protocol": "TCP" }]
    }))
    .unwrap();
    Api::<EndpointSlice>::namespaced(admin.clone(), "default")
        .patch(name, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(&slice))
        .await
        .unwrap();
}

async fn apply_manifest(admin: &Client, document: &Value) -> Result<(), kube::Error> {
    let api_version = document["apiVersion"].as_str().unwrap_or_default();
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    let gvk = GroupVersionKind::gvk(group, version, document["kind"].as_str().unwrap_or_default());
    let (resource, capabilities) = kube::discovery::pinned_kind(admin, &gvk).await?;
    let api: Api<DynamicObject> = match document["metadata"]["namespace"].as_str() {
        Some(ns) if capabilities.scope == kube::discovery::Scope::Namespaced => {
            Api::namespaced_with(admin.clone(), ns, &resource)
        }
        _ => Api::all_with(admin.clone(), &resource),
    };
    let name = document["metadata"]["name"].as_str().unwrap_or_default();
    api.patch(
        name,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(document),
    )
    .await
    .map(drop)
}

/// A client that the API server takes for `user`, a ServiceAccount of palisade-system, exactly
/// as it would take the pod's token: same user name, same groups.
async fn client_as(user: &str) -> Client {
    let kubeconfig = Kubeconfig::read_from(env().kubeconfig_path()).unwrap();
    let mut config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .unwrap();
    config.auth_info.impersonate = Some(user.to_string());
    config.auth_info.impersonate_groups = Some(vec![
        "system:serviceaccounts".to_string(),
        "system:serviceaccounts:palisade-system".to_string(),
        "system:authenticated".to_string(),
    ]);
    Client::try_from(config).unwrap()
}

/// The controller as a Deployment replica would run it, as the ServiceAccount, on its own thread
/// and runtime; stopped gracefully (so it also hands the Lease back) by [`Self::stop`].
struct Controller {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<Result<(), String>>>,
}

const IDENTITY: &str = "rbac-test";

impl Controller {
    fn start() -> Controller {
        // RUST_LOG=palisade_controller=debug shows every request that failed.
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let client = client_as(CONTROLLER_SA).await;
                let options = palisade_controller::Options {
                    discovery_interval: Duration::from_secs(2),
                    leader_election: Some(LeaderElection::new("palisade-system", IDENTITY)),
                    ..palisade_controller::Options::default()
                };
                let shutdown = async move {
                    let _ = stopped.await;
                };
                palisade_controller::run(client, options, shutdown)
                    .await
                    .map_err(|e| palisade_controller::chain(&e))
            })
        });
        Controller {
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// Why the controller stopped on its own, if it did (it runs until told to stop).
    fn failure(&mut self) -> Option<String> {
        if !self.thread.as_ref().is_some_and(std::thread::JoinHandle::is_finished) {
            return None;
        }
        let result = self.thread.take().map(|t| t.join().unwrap());
        Some(match result {
            Some(Err(error)) => error,
            _ => "it stopped without an error".to_string(),
        })
    }

    fn stop(mut self) -> Result<(), String> {
        self.stop.take().map(|stop| stop.send(()));
        self.thread.take().map(|t| t.join().unwrap()).unwrap_or(Ok(()))
    }
}

impl Drop for Controller {
    fn drop(&mut self) {
        // A failed assertion must not leave the controller running into the next test.
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Waits until the controller has reconciled the tenant's current generation to Ready=True.
/// A forbidden request stops the test at once with the condition that names it.
async fn wait_ready(controller: &mut Controller, tenants: &Api<Tenant>, name: &str) -> Tenant {
    let deadline = Instant::now() + WAIT;
    let mut last = None;
    loop {
        let tenant = tenants.get(name).await.unwrap();
        let current = tenant.status.as_ref().map(|s| s.observed_generation) == Some(tenant.metadata.generation);
        if let Some(ready) = condition(&tenant, "Ready").filter(|_| current) {
            if ready.status == "True" {
                return tenant;
            }
            if ready.reason == "ApplyFailed" && ready.message.to_lowercase().contains("forbidden") {
                panic!(
                    "tenant {name}: the controller's RBAC in deploy/palisade/ lacks a permission:\n  {}: {}",
                    ready.reason, ready.message
                );
            }
            last = Some(ready);
        }
        if let Some(error) = controller.failure() {
            panic!("the controller stopped before tenant {name} was Ready: {error}");
        }
        if Instant::now() > deadline {
            match last {
                Some(ready) => panic!(
                    "tenant {name} not Ready after {WAIT:?}: {} {}: {}",
                    ready.status, ready.reason, ready.message
                ),
                None => panic!(
                    "tenant {name} has no status for its generation after {WAIT:?}: \
                     can the controller lead (get and patch its Lease), list and watch every \
                     managed kind (it waits for their first lists), and patch tenants/status? \
                     (RUST_LOG=palisade_controller=debug shows its requests)"
                ),
            }
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// What the renderer says the tenants must have, with what the cluster serves (every optional
/// API, through the stand-ins). The inventory holds only the tenant policies: this test makes
/// no Node and no PersistentVolume, and its tenants restrict no class kind.
async fn expected(admin: &Client, tenants: &Api<Tenant>, names: &[String]) -> BTreeMap<String, TenantPlan> {
    let facts = discover(admin, None).await.unwrap().facts;
    let marked = Api::<ValidatingAdmissionPolicy>::all(admin.clone())
        .list(&ListParams::default().labels("palisade.dev/tenant-policy=true"))
        .await
        .unwrap();
    let inventory = ClusterInventory {
        policies: marked
            .items
            .iter()
            .map(|vap| {
                let policy = MarkedPolicy::from_policy(vap, palisade_policy::vap::tenant_policy_problems(vap));
                (policy.name.clone(), policy)
            })
            .collect(),
        ..ClusterInventory::default()
    };
    let mut live = Vec::new();
    for name in names {
        live.push(tenants.get(name).await.unwrap());
    }
    let index = TenantIndex::new(live.iter());
    live.iter()
        .map(|t| (t.name_any(), render_tenant(t, &index, &facts, &inventory)))
        .collect()
}

/// Every object of every managed kind labelled as Palisade's for `tenant`.
async fn managed_objects(admin: &Client, tenant: &str) -> BTreeSet<ObjectKey> {
    let all: Vec<&ManagedKind> = MANAGED_KINDS.iter().collect();
    common::managed_objects_of(admin, tenant, &all).await
}

/// Waits until the cluster holds exactly each plan's objects, each with the rendered fields.
/// `hint` says which permission a timeout most likely means.
async fn wait_converged(admin: &Client, plans: &BTreeMap<String, TenantPlan>, hint: &str) -> BTreeSet<ObjectKey> {
    let mut all = BTreeSet::new();
    for (tenant, plan) in plans {
        let want: BTreeSet<ObjectKey> = plan.all_objects().map(ObjectKey::of).collect();
        let what = format!("tenant {tenant}'s objects to match the renderer ({hint})");
        eventually(&what, WAIT, || {
            let want = &want;
            async move {
                let have = managed_objects(admin, tenant).await;
                if have != *want {
                    return None;
                }
                common::holds_objects(admin, plan).await.then_some(())
            }
        })
        .await
        .unwrap();
        all.extend(want);
    }
    all
}

/// Three tenants that between them make the renderer emit every kind the controller manages.
fn tenants_using_every_kind(prefix: &str, custom_role: &str) -> Vec<Tenant> {
    let anp = format!("{prefix}-anp");
    let cilium = format!("{prefix}-cil");
    let calico = format!("{prefix}-cal");
    vec![
        tenant_from_yaml(&format!(
            r#"
apiVersion: palisade.dev/v1alpha1
kind: Tenant
metadata: {{ name: {anp} }}
spec:
  owners:
    - {{ kind: User, name: {anp}-alice, clusterRoles: [admin, {custom_role}] }}
    - {{ kind: Group, name: {anp}-devs }}
  namespaces: {{ names: [{anp}-a, {anp}-b] }}
  quota:
    namespace: {{ pods: "10" }}
    limits: [{{ type: Container, max: {{ cpu: "1" }} }}]
  roleBindings:
    - {{ clusterRole: view, subjects: [{{ kind: ServiceAccount, name: deployer, namespace: ci }}] }}
  network: {{ provider: AdminNetworkPolicy, allowFrom: {{ tenants: [{calico}] }}, egress: {{ apiServer: true }} }}
  mesh: {{ provider: Istio, allowFromTenants: [{cilium}] }}
"#
        )),
        tenant_from_yaml(&format!(
            r#"
apiVersion: palisade.dev/v1alpha1
kind: Tenant
metadata: {{ name: {cilium} }}
spec:
  owners: [{{ kind: User, name: {cilium}-bob }}]
  namespaces: {{ names: [{cilium}-a] }}
  quota: {{ namespace: {{ pods: "5" }} }}
  network: {{ provider: Cilium }}
  mesh: {{ provider: Linkerd, ports: [8080] }}
"#
        )),
        tenant_from_yaml(&format!(
            r#"
apiVersion: palisade.dev/v1alpha1
kind: Tenant
metadata: {{ name: {calico} }}
spec:
  owners: [{{ kind: Group, name: {calico}-devs, clusterRoles: [edit] }}]
  namespaces: {{ names: [{calico}-a] }}
  network: {{ provider: Calico }}
"#
        )),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn controller_needs_nothing_beyond_its_deployed_rbac() {
    let started = Instant::now();
    let admin = env().admin_client().await.unwrap();
    set_up(&admin).await;
    assert_no_wildcards_live(&admin).await;

    // Owners get `admin`, which only `bind` lets the controller grant, and a role of the
    // platform team's own that grants nothing beyond what the controller holds, so it may
    // bind it without `bind` (a role granting more is refused: the greedy tenant below).
    let custom_role = unique("palisade-rbac-test-reader");
    let role: ClusterRole = serde_json::from_value(json!({
        "metadata": { "name": custom_role },
        "rules": [{ "apiGroups": [""], "resources": ["resourcequotas"], "verbs": ["list"] }]
    }))
    .unwrap();
    Api::<ClusterRole>::all(admin.clone())
        .create(&PostParams::default(), &role)
        .await
        .unwrap();

    // What discovery finds as the ServiceAccount must be what the admin finds: its failures are
    // only logged, so this is where a missing read would show.
    let as_controller = client_as(CONTROLLER_SA).await;
    assert_eq!(
        discover(&as_controller, None).await.unwrap(),
        discover(&admin, None).await.unwrap(),
        "discovery as {CONTROLLER_SA} differs from the admin's"
    );

    // A tenant policy, so that every tenant gets a ValidatingAdmissionPolicyBinding whose
    // paramRef names it (the API server lets only a writer who may `get` that Tenant create it).
    let example = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/policies/max-replicas.yaml"),
    )
    .unwrap();
    let example: Value = serde_saphyr::from_str(&example).unwrap();
    apply_manifest(&admin, &example).await.unwrap();

    let mut controller = Controller::start();
    let tenants: Api<Tenant> = Api::all(admin.clone());
    let prefix = unique("rbac");
    let created = tenants_using_every_kind(&prefix, &custom_role);
    let names: Vec<String> = created.iter().map(ResourceExt::name_any).collect();
    for tenant in &created {
        tenants.create(&PostParams::default(), tenant).await.unwrap();
    }
    for name in &names {
        wait_ready(&mut controller, &tenants, name).await;
    }
    let plans = expected(&admin, &tenants, &names).await;
    let before = wait_converged(&admin, &plans, "a Ready tenant has applied everything").await;
    let kinds_used: BTreeSet<(&str, &str)> = before
        .iter()
        .map(|k| (kind_of(k).api_version, kind_of(k).kind))
        .collect();
    let every_kind: BTreeSet<(&str, &str)> = MANAGED_KINDS.iter().map(|k| (k.api_version, k.kind)).collect();
    assert_eq!(kinds_used, every_kind, "the tenants should use every managed kind");
    eprintln!(
        "MEASURE deploy_rbac: {} tenants with {} objects of {} kinds Ready as the ServiceAccount after {:?}",
        names.len(),
        before.len(),
        every_kind.len(),
        started.elapsed()
    );

    // Drift: one object of each kind deleted (a Namespace's managed label changed instead) comes
    // back only through the controller's watch of that kind, well before any resync.
    let mut drifted = BTreeSet::new();
    for key in &before {
        let kind = kind_of(key);
        if !drifted.insert((kind.api_version, kind.kind)) {
            continue;
        }
        let api = common::api(&admin, kind, key.namespace.as_deref());
        if kind.kind == "Namespace" {
            let patch = json!({ "metadata": { "labels": { labels::PSA_ENFORCE: "privileged" } } });
            api.patch(&key.name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
                .unwrap();
        } else {
            api.delete(&key.name, &Default::default()).await.unwrap();
        }
    }
    let hint = "a kind whose watch is refused is repaired only at the next resync: can the controller watch it?";
    wait_converged(&admin, &plans, hint).await;

    // The Lease is this replica's.
    let leases: Api<Lease> = Api::namespaced(admin.clone(), "palisade-system");
    let lease = leases.get("palisade-controller").await.unwrap();
    assert_eq!(
        lease.spec.and_then(|s| s.holder_identity).as_deref(),
        Some(IDENTITY),
        "the controller should lead through its Lease"
    );

    // Events about the cluster-scoped Tenants land in `default`; the Recorder's errors are only
    // logged, so look for them.
    let events: Api<Event> = Api::namespaced(admin.clone(), "default");
    for name in &names {
        eventually(&format!("an Event about tenant {name} in default"), WAIT, || {
            let events = events.clone();
            async move {
                let list = events.list(&ListParams::default()).await.ok()?;
                list.items
                    .iter()
                    .any(|e| {
                        e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name.as_str())
                            && e.reporting_controller.as_deref() == Some("palisade-controller")
                    })
                    .then_some(())
            }
        })
        .await
        .unwrap();
    }

    // Everything optional off, quota and the custom role gone, isolation off for one tenant: each
    // managed kind but Namespace loses objects, so pruning deletes one of each.
    let (anp, cilium, calico) = (&names[0], &names[1], &names[2]);
    let changes = [
        (
            anp,
            json!({ "spec": {
                "owners": [
                    { "kind": "User", "name": format!("{anp}-alice"), "clusterRoles": ["admin"] },
                    { "kind": "Group", "name": format!("{anp}-devs") }
                ],
                "quota": null,
                // Valid as a whole (the controller applies no invalid Tenant): no grants left
                // that nothing would enforce.
                "network": { "isolation": "None", "provider": "Kubernetes", "allowFrom": null },
                "mesh": { "provider": "None", "allowFromTenants": null }
            }}),
        ),
        (
            cilium,
            json!({ "spec": { "network": { "provider": "Kubernetes" }, "mesh": { "provider": "None", "ports": null } } }),
        ),
        (calico, json!({ "spec": { "network": { "provider": "Kubernetes" } } })),
    ];
    // The tenant policy loses its marker: every tenant's binding of it goes.
    let unmark = json!({ "metadata": { "labels": { labels::TENANT_POLICY: null } } });
    Api::<ValidatingAdmissionPolicy>::all(admin.clone())
        .patch("palisade-max-replicas", &PatchParams::default(), &Patch::Merge(&unmark))
        .await
        .unwrap();
    for (name, patch) in &changes {
        tenants
            .patch(name, &PatchParams::default(), &Patch::Merge(patch))
            .await
            .unwrap();
    }
    for name in &names {
        wait_ready(&mut controller, &tenants, name).await;
    }
    let plans = expected(&admin, &tenants, &names).await;
    let after = wait_converged(&admin, &plans, "a Ready tenant has pruned everything").await;
    let pruned: BTreeSet<(&str, &str)> = before
        .difference(&after)
        .map(|k| (kind_of(k).api_version, kind_of(k).kind))
        .collect();
    // Namespaces are never pruned; the owners' ClusterRole and ClusterRoleBinding live as long
    // as the Tenant (a Tenant always has owners), and go with it through the garbage collector.
    let prunable: BTreeSet<(&str, &str)> = every_kind
        .iter()
        .copied()
        .filter(|(_, kind)| !["Namespace", "ClusterRole", "ClusterRoleBinding"].contains(kind))
        .collect();
    assert_eq!(pruned, prunable, "every other kind should have been pruned");

    // Attack: a Tenant whose owners get cluster-admin. The controller may bind only admin, edit
    // and view: the RoleBinding is refused by the API server, the Tenant says what to grant,
    // and no binding to cluster-admin exists. Compliant: the same Tenant with `admin`.
    let greedy = format!("{prefix}-greedy");
    let tenant = tenant_from_yaml(&format!(
        r#"
apiVersion: palisade.dev/v1alpha1
kind: Tenant
metadata: {{ name: {greedy} }}
spec:
  owners: [{{ kind: User, name: {greedy}-root, clusterRoles: [cluster-admin] }}]
  namespaces: {{ names: [{greedy}-a] }}
"#
    ));
    tenants.create(&PostParams::default(), &tenant).await.unwrap();
    let refused = eventually("the greedy tenant refused with RoleNotBindable", WAIT, || async {
        let tenant = tenants.get(&greedy).await.ok()?;
        condition(&tenant, "Ready").filter(|c| c.reason == "RoleNotBindable")
    })
    .await
    .unwrap();
    assert!(
        refused.message.contains(
            "add \"cluster-admin\" to the resourceNames of the `bind` rule in ClusterRole palisade-controller"
        ),
        "{refused:?}"
    );
    let bindings: Api<k8s_openapi::api::rbac::v1::RoleBinding> = Api::namespaced(admin.clone(), &format!("{greedy}-a"));
    let stored = bindings.list(&ListParams::default()).await.unwrap().items;
    assert!(
        stored.iter().all(|b| b.role_ref.name != "cluster-admin"),
        "no binding of cluster-admin may exist: {stored:?}"
    );
    let fix = json!({ "spec": { "owners": [{ "kind": "User", "name": format!("{greedy}-root"), "clusterRoles": ["admin"] }] } });
    tenants
        .patch(&greedy, &PatchParams::default(), &Patch::Merge(&fix))
        .await
        .unwrap();
    wait_ready(&mut controller, &tenants, &greedy).await;

    // A graceful stop hands the Lease back.
    controller.stop().unwrap();
    let lease = leases.get("palisade-controller").await.unwrap();
    assert_ne!(
        lease.spec.and_then(|s| s.holder_identity).as_deref(),
        Some(IDENTITY),
        "a stopped controller should release its Lease"
    );
    eprintln!("MEASURE deploy_rbac: whole controller test {:?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_fills_its_caches_and_registers_with_its_deployed_rbac() {
    let admin = env().admin_client().await.unwrap();
    set_up(&admin).await;
    let client = client_as(WEBHOOK_SA).await;

    // The five watches of crates/webhook/src/index.rs: a list, then a watch from it.
    async fn list_and_watch<K>(api: Api<K>) -> Result<(), kube::Error>
    where
        K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug + Send + 'static,
    {
        let list = api.list(&ListParams::default().limit(1)).await?;
        let version = list.metadata.resource_version.unwrap_or_default();
        let stream = api.watch(&WatchParams::default().timeout(1), &version).await?;
        // A refused watch ends in an error event instead of an error response.
        let mut stream = std::pin::pin!(stream);
        while let Some(event) = stream.next().await {
            if let kube::api::WatchEvent::Error(status) = event? {
                return Err(kube::Error::Api(status));
            }
        }
        Ok(())
    }
    let results = [
        ("tenants", list_and_watch(Api::<Tenant>::all(client.clone())).await),
        (
            "namespaces",
            list_and_watch(Api::<Namespace>::all(client.clone())).await,
        ),
        (
            "persistentvolumes",
            list_and_watch(Api::<PersistentVolume>::all(client.clone())).await,
        ),
        ("ingresses", list_and_watch(Api::<Ingress>::all(client.clone())).await),
        ("nodes", list_and_watch(Api::<Node>::all(client.clone())).await),
        (
            "pods",
            list_and_watch(Api::<k8s_openapi::api::core::v1::Pod>::all(client.clone())).await,
        ),
        (
            "persistentvolumeclaims",
            list_and_watch(Api::<k8s_openapi::api::core::v1::PersistentVolumeClaim>::all(
                client.clone(),
            ))
            .await,
        ),
        (
            "services",
            list_and_watch(Api::<k8s_openapi::api::core::v1::Service>::all(client.clone())).await,
        ),
        (
            "resourcequotas",
            list_and_watch(Api::<k8s_openapi::api::core::v1::ResourceQuota>::all(client.clone())).await,
        ),
        (
            "limitranges",
            list_and_watch(Api::<k8s_openapi::api::core::v1::LimitRange>::all(client.clone())).await,
        ),
    ];
    for (kind, result) in results {
        if let Err(error) = result {
            panic!("the webhook's RBAC in deploy/palisade/ lacks list/watch on {kind}: {error}");
        }
    }

    // The quota ledger: a ConfigMap in palisade-system, created then replaced; nowhere else.
    let ledgers = Api::<k8s_openapi::api::core::v1::ConfigMap>::namespaced(client.clone(), "palisade-system");
    let ledger: k8s_openapi::api::core::v1::ConfigMap =
        serde_json::from_value(json!({ "metadata": { "name": "palisade-quota-ledger-rbac-check" }, "data": {} }))
            .unwrap();
    let created = match ledgers.create(&PostParams::default(), &ledger).await {
        Ok(created) => created,
        Err(kube::Error::Api(status)) if status.code == 409 => {
            ledgers.get("palisade-quota-ledger-rbac-check").await.unwrap()
        }
        Err(error) => panic!("the webhook's RBAC in deploy/palisade/ cannot create its quota ledger: {error}"),
    };
    ledgers
        .replace("palisade-quota-ledger-rbac-check", &PostParams::default(), &created)
        .await
        .unwrap_or_else(|error| {
            panic!("the webhook's RBAC in deploy/palisade/ cannot update its quota ledger: {error}")
        });
    let elsewhere = Api::<k8s_openapi::api::core::v1::ConfigMap>::namespaced(client.clone(), "default")
        .create(&PostParams::default(), &ledger)
        .await;
    assert!(
        elsewhere.is_err(),
        "the webhook could write ConfigMaps outside palisade-system"
    );

    // Registration applies both configurations named `palisade` (dry run: a real one would send
    // this binary's other writes to a webhook that does not run); applying any other name is
    // refused.
    let dry_apply = PatchParams {
        dry_run: true,
        ..PatchParams::apply("palisade").force()
    };
    for kind in ["ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"] {
        let gvk = GroupVersionKind::gvk("admissionregistration.k8s.io", "v1", kind);
        let (resource, _) = kube::discovery::pinned_kind(&admin, &gvk).await.unwrap();
        let api: Api<DynamicObject> = Api::all_with(client.clone(), &resource);
        for name in ["palisade", "someone-else"] {
            let object = json!({
                "apiVersion": "admissionregistration.k8s.io/v1",
                "kind": kind,
                "metadata": { "name": name, "labels": { labels::MANAGED_BY: labels::MANAGED_BY_VALUE } },
                "webhooks": []
            });
            let result = api.patch(name, &dry_apply, &Patch::Apply(&object)).await;
            match (name, result) {
                ("palisade", Err(error)) => {
                    panic!("the webhook's RBAC in deploy/palisade/ cannot register {kind} palisade: {error}")
                }
                ("palisade", Ok(_)) => {}
                (_, Ok(_)) => panic!("the webhook could write another {kind} ({name})"),
                (_, Err(kube::Error::Api(status))) => assert_eq!(status.code, 403, "{status:?}"),
                (_, Err(error)) => panic!("{error}"),
            }
        }
    }
}

/// One question to the API server's own access review, and the answer expected.
struct Check {
    verb: String,
    /// `group/resource[/subresource]`, the core group as the empty group.
    resource: String,
    namespace: Option<String>,
    name: Option<String>,
    allowed: bool,
}

fn may(verb: &str, resource: &str) -> Check {
    Check {
        verb: verb.to_string(),
        resource: resource.to_string(),
        namespace: None,
        name: None,
        allowed: true,
    }
}

fn may_not(verb: &str, resource: &str) -> Check {
    Check {
        allowed: false,
        ..may(verb, resource)
    }
}

impl Check {
    fn ns(self, namespace: &str) -> Check {
        Check {
            namespace: Some(namespace.to_string()),
            ..self
        }
    }

    fn named(self, name: &str) -> Check {
        Check {
            name: Some(name.to_string()),
            ..self
        }
    }

    /// Whether the API server answers as expected to the user of `client`.
    async fn holds(&self, client: &Client) -> bool {
        let mut parts = self.resource.splitn(3, '/');
        let review = SelfSubjectAccessReview {
            spec: SelfSubjectAccessReviewSpec {
                resource_attributes: Some(ResourceAttributes {
                    verb: Some(self.verb.clone()),
                    group: parts.next().map(str::to_string),
                    resource: parts.next().map(str::to_string),
                    subresource: parts.next().map(str::to_string),
                    namespace: self.namespace.clone(),
                    name: self.name.clone(),
                    ..ResourceAttributes::default()
                }),
                ..SelfSubjectAccessReviewSpec::default()
            },
            ..SelfSubjectAccessReview::default()
        };
        let answer = Api::<SelfSubjectAccessReview>::all(client.clone())
            .create(&PostParams::default(), &review)
            .await
            .unwrap();
        answer.status.is_some_and(|s| s.allowed) == self.allowed
    }
}

impl std::fmt::Display for Check {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {} {} in {} named {}",
            if self.allowed { "cannot" } else { "CAN" },
            self.verb,
            self.resource,
            self.namespace.as_deref().unwrap_or("the cluster"),
            self.name.as_deref().unwrap_or("anything")
        )
    }
}

async fn assert_access(user: &str, checks: &[Check]) {
    let client = client_as(user).await;
    let mut wrong = Vec::new();
    for check in checks {
        if !check.holds(&client).await {
            wrong.push(check.to_string());
        }
    }
    assert!(wrong.is_empty(), "{user}:\n  {}", wrong.join("\n  "));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_reviews_show_what_the_service_accounts_can_and_cannot_do() {
    let admin = env().admin_client().await.unwrap();
    set_up(&admin).await;
    let tenant_ns = "some-tenant-a";
    let webhooks = "admissionregistration.k8s.io/validatingwebhookconfigurations";
    assert_access(
        CONTROLLER_SA,
        &[
            // Needed where testenv does not go (OwnerReferencesPermissionEnforcement is off), or
            // where a refusal is only logged.
            // Owner references carry no blockOwnerDeletion, so this is never needed.
            may_not("update", "palisade.dev/tenants/finalizers").named("some-tenant"),
            may("get", "/services").ns("kube-system").named("kube-dns"),
            may("list", "discovery.k8s.io/endpointslices").ns("default"),
            may("create", "events.k8s.io/events").ns("default"),
            may("patch", "events.k8s.io/events").ns("default").named("any"),
            may("watch", "apiextensions.k8s.io/customresourcedefinitions"),
            // A tenant policy's PalisadeTenantBindings condition (a refusal is only logged).
            may(
                "patch",
                "admissionregistration.k8s.io/validatingadmissionpolicies/status",
            )
            .named("p"),
            // Owners' ClusterRoles grant get/list/watch/update/patch/delete on their namespaces
            // by name, get/list/watch on their Tenant and on the nodes, volumes and classes they
            // may see; RBAC lets the controller write them only if it holds those. (The tenants
            // above restrict no class, so their roles already carried every class kind; no
            // Node or PersistentVolume is named there.)
            may("delete", "/namespaces").named(tenant_ns),
            may("update", "/namespaces").named(tenant_ns),
            may("watch", "/namespaces").named(tenant_ns),
            may("get", "palisade.dev/tenants").named("some-tenant"),
            may("watch", "palisade.dev/tenants").named("some-tenant"),
            may("get", "/nodes").named("node-1"),
            may("watch", "/nodes"),
            may("get", "/persistentvolumes").named("pv-1"),
            may("watch", "/persistentvolumes"),
            may("get", "storage.k8s.io/storageclasses").named("fast"),
            may("get", "networking.k8s.io/ingressclasses").named("nginx"),
            may("get", "gateway.networking.k8s.io/gatewayclasses").named("eg"),
            may("get", "scheduling.k8s.io/priorityclasses").named("high"),
            may("get", "node.k8s.io/runtimeclasses").named("gvisor"),
            may("create", "rbac.authorization.k8s.io/clusterroles"),
            may("create", "rbac.authorization.k8s.io/clusterrolebindings"),
            may("bind", "rbac.authorization.k8s.io/clusterroles").named("admin"),
            may("bind", "rbac.authorization.k8s.io/clusterroles").named("edit"),
            may("bind", "rbac.authorization.k8s.io/clusterroles").named("view"),
            // Never.
            may_not("bind", "rbac.authorization.k8s.io/clusterroles").named("cluster-admin"),
            may_not("bind", "rbac.authorization.k8s.io/clusterroles").named("system:node"),
            may_not("get", "/secrets").ns(tenant_ns).named("token"),
            may_not("list", "/secrets"),
            may_not("create", "/pods").ns(tenant_ns),
            may_not("create", "/serviceaccounts/token")
                .ns("palisade-system")
                .named("palisade"),
            may_not("patch", "palisade.dev/tenants").named("some-tenant"),
            // The platform team's policies are read, never changed.
            may_not("patch", "admissionregistration.k8s.io/validatingadmissionpolicies").named("p"),
            may_not("delete", "admissionregistration.k8s.io/validatingadmissionpolicies").named("p"),
            may_not("delete", "palisade.dev/tenants").named("some-tenant"),
            may_not("escalate", "rbac.authorization.k8s.io/clusterroles").named("admin"),
            may_not("create", "rbac.authorization.k8s.io/roles").ns(tenant_ns),
            may_not("impersonate", "/users").named("alice"),
            may_not("get", "/services").ns("kube-system").named("metrics-server"),
            may_not("list", "discovery.k8s.io/endpointslices").ns(tenant_ns),
            may_not("create", "events.k8s.io/events").ns("kube-system"),
            may_not("patch", "coordination.k8s.io/leases")
                .ns("palisade-system")
                .named("other"),
            may_not("patch", "coordination.k8s.io/leases")
                .ns("kube-system")
                .named("palisade-controller"),
            may_not("delete", "coordination.k8s.io/leases")
                .ns("palisade-system")
                .named("palisade-controller"),
            may_not("create", webhooks),
        ],
    )
    .await;
    assert_access(
        WEBHOOK_SA,
        &[
            may("list", "/nodes"),
            may("watch", "networking.k8s.io/ingresses"),
            // Never.
            may_not("get", "/secrets").ns(tenant_ns).named("token"),
            may_not("list", "/secrets"),
            may_not("create", "/namespaces"),
            may_not("patch", "/namespaces").named(tenant_ns),
            may_not("patch", "palisade.dev/tenants/status").named("some-tenant"),
            may_not("create", "rbac.authorization.k8s.io/rolebindings").ns(tenant_ns),
            may_not("delete", webhooks).named("palisade"),
            may_not("patch", webhooks).named("other"),
            may_not("create", webhooks),
            may_not("list", webhooks),
        ],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deployed_pods_meet_the_restricted_pod_security_standard() {
    let admin = env().admin_client().await.unwrap();
    set_up(&admin).await;
    // palisade-system enforces `restricted`: a dry-run pod from each template goes through
    // Pod Security admission (and the ServiceAccount must exist), which a Deployment alone does not.
    let pods: Api<Pod> = Api::namespaced(admin.clone(), "palisade-system");
    let mut checked = 0;
    for (file, document) in manifests() {
        if document["kind"] != "Deployment" {
            continue;
        }
        let template = &document["spec"]["template"];
        let pod: Pod = serde_json::from_value(json!({
            "metadata": { "name": document["metadata"]["name"], "labels": template["metadata"]["labels"] },
            "spec": template["spec"],
        }))
        .unwrap();
        let dry_run = PostParams {
            dry_run: true,
            ..PostParams::default()
        };
        if let Err(error) = pods.create(&dry_run, &pod).await {
            panic!("{file}: a pod of {} is refused: {error}", describe(&document));
        }
        checked += 1;
    }
    assert_eq!(checked, 4, "the controller, the webhook, the proxy and the audit");
}

/// Attack, with no webhook running (none runs in this binary): deleting a Tenant marked
/// preventDeletion, and creating one that lists a system namespace. The ValidatingAdmissionPolicy
/// of deploy/palisade/tenant-policy.yaml refuses both, in the API server itself; the stored
/// state shows it. Compliant: the same Tenant without preventDeletion is deleted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenant_policy_holds_with_the_webhook_down() {
    let admin = env().admin_client().await.unwrap();
    set_up(&admin).await;
    let tenants: Api<Tenant> = Api::all(admin.clone());
    let name = unique("vap");
    let bad = unique("vapbad");
    let invalid = tenant_from_yaml(&format!(
        r#"
apiVersion: palisade.dev/v1alpha1
kind: Tenant
metadata: {{ name: {bad} }}
spec:
  owners: [{{ kind: User, name: mallory }}]
  namespaces: {{ names: [kube-system] }}
"#
    ));
    // A new policy takes effect once the API server's informers have it.
    let refusal = eventually("the policy to refuse a Tenant listing kube-system", WAIT, || async {
        match tenants.create(&PostParams::default(), &invalid).await {
            Err(kube::Error::Api(status)) => Some(status),
            Err(_) => None,
            Ok(_) => {
                // Not in effect yet: take it back and try again.
                let _ = tenants.delete(&bad, &Default::default()).await;
                None
            }
        }
    })
    .await
    .unwrap();
    assert!(
        refusal.message.contains("kube-system is a system namespace"),
        "{refusal:?}"
    );
    assert!(
        tenants.get_opt(&bad).await.unwrap().is_none(),
        "the invalid Tenant must not be stored"
    );

    let protected = tenant_from_yaml(&format!(
        r#"
apiVersion: palisade.dev/v1alpha1
kind: Tenant
metadata: {{ name: {name} }}
spec:
  owners: [{{ kind: User, name: {name}-owner }}]
  namespaces: {{ names: [{name}-a] }}
  preventDeletion: true
"#
    ));
    tenants.create(&PostParams::default(), &protected).await.unwrap();
    match tenants.delete(&name, &Default::default()).await {
        Err(kube::Error::Api(status)) => {
            assert_eq!(status.code, 403, "{status:?}");
            assert!(status.message.contains("spec.preventDeletion"), "{status:?}");
        }
        other => panic!("deleting a preventDeletion Tenant should be refused: {other:?}"),
    }
    let stored = tenants.get(&name).await.unwrap();
    assert!(stored.metadata.deletion_timestamp.is_none());

    let release = json!({ "spec": { "preventDeletion": false } });
    tenants
        .patch(&name, &PatchParams::default(), &Patch::Merge(&release))
        .await
        .unwrap();
    tenants.delete(&name, &Default::default()).await.unwrap();
}
