//! The one watch driver: every watch of the webhook and the controller runs here, with kube's
//! watcher and its backoff, feeding any number of [`Sink`]s (an [`Index`] behind a lock, or a
//! sink that also wakes reconciles). Whether the view is synced is derived from the watches
//! registered, not from a hand-kept count, and every kind has its own metrics.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use futures::StreamExt;
use kube::runtime::watcher::{self, Event};
use kube::runtime::{WatchStreamExt, watcher as watch_stream};
use kube::{Api, Resource};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use serde::de::DeserializeOwned;
use tokio::sync::Notify;

use crate::Index;

/// Where a watch delivers what it sees. Implemented for an [`Index`] behind a lock; a sink with
/// side effects (waking reconciles) implements it directly.
pub trait Sink<V>: Send + Sync {
    fn apply(&self, value: V);
    fn delete(&self, value: V);
    fn reset(&self, values: Vec<V>);

    /// A sink that can take a relist one object at a time says so here, and is spared the
    /// buffer: a relist of 40,000 objects would otherwise be held whole until it ends.
    fn streaming(&self) -> Option<&dyn StreamingReset<V>> {
        None
    }
}

/// A relist taken as it arrives: what is not `relisted` between `relist_started` and
/// `relist_done` is gone (the same contract as [`Sink::reset`], without the buffer).
pub trait StreamingReset<V> {
    fn relist_started(&self);
    fn relisted(&self, value: V);
    fn relist_done(&self);
}

/// Whoever keeps an index under its own lock and does something more on each change (tell
/// open watches, count): the driver delivers into it through [`IndexSink`].
pub trait IndexHolder: Send + Sync + 'static {
    type State;
    fn change(&self, change: impl FnOnce(&mut Self::State));
}

/// Delivers each watched kind into an [`IndexHolder`]'s state.
pub struct IndexSink<H>(pub Arc<H>);

impl<H: IndexHolder> IndexSink<H> {
    /// The sinks of a watch that delivers into `holder` alone.
    pub fn of<V: Send + 'static>(holder: &Arc<H>) -> Vec<Arc<dyn Sink<V>>>
    where
        H::State: Index<V>,
    {
        vec![Arc::new(IndexSink(holder.clone()))]
    }
}

impl<V: Send, H: IndexHolder> Sink<V> for IndexSink<H>
where
    H::State: Index<V>,
{
    fn apply(&self, value: V) {
        self.0.change(|state| state.apply(value));
    }
    fn delete(&self, value: V) {
        self.0.change(|state| state.delete(value));
    }
    fn reset(&self, values: Vec<V>) {
        self.0.change(|state| state.reset(values));
    }
}

impl<V, I: Index<V> + Send + Sync> Sink<V> for RwLock<I> {
    fn apply(&self, value: V) {
        self.write().unwrap_or_else(PoisonError::into_inner).apply(value);
    }
    fn delete(&self, value: V) {
        self.write().unwrap_or_else(PoisonError::into_inner).delete(value);
    }
    fn reset(&self, values: Vec<V>) {
        self.write().unwrap_or_else(PoisonError::into_inner).reset(values);
    }
}

