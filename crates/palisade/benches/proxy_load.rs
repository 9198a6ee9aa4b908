//! Load on the real `palisade proxy` binary in front of testenv's API server, with a tenant
//! directory of TENANTS (1,000) Tenants × 5 namespaces. One tenant owner (`bench-owner`, tenant
//! `bench-0000`) holds exactly the RBAC the controller would render for it (no controller runs),
//! and 2 pods in each of its namespaces. Over keep-alive HTTPS/1.1 connections with client
//! certificates, prints:
//!
//! - p50/p99/max latency, 1 connection, sequential: `get ns` through the proxy (5 reads as the
//!   owner, merged) against the same 5 namespaces read directly by the admin with a label
//!   selector, and against one of those 5 reads sent directly as the owner; `get pods -A`
//!   through the proxy (5 reads) against `GET /api/v1/pods` by the admin (only this tenant has
//!   pods: the same 10); a pass-through `get ns <name>` through the proxy against the same read
//!   directly as the owner. Beside each row, what the API server's storage did per request (its
//!   own metrics: consistent reads from the watch cache, lists from etcd, waits for the cache).
//!   Measured once the control plane has settled (kube-controller-manager done with the new
//!   namespaces' ServiceAccounts and ConfigMaps: until then every consistent read of namespaces
//!   can wait ~100 ms for the watch cache), and again after the load runs;
//! - requests/s at CONNECTIONS (default 1 and 64) connections, closed loop, SECONDS (default 10)
//!   each, for `get ns` and `get pods -A`, through the proxy and directly, with the CPU the
//!   proxy and the control plane spent per request;
//! - the proxy's memory (VmRSS, VmHWM) once its directory is loaded, with 100 merged watches of
//!   `pods -A` open (500 upstream watches; the proxy's open-watch gauge shows them), after they
//!   close, and after the load runs.
//!
//! Asserts nothing beyond sanity: every measured answer is a 200 with the expected items.
//!
//! `cargo bench -p palisade --bench proxy_load [-- SECONDS CONNECTIONS...]`

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // bench code

mod common;

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use base64::Engine as _;
use futures::StreamExt;
use http_body_util::{BodyExt, Empty};
use hyper::StatusCode;
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use k8s_openapi::api::core::v1::{Namespace, Pod};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, RoleBinding};
use kube::api::{Patch, PatchParams, PostParams};
use kube::config::Kubeconfig;
use kube::{Api, Client};
use palisade_api::Tenant;
use palisade_tenancy::render::{ClusterInventory, render_owner_cluster_rbac, visible_cluster_objects};
use palisade_testenv::TestEnv;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use serde_json::json;

const TENANTS: usize = 1000;
const NAMESPACES_PER_TENANT: usize = 5;
const PODS_PER_NAMESPACE: usize = 2;
const SETUP_CONCURRENCY: usize = 16;
const OWNER: &str = "bench-owner";
const WARM_UP: usize = 50;
const SAMPLES: usize = 500;
const WATCHES: usize = 100;
const WAIT: Duration = Duration::from_secs(120);

fn tenant_name(index: usize) -> String {
    format!("bench-{index:04}")
}

fn namespaces_of(index: usize) -> Vec<String> {
    (1..=NAMESPACES_PER_TENANT)
        .map(|n| format!("{}-{n}", tenant_name(index)))
        .collect()
}

fn tenant(index: usize) -> Tenant {
    let owner = if index == 0 {
        OWNER.to_string()
    } else {
        format!("bench-user-{index:04}")
    };
    serde_json::from_value(json!({
        "apiVersion": "palisade.dev/v1alpha1",
        "kind": "Tenant",
        "metadata": { "name": tenant_name(index) },
        "spec": {
            "owners": [{ "kind": "User", "name": owner }],
            "namespaces": { "names": namespaces_of(index) }
        }
    }))
    .unwrap()
}

/// Creates `object`, retrying a few times on errors other than "already exists" (which counts as
/// created: the bench can run again on a reused control plane).
async fn create<K>(api: &Api<K>, object: &K, what: &str)
where
    K: kube::Resource + Clone + serde::Serialize + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let mut attempt = 0;
    loop {
        match api.create(&PostParams::default(), object).await {
            Ok(_) => return,
            Err(kube::Error::Api(status)) if status.code == 409 => return,
            Err(error) if attempt < 5 => {
                attempt += 1;
                eprintln!("creating {what} failed ({error}); retrying");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(error) => panic!("creating {what}: {error}"),
        }
    }
}

