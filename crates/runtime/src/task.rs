//! Spawned work owned by whoever started it.

use std::future::Future;

/// A spawned task, aborted when dropped: a start that fails half-way drops what it spawned, and
/// nothing keeps running behind it.
pub struct Task(tokio::task::JoinHandle<()>);

impl Task {
    pub fn spawn(work: impl Future<Output = ()> + Send + 'static) -> Task {
        Task(tokio::spawn(work))
    }
}

impl Drop for Task {
    fn drop(&mut self) {
        self.0.abort();
    }
}
