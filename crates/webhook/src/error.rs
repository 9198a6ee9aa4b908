//! Everything that can go wrong in the webhook, named after the step that failed.

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("generating the webhook's certificate: {0}")]
    GenerateCertificate(String),
    #[error("loading the TLS configuration: {0}")]
    Tls(String),
    #[error("writing the webhook configurations: {0}")]
    Register(#[source] kube::Error),
    #[error("serving HTTPS: {0}")]
    Serve(String),
    /// The shell could not start (the health and metrics port could not be opened).
    #[error(transparent)]
    Start(#[from] palisade_runtime::Error),
}
