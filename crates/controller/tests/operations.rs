#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed step should stop the test loudly

//! Running the controller for real: two replicas and a Lease, health and metrics, Events, and an
//! optional API (Istio) installed while the controller runs. Each test starts its own
//! controllers; a lock keeps them from reconciling the same cluster at the same time.

mod common;

use std::net::TcpListener;
use std::time::Duration;

use common::{Cluster, RunningController, WAIT, condition, start_controller_with, unique};
use k8s_openapi::api::events::v1::Event;
use kube::Api;
use kube::api::ListParams;
use palisade_api::Tenant;
use palisade_controller::LeaderElection;
use palisade_controller::kinds::lookup;
use palisade_testenv::{StandInKind, eventually, install_stand_in_crd};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// `(status code, body)` of a plain-HTTP GET on the controller's health port.
async fn get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.ok()?;
    stream
        .write_all(format!("GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").as_bytes())
        .await
        .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await.ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    let code = head.split_whitespace().nth(1)?.parse().ok()?;
    Some((code, body.to_string()))
}

/// The value of one metric line, e.g. `palisade_controller_leader`.
fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

fn replica(lease: &str, identity: &str, port: u16) -> RunningController {
    let (lease, identity) = (lease.to_string(), identity.to_string());
    start_controller_with(move |defaults| palisade_controller::Options {
        leader_election: Some(LeaderElection {
            lease_name: lease,
            lease_duration: Duration::from_secs(4),
            renew_before: Duration::from_secs(1),
            ..LeaderElection::new("default", &identity)
        }),
        health_listen: Some(format!("127.0.0.1:{port}").parse().unwrap()),
        discovery_interval: Duration::from_secs(2),
        ..defaults.clone()
    })
}

fn tenant(name: &str) -> Tenant {
    common::tenant_from_yaml(&format!(
        "apiVersion: palisade.dev/v1alpha1\nkind: Tenant\nmetadata:\n  name: {name}\nspec:\n  owners:\n    - kind: Group\n      name: {name}-devs\n  namespaces:\n    names: [{name}-a]\n"
    ))
}

async fn leader_gauge(port: u16) -> Option<f64> {
    let (code, body) = get(port, "/metrics").await?;
    (code == 200)
        .then(|| metric(&body, "palisade_controller_leader"))
        .flatten()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_one_leads_and_the_standby_takes_over_with_health_metrics_and_events() {
    let _one = ONE_AT_A_TIME.lock().await;
    let cluster = Cluster::without_controller().await;
    let lease = unique("lease");
    let (port_a, port_b) = (free_port(), free_port());
    let a = replica(&lease, "replica-a", port_a);
    let b = replica(&lease, "replica-b", port_b);

    // Exactly one leads; both are healthy and ready (a standby has nothing to wait for).
    let (leader_port, standby_port) = eventually("one replica to lead", WAIT, || async {
        let (la, lb) = (leader_gauge(port_a).await?, leader_gauge(port_b).await?);
        match (la as u8, lb as u8) {
            (1, 0) => Some((port_a, port_b)),
            (0, 1) => Some((port_b, port_a)),
            _ => None,
        }
    })
    .await
    .unwrap();
    for port in [leader_port, standby_port] {
        assert_eq!(get(port, "/healthz").await.map(|r| r.0), Some(200));
        let ready = eventually("readiness", WAIT, || async {
            get(port, "/readyz").await.filter(|r| r.0 == 200)
        })
        .await;
        assert!(ready.is_ok(), "port {port} not ready");
    }

    let first = unique("lead");
    cluster.create(&tenant(&first)).await;
    let converged = cluster.wait_reconciled(&first, "True").await;
    assert_eq!(converged.status.unwrap().namespaces, vec![format!("{first}-a")]);

    // The leader's metrics show the work; the standby's show none.
    let (_, leader_metrics) = get(leader_port, "/metrics").await.unwrap();
    for series in [
        "palisade_controller_reconciles_total{result=\"ok\"}",
        "palisade_controller_api_requests_total{verb=\"patch\"}",
        "palisade_controller_objects_applied_total",
    ] {
        let value = metric(&leader_metrics, series).unwrap_or(0.0);
        assert!(value >= 1.0, "{series} = {value}\n{leader_metrics}");
    }
    assert_eq!(
        metric(
            &leader_metrics,
            &format!("palisade_controller_tenant_namespaces{{tenant=\"{first}\"}}")
        ),
        Some(1.0),
        "{leader_metrics}"
    );
    let (_, standby_metrics) = get(standby_port, "/metrics").await.unwrap();
    assert_eq!(
        metric(&standby_metrics, "palisade_controller_objects_applied_total"),
        Some(0.0)
    );

    // An Event on the Tenant says what the reconcile changed.
    let events = Api::<Event>::namespaced(cluster.admin.clone(), "default");
    let event = eventually("an Event about the tenant", WAIT, || async {
        let list = events.list(&ListParams::default()).await.ok()?;
        list.items
            .into_iter()
            .find(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(first.as_str()))
    })
    .await
    .unwrap();
    assert_eq!(event.reason.as_deref(), Some("Reconciled"));
    assert_eq!(event.type_.as_deref(), Some("Normal"));
    assert!(
        event.note.as_deref().unwrap_or_default().contains("applied"),
        "{:?}",
        event.note
    );

    // The leader stops (SIGTERM): it releases the Lease and the standby takes over well before
    // the Lease would have expired on its own... and reconciles new tenants.
    let (leader, standby) = if leader_port == port_a { (a, b) } else { (b, a) };
    leader.shut_down();
    eventually("the standby to lead", WAIT, || async {
        (leader_gauge(standby_port).await? == 1.0).then_some(())
    })
    .await
    .unwrap();
    let second = unique("next");
    cluster.create(&tenant(&second)).await;
    cluster.wait_reconciled(&second, "True").await;
    drop(standby);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mesh_installed_while_the_controller_runs_gets_its_policies() {
    let _one = ONE_AT_A_TIME.lock().await;
    let cluster = Cluster::without_controller().await;
    // Periodic discovery far away: what must notice the new CRDs is the CRD watch.
    let _controller = start_controller_with(|defaults| palisade_controller::Options {
        discovery_interval: Duration::from_secs(3600),
        ..defaults.clone()
    });
    let name = unique("mesh");
    let mut meshed = tenant(&name);
    meshed.spec.mesh.provider = palisade_api::MeshProvider::Istio;
    cluster.create(&meshed).await;
    let skipped = cluster.wait_reconciled(&name, "False").await;
    let ready = condition(&skipped, "Ready").unwrap();
    assert_eq!(ready.reason, "ObjectsSkipped", "{ready:?}");
    assert!(ready.message.contains("PeerAuthentication"), "{}", ready.message);

    for (kind, plural) in [
        ("PeerAuthentication", "peerauthentications"),
        ("AuthorizationPolicy", "authorizationpolicies"),
    ] {
        let stand_in = StandInKind {
            api_version: "security.istio.io/v1",
            kind,
            plural,
            namespaced: true,
        };
        install_stand_in_crd(&cluster.admin, stand_in).await.unwrap();
    }
    cluster.wait_reconciled(&name, "True").await;
    for kind in ["PeerAuthentication", "AuthorizationPolicy"] {
        let kind = lookup("security.istio.io/v1", kind).unwrap();
        let api = common::api(&cluster.admin, kind, Some(&format!("{name}-a")));
        let items = api.list(&ListParams::default()).await.unwrap().items;
        assert_eq!(items.len(), 1, "{} in {name}-a: {items:?}", kind.kind);
    }
}
