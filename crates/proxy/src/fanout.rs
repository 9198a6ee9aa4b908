//! A cluster-wide read made of many reads as the user: one per namespace (or object name) in
//! the user's view, merged into one list, or multiplexed into one watch.
//!
//! Lists carry the first page's resourceVersion, and every other page is read "not older
//! than" it, so a watch from the merged version misses nothing (it may replay an event); the
//! pages of an unpaged list are read side by side. A read the API server refuses (403) is left out: the user is not allowed to see
//! it, and the view does not say it exists.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::Value;
use tokio::sync::mpsc;

use crate::Proxy;
use crate::body::{ProxyBody, full};
use crate::identity::Identity;
use crate::merge::{ContinueToken, ListShape, Merger, oldest};
use crate::plan::{Plan, ResourceInfo, Target, plan};
use crate::route::{Collection, encode_query};
use crate::status::Refusal;

/// Query parameters the fan-out sets itself for each read.
const OWN_PARAMS: [&str; 8] = [
    "watch",
    "continue",
    "limit",
    "resourceVersion",
    "resourceVersionMatch",
    "fieldSelector",
    "allowWatchBookmarks",
    "sendInitialEvents",
];

/// The Accept header for the pages, and whether the client reads Tables. Pages are JSON
/// whatever the client prefers (the proxy must read them); a client that cannot take JSON is
/// told so.
pub fn negotiate(accept: Option<&HeaderValue>) -> Result<(HeaderValue, bool), Refusal> {
    let accept = accept.and_then(|a| a.to_str().ok()).unwrap_or("application/json");
    let table = accept.split(',').any(|part| part.replace(' ', "").contains("as=Table"));
    let json = accept
        .split(',')
        .map(|part| part.split(';').next().unwrap_or_default().trim())
        .any(|media| matches!(media, "application/json" | "application/*" | "*/*" | ""));
    if !json {
        return Err(Refusal::not_acceptable(
            "lists across namespaces are served as JSON by the Palisade proxy; accept application/json",
        ));
    }
    let upstream = if table {
        HeaderValue::from_static("application/json;as=Table;v=v1;g=meta.k8s.io,application/json")
    } else {
        HeaderValue::from_static("application/json")
    };
    Ok((upstream, table))
}

/// The query of one read: the client's own parameters, the target's name narrowing, and
/// `extra`.
fn target_query(collection: &Collection, target: &Target, extra: &[(&str, String)]) -> String {
    let mut pairs: Vec<(String, String)> = collection
        .query
        .iter()
        .filter(|(k, _)| !OWN_PARAMS.contains(&k.as_str()))
        .cloned()
        .collect();
    let selectors: Vec<String> = target
        .name
        .iter()
        .map(|name| format!("metadata.name={name}"))
        .chain(
            collection
                .param("fieldSelector")
                .filter(|s| !s.is_empty())
                .map(str::to_string),
        )
        .collect();
    if !selectors.is_empty() {
        pairs.push(("fieldSelector".into(), selectors.join(",")));
    }
    pairs.extend(extra.iter().map(|(k, v)| (k.to_string(), v.clone())));
    format!("{}?{}", target.path, encode_query(&pairs))
}

