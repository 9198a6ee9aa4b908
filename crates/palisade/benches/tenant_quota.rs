//! The tenant-wide quota on the real control plane, through a real `palisade webhook` process
//! that the API server calls. Prints, for a tenant with `spec.quota.tenant` and one without: pod
//! creates per second and p50/p99 latency at 1 and 16 concurrent creators; then fills the
//! cluster with TENANTS × NAMESPACES × PODS pods and prints the webhook's memory once it has
//! counted them all. Asserts nothing.
//!
//! `cargo bench -p palisade --bench tenant_quota [-- PODS_PER_RUN TENANTS NAMESPACES PODS]`
//! (defaults: 400 1000 5 20)

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // bench code

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Namespace, Pod, ResourceQuota, ServiceAccount};
use k8s_openapi::api::rbac::v1::ClusterRoleBinding;
use kube::api::PostParams;
use kube::{Api, Client};
use palisade_api::Tenant;
use palisade_tenancy::render::{ClusterFacts, TenantIndex, render_namespace};
use palisade_testenv::TestEnv;
use serde_json::json;

struct Webhook {
    child: Child,
    metrics_port: u16,
}

impl Webhook {
    fn start(env: &TestEnv) -> Webhook {
        let port = common::free_port();
        let metrics_port = common::free_port();
        let child = Command::new(env!("CARGO_BIN_EXE_palisade"))
            .args([
                "webhook",
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--metrics-listen",
                &format!("127.0.0.1:{metrics_port}"),
                "--url",
                &format!("https://127.0.0.1:{port}"),
                "--certificate-name",
                "127.0.0.1",
                "--pod-cidr",
                "10.244.0.0/16",
            ])
            .env("KUBECONFIG", env.kubeconfig_path())
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        Webhook { child, metrics_port }
    }

