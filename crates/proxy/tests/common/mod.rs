//! Shared set-up of the proxy's testenv tests: the real control plane, Palisade's controller
//! (which renders the RBAC every per-name read is authorized by), and one proxy, each on its
//! own thread and runtime so that they outlive each test's runtime; plus clients that reach the
//! proxy as real users (client certificates minted by testenv, ServiceAccount tokens).

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use base64::Engine as _;
use http::{HeaderMap, Method, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use kube::config::Kubeconfig;
use kube::{Api, Client};
use palisade_api::{Tenant, TenantSpec};
use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::{Namespace, Pod};
use kube::ResourceExt;
use kube::api::{ListParams, PostParams};
use palisade_testenv::{TestEnv, eventually, unique_name};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use serde_json::json;

pub const WAIT: Duration = Duration::from_secs(90);

pub fn env() -> &'static TestEnv {
    match TestEnv::get() {
        Ok(env) => env,
        Err(e) => panic!("{e}"),
    }
}

/// The proxy of this test binary: its address and the CA of its serving certificate.
pub struct Proxy {
    pub addr: SocketAddr,
    pub health: SocketAddr,
    pub ca_pem: String,
}

static PROXY: OnceLock<Proxy> = OnceLock::new();

/// Starts (once) the controller and the proxy, and waits until the proxy is ready.
pub fn proxy() -> &'static Proxy {
    PROXY.get_or_init(|| {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
        let env = env();
        let ca_path = env.dir().join(format!("proxy-ca-{}.crt", std::process::id()));
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let ca_for_thread = ca_path.clone();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let _ = rustls::crypto::ring::default_provider().install_default();
                let admin = env.admin_client().await.unwrap();
                palisade_testenv::install_palisade_crds(&admin).await.unwrap();
                let options = palisade_controller::Options {
                    discovery_interval: Duration::from_secs(2),
                    ..palisade_controller::Options::default()
                };
                let controller = tokio::spawn(palisade_controller::run(admin.clone(), options, std::future::pending()));
                let config = palisade_proxy::ProxyConfig {
                    listen: "127.0.0.1:0".parse().unwrap(),
                    health_listen: "127.0.0.1:0".parse().unwrap(),
                    serving: palisade_proxy::ServingTls::Generated {
                        names: vec!["127.0.0.1".into()],
                        write_ca: Some(ca_for_thread),
                    },
                    // As deployed: the client CA the API server publishes.
                    client_ca: palisade_proxy::ClientCa::FromCluster,
                    audiences: Vec::new(),
                };
                let identity = deployed_identity(&admin).await;
                let running = palisade_proxy::start(identity, config).await.unwrap();
                running.proxy.view.synced().wait().await;
                ready_tx.send((running.addr, running.health_addr.unwrap())).unwrap();
                let _keep = (running, controller);
                std::future::pending::<()>().await;
            });
        });
        let (addr, health) = ready_rx.recv_timeout(WAIT).expect("the proxy did not start");
        Proxy {
            addr,
            health,
            ca_pem: std::fs::read_to_string(&ca_path).unwrap(),
        }
    })
}

/// The ServiceAccount of deploy/palisade/proxy-rbac.yaml, applied as is: the proxy under test
/// holds exactly the rights it is deployed with.
async fn deployed_identity(admin: &Client) -> Client {
    let deploy = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/palisade");
    let applied = env()
        .kubectl(
            env().kubeconfig_path(),
            &[
                "apply",
                "--server-side",
                "--field-manager=palisade-tests",
                "-f",
                deploy.join("00-namespace.yaml").to_str().unwrap(),
                "-f",
                deploy.join("proxy-rbac.yaml").to_str().unwrap(),
            ],
        )
        .await
        .unwrap();
    assert!(applied.status.success(), "{}", String::from_utf8_lossy(&applied.stderr));
    let token = service_account_token(admin, "palisade-system", "palisade-proxy").await;
    let kubeconfig = Kubeconfig::read_from(env().kubeconfig_path()).unwrap();
    let mut config = kube::Config::from_custom_kubeconfig(kubeconfig, &kube::config::KubeConfigOptions::default())
        .await
        .unwrap();
    config.auth_info = kube::config::AuthInfo {
        token: Some(token.into()),
        ..Default::default()
    };
    Client::try_from(config).unwrap()
}

