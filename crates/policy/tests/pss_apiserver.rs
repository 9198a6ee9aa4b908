//! Our Pod Security verdicts and messages against the real kube-apiserver's PodSecurity
//! admission (testenv, v1.37): every corpus fixture, plus pods aimed at the versioned parts of
//! the standard, is submitted with server-side dry-run to namespaces enforcing various
//! level:version pairs; allowed vs forbidden must agree, and a refusal must carry exactly our
//! `violation_message`. Workloads are only warned about, so Deployments wrapping the same pods
//! go to `warn`-labelled namespaces and the Warning header must carry our `warning_message`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use http_body_util::BodyExt;
use kube::Client;
use palisade_policy::pss::{Level, Version, check_object, violation_message, warning_message};
use palisade_testenv::TestEnv;
use serde_json::{Value, json};

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpora/pod-security")
}

/// Every fixture of the corpus, both levels and verdicts, as (label, Pod JSON).
fn corpus_pods() -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for level in ["baseline", "restricted"] {
        for verdict in ["pass", "fail"] {
            let dir = corpus_dir().join(level).join(verdict);
            let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
                .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
                .map(|e| e.unwrap().path())
                .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
                .collect();
            paths.sort();
            for path in paths {
                let text = std::fs::read_to_string(&path).unwrap();
                let mut pod: Value = serde_saphyr::from_str(&text).unwrap();
                // Fixture names like `runasuser_0` are not valid object names; PSA ignores names.
                let name = pod["metadata"]["name"].as_str().unwrap().replace('_', "-");
                pod["metadata"]["name"] = json!(name);
                let label = format!("{level}/{verdict}/{}", path.file_name().unwrap().to_string_lossy());
                out.push((label, pod));
            }
        }
    }
    out
}

fn container(name: &str, security_context: Value) -> Value {
    json!({ "name": name, "image": "registry.k8s.io/pause", "securityContext": security_context })
}

fn restricted_container(name: &str) -> Value {
    container(
        name,
        json!({ "allowPrivilegeEscalation": false, "capabilities": { "drop": ["ALL"] } }),
    )
}

