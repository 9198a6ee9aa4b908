//! `palisade webhook`: the admission webhook, as a thin shell around `palisade_admission::review`.
//!
//! ```text
//!   watchers (Tenants, Namespaces, PersistentVolumes, Ingresses)
//!        │ apply / delete / reset
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
mod index;
mod metrics;
mod registration;
mod server;

pub use certs::{ServingCertificate, generate_serving_certificate};
pub use error::Error;
pub use index::{Index, watch_all};
pub use metrics::Metrics;
pub use registration::{Endpoint, WebhookNames, register_named, webhook_configurations};
pub use server::{AppState, router};

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use palisade_admission::AdmissionConfig;

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
    /// Host names and IP addresses the serving certificate is valid for.
    pub certificate_names: Vec<String>,
    /// Renew the serving certificate this long before it expires.
    pub renew_before: Duration,
    pub config: AdmissionConfig,
}

/// Runs the webhook until `shutdown` resolves.
pub async fn run(
    client: kube::Client,
    options: Options,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), Error> {
    run_with_index(client, options, Arc::new(Index::default()), shutdown).await
}

/// [`run`], filling the given `index` (so that a caller can watch what the webhook knows).
pub async fn run_with_index(
    client: kube::Client,
    options: Options,
    index: Arc<Index>,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), Error> {
    let metrics = Arc::new(Metrics::default());
    let watchers = tokio::spawn(watch_all(client.clone(), index.clone()));

    let certificate = generate_serving_certificate(&options.certificate_names)?;
    if options.register {
        registration::register(&client, &options.endpoint, &certificate.ca_pem).await?;
    }
    let tls = axum_server::tls_rustls::RustlsConfig::from_pem(
        certificate.cert_pem.clone().into_bytes(),
        certificate.key_pem.clone().into_bytes(),
    )
    .await
    .map_err(|e| Error::Tls(e.to_string()))?;
    let renewal = tokio::spawn(certs::renew_forever(
        tls.clone(),
        certificate,
        options.certificate_names.clone(),
        options.renew_before,
    ));

    let state = AppState {
        index: index.clone(),
        config: Arc::new(options.config.clone()),
        metrics: metrics.clone(),
    };
    let handle = axum_server::Handle::new();
    let https = axum_server::bind_rustls(options.listen, tls)
        .handle(handle.clone())
        .serve(router(state.clone()).into_make_service());
    let health = options
        .metrics_listen
        .map(|addr| tokio::spawn(server::serve_health(addr, state)));

    tracing::info!(listen = %options.listen, "palisade webhook serving");
    tokio::select! {
        result = https => result.map_err(|e| Error::Serve(e.to_string()))?,
        () = shutdown => {
            tracing::info!("shutting down");
            handle.graceful_shutdown(Some(Duration::from_secs(5)));
        }
    }
    watchers.abort();
    renewal.abort();
    if let Some(health) = health {
        health.abort();
    }
    Ok(())
}