/// The directory: TENANTS Tenants, each with its namespaces created by the admin and labelled
/// with the tenant, SETUP_CONCURRENCY tenants at a time.
async fn create_directory(admin: &Client) {
    futures::stream::iter(0..TENANTS)
        .for_each_concurrent(SETUP_CONCURRENCY, |index| {
            let admin = admin.clone();
            async move {
                let tenant = tenant(index);
                create(&Api::<Tenant>::all(admin.clone()), &tenant, &tenant_name(index)).await;
                let namespaces = Api::<Namespace>::all(admin.clone());
                for name in namespaces_of(index) {
                    let namespace: Namespace = serde_json::from_value(json!({
                        "metadata": { "name": name, "labels": { palisade_api::labels::TENANT: tenant_name(index) } }
                    }))
                    .unwrap();
                    create(&namespaces, &namespace, &format!("namespace {name}")).await;
                }
            }
        })
        .await;
}

/// What the controller would give the owner of tenant 0: its owner ClusterRole and binding
/// (server-side applied), `view` in each of its namespaces, and PODS_PER_NAMESPACE pods there.
async fn owner_rbac_and_pods(admin: &Client) {
    let tenant = tenant(0);
    let namespaces = namespaces_of(0);
    let visible = visible_cluster_objects(&tenant, &namespaces, &ClusterInventory::default());
    let params = PatchParams::apply("palisade-bench").force();
    for object in render_owner_cluster_rbac(&tenant, &namespaces, &visible) {
        let patch = Patch::Apply(&object.manifest);
        match object.kind.as_str() {
            "ClusterRole" => {
                Api::<ClusterRole>::all(admin.clone())
                    .patch(&object.name, &params, &patch)
                    .await
                    .unwrap();
            }
            "ClusterRoleBinding" => {
                Api::<ClusterRoleBinding>::all(admin.clone())
                    .patch(&object.name, &params, &patch)
                    .await
                    .unwrap();
            }
            other => panic!("render_owner_cluster_rbac rendered an unexpected {other}"),
        }
    }
    for namespace in &namespaces {
        let binding: RoleBinding = serde_json::from_value(json!({
            "metadata": { "name": "bench-owner-view", "namespace": namespace },
            "roleRef": { "apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view" },
            "subjects": [{ "apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": OWNER }]
        }))
        .unwrap();
        create(
            &Api::<RoleBinding>::namespaced(admin.clone(), namespace),
            &binding,
            &format!("rolebinding {namespace}/bench-owner-view"),
        )
        .await;
        let pods = Api::<Pod>::namespaced(admin.clone(), namespace);
        for n in 1..=PODS_PER_NAMESPACE {
            let pod: Pod = serde_json::from_value(json!({
                "metadata": { "name": format!("web-{n}") },
                "spec": { "containers": [{ "name": "app", "image": "registry.example.com/app:1" }] }
            }))
            .unwrap();
            // The namespace's default ServiceAccount may not exist yet.
            let deadline = Instant::now() + WAIT;
            loop {
                match pods.create(&PostParams::default(), &pod).await {
                    Ok(_) => break,
                    Err(kube::Error::Api(status)) if status.code == 409 => break,
                    Err(error) if Instant::now() < deadline => {
                        let _ = error;
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                    Err(error) => panic!("pod {namespace}/web-{n}: {error}"),
                }
            }
        }
    }
}

/// Waits until kube-controller-manager has given every namespace its `default` ServiceAccount and
/// `kube-root-ca.crt` ConfigMap: until then it writes thousands of objects, and every consistent
/// read of a resource nobody writes (namespaces) waits for the watch cache to hear of etcd's
/// newer revision (a progress notification, requested every 100 ms). Returns how long it took.
async fn settle(admin: &Client) -> Duration {
    use k8s_openapi::api::core::v1::{ConfigMap, ServiceAccount};
    use kube::api::ListParams;
    let count_all = |client: Client| async move {
        let namespaces = Api::<Namespace>::all(client.clone())
            .list_metadata(&ListParams::default())
            .await
            .unwrap()
            .items
            .len();
        let accounts = Api::<ServiceAccount>::all(client.clone())
            .list_metadata(&ListParams::default().fields("metadata.name=default"))
            .await
            .unwrap()
            .items
            .len();
        let maps = Api::<ConfigMap>::all(client)
            .list_metadata(&ListParams::default().fields("metadata.name=kube-root-ca.crt"))
            .await
            .unwrap()
            .items
            .len();
        accounts >= namespaces && maps >= namespaces
    };
    let started = Instant::now();
    while !count_all(admin.clone()).await {
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "kube-controller-manager has not filled the namespaces after 10 minutes"
        );
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    started.elapsed()
}

/// Where requests go, and as whom: the server's CA and a client certificate.
#[derive(Clone)]
struct Endpoint {
    addr: SocketAddr,
    /// The Host header.
    host: String,
    server_name: ServerName<'static>,
    connector: tokio_rustls::TlsConnector,
}

/// A client certificate and key (PEM) from a kubeconfig's first user, and its first cluster's
/// URL and CA (PEM).
struct Credentials {
    server: String,
    ca_pem: Vec<u8>,
    cert_pem: Vec<u8>,
    key_pem: Vec<u8>,
}

fn credentials(kubeconfig: &Kubeconfig) -> Credentials {
    use secrecy::ExposeSecret;
    let decode = |data: &str| base64::engine::general_purpose::STANDARD.decode(data).unwrap();
    let cluster = kubeconfig.clusters[0].cluster.as_ref().unwrap();
    let auth = kubeconfig.auth_infos[0].auth_info.as_ref().unwrap();
    Credentials {
        server: cluster.server.clone().unwrap(),
        ca_pem: decode(cluster.certificate_authority_data.as_deref().unwrap()),
        cert_pem: decode(auth.client_certificate_data.as_deref().unwrap()),
        key_pem: decode(auth.client_key_data.as_ref().unwrap().expose_secret()),
    }
}

impl Endpoint {
    /// `https://host:port` trusted through `ca_pem`, presenting `cert_pem`/`key_pem`.
    fn new(url: &str, ca_pem: &[u8], cert_pem: &[u8], key_pem: &[u8]) -> Endpoint {
        let uri: hyper::Uri = url.parse().unwrap();
        let host = uri.host().unwrap().to_string();
        let port = uri.port_u16().unwrap_or(443);
        let addr: SocketAddr = format!("{host}:{port}").parse().expect("a loopback IP address");
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(ca_pem) {
            roots.add(cert.unwrap()).unwrap();
        }
        let config = rustls::ClientConfig::builder()
            .with_root_certificates(roots)
            .with_client_auth_cert(
                CertificateDer::pem_slice_iter(cert_pem)
                    .collect::<Result<Vec<_>, _>>()
                    .unwrap(),
                PrivateKeyDer::from_pem_slice(key_pem).unwrap(),
            )
            .unwrap();
        Endpoint {
            addr,
            host: format!("{host}:{port}"),
            server_name: ServerName::try_from(host).unwrap(),
            connector: tokio_rustls::TlsConnector::from(Arc::new(config)),
        }
    }

    /// One keep-alive HTTPS/1.1 connection.
    async fn connect(&self) -> SendRequest<Empty<Bytes>> {
        let tcp = tokio::net::TcpStream::connect(self.addr).await.unwrap();
        tcp.set_nodelay(true).unwrap();
        let tls = self.connector.connect(self.server_name.clone(), tcp).await.unwrap();
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tls)).await.unwrap();
        tokio::spawn(connection);
        sender
    }

    fn request(&self, path: &str) -> hyper::Request<Empty<Bytes>> {
        hyper::Request::get(path)
            .header("host", &self.host)
            .header("accept", "application/json")
            .body(Empty::new())
            .unwrap()
    }
}

