//! The shell every long-running verb (`palisade controller`, `palisade webhook`,
//! `palisade proxy`) runs in, so that they start, report and stop alike:
//!
//! - [`init_tracing`]: logs to stderr, text or JSON lines, filtered by `RUST_LOG`;
//! - [`block_on`]: the multi-threaded runtime, with rustls' process-wide crypto provider;
//! - [`shutdown_signal`]: SIGTERM or Ctrl-C;
//! - [`Task`]: a spawned task that is aborted when its owner is dropped, so nothing a start
//!   spawned (a watch, a renewal loop) outlives a start that failed;
//! - [`certs`]: a self-signed CA and a renewable serving certificate, for the HTTPS verbs;
//! - [`HealthServer`]: `/healthz`, `/readyz` and `/metrics` over plain HTTP, bound before
//!   anything else starts, so a taken port is an error at once rather than a log line.

pub mod certs;
mod health;
mod task;
mod verb;

pub use health::{HealthServer, Probe};
pub use task::Task;
pub use verb::verb_of;

use std::future::Future;
use std::net::SocketAddr;

/// Why the shell could not start.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot listen on {listen} for health and metrics: {source}")]
    Bind {
        listen: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot start the async runtime: {0}")]
    Runtime(#[source] std::io::Error),
}

/// Logs to stderr at `RUST_LOG` (default `info`), as JSON lines when `json`.
pub fn init_tracing(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // A second init (tests running several verbs in one process) keeps the first subscriber.
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

/// Runs `main` on a multi-threaded runtime.
pub fn block_on<T>(main: impl Future<Output = T>) -> Result<T, Error> {
    // rustls needs one process-wide crypto provider; ring is the one kube uses too. Installing
    // fails only when one is installed already, which is as good.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(Error::Runtime)?;
    Ok(runtime.block_on(main))
}

/// Resolves on SIGTERM (what Kubernetes sends) or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(term) => term,
            Err(_) => {
                let _ = ctrl_c.await;
                return;
            }
        };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
