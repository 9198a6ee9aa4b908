//! `palisade controller`: keeps every tenant namespace of the cluster in KUBECONFIG (or
//! in-cluster) holding what the renderer says.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;

use super::webhook::{init_tracing, shutdown_signal};

#[derive(clap::Args)]
pub struct ControllerArgs {
    /// Reconcile every tenant at least this often (seconds), even when nothing changed.
    #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..))]
    pub resync_seconds: u64,
    /// Tenants reconciled at the same time.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..))]
    pub concurrency: u16,
    /// Log as JSON lines.
    #[arg(long)]
    pub log_json: bool,
}

pub fn run(args: &ControllerArgs) -> anyhow::Result<ExitCode> {
    init_tracing(args.log_json);
    // rustls needs one process-wide crypto provider; ring is the one kube uses too.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let options = palisade_controller::Options {
        resync: Duration::from_secs(args.resync_seconds),
        concurrency: args.concurrency,
        ..palisade_controller::Options::default()
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        let client = kube::Client::try_default()
            .await
            .context("connecting to the cluster (KUBECONFIG or in-cluster)")?;
        palisade_controller::run(client, options, shutdown_signal())
            .await
            .context("running the controller")
    })?;
    Ok(ExitCode::SUCCESS)
}
