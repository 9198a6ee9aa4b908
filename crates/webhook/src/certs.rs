//! The webhook's own certificates: a self-signed CA whose certificate goes into the webhook
//! configurations' caBundle, and a short-lived serving certificate signed by it and renewed
//! in place before it expires (the CA, and so the caBundle, stays the same).

use std::time::Duration;

use axum_server::tls_rustls::RustlsConfig;
pub use palisade_runtime::certs::ServingCertificate;

use crate::Error;

/// A fresh CA and a serving certificate for `names` (DNS names or IP addresses).
pub fn generate_serving_certificate(names: &[String]) -> Result<ServingCertificate, Error> {
    palisade_runtime::certs::generate_serving_certificate("palisade-webhook", names)
        .map_err(|e| Error::GenerateCertificate(e.to_string()))
}

/// Renews the serving certificate `renew_before` its expiry, forever.
pub async fn renew_forever(
    tls: RustlsConfig,
    mut current: ServingCertificate,
    names: Vec<String>,
    renew_before: Duration,
) {
    loop {
        let renew_at = current.not_after.checked_sub(renew_before).unwrap_or(current.not_after);
        let wait = renew_at
            .duration_since(std::time::SystemTime::now())
            .unwrap_or(Duration::ZERO);
        tokio::time::sleep(wait.max(Duration::from_secs(60))).await;
        match current.renew(&names) {
            Ok(()) => {
                if let Err(error) = tls
                    .reload_from_pem(
                        current.cert_pem.clone().into_bytes(),
                        current.key_pem.clone().into_bytes(),
                    )
                    .await
                {
                    tracing::error!(%error, "reloading the renewed serving certificate failed; keeping the old one");
                    continue;
                }
                tracing::info!("serving certificate renewed");
            }
            Err(error) => tracing::error!(%error, "renewing the serving certificate failed; retrying in a minute"),
        }
    }
}

/// Re-reads the certificate files every minute, so that a rotated certificate (cert-manager,
/// a mounted Secret) is served without a restart.
pub async fn reload_files_forever(tls: RustlsConfig, cert: std::path::PathBuf, key: std::path::PathBuf) {
    loop {
        tokio::time::sleep(Duration::from_secs(60)).await;
        if let Err(error) = tls.reload_from_pem_file(&cert, &key).await {
            tracing::error!(%error, cert = %cert.display(), "reloading the serving certificate failed; keeping the old one");
        }
    }
}
