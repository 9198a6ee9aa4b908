//! Tenant policies at scale. Two figures, printed; nothing asserted.
//!
//! 1. `palisade check` (the release binary, as a user runs it) on OBJECTS objects × POLICIES
//!    ValidatingAdmissionPolicies bound per tenant, with Pod Security on: wall time, objects per
//!    second and peak memory (GNU time's maximum RSS).
//! 2. `palisade audit` on testenv with TENANTS tenants × PODS pods each (one namespace per
//!    tenant, the policies bound to every tenant): time to the first complete set of
//!    PolicyReports, the API requests the audit made (counted in the API server's audit log)
//!    and its peak memory.
//!
//! `cargo bench -p palisade --bench policy_audit [-- OBJECTS POLICIES TENANTS PODS]`
//! (defaults: 10000 20 1000 5)

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // bench code

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use futures::StreamExt;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, ListParams, PostParams};
use palisade_testenv::{TestEnv, install_palisade_crds};
use serde_json::{Value, json};

/// Policies of different shapes, cycled to reach POLICIES: params reads, variables, list
/// comprehensions, string functions, quantities, match conditions.
fn policy(index: usize) -> Value {
    let (resources, group, validation, conditions): (&str, &str, Value, Value) = match index % 5 {
        0 => (
            "deployments",
            "apps",
            json!({ "expression": "object.spec.replicas <= params.spec.policies.parameters.maxReplicas",
                    "messageExpression": "'at most ' + string(params.spec.policies.parameters.maxReplicas) + ' replicas'" }),
            json!([]),
        ),
        1 => (
            "pods",
            "",
            json!({ "expression": "object.spec.containers.all(c, !c.image.endsWith(':latest') && c.image.contains(':'))",
                    "message": "images need a tag other than latest" }),
            json!([]),
        ),
        2 => (
            "pods",
            "",
            json!({ "expression": "object.spec.containers.all(c, has(c.resources) && has(c.resources.limits) && 'memory' in c.resources.limits && quantity(c.resources.limits.memory).compareTo(quantity('2Gi')) <= 0)",
                    "message": "memory limits of at most 2Gi are required" }),
            json!([ { "name": "not-system", "expression": "!object.metadata.name.startsWith('system-')" } ]),
        ),
        3 => (
            "configmaps",
            "",
            json!({ "expression": "params.spec.policies.parameters.requiredLabels.all(l, has(object.metadata.labels) && l in object.metadata.labels)",
                    "messageExpression": "'missing labels: ' + params.spec.policies.parameters.requiredLabels.filter(l, !has(object.metadata.labels) || !(l in object.metadata.labels)).join(', ')" }),
            json!([]),
        ),
        _ => (
            "services",
            "",
            json!({ "expression": "!has(object.spec.type) || object.spec.type == 'ClusterIP'", "message": "only ClusterIP Services" }),
            json!([]),
        ),
    };
    json!({
        "apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicy",
        "metadata": { "name": format!("bench-policy-{index}"), "labels": { "palisade.dev/tenant-policy": "true" } },
        "spec": {
            "paramKind": { "apiVersion": "palisade.dev/v1alpha1", "kind": "Tenant" },
            "matchConstraints": { "resourceRules": [ { "apiGroups": [group], "apiVersions": ["v1"], "resources": [resources], "operations": ["CREATE", "UPDATE"] } ] },
            "matchConditions": conditions,
            "variables": [ { "name": "tenant", "expression": "params.metadata.name" } ],
            "validations": [validation],
        }
    })
}

fn binding(policy: usize, tenant: &str) -> Value {
    json!({
        "apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": { "name": format!("palisade-{tenant}.bench-policy-{policy}") },
        "spec": {
            "policyName": format!("bench-policy-{policy}"),
            "paramRef": { "name": tenant, "parameterNotFoundAction": "Deny" },
            "validationActions": ["Deny"],
            "matchResources": { "namespaceSelector": { "matchLabels": { "palisade.dev/tenant": tenant } } }
        }
    })
}

fn tenant(name: &str, max_replicas: u32) -> Value {
    json!({
        "apiVersion": "palisade.dev/v1alpha1", "kind": "Tenant",
        "metadata": { "name": name },
        "spec": {
            "owners": [ { "kind": "User", "name": format!("{name}-owner") } ],
            "namespaces": { "names": [format!("{name}-apps")] },
            "podSecurity": { "level": "baseline" },
            "policies": { "parameters": { "maxReplicas": max_replicas, "requiredLabels": ["team"] } }
        }
    })
}

