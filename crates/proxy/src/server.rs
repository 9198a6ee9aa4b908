//! The HTTPS side: TLS with optional client certificates verified against the cluster's
//! client CA, HTTP/1.1 and HTTP/2 (ALPN), upgrades, one task per connection that ends with it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::{Api, Client};
use rustls::RootCertStore;
use rustls::server::WebPkiClientVerifier;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::{Error, Proxy};

/// Where the serving certificate comes from.
#[derive(Clone, Debug)]
pub enum ServingTls {
    Files {
        cert: PathBuf,
        key: PathBuf,
    },
    /// A self-signed CA and a certificate for `names`; the CA is written to `write_ca` for
    /// the kubeconfigs that point at the proxy.
    Generated {
        names: Vec<String>,
        write_ca: Option<PathBuf>,
    },
}

/// Where the CA that signs client certificates comes from.
#[derive(Clone, Debug)]
pub enum ClientCa {
    File(PathBuf),
    /// `client-ca-file` of the `kube-system/extension-apiserver-authentication` ConfigMap, the
    /// one the API server publishes for servers that authenticate its users.
    FromCluster,
    /// Bearer tokens only.
    None,
}

/// How long a client has to finish the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

pub async fn tls_acceptor(client: &Client, serving: &ServingTls, client_ca: &ClientCa) -> Result<TlsAcceptor, Error> {
    let (chain, key) = serving_certificate(serving)?;
    let builder = rustls::ServerConfig::builder();
    let builder = match client_ca_roots(client, client_ca).await? {
        Some(roots) => {
            let verifier = WebPkiClientVerifier::builder(Arc::new(roots))
                .allow_unauthenticated()
                .build()
                .map_err(|e| Error::Tls(e.to_string()))?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let mut config = builder
        .with_single_cert(chain, key)
        .map_err(|e| Error::Tls(e.to_string()))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

fn serving_certificate(serving: &ServingTls) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), Error> {
    let (cert_pem, key_pem) = match serving {
        ServingTls::Files { cert, key } => (read(cert)?, read(key)?),
        ServingTls::Generated { names, write_ca } => {
            let generated = palisade_runtime::certs::generate_serving_certificate("palisade-proxy", names)
                .map_err(|e| Error::GenerateCertificate(e.to_string()))?;
            if let Some(path) = write_ca {
                std::fs::write(path, &generated.ca_pem).map_err(|source| Error::WriteCa {
                    path: path.display().to_string(),
                    source,
                })?;
            }
            (generated.cert_pem.into_bytes(), generated.key_pem.into_bytes())
        }
    };
    let bad = |what: &str, e: rustls_pki_types::pem::Error| Error::ServingCertificate {
        path: what.to_string(),
        message: e.to_string(),
    };
    let chain = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad("certificate", e))?;
    if chain.is_empty() {
        return Err(Error::ServingCertificate {
            path: "certificate".into(),
            message: "no PEM certificate found".into(),
        });
    }
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| bad("key", e))?;
    Ok((chain, key))
}

fn read(path: &Path) -> Result<Vec<u8>, Error> {
    std::fs::read(path).map_err(|e| Error::ServingCertificate {
        path: path.display().to_string(),
        message: e.to_string(),
    })
}

async fn client_ca_roots(client: &Client, source: &ClientCa) -> Result<Option<RootCertStore>, Error> {
    let (from, pem) = match source {
        ClientCa::None => return Ok(None),
        ClientCa::File(path) => (
            path.display().to_string(),
            std::fs::read(path).map_err(|e| Error::ClientCa {
                from: path.display().to_string(),
                message: e.to_string(),
            })?,
        ),
        ClientCa::FromCluster => {
            let from = "ConfigMap kube-system/extension-apiserver-authentication, key client-ca-file".to_string();
            let map = Api::<ConfigMap>::namespaced(client.clone(), "kube-system")
                .get("extension-apiserver-authentication")
                .await
                .map_err(|e| Error::ClientCa {
                    from: from.clone(),
                    message: e.to_string(),
                })?;
            let pem = map
                .data
                .and_then(|mut d| d.remove("client-ca-file"))
                .ok_or_else(|| Error::ClientCa {
                    from: from.clone(),
                    message: "the key is missing: the API server does not authenticate client certificates".into(),
                })?;
            (from, pem.into_bytes())
        }
    };
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&pem) {
        let cert = cert.map_err(|e| Error::ClientCa {
            from: from.clone(),
            message: e.to_string(),
        })?;
        roots.add(cert).map_err(|e| Error::ClientCa {
            from: from.clone(),
            message: e.to_string(),
        })?;
    }
    if roots.is_empty() {
        return Err(Error::ClientCa {
            from,
            message: "no PEM certificate found".into(),
        });
    }
    Ok(Some(roots))
}

pub async fn bind(listen: SocketAddr) -> Result<TcpListener, Error> {
    TcpListener::bind(listen)
        .await
        .map_err(|source| Error::Listen { listen, source })
}

/// Accepts connections until the future is dropped. Each connection is its own task; a
/// request's work (a merged watch, an upgrade) is owned by the connection and ends with it.
pub async fn serve(listener: TcpListener, acceptor: TlsAcceptor, proxy: Arc<Proxy>) {
    loop {
        let (tcp, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                tracing::warn!(%error, "accepting a connection failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        let proxy = proxy.clone();
        tokio::spawn(async move {
            let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(tls)) => tls,
                Ok(Err(error)) => {
                    tracing::debug!(%peer, %error, "TLS handshake failed");
                    return;
                }
                Err(_) => return,
            };
            let certificate: Arc<Option<Vec<u8>>> = Arc::new(
                tls.get_ref()
                    .1
                    .peer_certificates()
                    .and_then(|chain| chain.first())
                    .map(|c| c.to_vec()),
            );
            let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
                let proxy = proxy.clone();
                let certificate = certificate.clone();
                async move { Ok::<_, std::convert::Infallible>(proxy.handle(certificate.as_deref(), request).await) }
            });
            let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            if let Err(error) = builder.serve_connection_with_upgrades(TokioIo::new(tls), service).await {
                tracing::debug!(%peer, %error, "connection ended with an error");
            }
        });
    }
}
