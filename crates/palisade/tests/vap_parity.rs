//! Offline parity for ValidatingAdmissionPolicies and Pod Security: `palisade check` must give
//! the real API server's answer, field for field. A table of (policy, binding, object) cases is installed on
//! testenv's kube-apiserver, every object is sent to it with server-side dry-run (updates against
//! an object stored before the policies existed), and the HTTP status code, reason, message and
//! warnings it answers are compared with what `palisade check -o json` prints for the same object,
//! given the policies, bindings, Tenants and Namespaces dumped from that API server.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failure should stop the test loudly

use std::path::Path;
use std::time::Duration;

use http_body_util::BodyExt as _;
use kube::Client;
use palisade_admission::offline::resource_for;
use palisade_testenv::{TestEnv, eventually, install_palisade_crds, unique_name};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(60);
/// The user testenv's admin kubeconfig authenticates as: the sender of every request here.
const ADMIN_USER: &str = "palisade-testenv-admin";

/// What the API server (or `check`) answered one request.
#[derive(Debug, Clone, PartialEq)]
struct Answer {
    allowed: bool,
    code: Option<u64>,
    reason: Option<String>,
    message: Option<String>,
    warnings: Vec<String>,
}

fn path_for(object: &Value, dry_run: bool) -> (String, String) {
    let api_version = object["apiVersion"].as_str().unwrap();
    let kind = object["kind"].as_str().unwrap();
    let base = if api_version.contains('/') {
        format!("/apis/{api_version}")
    } else {
        format!("/api/{api_version}")
    };
    let collection = match object["metadata"]["namespace"].as_str() {
        Some(namespace) => format!("{base}/namespaces/{namespace}/{}", resource_for(kind)),
        None => format!("{base}/{}", resource_for(kind)),
    };
    let item = format!("{collection}/{}", object["metadata"]["name"].as_str().unwrap());
    let query = if dry_run { "?dryRun=All" } else { "" };
    (format!("{collection}{query}"), format!("{item}{query}"))
}

/// Sends `object` to the API server (POST, or PUT when `update`) and reads status, body and
/// `Warning` headers.
async fn send(client: &Client, object: &Value, update: bool, dry_run: bool) -> (Answer, Value) {
    let (collection, item) = path_for(object, dry_run);
    let request = http::Request::builder()
        .method(if update { "PUT" } else { "POST" })
        .uri(if update { item } else { collection })
        .header("content-type", "application/json")
        .body(serde_json::to_vec(object).unwrap())
        .unwrap();
    let response = client.send(request.map(kube::client::Body::from)).await.unwrap();
    let status = response.status();
    let warnings: Vec<String> = response
        .headers()
        .get_all("warning")
        .iter()
        .map(|value| warning_text(value.to_str().unwrap()))
        .collect();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let answer = if status.is_success() {
        Answer {
            allowed: true,
            code: None,
            reason: None,
            message: None,
            warnings,
        }
    } else {
        Answer {
            allowed: false,
            code: body["code"].as_u64(),
            reason: body["reason"].as_str().map(String::from),
            message: body["message"].as_str().map(String::from),
            warnings,
        }
    };
    (answer, body)
}

/// `299 - "text"` → `text` (RFC 7234 warn-text, with its quotes and escapes undone).
fn warning_text(header: &str) -> String {
    let quoted = header.splitn(3, ' ').nth(2).unwrap_or(header).trim();
    let inner = quoted
        .strip_prefix('"')
        .and_then(|q| q.strip_suffix('"'))
        .unwrap_or(quoted);
    inner.replace("\\\"", "\"").replace("\\\\", "\\")
}

/// One row of the table.
struct Case {
    /// Names the row in failure messages.
    name: &'static str,
    /// The object sent (its `metadata.name` is made unique per case).
    object: Value,
    /// When set, this object is stored first (before any policy exists) and `object` is sent
    /// as an update of it.
    stored: Option<Value>,
}

