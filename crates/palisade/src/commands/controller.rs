//! `palisade controller`: keeps every tenant namespace of the cluster in KUBECONFIG (or
//! in-cluster) holding what the renderer says.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use palisade_controller::{LeaderElection, Metrics, Options};
use palisade_tenancy::render::DnsFacts;

use palisade_runtime::{block_on, init_tracing, shutdown_signal};

#[derive(clap::Args)]
pub struct ControllerArgs {
    /// Reconcile every tenant at least this often (seconds), even when nothing changed.
    #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..))]
    pub resync_seconds: u64,
    /// Re-apply every tenant's objects this often (seconds) even when the watches say nothing
    /// changed: a bound on drift that no watch could see (made while no replica was running).
    #[arg(long, default_value_t = 3600, value_parser = clap::value_parser!(u64).range(60..))]
    pub verify_interval_seconds: u64,
    /// Tenants reconciled at the same time.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..))]
    pub concurrency: u16,
    /// Address of the plain-HTTP /healthz, /readyz and /metrics server.
    #[arg(long, default_value = "0.0.0.0:8081")]
    pub metrics_listen: SocketAddr,
    /// Take part in leader election through a Lease in this namespace (needed for more than one
    /// replica). Usually the namespace Palisade runs in.
    #[arg(long, value_name = "NAMESPACE")]
    pub leader_election_namespace: Option<String>,
    /// This replica's name in the Lease (default: $POD_NAME, else the host name).
    #[arg(long, env = "POD_NAME", requires = "leader_election_namespace")]
    pub leader_identity: Option<String>,
    /// Seconds a Lease holds without renewal before another replica takes over.
    #[arg(long, default_value_t = 15, value_parser = clap::value_parser!(u64).range(2..))]
    pub lease_seconds: u64,
    /// Namespace of the cluster DNS pods (default: read from the kube-system/kube-dns Service).
    #[arg(long, requires = "dns_pod_label")]
    pub dns_namespace: Option<String>,
    /// A label of the cluster DNS pods, KEY=VALUE (repeatable).
    #[arg(long, requires = "dns_namespace", value_parser = parse_label)]
    pub dns_pod_label: Vec<(String, String)>,
    /// Log as JSON lines.
    #[arg(long)]
    pub log_json: bool,
}

fn parse_label(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_string(), value.to_string())),
        _ => Err(format!("expected KEY=VALUE, got {text:?}")),
    }
}

pub fn run(args: &ControllerArgs) -> anyhow::Result<ExitCode> {
    init_tracing(args.log_json);
    let metrics = Arc::new(Metrics::default());
    let leader_election = match &args.leader_election_namespace {
        Some(namespace) => {
            let identity = match &args.leader_identity {
                Some(identity) => identity.clone(),
                None => host_name().context("naming this replica for the Lease: pass --leader-identity")?,
            };
            let mut election = LeaderElection::new(namespace, &identity);
            election.lease_duration = Duration::from_secs(args.lease_seconds);
            election.renew_before = Duration::from_secs(args.lease_seconds.div_ceil(3));
            Some(election)
        }
        None => None,
    };
    let dns = args.dns_namespace.as_ref().map(|namespace| DnsFacts {
        namespace: namespace.clone(),
        pod_labels: args.dns_pod_label.iter().cloned().collect::<BTreeMap<_, _>>(),
    });
    let options = Options {
        resync: Duration::from_secs(args.resync_seconds),
        verify_interval: Duration::from_secs(args.verify_interval_seconds),
        concurrency: args.concurrency,
        dns,
        leader_election,
        health_listen: Some(args.metrics_listen),
        metrics: metrics.clone(),
        ..Options::default()
    };
    block_on(async move {
        let config = kube::Config::infer()
            .await
            .context("finding the cluster (KUBECONFIG or in-cluster)")?;
        let client = palisade_controller::counting_client(config, &metrics).context("connecting to the cluster")?;
        palisade_controller::run(client, options, shutdown_signal())
            .await
            .context("running the controller")
    })??;
    Ok(ExitCode::SUCCESS)
}

fn host_name() -> anyhow::Result<String> {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname").context("reading the host name")?;
    let name = name.trim();
    anyhow::ensure!(!name.is_empty(), "the host name is empty");
    Ok(name.to_string())
}