impl<V, I: Index<V> + Send> Sink<V> for Mutex<I> {
    fn apply(&self, value: V) {
        self.lock().unwrap_or_else(PoisonError::into_inner).apply(value);
    }
    fn delete(&self, value: V) {
        self.lock().unwrap_or_else(PoisonError::into_inner).delete(value);
    }
    fn reset(&self, values: Vec<V>) {
        self.lock().unwrap_or_else(PoisonError::into_inner).reset(values);
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EventLabels {
    kind: String,
    /// `apply`, `delete` or `relist`.
    event: String,
}

/// Per-kind metrics of the watches, registered under `<prefix>_watch_`.
#[derive(Clone, Default)]
pub struct WatchMetrics {
    events: Family<EventLabels, Counter>,
    errors: Family<KindLabels, Counter>,
    synced: Family<KindLabels, Gauge>,
    listed: Family<KindLabels, Gauge>,
}

impl WatchMetrics {
    pub fn register(&self, registry: &mut Registry) {
        let watch = registry.sub_registry_with_prefix("watch");
        watch.register(
            "events",
            "Watch events applied to the view, by kind and event (apply, delete, relist)",
            self.events.clone(),
        );
        watch.register(
            "errors",
            "Watch failures, by kind (the watch retries with backoff)",
            self.errors.clone(),
        );
        watch.register(
            "synced",
            "1 once the kind has been listed since the watch started",
            self.synced.clone(),
        );
        watch.register("listed", "Objects in the kind's last full list", self.listed.clone());
    }

    fn event(&self, kind: &str, event: &str) {
        let labels = EventLabels {
            kind: kind.to_string(),
            event: event.to_string(),
        };
        self.events.get_or_create(&labels).inc();
    }

    fn kind(kind: &str) -> KindLabels {
        KindLabels { kind: kind.to_string() }
    }
}

#[derive(Default)]
struct SyncState {
    /// Kinds that count for [`Synced::is_synced`], with whether each has been listed.
    required: BTreeMap<String, bool>,
    /// Set for views filled by hand (a fixed snapshot): synced with no watch at all.
    forced: bool,
}

impl SyncState {
    fn is_synced(&self) -> bool {
        self.forced || (!self.required.is_empty() && self.required.values().all(|listed| *listed))
    }
}

/// Whether every required watch has listed its kind at least once: a shared, cheap handle.
#[derive(Clone, Default)]
pub struct Synced {
    state: Arc<Mutex<SyncState>>,
    /// [`SyncState::is_synced`], kept with every change: every review asks, and a lock there
    /// would be one more point where concurrent reviews queue.
    synced: Arc<AtomicBool>,
    changed: Arc<Notify>,
}

impl Synced {
    fn state(&self) -> std::sync::MutexGuard<'_, SyncState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Changes the state and publishes whether it is synced now.
    fn change(&self, change: impl FnOnce(&mut SyncState)) {
        let mut state = self.state();
        change(&mut state);
        self.synced.store(state.is_synced(), Ordering::Release);
        drop(state);
        self.changed.notify_waiters();
    }

    /// True once every required kind has listed (and at least one is required), or when forced.
    pub fn is_synced(&self) -> bool {
        self.synced.load(Ordering::Acquire)
    }

    /// The required kinds not listed yet.
    pub fn pending(&self) -> Vec<String> {
        let state = self.state();
        state
            .required
            .iter()
            .filter(|(_, listed)| !**listed)
            .map(|(kind, _)| kind.clone())
            .collect()
    }

    /// Declares the view synced without watches (a fixed snapshot served offline).
    pub fn force(&self) {
        self.change(|state| state.forced = true);
    }

    /// Whether `kind` has been listed since its watch started.
    pub fn has_listed(&self, kind: &str) -> bool {
        self.state().required.get(kind).copied().unwrap_or(false)
    }

    /// Waits until `kind` has been listed.
    pub async fn listed(&self, kind: &str) {
        loop {
            let notified = self.changed.notified();
            if self.has_listed(kind) {
                return;
            }
            notified.await;
        }
    }

    /// Waits until the whole view is synced.
    pub async fn wait(&self) {
        loop {
            let notified = self.changed.notified();
            if self.is_synced() {
                return;
            }
            notified.await;
        }
    }

    fn register(&self, kind: &str) {
        self.change(|state| {
            state.required.insert(kind.to_string(), false);
        });
    }

    fn mark_listed(&self, kind: &str) {
        self.change(|state| {
            if let Some(listed) = state.required.get_mut(kind) {
                *listed = true;
            }
        });
    }

    fn unregister(&self, kind: &str) {
        self.change(|state| {
            state.required.remove(kind);
        });
    }
}

/// A running watch; dropping it stops the watch and removes its kind from [`Synced`].
pub struct WatchTask {
    task: tokio::task::JoinHandle<()>,
    kind: String,
    synced: Option<Synced>,
}

impl Drop for WatchTask {
    fn drop(&mut self) {
        self.task.abort();
        if let Some(synced) = &self.synced {
            synced.unregister(&self.kind);
        }
    }
}

/// Whether a watch counts for [`Synced`]: an optional one (an API the cluster may not serve)
/// feeds the view when it can, without holding readiness back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Needed {
    Required,
    Optional,
}

/// Starts watches and tracks them.
#[derive(Clone, Default)]
pub struct Driver {
    synced: Synced,
    metrics: WatchMetrics,
}

impl Driver {
    /// A driver reporting to `synced` and `metrics` (held by whoever serves readiness and
    /// `/metrics`).
    pub fn new(synced: Synced, metrics: WatchMetrics) -> Driver {
        Driver { synced, metrics }
    }

