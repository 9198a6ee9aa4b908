//! The HTTP layer with the real router (no socket): what the API server gets for good, bad and
//! hostile bodies.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failure should stop the test loudly

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use palisade_admission::{AdmissionConfig, Snapshot};
use palisade_webhook::{AppState, Index, Metrics, router};
use serde_json::{Value, json};
use tower::ServiceExt;

const TENANT: &str = r#"
apiVersion: palisade.dev/v1alpha1
kind: Tenant
metadata: { name: payments }
spec:
  owners: [{ kind: User, name: alice }]
  workloads:
    registries: [registry.example.com/payments/]
    priorityClasses: { allowed: [tenant-normal], default: tenant-normal }
"#;

fn state(synced: bool) -> AppState {
    let index = Arc::new(Index::default());
    if synced {
        let snapshot = Snapshot::default()
            .with_tenant(serde_saphyr::from_str(TENANT).unwrap())
            .with_namespace("payments-api", Some("payments"));
        index.replace(snapshot);
    }
    AppState {
        index,
        config: Arc::new(AdmissionConfig::default()),
        metrics: Arc::new(Metrics::default()),
        client: None,
        ledgers: None,
        hosts: None,
    }
}

fn pod_review(image: &str) -> Value {
    let gvk = json!({ "group": "", "version": "v1", "kind": "Pod" });
    json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "b1f6e3d0-1111-4222-8333-444455556666",
            "kind": gvk, "resource": { "group": "", "version": "v1", "resource": "pods" },
            "name": "api", "namespace": "payments-api", "operation": "CREATE",
            "userInfo": { "username": "alice", "groups": ["system:authenticated"] },
            "object": { "apiVersion": "v1", "kind": "Pod", "metadata": { "name": "api", "namespace": "payments-api" },
                        "spec": { "containers": [{ "name": "api", "image": image }] } },
            "oldObject": null
        }
    })
}

async fn post(state: AppState, path: &str, body: Vec<u8>) -> (StatusCode, Vec<u8>) {
    let request = Request::post(path)
        .header("content-type", "application/json")
        .body(Body::from(body))
        .unwrap();
    let response = router(state).oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes().to_vec();
    (status, bytes)
}

async fn answer(state: AppState, path: &str, review: &Value) -> Value {
    let (status, body) = post(state, path, serde_json::to_vec(review).unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    let review: Value = serde_json::from_slice(&body).unwrap();
    review["response"].clone()
}

#[tokio::test]
async fn mutate_returns_the_patch_and_validate_only_the_decision() {
    let review = pod_review("registry.example.com/payments/api:1");
    let mutated = answer(state(true), "/mutate", &review).await;
    assert_eq!(mutated["uid"], "b1f6e3d0-1111-4222-8333-444455556666");
    assert_eq!(mutated["allowed"], true);
    assert_eq!(mutated["patchType"], "JSONPatch");
    // kube encodes the patch bytes as a JSON array, which the API server's decoder accepts for
    // []byte just like base64; the testenv test proves the real API server applies it.
    let bytes: Vec<u8> = serde_json::from_value(mutated["patch"].clone()).unwrap();
    let patch: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(
        patch,
        json!([{ "op": "add", "path": "/spec/priorityClassName", "value": "tenant-normal" }])
    );

    let validated = answer(state(true), "/validate", &review).await;
    assert_eq!(validated["allowed"], true);
    assert!(validated.get("patch").is_none() || validated["patch"].is_null());
}

#[tokio::test]
async fn a_denial_carries_the_message() {
    let response = answer(state(true), "/validate", &pod_review("docker.io/library/nginx")).await;
    assert_eq!(response["allowed"], false);
    let message = response["status"]["message"].as_str().unwrap();
    assert!(
        message.contains("tenant \"payments\" allows images only from registry.example.com/payments/"),
        "{message}"
    );
}

#[tokio::test]
async fn until_caches_are_synced_tenant_requests_fail_closed() {
    let response = answer(
        state(false),
        "/validate",
        &pod_review("registry.example.com/payments/api"),
    )
    .await;
    assert_eq!(response["allowed"], false);
    assert!(
        response["status"]["message"]
            .as_str()
            .unwrap()
            .contains("still loading")
    );
}

#[tokio::test]
async fn malformed_reviews_get_a_400_with_a_reason_never_an_allow() {
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("not JSON", b"{".to_vec(), "not an AdmissionReview"),
        (
            "truncated",
            serde_json::to_vec(&pod_review("x")).unwrap()[..200].to_vec(),
            "not an AdmissionReview",
        ),
        ("empty", Vec::new(), "not an AdmissionReview"),
        (
            "wrong apiVersion",
            serde_json::to_vec(&{
                let mut r = pod_review("x");
                r["apiVersion"] = json!("admission.k8s.io/v1beta1");
                r
            })
            .unwrap(),
            "expected apiVersion admission.k8s.io/v1",
        ),
        (
            "no request",
            serde_json::to_vec(&json!({ "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview" })).unwrap(),
            "has no request",
        ),
        (
            "unknown operation",
            serde_json::to_vec(&{
                let mut r = pod_review("x");
                r["request"]["operation"] = json!("EXPLODE");
                r
            })
            .unwrap(),
            "not an AdmissionReview",
        ),
    ];
    for (name, body, fragment) in cases {
        let (status, body) = post(state(true), "/validate", body).await;
        let text = String::from_utf8_lossy(&body);
        assert_eq!(status, StatusCode::BAD_REQUEST, "{name}: {text}");
        assert!(text.contains(fragment), "{name}: {text}");
    }
}

#[tokio::test]
async fn huge_bodies_are_refused_before_parsing() {
    let body = vec![b' '; 5 * 1024 * 1024];
    let (status, _) = post(state(true), "/validate", body).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn an_unknown_kind_outside_our_rules_is_allowed_with_its_uid() {
    let mut review = pod_review("x");
    review["request"]["kind"] = json!({ "group": "example.com", "version": "v1", "kind": "Widget" });
    review["request"]["object"] = json!({ "apiVersion": "example.com/v1", "kind": "Widget", "metadata": { "name": "w", "namespace": "payments-api" } });
    let response = answer(state(true), "/validate", &review).await;
    assert_eq!(response["allowed"], true);
    assert_eq!(response["uid"], "b1f6e3d0-1111-4222-8333-444455556666");
}
