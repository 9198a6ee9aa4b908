//! `palisade proxy`: the tenant users' API endpoint, for the cluster in KUBECONFIG (or
//! in-cluster). See `palisade_proxy` for what it shows and how each read is authorized.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use palisade_proxy::{ClientCa, ProxyConfig, ServingTls};
use palisade_runtime::{block_on, init_tracing, shutdown_signal};

#[derive(clap::Args)]
pub struct ProxyArgs {
    /// Address of the HTTPS server tenant users connect to.
    #[arg(long, default_value = "0.0.0.0:9443")]
    pub listen: SocketAddr,
    /// Address of the plain-HTTP /healthz, /readyz and /metrics server.
    #[arg(long, default_value = "0.0.0.0:9080")]
    pub metrics_listen: SocketAddr,
    /// Serving certificate (PEM). Without it the proxy makes its own CA and certificate for
    /// --certificate-name, and writes the CA to --write-ca.
    #[arg(long, requires = "tls_key_file")]
    pub tls_cert_file: Option<PathBuf>,
    /// Private key (PEM) of --tls-cert-file.
    #[arg(long, requires = "tls_cert_file")]
    pub tls_key_file: Option<PathBuf>,
    /// DNS names and IP addresses of a self-made serving certificate.
    #[arg(long = "certificate-name", default_values_t = vec!["localhost".to_string(), "127.0.0.1".to_string()])]
    pub certificate_names: Vec<String>,
    /// Where to write the CA of a self-made serving certificate (for kubeconfigs).
    #[arg(long, conflicts_with = "tls_cert_file")]
    pub write_ca: Option<PathBuf>,
    /// CA (PEM) that signs users' client certificates. Default: the API server's own, from
    /// the ConfigMap kube-system/extension-apiserver-authentication.
    #[arg(long, conflicts_with = "no_client_certificates")]
    pub client_ca_file: Option<PathBuf>,
    /// Accept bearer tokens only.
    #[arg(long)]
    pub no_client_certificates: bool,
    /// Audiences bearer tokens must be valid for (default: the API server's).
    #[arg(long = "token-audience")]
    pub token_audiences: Vec<String>,
    /// Log as JSON lines.
    #[arg(long)]
    pub log_json: bool,
}

pub fn run(args: &ProxyArgs) -> anyhow::Result<ExitCode> {
    init_tracing(args.log_json);
    let serving = match (&args.tls_cert_file, &args.tls_key_file) {
        (Some(cert), Some(key)) => ServingTls::Files {
            cert: cert.clone(),
            key: key.clone(),
        },
        _ => ServingTls::Generated {
            names: args.certificate_names.clone(),
            write_ca: args.write_ca.clone(),
        },
    };
    let client_ca = match (&args.client_ca_file, args.no_client_certificates) {
        (Some(path), _) => ClientCa::File(path.clone()),
        (None, true) => ClientCa::None,
        (None, false) => ClientCa::FromCluster,
    };
    let config = ProxyConfig {
        listen: args.listen,
        health_listen: args.metrics_listen,
        serving,
        client_ca,
        audiences: args.token_audiences.clone(),
    };
    block_on(async move {
        let client = kube::Client::try_default()
            .await
            .context("connecting to the cluster (KUBECONFIG or in-cluster)")?;
        palisade_proxy::run(client, config, shutdown_signal())
            .await
            .context("running the proxy")
    })??;
    Ok(ExitCode::SUCCESS)
}
