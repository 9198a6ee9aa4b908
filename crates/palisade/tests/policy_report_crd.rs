//! The PolicyReport CRD under `deploy/crds/` (the policy working group's published schema) against
//! testenv: the reports Palisade writes must be stored exactly as written. Server-side apply with
//! field validation Strict refuses any field the schema does not know instead of pruning it
//! silently, so a report that reads back unchanged proves its shape against the real schema.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failure should stop the test loudly

use std::collections::BTreeMap;

use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams};
use palisade_audit::report::{self, Finding, Resource};
use palisade_testenv::{TestEnv, install_palisade_crds};
use serde_json::{Value, json};

fn policy_reports() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("wgpolicyk8s.io", "v1alpha2", "PolicyReport"),
        "policyreports",
    )
}

/// Applies `report` with Strict field validation and returns what the API server stored.
async fn apply_strict(reports: &Api<DynamicObject>, report: &Value) -> Result<Value, kube::Error> {
    let name = report["metadata"]["name"].as_str().unwrap();
    let stored = reports
        .patch(
            name,
            &PatchParams::apply("palisade").validation_strict(),
            &Patch::Apply(report),
        )
        .await?;
    Ok(serde_json::to_value(stored).unwrap())
}

/// Every field the report was written with, as the API server returned it: the written fields
/// only (the server adds uid, resourceVersion, managedFields and such to metadata).
fn assert_stored_unchanged(written: &Value, stored: &Value) {
    for field in ["apiVersion", "kind", "scope", "summary", "results"] {
        assert_eq!(
            stored[field], written[field],
            "{field} changed when stored:\n{stored:#}"
        );
    }
    for field in ["name", "namespace", "labels", "annotations"] {
        assert_eq!(
            stored["metadata"][field], written["metadata"][field],
            "metadata.{field} changed when stored"
        );
    }
}