fn object(index: usize, namespace: &str) -> Value {
    let name = format!("o{index}");
    match index % 4 {
        0 => {
            json!({ "apiVersion": "apps/v1", "kind": "Deployment", "metadata": { "name": name, "namespace": namespace },
            "spec": { "replicas": index % 7, "selector": { "matchLabels": { "app": name } },
                "template": { "metadata": { "labels": { "app": name } },
                    "spec": { "containers": [ { "name": "main", "image": "registry.example.com/app:1" } ] } } } })
        }
        1 => json!({ "apiVersion": "v1", "kind": "Pod", "metadata": { "name": name, "namespace": namespace },
            "spec": { "containers": [ { "name": "main", "image": if index.is_multiple_of(3) { "app:latest" } else { "registry.example.com/app:1" },
                "resources": { "limits": { "memory": if index.is_multiple_of(5) { "4Gi" } else { "512Mi" } } } } ] } }),
        2 => json!({ "apiVersion": "v1", "kind": "ConfigMap", "metadata": { "name": name, "namespace": namespace,
            "labels": if index.is_multiple_of(2) { json!({ "team": "a" }) } else { json!({ "other": "b" }) } }, "data": { "k": "v" } }),
        _ => json!({ "apiVersion": "v1", "kind": "Service", "metadata": { "name": name, "namespace": namespace },
            "spec": { "type": if index.is_multiple_of(5) { "NodePort" } else { "ClusterIP" }, "ports": [ { "port": 80 } ] } }),
    }
}

fn write_list(path: &Path, items: Vec<Value>) {
    std::fs::write(
        path,
        serde_json::to_vec(&json!({ "apiVersion": "v1", "kind": "List", "items": items })).unwrap(),
    )
    .unwrap();
}

/// `(seconds, max RSS KiB, exit code, stdout)` of a command run under GNU time.
fn timed(command: &mut Command) -> (f64, u64, i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("time");
    let program = command.get_program().to_owned();
    let args: Vec<_> = command.get_args().map(ToOwned::to_owned).collect();
    let envs: Vec<_> = command
        .get_envs()
        .map(|(k, v)| (k.to_owned(), v.map(ToOwned::to_owned)))
        .collect();
    let mut wrapped = Command::new("/usr/bin/time");
    wrapped
        .arg("-f")
        .arg("%e %M")
        .arg("-o")
        .arg(&report)
        .arg(program)
        .args(args);
    for (key, value) in envs {
        if let Some(value) = value {
            wrapped.env(key, value);
        }
    }
    let output = wrapped.output().unwrap();
    let status = output.status;
    if !matches!(status.code(), Some(0 | 1)) {
        panic!(
            "{:?} exited {status}: {}",
            command.get_program(),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let text = std::fs::read_to_string(&report).unwrap();
    let last = text.lines().last().unwrap_or_default().to_string();
    let mut fields = last.split_whitespace();
    let seconds = fields.next().and_then(|v| v.parse().ok()).unwrap_or(0.0);
    let rss = fields.next().and_then(|v| v.parse().ok()).unwrap_or(0);
    (
        seconds,
        rss,
        status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
    )
}

fn bench_check(objects: usize, policies: usize) {
    const TENANTS: usize = 20;
    let dir = tempfile::tempdir().unwrap();
    let tenants: Vec<String> = (0..TENANTS).map(|i| format!("bench-{i}")).collect();
    // Tenant files are documents, not Lists: one YAML document (JSON is YAML) per tenant.
    let documents: Vec<String> = tenants
        .iter()
        .enumerate()
        .map(|(i, t)| tenant(t, 2 + i as u32 % 5).to_string())
        .collect();
    std::fs::write(dir.path().join("tenants.yaml"), documents.join("\n---\n")).unwrap();
    let mut policy_objects: Vec<Value> = (0..policies).map(policy).collect();
    for t in &tenants {
        policy_objects.extend((0..policies).map(|p| binding(p, t)));
    }
    let binding_count = policy_objects.len() - policies;
    write_list(&dir.path().join("policies.json"), policy_objects);
    write_list(
        &dir.path().join("objects.json"),
        (0..objects)
            .map(|i| object(i, &format!("{}-apps", tenants[i % TENANTS])))
            .collect(),
    );
    let (seconds, rss, code, stdout) = timed(
        Command::new(env!("CARGO_BIN_EXE_palisade"))
            .args(["check", "-o", "json", "--as", "bench-0-owner"])
            .arg("--tenants")
            .arg(dir.path().join("tenants.yaml"))
            .arg("--policies")
            .arg(dir.path().join("policies.json"))
            .arg("-f")
            .arg(dir.path().join("objects.json")),
    );
    // Exit 1 is also how an error ends: only a report that counts every object is a run.
    let report: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("check printed no JSON report ({e})"));
    assert_eq!(report["summary"]["checked"], objects, "{}", report["summary"]);
    println!(
        "check: {objects} objects × {policies} policies ({binding_count} bindings, {TENANTS} tenants, Pod Security baseline): {seconds:.2} s, {:.0} objects/s, peak RSS {:.1} MiB, {} denied, exit {code}",
        objects as f64 / seconds.max(0.001),
        rss as f64 / 1024.0,
        report["summary"]["denied"]
    );
}

async fn create_all(client: &kube::Client, objects: Vec<Value>) {
    futures::stream::iter(objects)
        .for_each_concurrent(32, |object| {
            let client = client.clone();
            async move {
                let api_version = object["apiVersion"].as_str().unwrap();
                let kind = object["kind"].as_str().unwrap();
                let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
                let plural = palisade_admission::offline::resource_for(kind);
                let resource = ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), &plural);
                let api: Api<DynamicObject> = match object["metadata"]["namespace"].as_str() {
                    Some(namespace) => Api::namespaced_with(client, namespace, &resource),
                    None => Api::all_with(client, &resource),
                };
                let typed: DynamicObject = serde_json::from_value(object).unwrap();
                api.create(&PostParams::default(), &typed).await.unwrap();
            }
        })
        .await;
}