/// A token of ServiceAccount `namespace/name`, valid for a day, from the TokenRequest API.
pub async fn service_account_token(admin: &Client, namespace: &str, name: &str) -> String {
    let request = k8s_openapi::api::authentication::v1::TokenRequest {
        spec: Some(k8s_openapi::api::authentication::v1::TokenRequestSpec {
            expiration_seconds: Some(24 * 3600),
            ..Default::default()
        }),
        ..Default::default()
    };
    Api::<k8s_openapi::api::core::v1::ServiceAccount>::namespaced(admin.clone(), namespace)
        .create_token_request(name, &Default::default(), &request)
        .await
        .unwrap()
        .status
        .unwrap()
        .token
        .unwrap()
}

/// The name the proxy acts under in the audit log.
pub const PROXY_USER: &str = "system:serviceaccount:palisade-system:palisade-proxy";

impl Proxy {
    pub fn url(&self) -> String {
        format!("https://{}", self.addr)
    }

    /// `kubeconfig` pointed at the proxy instead of the API server.
    pub fn via(&self, mut kubeconfig: Kubeconfig) -> Kubeconfig {
        for cluster in &mut kubeconfig.clusters {
            if let Some(c) = cluster.cluster.as_mut() {
                c.server = Some(self.url());
                c.certificate_authority = None;
                c.certificate_authority_data =
                    Some(base64::engine::general_purpose::STANDARD.encode(self.ca_pem.as_bytes()));
            }
        }
        kubeconfig
    }

    /// A client that reaches the proxy as `user` in `groups` with a client certificate.
    pub async fn user(&self, user: &str, groups: &[&str]) -> Client {
        let kubeconfig = self.via(env().user_kubeconfig(user, groups).await.unwrap());
        client(kubeconfig).await
    }

    /// A client that reaches the proxy with a bearer token and nothing else.
    pub async fn token_client(&self, token: &str) -> Client {
        let mut config = kube::Config::new(self.url().parse().unwrap());
        config.root_cert = Some(vec![
            CertificateDer::from_pem_slice(self.ca_pem.as_bytes()).unwrap().to_vec(),
        ]);
        config.auth_info.token = Some(token.to_string().into());
        Client::try_from(config).unwrap()
    }
}

pub async fn client(kubeconfig: Kubeconfig) -> Client {
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &kube::config::KubeConfigOptions::default())
        .await
        .unwrap();
    Client::try_from(config).unwrap()
}

/// A client certificate and key (PEM) for `user` in `groups`, signed by the cluster's CA.
pub async fn certificate(user: &str, groups: &[&str]) -> (Vec<u8>, Vec<u8>) {
    let kubeconfig = env().user_kubeconfig(user, groups).await.unwrap();
    let auth = kubeconfig.auth_infos[0].auth_info.clone().unwrap();
    let decode = |data: Option<String>| base64::engine::general_purpose::STANDARD.decode(data.unwrap()).unwrap();
    let key = auth.client_key_data.map(|k| {
        use secrecy::ExposeSecret;
        k.expose_secret().to_string()
    });
    (decode(auth.client_certificate_data), decode(key))
}

/// One raw HTTPS/1.1 request to the proxy, with exactly the headers given (for requests no
/// well-behaved client would make).
pub async fn raw(
    proxy: &Proxy,
    certificate: Option<&(Vec<u8>, Vec<u8>)>,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
) -> (StatusCode, HeaderMap, String) {
    raw_with_body(proxy, certificate, method, path, headers, String::new()).await
}

/// A plain-HTTP GET (the health and metrics port).
pub async fn plain_get(addr: SocketAddr, path: &str) -> (u16, String) {
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tcp)).await.unwrap();
    tokio::spawn(connection);
    let request = http::Request::get(path)
        .header("host", addr.to_string())
        .body(Full::new(Bytes::new()))
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    let code = response.status().as_u16();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (code, String::from_utf8_lossy(&body).into_owned())
}

/// [`raw`] with a request body.
pub async fn raw_with_body(
    proxy: &Proxy,
    certificate: Option<&(Vec<u8>, Vec<u8>)>,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: String,
) -> (StatusCode, HeaderMap, String) {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(proxy.ca_pem.as_bytes()).unwrap())
        .unwrap();
    let builder = rustls::ClientConfig::builder().with_root_certificates(roots);
    let config = match certificate {
        Some((cert, key)) => builder
            .with_client_auth_cert(
                CertificateDer::pem_slice_iter(cert)
                    .collect::<Result<Vec<_>, _>>()
                    .unwrap(),
                PrivateKeyDer::from_pem_slice(key).unwrap(),
            )
            .unwrap(),
        None => builder.with_no_client_auth(),
    };
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(proxy.addr).await.unwrap();
    let tls = connector
        .connect(ServerName::try_from("127.0.0.1").unwrap(), tcp)
        .await
        .unwrap();
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tls)).await.unwrap();
    tokio::spawn(connection);
    let mut request = http::Request::builder()
        .method(method)
        .uri(path)
        .header("host", proxy.addr.to_string());
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    let response = sender
        .send_request(request.body(Full::new(Bytes::from(body))).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let head = response.headers().clone();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, head, String::from_utf8_lossy(&body).into_owned())
}