/// A result as Palisade writes it (see `palisade_audit::report::policy_report`).
/// `what` is policy, rule, result, category, severity and message.
fn result(namespace: &str, pod: &str, what: [&str; 6]) -> Value {
    let [policy, rule, verdict, category, severity, message] = what;
    json!({
        "policy": policy,
        "rule": rule,
        "result": verdict,
        "message": message,
        "category": category,
        "severity": severity,
        "source": "palisade",
        "scored": true,
        "resources": [{
            "apiVersion": "v1", "kind": "Pod", "namespace": namespace, "name": pod,
            "uid": "5f1c2b7e-0d7a-4c35-9a4e-3f1b2c9d8e01",
        }],
        "timestamp": { "seconds": 1_733_600_000_i64, "nanos": 0 },
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn a_policy_report_as_palisade_writes_it_is_stored_unchanged_under_strict_validation() {
    let env = TestEnv::get().unwrap();
    let admin = env.admin_client().await.unwrap();
    let names = install_palisade_crds(&admin).await.unwrap();
    for crd in ["policyreports.wgpolicyk8s.io", "clusterpolicyreports.wgpolicyk8s.io"] {
        assert!(
            names.contains(&crd.to_string()),
            "{crd} not installed from deploy/crds: {names:?}"
        );
    }
    let namespace = env.create_namespace("reported", &[]).await.unwrap();
    let reports: Api<DynamicObject> = Api::namespaced_with(admin.clone(), &namespace, &policy_reports());

    // Every field of the schema Palisade fills: one result per kind of rule it judges.
    let written = json!({
        "apiVersion": "wgpolicyk8s.io/v1alpha2",
        "kind": "PolicyReport",
        "metadata": {
            "name": "palisade",
            "namespace": namespace,
            "labels": { "app.kubernetes.io/managed-by": "palisade", "palisade.dev/tenant": "storefront" },
            "annotations": { "palisade.dev/results-not-listed": "3" },
        },
        "scope": { "apiVersion": "v1", "kind": "Namespace", "name": namespace },
        "summary": { "pass": 12, "fail": 2, "warn": 1, "error": 1, "skip": 1 },
        "results": [
            result(&namespace, "web", ["pod-security", "enforce", "fail", "Pod Security", "high", "pods \"web\" is forbidden: violates PodSecurity \"restricted:v1.33\": runAsNonRoot != true (pod or container \"main\" must set securityContext.runAsNonRoot=true)"]),
            result(&namespace, "worker", ["palisade-tenant-rules", "tenant-rules", "fail", "Tenant", "high", "tenant storefront: container \"main\" image registry.other.example/app:1 is not from an allowed registry"]),
            result(&namespace, "batch", ["require-cost-center", "require-cost-center-storefront", "error", "ValidatingAdmissionPolicy", "medium", "expression 'object.metadata.labels[\"cost-center\"]' resulted in error: no such key: cost-center"]),
            result(&namespace, "api", ["max-replicas", "max-replicas-storefront", "warn", "ValidatingAdmissionPolicy", "medium", "replicas must be at most 4 for tenant storefront"]),
            result(&namespace, "api", ["image-digest", "image-digest-storefront", "skip", "ValidatingAdmissionPolicy", "medium", "the expression uses a CEL function kube-cel does not evaluate"]),
        ],
    });
    let stored = apply_strict(&reports, &written).await.unwrap();
    assert_stored_unchanged(&written, &stored);
    // Read back by a GET too: what Policy Reporter and kubectl see.
    let got = serde_json::to_value(reports.get("palisade").await.unwrap()).unwrap();
    assert_stored_unchanged(&written, &got);

    // The report Palisade's audit builds, from findings of every kind, fits the schema too.
    let resource = |name: &str| Resource {
        api_version: "v1".into(),
        kind: "Pod".into(),
        namespace: namespace.clone(),
        name: name.into(),
        uid: String::new(),
    };
    let finding = |name: &str, policy: &str, rule: &str, result, category, severity, message: &str| Finding {
        resource: resource(name),
        policy: policy.into(),
        rule: rule.into(),
        result,
        category,
        severity,
        message: message.into(),
    };
    let findings = vec![
        finding(
            "a",
            "pod-security",
            "enforce",
            "fail",
            "Pod Security",
            "high",
            "runAsNonRoot != true",
        ),
        finding(
            "a",
            "palisade-tenant-rules",
            "tenant-rules",
            "pass",
            "Tenant",
            "high",
            "",
        ),
        finding(
            "b",
            "max-replicas",
            "max-replicas-storefront",
            "warn",
            "ValidatingAdmissionPolicy",
            "medium",
            "too many",
        ),
        finding(
            "c",
            "image-digest",
            "image-digest-storefront",
            "skip",
            "ValidatingAdmissionPolicy",
            "medium",
            "not evaluated",
        ),
        finding(
            "d",
            "require-cost-center",
            "require-cost-center-storefront",
            "error",
            "ValidatingAdmissionPolicy",
            "medium",
            "no such key",
        ),
    ];
    let labels = BTreeMap::from([("palisade.dev/tenant".to_string(), "storefront".to_string())]);
    let mut built = report::policy_report(&namespace, &labels, &findings, 1_733_600_000);
    built["metadata"]["name"] = json!("palisade-audit");
    let stored = apply_strict(&reports, &built).await.unwrap();
    assert_stored_unchanged(&built, &stored);
    assert_eq!(
        stored["results"].as_array().unwrap().len(),
        4,
        "passes are counted, not listed"
    );

    // Strict is strict: a field the schema does not know is refused, not pruned.
    let mut misspelt = written.clone();
    misspelt["metadata"]["name"] = json!("misspelt");
    misspelt["results"][0]["severty"] = json!("high");
    let error = apply_strict(&reports, &misspelt).await.unwrap_err();
    assert!(error.to_string().contains("severty"), "{error}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cluster_policy_report_is_stored_unchanged_under_strict_validation() {
    let env = TestEnv::get().unwrap();
    let admin = env.admin_client().await.unwrap();
    install_palisade_crds(&admin).await.unwrap();
    let reports: Api<DynamicObject> = Api::all_with(
        admin.clone(),
        &ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("wgpolicyk8s.io", "v1alpha2", "ClusterPolicyReport"),
            "clusterpolicyreports",
        ),
    );
    let name = palisade_testenv::unique_name("palisade-tenants");
    let written = json!({
        "apiVersion": "wgpolicyk8s.io/v1alpha2",
        "kind": "ClusterPolicyReport",
        "metadata": { "name": name },
        "scope": { "apiVersion": "palisade.dev/v1alpha1", "kind": "Tenant", "name": "storefront" },
        "summary": { "pass": 0, "fail": 1, "warn": 0, "error": 0, "skip": 0 },
        "results": [{
            "policy": "palisade-tenant-rules",
            "rule": "tenant-rules",
            "result": "fail",
            "message": "tenant storefront: namespace \"storefront-apps\" is over the tenant's quota",
            "category": "Tenant",
            "severity": "high",
            "source": "palisade",
            "scored": true,
            "resources": [{ "apiVersion": "v1", "kind": "Namespace", "name": "storefront-apps" }],
            "timestamp": { "seconds": 1_733_600_000_i64, "nanos": 0 },
        }],
    });
    let stored = apply_strict(&reports, &written).await.unwrap();
    for field in ["apiVersion", "kind", "scope", "summary", "results"] {
        assert_eq!(
            stored[field], written[field],
            "{field} changed when stored:\n{stored:#}"
        );
    }
}
