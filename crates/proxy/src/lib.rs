//! `palisade proxy`: tenant users put it in their kubeconfig instead of the API server, and
//! get their own view of the cluster (`kubectl get ns`, `get tenants`, `get pods -A`), with
//! every request still authorized and audited by the API server as them.
//!
//! # Who is asking
//!
//! Every request is authenticated here before anything goes upstream ([`authn`]): a client
//! certificate verified against the cluster's client CA, or a bearer token through a
//! TokenReview whose `authenticated` flag and audiences are checked. The request then goes to
//! the API server with the proxy's connection and the user's identity as impersonation headers
//! (user, UID, groups, extra). Identity headers from the client (`Impersonate-*`,
//! `X-Remote-*`, or `Authorization` listed in `Connection`) are refused ([`headers`]). A
//! request without a credential never reaches the API server. ServiceAccounts are known by
//! their full name, `system:serviceaccount:<namespace>:<name>`, so two of the same name in
//! two tenants are two users (CVE-2023-46254 was a proxy that matched on the short name).
//!
//! # How a filtered list is authorized as the user
//!
//! RBAC cannot filter a list: a tenant owner may not `list namespaces`, because that rule
//! would show every namespace. The proxy does not read the list with its own rights and
//! filter it (that would show the user what the proxy may read, and the audit log would say
//! the proxy read it). Instead a cluster-wide read is split into reads the API server can
//! authorize as the user ([`plan`], [`fanout`]):
//!
//! - `namespaces` and `tenants`: one read per name in the user's view,
//!   `GET /api/v1/namespaces?fieldSelector=metadata.name=<name>`. The API server takes the name
//!   from that selector for authorization, and the owner ClusterRole Palisade renders grants
//!   `get`/`list`/`watch` on exactly the tenant's namespaces and Tenant by `resourceNames`.
//! - any namespaced kind across all namespaces (`get pods -A`): one read per namespace of the
//!   user's tenants, `GET /api/v1/namespaces/<ns>/pods`, authorized by the RoleBindings in it.
//! - `nodes`, `persistentvolumes` and the five class kinds: one read per name the tenant may
//!   see (`palisade_tenancy::render::visible_cluster_objects`: nodes its node selector picks,
//!   volumes claimed in its namespaces, classes its allow-lists allow), the names the owner
//!   ClusterRole grants; a kind it may see all of is passed through.
//! - a user who is not an owner but holds a role in tenant namespaces (a RoleBinding names
//!   them, their group, or their ServiceAccount) has those namespaces in the view; a namespace
//!   they may not list by name is read with a plain `get`, which a RoleBinding in it authorizes
//!   (and, for their watches, read again every 10 s, its changes sent as events).
//!
//! The pages are merged into one `List` or `Table` read at one resourceVersion, with
//! continue tokens of the proxy's own; watches are multiplexed, and a namespace that joins
//! the view joins the watch. A read the API server refuses (403) is left out.
//!
//! What the proxy's own rights decide is only *which names to ask about*: the tenant
//! directory (the same `palisade-view` index and admission [`Requester`] rule the webhook
//! uses) says which tenants the user owns or belongs to, and their namespaces. Nothing is
//! shown that the API server did not hand to the user under the user's name; an object the
//! directory wrongly put in the view is still refused by the API server, and one it missed is
//! only absent from the merged list (a direct `get` still works). The audit log records every
//! read with the proxy as `user` and the tenant user as `impersonatedUser`.
//!
//! A merged watch is ordered per target, not across targets. A client that loses the
//! connection and resumes from the last resourceVersion it saw may miss an event of another
//! namespace that was still in flight with an older version; clients that relist on
//! reconnection (kubectl, informers after a 410) do not. Per-target bookmarks are not passed on
//! for the same reason; the end of initial events (`sendInitialEvents`) is, once every target
//! has sent it.
//!
//! Kubernetes 1.34 made authorization by label and field selectors GA (KEP-4601). With an
//! authorization webhook that understands Palisade's labels, `list namespaces` with
//! `labelSelector=palisade.dev/tenant in (...)` could be authorized in one request instead of
//! one per name. That needs the API server's authorization chain configured, which managed
//! clusters do not allow; the per-name reads above need nothing but RBAC and reveal nothing
//! more, so they are the design, and the selector path is an optimization left for later.
//!
//! [`Requester`]: palisade_admission::Requester

