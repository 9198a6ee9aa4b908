//! HTTP: `POST /mutate` and `POST /validate` take AdmissionReview v1; `/healthz`, `/readyz` and
//! `/metrics` live on a separate plain-HTTP port.

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use kube::core::DynamicObject;
use kube::core::admission::{AdmissionRequest, AdmissionReview};
use palisade_admission::{AdmissionConfig, Verdict, review};
use palisade_runtime::Probe;
use tracing::Instrument;

use crate::metrics::ReviewLabels;
use crate::{Index, Metrics};

/// The API server sends at most a few MiB per object; anything larger is not a real review.
const MAX_BODY: usize = 4 * 1024 * 1024;

#[derive(Clone)]
pub struct AppState {
    pub index: Arc<Index>,
    pub config: Arc<AdmissionConfig>,
    pub metrics: Arc<Metrics>,
    /// Reads a namespace live when the cache does not know it yet; `None` when serving offline.
    pub client: Option<kube::Client>,
    /// The tenant-wide quota's ledgers; `None` when serving offline (no reservations).
    pub ledgers: Option<Arc<crate::Ledgers>>,
    /// Host ownership claims; `None` when serving offline.
    pub hosts: Option<Arc<crate::HostClaims>>,
}

impl AppState {
    /// The state of a webhook serving `index` as `options` say.
    pub fn new(
        options: &crate::Options,
        index: Arc<Index>,
        client: Option<kube::Client>,
        claims: Option<(Arc<crate::Ledgers>, Arc<crate::HostClaims>)>,
    ) -> AppState {
        let (ledgers, hosts) = claims.unzip();
        let metrics = Arc::new(Metrics::new(index.watch_metrics()));
        AppState {
            index,
            config: Arc::new(options.config.clone()),
            metrics,
            client,
            ledgers,
            hosts,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Mutate,
    Validate,
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/mutate", post(mutate))
        .route("/validate", post(validate))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(state)
}

async fn mutate(State(state): State<AppState>, body: Bytes) -> Response {
    handle(&state, &body, Mode::Mutate).await
}

async fn validate(State(state): State<AppState>, body: Bytes) -> Response {
    handle(&state, &body, Mode::Validate).await
}

fn bad_request(state: &AppState, message: String) -> Response {
    state.metrics.bad_requests.inc();
    (StatusCode::BAD_REQUEST, message).into_response()
}

async fn handle(state: &AppState, body: &[u8], mode: Mode) -> Response {
    let started = Instant::now();
    let review_in: AdmissionReview<DynamicObject> = match serde_json::from_slice(body) {
        Ok(review) => review,
        Err(error) => return bad_request(state, format!("not an AdmissionReview: {error}")),
    };
    if review_in.types.api_version != "admission.k8s.io/v1" || review_in.types.kind != "AdmissionReview" {
        return bad_request(
            state,
            format!(
                "expected apiVersion admission.k8s.io/v1, kind AdmissionReview; got {} {}",
                review_in.types.api_version, review_in.types.kind
            ),
        );
    }
    let request: AdmissionRequest<DynamicObject> = match review_in.try_into() {
        Ok(request) => request,
        Err(_) => return bad_request(state, "the AdmissionReview has no request".to_string()),
    };
    // One span per review: every log line of the decision, the live reads, the host claim and
    // the quota reservation carries which request it was for.
    let span = tracing::debug_span!(
        "review",
        uid = %request.uid,
        kind = %request.kind.kind,
        operation = ?request.operation,
        namespace = request.namespace.as_deref().unwrap_or_default(),
        name = %request.name,
        mode = ?mode,
    );
    decide(state, request, mode, started).instrument(span).await
}

async fn decide(state: &AppState, request: AdmissionRequest<DynamicObject>, mode: Mode, started: Instant) -> Response {
    if let (Some(client), Some(namespace)) = (&state.client, request.namespace.as_deref()) {
        // A namespace created a moment ago may not have reached the watch yet.
        state.index.ensure_namespace(client, namespace).await;
        if request.operation == kube::core::admission::Operation::Create {
            state.index.ensure_managed_quota(client, namespace).await;
        }
    }
    let verdict = if state.index.is_synced() {
        review(&request, &*state.index.read(), &state.config)
    } else {
        Verdict::deny("Palisade's webhook is still loading tenants and namespaces; retry in a few seconds")
    };
    // A validating webhook cannot patch; the mutating pass has already made the same change.
    let verdict = match (mode, verdict) {
        (Mode::Validate, Verdict::Patch(_)) => Verdict::Allow,
        (_, verdict) => verdict,
    };
    // The quota reservation comes last, in the validating pass: it sees the final object (with
    // its uid), and nothing of ours can refuse the request after it has reserved.
    let verdict = match (mode, verdict, &state.hosts) {
        (Mode::Validate, Verdict::Allow, Some(hosts)) if state.index.is_synced() => {
            hosts.admit(&state.index, &request).await
        }
        (_, verdict, _) => verdict,
    };
    let verdict = match (mode, verdict, &state.ledgers) {
        (Mode::Validate, Verdict::Allow, Some(ledgers)) if state.index.is_synced() => {
            ledgers.admit(&state.index, &request).await
        }
        (_, verdict, _) => verdict,
    };
    let label = match &verdict {
        Verdict::Allow => "allowed",
        Verdict::Deny(_) => "denied",
        Verdict::Patch(_) => "patched",
    };
    let response = verdict.into_response(&request).into_review();
    state
        .metrics
        .reviews
        .get_or_create(&ReviewLabels {
            kind: request.kind.kind.clone(),
            verdict: label.to_string(),
        })
        .inc();
    state.metrics.review_seconds.observe(started.elapsed().as_secs_f64());
    match serde_json::to_vec(&response) {
        Ok(bytes) => ([(axum::http::header::CONTENT_TYPE, "application/json")], bytes).into_response(),
        Err(error) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot encode the response: {error}"),
        )
            .into_response(),
    }
}

/// `/readyz`: caches synced; and which rules deny for want of a cluster fact.
impl Probe for AppState {
    fn readiness(&self) -> Result<String, String> {
        if !self.index.is_synced() {
            let pending = self.index.pending_kinds().join(", ");
            return Err(format!("caches not synced: waiting for the first list of {pending}"));
        }
        let missing = self.index.missing_facts(&self.config);
        if missing.is_empty() {
            Ok("ready".to_string())
        } else {
            // Ready, since every request gets an answer; but say which rules deny for want of
            // a cluster fact.
            Ok(format!("ready; {}", missing.join("; ")))
        }
    }

    fn metrics(&self) -> String {
        self.metrics.encode()
    }
}