/// What a measured answer must hold.
#[derive(Clone)]
enum Expect {
    Items(usize),
    Named(String),
}

/// One measured request: a path on an endpoint, and what its answer must be.
#[derive(Clone)]
struct Case {
    what: &'static str,
    via: &'static str,
    /// Who asks: the proxy's client certificate or the direct one.
    who: &'static str,
    /// The resource the API server reads, for its storage counters.
    resource: &'static str,
    endpoint: Endpoint,
    path: String,
    expect: Expect,
}

impl Case {
    fn expected(&self) -> String {
        match &self.expect {
            Expect::Items(n) => format!("{n} items"),
            Expect::Named(name) => format!("ns {name}"),
        }
    }

    /// Aborts with what was asked and answered unless the answer is a 200 with what is expected.
    fn check(&self, status: StatusCode, body: &[u8]) {
        #[derive(serde::Deserialize)]
        struct List {
            items: Vec<serde::de::IgnoredAny>,
        }
        #[derive(serde::Deserialize)]
        struct Object {
            metadata: Metadata,
        }
        #[derive(serde::Deserialize)]
        struct Metadata {
            name: String,
        }
        let shown = || String::from_utf8_lossy(&body[..body.len().min(600)]).into_owned();
        if status != StatusCode::OK {
            panic!(
                "{} via {}: GET {} answered {status}, not 200: {}",
                self.what,
                self.via,
                self.path,
                shown()
            );
        }
        let found = match &self.expect {
            Expect::Items(n) => match serde_json::from_slice::<List>(body) {
                Ok(list) if list.items.len() == *n => return,
                Ok(list) => format!("{} items", list.items.len()),
                Err(error) => format!("no list ({error})"),
            },
            Expect::Named(name) => match serde_json::from_slice::<Object>(body) {
                Ok(object) if object.metadata.name == *name => return,
                Ok(object) => format!("ns {}", object.metadata.name),
                Err(error) => format!("no object ({error})"),
            },
        };
        panic!(
            "{} via {}: GET {} answered {found}, expected {}: {}",
            self.what,
            self.via,
            self.path,
            self.expected(),
            shown()
        );
    }