    async fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(300);
        while Instant::now() < deadline {
            if let Ok(mut stream) = tokio::net::TcpStream::connect(("127.0.0.1", self.metrics_port)).await {
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                let _ = stream.write_all(b"GET /readyz HTTP/1.0\r\n\r\n").await;
                let mut answer = String::new();
                let _ = stream.read_to_string(&mut answer).await;
                if answer.starts_with("HTTP/1.0 200") || answer.starts_with("HTTP/1.1 200") {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        panic!("the webhook did not become ready");
    }
}

impl Drop for Webhook {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn arg(index: usize, default: usize) -> usize {
    std::env::args()
        .filter(|a| !a.starts_with('-'))
        .nth(index)
        .and_then(|a| a.parse().ok())
        .unwrap_or(default)
}

fn pod(name: &str) -> Pod {
    serde_json::from_value(json!({
        "metadata": { "name": name },
        "spec": { "containers": [{ "name": "app", "image": "registry.example.com/app:1",
            "resources": { "requests": { "cpu": "10m", "memory": "16Mi" } } }] }
    }))
    .unwrap()
}

async fn tenant(admin: &Client, name: &str, spec: &str, namespaces: usize) -> (Client, Vec<String>) {
    let owner = format!("{name}-owner");
    let yaml = format!(
        "apiVersion: palisade.dev/v1alpha1\nkind: Tenant\nmetadata:\n  name: {name}\nspec:\n  owners: [{{ kind: User, name: {owner} }}]\n  namespaces: {{ forcePrefix: true }}\n  {spec}\n"
    );
    let tenant: Tenant = serde_saphyr::from_str(&yaml).unwrap();
    Api::<Tenant>::all(admin.clone())
        .create(&PostParams::default(), &tenant)
        .await
        .unwrap();
    let binding: ClusterRoleBinding = serde_json::from_value(json!({
        "metadata": { "name": owner },
        "roleRef": { "apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin" },
        "subjects": [{ "apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": owner }]
    }))
    .unwrap();
    Api::<ClusterRoleBinding>::all(admin.clone())
        .create(&PostParams::default(), &binding)
        .await
        .unwrap();
    let client = TestEnv::get().unwrap().user_client(&owner, &[]).await.unwrap();
    let mut names = Vec::new();
    for index in 0..namespaces {
        let namespace = format!("{name}-n{index}");
        let object: Namespace = serde_json::from_value(json!({ "metadata": { "name": namespace } })).unwrap();
        // The webhook may not know the Tenant yet: retry until the namespace lands.
        let namespaces = Api::<Namespace>::all(client.clone());
        let deadline = Instant::now() + Duration::from_secs(60);
        while let Err(error) = namespaces.create(&PostParams::default(), &object).await {
            assert!(Instant::now() < deadline, "namespace {namespace}: {error}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        names.push(namespace);
    }
    let stored = Api::<Tenant>::all(admin.clone()).get(name).await.unwrap();
    for namespace in &names {
        let accounts = Api::<ServiceAccount>::namespaced(admin.clone(), namespace);
        while accounts.get_opt("default").await.unwrap().is_none() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // What the controller would write (no controller runs here): the namespace's quota.
        let plan = render_namespace(
            &stored,
            namespace,
            &TenantIndex::new([&stored]),
            &ClusterFacts::default(),
        );
        for object in plan.objects.iter().filter(|o| o.kind == "ResourceQuota") {
            let quota: ResourceQuota = serde_json::from_value(object.manifest.clone()).unwrap();
            Api::<ResourceQuota>::namespaced(admin.clone(), namespace)
                .create(&PostParams::default(), &quota)
                .await
                .unwrap();
        }
    }
    (client, names)
}

/// `total` pod creates by `creators` concurrent creators: creates/s and p50/p99 latency.
async fn creates(
    client: &Client,
    namespace: &str,
    prefix: &str,
    total: usize,
    creators: usize,
) -> (f64, Duration, Duration) {
    let started = Instant::now();
    let per = total / creators;
    let workers = (0..creators).map(|worker| {
        let pods = Api::<Pod>::namespaced(client.clone(), namespace);
        let prefix = prefix.to_string();
        async move {
            let mut latencies = Vec::with_capacity(per);
            for n in 0..per {
                let begun = Instant::now();
                pods.create(&PostParams::default(), &pod(&format!("{prefix}-{worker}-{n}")))
                    .await
                    .unwrap();
                latencies.push(begun.elapsed());
            }
            latencies
        }
    });
    let mut latencies: Vec<Duration> = futures::future::join_all(workers).await.into_iter().flatten().collect();
    let elapsed = started.elapsed();
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
    (latencies.len() as f64 / elapsed.as_secs_f64(), at(0.5), at(0.99))
}

#[tokio::main]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let per_run = arg(1, 400);
    let (tenants, namespaces, pods_each) = (arg(2, 1000), arg(3, 5), arg(4, 20));
    let env = TestEnv::get().unwrap();
    let admin = env.admin_client().await.unwrap();
    palisade_testenv::install_palisade_crds(&admin).await.unwrap();
    let system: Namespace = serde_json::from_value(json!({ "metadata": { "name": "palisade-system" } })).unwrap();
    let _ = Api::<Namespace>::all(admin.clone())
        .create(&PostParams::default(), &system)
        .await;
    let webhook = Webhook::start(env);
    webhook.wait_ready().await;

    println!("pod creates through the API server and the webhook ({per_run} per run)");
    println!(
        "{:<28} {:>9} {:>10} {:>10} {:>10}",
        "tenant", "creators", "creates/s", "p50", "p99"
    );
    let (plain, plain_ns) = tenant(&admin, "plain", "", 1).await;
    let (metered, metered_ns) = tenant(
        &admin,
        "metered",
        "quota: { tenant: { requests.cpu: \"100000\", pods: \"100000\" } }",
        1,
    )
    .await;
    for creators in [1, 16] {
        for (name, client, namespace) in [
            ("without quota.tenant", &plain, &plain_ns[0]),
            ("with quota.tenant", &metered, &metered_ns[0]),
        ] {
            let (rate, p50, p99) = creates(client, namespace, &format!("c{creators}"), per_run, creators).await;
            println!(
                "{name:<28} {creators:>9} {rate:>10.0} {:>8.1}ms {:>8.1}ms",
                p50.as_secs_f64() * 1e3,
                p99.as_secs_f64() * 1e3
            );
        }
    }

    println!(
        "\nfilling {tenants} tenants × {namespaces} namespaces × {pods_each} pods (as the administrator, 32 at a time)"
    );
    let started = Instant::now();
    let namespace_names: Vec<String> = (0..tenants)
        .flat_map(|t| (0..namespaces).map(move |n| format!("fill{t}-n{n}")))
        .collect();
    futures::stream::iter(0..tenants)
        .for_each_concurrent(16, |t| {
            let admin = admin.clone();
            async move {
                let name = format!("fill{t}");
                let yaml = format!(
                    "apiVersion: palisade.dev/v1alpha1\nkind: Tenant\nmetadata:\n  name: {name}\nspec:\n  owners: [{{ kind: User, name: {name}-owner }}]\n  quota: {{ tenant: {{ requests.cpu: \"100\" }} }}\n"
                );
                let tenant: Tenant = serde_saphyr::from_str(&yaml).unwrap();
                Api::<Tenant>::all(admin.clone()).create(&PostParams::default(), &tenant).await.unwrap();
                for n in 0..namespaces {
                    let object: Namespace = serde_json::from_value(json!({ "metadata": {
                        "name": format!("{name}-n{n}"), "labels": { "palisade.dev/tenant": name } } }))
                    .unwrap();
                    Api::<Namespace>::all(admin.clone()).create(&PostParams::default(), &object).await.unwrap();
                }
            }
        })
        .await;
    futures::stream::iter(namespace_names.clone())
        .for_each_concurrent(32, |namespace| {
            let admin = admin.clone();
            async move {
                let accounts = Api::<ServiceAccount>::namespaced(admin.clone(), &namespace);
                while accounts.get_opt("default").await.unwrap().is_none() {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                let pods = Api::<Pod>::namespaced(admin.clone(), &namespace);
                for p in 0..pods_each {
                    pods.create(&PostParams::default(), &pod(&format!("p{p}")))
                        .await
                        .unwrap();
                }
            }
        })
        .await;
    println!("filled in {:.0} s", started.elapsed().as_secs_f64());
    // Let the webhook's watch deliver every pod, then read its memory.
    tokio::time::sleep(Duration::from_secs(20)).await;
    let (rss, peak) = common::rss_kib(webhook.child.id());
    println!(
        "webhook memory with {} pods counted: RSS {:.1} MiB (peak {:.1} MiB), CPU {:.1} s",
        tenants * namespaces * pods_each + 2 * per_run,
        rss as f64 / 1024.0,
        peak as f64 / 1024.0,
        common::cpu_seconds(webhook.child.id())
    );
}
