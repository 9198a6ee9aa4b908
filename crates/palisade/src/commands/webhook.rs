//! `palisade webhook`: serves admission reviews for the cluster in KUBECONFIG (or in-cluster).

use palisade_runtime::{block_on, init_tracing, shutdown_signal};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use palisade_admission::AdmissionConfig;
use palisade_admission::Snapshot;
use palisade_webhook::{Endpoint, Options, Tls};

use super::validate::load_and_check;

#[derive(clap::Args)]
pub struct WebhookArgs {
    /// Address of the HTTPS server.
    #[arg(long, default_value = "0.0.0.0:8443")]
    pub listen: SocketAddr,
    /// Address of the plain-HTTP /healthz, /readyz and /metrics server.
    #[arg(long, default_value = "0.0.0.0:8080")]
    pub metrics_listen: SocketAddr,
    /// The URL the API server calls (e.g. https://127.0.0.1:8443 for a local control plane).
    #[arg(long, conflicts_with = "service")]
    pub url: Option<String>,
    /// The Service the API server calls, as NAMESPACE/NAME or NAMESPACE/NAME:PORT.
    #[arg(long, default_value = "palisade-system/palisade-webhook:443")]
    pub service: String,
    /// Do not write the webhook configurations (someone else manages them).
    #[arg(long)]
    pub no_register: bool,
    /// DNS names and IP addresses for the serving certificate (default: the Service's names, or
    /// the URL's host).
    #[arg(long = "certificate-name")]
    pub certificate_names: Vec<String>,
    /// Groups whose members are cluster administrators (never checked).
    #[arg(long = "admin-group", default_values_t = vec!["system:masters".to_string()])]
    pub admin_groups: Vec<String>,
    /// The identity of Palisade's controller.
    #[arg(long = "palisade-user", default_values_t = vec!["system:serviceaccount:palisade-system:palisade".to_string()])]
    pub palisade_users: Vec<String>,
    /// Controllers that empty and remove namespaces (exact user names); they never wait on the
    /// webhook, so a deleted tenant namespace never hangs in Terminating while it is down.
    #[arg(long = "system-controller", default_values_t = palisade_admission::default_system_controllers())]
    pub system_controllers: Vec<String>,
    /// The namespace holding the tenant-wide quota ledgers (one ConfigMap per tenant).
    #[arg(long = "ledger-namespace", default_value = "palisade-system")]
    pub ledger_namespace: String,
    /// Seconds a quota reservation is trusted before it is checked against the API server;
    /// longer than every admission step after Palisade's can take.
    #[arg(long = "reservation-grace-seconds", default_value_t = 15)]
    pub reservation_grace_seconds: u64,
    /// More namespace names no tenant may hold (exact, or a prefix ending in `*`).
    #[arg(long = "protected-namespace")]
    pub protected_namespaces: Vec<String>,
    /// The cluster's pod CIDRs, for the NetworkPolicy ipBlock rule.
    #[arg(long = "pod-cidr")]
    pub pod_cidrs: Vec<ipnet::IpNet>,
    /// The cluster's Service CIDRs, for the NetworkPolicy ipBlock rule (default: the cluster's
    /// ServiceCIDR objects).
    #[arg(long = "service-cidr")]
    pub service_cidrs: Vec<ipnet::IpNet>,
    /// Serving certificate (PEM) instead of a self-managed one; re-read every minute.
    #[arg(long, requires = "tls_key_file")]
    pub tls_cert_file: Option<std::path::PathBuf>,
    /// Private key (PEM) of --tls-cert-file.
    #[arg(long, requires = "tls_cert_file")]
    pub tls_key_file: Option<std::path::PathBuf>,
    /// CA bundle (PEM) written into the webhook configurations when certificates come from files.
    #[arg(long, requires = "tls_cert_file")]
    pub tls_ca_file: Option<std::path::PathBuf>,
    /// Serve from these Tenant manifests instead of a cluster (no API server, nothing registered):
    /// for benchmarks and for trying rules locally. Their spec.namespaces.names are the tenant
    /// namespaces.
    #[arg(long, value_name = "PATH")]
    pub offline_tenants: Vec<std::path::PathBuf>,
    /// Log as JSON lines.
    #[arg(long)]
    pub log_json: bool,
}