/// The upstream answer, as is, for a read that failed in a way the client must see.
fn upstream_status(status: StatusCode, body: Bytes) -> Response<ProxyBody> {
    let mut response = Response::new(full(body));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// Whether a read's answer means "not yours to see" (left out of the view).
fn hidden(status: StatusCode) -> bool {
    status == StatusCode::FORBIDDEN || status == StatusCode::NOT_FOUND
}

/// What one read of a fan-out gave.
enum Read {
    /// A page to merge (a list, or a namespace read with a plain `get`).
    Page(Value),
    /// Not the user's to see.
    Hidden,
    /// An answer the client must get as is (an error of the API server's).
    Failed(Response<ProxyBody>),
}

async fn read(
    proxy: &Proxy,
    identity: &Identity,
    query: String,
    target: &Target,
    accept: &HeaderValue,
) -> Result<Read, Refusal> {
    let (status, body) = proxy.upstream.get(identity, &query, accept).await?;
    if hidden(status) {
        if status == StatusCode::FORBIDDEN
            && let Some(page) = namespace_by_get(proxy, identity, target, accept).await?
        {
            return Ok(Read::Page(page));
        }
        return Ok(Read::Hidden);
    }
    if status != StatusCode::OK {
        return Ok(Read::Failed(upstream_status(status, body)));
    }
    let page = serde_json::from_slice(&body)
        .map_err(|_| Refusal::upstream("the API server answered a list that is not JSON"))?;
    Ok(Read::Page(page))
}

/// How many reads of one unpaged list are in flight at once.
const PARALLEL_READS: usize = 8;

/// The version parameters of a read: the client's own, or, when the client named none, "not
/// older than" the first page's. Every page is then at least as new as the merged list's
/// resourceVersion (the first page's), so a watch from it may replay an event but never miss
/// one; and the API server serves such reads from its watch cache (an exact version would send
/// each name-selected read to etcd).
fn version_params(collection: &Collection, pinned: Option<&str>) -> Vec<(&'static str, String)> {
    match (collection.param("resourceVersion").filter(|v| !v.is_empty()), pinned) {
        (Some(version), _) => {
            let mut params = vec![("resourceVersion", version.to_string())];
            if let Some(matching) = collection.param("resourceVersionMatch") {
                params.push(("resourceVersionMatch", matching.to_string()));
            }
            params
        }
        (None, Some(version)) => vec![
            ("resourceVersion", version.to_string()),
            ("resourceVersionMatch", "NotOlderThan".to_string()),
        ],
        (None, None) => Vec::new(),
    }
}

pub async fn list(
    proxy: &Proxy,
    identity: &Identity,
    collection: &Collection,
    targets: Vec<Target>,
    shape: &ListShape,
    accept: &HeaderValue,
) -> Result<Response<ProxyBody>, Refusal> {
    let limit: usize = match collection.param("limit") {
        Some(l) if !l.is_empty() => l
            .parse()
            .map_err(|_| Refusal::bad_request(format!("limit={l} is not a whole number")))?,
        _ => 0,
    };
    let resume = collection
        .param("continue")
        .filter(|c| !c.is_empty())
        .map(ContinueToken::decode)
        .transpose()?;
    if limit == 0 && resume.is_none() {
        return list_whole(proxy, identity, collection, &targets, shape, accept).await;
    }
    let consistent = collection.param("resourceVersion").filter(|v| !v.is_empty()).is_none();
    let mut pinned: Option<String> = resume.as_ref().map(|r| r.resource_version.clone());
    let start = resume
        .as_ref()
        .map(|r| targets.partition_point(|t| t.key < r.target))
        .unwrap_or(0);
    let mut merger = Merger::default();
    let mut next_token = None;
    'targets: for (i, target) in targets.iter().enumerate().skip(start) {
        let mut upstream_continue = resume
            .as_ref()
            .filter(|r| r.target == target.key)
            .and_then(|r| r.upstream.clone());
        loop {
            let mut extra = match &upstream_continue {
                Some(token) => vec![("continue", token.clone())],
                None => version_params(collection, pinned.as_deref()),
            };
            if limit > 0 {
                extra.push(("limit", (limit - merger.len()).to_string()));
            }
            let query = target_query(collection, target, &extra);
            let page = match read(proxy, identity, query, target, accept).await? {
                Read::Page(page) => page,
                Read::Hidden => continue 'targets,
                Read::Failed(response) => return Ok(response),
            };
            let (_, more) = merger.add(page)?;
            if consistent && pinned.is_none() {
                pinned = merger.first_resource_version().map(str::to_string);
            }
            if limit > 0 && merger.len() >= limit {
                let version = pinned.clone().unwrap_or_default();
                next_token = match (more, targets.get(i + 1)) {
                    (Some(upstream), _) => Some(ContinueToken {
                        resource_version: version,
                        target: target.key.clone(),
                        upstream: Some(upstream),
                    }),
                    (None, Some(next)) => Some(ContinueToken {
                        resource_version: version,
                        target: next.key.clone(),
                        upstream: None,
                    }),
                    (None, None) => None,
                };
                break 'targets;
            }
            match more {
                Some(token) => upstream_continue = Some(token),
                None => break,
            }
        }
    }
    let version = if consistent { pinned } else { None };
    let merged = merger.finish(shape, version, next_token);
    Ok(upstream_status(StatusCode::OK, Bytes::from(merged.to_string())))
}

