#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed step fails the test
//! Tenant policies against a real API server, the API server enforcing the bindings Palisade
//! writes: every example under examples/policies/ is accepted and bound for every tenant; one
//! policy gives two tenants with different parameters different verdicts; a tenant put in Warn
//! gets a warning, not a denial; bindings follow tenants as they come and go; a cluster-scoped
//! object (and a namespace of no tenant) is never judged by a tenant's binding; a policy with a
//! wrong paramKind gets no binding and its status and the Tenants' say why; a policy that loses
//! its marker loses its bindings and Palisade's condition.

mod common;

use std::path::Path;
use std::time::Duration;

use common::*;
use k8s_openapi::api::admissionregistration::v1::{ValidatingAdmissionPolicy, ValidatingAdmissionPolicyBinding};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use k8s_openapi::api::rbac::v1::ClusterRole;
use kube::api::{DeleteParams, Patch, PatchParams};
use kube::{Api, Client};
use palisade_api::{Tenant, TenantPolicyStatus, ValidationAction};
use palisade_testenv::eventually;
use serde_json::{Value, json};

const EXAMPLES: [&str; 5] = [
    "palisade-max-replicas",
    "palisade-required-labels",
    "palisade-no-latest-tag",
    "palisade-resource-limits",
    "palisade-probes",
];

fn examples_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/policies")
}

/// Server-side applies `vap` as the platform team would.
async fn apply_policy(admin: &Client, vap: &Value) {
    let name = vap["metadata"]["name"].as_str().unwrap().to_string();
    Api::<ValidatingAdmissionPolicy>::all(admin.clone())
        .patch(&name, &PatchParams::apply("platform-team").force(), &Patch::Apply(vap))
        .await
        .unwrap_or_else(|e| panic!("the API server refused policy {name}: {e}"));
}

async fn apply_examples(admin: &Client) {
    let mut files: Vec<_> = std::fs::read_dir(examples_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    assert_eq!(files.len(), EXAMPLES.len(), "{files:?}");
    for file in files {
        let vap: Value = serde_saphyr::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        apply_policy(admin, &vap).await;
    }
}

fn tenant(name: &str, policies: Value) -> Tenant {
    serde_json::from_value(json!({
        "apiVersion": "palisade.dev/v1alpha1",
        "kind": "Tenant",
        "metadata": { "name": name },
        "spec": {
            "owners": [{ "kind": "User", "name": format!("{name}-owner") }],
            "namespaces": { "names": [format!("{name}-apps")] },
            "policies": policies,
        },
    }))
    .unwrap()
}

fn binding_name(tenant: &str, policy: &str) -> String {
    palisade_tenancy::render::policy_binding::binding_name(tenant, policy)
}

fn bindings(admin: &Client) -> Api<ValidatingAdmissionPolicyBinding> {
    Api::all(admin.clone())
}

/// Waits until `tenant`'s binding of `policy` exists with `actions`; returns it.
async fn wait_binding(
    admin: &Client,
    tenant: &str,
    policy: &str,
    actions: &[&str],
) -> ValidatingAdmissionPolicyBinding {
    let name = binding_name(tenant, policy);
    eventually(&format!("binding {name} with {actions:?}"), WAIT, || {
        let api = bindings(admin);
        let name = name.clone();
        async move {
            let binding = api.get_opt(&name).await.ok()??;
            (binding.spec.validation_actions == actions).then_some(binding)
        }
    })
    .await
    .unwrap()
}

async fn wait_no_binding(admin: &Client, tenant: &str, policy: &str) {
    let name = binding_name(tenant, policy);
    eventually(&format!("binding {name} to be gone"), WAIT, || {
        let api = bindings(admin);
        let name = name.clone();
        async move {
            let binding = api.get_opt(&name).await.ok()?;
            binding
                .is_none_or(|b| b.metadata.deletion_timestamp.is_some())
                .then_some(())
        }
    })
    .await
    .unwrap();
}

/// Waits until `tenant`'s status.policies entry for `policy` satisfies `check`.
async fn wait_policy_status(
    cluster: &Cluster,
    tenant: &str,
    policy: &str,
    check: impl Fn(&TenantPolicyStatus) -> bool,
) -> TenantPolicyStatus {
    eventually(&format!("tenant {tenant}'s status for policy {policy}"), WAIT, || {
        let tenants = cluster.tenants();
        let check = &check;
        async move {
            let t = tenants.get(tenant).await.ok()?;
            let entry = t.status?.policies.into_iter().find(|p| p.policy == policy)?;
            check(&entry).then_some(entry)
        }
    })
    .await
    .unwrap()
}

/// The condition Palisade writes on a policy: `(status, reason, message)`, once it satisfies
/// `check`.
async fn wait_policy_condition(admin: &Client, policy: &str, status: &str) -> (String, String) {
    eventually(
        &format!("policy {policy}'s PalisadeTenantBindings={status}"),
        WAIT,
        || {
            let api = Api::<ValidatingAdmissionPolicy>::all(admin.clone());
            async move {
                let vap = api.get(policy).await.ok()?;
                let conditions = vap.status?.conditions?;
                let ours = conditions.iter().find(|c| c.type_ == "PalisadeTenantBindings")?;
                (ours.status == status).then(|| (ours.reason.clone(), ours.message.clone()))
            }
        },
    )
    .await
    .unwrap()
}

fn deployment(name: &str, replicas: i32, labels: Value) -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": { "name": name, "labels": labels },
        "spec": {
            "replicas": replicas,
            "selector": { "matchLabels": { "app": name } },
            "template": {
                "metadata": { "labels": { "app": name } },
                "spec": { "containers": [{
                    "name": "app",
                    "image": "registry.example.com/app:1.0",
                    "readinessProbe": { "httpGet": { "path": "/", "port": 8080 } },
                }] },
            },
        },
    })
}

