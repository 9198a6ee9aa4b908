//! A start that cannot serve fails at once and says why, instead of running half-way.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use palisade_admission::{AdmissionConfig, Snapshot};
use palisade_webhook::{Endpoint, Options, Tls};

fn options(metrics_listen: std::net::SocketAddr) -> Options {
    Options {
        listen: "127.0.0.1:0".parse().unwrap(),
        metrics_listen: Some(metrics_listen),
        endpoint: Endpoint::Url("https://127.0.0.1:1/".into()),
        register: false,
        tls: Tls::SelfManaged {
            names: vec!["127.0.0.1".into()],
            renew_before: Duration::from_secs(3600),
        },
        config: AdmissionConfig::default(),
        ledger_namespace: "palisade-system".into(),
        reservation_grace: Duration::from_secs(15),
    }
}

#[tokio::test]
async fn a_taken_health_port_fails_the_start_and_names_the_port() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap();
    let started = tokio::time::timeout(
        Duration::from_secs(10),
        palisade_webhook::run_offline(options(port), Snapshot::default(), std::future::pending()),
    )
    .await
    .expect("the start must fail at once, not serve");
    let error = started.expect_err("a webhook without its health port must not start");
    assert!(error.to_string().contains(&port.to_string()), "{error}");
}
