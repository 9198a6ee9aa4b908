//! The webhook's own certificates: a self-signed CA whose certificate goes into the webhook
//! configurations' caBundle, and a short-lived serving certificate signed by it and renewed
//! in place before it expires (the CA, and so the caBundle, stays the same).

use std::time::Duration;

use axum_server::tls_rustls::RustlsConfig;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
};

use crate::Error;

/// How long a serving certificate is valid.
const SERVING_VALIDITY: Duration = Duration::from_secs(90 * 24 * 3600);
const CA_VALIDITY: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

pub struct ServingCertificate {
    pub ca_pem: String,
    pub cert_pem: String,
    pub key_pem: String,
    ca_params: CertificateParams,
    ca_key: KeyPair,
    pub not_after: std::time::SystemTime,
}

fn generate_error(error: rcgen::Error) -> Error {
    Error::GenerateCertificate(error.to_string())
}

/// A fresh CA and a serving certificate for `names` (DNS names or IP addresses).
pub fn generate_serving_certificate(names: &[String]) -> Result<ServingCertificate, Error> {
    let ca_key = KeyPair::generate().map_err(generate_error)?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(generate_error)?;
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "palisade-webhook-ca");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let now = std::time::SystemTime::now();
    ca_params.not_before = now.into();
    ca_params.not_after = (now + CA_VALIDITY).into();
    let ca_cert = ca_params.self_signed(&ca_key).map_err(generate_error)?;
    let ca_pem = ca_cert.pem();
    let (cert_pem, key_pem, not_after) = sign_serving(&ca_params, &ca_key, names)?;
    Ok(ServingCertificate {
        ca_pem,
        cert_pem,
        key_pem,
        ca_params,
        ca_key,
        not_after,
    })
}

fn sign_serving(
    ca_params: &CertificateParams,
    ca_key: &KeyPair,
    names: &[String],
) -> Result<(String, String, std::time::SystemTime), Error> {
    let key = KeyPair::generate().map_err(generate_error)?;
    let mut params = CertificateParams::new(names.to_vec()).map_err(generate_error)?;
    params.distinguished_name.push(DnType::CommonName, "palisade-webhook");
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let now = std::time::SystemTime::now();
    let not_after = now + SERVING_VALIDITY;
    params.not_before = now.into();
    params.not_after = not_after.into();
    let issuer = Issuer::from_params(ca_params, ca_key);
    let cert = params.signed_by(&key, &issuer).map_err(generate_error)?;
    Ok((cert.pem(), key.serialize_pem(), not_after))
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
        match sign_serving(&current.ca_params, &current.ca_key, &names) {
            Ok((cert_pem, key_pem, not_after)) => {
                if let Err(error) = tls
                    .reload_from_pem(cert_pem.clone().into_bytes(), key_pem.clone().into_bytes())
                    .await
                {
                    tracing::error!(%error, "reloading the renewed serving certificate failed; keeping the old one");
                    continue;
                }
                tracing::info!("serving certificate renewed");
                current.cert_pem = cert_pem;
                current.key_pem = key_pem;
                current.not_after = not_after;
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