fn deployment(name: &str, namespace: &str, replicas: i64, image: &str, labels: Value) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": { "name": name, "namespace": namespace, "labels": labels },
        "spec": {
            "replicas": replicas,
            "selector": { "matchLabels": { "app": name } },
            "template": {
                "metadata": { "labels": { "app": name } },
                "spec": { "containers": [ { "name": "main", "image": image } ] }
            }
        }
    })
}

fn config_map(name: &str, namespace: &str, labels: Value, data: Value) -> Value {
    json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": { "name": name, "namespace": namespace, "labels": labels },
        "data": data,
    })
}

fn pod(name: &str, namespace: &str, containers: Value) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": { "name": name, "namespace": namespace },
        "spec": { "containers": containers },
    })
}

fn policy(name: &str, spec: Value) -> Value {
    json!({ "apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicy",
            "metadata": { "name": name }, "spec": spec })
}

fn binding(name: &str, policy: &str, spec: Value) -> Value {
    let mut spec = spec;
    spec["policyName"] = json!(policy);
    json!({ "apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicyBinding",
            "metadata": { "name": name }, "spec": spec })
}

fn rules(group: &str, resources: &[&str], operations: &[&str]) -> Value {
    json!([{ "apiGroups": [group], "apiVersions": ["v1"], "resources": resources, "operations": operations }])
}

fn tenant_param_kind() -> Value {
    json!({ "apiVersion": "palisade.dev/v1alpha1", "kind": "Tenant" })
}

async fn create(client: &Client, object: &Value) -> Value {
    let (answer, body) = send(client, object, false, false).await;
    assert!(answer.allowed, "creating {}: {answer:?}", object["metadata"]["name"]);
    body
}

/// GETs every object of `kind` (a collection path) as a List with apiVersion/kind on the items.
async fn dump(client: &Client, path: &str, api_version: &str, kind: &str) -> Value {
    let request = http::Request::builder().uri(path).body(Vec::new()).unwrap();
    let list: Value = client.request(request).await.unwrap();
    let items: Vec<Value> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| {
            let mut item = item.clone();
            item["apiVersion"] = json!(api_version);
            item["kind"] = json!(kind);
            item
        })
        .collect();
    json!({ "apiVersion": "v1", "kind": "List", "items": items })
}