/// A list without pages: the first read pins the version, the others run side by side (in
/// order of their targets, as kubectl prints them).
async fn list_whole(
    proxy: &Proxy,
    identity: &Identity,
    collection: &Collection,
    targets: &[Target],
    shape: &ListShape,
    accept: &HeaderValue,
) -> Result<Response<ProxyBody>, Refusal> {
    use futures::StreamExt as _;
    let consistent = collection.param("resourceVersion").filter(|v| !v.is_empty()).is_none();
    let mut merger = Merger::default();
    let mut pinned: Option<String> = None;
    let mut rest = targets.iter();
    for target in rest.by_ref() {
        let query = target_query(collection, target, &version_params(collection, None));
        match read(proxy, identity, query, target, accept).await? {
            Read::Page(page) => {
                merger.add(page)?;
                pinned = merger.first_resource_version().map(str::to_string);
                if pinned.is_some() || !consistent {
                    break;
                }
            }
            Read::Hidden => {}
            Read::Failed(response) => return Ok(response),
        }
    }
    let pinned_ref = if consistent { pinned.as_deref() } else { None };
    let mut pending = Vec::new();
    for target in rest {
        let query = target_query(collection, target, &version_params(collection, pinned_ref));
        pending.push(read(proxy, identity, query, target, accept));
    }
    let reads = futures::stream::iter(pending)
        .buffered(PARALLEL_READS)
        .collect::<Vec<_>>()
        .await;
    for outcome in reads {
        match outcome? {
            Read::Page(page) => {
                merger.add(page)?;
            }
            Read::Hidden => {}
            Read::Failed(response) => return Ok(response),
        }
    }
    let version = if consistent { pinned } else { None };
    let merged = merger.finish(shape, version, None);
    Ok(upstream_status(StatusCode::OK, Bytes::from(merged.to_string())))
}

/// A namespace the user may not read by a name-selected list may still be readable with a
/// plain `get`: a RoleBinding in it (say `view`) authorizes a `get` of the namespace itself, and
/// that is how users who hold a role in a tenant namespace, without being owners, see it. The
/// object is returned as a one-entry page without a resourceVersion of its own (it is not a
/// list's). Other kinds have no such path.
async fn namespace_by_get(
    proxy: &Proxy,
    identity: &Identity,
    target: &Target,
    accept: &HeaderValue,
) -> Result<Option<Value>, Refusal> {
    let Some(name) = target.name.as_deref().filter(|_| target.path == "/api/v1/namespaces") else {
        return Ok(None);
    };
    let (status, body) = proxy
        .upstream
        .get(identity, &format!("/api/v1/namespaces/{name}"), accept)
        .await?;
    if status != StatusCode::OK {
        return Ok(None);
    }
    let mut page: Value = serde_json::from_slice(&body)
        .map_err(|_| Refusal::upstream("the API server answered a get that is not JSON"))?;
    if page.get("kind").and_then(Value::as_str) != Some("Table") {
        page = serde_json::json!({"kind": "NamespaceList", "apiVersion": "v1", "items": [page]});
    }
    if let Some(metadata) = page.get_mut("metadata").and_then(Value::as_object_mut) {
        metadata.remove("resourceVersion");
    }
    Ok(Some(page))
}

