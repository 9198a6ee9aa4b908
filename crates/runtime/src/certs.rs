//! Self-managed certificates for the HTTPS verbs (the webhook, the proxy): a self-signed CA
//! whose certificate clients are given once, and a short-lived serving certificate signed by it
//! that can be signed again before it expires while the CA stays the same.

use std::time::{Duration, SystemTime};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
};

/// How long a serving certificate is valid.
const SERVING_VALIDITY: Duration = Duration::from_secs(90 * 24 * 3600);
const CA_VALIDITY: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

#[derive(Debug, thiserror::Error)]
#[error("generating a certificate: {0}")]
pub struct CertificateError(String);

impl From<rcgen::Error> for CertificateError {
    fn from(error: rcgen::Error) -> Self {
        CertificateError(error.to_string())
    }
}

pub struct ServingCertificate {
    pub ca_pem: String,
    pub cert_pem: String,
    pub key_pem: String,
    pub not_after: SystemTime,
    common_name: String,
    ca_params: CertificateParams,
    ca_key: KeyPair,
}

/// A fresh CA and a serving certificate named `common_name` for `names` (DNS names or IP
/// addresses).
pub fn generate_serving_certificate(
    common_name: &str,
    names: &[String],
) -> Result<ServingCertificate, CertificateError> {
    let ca_key = KeyPair::generate()?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params
        .distinguished_name
        .push(DnType::CommonName, format!("{common_name}-ca"));
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let now = SystemTime::now();
    ca_params.not_before = now.into();
    ca_params.not_after = (now + CA_VALIDITY).into();
    let ca_pem = ca_params.self_signed(&ca_key)?.pem();
    let mut certificate = ServingCertificate {
        ca_pem,
        cert_pem: String::new(),
        key_pem: String::new(),
        not_after: now,
        common_name: common_name.to_string(),
        ca_params,
        ca_key,
    };
    certificate.renew(names)?;
    Ok(certificate)
}

impl ServingCertificate {
    /// Signs a new serving certificate for `names` with the same CA.
    pub fn renew(&mut self, names: &[String]) -> Result<(), CertificateError> {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::new(names.to_vec())?;
        params
            .distinguished_name
            .push(DnType::CommonName, self.common_name.clone());
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let now = SystemTime::now();
        let not_after = now + SERVING_VALIDITY;
        params.not_before = now.into();
        params.not_after = not_after.into();
        let issuer = Issuer::from_params(&self.ca_params, &self.ca_key);
        let cert = params.signed_by(&key, &issuer)?;
        self.cert_pem = cert.pem();
        self.key_pem = key.serialize_pem();
        self.not_after = not_after;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renewal_keeps_the_ca_and_changes_the_key() {
        let mut certificate = generate_serving_certificate("palisade-test", &["127.0.0.1".into()]).unwrap();
        let (ca, key) = (certificate.ca_pem.clone(), certificate.key_pem.clone());
        certificate.renew(&["127.0.0.1".into()]).unwrap();
        assert_eq!(certificate.ca_pem, ca);
        assert_ne!(certificate.key_pem, key);
        assert!(certificate.not_after > SystemTime::now());
    }
}
