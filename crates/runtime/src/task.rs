//! Spawned work owned by whoever started it.

use std::future::Future;

/// A spawned task, aborted when dropped: a start that fails half-way drops what it spawned, and
/// nothing keeps running behind it.
pub struct Task(tokio::task::JoinHandle<()>);

impl Task {
    pub fn spawn(work: impl Future<Output = ()> + Send + 'static) -> Task {
        Task(tokio::spawn(work))
    }

    /// Whether the work has ended (or was aborted).
    pub fn is_finished(&self) -> bool {
        self.0.is_finished()
    }
}

impl Drop for Task {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl From<tokio::task::JoinHandle<()>> for Task {
    fn from(handle: tokio::task::JoinHandle<()>) -> Task {
        Task(handle)
    }
}
