//! The audit against testenv: Palisade's controller keeps the tenant's namespace labels and
//! policy bindings, `palisade audit --watch` runs as a process beside it as its deployed
//! ServiceAccount (deploy/palisade/audit-rbac.yaml and nothing more), and the PolicyReport it
//! writes is read back from the API server. Tightening the tenant from baseline to restricted
//! must list exactly the pods that now fail; fixing them must clear the report; a bound tenant
//! policy's failures show as warnings (its binding only audits).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failure should stop the test loudly

use std::collections::BTreeSet;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod};
use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams};
use palisade_testenv::{TestEnv, eventually, install_palisade_crds, unique_name};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(90);

/// Stops the audit process with the test, pass or fail.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn report_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("wgpolicyk8s.io", "v1alpha2", "PolicyReport"),
        "policyreports",
    )
}

/// Server-side apply of one manifest of deploy/, as `kubectl apply --server-side` would.
async fn apply(admin: &kube::Client, document: &Value) {
    let api_version = document["apiVersion"].as_str().unwrap();
    let kind = document["kind"].as_str().unwrap();
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    let plural = palisade_admission::offline::resource_for(kind);
    let resource = ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), &plural);
    let api: Api<DynamicObject> = match document["metadata"]["namespace"].as_str() {
        Some(namespace) => Api::namespaced_with(admin.clone(), namespace, &resource),
        None => Api::all_with(admin.clone(), &resource),
    };
    let object: DynamicObject = serde_json::from_value(document.clone()).unwrap();
    let name = document["metadata"]["name"].as_str().unwrap();
    api.patch(
        name,
        &PatchParams::apply("palisade-test").force(),
        &Patch::Apply(&object),
    )
    .await
    .unwrap();
}

fn pod(name: &str, restricted: bool) -> Pod {
    let security = if restricted {
        json!({ "allowPrivilegeEscalation": false, "capabilities": { "drop": ["ALL"] },
                "runAsNonRoot": true, "runAsUser": 1000, "seccompProfile": { "type": "RuntimeDefault" } })
    } else {
        json!({})
    };
    serde_json::from_value(json!({
        "metadata": { "name": name },
        "spec": { "containers": [ { "name": "main", "image": "registry.example.com/app:1", "securityContext": security } ] }
    }))
    .unwrap()
}