pub mod authn;
pub mod body;
pub mod discovery;
mod error;
pub mod fanout;
pub mod forward;
pub mod headers;
pub mod identity;
pub mod merge;
pub mod metrics;
pub mod plan;
pub mod route;
pub mod server;
pub mod status;
pub mod upstream;
pub mod view;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use http::{Request, Response, header};
use hyper::body::Incoming;
use kube::Client;

pub use error::Error;
pub use server::{ClientCa, ServingTls};

use crate::authn::Authenticator;
use crate::body::ProxyBody;
use crate::discovery::Discovery;
use crate::identity::Identity;
use crate::metrics::ProxyMetrics;
use crate::plan::Plan;
use crate::status::Refusal;
use crate::upstream::Upstream;
use crate::view::ProxyView;

/// Everything a request needs, shared by all connections.
pub struct Proxy {
    pub upstream: Upstream,
    pub view: Arc<ProxyView>,
    pub discovery: Discovery,
    pub authenticator: Authenticator,
    pub metrics: ProxyMetrics,
}

/// What one request was, for its metrics and log line.
struct Served {
    verb: &'static str,
    view: &'static str,
    user: Option<String>,
}

impl Proxy {
    pub fn new(client: Client, audiences: Vec<String>) -> Proxy {
        let metrics = ProxyMetrics::default();
        Proxy {
            upstream: Upstream::new(client.clone()),
            view: Arc::new(ProxyView::default()),
            discovery: Discovery::new(client.clone()),
            authenticator: Authenticator::new(client, audiences, metrics.clone()),
            metrics,
        }
    }

    /// Serves one request; every failure is a Kubernetes `Status`.
    pub async fn handle(
        self: &Arc<Self>,
        client_certificate: Option<&[u8]>,
        request: Request<Incoming>,
    ) -> Response<ProxyBody> {
        let started = Instant::now();
        let method = request.method().clone();
        let path = request.uri().path().to_string();
        let mut served = Served {
            verb: palisade_runtime::verb_of(request.method(), request.uri().query().unwrap_or_default()),
            view: "pass-through",
            user: None,
        };
        let response = match self.serve(client_certificate, request, &mut served).await {
            Ok(response) => response,
            Err(refusal) => refusal.into_response(),
        };
        let code = response.status().as_u16();
        self.metrics
            .request(served.verb, served.view, code, started.elapsed().as_secs_f64());
        // The access log: who asked for what and what they got (`--log-json` makes it structured).
        let user = served.user.as_deref().unwrap_or("-");
        let millis = started.elapsed().as_secs_f64() * 1000.0;
        tracing::info!(user, %method, path, code, view = served.view, millis, "request");
        response
    }

    async fn serve(
        self: &Arc<Self>,
        client_certificate: Option<&[u8]>,
        request: Request<Incoming>,
        served: &mut Served,
    ) -> Result<Response<ProxyBody>, Refusal> {
        let identity = self
            .authenticator
            .authenticate(client_certificate, request.headers())
            .await?;
        served.user = Some(identity.username.clone());
        let upgrade = headers::is_upgrade(request.headers());
        let upstream_headers = headers::upstream_request_headers(request.headers(), &identity)?;
        if let Some(collection) = route::collection(request.method(), request.uri().path(), request.uri().query())
            && let Some(response) = self.filtered(&identity, collection, request.headers(), served).await?
        {
            return Ok(response);
        }
        forward::forward(self, request, upstream_headers, upgrade).await
    }