/// A Tenant owned by `owners` (JSON owner entries) with `namespaces` created by the controller.
pub fn tenant(name: &str, owners: serde_json::Value, namespaces: &[String]) -> Tenant {
    let spec: TenantSpec = serde_json::from_value(serde_json::json!({
        "owners": owners,
        "namespaces": { "names": namespaces },
    }))
    .unwrap();
    Tenant::new(name, spec)
}

/// Creates `tenant` as the admin and waits until its owners can read each of its namespaces
/// directly (the controller has applied their RBAC).
pub async fn create_ready(admin: &Client, tenant: &Tenant, owner: &Client) {
    Api::<Tenant>::all(admin.clone())
        .create(&Default::default(), tenant)
        .await
        .unwrap();
    let namespaces = tenant.spec.namespaces.names.clone();
    let name = tenant.metadata.name.clone().unwrap();
    eventually(&format!("tenant {name}'s owner can read its namespaces"), WAIT, || {
        let owner = owner.clone();
        let namespaces = namespaces.clone();
        let name = name.clone();
        async move {
            let api = Api::<k8s_openapi::api::core::v1::Namespace>::all(owner.clone());
            for ns in &namespaces {
                api.get(ns).await.ok()?;
            }
            Api::<Tenant>::all(owner).get(&name).await.ok()?;
            Some(())
        }
    })
    .await
    .unwrap();
}

pub fn names<K: ResourceExt>(items: &[K]) -> BTreeSet<String> {
    items.iter().map(|i| i.name_any()).collect()
}

pub async fn pod(admin: &Client, namespace: &str, name: &str) {
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {"containers": [{"name": "app", "image": "registry.example.com/app:1"}]}
    }))
    .unwrap();
    let api = Api::<Pod>::namespaced(admin.clone(), namespace);
    // The namespace's default ServiceAccount may not exist yet.
    eventually(&format!("pod {namespace}/{name} created"), WAIT, || {
        let api = api.clone();
        let pod = pod.clone();
        async move { api.create(&PostParams::default(), &pod).await.ok() }
    })
    .await
    .unwrap();
}

pub struct TwoTenants {
    pub a: String,
    pub b: String,
    pub a_namespaces: Vec<String>,
    pub b_namespaces: Vec<String>,
    pub alice: String,
    pub bob: String,
}

pub async fn two_tenants(admin: &Client) -> TwoTenants {
    let a = unique_name("pa");
    let b = unique_name("pb");
    let alice = format!("alice-{a}");
    let bob = format!("bob-{b}");
    let a_namespaces = vec![format!("{a}-1"), format!("{a}-2")];
    let b_namespaces = vec![format!("{b}-1")];
    let p = proxy();
    let direct_alice = env().user_client(&alice, &[]).await.unwrap();
    let direct_bob = env().user_client(&bob, &[]).await.unwrap();
    create_ready(
        admin,
        &tenant(&a, json!([{"kind": "User", "name": alice}]), &a_namespaces),
        &direct_alice,
    )
    .await;
    create_ready(
        admin,
        &tenant(&b, json!([{"kind": "User", "name": bob}]), &b_namespaces),
        &direct_bob,
    )
    .await;
    for ns in a_namespaces.iter().chain(&b_namespaces) {
        pod(admin, ns, &format!("web-{ns}")).await;
    }
    // The proxy's directory sees the namespaces through its own watch.
    let alice_via = p.user(&alice, &[]).await;
    let expected: BTreeSet<String> = a_namespaces.iter().cloned().collect();
    eventually("the proxy knows alice's namespaces", WAIT, || {
        let api = Api::<Namespace>::all(alice_via.clone());
        let expected = expected.clone();
        async move { (names(&api.list(&ListParams::default()).await.ok()?.items) == expected).then_some(()) }
    })
    .await
    .unwrap();
    TwoTenants {
        a,
        b,
        a_namespaces,
        b_namespaces,
        alice,
        bob,
    }
}