    pub fn synced(&self) -> Synced {
        self.synced.clone()
    }

    /// Watches `api` (narrowed by `config`) under the name `kind`, reduces each object with
    /// `reduce`, and delivers the results to every sink.
    pub fn watch<K, V>(
        &self,
        kind: &str,
        needed: Needed,
        api: Api<K>,
        config: watcher::Config,
        reduce: impl Fn(K) -> V + Send + 'static,
        sinks: Vec<Arc<dyn Sink<V>>>,
    ) -> WatchTask
    where
        K: Resource + Clone + DeserializeOwned + Debug + Send + 'static,
        V: Clone + Send + 'static,
    {
        let synced = (needed == Needed::Required).then(|| {
            self.synced.register(kind);
            self.synced.clone()
        });
        let run = Run {
            kind: kind.to_string(),
            synced: synced.clone(),
            metrics: self.metrics.clone(),
            sinks,
        };
        let events = watch_stream(api, config).default_backoff();
        WatchTask {
            task: tokio::spawn(run.pump(events, reduce)),
            kind: kind.to_string(),
            synced,
        }
    }
}

/// One watch's loop.
struct Run<V> {
    kind: String,
    synced: Option<Synced>,
    metrics: WatchMetrics,
    sinks: Vec<Arc<dyn Sink<V>>>,
}

impl<V: Clone> Run<V> {
    async fn pump<K>(
        self,
        events: impl futures::Stream<Item = Result<Event<K>, watcher::Error>>,
        reduce: impl Fn(K) -> V,
    ) {
        let mut events = std::pin::pin!(events);
        // Objects of a relist in progress, reduced: delivered at once when the list is complete
        // to the sinks that do not stream; kept only when there are such sinks.
        let mut relist: Vec<V> = Vec::new();
        let buffered = self.sinks.iter().any(|sink| sink.streaming().is_none());
        let mut failing = false;
        let mut count = 0usize;
        let labels = WatchMetrics::kind(&self.kind);
        while let Some(event) = events.next().await {
            match event {
                Ok(Event::Init) => {
                    relist.clear();
                    count = 0;
                    self.streams().for_each(StreamingReset::relist_started);
                }
                Ok(Event::InitApply(object)) => {
                    count += 1;
                    let value = reduce(object);
                    for sink in self.streams() {
                        sink.relisted(value.clone());
                    }
                    if buffered {
                        relist.push(value);
                    }
                }
                Ok(Event::InitDone) => {
                    let objects = std::mem::take(&mut relist);
                    self.metrics.listed.get_or_create(&labels).set(count as i64);
                    self.metrics.event(&self.kind, "relist");
                    self.streams().for_each(StreamingReset::relist_done);
                    self.each_buffered(objects);
                    self.metrics.synced.get_or_create(&labels).set(1);
                    if let Some(synced) = &self.synced {
                        if !synced.has_listed(&self.kind) {
                            tracing::info!(kind = %self.kind, count, "listed");
                        }
                        synced.mark_listed(&self.kind);
                    }
                    failing = false;
                }
                Ok(Event::Apply(object)) => {
                    self.metrics.event(&self.kind, "apply");
                    self.each(reduce(object), |sink, value| sink.apply(value));
                    failing = false;
                }
                Ok(Event::Delete(object)) => {
                    self.metrics.event(&self.kind, "delete");
                    self.each(reduce(object), |sink, value| sink.delete(value));
                }
                Err(error) => {
                    self.metrics.errors.get_or_create(&labels).inc();
                    // Said once per outage: a cluster that does not serve an optional kind would
                    // otherwise fill the log. The backoff spaces the retries.
                    if failing {
                        tracing::debug!(kind = %self.kind, %error, "watch still failing; retrying with backoff");
                    } else {
                        tracing::warn!(kind = %self.kind, %error, "watch failed; retrying with backoff");
                    }
                    failing = true;
                }
            }
        }
    }