fn write_json(dir: &Path, file: &str, value: &Value) {
    std::fs::write(dir.join(file), serde_json::to_vec_pretty(value).unwrap()).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn check_gives_the_api_servers_verdict_for_validating_admission_policies() {
    let env = TestEnv::get().unwrap();
    let admin = env.admin_client().await.unwrap();
    install_palisade_crds(&admin).await.unwrap();

    // Two tenants with different parameters, one namespace each; the second tenant's namespace
    // carries `env: prod`, which one policy reads through namespaceObject.
    let strict = unique_name("vap-strict");
    let relaxed = unique_name("vap-relaxed");
    for (tenant, max, labels) in [
        (&strict, 4, json!(["cost-center"])),
        (&relaxed, 20, json!(["cost-center"])),
    ] {
        create(
            &admin,
            &json!({
                "apiVersion": "palisade.dev/v1alpha1", "kind": "Tenant",
                "metadata": { "name": tenant, "annotations": { "example.com/registry": "registry.example.com/" } },
                "spec": {
                    "owners": [ { "kind": "User", "name": format!("{tenant}-owner") } ],
                    "policies": { "parameters": { "maxReplicas": max, "requiredLabels": labels } }
                }
            }),
        )
        .await;
    }
    let ns_strict = unique_name("vap-a");
    let ns_relaxed = unique_name("vap-b");
    create(
        &admin,
        &json!({ "apiVersion": "v1", "kind": "Namespace",
        "metadata": { "name": ns_strict, "labels": { "palisade.dev/tenant": strict } } }),
    )
    .await;
    create(
        &admin,
        &json!({ "apiVersion": "v1", "kind": "Namespace",
        "metadata": { "name": ns_relaxed, "labels": { "palisade.dev/tenant": relaxed, "env": "prod" } } }),
    )
    .await;

    // A namespace of the strict tenant under Pod Security: baseline enforced, restricted warned.
    let ns_secured = unique_name("vap-c");
    create(
        &admin,
        &json!({ "apiVersion": "v1", "kind": "Namespace",
        "metadata": { "name": ns_secured, "labels": {
            "palisade.dev/tenant": strict,
            "pod-security.kubernetes.io/enforce": "baseline",
            "pod-security.kubernetes.io/warn": "restricted",
        } } }),
    )
    .await;

    let run = unique_name("vap");
    let p = |suffix: &str| format!("{run}-{suffix}");
    let per_tenant = |policy: &str, tenant: &str, actions: Value| {
        binding(
            &format!("{policy}-{tenant}"),
            policy,
            json!({
                "paramRef": { "name": tenant, "parameterNotFoundAction": "Deny" },
                "validationActions": actions,
                "matchResources": { "namespaceSelector": { "matchLabels": { "palisade.dev/tenant": tenant } } }
            }),
        )
    };
    let in_namespaces = |name: &str, policy: &str, actions: Value| {
        binding(
            name,
            policy,
            json!({
                "validationActions": actions,
                "matchResources": { "namespaceSelector": { "matchExpressions": [
                    { "key": "kubernetes.io/metadata.name", "operator": "In", "values": [ns_strict, ns_relaxed] }
                ] } }
            }),
        )
    };

    // The policies. Each reads a different part of the CEL environment.
    let mut policies = vec![
        policy(
            &p("replicas"),
            json!({
                "paramKind": tenant_param_kind(),
                "matchConstraints": { "resourceRules": rules("apps", &["deployments"], &["CREATE", "UPDATE"]) },
                "variables": [ { "name": "limit", "expression": "params.spec.policies.parameters.maxReplicas" } ],
                "validations": [ {
                    "expression": "object.spec.replicas <= variables.limit",
                    "messageExpression": "'at most ' + string(variables.limit) + ' replicas in tenant ' + params.metadata.name + ', not ' + string(object.spec.replicas)"
                } ]
            }),
        ),
        policy(
            &p("labels"),
            json!({
                "paramKind": tenant_param_kind(),
                "matchConstraints": { "resourceRules": rules("", &["configmaps"], &["CREATE", "UPDATE"]) },
                "matchConditions": [ { "name": "not-exempt", "expression": "!has(object.metadata.labels) || !('exempt' in object.metadata.labels)" } ],
                "variables": [ { "name": "labels", "expression": "has(object.metadata.labels) ? object.metadata.labels : {}" } ],
                "validations": [ {
                    "expression": "params.spec.policies.parameters.requiredLabels.all(l, l in variables.labels)",
                    "messageExpression": "'missing required labels: ' + params.spec.policies.parameters.requiredLabels.filter(l, !(l in variables.labels)).join(', ')"
                } ]
            }),
        ),
        policy(
            &p("images"),
            json!({
                "matchConstraints": { "resourceRules": rules("", &["pods"], &["CREATE"]) },
                "validations": [
                    { "expression": "object.spec.containers.all(c, c.image.contains(':') || c.image.contains('@'))",
                      "message": "every image needs a tag or a digest" },
                    { "expression": "!object.spec.containers.exists(c, c.image.endsWith(':latest'))",
                      "message": "  the tag latest is not allowed  ", "reason": "Forbidden" },
                    { "expression": "object.spec.containers.all(c, has(c.resources) && has(c.resources.limits) && 'memory' in c.resources.limits)" },
                    { "expression": "object.spec.containers.all(c, !has(c.resources) || !has(c.resources.limits) || !('memory' in c.resources.limits) || quantity(c.resources.limits.memory).compareTo(quantity('1Gi')) <= 0)",
                      "messageExpression": "''", "message": "memory limits above 1Gi are not allowed" }
                ]
            }),
        ),
        policy(
            &p("errors-fail"),
            json!({
                "failurePolicy": "Fail",
                "matchConstraints": { "resourceRules": rules("", &["configmaps"], &["CREATE"]) },
                "matchConditions": [ { "name": "errs", "expression": "object.metadata.name.endsWith('-merr') ? object.data.nosuch == 'x' : true" } ],
                "variables": [
                    { "name": "broken", "expression": "object.data.nosuch" },
                    { "name": "mode", "expression": "has(object.data) && 'mode' in object.data ? object.data.mode : 'none'" }
                ],
                "validations": [
                    { "expression": "variables.mode != 'crash' || object.data.nosuch == 'x'", "message": "unreachable" },
                    { "expression": "variables.mode != 'lazy' || variables.broken == 'x'", "message": "lazy variables" },
                    { "expression": "variables.mode != 'deny'", "messageExpression": "'mode ' + variables.mode + ' refused; ' + object.data.nosuch", "message": "static fallback" }
                ]
            }),
        ),
        policy(
            &p("errors-ignore"),
            json!({
                "failurePolicy": "Ignore",
                "matchConstraints": { "resourceRules": rules("", &["configmaps"], &["CREATE"]) },
                "matchConditions": [ { "name": "errs", "expression": "object.metadata.name.endsWith('-imerr') ? object.data.nosuch == 'x' : true" } ],
                "validations": [ { "expression": "!object.metadata.name.endsWith('-ierr') || object.data.nosuch == 'x'", "message": "unreachable" } ]
            }),
        ),
        policy(
            &p("update"),
            json!({
                "matchConstraints": { "resourceRules": rules("apps", &["deployments"], &["UPDATE"]) },
                "validations": [
                    { "expression": "object.spec.replicas >= oldObject.spec.replicas",
                      "messageExpression": "'scaling down from ' + string(oldObject.spec.replicas) + ' is not allowed here'" },
                    { "expression": "request.operation == 'UPDATE' && (!has(oldObject.metadata.labels) || !('tier' in oldObject.metadata.labels) || (has(object.metadata.labels) && object.metadata.labels['tier'] == oldObject.metadata.labels['tier']))",
                      "message": "the tier label is immutable" }
                ]
            }),
        ),
        policy(
            &p("namespace"),
            json!({
                "matchConstraints": { "resourceRules": rules("", &["configmaps"], &["CREATE"]) },
                "validations": [ {
                    "expression": "!has(namespaceObject.metadata.labels) || !('env' in namespaceObject.metadata.labels) || namespaceObject.metadata.labels['env'] != 'prod' || 'owner' in object.metadata.labels",
                    "messageExpression": "'namespace ' + namespaceObject.metadata.name + ' is ' + namespaceObject.metadata.labels['env'] + ': config maps need an owner label'"
                } ]
            }),
        ),
        policy(
            &p("selective"),
            json!({
                "matchConstraints": {
                    "resourceRules": [ { "apiGroups": [""], "apiVersions": ["v1"], "resources": ["configmaps"], "operations": ["CREATE"] } ],
                    "excludeResourceRules": [ { "apiGroups": [""], "apiVersions": ["v1"], "resources": ["configmaps"], "operations": ["CREATE"], "resourceNames": ["excluded-by-name"] } ],
                    "objectSelector": { "matchExpressions": [ { "key": "checked", "operator": "Exists" } ] }
                },
                "validations": [ { "expression": "object.metadata.labels['checked'] == 'yes'", "message": "the checked label must be yes" } ]
            }),
        ),
        policy(
            &p("request"),
            json!({
                "matchConstraints": { "resourceRules": rules("", &["configmaps"], &["CREATE"]) },
                "validations": [ {
                    "expression": "!object.metadata.name.startsWith('who-') || request.userInfo.username == 'nobody'",
                    "messageExpression": "'user ' + request.userInfo.username + ' may not ' + request.operation + ' ' + request.resource.resource + ' in ' + request.namespace"
                } ]
            }),
        ),
    ];
    let mut bindings = vec![
        per_tenant(&p("replicas"), &strict, json!(["Deny"])),
        per_tenant(&p("replicas"), &relaxed, json!(["Deny"])),
        per_tenant(&p("labels"), &strict, json!(["Deny"])),
        per_tenant(&p("labels"), &relaxed, json!(["Warn", "Audit"])),
        in_namespaces(&p("images"), &p("images"), json!(["Deny"])),
        in_namespaces(&p("errors-fail"), &p("errors-fail"), json!(["Deny"])),
        in_namespaces(&p("errors-ignore"), &p("errors-ignore"), json!(["Deny"])),
        in_namespaces(&p("update"), &p("update"), json!(["Deny"])),
        in_namespaces(&p("namespace"), &p("namespace"), json!(["Deny"])),
        in_namespaces(&p("selective"), &p("selective"), json!(["Warn"])),
        in_namespaces(&p("request"), &p("request"), json!(["Deny"])),
    ];
    // A binding whose tenant does not exist, one with Deny and one with Allow.
    policies.push(policy(
        &p("ghost"),
        json!({
            "paramKind": tenant_param_kind(),
            "matchConstraints": { "resourceRules": rules("", &["secrets"], &["CREATE"]) },
            "validations": [ { "expression": "true" } ]
        }),
    ));
    bindings.push(binding(
        &p("ghost-deny"),
        &p("ghost"),
        json!({
            "paramRef": { "name": "no-such-tenant", "parameterNotFoundAction": "Deny" },
            "validationActions": ["Deny"],
            "matchResources": { "namespaceSelector": { "matchLabels": { "palisade.dev/tenant": strict } } }
        }),
    ));
    bindings.push(binding(
        &p("ghost-allow"),
        &p("ghost"),
        json!({
            "paramRef": { "name": "no-such-tenant", "parameterNotFoundAction": "Allow" },
            "validationActions": ["Deny"],
            "matchResources": { "namespaceSelector": { "matchLabels": { "palisade.dev/tenant": relaxed } } }
        }),
    ));

    let (a, b, c) = (ns_strict.as_str(), ns_relaxed.as_str(), ns_secured.as_str());
    let cm = |name: &str, ns: &str, labels: Value, data: Value| config_map(name, ns, labels, data);
    let ok_pod_containers =
        json!([{ "name": "main", "image": "nginx:1.27", "resources": { "limits": { "memory": "512Mi" } } }]);
    let cases = vec![
        Case {
            name: "replicas within the strict tenant's limit",
            object: deployment("d1", a, 3, "nginx:1.27", json!({})),
            stored: None,
        },
        Case {
            name: "replicas above the strict tenant's limit",
            object: deployment("d2", a, 6, "nginx:1.27", json!({})),
            stored: None,
        },
        Case {
            name: "the same replicas in the relaxed tenant",
            object: deployment("d3", b, 6, "nginx:1.27", json!({})),
            stored: None,
        },
        Case {
            name: "replicas above even the relaxed limit",
            object: deployment("d4", b, 25, "nginx:1.27", json!({})),
            stored: None,
        },
        Case {
            name: "required label present",
            object: cm("c1", a, json!({ "cost-center": "42" }), json!({})),
            stored: None,
        },
        Case {
            name: "required label missing (strict: Deny)",
            object: cm("c2", a, json!({ "team": "x" }), json!({})),
            stored: None,
        },
        Case {
            name: "the relaxed tenant only warns about labels",
            object: cm("c3", b, json!({ "owner": "me" }), json!({})),
            stored: None,
        },
        Case {
            name: "match condition false skips the policy",
            object: cm("c4", a, json!({ "exempt": "yes" }), json!({})),
            stored: None,
        },
        Case {
            name: "pod with tag, limit and small memory",
            object: pod("p1", a, ok_pod_containers.clone()),
            stored: None,
        },
        Case {
            name: "pod without tag",
            object: pod(
                "p2",
                a,
                json!([{ "name": "main", "image": "nginx", "resources": { "limits": { "memory": "64Mi" } } }]),
            ),
            stored: None,
        },
        Case {
            name: "pod with latest (reason Forbidden)",
            object: pod(
                "p3",
                a,
                json!([{ "name": "main", "image": "nginx:latest", "resources": { "limits": { "memory": "64Mi" } } }]),
            ),
            stored: None,
        },
        Case {
            name: "pod without limits (no message: failed expression)",
            object: pod("p4", a, json!([{ "name": "main", "image": "nginx:1.27" }])),
            stored: None,
        },
        Case {
            name: "pod over 1Gi (blank messageExpression falls back)",
            object: pod(
                "p5",
                a,
                json!([{ "name": "main", "image": "nginx:1.27", "resources": { "limits": { "memory": "2Gi" } } }]),
            ),
            stored: None,
        },
        Case {
            name: "pod with digest",
            object: pod(
                "p6",
                b,
                json!([{ "name": "main", "image": "nginx@sha256:0000000000000000000000000000000000000000000000000000000000000000", "resources": { "limits": { "memory": "1Gi" } } }]),
            ),
            stored: None,
        },
        Case {
            name: "evaluation error under Fail",
            object: cm("e1", a, json!({ "cost-center": "1" }), json!({ "mode": "crash" })),
            stored: None,
        },
        Case {
            name: "an erroring variable nobody reads",
            object: cm("e2", a, json!({ "cost-center": "1" }), json!({ "mode": "quiet" })),
            stored: None,
        },
        Case {
            name: "an erroring variable that is read",
            object: cm("e3", a, json!({ "cost-center": "1" }), json!({ "mode": "lazy" })),
            stored: None,
        },
        Case {
            name: "messageExpression error falls back to message",
            object: cm("e4", a, json!({ "cost-center": "1" }), json!({ "mode": "deny" })),
            stored: None,
        },
        Case {
            name: "match condition error under Fail",
            object: cm("e5-merr", a, json!({ "cost-center": "1" }), json!({ "k": "v" })),
            stored: None,
        },
        Case {
            name: "match condition error under Ignore",
            object: cm("e6-imerr", b, json!({ "owner": "x" }), json!({ "k": "v" })),
            stored: None,
        },
        Case {
            name: "evaluation error under Ignore",
            object: cm("e7-ierr", b, json!({ "owner": "x" }), json!({ "k": "v" })),
            stored: None,
        },
        Case {
            name: "namespaceObject: prod namespace needs an owner",
            object: cm("n1", b, json!({}), json!({})),
            stored: None,
        },
        Case {
            name: "namespaceObject: prod namespace, owner given",
            object: cm("n2", b, json!({ "owner": "me" }), json!({})),
            stored: None,
        },
        Case {
            name: "objectSelector and Warn: checked=no",
            object: cm("s1", b, json!({ "checked": "no", "owner": "x" }), json!({})),
            stored: None,
        },
        Case {
            name: "objectSelector: not selected",
            object: cm("s2", b, json!({ "owner": "x" }), json!({})),
            stored: None,
        },
        Case {
            name: "excludeResourceRules by name",
            object: cm(
                "excluded-by-name",
                b,
                json!({ "checked": "no", "owner": "x" }),
                json!({}),
            ),
            stored: None,
        },
        Case {
            name: "request variables in the message",
            object: cm("who-1", b, json!({ "owner": "x" }), json!({})),
            stored: None,
        },
        Case {
            name: "params missing, parameterNotFoundAction Deny",
            object: json!({ "apiVersion": "v1", "kind": "Secret", "metadata": { "name": "g1", "namespace": a } }),
            stored: None,
        },
        Case {
            name: "params missing, parameterNotFoundAction Allow",
            object: json!({ "apiVersion": "v1", "kind": "Secret", "metadata": { "name": "g2", "namespace": b } }),
            stored: None,
        },
        Case {
            name: "Pod Security: a privileged pod under baseline",
            object: pod(
                "k1",
                c,
                json!([{ "name": "main", "image": "nginx:1.27", "securityContext": { "privileged": true } }]),
            ),
            stored: None,
        },
        Case {
            name: "Pod Security: baseline passes, restricted warns",
            object: pod("k2", c, json!([{ "name": "main", "image": "nginx:1.27" }])),
            stored: None,
        },
        Case {
            name: "Pod Security: a workload's template only warns",
            object: json!({
                "apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": { "name": "k3", "namespace": c },
                "spec": {
                    "replicas": 1,
                    "selector": { "matchLabels": { "app": "k3" } },
                    "template": {
                        "metadata": { "labels": { "app": "k3" } },
                        "spec": { "hostNetwork": true, "containers": [ { "name": "main", "image": "nginx:1.27" } ] }
                    }
                }
            }),
            stored: None,
        },
        Case {
            name: "Pod Security passes, then the tenant's policy refuses",
            object: deployment("k4", c, 5, "nginx:1.27", json!({})),
            stored: None,
        },
        Case {
            name: "update: scale up",
            object: deployment("u1", a, 3, "nginx:1.27", json!({ "tier": "web" })),
            stored: Some(deployment("u1", a, 2, "nginx:1.27", json!({ "tier": "web" }))),
        },
        Case {
            name: "update: scale down (oldObject)",
            object: deployment("u2", b, 2, "nginx:1.27", json!({})),
            stored: Some(deployment("u2", b, 5, "nginx:1.27", json!({}))),
        },
        Case {
            name: "update: immutable label changed",
            object: deployment("u3", b, 5, "nginx:1.27", json!({ "tier": "db" })),
            stored: Some(deployment("u3", b, 5, "nginx:1.27", json!({ "tier": "web" }))),
        },
        Case {
            name: "update: replicas over the tenant limit",
            object: deployment("u4", a, 9, "nginx:1.27", json!({})),
            stored: Some(deployment("u4", a, 1, "nginx:1.27", json!({}))),
        },
    ];

    // Stored objects first, while no policy can refuse them; then the policies and bindings.
    let mut stored_objects = Vec::new();
    for case in &cases {
        if let Some(stored) = &case.stored {
            stored_objects.push(create(&admin, stored).await);
        }
    }
    for object in policies.iter().chain(bindings.iter()) {
        create(&admin, object).await;
    }
    // The API server's policy informers catch up asynchronously: wait until the last binding
    // (ghost-allow was created last; ghost-deny refuses a Secret in the strict namespace) acts.
    let canary = json!({ "apiVersion": "v1", "kind": "Secret", "metadata": { "name": "canary", "namespace": a } });
    eventually("the policies to be in force", WAIT, || {
        let admin = admin.clone();
        let canary = canary.clone();
        async move { (!send(&admin, &canary, false, true).await.0.allowed).then_some(()) }
    })
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;

    // The API server's answers.
    // The controller-manager keeps writing the stored Deployments' status: each update is sent
    // against the object as it is at that moment, and that is what `check` gets as existing.
    let mut live = Vec::new();
    let mut existing = Vec::new();
    for case in &cases {
        let mut object = case.object.clone();
        if case.stored.is_some() {
            let (item_path, _) = path_for(&object, false);
            let item_path = format!("{}/{}", item_path, object["metadata"]["name"].as_str().unwrap());
            let request = http::Request::builder().uri(item_path).body(Vec::new()).unwrap();
            let mut stored: Value = admin.request(request).await.unwrap();
            stored["apiVersion"] = object["apiVersion"].clone();
            stored["kind"] = object["kind"].clone();
            object["metadata"]["resourceVersion"] = stored["metadata"]["resourceVersion"].clone();
            existing.push(stored);
        }
        live.push(send(&admin, &object, case.stored.is_some(), true).await.0);
    }

    // The same, offline, from what the API server holds.
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    std::fs::create_dir(&state).unwrap();
    write_json(
        &state,
        "namespaces.json",
        &dump(&admin, "/api/v1/namespaces", "v1", "Namespace").await,
    );
    write_json(
        &state,
        "tenants.json",
        &dump(
            &admin,
            "/apis/palisade.dev/v1alpha1/tenants",
            "palisade.dev/v1alpha1",
            "Tenant",
        )
        .await,
    );
    let policy_dir = dir.path().join("policies");
    std::fs::create_dir(&policy_dir).unwrap();
    let admission = "/apis/admissionregistration.k8s.io/v1";
    let mut stored_policies = dump(
        &admin,
        &format!("{admission}/validatingadmissionpolicies"),
        "admissionregistration.k8s.io/v1",
        "ValidatingAdmissionPolicy",
    )
    .await;
    let mut stored_bindings = dump(
        &admin,
        &format!("{admission}/validatingadmissionpolicybindings"),
        "admissionregistration.k8s.io/v1",
        "ValidatingAdmissionPolicyBinding",
    )
    .await;
    // Only this run's: other tests' policies are not part of the table.
    for list in [&mut stored_policies, &mut stored_bindings] {
        let items = list["items"].as_array_mut().unwrap();
        items.retain(|item| item["metadata"]["name"].as_str().unwrap().starts_with(&run));
    }
    write_json(&policy_dir, "policies.json", &stored_policies);
    write_json(&policy_dir, "bindings.json", &stored_bindings);
    let objects_dir = dir.path().join("objects");
    std::fs::create_dir(&objects_dir).unwrap();
    for (i, case) in cases.iter().enumerate() {
        write_json(&objects_dir, &format!("{i:03}.json"), &case.object);
    }
    write_json(
        dir.path(),
        "existing.json",
        &json!({ "apiVersion": "v1", "kind": "List", "items": stored_objects }),
    );

    let output = std::process::Command::new(env!("CARGO_BIN_EXE_palisade"))
        .args([
            "check",
            "-o",
            "json",
            "--as",
            ADMIN_USER,
            "--as-group",
            "system:masters",
        ])
        .arg("--cluster-state")
        .arg(&state)
        .arg("--policies")
        .arg(&policy_dir)
        .arg("--existing")
        .arg(dir.path().join("existing.json"))
        .arg("-f")
        .arg(&objects_dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let report: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "check -o json: {e}\n{stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    let offline: Vec<(Vec<String>, Answer)> = report["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|object| {
            let denial = &object["response"]["denial"];
            let denials: Vec<String> = object["response"]["denials"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d["message"].as_str().unwrap().to_string())
                .collect();
            let answer = Answer {
                allowed: denial.is_null(),
                code: denial["code"].as_u64(),
                reason: denial["reason"].as_str().map(String::from),
                message: denial["message"].as_str().map(String::from),
                warnings: object["response"]["warnings"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|w| w.as_str().unwrap().to_string())
                    .collect(),
            };
            (denials, answer)
        })
        .collect();
    assert_eq!(offline.len(), cases.len(), "{stdout}");

    let mut mismatches = Vec::new();
    let (mut denied, mut warned, mut several) = (0, 0, 0);
    for ((case, live), (denials, offline)) in cases.iter().zip(&live).zip(&offline) {
        denied += usize::from(!live.allowed);
        warned += usize::from(!live.warnings.is_empty());
        // Where several bindings deny, the API server reports one of them, in an order of its
        // own: it must be one `check` found, and everything else must agree.
        // Warnings come in the API server's policy order too: compared as a set.
        let mut offline = offline.clone();
        let mut live = live.clone();
        offline.warnings.sort();
        live.warnings.sort();
        if denials.len() > 1 && live.message.as_ref().is_some_and(|m| denials.contains(m)) {
            several += 1;
            offline.message = live.message.clone();
        }
        if live != offline {
            mismatches.push(format!(
                "{}:\n  api server: {live:?}\n  check:      {offline:?}",
                case.name
            ));
        }
    }
    println!(
        "VAP parity: {}/{} cases give the API server's answer ({denied} denied, {several} by several bindings, {warned} with warnings, {} updates)",
        cases.len() - mismatches.len(),
        cases.len(),
        cases.iter().filter(|c| c.stored.is_some()).count()
    );
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
    // The table is only worth something if it exercises both verdicts and warnings.
    assert!(
        denied >= 10 && denied < cases.len() - 5,
        "{denied} of {} denied",
        cases.len()
    );
    assert!(warned >= 2, "{warned} cases warned");
}