/// The failing (or warned) results of the namespace's report: (result, policy, object name).
fn listed(report: &Value) -> BTreeSet<(String, String, String)> {
    report["results"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            (
                r["result"].as_str().unwrap().to_string(),
                r["policy"].as_str().unwrap().to_string(),
                r["resources"][0]["name"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn set(items: &[(&str, &str, &str)]) -> BTreeSet<(String, String, String)> {
    items
        .iter()
        .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn tightening_a_tenant_reports_exactly_the_pods_that_now_fail() {
    let env = TestEnv::get().unwrap();
    let admin = env.admin_client().await.unwrap();
    install_palisade_crds(&admin).await.unwrap();
    let options = palisade_controller::Options {
        discovery_interval: Duration::from_secs(2),
        ..palisade_controller::Options::default()
    };
    let controller = tokio::spawn(palisade_controller::run(admin.clone(), options, std::future::pending()));

    let tenant = unique_name("audited");
    let namespace = format!("{tenant}-apps");
    let tenants: Api<DynamicObject> = Api::all_with(
        admin.clone(),
        &ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("palisade.dev", "v1alpha1", "Tenant"), "tenants"),
    );
    let tenant_object: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "palisade.dev/v1alpha1", "kind": "Tenant",
        "metadata": { "name": tenant },
        "spec": {
            "owners": [ { "kind": "User", "name": format!("{tenant}-owner") } ],
            "namespaces": { "names": [namespace] },
            "podSecurity": { "level": "baseline" },
            "policies": { "parameters": { "team": "blue" }, "overrides": [ { "policy": format!("{tenant}-team-label"), "validationActions": ["Audit"] } ] }
        }
    }))
    .unwrap();
    tenants.create(&PostParams::default(), &tenant_object).await.unwrap();
    let namespaces: Api<Namespace> = Api::all(admin.clone());
    let enforced = |level: &'static str| {
        let namespaces = namespaces.clone();
        let namespace = namespace.clone();
        move || {
            let namespaces = namespaces.clone();
            let namespace = namespace.clone();
            async move {
                let labels = namespaces.get(&namespace).await.ok()?.metadata.labels?;
                (labels.get("pod-security.kubernetes.io/enforce").map(String::as_str) == Some(level)).then_some(())
            }
        }
    };
    eventually("the tenant namespace enforcing baseline", WAIT, enforced("baseline"))
        .await
        .unwrap();

    // A tenant policy, bound by the controller: ConfigMaps must carry the tenant's team label.
    let policy = format!("{tenant}-team-label");
    let policies: Api<DynamicObject> = Api::all_with(
        admin.clone(),
        &ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("admissionregistration.k8s.io", "v1", "ValidatingAdmissionPolicy"),
            "validatingadmissionpolicies",
        ),
    );
    let vap: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicy",
        "metadata": { "name": policy, "labels": { "palisade.dev/tenant-policy": "true" } },
        "spec": {
            "paramKind": { "apiVersion": "palisade.dev/v1alpha1", "kind": "Tenant" },
            "matchConstraints": { "resourceRules": [ { "apiGroups": [""], "apiVersions": ["v1"], "resources": ["configmaps"], "operations": ["CREATE", "UPDATE"] } ] },
            // The cluster's own CA bundle lands in every namespace; it is nobody's team's.
            "matchConditions": [ { "name": "not-the-cluster-ca", "expression": "object.metadata.name != 'kube-root-ca.crt'" } ],
            "validations": [ {
                "expression": "has(object.metadata.labels) && 'team' in object.metadata.labels && object.metadata.labels.team == params.spec.policies.parameters.team",
                "messageExpression": "'config maps of tenant ' + params.metadata.name + ' need the label team=' + params.spec.policies.parameters.team"
            } ]
        }
    }))
    .unwrap();
    policies.create(&PostParams::default(), &vap).await.unwrap();

    // What runs before the audit starts: one restricted-ready pod, two that are only baseline,
    // one ConfigMap with the team label and one without.
    let pods: Api<Pod> = Api::namespaced(admin.clone(), &namespace);
    for (name, restricted) in [("ready", true), ("loose-1", false), ("loose-2", false)] {
        pods.create(&PostParams::default(), &pod(name, restricted))
            .await
            .unwrap();
    }
    let config_maps: Api<ConfigMap> = Api::namespaced(admin.clone(), &namespace);
    for (name, team) in [("labelled", "blue"), ("unlabelled", "")] {
        let mut labels = json!({});
        if !team.is_empty() {
            labels["team"] = json!(team);
        }
        let object: ConfigMap =
            serde_json::from_value(json!({ "metadata": { "name": name, "labels": labels }, "data": { "k": "v" } }))
                .unwrap();
        config_maps.create(&PostParams::default(), &object).await.unwrap();
    }

    // The audit runs as its deployed ServiceAccount, with deploy/palisade/audit-rbac.yaml only.
    let deploy = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/palisade");
    for file in ["00-namespace.yaml", "audit-rbac.yaml"] {
        let text = std::fs::read_to_string(deploy.join(file)).unwrap();
        let documents: Vec<Value> = serde_saphyr::from_multiple(&text).unwrap();
        for document in documents.into_iter().filter(|d| !d.is_null()) {
            apply(&admin, &document).await;
        }
    }
    let service_account = "system:serviceaccount:palisade-system:palisade-audit";
    let groups = [
        "system:serviceaccounts",
        "system:serviceaccounts:palisade-system",
        "system:authenticated",
    ];
    let kubeconfig = env.user_kubeconfig(service_account, &groups).await.unwrap();
    let kubeconfig_path = env.dir().join(format!("audit-{tenant}.kubeconfig"));
    env.write_kubeconfig(&kubeconfig, &kubeconfig_path).unwrap();
    let as_audit = env.user_client(service_account, &groups).await.unwrap();
    let reports_as_audit: Api<DynamicObject> = Api::all_with(as_audit, &report_resource());
    // The API server authorizes from an informer cache: wait until the binding counts.
    eventually("the audit's RBAC to take effect", WAIT, || {
        let reports = reports_as_audit.clone();
        async move { reports.list(&Default::default()).await.ok().map(|_| ()) }
    })
    .await
    .unwrap();
    let _audit = Running(
        Command::new(env!("CARGO_BIN_EXE_palisade"))
            .args([
                "audit",
                "--watch",
                "--debounce-seconds",
                "1",
                "--metrics-listen",
                "127.0.0.1:0",
            ])
            .env("KUBECONFIG", &kubeconfig_path)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let reports: Api<DynamicObject> = Api::namespaced_with(
        admin.clone(),
        &namespace,
        &ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("wgpolicyk8s.io", "v1alpha2", "PolicyReport"),
            "policyreports",
        ),
    );
    let report_lists = |expected: BTreeSet<(String, String, String)>, what: &'static str| {
        let reports = reports.clone();
        async move {
            eventually(what, WAIT, || {
                let reports = reports.clone();
                let expected = expected.clone();
                async move {
                    let report = serde_json::to_value(reports.get("palisade").await.ok()?).unwrap();
                    (listed(&report) == expected).then_some(report)
                }
            })
            .await
            .unwrap_or_else(|e| panic!("{e}"))
        }
    };

    // Baseline: every pod passes; the unlabelled ConfigMap warns (its binding audits only).
    let report = report_lists(set(&[("warn", &policy, "unlabelled")]), "the first report").await;
    assert_eq!(report["summary"]["fail"], 0, "{report}");
    assert!(report["summary"]["pass"].as_u64().unwrap() >= 5, "{report}");
    let warned = &report["results"][0];
    assert_eq!(warned["source"], "palisade");
    assert_eq!(warned["category"], "ValidatingAdmissionPolicy");
    assert_eq!(
        warned["message"],
        format!("config maps of tenant {tenant} need the label team=blue")
    );
    assert_eq!(report["metadata"]["labels"]["palisade.dev/tenant"], json!(tenant));

    // `palisade check --cluster` without files prints the same findings, and writes nothing.
    let printed = Command::new(env!("CARGO_BIN_EXE_palisade"))
        .args(["check", "--cluster"])
        .env("KUBECONFIG", env.kubeconfig_path())
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&printed.stdout);
    assert!(text.contains(&format!("{namespace}: ")), "{text}");
    assert!(
        text.contains(&format!("warn  ConfigMap unlabelled: {policy}")),
        "{text}{}",
        String::from_utf8_lossy(&printed.stderr)
    );

    // Restricted: exactly the two loose pods now fail, with Pod Security's own words.
    tenants
        .patch(
            &tenant,
            &PatchParams::default(),
            &Patch::Merge(json!({ "spec": { "podSecurity": { "level": "restricted" } } })),
        )
        .await
        .unwrap();
    eventually("the namespace enforcing restricted", WAIT, enforced("restricted"))
        .await
        .unwrap();
    let report = report_lists(
        set(&[
            ("fail", "pod-security", "loose-1"),
            ("fail", "pod-security", "loose-2"),
            ("warn", &policy, "unlabelled"),
        ]),
        "the report after tightening",
    )
    .await;
    let failure = report["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["resources"][0]["name"] == "loose-1")
        .unwrap();
    assert!(
        failure["message"]
            .as_str()
            .unwrap()
            .starts_with("pods \"loose-1\" is forbidden: violates PodSecurity \"restricted:latest\": allowPrivilegeEscalation != false"),
        "{failure}"
    );

    // Fixed: the loose pods are replaced by compliant ones and the ConfigMap gets its label.
    for name in ["loose-1", "loose-2"] {
        pods.delete(
            name,
            &DeleteParams {
                grace_period_seconds: Some(0),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    }
    pods.create(&PostParams::default(), &pod("fixed", true)).await.unwrap();
    config_maps
        .patch(
            "unlabelled",
            &PatchParams::default(),
            &Patch::Merge(json!({ "metadata": { "labels": { "team": "blue" } } })),
        )
        .await
        .unwrap();
    let report = report_lists(BTreeSet::new(), "the report after the fixes").await;
    assert_eq!(report["summary"]["fail"], 0, "{report}");
    assert_eq!(report["summary"]["warn"], 0, "{report}");

    // A namespace that stops being the tenant's loses its report.
    tenants.delete(&tenant, &DeleteParams::default()).await.unwrap();
    eventually("the report to be pruned", WAIT, || {
        let reports = reports.clone();
        async move { reports.get_opt("palisade").await.ok()?.is_none().then_some(()) }
    })
    .await
    .unwrap();
    policies.delete(&policy, &DeleteParams::default()).await.unwrap();
    controller.abort();
}
