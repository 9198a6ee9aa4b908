//! The control plane behaves like a real cluster: each test proves one
//! component (namespace controller, CRD validation, quota, garbage collector,
//! RBAC, admission webhooks). All tests share one control plane and run in
//! parallel, so every object has a unique name.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failure should stop the test loudly

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use k8s_openapi::ByteString;
use k8s_openapi::api::admissionregistration::v1::{
    RuleWithOperations, ValidatingWebhook, ValidatingWebhookConfiguration, WebhookClientConfig,
};
use k8s_openapi::api::core::v1::{
    ConfigMap, Container, Namespace, Pod, PodSpec, ResourceQuota, ResourceQuotaSpec, Secret, ServiceAccount,
};
use k8s_openapi::api::rbac::v1::{PolicyRule, Role, RoleBinding, RoleRef, Subject};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, OwnerReference};
use kube::api::{DeleteParams, ListParams, ObjectMeta, PostParams};
use kube::{Api, Client, Resource};
use palisade_testenv::{TestEnv, eventually, unique_name};

const WAIT: Duration = Duration::from_secs(60);

fn env() -> &'static TestEnv {
    match TestEnv::get() {
        Ok(env) => env,
        Err(e) => panic!("{e}"),
    }
}

fn meta(name: &str) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_string()),
        ..ObjectMeta::default()
    }
}

async fn gone<K>(api: &Api<K>, name: &str) -> bool
where
    K: Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    matches!(api.get_opt(name).await, Ok(None))
}