async fn bench_audit(tenants: usize, pods: usize, policies: usize) {
    let env = TestEnv::get().unwrap();
    let admin = env.admin_client().await.unwrap();
    install_palisade_crds(&admin).await.unwrap();
    let started = Instant::now();
    let names: Vec<String> = (0..tenants).map(|i| format!("audit-{i}")).collect();
    create_all(&admin, names.iter().map(|t| tenant(t, 3)).collect()).await;
    create_all(
        &admin,
        names
            .iter()
            .map(|t| {
                json!({ "apiVersion": "v1", "kind": "Namespace", "metadata": { "name": format!("{t}-apps"),
                "labels": { "palisade.dev/tenant": t, "pod-security.kubernetes.io/enforce": "baseline" } } })
            })
            .collect(),
    )
    .await;
    let pod_objects: Vec<Value> = names
        .iter()
        .flat_map(|t| {
            (0..pods).map(move |i| {
                json!({ "apiVersion": "v1", "kind": "Pod", "metadata": { "name": format!("p{i}"), "namespace": format!("{t}-apps") },
                    "spec": { "containers": [ { "name": "main", "image": if i == 0 { "app:latest" } else { "registry.example.com/app:1" },
                        "resources": { "limits": { "memory": "512Mi" } } } ] } })
            })
        })
        .collect();
    create_all(&admin, pod_objects).await;
    // Then the rules tighten: every tenth namespace goes to restricted, and the policies come.
    // The audit is about what ran before a rule existed.
    futures::stream::iter(names.iter().filter(|t| t.ends_with('7')))
        .for_each_concurrent(32, |t| {
            let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(admin.clone());
            async move {
                let patch = json!({ "metadata": { "labels": { "pod-security.kubernetes.io/enforce": "restricted" } } });
                namespaces
                    .patch(
                        &format!("{t}-apps"),
                        &kube::api::PatchParams::default(),
                        &kube::api::Patch::Merge(&patch),
                    )
                    .await
                    .unwrap();
            }
        })
        .await;
    let mut setup: Vec<Value> = (0..policies).map(policy).collect();
    for t in &names {
        setup.extend((0..policies).map(|p| binding(p, t)));
    }
    create_all(&admin, setup).await;
    println!(
        "audit setup: {tenants} tenants, {} pods, {policies} policies ({} bindings) created in {:.1} s",
        tenants * pods,
        tenants * policies,
        started.elapsed().as_secs_f64()
    );

    let admin_requests = || async {
        env.audit_events()
            .await
            .unwrap()
            .iter()
            .filter(|e| e.stage == "ResponseComplete" && e.user.username == "palisade-testenv-admin")
            .count()
    };
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before = admin_requests().await;
    let (seconds, rss, code, _) = timed(
        Command::new(env!("CARGO_BIN_EXE_palisade"))
            .arg("audit")
            .env("KUBECONFIG", env.kubeconfig_path())
            .env("RUST_LOG", "warn"),
    );
    // The audit log is written as requests complete; give its last lines a moment.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let requests = admin_requests().await - before;
    let reports: Api<DynamicObject> = Api::all_with(
        admin.clone(),
        &ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("wgpolicyk8s.io", "v1alpha2", "PolicyReport"),
            "policyreports",
        ),
    );
    let written = reports.list(&ListParams::default()).await.unwrap().items;
    let failing: u64 = written
        .iter()
        .map(|r| {
            serde_json::to_value(r).unwrap()["summary"]["fail"]
                .as_u64()
                .unwrap_or(0)
        })
        .sum();
    println!(
        "audit: {} pods in {tenants} tenant namespaces × {policies} policies: first complete report set in {seconds:.2} s, {} reports ({failing} failing results), {requests} API requests, peak RSS {:.1} MiB, exit {code}",
        tenants * pods,
        written.len(),
        rss as f64 / 1024.0
    );
}

fn main() {
    let args: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let arg = |i: usize, default: usize| args.get(i).copied().unwrap_or(default);
    let (objects, policies, tenants, pods) = (arg(0, 10_000), arg(1, 20), arg(2, 1000), arg(3, 5));
    bench_check(objects, policies);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(bench_audit(tenants, pods, policies));
}
