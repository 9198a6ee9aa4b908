//! `palisade webhook`: the admission webhook, as a thin shell around `palisade_admission::review`.
//!
//! ```text
//!   palisade-view driver: watches of Tenants, Namespaces, PersistentVolumes, Ingresses, Nodes,
//!        │ Pods, claims, Services, Palisade's quotas and limits, ServiceCIDRs
//!        │ apply / delete / reset (admission's index.rs says how each becomes state)
//!        ▼
//!   Index (RwLock<Snapshot>) ──read──▶ POST /mutate, /validate ──▶ review() ──▶ AdmissionReview
//!        ▲                                 (axum over rustls)
//!   certs: self-signed CA + serving certificate (rotated), or files
//!   registration: Validating/MutatingWebhookConfigurations with the CA bundle
//! ```
//!
//! Until every cache has listed once, tenant requests are denied (fail closed) and `/readyz`
//! answers 503.

mod certs;
mod error;
mod hosts;
mod index;
mod ledger;
mod metrics;
mod registration;
mod server;

pub use certs::{ServingCertificate, generate_serving_certificate};
pub use error::Error;
pub use hosts::HostClaims;
pub use index::{Index, start_watches, watch_all};
pub use ledger::Ledgers;
pub use metrics::Metrics;
pub use registration::{Endpoint, WebhookNames, register_named, webhook_configurations};
pub use server::{AppState, router};

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum_server::tls_rustls::RustlsConfig;
use palisade_runtime::{HealthServer, Task};

use palisade_admission::AdmissionConfig;

/// Where the serving certificate comes from.
#[derive(Debug, Clone)]
pub enum Tls {
    /// A self-signed CA and a serving certificate for these names (DNS names or IP addresses),
    /// renewed in place this long before it expires.
    SelfManaged { names: Vec<String>, renew_before: Duration },
    /// PEM files (e.g. from cert-manager), re-read every minute so a rotation needs no restart;
    /// `ca` is the bundle written into the webhook configurations.
    Files {
        cert: PathBuf,
        key: PathBuf,
        ca: Option<PathBuf>,
    },
}

/// How to run the webhook.
#[derive(Debug, Clone)]
pub struct Options {
    /// Where the HTTPS server listens.
    pub listen: SocketAddr,
    /// Where plain-HTTP health and metrics listen.
    pub metrics_listen: Option<SocketAddr>,
    /// How the API server reaches the webhook (a URL, or a Service).
    pub endpoint: Endpoint,
    /// Write the webhook configurations (with the CA bundle) at start-up.
    pub register: bool,
    pub tls: Tls,
    pub config: AdmissionConfig,
    /// Where the tenant-wide quota ledgers live (Palisade's namespace).
    pub ledger_namespace: String,
    /// How long a quota reservation is trusted before it is checked against the API server.
    pub reservation_grace: Duration,
}

/// Runs the webhook against a cluster until `shutdown` resolves.
pub async fn run(client: kube::Client, options: Options, shutdown: impl Future<Output = ()>) -> Result<(), Error> {
    run_with_index(client, options, Arc::new(Index::default()), shutdown).await
}

/// [`run`], filling the given `index` (so that a caller can watch what the webhook knows).
pub async fn run_with_index(
    client: kube::Client,
    options: Options,
    index: Arc<Index>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), Error> {
    // Bound first: a taken port fails the start before anything is watched or written.
    let health = bind_health(&options).await?;
    // Everything spawned below is a Task, aborted when this function returns, early or not.
    let _watches = start_watches(&client, &index);
    let _warn_missing = Task::spawn(warn_missing_facts(index.clone(), options.config.clone()));
    let (tls, ca_pem, _renewal) = load_tls(&options.tls).await?;
    if options.register {
        match &ca_pem {
            Some(ca_pem) => {
                let names = WebhookNames::for_config(&options.config);
                register_named(&client, &names, &options.endpoint, ca_pem).await?
            }
            None => tracing::warn!("no CA bundle known (give --tls-ca-file): webhook configurations not written"),
        }
    }
    let ledgers = Arc::new(Ledgers::new(
        client.clone(),
        options.ledger_namespace.clone(),
        options.reservation_grace,
    ));
    let hosts = Arc::new(HostClaims::new(
        client.clone(),
        options.ledger_namespace.clone(),
        options.reservation_grace,
    ));
    let state = AppState::new(&options, index, Some(client), Some((ledgers, hosts)));
    serve(&options, tls, state, health, shutdown).await
}

