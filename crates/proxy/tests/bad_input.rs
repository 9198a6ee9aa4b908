//! Bad input and bad days: malformed and oversized requests, unknown API groups, a watch the
//! client drops, an API server that is down. Each gets a Kubernetes Status with the right code,
//! nothing panics, and no watch outlives its client.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::type_complexity)] // test code

mod common;

use std::time::Duration;

use common::{certificate, env, proxy, raw, two_tenants};
use http::Method;
use palisade_testenv::{eventually, unique_name};

fn status(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not a Status ({e}): {body}"))
}

#[tokio::test]
async fn malformed_huge_and_unknown_requests_get_a_status() {
    let admin = env().admin_client().await.unwrap();
    let t = two_tenants(&admin).await;
    let p = proxy();
    let alice = certificate(&t.alice, &[]).await;

    let (code, _, body) = raw(p, Some(&alice), Method::GET, "/api/v1/pods?limit=lots", &[]).await;
    assert_eq!(code, 400, "{body}");
    assert!(
        status(&body)["message"].as_str().unwrap().contains("limit=lots"),
        "{body}"
    );

    let (code, _, body) = raw(p, Some(&alice), Method::GET, "/api/v1/pods?continue=not-ours", &[]).await;
    assert_eq!(code, 400, "{body}");

    let (code, _, body) = raw(
        p,
        Some(&alice),
        Method::GET,
        "/api/v1/pods",
        &[("accept", "application/vnd.kubernetes.protobuf")],
    )
    .await;
    assert_eq!(code, 406, "{body}");

    let (code, _, body) = raw(p, Some(&alice), Method::GET, "/apis/nope.example.com/v1/widgets", &[]).await;
    // Passed through: the API server authorizes before it looks the group up, and answers as
    // it would directly, naming the user it judged.
    assert_eq!(code, 403, "{body}");
    assert!(status(&body)["message"].as_str().unwrap().contains(&t.alice), "{body}");

    // A body past the API server's own limit is refused before anything is sent.
    let ns = &t.a_namespaces[0];
    let huge = "x".repeat(4 * 1024 * 1024);
    let (code, body) = raw_body(p, &alice, &format!("/api/v1/namespaces/{ns}/configmaps"), huge).await;
    assert_eq!(code, 413, "{body}");
    assert_eq!(status(&body)["reason"], "RequestEntityTooLarge");
    // Garbage of a normal size goes to the API server, which says what is wrong with it.
    let (code, body) = raw_body(
        p,
        &alice,
        &format!("/api/v1/namespaces/{ns}/configmaps"),
        "{not json".into(),
    )
    .await;
    assert_eq!(code, 400, "{body}");
}

async fn raw_body(p: &common::Proxy, cert: &(Vec<u8>, Vec<u8>), path: &str, body: String) -> (u16, String) {
    let (code, _, text) = common::raw_with_body(
        p,
        Some(cert),
        Method::POST,
        path,
        &[("content-type", "application/json")],
        body,
    )
    .await;
    (code.as_u16(), text)
}

fn open_watches(metrics: &str) -> u64 {
    metrics
        .lines()
        .find(|l| l.starts_with("palisade_proxy_open_watches "))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no open-watch gauge in {metrics}"))
}

async fn metrics(p: &common::Proxy) -> String {
    let (code, text) = common::plain_get(p.health, "/metrics").await;
    assert_eq!(code, 200);
    text
}

#[tokio::test]
async fn a_dropped_watch_leaves_nothing_running() {
    let admin = env().admin_client().await.unwrap();
    let t = two_tenants(&admin).await;
    let p = proxy();
    let client = p.user(&t.alice, &[]).await;
    let api = kube::Api::<k8s_openapi::api::core::v1::Pod>::all(client);
    let before = open_watches(&metrics(p).await);
    let stream = api.watch(&kube::api::WatchParams::default(), "0").await.unwrap();
    eventually("the merged watch is open", Duration::from_secs(30), || async {
        (open_watches(&metrics(p).await) > before).then_some(())
    })
    .await
    .unwrap();
    drop(stream);
    drop(api);
    eventually(
        "the merged watch ended with its client",
        Duration::from_secs(30),
        || async { (open_watches(&metrics(p).await) == before).then_some(()) },
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn an_api_server_that_is_down_gets_503_not_a_hang() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut config = kube::Config::new("https://127.0.0.1:1".parse().unwrap());
    config.connect_timeout = Some(Duration::from_secs(2));
    let dead = kube::Client::try_from(config).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.crt");
    let running = palisade_proxy::start(
        dead,
        palisade_proxy::ProxyConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            health_listen: "127.0.0.1:0".parse().unwrap(),
            serving: palisade_proxy::ServingTls::Generated {
                names: vec!["127.0.0.1".into()],
                write_ca: Some(ca.clone()),
            },
            client_ca: palisade_proxy::ClientCa::File(env().dir().join("ca.crt")),
            audiences: Vec::new(),
        },
    )
    .await
    .unwrap();
    let p = common::Proxy {
        addr: running.addr,
        health: running.health_addr.unwrap(),
        ca_pem: std::fs::read_to_string(&ca).unwrap(),
    };
    let alice = certificate(&unique_name("alice"), &[]).await;
    for path in ["/api/v1/namespaces/default", "/api/v1/namespaces"] {
        let (code, _, body) = raw(&p, Some(&alice), Method::GET, path, &[]).await;
        assert_eq!(code, 503, "{path}: {body}");
        assert_eq!(status(&body)["kind"], "Status");
    }
    let (code, _, body) = raw(
        &p,
        None,
        Method::GET,
        "/api/v1/namespaces/default",
        &[("authorization", "Bearer t")],
    )
    .await;
    assert_eq!(code, 503, "a token that cannot be reviewed: {body}");
    let (code, text) = common::plain_get(p.health, "/readyz").await;
    assert_eq!(code, 503, "not ready without its directory: {text}");
}
