//! Health and metrics over plain HTTP, for the kubelet's probes and Prometheus.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;

use crate::{Error, Task};

/// What a verb reports about itself.
pub trait Probe: Send + Sync + 'static {
    /// `Ok(note)` when it serves (200), `Err(why not)` while it cannot (503).
    fn readiness(&self) -> Result<String, String>;
    /// The metrics, in the OpenMetrics text format.
    fn metrics(&self) -> String;
}

/// A bound, not yet serving, health and metrics listener.
pub struct HealthServer {
    listener: tokio::net::TcpListener,
}

impl HealthServer {
    /// Binds `listen` now: a taken port or a bad address fails the start.
    pub async fn bind(listen: SocketAddr) -> Result<HealthServer, Error> {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|source| Error::Bind { listen, source })?;
        Ok(HealthServer { listener })
    }

    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.listener.local_addr().ok()
    }

    /// Serves `/healthz`, `/readyz` and `/metrics` until the returned task is dropped.
    pub fn serve(self, probe: Arc<dyn Probe>) -> Task {
        if let Some(listen) = self.local_addr() {
            tracing::info!(%listen, "health and metrics listening");
        }
        let app = router(probe);
        Task::spawn(async move {
            if let Err(error) = axum::serve(self.listener, app).await {
                tracing::error!(%error, "the health and metrics server stopped");
            }
        })
    }
}

fn router(probe: Arc<dyn Probe>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(probe)
}

async fn readyz(State(probe): State<Arc<dyn Probe>>) -> (StatusCode, String) {
    match probe.readiness() {
        Ok(note) => (StatusCode::OK, note),
        Err(why) => (StatusCode::SERVICE_UNAVAILABLE, why),
    }
}

async fn metrics(State(probe): State<Arc<dyn Probe>>) -> ([(&'static str, &'static str); 1], String) {
    (
        [(
            "content-type",
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        probe.metrics(),
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::sync::atomic::{AtomicBool, Ordering};

    use http_body_util::BodyExt;
    use tower::ServiceExt;

    use super::*;

    struct Flag(AtomicBool);

    impl Probe for Flag {
        fn readiness(&self) -> Result<String, String> {
            if self.0.load(Ordering::Relaxed) {
                Ok("ready".into())
            } else {
                Err("caches not synced".into())
            }
        }
        fn metrics(&self) -> String {
            "# EOF\n".into()
        }
    }

    async fn get(app: Router, path: &str) -> (StatusCode, String) {
        let request = axum::http::Request::get(path).body(axum::body::Body::empty()).unwrap();
        let response = app.oneshot(request).await.unwrap();
        let status = response.status();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    #[tokio::test]
    async fn readiness_follows_the_probe_and_health_does_not() {
        let probe = Arc::new(Flag(AtomicBool::new(false)));
        let app = router(probe.clone());
        assert_eq!(
            get(app.clone(), "/readyz").await,
            (StatusCode::SERVICE_UNAVAILABLE, "caches not synced".into())
        );
        assert_eq!(get(app.clone(), "/healthz").await.0, StatusCode::OK);
        probe.0.store(true, Ordering::Relaxed);
        assert_eq!(get(app.clone(), "/readyz").await, (StatusCode::OK, "ready".into()));
        assert_eq!(get(app, "/metrics").await.1, "# EOF\n");
    }

    #[tokio::test]
    async fn a_taken_port_fails_the_start() {
        let first = HealthServer::bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let taken = first.local_addr().unwrap();
        let error = HealthServer::bind(taken).await.err().unwrap();
        assert!(error.to_string().contains(&taken.to_string()), "{error}");
    }
}