/// The outcome of a create, as a client sees it: `Ok(warnings)` or `Err(message)`.
async fn create_raw(client: &Client, path: &str, body: &Value) -> Result<Vec<String>, String> {
    let request = http::Request::post(path)
        .header("Content-Type", "application/json")
        .body(serde_json::to_vec(body).unwrap())
        .unwrap();
    let response = client.send(request.map(kube::client::Body::from)).await.unwrap();
    let warnings: Vec<String> = response
        .headers()
        .get_all("warning")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect();
    let status = response.status();
    let bytes = http_body_util::BodyExt::collect(response.into_body())
        .await
        .unwrap()
        .to_bytes();
    if status.is_success() {
        Ok(warnings)
    } else {
        let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Err(body["message"].as_str().unwrap_or_default().to_string())
    }
}

fn deployments_path(namespace: &str) -> String {
    format!("/apis/apps/v1/namespaces/{namespace}/deployments")
}

/// Creates `body` at `path` once the API server's verdict on it satisfies `check`, and returns
/// that verdict: dry runs (which go through admission, policies included) repeat until then,
/// since the API server's admission plugin sees new bindings and params shortly after they are
/// stored; then the real request, whose verdict must satisfy `check` too.
async fn verdict(
    client: &Client,
    path: &str,
    body: &Value,
    what: &str,
    check: impl Fn(&Result<Vec<String>, String>) -> bool,
) -> Result<Vec<String>, String> {
    let dry_run = format!("{path}?dryRun=All");
    eventually(what, WAIT, || {
        let check = &check;
        let dry_run = &dry_run;
        async move {
            let result = create_raw(client, dry_run, body).await;
            check(&result).then_some(())
        }
    })
    .await
    .unwrap();
    let result = create_raw(client, path, body).await;
    assert!(
        check(&result),
        "{what}: the dry run agreed, the request did not: {result:?}"
    );
    result
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_policy_serves_every_tenant_with_its_own_parameters() {
    let cluster = Cluster::start().await;
    let admin = cluster.admin.clone();
    apply_examples(&admin).await;

    let (a, b) = (unique("strict"), unique("roomy"));
    cluster
        .create(&tenant(
            &a,
            json!({ "parameters": { "maxReplicas": 4, "requiredLabels": ["cost-center"] } }),
        ))
        .await;
    cluster
        .create(&tenant(&b, json!({ "parameters": { "maxReplicas": 20 } })))
        .await;
    cluster.wait_reconciled(&a, "True").await;
    cluster.wait_reconciled(&b, "True").await;

    // Every example is accepted, bound for both tenants with the actions its annotation names,
    // and says so in its status and the Tenants'.
    for policy in EXAMPLES {
        let actions: &[&str] = if policy == "palisade-probes" {
            &["Warn", "Audit"]
        } else {
            &["Deny"]
        };
        for t in [&a, &b] {
            let binding = wait_binding(&admin, t, policy, actions).await;
            let spec = &binding.spec;
            assert_eq!(spec.policy_name, policy);
            let param = spec.param_ref.as_ref().unwrap();
            assert_eq!(param.name.as_deref(), Some(t.as_str()));
            assert_eq!(param.namespace, None);
            assert_eq!(param.parameter_not_found_action.as_deref(), Some("Deny"));
            let selector = spec
                .match_resources
                .as_ref()
                .unwrap()
                .namespace_selector
                .as_ref()
                .unwrap();
            assert_eq!(
                selector.match_labels.as_ref().unwrap().get("palisade.dev/tenant"),
                Some(t)
            );
            let labels = binding.metadata.labels.as_ref().unwrap();
            assert_eq!(labels.get("palisade.dev/policy").map(String::as_str), Some(policy));
            assert_eq!(
                labels.get("app.kubernetes.io/managed-by").map(String::as_str),
                Some("palisade")
            );
            let owner = &binding.metadata.owner_references.as_ref().unwrap()[0];
            assert_eq!((owner.kind.as_str(), owner.name.as_str()), ("Tenant", t.as_str()));
        }
        let (reason, _) = wait_policy_condition(&admin, policy, "True").await;
        assert_eq!(reason, "Bound");
        let status = wait_policy_status(&cluster, &a, policy, |s| s.bound).await;
        assert_eq!(
            status.validation_actions.iter().map(|a| a.as_str()).collect::<Vec<_>>(),
            actions
        );
    }

    // One policy, two verdicts: 6 replicas are too many for a, fine for b.
    let (ns_a, ns_b) = (format!("{a}-apps"), format!("{b}-apps"));
    let labelled = json!({ "cost-center": "cc-1" });
    let denied = verdict(
        &admin,
        &deployments_path(&ns_a),
        &deployment("six", 6, labelled.clone()),
        "6 replicas denied in tenant a",
        Result::is_err,
    )
    .await
    .unwrap_err();
    assert!(
        denied.contains("Deployment six asks")
            && denied.contains(&format!("asks for 6 replicas; tenant {a} allows at most 4")),
        "{denied}"
    );
    assert!(
        denied.contains("palisade-max-replicas"),
        "the API server names the policy: {denied}"
    );
    let admitted = create_raw(&admin, &deployments_path(&ns_b), &deployment("six", 6, json!({}))).await;
    assert!(admitted.is_ok(), "6 replicas are within tenant b's 20: {admitted:?}");
    let four = create_raw(
        &admin,
        &deployments_path(&ns_a),
        &deployment("four", 4, labelled.clone()),
    )
    .await;
    assert!(four.is_ok(), "4 replicas are within tenant a's limit: {four:?}");
    // a requires cost-center, b does not.
    let unlabelled = create_raw(&admin, &deployments_path(&ns_a), &deployment("bare", 1, json!({}))).await;
    let message = unlabelled.unwrap_err();
    assert!(
        message.contains(&format!("lacks label(s) required by tenant {a}: cost-center")),
        "{message}"
    );
    // What was stored: exactly the admitted Deployments.
    let stored: Vec<String> = Api::<Deployment>::namespaced(admin.clone(), &ns_a)
        .list(&Default::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|d| d.metadata.name)
        .collect();
    assert_eq!(stored, ["four"], "only the admitted Deployment is stored in {ns_a}");

    // Tenant a in Warn: the same request is admitted with the policy's message as a warning.
    let patch = json!({ "spec": { "policies": { "validationActions": ["Warn"] } } });
    cluster
        .tenants()
        .patch(&a, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    wait_binding(&admin, &a, "palisade-max-replicas", &["Warn"]).await;
    let warned = verdict(
        &admin,
        &deployments_path(&ns_a),
        &deployment("warned", 6, labelled.clone()),
        "6 replicas admitted with a warning in tenant a",
        |r| {
            r.as_ref()
                .is_ok_and(|w| w.iter().any(|w| w.contains("allows at most 4")))
        },
    )
    .await
    .unwrap();
    assert!(
        warned
            .iter()
            .any(|w| w.contains("palisade-max-replicas") && w.contains("asks for 6 replicas")),
        "{warned:?}"
    );
    let status = wait_policy_status(&cluster, &a, "palisade-max-replicas", |s| {
        s.validation_actions == [ValidationAction::Warn]
    })
    .await;
    assert!(
        status.message.contains("spec.policies.validationActions"),
        "{}",
        status.message
    );

    // A new tenant gets every binding; a deleted one loses them.
    let c = unique("late");
    cluster.create(&tenant(&c, json!({}))).await;
    for policy in EXAMPLES {
        let actions: &[&str] = if policy == "palisade-probes" {
            &["Warn", "Audit"]
        } else {
            &["Deny"]
        };
        wait_binding(&admin, &c, policy, actions).await;
    }
    cluster.tenants().delete(&b, &DeleteParams::default()).await.unwrap();
    for policy in EXAMPLES {
        wait_no_binding(&admin, &b, policy).await;
    }
    // The others keep theirs.
    for policy in EXAMPLES {
        assert!(
            bindings(&admin)
                .get_opt(&binding_name(&a, policy))
                .await
                .unwrap()
                .is_some()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bindings_never_catch_cluster_scoped_objects_and_unbindable_policies_say_why() {
    let cluster = Cluster::start().await;
    let admin = cluster.admin.clone();
    let t = unique("scoped");
    cluster
        .create(&tenant(
            &t,
            json!({ "parameters": { "forbiddenPrefix": "forbidden-" } }),
        ))
        .await;
    cluster.wait_reconciled(&t, "True").await;

    // A policy on everything (`*` resources, any scope) refusing names with the tenant's
    // forbidden prefix: the tenant's binding limits it to its namespaces and what is in them.
    let everything = unique("everything");
    let policy = json!({
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicy",
        "metadata": { "name": everything, "labels": { "palisade.dev/tenant-policy": "true" } },
        "spec": {
            "failurePolicy": "Fail",
            "paramKind": { "apiVersion": "palisade.dev/v1alpha1", "kind": "Tenant" },
            "matchConstraints": { "resourceRules": [{
                "apiGroups": ["", "rbac.authorization.k8s.io"], "apiVersions": ["*"],
                "operations": ["CREATE"], "resources": ["*"], "scope": "*",
            }] },
            "variables": [{
                "name": "prefix",
                "expression": "has(params.spec.policies) && has(params.spec.policies.parameters) && has(params.spec.policies.parameters.forbiddenPrefix) ? string(params.spec.policies.parameters.forbiddenPrefix) : ''",
            }],
            "validations": [{
                "expression": "variables.prefix == '' || !object.metadata.name.startsWith(variables.prefix)",
                "messageExpression": "'name ' + object.metadata.name + ' starts with ' + variables.prefix + ', forbidden in tenant ' + params.metadata.name",
            }],
        },
    });
    apply_policy(&admin, &policy).await;
    let binding = wait_binding(&admin, &t, &everything, &["Deny"]).await;
    let rules = serde_json::to_value(&binding.spec.match_resources.as_ref().unwrap().resource_rules).unwrap();
    assert_eq!(
        rules,
        json!([
            { "apiGroups": ["", "rbac.authorization.k8s.io"], "apiVersions": ["*"], "operations": ["CREATE"], "resources": ["*"], "scope": "Namespaced" },
            { "apiGroups": [""], "apiVersions": ["*"], "operations": ["CREATE"], "resources": ["namespaces"], "scope": "Cluster" },
        ])
    );

    // In the tenant's namespace: refused (the binding is live).
    let configmaps = format!("/api/v1/namespaces/{t}-apps/configmaps");
    let refused = verdict(
        &admin,
        &configmaps,
        &json!({ "apiVersion": "v1", "kind": "ConfigMap", "metadata": { "name": "forbidden-cm" } }),
        "a forbidden ConfigMap refused in the tenant's namespace",
        Result::is_err,
    )
    .await
    .unwrap_err();
    assert!(refused.contains(&format!("forbidden in tenant {t}")), "{refused}");
    // A namespace labelled for the tenant is matched on its own labels: refused too.
    let tenant_ns = json!({ "apiVersion": "v1", "kind": "Namespace", "metadata": {
        "name": unique("forbidden-ns"), "labels": { "palisade.dev/tenant": t } } });
    let refused = create_raw(&admin, "/api/v1/namespaces", &tenant_ns).await.unwrap_err();
    assert!(refused.contains(&format!("forbidden in tenant {t}")), "{refused}");

    // Cluster-scoped objects and namespaces of no tenant: admitted, and stored.
    let role = unique("forbidden-role");
    let created = create_raw(
        &admin,
        "/apis/rbac.authorization.k8s.io/v1/clusterroles",
        &json!({ "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": { "name": role } }),
    )
    .await;
    assert!(created.is_ok(), "a ClusterRole is no tenant's: {created:?}");
    assert!(
        Api::<ClusterRole>::all(admin.clone())
            .get_opt(&role)
            .await
            .unwrap()
            .is_some()
    );
    let free_ns = unique("forbidden-free");
    let created = create_raw(
        &admin,
        "/api/v1/namespaces",
        &json!({ "apiVersion": "v1", "kind": "Namespace", "metadata": { "name": free_ns } }),
    )
    .await;
    assert!(created.is_ok(), "a namespace of no tenant: {created:?}");
    assert!(
        Api::<Namespace>::all(admin.clone())
            .get_opt(&free_ns)
            .await
            .unwrap()
            .is_some()
    );
    let created = create_raw(
        &admin,
        "/api/v1/namespaces/default/configmaps",
        &json!({ "apiVersion": "v1", "kind": "ConfigMap", "metadata": { "name": unique("forbidden-default") } }),
    )
    .await;
    assert!(created.is_ok(), "a ConfigMap outside tenant namespaces: {created:?}");
    let stored = Api::<ConfigMap>::namespaced(admin.clone(), &format!("{t}-apps"))
        .get_opt("forbidden-cm")
        .await
        .unwrap();
    assert!(stored.is_none(), "the refused ConfigMap was not stored");

    // A policy with a wrong paramKind: no binding; its condition and the Tenant's status say why.
    let wrong = unique("wrong-params");
    let mut wrong_policy = policy.clone();
    wrong_policy["metadata"]["name"] = json!(wrong);
    wrong_policy["spec"]["paramKind"] = json!({ "apiVersion": "v1", "kind": "ConfigMap" });
    wrong_policy["spec"]["variables"] = json!([]);
    wrong_policy["spec"]["validations"] = json!([{ "expression": "object.metadata.name != params.data.name" }]);
    apply_policy(&admin, &wrong_policy).await;
    let (reason, message) = wait_policy_condition(&admin, &wrong, "False").await;
    assert_eq!(reason, "NotBindable");
    assert!(message.contains("paramKind"), "{message}");
    let status = wait_policy_status(&cluster, &t, &wrong, |s| !s.bound).await;
    assert!(status.message.contains("paramKind"), "{}", status.message);
    // Still none a while later, after the tenant's reconciles.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        bindings(&admin)
            .get_opt(&binding_name(&t, &wrong))
            .await
            .unwrap()
            .is_none()
    );

    // Fixed: bound.
    wrong_policy["spec"]["paramKind"] = json!({ "apiVersion": "palisade.dev/v1alpha1", "kind": "Tenant" });
    wrong_policy["spec"]["validations"] = json!([{ "expression": "object.metadata.name != params.metadata.name" }]);
    apply_policy(&admin, &wrong_policy).await;
    wait_binding(&admin, &t, &wrong, &["Deny"]).await;
    wait_policy_condition(&admin, &wrong, "True").await;

    // Unmarked: its bindings go, and so does Palisade's condition.
    let unmark = json!({ "metadata": { "labels": { "palisade.dev/tenant-policy": null } } });
    Api::<ValidatingAdmissionPolicy>::all(admin.clone())
        .patch(&everything, &PatchParams::default(), &Patch::Merge(&unmark))
        .await
        .unwrap();
    wait_no_binding(&admin, &t, &everything).await;
    eventually("Palisade's condition off the unmarked policy", WAIT, || {
        let api = Api::<ValidatingAdmissionPolicy>::all(admin.clone());
        let everything = everything.clone();
        async move {
            let vap = api.get(&everything).await.ok()?;
            let conditions = vap.status.and_then(|s| s.conditions).unwrap_or_default();
            (!conditions.iter().any(|c| c.type_ == "PalisadeTenantBindings")).then_some(())
        }
    })
    .await
    .unwrap();
    wait_policy_status(&cluster, &t, &wrong, |s| s.bound).await;
    eventually("the unmarked policy out of the Tenant's status", WAIT, || {
        let tenants = cluster.tenants();
        let (t, everything) = (t.clone(), everything.clone());
        async move {
            let status = tenants.get(&t).await.ok()?.status?;
            (!status.policies.iter().any(|p| p.policy == everything)).then_some(())
        }
    })
    .await
    .unwrap();
    // Leave the shared examples' tenants alone: delete this test's policies.
    for name in [&everything, &wrong] {
        let _ = Api::<ValidatingAdmissionPolicy>::all(admin.clone())
            .delete(name, &DeleteParams::default())
            .await;
    }
}