/// Pods aimed at what changed between versions and at message details the corpus does not
/// cover (several containers, several reasons, annotations, defaulting).
fn versioned_pods() -> Vec<(String, Value)> {
    let restricted_pod_sc = json!({ "runAsNonRoot": true, "seccompProfile": { "type": "RuntimeDefault" } });
    let pod = |name: &str, metadata: Value, spec: Value| {
        let mut metadata = metadata;
        metadata["name"] = json!(name);
        (
            format!("versioned/{name}"),
            json!({ "apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec }),
        )
    };
    vec![
        pod(
            "no-capabilities",
            json!({}),
            json!({
                "securityContext": restricted_pod_sc,
                "containers": [container("c", json!({ "allowPrivilegeEscalation": false }))]
            }),
        ),
        pod(
            "windows",
            json!({}),
            json!({
                "os": { "name": "windows" },
                "securityContext": { "runAsNonRoot": true },
                "containers": [{ "name": "c", "image": "registry.k8s.io/pause" }]
            }),
        ),
        pod(
            "user-namespace-root",
            json!({}),
            json!({
                "hostUsers": false,
                "securityContext": { "runAsUser": 0, "seccompProfile": { "type": "RuntimeDefault" } },
                "containers": [container(
                    "c",
                    json!({
                        "allowPrivilegeEscalation": false,
                        "capabilities": { "drop": ["ALL"] },
                        "procMount": "Unmasked"
                    }),
                )]
            }),
        ),
        pod(
            "new-sysctls",
            json!({}),
            json!({
                "securityContext": { "sysctls": [
                    { "name": "net.ipv4.tcp_notsent_lowat", "value": "1" },
                    { "name": "net.ipv4.tcp_rmem", "value": "4096 87380 6291456" },
                    { "name": "net.ipv4.ip_local_reserved_ports", "value": "1000" },
                    { "name": "kernel.msgmax", "value": "1" }
                ] },
                "containers": [restricted_container("c")]
            }),
        ),
        pod(
            "container-engine-selinux",
            json!({}),
            json!({
                "containers": [container("c", json!({ "seLinuxOptions": { "type": "container_engine_t" } }))]
            }),
        ),
        pod(
            "probe-host",
            json!({}),
            json!({
                "containers": [{
                    "name": "c", "image": "registry.k8s.io/pause",
                    "readinessProbe": { "tcpSocket": { "host": "10.0.0.1", "port": 80 } },
                    "lifecycle": { "preStop": { "httpGet": { "host": "example.com", "port": 80 } } }
                }]
            }),
        ),
        pod(
            "seccomp-annotation",
            json!({ "annotations": { "seccomp.security.alpha.kubernetes.io/pod": "unconfined" } }),
            json!({ "containers": [restricted_container("c")] }),
        ),
        pod(
            "many-reasons",
            json!({}),
            json!({
                "hostNetwork": true,
                "hostPID": true,
                "volumes": [
                    { "name": "root", "hostPath": { "path": "/" } },
                    { "name": "share", "nfs": { "server": "nfs.example", "path": "/x" } },
                    { "name": "scratch" }
                ],
                "initContainers": [container("init", json!({ "runAsUser": 0 }))],
                "containers": [
                    {
                        "name": "web", "image": "registry.k8s.io/pause",
                        // The API server gives 8080 a hostPort of 8080 (host network).
                        "ports": [{ "containerPort": 8080 }, { "containerPort": 9, "hostPort": 9 }],
                        "securityContext": {
                            "privileged": true,
                            "capabilities": { "add": ["NET_ADMIN", "SYS_TIME", "CHOWN"] },
                            "seLinuxOptions": { "type": "spc_t", "user": "root" }
                        }
                    },
                    container("side", json!({ "runAsNonRoot": false, "seccompProfile": { "type": "Unconfined" } }))
                ]
            }),
        ),
        pod(
            "apparmor-annotation",
            json!({ "annotations": { "container.apparmor.security.beta.kubernetes.io/c": "unconfined" } }),
            json!({ "containers": [restricted_container("c")] }),
        ),
    ]
}

/// (level, version) pairs to enforce: latest, and versions just before a change.
fn policies() -> Vec<(Level, Version)> {
    use Level::{Baseline, Restricted};
    vec![
        (Baseline, Version::Latest),
        (Restricted, Version::Latest),
        (Baseline, Version::Minor(18)),
        (Restricted, Version::Minor(21)),
        (Restricted, Version::Minor(24)),
        (Baseline, Version::Minor(30)),
        (Baseline, Version::Minor(33)),
        (Restricted, Version::Minor(34)),
        (Baseline, Version::Minor(36)),
    ]
}

struct Answer {
    status: u16,
    message: String,
    warnings: Vec<String>,
}

/// POST with `dryRun=All` through the raw client, so the Warning headers can be read.
async fn dry_run_create(client: &Client, path: &str, object: &Value) -> Answer {
    let request = http::Request::post(format!("{path}?dryRun=All"))
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(kube::client::Body::from(serde_json::to_vec(object).unwrap()))
        .unwrap();
    let response = client.send(request).await.unwrap();
    let status = response.status().as_u16();
    let warnings = response
        .headers()
        .get_all(http::header::WARNING)
        .iter()
        .map(|v| parse_warning(v.to_str().unwrap()))
        .collect();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let body: Value = serde_json::from_slice(&body).unwrap();
    let message = body["message"].as_str().unwrap_or_default().to_owned();
    Answer {
        status,
        message,
        warnings,
    }
}

/// `299 - "text"` (RFC 7234 warn-text: a quoted string with backslash escapes) to `text`.
fn parse_warning(header: &str) -> String {
    let quoted = header
        .strip_prefix("299 - \"")
        .and_then(|s| s.strip_suffix('"'))
        .unwrap_or_else(|| panic!("unexpected Warning header {header:?}"));
    let mut out = String::new();
    let mut chars = quoted.chars();
    while let Some(c) = chars.next() {
        out.push(if c == '\\' { chars.next().unwrap() } else { c });
    }
    out
}

async fn namespace(env: &TestEnv, mode: &str, level: Level, version: Version) -> String {
    let level_label = format!("pod-security.kubernetes.io/{mode}");
    let version_label = format!("pod-security.kubernetes.io/{mode}-version");
    let (level, version) = (level.to_string(), version.to_string());
    env.create_namespace(
        "pss",
        &[
            (level_label.as_str(), level.as_str()),
            (version_label.as_str(), version.as_str()),
        ],
    )
    .await
    .unwrap()
}

fn deployment_of(pod: &Value) -> Value {
    let mut metadata = pod["metadata"].clone();
    let name = metadata["name"].as_str().unwrap().to_owned();
    if let Some(m) = metadata.as_object_mut() {
        m.remove("name");
    }
    metadata["labels"] = json!({ "app": "pss" });
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": { "name": name },
        "spec": {
            "selector": { "matchLabels": { "app": "pss" } },
            "template": { "metadata": metadata, "spec": pod["spec"] }
        }
    })
}