/// What a target's watch reports to the multiplexer.
enum Report {
    Event(Bytes),
    InitialEventsEnd { key: String, version: String },
    Expired,
}

/// The inputs a watch needs to re-plan its targets when the view changes.
pub struct WatchRequest {
    pub identity: Identity,
    pub collection: Collection,
    pub resource: ResourceInfo,
    pub accept: HeaderValue,
    pub table: bool,
}

/// One watch over every target, for as long as the client stays. Targets that join the
/// user's view while it is open are watched from their current state (their objects arrive as
/// ADDED); when a target leaves the view, the watch ends with `410 Expired` so that the
/// client lists again and drops what it no longer may see.
pub fn watch(proxy: Arc<Proxy>, request: WatchRequest, targets: Vec<Target>) -> Response<ProxyBody> {
    let (out, body) = mpsc::channel::<Bytes>(64);
    let supervisor = palisade_runtime::Task::spawn(multiplex(proxy, request, targets, out));
    let stream = futures::stream::unfold((body, supervisor), |(mut body, supervisor)| async move {
        body.recv().await.map(|chunk| {
            (
                Ok::<_, std::convert::Infallible>(http_body::Frame::data(chunk)),
                (body, supervisor),
            )
        })
    });
    let mut response = Response::new(crate::body::boxed(http_body_util::StreamBody::new(stream)));
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

async fn multiplex(proxy: Arc<Proxy>, request: WatchRequest, targets: Vec<Target>, out: mpsc::Sender<Bytes>) {
    let _open = proxy.metrics.open_watch();
    let (reports, mut incoming) = mpsc::channel::<Report>(256);
    let initial_events = request.collection.param("sendInitialEvents") == Some("true");
    let start_version = request.collection.param("resourceVersion").map(str::to_string);
    let mut running: BTreeMap<String, palisade_runtime::Task> = BTreeMap::new();
    let mut awaiting_initial_end: BTreeSet<String> = BTreeSet::new();
    let mut initial_versions: Vec<String> = Vec::new();
    for target in targets {
        if initial_events {
            awaiting_initial_end.insert(target.key.clone());
        }
        let task = spawn_target(&proxy, &request, target.clone(), start_version.clone(), reports.clone());
        running.insert(target.key, task);
    }
    let timeout = request
        .collection
        .param("timeoutSeconds")
        .and_then(|s| s.parse::<u64>().ok())
        .filter(|s| *s > 0)
        .map(Duration::from_secs)
        .unwrap_or(Duration::from_secs(30 * 60));
    let deadline = tokio::time::sleep(timeout);
    tokio::pin!(deadline);
    let mut changes = proxy.view.subscribe();
    changes.mark_unchanged();
    let mut replan_at: Option<tokio::time::Instant> = None;
    if initial_events && awaiting_initial_end.is_empty() {
        let _ = out.send(initial_end_bookmark(&request, "0")).await;
    }
    loop {
        tokio::select! {
            _ = &mut deadline => return,
            _ = out.closed() => return,
            report = incoming.recv() => match report {
                Some(Report::Event(line)) => {
                    if out.send(line).await.is_err() {
                        return;
                    }
                }
                Some(Report::InitialEventsEnd { key, version }) => {
                    if awaiting_initial_end.remove(&key) {
                        initial_versions.push(version);
                        if awaiting_initial_end.is_empty() {
                            let version = oldest(&initial_versions).unwrap_or_default();
                            if out.send(initial_end_bookmark(&request, &version)).await.is_err() {
                                return;
                            }
                        }
                    }
                }
                Some(Report::Expired) | None => {
                    let _ = out.send(expired_event("the watch fell too far behind; list again")).await;
                    return;
                }
            },
            changed = changes.changed(), if replan_at.is_none() => {
                if changed.is_err() {
                    return;
                }
                // Changes come in bursts (a namespace and its RoleBindings, a relist): the
                // targets are worked out again once the burst is over, not per change.
                replan_at = Some(tokio::time::Instant::now() + REPLAN_AFTER);
            }
            _ = sleep_until_some(replan_at) => {
                replan_at = None;
                changes.mark_unchanged();
                let scope = proxy.view.scope(&request.identity);
                let wanted = match plan(&scope, &request.collection, Some(&request.resource), request.table) {
                    Plan::FanOut { targets, .. } => targets,
                    Plan::PassThrough => Vec::new(),
                };
                let keys: BTreeSet<&str> = wanted.iter().map(|t| t.key.as_str()).collect();
                if running.keys().any(|key| !keys.contains(key.as_str())) {
                    let _ = out.send(expired_event("what you may see changed; list again")).await;
                    return;
                }
                for target in wanted {
                    if !running.contains_key(&target.key) {
                        let key = target.key.clone();
                        running.insert(key, spawn_target(&proxy, &request, target, None, reports.clone()));
                    }
                }
            }
        }
    }
}

/// How long after a change of the view an open watch works out its targets again.
const REPLAN_AFTER: Duration = Duration::from_millis(300);

/// Sleeps until `at`, or forever without one.
async fn sleep_until_some(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

fn spawn_target(
    proxy: &Arc<Proxy>,
    request: &WatchRequest,
    target: Target,
    version: Option<String>,
    reports: mpsc::Sender<Report>,
) -> palisade_runtime::Task {
    let proxy = proxy.clone();
    let identity = request.identity.clone();
    let collection = request.collection.clone();
    let accept = request.accept.clone();
    palisade_runtime::Task::spawn(async move {
        watch_target(&proxy, &identity, &collection, &target, version, &accept, &reports).await;
    })
}

/// Watches one target until the multiplexer drops it, reconnecting from the last version
/// seen. A 403 is waited out (a namespace that just joined the view may not have its
/// RoleBindings yet); its events never reach the client until the API server allows them.
async fn watch_target(
    proxy: &Proxy,
    identity: &Identity,
    collection: &Collection,
    target: &Target,
    mut version: Option<String>,
    accept: &HeaderValue,
    reports: &mpsc::Sender<Report>,
) {
    let mut backoff = Duration::from_millis(250);
    let mut first = true;
    let mut polled = Polled::default();
    loop {
        let mut polling = false;
        let mut extra: Vec<(&str, String)> = vec![("watch", "1".into()), ("allowWatchBookmarks", "true".into())];
        if first && collection.param("sendInitialEvents") == Some("true") {
            extra.push(("sendInitialEvents", "true".into()));
            extra.push(("resourceVersionMatch", "NotOlderThan".into()));
        }
        if let Some(v) = &version {
            extra.push(("resourceVersion", v.clone()));
        }
        let path = target_query(collection, target, &extra);
        match proxy.upstream.open(identity, &path, accept).await {
            Ok(response) if response.status() == StatusCode::OK => {
                first = false;
                backoff = Duration::from_millis(250);
                match relay(response.into_body(), &target.key, &mut version, reports).await {
                    Relay::Ended => {}
                    Relay::Expired => {
                        let _ = reports.send(Report::Expired).await;
                        return;
                    }
                    Relay::ClientGone => return,
                }
            }
            Ok(response) if response.status() == StatusCode::GONE => {
                let _ = reports.send(Report::Expired).await;
                return;
            }
            Ok(response) => {
                if hidden(response.status()) && first {
                    // Not allowed (yet): it counts as having sent its initial events.
                    let _ = reports
                        .send(Report::InitialEventsEnd {
                            key: target.key.clone(),
                            version: version.clone().unwrap_or_default(),
                        })
                        .await;
                }
                tracing::debug!(target = %target.key, status = %response.status(), "watch refused; retrying");
                if response.status() == StatusCode::FORBIDDEN {
                    match poll_namespace(proxy, identity, target, accept, &mut polled).await {
                        Some(Some(event)) => {
                            if reports.send(Report::Event(event)).await.is_err() {
                                return;
                            }
                            polling = true;
                        }
                        Some(None) => polling = true,
                        None => {}
                    }
                }
            }
            Err(refusal) => tracing::debug!(target = %target.key, error = %refusal.message, "watch failed; retrying"),
        }
        if reports.is_closed() {
            return;
        }
        if polling {
            tokio::time::sleep(POLL_EVERY).await;
        } else {
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(30));
        }
    }
}

/// How often a namespace that may be read but not watched is read again.
const POLL_EVERY: Duration = Duration::from_secs(10);

/// The last state of a polled namespace.
#[derive(Default)]
struct Polled {
    version: Option<String>,
    last: Option<Value>,
}

/// A role holder may `get` a namespace (a RoleBinding in it says so) but not watch it by name
/// (that takes a cluster-scoped grant). Such a namespace is read as the user every
/// [`POLL_EVERY`], and what changed becomes an event: ADDED the first time, MODIFIED on a new
/// version, DELETED when it is gone. `None`: the namespace cannot be read this way at all
/// (another kind, or refused); `Some(None)`: read, nothing new.
async fn poll_namespace(
    proxy: &Proxy,
    identity: &Identity,
    target: &Target,
    accept: &HeaderValue,
    polled: &mut Polled,
) -> Option<Option<Bytes>> {
    let name = target.name.as_deref().filter(|_| target.path == "/api/v1/namespaces")?;
    let (status, body) = proxy
        .upstream
        .get(identity, &format!("/api/v1/namespaces/{name}"), accept)
        .await
        .ok()?;
    let event = |kind: &str, object: &Value| {
        let mut line = serde_json::json!({"type": kind, "object": object})
            .to_string()
            .into_bytes();
        line.push(b'\n');
        Bytes::from(line)
    };
    match status {
        StatusCode::OK => {
            let object: Value = serde_json::from_slice(&body).ok()?;
            let version = object
                .pointer("/metadata/resourceVersion")
                .or_else(|| object.pointer("/rows/0/object/metadata/resourceVersion"))
                .and_then(Value::as_str)
                .map(str::to_string);
            if version.is_some() && version == polled.version {
                return Some(None);
            }
            let kind = if polled.last.is_none() { "ADDED" } else { "MODIFIED" };
            let line = event(kind, &object);
            polled.version = version;
            polled.last = Some(object);
            Some(Some(line))
        }
        StatusCode::NOT_FOUND => {
            polled.version = None;
            polled.last.take().map(|last| Some(event("DELETED", &last)))
        }
        _ => None,
    }
}

enum Relay {
    Ended,
    Expired,
    ClientGone,
}

/// Passes one upstream watch's events on, keeping the last version seen. Bookmarks stay here
/// (their versions are per target, and a client resuming from one would skip events of the
/// others), except the end of initial events, which the multiplexer combines.
async fn relay(
    mut body: kube::client::Body,
    key: &str,
    version: &mut Option<String>,
    reports: &mpsc::Sender<Report>,
) -> Relay {
    let mut buffer: Vec<u8> = Vec::new();
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else {
            return Relay::Ended;
        };
        let Ok(data) = frame.into_data() else {
            continue;
        };
        buffer.extend_from_slice(&data);
        let mut events = serde_json::Deserializer::from_slice(&buffer).into_iter::<Value>();
        let mut consumed = 0;
        let mut parsed = Vec::new();
        loop {
            match events.next() {
                Some(Ok(event)) => {
                    consumed = events.byte_offset();
                    parsed.push(event);
                }
                Some(Err(error)) if error.is_eof() => break,
                Some(Err(_)) => return Relay::Ended,
                None => break,
            }
        }
        buffer.drain(..consumed);
        for event in parsed {
            let kind = event.get("type").and_then(Value::as_str).unwrap_or_default();
            let object_version = event
                .pointer("/object/metadata/resourceVersion")
                .and_then(Value::as_str)
                .map(str::to_string);
            match kind {
                "ERROR" if event.pointer("/object/code").and_then(Value::as_u64) == Some(410) => return Relay::Expired,
                "ERROR" => return Relay::Ended,
                "BOOKMARK" => {
                    *version = object_version.or(version.take());
                    let ends_initial = event
                        .pointer("/object/metadata/annotations/k8s.io~1initial-events-end")
                        .and_then(Value::as_str)
                        == Some("true");
                    if ends_initial {
                        let report = Report::InitialEventsEnd {
                            key: key.to_string(),
                            version: version.clone().unwrap_or_default(),
                        };
                        if reports.send(report).await.is_err() {
                            return Relay::ClientGone;
                        }
                    }
                }
                _ => {
                    if object_version.is_some() {
                        *version = object_version;
                    }
                    let mut line = event.to_string().into_bytes();
                    line.push(b'\n');
                    if reports.send(Report::Event(Bytes::from(line))).await.is_err() {
                        return Relay::ClientGone;
                    }
                }
            }
        }
    }
    Relay::Ended
}

