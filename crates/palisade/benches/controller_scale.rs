//! The controller at scale, on the real control plane: TENANTS tenants × NAMESPACES namespaces
//! created at once on testenv, converged by a real `palisade controller` process. Prints the time
//! until every tenant is Ready, the API requests the controller made (from its own metrics), the
//! requests per namespace and the controller's peak RSS; then kills the controller, starts it
//! again, and prints the same for the re-convergence and for an idle minute. Asserts nothing.
//!
//! `-- floor` measures the floor instead, on a control plane of its own: the same objects written
//! by a bare client with server-side apply, CONCURRENCY tenants at a time, no controller, no
//! status, no Events. That is what the control plane on this machine can absorb; the controller
//! cannot beat it.
//!
//! `-- floor watched` does the same while a controller watches (it has no Tenants to reconcile):
//! the cost of its watches alone.
//!
//! `cargo bench -p palisade --bench controller_scale [-- [floor [watched]] TENANTS NAMESPACES CONCURRENCY]`

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // bench code

mod common;

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures::StreamExt;
use kube::api::{ListParams, PostParams};
use kube::{Api, Client};
use palisade_api::Tenant;
use palisade_testenv::TestEnv;
use serde_json::json;

struct Controller {
    child: Child,
    port: u16,
}

impl Controller {
    fn start(env: &TestEnv, concurrency: u16) -> Controller {
        let port = common::free_port();
        let child = Command::new(env!("CARGO_BIN_EXE_palisade"))
            .args([
                "controller",
                "--metrics-listen",
                &format!("127.0.0.1:{port}"),
                "--concurrency",
                &concurrency.to_string(),
            ])
            .env("KUBECONFIG", env.kubeconfig_path())
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        Controller { child, port }
    }

    async fn get(&self, path: &str) -> Option<String> {
        common::http_get(self.port, path).await
    }

    async fn wait_ready(&self) -> Duration {
        let started = Instant::now();
        while self.get("/readyz").await.is_none() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        started.elapsed()
    }

    /// Counters from /metrics: requests by verb, plus `applied` and `reconciles`.
    async fn counters(&self) -> BTreeMap<String, u64> {
        let text = self.get("/metrics").await.unwrap_or_default();
        let mut counters = BTreeMap::new();
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let Some((name, value)) = line.rsplit_once(' ') else {
                continue;
            };
            let Ok(value) = value.parse::<f64>() else { continue };
            let key = if let Some(verb) = name
                .strip_prefix("palisade_controller_api_requests_total{verb=\"")
                .and_then(|v| v.strip_suffix("\"}"))
            {
                verb.to_string()
            } else if name == "palisade_controller_objects_applied_total" {
                "(objects applied)".to_string()
            } else if name.starts_with("palisade_controller_reconciles_total") {
                "(reconciles)".to_string()
            } else {
                continue;
            };
            *counters.entry(key).or_default() += value as u64;
        }
        counters
    }

    fn memory(&self) -> (u64, u64) {
        common::rss_kib(self.child.id())
    }

    /// CPU seconds the controller has used (user + system), to show where the time goes.
    fn cpu_seconds(&self) -> f64 {
        common::cpu_seconds(self.child.id())
    }
}