#[tokio::test]
async fn verdicts_and_messages_match_the_api_servers_pod_security_admission() {
    let env = TestEnv::get().unwrap();
    let client = env.admin_client().await.unwrap();
    let mut pods = corpus_pods();
    let corpus_count = pods.len();
    pods.extend(versioned_pods());

    let mut compared = 0;
    let mut refused = 0;
    // Pods the API server's validation rejects before admission runs (e.g. procMount Unmasked
    // without hostUsers: false, invalid since v1.35): there is no PodSecurity answer to compare.
    let mut invalid = std::collections::BTreeSet::new();
    let mut mismatches = Vec::new();
    for (level, version) in policies() {
        let ns = namespace(env, "enforce", level, version).await;
        let path = format!("/api/v1/namespaces/{ns}/pods");
        for (label, pod) in &pods {
            let ours = check_object(level, version, pod).unwrap().unwrap();
            let answer = dry_run_create(&client, &path, pod).await;
            let name = pod["metadata"]["name"].as_str().unwrap();
            let case = format!("{level}:{version} {label}");
            compared += usize::from(answer.status != 422);
            match (ours.is_empty(), answer.status) {
                (_, 422) if !answer.message.contains("PodSecurity") => {
                    invalid.insert(label.clone());
                    continue;
                }
                (true, 201) => {}
                (false, 403) => {
                    refused += 1;
                    let expected = format!(
                        "pods \"{name}\" is forbidden: {}",
                        violation_message(level, version, &ours)
                    );
                    if answer.message != expected {
                        mismatches.push(format!("{case}:\n  api:  {}\n  ours: {expected}", answer.message));
                    }
                }
                (_, status) => mismatches.push(format!(
                    "{case}: api {status} {:?}, ours {:?}",
                    answer.message,
                    ours.iter().map(|f| f.check).collect::<Vec<_>>()
                )),
            }
        }
    }

    // Workloads: PodSecurity only warns about their templates.
    let mut warned = 0;
    for (level, version) in [
        (Level::Restricted, Version::Latest),
        (Level::Baseline, Version::Latest),
        (Level::Restricted, Version::Minor(21)),
    ] {
        let ns = namespace(env, "warn", level, version).await;
        let path = format!("/apis/apps/v1/namespaces/{ns}/deployments");
        for (label, pod) in &pods {
            let deployment = deployment_of(pod);
            let ours = check_object(level, version, &deployment).unwrap().unwrap();
            let answer = dry_run_create(&client, &path, &deployment).await;
            let case = format!("warn {level}:{version} Deployment of {label}");
            if answer.status == 422 && invalid.contains(label) {
                continue;
            }
            compared += 1;
            if answer.status != 201 {
                mismatches.push(format!("{case}: api {} {}", answer.status, answer.message));
                continue;
            }
            let expected: Vec<String> = if ours.is_empty() {
                Vec::new()
            } else {
                warned += 1;
                vec![warning_message(level, version, &ours)]
            };
            // Other warnings (deprecated annotations, volume types) are not PodSecurity's.
            let warnings: Vec<&String> = answer
                .warnings
                .iter()
                .filter(|w| w.starts_with("would violate PodSecurity"))
                .collect();
            if warnings != expected.iter().collect::<Vec<_>>() {
                mismatches.push(format!("{case}:\n  api:  {warnings:?}\n  ours: {expected:?}"));
            }
        }
    }

    println!(
        "pod-security vs kube-apiserver: {}/{compared} comparisons agree ({corpus_count} corpus fixtures + {} \
         versioned pods under {} enforce and 3 warn policies; {refused} refusals and {warned} workload warnings \
         compared word for word); not comparable, refused by API validation before admission: {invalid:?}",
        compared - mismatches.len(),
        pods.len() - corpus_count,
        policies().len(),
    );
    assert!(
        mismatches.is_empty(),
        "{} mismatches:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}