    /// The user's own view of a cluster-wide read, or `None` to pass it through.
    async fn filtered(
        self: &Arc<Self>,
        identity: &Identity,
        collection: route::Collection,
        client_headers: &http::HeaderMap,
        served: &mut Served,
    ) -> Result<Option<Response<ProxyBody>>, Refusal> {
        if !self.view.synced().is_synced() {
            return Err(Refusal::upstream(
                "the Palisade proxy is still loading the tenant directory; retry in a few seconds",
            ));
        }
        let scope = self.view.scope(identity);
        if !scope.is_tenant_user() {
            return Ok(None);
        }
        let Some(resource) = self.discovery.resource(&collection.prefix, &collection.resource).await else {
            return Ok(None);
        };
        let (accept, table) = fanout::negotiate(client_headers.get(header::ACCEPT))?;
        let Plan::FanOut { view, targets, shape } = plan::plan(&scope, &collection, Some(&resource), table) else {
            return Ok(None);
        };
        served.view = view;
        if collection.watch {
            let request = fanout::WatchRequest {
                identity: identity.clone(),
                collection,
                resource,
                accept,
                table,
            };
            return Ok(Some(fanout::watch(self.clone(), request, targets)));
        }
        fanout::list(self, identity, &collection, targets, &shape, &accept)
            .await
            .map(Some)
    }
}

/// How `palisade proxy` runs.
#[derive(Clone, Debug)]
pub struct ProxyConfig {
    pub listen: SocketAddr,
    pub health_listen: SocketAddr,
    pub serving: ServingTls,
    pub client_ca: ClientCa,
    /// Audiences bearer tokens must be valid for; empty: the API server's own.
    pub audiences: Vec<String>,
}

/// Health: ready once the tenant directory has been listed.
struct Health {
    proxy: Arc<Proxy>,
    registry: Arc<prometheus_client::registry::Registry>,
}

impl palisade_runtime::Probe for Health {
    fn readiness(&self) -> Result<String, String> {
        let pending = self.proxy.view.synced().pending();
        if pending.is_empty() {
            Ok("tenant directory loaded".to_string())
        } else {
            Err(format!("waiting for the first list of: {}", pending.join(", ")))
        }
    }
    fn metrics(&self) -> String {
        let mut text = String::new();
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}

/// A started proxy: serving until dropped.
pub struct Running {
    pub addr: SocketAddr,
    pub health_addr: Option<SocketAddr>,
    pub proxy: Arc<Proxy>,
    _tasks: Vec<palisade_runtime::Task>,
    _watches: Vec<palisade_view::driver::WatchTask>,
}

/// Starts the proxy. Binds both ports first: a taken port fails the start before any watch
/// begins.
pub async fn start(client: Client, config: ProxyConfig) -> Result<Running, Error> {
    let health = palisade_runtime::HealthServer::bind(config.health_listen).await?;
    let health_addr = health.local_addr();
    let listener = server::bind(config.listen).await?;
    let addr = listener.local_addr().map_err(|source| Error::Listen {
        listen: config.listen,
        source,
    })?;
    let acceptor = server::tls_acceptor(&client, &config.serving, &config.client_ca).await?;
    let proxy = Arc::new(Proxy::new(client.clone(), config.audiences.clone()));
    let registry = metrics::registry(&proxy.metrics, proxy.view.watch_metrics());
    let health_task = health.serve(Arc::new(Health {
        proxy: proxy.clone(),
        registry,
    }));
    let watches = view::start_watches(&client, &proxy.view);
    let serving = palisade_runtime::Task::spawn(server::serve(listener, acceptor, proxy.clone()));
    tracing::info!(listen = %addr, "palisade proxy listening");
    Ok(Running {
        addr,
        health_addr,
        proxy,
        _tasks: vec![health_task, serving],
        _watches: watches,
    })
}

/// Runs the proxy until `shutdown` resolves.
pub async fn run(
    client: Client,
    config: ProxyConfig,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), Error> {
    let _running = start(client, config).await?;
    shutdown.await;
    tracing::info!("shutting down");
    Ok(())
}