    fn streams(&self) -> impl Iterator<Item = &dyn StreamingReset<V>> {
        self.sinks.iter().filter_map(|sink| sink.streaming())
    }

    /// A complete relist, to the sinks that do not stream.
    fn each_buffered(&self, objects: Vec<V>) {
        let buffered: Vec<&Arc<dyn Sink<V>>> = self.sinks.iter().filter(|s| s.streaming().is_none()).collect();
        let Some((last, rest)) = buffered.split_last() else {
            return;
        };
        for sink in rest {
            sink.reset(objects.clone());
        }
        last.reset(objects);
    }

    /// Gives `value` to every sink (cloned for all but the last).
    fn each<T: Clone>(&self, value: T, deliver: impl Fn(&dyn Sink<V>, T)) {
        let Some((last, rest)) = self.sinks.split_last() else {
            return;
        };
        for sink in rest {
            deliver(sink.as_ref(), value.clone());
        }
        deliver(last.as_ref(), value);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// Records what reached it, in order.
    #[derive(Default)]
    struct Log(Vec<String>);

    impl Index<String> for Log {
        fn apply(&mut self, object: String) {
            self.0.push(format!("apply {object}"));
        }
        fn delete(&mut self, object: String) {
            self.0.push(format!("delete {object}"));
        }
        fn reset(&mut self, objects: Vec<String>) {
            self.0.push(format!("reset [{}]", objects.join(",")));
        }
    }

    fn run(synced: &Synced, sinks: Vec<Arc<dyn Sink<String>>>, metrics: &WatchMetrics) -> Run<String> {
        synced.register("Thing");
        Run {
            kind: "Thing".into(),
            synced: Some(synced.clone()),
            metrics: metrics.clone(),
            sinks,
        }
    }

    #[tokio::test]
    async fn relists_arrive_whole_events_in_order_and_every_sink_gets_them() {
        let (first, second) = (
            Arc::new(Mutex::new(Log::default())),
            Arc::new(Mutex::new(Log::default())),
        );
        let synced = Synced::default();
        let metrics = WatchMetrics::default();
        let events: Vec<Result<Event<u32>, watcher::Error>> = vec![
            Ok(Event::Init),
            Ok(Event::InitApply(1)),
            Ok(Event::InitApply(2)),
            Ok(Event::InitDone),
            Ok(Event::Apply(3)),
            Ok(Event::Delete(1)),
            Err(watcher::Error::NoResourceVersion),
            // The watch was lost: a relist that no longer holds 2.
            Ok(Event::Init),
            Ok(Event::InitApply(3)),
            Ok(Event::InitDone),
        ];
        let sinks: Vec<Arc<dyn Sink<String>>> = vec![first.clone(), second.clone()];
        run(&synced, sinks, &metrics)
            .pump(futures::stream::iter(events), |n: u32| format!("#{n}"))
            .await;
        let want = vec!["reset [#1,#2]", "apply #3", "delete #1", "reset [#3]"];
        assert_eq!(first.lock().unwrap().0, want);
        assert_eq!(second.lock().unwrap().0, want);
        assert!(synced.is_synced());
        assert_eq!(metrics.errors.get_or_create(&WatchMetrics::kind("Thing")).get(), 1);
        assert_eq!(metrics.listed.get_or_create(&WatchMetrics::kind("Thing")).get(), 1);
    }

    #[tokio::test]
    async fn a_view_is_synced_only_once_every_required_kind_has_listed() {
        let synced = Synced::default();
        assert!(!synced.is_synced(), "nothing registered: nothing known");
        synced.register("Tenant");
        synced.register("Namespace");
        synced.mark_listed("Tenant");
        assert!(!synced.is_synced());
        assert_eq!(synced.pending(), vec!["Namespace"]);
        synced.mark_listed("Namespace");
        assert!(synced.is_synced());
        synced.listed("Namespace").await;
        // A kind that starts again (a watch restarted, a CRD installed) holds readiness back
        // until it has listed.
        synced.register("Gateway");
        assert!(!synced.is_synced());
        synced.unregister("Gateway");
        assert!(synced.is_synced());

        let offline = Synced::default();
        offline.force();
        assert!(offline.is_synced());
    }

    #[tokio::test]
    async fn a_watch_that_never_lists_keeps_the_view_unsynced() {
        let synced = Synced::default();
        let log = Arc::new(Mutex::new(Log::default()));
        let events: Vec<Result<Event<u32>, watcher::Error>> = vec![
            Err(watcher::Error::NoResourceVersion),
            Ok(Event::Init),
            Ok(Event::InitApply(1)),
        ];
        let sinks: Vec<Arc<dyn Sink<String>>> = vec![log.clone()];
        run(&synced, sinks, &WatchMetrics::default())
            .pump(futures::stream::iter(events), |n: u32| format!("#{n}"))
            .await;
        assert!(log.lock().unwrap().0.is_empty(), "half a list is never delivered");
        assert!(!synced.is_synced());
        assert_eq!(synced.pending(), vec!["Thing"]);
    }

    /// Takes relists object by object.
    #[derive(Default)]
    struct Streamed(Mutex<Vec<String>>);

    impl Streamed {
        fn log(&self, line: String) {
            self.0.lock().unwrap().push(line);
        }
    }

    impl Sink<String> for Streamed {
        fn apply(&self, object: String) {
            self.log(format!("apply {object}"));
        }
        fn delete(&self, object: String) {
            self.log(format!("delete {object}"));
        }
        fn reset(&self, _: Vec<String>) {
            self.log("reset (never called for a streaming sink)".into());
        }
        fn streaming(&self) -> Option<&dyn StreamingReset<String>> {
            Some(self)
        }
    }

    impl StreamingReset<String> for Streamed {
        fn relist_started(&self) {
            self.log("started".into());
        }
        fn relisted(&self, object: String) {
            self.log(format!("relisted {object}"));
        }
        fn relist_done(&self) {
            self.log("done".into());
        }
    }

    #[tokio::test]
    async fn a_streaming_sink_takes_a_relist_as_it_arrives_and_the_others_whole() {
        let streamed = Arc::new(Streamed::default());
        let buffered = Arc::new(Mutex::new(Log::default()));
        let events: Vec<Result<Event<u32>, watcher::Error>> = vec![
            Ok(Event::Init),
            Ok(Event::InitApply(1)),
            Ok(Event::InitApply(2)),
            Ok(Event::InitDone),
            Ok(Event::Apply(3)),
        ];
        let sinks: Vec<Arc<dyn Sink<String>>> = vec![streamed.clone(), buffered.clone()];
        let synced = Synced::default();
        run(&synced, sinks, &WatchMetrics::default())
            .pump(futures::stream::iter(events), |n: u32| format!("#{n}"))
            .await;
        assert_eq!(
            *streamed.0.lock().unwrap(),
            vec!["started", "relisted #1", "relisted #2", "done", "apply #3"]
        );
        assert_eq!(buffered.lock().unwrap().0, vec!["reset [#1,#2]", "apply #3"]);
        assert!(synced.is_synced());
    }
}