    /// One request on `sender`, checked; its latency.
    async fn once(&self, sender: &mut SendRequest<Empty<Bytes>>) -> Duration {
        let started = Instant::now();
        sender.ready().await.unwrap();
        let response = sender.send_request(self.endpoint.request(&self.path)).await.unwrap();
        let status = response.status();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        let elapsed = started.elapsed();
        self.check(status, &body);
        elapsed
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// Sequential requests on one connection: WARM_UP unmeasured, then SAMPLES, sorted; and what
/// the API server's storage did for `case.resource` per measured request.
async fn sequential(case: &Case, admin: &Endpoint) -> (Vec<Duration>, Storage) {
    let mut sender = case.endpoint.connect().await;
    for _ in 0..WARM_UP {
        case.once(&mut sender).await;
    }
    let before = Storage::read(admin, case.resource).await;
    let mut latencies = Vec::with_capacity(SAMPLES);
    for _ in 0..SAMPLES {
        latencies.push(case.once(&mut sender).await);
    }
    let storage = Storage::read(admin, case.resource).await.per_request(&before, SAMPLES);
    latencies.sort();
    (latencies, storage)
}

/// The API server's storage counters for one resource (its own metrics): consistent reads the
/// watch cache served, lists read from etcd, and waits of consistent reads for the watch cache to
/// catch up with etcd (how many, how long in all). 1.37 hides `apiserver_cache_list_total`
/// (deprecated), so reads the cache served at an exact resourceVersion show in no column.
#[derive(Clone, Copy, Default)]
struct Storage {
    consistent_reads: f64,
    etcd_lists: f64,
    waits: f64,
    wait_seconds: f64,
}

impl Storage {
    async fn read(admin: &Endpoint, resource: &str) -> Storage {
        let mut sender = admin.connect().await;
        let response = sender.send_request(admin.request("/metrics")).await.unwrap();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        let text = String::from_utf8_lossy(&body);
        let label = format!("resource=\"{resource}\"");
        let sum = |metric: &str| {
            metric_sum(&text, |name| {
                name.strip_prefix(metric).is_some_and(|rest| rest.starts_with('{')) && name.contains(&label)
            })
        };
        Storage {
            consistent_reads: sum("apiserver_watch_cache_consistent_read_total"),
            etcd_lists: sum("apiserver_storage_list_duration_seconds_count"),
            waits: sum("apiserver_watch_cache_read_wait_seconds_count"),
            wait_seconds: sum("apiserver_watch_cache_read_wait_seconds_sum"),
        }
    }

    fn per_request(&self, before: &Storage, requests: usize) -> Storage {
        let n = requests as f64;
        Storage {
            consistent_reads: (self.consistent_reads - before.consistent_reads) / n,
            etcd_lists: (self.etcd_lists - before.etcd_lists) / n,
            waits: (self.waits - before.waits) / n,
            wait_seconds: (self.wait_seconds - before.wait_seconds) / n,
        }
    }
}

/// Every latency case in turn; prints one table.
async fn latency_pass(title: &str, cases: &[Case], admin: &Endpoint) {
    let mut rows = Vec::new();
    for case in cases {
        rows.push((case, sequential(case, admin).await));
    }
    println!();
    println!("{title}");
    println!(
        "{:<14} {:<7} {:<12} {:<58} {:>14} {:>9} {:>9} {:>9} | {:>6} {:>6} {:>6} {:>8}",
        "request", "via", "as", "path", "answer", "p50", "p99", "max", "c-read", "etcd", "waits", "wait"
    );
    for (case, (latencies, storage)) in rows {
        println!(
            "{:<14} {:<7} {:<12} {:<58} {:>14} {:>7.2}ms {:>7.2}ms {:>7.2}ms | {:>6.2} {:>6.2} {:>6.2} {:>6.2}ms",
            case.what,
            case.via,
            case.who,
            case.path,
            case.expected(),
            ms(percentile(&latencies, 0.50)),
            ms(percentile(&latencies, 0.99)),
            ms(*latencies.last().unwrap()),
            storage.consistent_reads,
            storage.etcd_lists,
            storage.waits,
            storage.wait_seconds * 1e3,
        );
    }
}

/// `connections` connections each sending requests back to back for `seconds`: (requests/s,
/// sorted latencies).
async fn closed_loop(case: &Case, connections: usize, seconds: u64) -> (f64, Vec<Duration>) {
    let mut senders = Vec::with_capacity(connections);
    for _ in 0..connections {
        let mut sender = case.endpoint.connect().await;
        case.once(&mut sender).await;
        senders.push(sender);
    }
    let started = Instant::now();
    let until = started + Duration::from_secs(seconds);
    let tasks: Vec<_> = senders
        .into_iter()
        .map(|mut sender| {
            let case = case.clone();
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                while Instant::now() < until {
                    latencies.push(case.once(&mut sender).await);
                }
                latencies
            })
        })
        .collect();
    let mut latencies = Vec::new();
    for task in tasks {
        match task.await {
            Ok(l) => latencies.extend(l),
            Err(error) => std::panic::resume_unwind(error.into_panic()),
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort();
    (latencies.len() as f64 / elapsed, latencies)
}

/// `palisade proxy`, the release binary, killed when dropped.
struct ProxyProcess {
    child: Child,
    port: u16,
    metrics_port: u16,
}

impl ProxyProcess {
    fn start(env: &TestEnv, write_ca: &std::path::Path) -> ProxyProcess {
        let port = common::free_port();
        let metrics_port = common::free_port();
        let child = Command::new(env!("CARGO_BIN_EXE_palisade"))
            .args([
                "proxy",
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--metrics-listen",
                &format!("127.0.0.1:{metrics_port}"),
            ])
            .arg("--client-ca-file")
            .arg(env.dir().join("ca.crt"))
            .arg("--write-ca")
            .arg(write_ca)
            .env("KUBECONFIG", env.kubeconfig_path())
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        ProxyProcess {
            child,
            port,
            metrics_port,
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// A plain-HTTP GET on the health and metrics port: the body of a 200, or `None`.
    async fn get(&self, path: &str) -> Option<String> {
        common::http_get(self.metrics_port, path).await
    }

    async fn wait_ready(&mut self) -> Duration {
        let started = Instant::now();
        while self.get("/readyz").await.is_none() {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("palisade proxy exited before it was ready: {status}");
            }
            assert!(started.elapsed() < WAIT, "palisade proxy not ready after {WAIT:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        started.elapsed()
    }

    async fn open_watches(&self) -> u64 {
        let metrics = self.get("/metrics").await.unwrap_or_default();
        metric_sum(&metrics, |name| name == "palisade_proxy_open_watches") as u64
    }
}

impl Drop for ProxyProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The sum of the samples in Prometheus text whose name (with labels) `matches`.
fn metric_sum(text: &str, matches: impl Fn(&str) -> bool) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.rsplit_once(' '))
        .filter(|(name, _)| matches(name))
        .filter_map(|(_, value)| value.parse::<f64>().ok())
        .sum()
}

/// Upstream watches of pods the API server is serving, from its own metrics (None when the
/// metric is missing).
async fn apiserver_pod_watches(admin: &Endpoint) -> Option<u64> {
    let mut sender = admin.connect().await;
    let response = sender.send_request(admin.request("/metrics")).await.ok()?;
    let body = response.into_body().collect().await.ok()?.to_bytes();
    let text = String::from_utf8_lossy(&body);
    let matches = |name: &str| {
        name.starts_with("apiserver_longrunning_requests{")
            && name.contains("resource=\"pods\"")
            && name.contains("verb=\"WATCH\"")
    };
    text.lines()
        .any(|l| matches(l.rsplit_once(' ').map_or("", |(n, _)| n)))
        .then(|| metric_sum(&text, matches) as u64)
}

/// A watch kept open: its connection, and how many ADDED events it has received.
struct OpenWatch {
    _sender: SendRequest<Empty<Bytes>>,
    added: Arc<AtomicUsize>,
    reader: tokio::task::JoinHandle<()>,
}

impl Drop for OpenWatch {
    /// Drops the response body too, which closes the connection (a dropped JoinHandle would
    /// leave the reader running, and the watch open).
    fn drop(&mut self) {
        self.reader.abort();
    }
}

async fn open_watch(endpoint: &Endpoint, path: &str) -> OpenWatch {
    let mut sender = endpoint.connect().await;
    let response = sender.send_request(endpoint.request(path)).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK, "watch {path} through the proxy");
    let added = Arc::new(AtomicUsize::new(0));
    let counter = added.clone();
    let reader = tokio::spawn(async move {
        let mut body = response.into_body();
        let mut buffer: Vec<u8> = Vec::new();
        while let Some(Ok(frame)) = body.frame().await {
            let Ok(data) = frame.into_data() else { continue };
            buffer.extend_from_slice(&data);
            while let Some(end) = buffer.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = buffer.drain(..=end).collect();
                let added = b"\"type\":\"ADDED\"";
                if line.windows(added.len()).any(|w| w == added) {
                    counter.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    });
    OpenWatch {
        _sender: sender,
        added,
        reader,
    }
}

/// Polls `check` every 100 ms until it holds; panics with `what` after WAIT.
async fn wait_until<F, Fut>(what: &str, mut check: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    while !check().await {
        assert!(started.elapsed() < WAIT, "{what}: not after {WAIT:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    started.elapsed()
}

fn main() {
    let bench_started = Instant::now();
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    let seconds: u64 = args.first().and_then(|a| a.parse().ok()).unwrap_or(10);
    let mut connections: Vec<usize> = args.iter().skip(1).filter_map(|a| a.parse().ok()).collect();
    if connections.is_empty() {
        connections = vec![1, 64];
    }
    let _ = rustls::crypto::ring::default_provider().install_default();
    let uptime = Command::new("uptime").output().map_or_else(
        |e| format!("(uptime: {e})"),
        |o| String::from_utf8_lossy(&o.stdout).trim().to_string(),
    );
    println!(
        "proxy_load: {TENANTS} tenants x {NAMESPACES_PER_TENANT} namespaces; {} cores; load at start: {uptime}",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let env = TestEnv::get().unwrap();
        let admin = env.admin_client().await.unwrap();
        palisade_testenv::install_palisade_crds(&admin).await.unwrap();

        let started = Instant::now();
        create_directory(&admin).await;
        let directory = started.elapsed();
        let started = Instant::now();
        owner_rbac_and_pods(&admin).await;
        let owner_setup = started.elapsed();
        let settled = settle(&admin).await;
        let setup_done = Instant::now();
        println!(
            "setup: {TENANTS} Tenants and {} namespaces in {:.1} s ({SETUP_CONCURRENCY} tenants at a time); owner RBAC and {} pods in {:.1} s; kube-controller-manager done with the namespaces' ServiceAccounts and ConfigMaps {:.1} s later",
            TENANTS * NAMESPACES_PER_TENANT,
            directory.as_secs_f64(),
            NAMESPACES_PER_TENANT * PODS_PER_NAMESPACE,
            owner_setup.as_secs_f64(),
            settled.as_secs_f64()
        );

        // Who talks to whom.
        let admin_credentials = credentials(&Kubeconfig::read_from(env.kubeconfig_path()).unwrap());
        let owner_credentials = credentials(&env.user_kubeconfig(OWNER, &[]).await.unwrap());
        let direct = |c: &Credentials| Endpoint::new(&admin_credentials.server, &c.ca_pem, &c.cert_pem, &c.key_pem);
        let direct_admin = direct(&admin_credentials);
        let direct_owner = direct(&owner_credentials);

        let tenant0 = tenant_name(0);
        let namespaces0 = namespaces_of(0);
        let pods = NAMESPACES_PER_TENANT * PODS_PER_NAMESPACE;
        // The owner's RBAC is in effect before anything is measured.
        let owner_pods = Case {
            what: "owner rbac",
            via: "direct",
            who: OWNER,
            resource: "pods",
            endpoint: direct_owner.clone(),
            path: format!("/api/v1/namespaces/{}/pods", namespaces0[NAMESPACES_PER_TENANT - 1]),
            expect: Expect::Items(PODS_PER_NAMESPACE),
        };
        wait_until("the owner reads its last namespace's pods directly", || async {
            let mut sender = owner_pods.endpoint.connect().await;
            let response = sender.send_request(owner_pods.endpoint.request(&owner_pods.path)).await.unwrap();
            response.status() == StatusCode::OK
        })
        .await;

        let dir = tempfile::tempdir().unwrap();
        let ca_path = dir.path().join("ca.crt");
        let mut proxy = ProxyProcess::start(env, &ca_path);
        let ready = proxy.wait_ready().await;
        let proxy_ca = std::fs::read(&ca_path).unwrap();
        let via_proxy = Endpoint::new(
            &format!("https://127.0.0.1:{}", proxy.port),
            &proxy_ca,
            &owner_credentials.cert_pem,
            &owner_credentials.key_pem,
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
        let (rss_started, hwm_started) = common::rss_kib(proxy.pid());
        let cpu_started = common::cpu_seconds(proxy.pid());

        let get_ns = |via: &'static str| match via {
            "proxy" => Case {
                what: "get ns",
                via,
                who: OWNER,
                resource: "namespaces",
                endpoint: via_proxy.clone(),
                path: "/api/v1/namespaces".into(),
                expect: Expect::Items(NAMESPACES_PER_TENANT),
            },
            _ => Case {
                what: "get ns",
                via,
                who: "admin",
                resource: "namespaces",
                endpoint: direct_admin.clone(),
                path: format!("/api/v1/namespaces?labelSelector=palisade.dev%2Ftenant%3D{tenant0}"),
                expect: Expect::Items(NAMESPACES_PER_TENANT),
            },
        };
        let get_pods = |via: &'static str| Case {
            what: "get pods -A",
            via,
            who: if via == "proxy" { OWNER } else { "admin" },
            resource: "pods",
            endpoint: if via == "proxy" {
                via_proxy.clone()
            } else {
                direct_admin.clone()
            },
            path: "/api/v1/pods".into(),
            expect: Expect::Items(pods),
        };
        let get_one = |via: &'static str| Case {
            what: "get ns NAME",
            via,
            who: OWNER,
            resource: "namespaces",
            endpoint: if via == "proxy" {
                via_proxy.clone()
            } else {
                direct_owner.clone()
            },
            path: format!("/api/v1/namespaces/{}", namespaces0[0]),
            expect: Expect::Named(namespaces0[0].clone()),
        };

        println!();
        println!(
            "palisade proxy (release): ready in {:.2} s with its directory loaded; CPU {:.2} s; RSS {:.1} MiB, peak (VmHWM) {:.1} MiB",
            ready.as_secs_f64(),
            cpu_started,
            mib(rss_started),
            mib(hwm_started)
        );

        // Memory with WATCHES merged watches of pods -A open, each WATCHES_PER upstream.
        let watch_path = "/api/v1/pods?watch=1";
        let watch_upstream_before = apiserver_pod_watches(&direct_admin).await;
        let started = Instant::now();
        let mut watches = Vec::with_capacity(WATCHES);
        for _ in 0..WATCHES {
            watches.push(open_watch(&via_proxy, watch_path).await);
        }
        let opened = started.elapsed();
        let all_events = wait_until("every watch has received the ADDED event of each pod", || {
            let done = watches.iter().all(|w| w.added.load(Ordering::Relaxed) >= pods);
            async move { done }
        })
        .await;
        let gauge = proxy.open_watches().await;
        // Let the upstream watches settle before reading memory.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let (rss_watching, hwm_watching) = common::rss_kib(proxy.pid());
        let watch_upstream = apiserver_pod_watches(&direct_admin).await;
        let extra_added: usize = watches
            .iter()
            .map(|w| w.added.load(Ordering::Relaxed).saturating_sub(pods))
            .sum();
        assert_eq!(
            gauge, WATCHES as u64,
            "palisade_proxy_open_watches should show every watch open"
        );
        drop(watches);
        let closed = wait_until("palisade_proxy_open_watches back to 0", || async {
            proxy.open_watches().await == 0
        })
        .await;
        tokio::time::sleep(Duration::from_secs(2)).await;
        let (rss_closed, _) = common::rss_kib(proxy.pid());
        let watch_upstream_after = apiserver_pod_watches(&direct_admin).await;

        // Latency, one connection, sequential; and one of the reads the proxy's get ns is made
        // of, sent directly as the owner.
        let fanout_read = Case {
            what: "1 of get ns",
            via: "direct",
            who: OWNER,
            resource: "namespaces",
            endpoint: direct_owner.clone(),
            path: format!("/api/v1/namespaces?fieldSelector=metadata.name%3D{}", namespaces0[0]),
            expect: Expect::Items(1),
        };
        let cases = [
            get_ns("proxy"),
            get_ns("direct"),
            fanout_read,
            get_pods("proxy"),
            get_pods("direct"),
            get_one("proxy"),
            get_one("direct"),
        ];
        let legend = "API server per request: consistent reads from its watch cache, lists from etcd, consistent reads that waited for the cache, total wait";
        latency_pass(
            &format!(
                "latency: 1 keep-alive connection, {SAMPLES} sequential requests after {WARM_UP} warm-up, starting {:.0} s after the control plane settled; {legend}",
                setup_done.elapsed().as_secs_f64()
            ),
            &cases,
            &direct_admin,
        )
        .await;

        // Throughput, closed loop.
        let mut throughput_rows = Vec::new();
        for &count in &connections {
            for case in [get_ns("proxy"), get_ns("direct"), get_pods("proxy"), get_pods("direct")] {
                let proxy_cpu = common::cpu_seconds(proxy.pid());
                let plane_cpu = env.pid().map_or(0.0, common::cpu_seconds);
                let own_cpu = common::cpu_seconds(std::process::id());
                let (rate, latencies) = closed_loop(&case, count, seconds).await;
                let requests = latencies.len() as f64;
                let per_request = |before: f64, after: f64| (after - before) / requests * 1e3;
                throughput_rows.push((
                    case,
                    count,
                    rate,
                    latencies,
                    per_request(proxy_cpu, common::cpu_seconds(proxy.pid())),
                    per_request(plane_cpu, env.pid().map_or(0.0, common::cpu_seconds)),
                    per_request(own_cpu, common::cpu_seconds(std::process::id())),
                ));
            }
        }
        let (rss_loaded, hwm_loaded) = common::rss_kib(proxy.pid());

        println!();
        println!(
            "throughput: closed loop, {seconds} s per row; CPU per request in ms (proxy, control plane = testenv's etcd+apiserver+kcm, bench client)"
        );
        println!(
            "{:<13} {:<7} {:>5} {:>9} {:>9} {:>9} {:>10} {:>10} {:>10}",
            "request", "via", "conns", "req/s", "p50", "p99", "proxy CPU", "plane CPU", "bench CPU"
        );
        for (case, count, rate, latencies, proxy_cpu, plane_cpu, own_cpu) in &throughput_rows {
            println!(
                "{:<13} {:<7} {count:>5} {rate:>9.0} {:>7.2}ms {:>7.2}ms {:>8.3}ms {:>8.3}ms {:>8.3}ms",
                case.what,
                case.via,
                ms(percentile(latencies, 0.50)),
                ms(percentile(latencies, 0.99)),
                if case.via == "proxy" { *proxy_cpu } else { 0.0 },
                plane_cpu,
                own_cpu,
            );
        }

        latency_pass(
            &format!(
                "latency again, after the load runs ({:.0} s after the control plane settled)",
                setup_done.elapsed().as_secs_f64()
            ),
            &cases,
            &direct_admin,
        )
        .await;

        let show = |v: Option<u64>| v.map_or("n/a".to_string(), |n| n.to_string());
        println!();
        println!(
            "proxy memory (VmRSS / VmHWM), directory of {TENANTS} tenants and {} tenant namespaces:",
            TENANTS * NAMESPACES_PER_TENANT
        );
        println!(
            "  after start-up:                 {:>7.1} MiB / {:>7.1} MiB",
            mib(rss_started),
            mib(hwm_started)
        );
        println!(
            "  {WATCHES} watches of pods -A open:     {:>7.1} MiB / {:>7.1} MiB  (+{:.1} KiB per watch; gauge palisade_proxy_open_watches {gauge}; API server pod watches {} before, {} open, {} after closing)",
            mib(rss_watching),
            mib(hwm_watching),
            (rss_watching as f64 - rss_started as f64) / WATCHES as f64,
            show(watch_upstream_before),
            show(watch_upstream),
            show(watch_upstream_after),
        );
        println!(
            "  after closing them:             {:>7.1} MiB            (gauge 0 after {:.2} s)",
            mib(rss_closed),
            closed.as_secs_f64()
        );
        println!(
            "  after the load runs:            {:>7.1} MiB / {:>7.1} MiB",
            mib(rss_loaded),
            mib(hwm_loaded)
        );
        println!(
            "  watches opened in {:.2} s; every one had its {pods} ADDED events {:.2} s later; {extra_added} ADDED events beyond those",
            opened.as_secs_f64(),
            all_events.as_secs_f64()
        );
        drop(proxy);
    });
    println!();
    println!(
        "proxy_load took {:.0} s end to end",
        bench_started.elapsed().as_secs_f64()
    );
}