fn initial_end_bookmark(request: &WatchRequest, version: &str) -> Bytes {
    let api_version = request
        .collection
        .prefix
        .trim_start_matches("/apis/")
        .trim_start_matches("/api/")
        .to_string();
    let event = serde_json::json!({
        "type": "BOOKMARK",
        "object": {
            "kind": request.resource.kind,
            "apiVersion": api_version,
            "metadata": {"resourceVersion": version, "annotations": {"k8s.io/initial-events-end": "true"}},
        }
    });
    let mut line = event.to_string().into_bytes();
    line.push(b'\n');
    Bytes::from(line)
}

fn expired_event(message: &str) -> Bytes {
    let event = serde_json::json!({"type": "ERROR", "object": Refusal::expired(message).status_json()});
    let mut line = event.to_string().into_bytes();
    line.push(b'\n');
    Bytes::from(line)
}

#[cfg(test)]
mod tests {
    use http::Method;

    use super::*;
    use crate::route::collection;

    #[test]
    fn json_is_negotiated_and_tables_are_kept() {
        let kubectl = HeaderValue::from_static(
            "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json",
        );
        assert!(negotiate(Some(&kubectl)).unwrap().1);
        let client_go = HeaderValue::from_static("application/vnd.kubernetes.protobuf, application/json");
        assert_eq!(
            negotiate(Some(&client_go)).unwrap(),
            (HeaderValue::from_static("application/json"), false)
        );
        assert!(negotiate(None).is_ok());
        let proto_only = HeaderValue::from_static("application/vnd.kubernetes.protobuf");
        assert_eq!(negotiate(Some(&proto_only)).unwrap_err().code, 406);
    }

    #[test]
    fn each_read_is_narrowed_to_its_target_and_keeps_the_clients_selectors() {
        let c = collection(
            &Method::GET,
            "/api/v1/namespaces",
            Some("labelSelector=env%3Dprod&fieldSelector=status.phase%3DActive&limit=5&continue=x&watch=1"),
        )
        .unwrap();
        let target = Target {
            key: "a".into(),
            path: "/api/v1/namespaces".into(),
            name: Some("a".into()),
        };
        let q = target_query(&c, &target, &[("limit", "3".into())]);
        let parsed = collection(&Method::GET, "/api/v1/namespaces", q.split_once('?').map(|(_, q)| q)).unwrap();
        assert_eq!(parsed.param("labelSelector"), Some("env=prod"));
        assert_eq!(
            parsed.param("fieldSelector"),
            Some("metadata.name=a,status.phase=Active")
        );
        assert_eq!(parsed.param("limit"), Some("3"));
        assert_eq!(parsed.param("continue"), None);
        assert!(!parsed.watch);
    }
}