impl Drop for Controller {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn tenant(index: usize, namespaces: usize) -> Tenant {
    let name = format!("scale-{index:04}");
    let names: Vec<String> = (1..=namespaces).map(|n| format!("{name}-{n}")).collect();
    serde_json::from_value(json!({
        "apiVersion": "palisade.dev/v1alpha1",
        "kind": "Tenant",
        "metadata": { "name": name },
        "spec": {
            "owners": [{ "kind": "Group", "name": format!("team-{index:04}") }],
            "namespaces": { "names": names, "max": namespaces },
            "quota": { "namespace": { "requests.cpu": "4", "requests.memory": "8Gi", "pods": "50" } },
            "network": { "allowFrom": { "namespaces": ["monitoring"] } }
        }
    }))
    .unwrap()
}

/// Server-side applies every object the renderer makes for `tenants` tenants,
/// `concurrency` tenants at a time (each tenant's namespaces first); returns the objects written.
async fn write_floor(client: &Client, tenants: usize, per_tenant: usize, concurrency: usize) -> usize {
    use kube::api::{DynamicObject, Patch, PatchParams};
    use palisade_tenancy::render::AvailableApis;
    use palisade_tenancy::{ClusterFacts, ClusterInventory, TenantIndex, render_tenant};

    let facts = ClusterFacts {
        apis: AvailableApis::none(),
        ..ClusterFacts::default()
    };
    let written = futures::stream::iter(0..tenants)
        .map(|i| {
            let facts = facts.clone();
            async move {
                let tenant = tenant(i, per_tenant);
                let plan = render_tenant(
                    &tenant,
                    &TenantIndex::new([&tenant]),
                    &facts,
                    &ClusterInventory::default(),
                );
                let params = PatchParams::apply("floor").force();
                let mut written = 0;
                for object in plan.all_objects() {
                    let kind = palisade_controller::kinds::lookup(&object.api_version, &object.kind).unwrap();
                    let resource = kind.api_resource();
                    let api: Api<DynamicObject> = match &object.namespace {
                        Some(ns) => Api::namespaced_with(client.clone(), ns, &resource),
                        None => Api::all_with(client.clone(), &resource),
                    };
                    api.patch(&object.name, &params, &Patch::Apply(&object.manifest))
                        .await
                        .unwrap();
                    written += 1;
                }
                written
            }
        })
        .buffer_unordered(concurrency)
        .collect::<Vec<usize>>()
        .await;
    written.iter().sum()
}

fn converged(tenant: &Tenant, namespaces: usize) -> bool {
    let Some(status) = &tenant.status else { return false };
    status.observed_generation == tenant.metadata.generation
        && status.namespace_count as usize == namespaces
        && status
            .conditions
            .iter()
            .any(|c| c.type_ == "Ready" && c.status == "True")
}

async fn count_converged(client: &Client, namespaces: usize) -> usize {
    let tenants = Api::<Tenant>::all(client.clone())
        // Served from the API server's watch cache: the bench's polling must not compete with
        // the controller for etcd.
        .list(&ListParams::default().match_any())
        .await
        .unwrap();
    tenants
        .items
        .iter()
        .filter(|t| t.metadata.name.as_deref().is_some_and(|n| n.starts_with("scale-")))
        .filter(|t| converged(t, namespaces))
        .count()
}

fn print_requests(what: &str, before: &BTreeMap<String, u64>, after: &BTreeMap<String, u64>, namespaces: usize) {
    let delta = |key: &str| after.get(key).copied().unwrap_or(0) - before.get(key).copied().unwrap_or(0);
    let mut total = 0;
    let mut by_verb = Vec::new();
    for key in after.keys().filter(|k| !k.starts_with('(')) {
        let n = delta(key);
        total += n;
        by_verb.push(format!("{key} {n}"));
    }
    println!(
        "  {what}: {total} API requests ({}), {:.2} per namespace; {} objects applied, {} reconciles",
        by_verb.join(", "),
        total as f64 / namespaces as f64,
        delta("(objects applied)"),
        delta("(reconciles)"),
    );
}

/// Waits until the controller's counters stop moving for `quiet`.
async fn wait_quiet(controller: &Controller, quiet: Duration) -> Duration {
    let started = Instant::now();
    let mut last = controller.counters().await;
    let mut since = Instant::now();
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now = controller.counters().await;
        if now != last {
            last = now;
            since = Instant::now();
        } else if since.elapsed() >= quiet {
            return started.elapsed() - quiet;
        }
    }
}