fn endpoint_and_names(args: &WebhookArgs) -> anyhow::Result<(Endpoint, Vec<String>)> {
    if let Some(url) = &args.url {
        let host = url
            .strip_prefix("https://")
            .context("--url must start with https://")?
            .split(['/', ':'])
            .next()
            .unwrap_or_default()
            .to_string();
        return Ok((Endpoint::Url(url.clone()), vec![host]));
    }
    let (namespace, rest) = args
        .service
        .split_once('/')
        .context("--service must be NAMESPACE/NAME[:PORT], e.g. palisade-system/palisade-webhook:443")?;
    let (name, port) = match rest.split_once(':') {
        Some((name, port)) => (name, port.parse().context("--service port must be a number")?),
        None => (rest, 443),
    };
    let names = vec![
        format!("{name}.{namespace}.svc"),
        format!("{name}.{namespace}.svc.cluster.local"),
    ];
    Ok((
        Endpoint::Service {
            namespace: namespace.to_string(),
            name: name.to_string(),
            port,
        },
        names,
    ))
}

pub fn run(args: &WebhookArgs) -> anyhow::Result<ExitCode> {
    init_tracing(args.log_json);
    let (endpoint, default_names) = endpoint_and_names(args)?;
    let tls = match (&args.tls_cert_file, &args.tls_key_file) {
        (Some(cert), Some(key)) => Tls::Files {
            cert: cert.clone(),
            key: key.clone(),
            ca: args.tls_ca_file.clone(),
        },
        _ => Tls::SelfManaged {
            names: if args.certificate_names.is_empty() {
                default_names
            } else {
                args.certificate_names.clone()
            },
            renew_before: Duration::from_secs(30 * 24 * 3600),
        },
    };
    let options = Options {
        listen: args.listen,
        metrics_listen: Some(args.metrics_listen),
        endpoint,
        register: !args.no_register && args.offline_tenants.is_empty(),
        tls,
        config: AdmissionConfig {
            admin_groups: args.admin_groups.clone(),
            admin_users: Vec::new(),
            palisade_users: args.palisade_users.clone(),
            system_controllers: args.system_controllers.clone(),
            protected_namespaces: args.protected_namespaces.clone(),
            pod_cidrs: args.pod_cidrs.clone(),
            service_cidrs: args.service_cidrs.clone(),
        },
        ledger_namespace: args.ledger_namespace.clone(),
        reservation_grace: Duration::from_secs(args.reservation_grace_seconds),
    };
    let offline = if args.offline_tenants.is_empty() {
        None
    } else {
        Some(offline_snapshot(&args.offline_tenants)?)
    };
    block_on(async move {
        if let Some(snapshot) = offline {
            return palisade_webhook::run_offline(options, snapshot, shutdown_signal())
                .await
                .context("running the webhook");
        }
        let client = kube::Client::try_default()
            .await
            .context("connecting to the cluster (KUBECONFIG or in-cluster)")?;
        palisade_webhook::run(client, options, shutdown_signal())
            .await
            .context("running the webhook")
    })??;
    Ok(ExitCode::SUCCESS)
}

/// The tenants behind `paths`, refusing to serve from a set with problems.
fn offline_snapshot(paths: &[std::path::PathBuf]) -> anyhow::Result<Snapshot> {
    let (tenants, problems) = load_and_check(paths);
    if !problems.is_empty() {
        for problem in &problems {
            eprintln!("{problem}");
        }
        anyhow::bail!("not serving: fix the {} problem(s) above first", problems.len());
    }
    Ok(super::check::tenant_snapshot(tenants))
}
