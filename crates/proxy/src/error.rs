//! Why the proxy could not start, named after the step that failed.

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("connecting to the API server: {0}")]
    Connect(#[source] kube::Error),
    #[error("reading the serving certificate {path}: {message}")]
    ServingCertificate { path: String, message: String },
    #[error("generating a serving certificate: {0}")]
    GenerateCertificate(String),
    #[error("writing the serving CA to {path}: {source}")]
    WriteCa {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("reading the client CA ({from}): {message}")]
    ClientCa { from: String, message: String },
    #[error("building the TLS configuration: {0}")]
    Tls(String),
    #[error("cannot listen on {listen}: {source}")]
    Listen {
        listen: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
    /// The shell could not start (the health and metrics port could not be opened).
    #[error(transparent)]
    Start(#[from] palisade_runtime::Error),
}
