//! Load on the real webhook binary over loopback HTTPS: `palisade webhook --offline-tenants
//! examples/` serving realistic pod CREATE reviews for a namespace of the `payments` tenant (every
//! workload rule on), from N keep-alive connections. Prints throughput, p50/p99 latency and the
//! webhook's RSS; asserts nothing.
//!
//! `cargo bench -p palisade --bench webhook_load [-- SECONDS CONNECTIONS...]`

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // bench code

mod common;

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use rustls_pki_types::{CertificateDer, ServerName, pem::PemObject};
use serde_json::json;

fn pod_review() -> Vec<u8> {
    let container = |name: &str, image: &str| {
        json!({
            "name": name, "image": image, "imagePullPolicy": "Always",
            "env": [{ "name": "LOG_LEVEL", "value": "info" }, { "name": "PORT", "value": "8080" }],
            "ports": [{ "containerPort": 8080, "name": "http" }],
            "resources": { "requests": { "cpu": "100m", "memory": "128Mi" }, "limits": { "memory": "256Mi" } },
            "volumeMounts": [{ "name": "config", "mountPath": "/etc/app" }],
            "securityContext": { "runAsNonRoot": true, "allowPrivilegeEscalation": false, "capabilities": { "drop": ["ALL"] } }
        })
    };
    serde_json::to_vec(&json!({
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {
            "uid": "b1f6e3d0-1111-4222-8333-444455556666",
            "kind": { "group": "", "version": "v1", "kind": "Pod" },
            "resource": { "group": "", "version": "v1", "resource": "pods" },
            "name": "api-7d9f8b6c5-x2x9z", "namespace": "payments-api", "operation": "CREATE",
            "userInfo": { "username": "system:serviceaccount:kube-system:replicaset-controller", "groups": ["system:serviceaccounts"] },
            "object": {
                "apiVersion": "v1", "kind": "Pod",
                "metadata": { "name": "api-7d9f8b6c5-x2x9z", "namespace": "payments-api", "labels": { "app": "api" },
                    "ownerReferences": [{ "apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "api-7d9f8b6c5", "uid": "6b2c", "controller": true }] },
                "spec": {
                    "containers": [container("api", "registry.example.com/payments/api:1.4.2"), container("proxy", "registry.example.com/payments/proxy:2")],
                    "volumes": [{ "name": "config", "configMap": { "name": "api" } }],
                    "serviceAccountName": "api"
                }
            },
            "oldObject": null
        }
    }))
    .unwrap()
}

async fn connection(connector: tokio_rustls::TlsConnector, port: u16, body: Bytes, until: Instant) -> Vec<Duration> {
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    tcp.set_nodelay(true).unwrap();
    let tls = connector
        .connect(ServerName::try_from("127.0.0.1").unwrap(), tcp)
        .await
        .unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls)).await.unwrap();
    tokio::spawn(conn);
    let mut latencies = Vec::new();
    while Instant::now() < until {
        let request = hyper::Request::post("/validate")
            .header("content-type", "application/json")
            .header("host", "127.0.0.1")
            .body(Full::new(body.clone()))
            .unwrap();
        let started = Instant::now();
        let response = sender.send_request(request).await.unwrap();
        assert!(response.status().is_success());
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        latencies.push(started.elapsed());
        assert!(
            bytes.windows(14).any(|w| w == b"\"allowed\":true"),
            "{}",
            String::from_utf8_lossy(&bytes)
        );
    }
    latencies
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    let seconds: u64 = args.first().and_then(|a| a.parse().ok()).unwrap_or(8);
    let mut connections: Vec<usize> = args.iter().skip(1).filter_map(|a| a.parse().ok()).collect();
    if connections.is_empty() {
        connections = vec![1, 16, 64];
    }
    let _ = rustls::crypto::ring::default_provider().install_default();

    let dir = tempfile::tempdir().unwrap();
    let certificate = palisade_webhook::generate_serving_certificate(&["127.0.0.1".to_string()]).unwrap();
    let (cert, key) = (dir.path().join("tls.crt"), dir.path().join("tls.key"));
    std::fs::write(&cert, &certificate.cert_pem).unwrap();
    std::fs::write(&key, &certificate.key_pem).unwrap();
    let port = common::free_port();
    let examples = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let mut webhook = Command::new(env!("CARGO_BIN_EXE_palisade"))
        .args(["webhook", "--offline-tenants"])
        .arg(&examples)
        .args([
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--metrics-listen",
            &format!("127.0.0.1:{}", common::free_port()),
        ])
        .arg("--tls-cert-file")
        .arg(&cert)
        .arg("--tls-key-file")
        .arg(&key)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let pid = webhook.id();

    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(certificate.ca_pem.as_bytes()).unwrap())
        .unwrap();
    let client_config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(client_config));
    let body = Bytes::from(pod_review());

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let (idle, _) = common::rss_kib(pid);
        println!(
            "palisade webhook (release), pod CREATE review of {} bytes, tenant with every workload rule; idle RSS {:.1} MiB",
            body.len(),
            idle as f64 / 1024.0
        );
        println!("{:>11} {:>12} {:>10} {:>10} {:>12}", "connections", "reviews/s", "p50", "p99", "peak RSS");
        for &count in &connections {
            let until = Instant::now() + Duration::from_secs(seconds);
            let started = Instant::now();
            let tasks: Vec<_> =
                (0..count).map(|_| tokio::spawn(connection(connector.clone(), port, body.clone(), until))).collect();
            let mut latencies = Vec::new();
            for task in tasks {
                latencies.extend(task.await.unwrap());
            }
            let elapsed = started.elapsed().as_secs_f64();
            latencies.sort();
            let (_, peak) = common::rss_kib(pid);
            println!(
                "{count:>11} {:>12.0} {:>8.0}µs {:>8.0}µs {:>9.1} MiB",
                latencies.len() as f64 / elapsed,
                percentile(&latencies, 0.50).as_secs_f64() * 1e6,
                percentile(&latencies, 0.99).as_secs_f64() * 1e6,
                peak as f64 / 1024.0
            );
        }
    });
    let _ = webhook.kill();
    let _ = webhook.wait();
}
