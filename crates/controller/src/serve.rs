//! Health and metrics on a plain-HTTP port: `/healthz` (the process runs), `/readyz` (leading
//! with full caches, or standing by as a healthy standby) and `/metrics`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;

use crate::metrics::Metrics;

#[derive(Clone)]
struct Health {
    metrics: Arc<Metrics>,
    ready: Arc<AtomicBool>,
}

/// Serves until the task is dropped; errors only when the port cannot be bound.
pub async fn serve_health(
    listener: tokio::net::TcpListener,
    metrics: Arc<Metrics>,
    ready: Arc<AtomicBool>,
) -> Result<(), std::io::Error> {
    let app = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
        .with_state(Health { metrics, ready });
    if let Ok(listen) = listener.local_addr() {
        tracing::info!(%listen, "health and metrics listening");
    }
    axum::serve(listener, app).await
}

async fn readyz(State(health): State<Health>) -> (StatusCode, &'static str) {
    if health.ready.load(Ordering::Relaxed) {
        (StatusCode::OK, "ready")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "filling caches")
    }
}

async fn metrics_text(State(health): State<Health>) -> ([(&'static str, &'static str); 1], String) {
    (
        [(
            "content-type",
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        health.metrics.encode(),
    )
}
