//! How long one admission decision takes, without HTTP or TLS: a realistic pod CREATE (two
//! containers, an init container, env, volumes) for a tenant with every workload rule on, in a
//! cluster of 1,000 tenants. Prints figures; asserts nothing.
//!
//! `cargo bench -p palisade-admission --bench decide`

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // bench code

use std::hint::black_box;
use std::time::Instant;

use kube::core::DynamicObject;
use kube::core::admission::{AdmissionRequest, AdmissionReview};
use palisade_admission::{AdmissionConfig, Snapshot, review};
use serde_json::json;

fn tenant_yaml(name: &str) -> String {
    format!(
        r#"
apiVersion: palisade.dev/v1alpha1
kind: Tenant
metadata: {{ name: {name} }}
spec:
  owners: [{{ kind: Group, name: {name}-admins }}]
  workloads:
    registries: [registry.example.com/{name}/, ghcr.io/{name}/]
    pullPolicies: [Always, IfNotPresent]
    priorityClasses: {{ allowed: [tenant-normal, tenant-high], default: tenant-normal }}
    runtimeClasses: {{ allowed: [gvisor, runc], default: gvisor }}
    nodeSelector: {{ pool: tenants }}
"#
    )
}

fn pod_review() -> serde_json::Value {
    let container = |name: &str, image: &str| {
        json!({
            "name": name, "image": image, "imagePullPolicy": "IfNotPresent",
            "env": [{ "name": "LOG_LEVEL", "value": "info" }, { "name": "PORT", "value": "8080" }],
            "ports": [{ "containerPort": 8080, "name": "http" }],
            "resources": { "requests": { "cpu": "100m", "memory": "128Mi" }, "limits": { "memory": "256Mi" } },
            "volumeMounts": [{ "name": "config", "mountPath": "/etc/app" }],
            "securityContext": { "runAsNonRoot": true, "allowPrivilegeEscalation": false, "capabilities": { "drop": ["ALL"] } }
        })
    };
    json!({
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {
            "uid": "b1f6e3d0-1111-4222-8333-444455556666",
            "kind": { "group": "", "version": "v1", "kind": "Pod" },
            "resource": { "group": "", "version": "v1", "resource": "pods" },
            "name": "api-7d9f8b6c5-x2x9z", "namespace": "tenant-500-api", "operation": "CREATE",
            "userInfo": { "username": "system:serviceaccount:kube-system:replicaset-controller", "groups": ["system:serviceaccounts"] },
            "object": {
                "apiVersion": "v1", "kind": "Pod",
                "metadata": { "name": "api-7d9f8b6c5-x2x9z", "namespace": "tenant-500-api", "labels": { "app": "api" },
                    "ownerReferences": [{ "apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "api-7d9f8b6c5", "uid": "6b2c", "controller": true }] },
                "spec": {
                    "containers": [container("api", "registry.example.com/tenant-500/api:1.4.2"), container("sidecar", "ghcr.io/tenant-500/proxy:2")],
                    "initContainers": [container("migrate", "registry.example.com/tenant-500/migrate:1.4.2")],
                    "volumes": [{ "name": "config", "configMap": { "name": "api" } }],
                    "serviceAccountName": "api"
                }
            },
            "oldObject": null
        }
    })
}

fn main() {
    let mut snapshot = Snapshot::default();
    let tenants: usize = std::env::var("TENANTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    for i in 0..tenants {
        let name = format!("tenant-{i}");
        let tenant = serde_saphyr::from_str(&tenant_yaml(&name)).unwrap();
        snapshot = snapshot
            .with_tenant(tenant)
            .with_namespace(&format!("{name}-api"), Some(&name))
            .with_namespace(&format!("{name}-jobs"), Some(&name));
    }
    let config = AdmissionConfig::default();
    let body = serde_json::to_vec(&pod_review()).unwrap();
    let request: AdmissionRequest<DynamicObject> = serde_json::from_slice::<AdmissionReview<DynamicObject>>(&body)
        .unwrap()
        .try_into()
        .unwrap();
    assert!(matches!(
        review(&request, &snapshot, &config),
        palisade_admission::Verdict::Patch(_)
    ));

    let iterations = 50_000;
    let measure = |label: &str, f: &dyn Fn()| {
        for _ in 0..1_000 {
            f();
        }
        let started = Instant::now();
        for _ in 0..iterations {
            f();
        }
        let per = started.elapsed().as_secs_f64() / f64::from(iterations);
        println!(
            "{label:<48} {:>8.2} µs/review  ({:>9.0} reviews/s on one core)",
            per * 1e6,
            1.0 / per
        );
    };
    println!(
        "pod CREATE, {} bytes, {tenants} tenants, every workload rule on, {iterations} iterations",
        body.len()
    );
    measure("decision only (parsed request)", &|| {
        black_box(review(black_box(&request), &snapshot, &config));
    });
    measure("decode + decision + encode response", &|| {
        let request: AdmissionRequest<DynamicObject> =
            serde_json::from_slice::<AdmissionReview<DynamicObject>>(black_box(&body))
                .unwrap()
                .try_into()
                .unwrap();
        let response = review(&request, &snapshot, &config)
            .into_response(&request)
            .into_review();
        black_box(serde_json::to_vec(&response).unwrap());
    });
}