#[tokio::test]
async fn kubectl_and_kube_list_namespaces_and_deletion_completes() {
    let env = env();
    // The kubectl built into the testenv binary: none need be installed.
    let out = env
        .kubectl(env.kubeconfig_path(), &["get", "namespaces", "-o", "name"])
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "kubectl failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("namespace/kube-system"));

    let client = env.admin_client().await.unwrap();
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let names: Vec<String> = namespaces
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|n| n.metadata.name)
        .collect();
    assert!(names.iter().any(|n| n == "default"), "{names:?}");

    // A namespace with content: deletion completes only when the namespace
    // controller has emptied it and removed the `kubernetes` finalizer.
    let name = unique_name("ns-life");
    namespaces
        .create(
            &PostParams::default(),
            &Namespace {
                metadata: meta(&name),
                ..Namespace::default()
            },
        )
        .await
        .unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(client, &name);
    cms.create(
        &PostParams::default(),
        &ConfigMap {
            metadata: meta("content"),
            ..ConfigMap::default()
        },
    )
    .await
    .unwrap();
    namespaces.delete(&name, &DeleteParams::default()).await.unwrap();
    eventually("the namespace to be deleted", WAIT, || async {
        gone(&namespaces, &name).await.then_some(())
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn deploy_crds_apply_and_become_established() {
    // Server-side apply: the API server validates the schema (a non-structural one, or CEL rules
    // over the cost budget, are refused for apiextensions.k8s.io/v1).
    let names = palisade_testenv::install_palisade_crds(&env().admin_client().await.unwrap())
        .await
        .unwrap();
    assert!(names.contains(&"tenants.palisade.dev".to_string()), "{names:?}");
}

async fn default_service_account(client: &Client, ns: &str) {
    let sas: Api<ServiceAccount> = Api::namespaced(client.clone(), ns);
    eventually("the default service account", WAIT, || async {
        sas.get_opt("default").await.ok().flatten()
    })
    .await
    .unwrap();
}

fn pod(name: &str) -> Pod {
    Pod {
        metadata: meta(name),
        spec: Some(PodSpec {
            containers: vec![Container {
                name: "c".into(),
                image: Some("registry.invalid/none:1".into()),
                ..Container::default()
            }],
            ..PodSpec::default()
        }),
        ..Pod::default()
    }
}

#[tokio::test]
async fn resource_quota_status_is_filled_and_a_pod_over_quota_is_refused() {
    let env = env();
    let ns = env.create_namespace("quota", &[]).await.unwrap();
    let client = env.admin_client().await.unwrap();
    let quotas: Api<ResourceQuota> = Api::namespaced(client.clone(), &ns);
    let quota = ResourceQuota {
        metadata: meta("pods"),
        spec: Some(ResourceQuotaSpec {
            hard: Some(BTreeMap::from([("pods".to_string(), Quantity("1".into()))])),
            ..ResourceQuotaSpec::default()
        }),
        ..ResourceQuota::default()
    };
    quotas.create(&PostParams::default(), &quota).await.unwrap();
    // The quota controller computes the status.
    let status = eventually("the quota status", WAIT, || async {
        let status = quotas.get("pods").await.ok()?.status?;
        (status.hard.is_some() && status.used.as_ref()?.contains_key("pods")).then_some(status)
    })
    .await
    .unwrap();
    assert_eq!(status.used.unwrap()["pods"], Quantity("0".into()));

    default_service_account(&client, &ns).await;
    let pods: Api<Pod> = Api::namespaced(client, &ns);
    pods.create(&PostParams::default(), &pod("first")).await.unwrap();
    let err = pods.create(&PostParams::default(), &pod("second")).await.unwrap_err();
    match err {
        kube::Error::Api(s) => {
            assert_eq!(s.code, 403, "{s:?}");
            assert!(s.message.contains("exceeded quota"), "{}", s.message);
        }
        other => panic!("expected a quota refusal, got {other}"),
    }
}

#[tokio::test]
async fn dependents_are_garbage_collected_with_their_owner() {
    let env = env();
    let ns = env.create_namespace("gc", &[]).await.unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(env.admin_client().await.unwrap(), &ns);
    let owner = cms
        .create(
            &PostParams::default(),
            &ConfigMap {
                metadata: meta("owner"),
                ..ConfigMap::default()
            },
        )
        .await
        .unwrap();
    let dependent = ConfigMap {
        metadata: ObjectMeta {
            owner_references: Some(vec![OwnerReference {
                api_version: "v1".into(),
                kind: "ConfigMap".into(),
                name: "owner".into(),
                uid: owner.metadata.uid.unwrap(),
                ..OwnerReference::default()
            }]),
            ..meta("dependent")
        },
        ..ConfigMap::default()
    };
    cms.create(&PostParams::default(), &dependent).await.unwrap();
    cms.delete("owner", &DeleteParams::default()).await.unwrap();
    eventually("the dependent to be collected", WAIT, || async {
        gone(&cms, "dependent").await.then_some(())
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn a_user_may_list_secrets_only_once_a_role_binding_allows_it() {
    let env = env();
    let ns = env.create_namespace("rbac", &[]).await.unwrap();
    let admin = env.admin_client().await.unwrap();
    let alice = env.user_client("alice", &["team-a"]).await.unwrap();
    let secrets: Api<Secret> = Api::namespaced(alice, &ns);

    match secrets.list(&ListParams::default()).await {
        Err(kube::Error::Api(s)) => {
            assert_eq!(s.code, 403, "{s:?}");
            assert!(
                s.message.contains(r#"User "alice" cannot list resource "secrets""#),
                "{}",
                s.message
            );
        }
        other => panic!("alice should be forbidden, got {other:?}"),
    }

    let role = Role {
        metadata: meta("secret-reader"),
        rules: Some(vec![PolicyRule {
            api_groups: Some(vec![String::new()]),
            resources: Some(vec!["secrets".into()]),
            verbs: vec!["get".into(), "list".into()],
            ..PolicyRule::default()
        }]),
    };
    Api::<Role>::namespaced(admin.clone(), &ns)
        .create(&PostParams::default(), &role)
        .await
        .unwrap();
    let binding = RoleBinding {
        metadata: meta("team-a-reads-secrets"),
        role_ref: RoleRef {
            api_group: Some("rbac.authorization.k8s.io".into()),
            kind: "Role".into(),
            name: "secret-reader".into(),
        },
        subjects: Some(vec![Subject {
            api_group: Some("rbac.authorization.k8s.io".into()),
            kind: "Group".into(),
            name: "team-a".into(),
            ..Subject::default()
        }]),
    };
    Api::<RoleBinding>::namespaced(admin, &ns)
        .create(&PostParams::default(), &binding)
        .await
        .unwrap();
    // The authorizer sees the binding through its informer: soon, not at once.
    eventually("alice to be allowed", WAIT, || async {
        secrets.list(&ListParams::default()).await.ok()
    })
    .await
    .unwrap();
}

/// An HTTPS admission webhook on 127.0.0.1 that denies everything it is sent.
/// Returns its URL, its CA (PEM) and the count of reviews received.
async fn start_denying_webhook(message: String) -> (String, String, Arc<AtomicUsize>) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "palisade test webhook CA");
    ca_params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let key = rcgen::KeyPair::generate().unwrap();
    let params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap();
    let cert = params.signed_by(&key, &issuer).unwrap();

    let tls =
        axum_server::tls_rustls::RustlsConfig::from_pem(cert.pem().into_bytes(), key.serialize_pem().into_bytes())
            .await
            .unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let app = axum::Router::new().route(
        "/validate",
        axum::routing::post(move |axum::Json(review): axum::Json<serde_json::Value>| {
            let counter = counter.clone();
            let message = message.clone();
            async move {
                counter.fetch_add(1, Ordering::SeqCst);
                let uid = review["request"]["uid"].clone();
                axum::Json(serde_json::json!({
                    "apiVersion": "admission.k8s.io/v1",
                    "kind": "AdmissionReview",
                    "response": {"uid": uid, "allowed": false, "status": {"code": 403, "message": message}},
                }))
            }
        }),
    );
    let server = axum_server::from_tcp_rustls(listener, tls).unwrap();
    tokio::spawn(async move { server.serve(app.into_make_service()).await });
    (format!("https://127.0.0.1:{port}/validate"), ca_cert.pem(), calls)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_server_calls_a_validating_webhook_and_its_denial_reaches_the_client() {
    let env = env();
    let client = env.admin_client().await.unwrap();
    let marker = unique_name("webhook");
    let message = format!("denied by the test webhook {marker}");
    let (url, ca, calls) = start_denying_webhook(message.clone()).await;

    // Only namespaces labelled with this test's marker go to the webhook, so
    // parallel tests creating namespaces are not affected.
    let config = ValidatingWebhookConfiguration {
        metadata: meta(&marker),
        webhooks: Some(vec![ValidatingWebhook {
            name: "deny.test.palisade.dev".into(),
            client_config: WebhookClientConfig {
                url: Some(url),
                ca_bundle: Some(ByteString(ca.into_bytes())),
                ..WebhookClientConfig::default()
            },
            rules: Some(vec![RuleWithOperations {
                api_groups: Some(vec![String::new()]),
                api_versions: Some(vec!["v1".into()]),
                operations: Some(vec!["CREATE".into()]),
                resources: Some(vec!["namespaces".into()]),
                scope: Some("*".into()),
            }]),
            object_selector: Some(LabelSelector {
                match_labels: Some(BTreeMap::from([(
                    "palisade.dev/test-webhook".to_string(),
                    marker.clone(),
                )])),
                ..LabelSelector::default()
            }),
            failure_policy: Some("Fail".into()),
            side_effects: "None".into(),
            admission_review_versions: vec!["v1".into()],
            timeout_seconds: Some(10),
            ..ValidatingWebhook::default()
        }]),
    };
    let configs: Api<ValidatingWebhookConfiguration> = Api::all(client.clone());
    configs.create(&PostParams::default(), &config).await.unwrap();

    // The API server picks the configuration up through an informer: retry
    // until a create is denied (deleting namespaces created before that).
    let namespaces: Api<Namespace> = Api::all(client);
    let denial = eventually("the webhook to deny a namespace", WAIT, || async {
        let ns = Namespace {
            metadata: ObjectMeta {
                name: Some(unique_name("denied")),
                labels: Some(BTreeMap::from([(
                    "palisade.dev/test-webhook".to_string(),
                    marker.clone(),
                )])),
                ..ObjectMeta::default()
            },
            ..Namespace::default()
        };
        match namespaces.create(&PostParams::default(), &ns).await {
            Ok(created) => {
                let _ = namespaces
                    .delete(&created.metadata.name.unwrap_or_default(), &DeleteParams::default())
                    .await;
                None
            }
            Err(kube::Error::Api(s)) => Some(s),
            Err(_) => None,
        }
    })
    .await
    .unwrap();
    configs.delete(&marker, &DeleteParams::default()).await.unwrap();

    assert!(calls.load(Ordering::SeqCst) >= 1);
    assert_eq!(denial.code, 403, "{denial:?}");
    assert!(denial.message.contains(&message), "{}", denial.message);
    assert!(denial.message.contains("deny.test.palisade.dev"), "{}", denial.message);
}