/// Serves reviews from a fixed view of the cluster, with no API server at all: for benchmarks
/// and for trying rules locally.
pub async fn run_offline(
    options: Options,
    snapshot: palisade_admission::Snapshot,
    shutdown: impl Future<Output = ()>,
) -> Result<(), Error> {
    let health = bind_health(&options).await?;
    let index = Arc::new(Index::default());
    index.replace(snapshot);
    let (tls, _, _renewal) = load_tls(&options.tls).await?;
    let state = AppState::new(&options, index, None, None);
    serve(&options, tls, state, health, shutdown).await
}

async fn bind_health(options: &Options) -> Result<Option<HealthServer>, Error> {
    match options.metrics_listen {
        Some(listen) => Ok(Some(HealthServer::bind(listen).await?)),
        None => Ok(None),
    }
}

/// Once the caches are filled, says in the log which cluster facts are missing and which rules
/// therefore deny (`/readyz` says the same).
async fn warn_missing_facts(index: Arc<Index>, config: AdmissionConfig) {
    index.synced().wait().await;
    for missing in index.missing_facts(&config) {
        tracing::warn!("{missing}");
    }
}

/// The serving configuration, the CA bundle if known, and the task that keeps the certificate
/// fresh.
async fn load_tls(tls: &Tls) -> Result<(RustlsConfig, Option<String>, Task), Error> {
    let tls_error = |e: std::io::Error| Error::Tls(e.to_string());
    match tls {
        Tls::SelfManaged { names, renew_before } => {
            let certificate = generate_serving_certificate(names)?;
            let config = RustlsConfig::from_pem(
                certificate.cert_pem.clone().into_bytes(),
                certificate.key_pem.clone().into_bytes(),
            )
            .await
            .map_err(tls_error)?;
            let ca_pem = certificate.ca_pem.clone();
            let renewal = Task::spawn(certs::renew_forever(
                config.clone(),
                certificate,
                names.clone(),
                *renew_before,
            ));
            Ok((config, Some(ca_pem), renewal))
        }
        Tls::Files { cert, key, ca } => {
            let config = RustlsConfig::from_pem_file(cert, key)
                .await
                .map_err(|e| Error::Tls(format!("{} / {}: {e}", cert.display(), key.display())))?;
            let ca_pem = match ca {
                Some(ca) => {
                    Some(std::fs::read_to_string(ca).map_err(|e| Error::Tls(format!("{}: {e}", ca.display())))?)
                }
                None => None,
            };
            let reload = Task::spawn(certs::reload_files_forever(config.clone(), cert.clone(), key.clone()));
            Ok((config, ca_pem, reload))
        }
    }
}

async fn serve(
    options: &Options,
    tls: RustlsConfig,
    state: AppState,
    health: Option<HealthServer>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), Error> {
    let _health = health.map(|health| health.serve(Arc::new(state.clone())));
    let handle = axum_server::Handle::new();
    let https = axum_server::bind_rustls(options.listen, tls)
        .handle(handle.clone())
        .serve(router(state.clone()).into_make_service());
    tracing::info!(listen = %options.listen, "palisade webhook serving");
    let result = tokio::select! {
        result = https => result.map_err(|e| Error::Serve(e.to_string())),
        () = shutdown => {
            tracing::info!("shutting down");
            handle.graceful_shutdown(Some(Duration::from_secs(5)));
            Ok(())
        }
    };
    result
}