fn main() {
    let floor = std::env::args().any(|a| a == "floor");
    let watched = std::env::args().any(|a| a == "watched");
    let args: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let tenants = args.first().copied().unwrap_or(1000);
    let per_tenant = args.get(1).copied().unwrap_or(5);
    let concurrency = args.get(2).copied().unwrap_or(16) as u16;
    let namespaces = tenants * per_tenant;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let env = TestEnv::get().unwrap();
        let client = env.admin_client().await.unwrap();
        palisade_testenv::install_palisade_crds(&client).await.unwrap();
        println!(
            "controller_scale: {tenants} tenants x {per_tenant} namespaces = {namespaces} namespaces, controller concurrency {concurrency}"
        );

        if floor {
            // `floor watched`: the same, with a controller watching (no Tenants exist, so it only
            // receives watch events): what the watches alone cost the control plane.
            let _watching = watched.then(|| Controller::start(env, concurrency));
            let control_plane_cpu = env.pid().map_or(0.0, common::cpu_seconds);
            let started = Instant::now();
            let written = write_floor(&client, tenants, per_tenant, usize::from(concurrency)).await;
            println!(
                "  floor ({}): {written} objects server-side applied in {:.1} s by a bare client, {concurrency} tenants at a time; control plane CPU {:.1} s",
                if watched { "a controller watching" } else { "no controller" },
                started.elapsed().as_secs_f64(),
                env.pid().map_or(0.0, common::cpu_seconds) - control_plane_cpu,
            );
            return;
        }

        let controller = Controller::start(env, concurrency);
        let ready = controller.wait_ready().await;
        let before = controller.counters().await;
        println!("  controller ready in {:.2} s", ready.as_secs_f64());

        let control_plane_cpu = env.pid().map_or(0.0, common::cpu_seconds);
        let started = Instant::now();
        let api = Api::<Tenant>::all(client.clone());
        futures::stream::iter(0..tenants)
            .map(|i| {
                let api = api.clone();
                async move { api.create(&PostParams::default(), &tenant(i, per_tenant)).await.unwrap() }
            })
            .buffer_unordered(16)
            .collect::<Vec<_>>()
            .await;
        println!("  {tenants} tenants created in {:.1} s", started.elapsed().as_secs_f64());
        let mut last_report = Instant::now();
        loop {
            let done = count_converged(&client, per_tenant).await;
            if done == tenants {
                break;
            }
            if last_report.elapsed() > Duration::from_secs(10) {
                println!(
                    "  ... {done}/{tenants} ready after {:.0} s",
                    started.elapsed().as_secs_f64()
                );
                last_report = Instant::now();
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        let converge = started.elapsed();
        let after = controller.counters().await;
        let (rss, peak) = controller.memory();
        println!(
            "  converged: all {tenants} tenants Ready in {:.1} s; controller RSS {:.1} MiB, peak {:.1} MiB, CPU {:.1} s; control plane CPU {:.1} s",
            converge.as_secs_f64(),
            rss as f64 / 1024.0,
            peak as f64 / 1024.0,
            controller.cpu_seconds(),
            env.pid().map_or(0.0, common::cpu_seconds) - control_plane_cpu,
        );
        print_requests("first convergence", &before, &after, namespaces);

        let idle_from = controller.counters().await;
        tokio::time::sleep(Duration::from_secs(30)).await;
        print_requests(
            "30 s idle afterwards",
            &idle_from,
            &controller.counters().await,
            namespaces,
        );
        drop(controller);

        let restarted = Controller::start(env, concurrency);
        let ready = restarted.wait_ready().await;
        let settled = wait_quiet(&restarted, Duration::from_secs(5)).await;
        let counters = restarted.counters().await;
        let (rss, peak) = restarted.memory();
        println!(
            "  restart: ready (caches filled) in {:.1} s, quiet again after {:.1} s; RSS {:.1} MiB, peak {:.1} MiB; {} of {tenants} tenants Ready",
            ready.as_secs_f64(),
            settled.as_secs_f64(),
            rss as f64 / 1024.0,
            peak as f64 / 1024.0,
            count_converged(&client, per_tenant).await
        );
        print_requests("restart", &BTreeMap::new(), &counters, namespaces);
    });
}
