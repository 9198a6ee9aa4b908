//! The I/O half of the tenant-wide quota: one ledger ConfigMap per tenant, written with
//! optimistic concurrency. The design and why it neither overshoots nor leaks is in
//! `palisade_admission::quota`; this module reads, checks, reserves and retries.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{ApiResource, DynamicObject, PostParams};
use kube::core::GroupVersionKind;
use kube::core::admission::AdmissionRequest;
use kube::{Api, Client};
use palisade_admission::quota::{self, Asked, Ledger, Reservation};
use palisade_admission::usage::{self, Counted, Usage};
use palisade_admission::{ClusterView, Verdict};
use palisade_api::labels;

use crate::Index;

/// The key in the ConfigMap's data holding the ledger as JSON.
const DATA_KEY: &str = "ledger.json";
/// Attempts at the compare-and-swap before giving up; each conflict means another admission of
/// the same tenant got in first, so this bounds a burst, not a steady state.
const ATTEMPTS: usize = 40;

/// The ledgers of all tenants.
pub struct Ledgers {
    client: Client,
    /// Where the ledger ConfigMaps live (Palisade's own namespace).
    namespace: String,
    /// How long a reservation is trusted before it is checked against the API server: longer
    /// than every admission step after ours can take.
    grace: Duration,
    /// Per tenant: the requests waiting for the next group commit, and the ledger this replica
    /// last wrote. Replicas contend through the ledger; a replica never contends with itself.
    queues: Mutex<HashMap<String, Arc<TenantQueue>>>,
}

#[derive(Default)]
struct TenantQueue {
    waiting: Mutex<Vec<Waiting>>,
    writer: tokio::sync::Mutex<Option<ConfigMap>>,
}

struct Waiting {
    asked: Asked,
    dry_run: bool,
    answer: tokio::sync::oneshot::Sender<Verdict>,
}

impl Ledgers {
    pub fn new(client: Client, namespace: String, grace: Duration) -> Self {
        Ledgers {
            client,
            namespace,
            grace,
            queues: Mutex::new(HashMap::new()),
        }
    }

    /// The quota step of a validating review that everything else allowed.
    ///
    /// Requests of one tenant are committed in groups: whoever holds the tenant's writer lock
    /// decides every request waiting at that moment, in order, against one read of the ledger,
    /// and writes all their reservations at once. Under a burst that is one ledger write per
    /// group instead of one per request; alone, it is one write (the ledger this replica last
    /// wrote is reused, and read again only when another replica changed it).
    pub async fn admit(&self, index: &Index, request: &AdmissionRequest<DynamicObject>) -> Verdict {
        let asked = {
            let view = index.read();
            match quota::ask(request, &*view) {
                Ok(Some(asked)) => asked,
                Ok(None) => return Verdict::Allow,
                Err(denial) => return denial,
            }
        };
        let tenant = asked.tenant.clone();
        let queue = {
            let mut queues = self.queues.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            queues.entry(tenant.clone()).or_default().clone()
        };
        let (answer, mut verdict) = tokio::sync::oneshot::channel();
        queue
            .waiting
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(Waiting {
                asked,
                dry_run: request.dry_run,
                answer,
            });
        let mut last_written = queue.writer.lock().await;
        // A group committed while this request waited may have decided it already.
        if let Ok(decided) = verdict.try_recv() {
            return decided;
        }
        let group = std::mem::take(&mut *queue.waiting.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
        let verdicts = self.commit(index, &tenant, &group, &mut last_written).await;
        for (waiting, decided) in group.into_iter().zip(verdicts) {
            let _ = waiting.answer.send(decided);
        }
        drop(last_written);
        verdict.await.unwrap_or_else(|_| {
            Verdict::deny(format!(
                "tenant \"{tenant}\": Palisade lost track of this request while checking the tenant's quota; retry"
            ))
        })
    }

    /// Decides `group` in order and writes their reservations in one compare-and-swap, starting
    /// over from a fresh read when another replica wrote first.
    async fn commit(
        &self,
        index: &Index,
        tenant: &str,
        group: &[Waiting],
        last_written: &mut Option<ConfigMap>,
    ) -> Vec<Verdict> {
        let api = Api::<ConfigMap>::namespaced(self.client.clone(), &self.namespace);
        let name = ledger_name(tenant);
        for _ in 0..ATTEMPTS {
            let from_cache = last_written.is_some();
            let stored = match last_written.take() {
                Some(cached) => Some(cached),
                None => match api.get_opt(&name).await {
                    Ok(stored) => stored,
                    Err(error) => return vec![cannot("read", tenant, &error); group.len()],
                },
            };
            let mut ledger = match stored
                .as_ref()
                .and_then(|c| c.data.as_ref())
                .and_then(|d| d.get(DATA_KEY))
            {
                Some(json) => match serde_json::from_str::<Ledger>(json) {
                    Ok(ledger) => ledger,
                    Err(error) => {
                        tracing::warn!(%tenant, %error, "unreadable quota ledger; starting a new one");
                        Ledger::default()
                    }
                },
                None => Ledger::default(),
            };
            let now = unix_now();
            let settled = self.settle_old_reservations(index, tenant, &mut ledger, now).await;
            let mut observed = index.read().observed_usage(tenant);
            let mut listed = Vec::new();
            for waiting in group {
                if let Some(kind) = &waiting.asked.listed_live
                    && !listed.contains(&kind.plural)
                {
                    listed.push(kind.plural.clone());
                    let resource = ApiResource::from_gvk_with_plural(
                        &GroupVersionKind::gvk(&kind.group, &kind.version, &kind.kind),
                        &kind.plural,
                    );
                    match self.list_live(index, tenant, &resource).await {
                        Ok(objects) => observed.extend(objects),
                        Err(error) => return vec![cannot("count the objects of", tenant, &error); group.len()],
                    }
                }
            }
            let namespaces = index.read().namespaces_of(tenant).len();
            let mut verdicts = Vec::with_capacity(group.len());
            let mut reserved = false;
            for waiting in group {
                let reserve = !waiting.dry_run;
                let verdict = quota::admit_into(&waiting.asked, &observed, namespaces, &mut ledger, now, reserve);
                reserved |= reserve && verdict.is_allowed();
                verdicts.push(verdict);
            }
            if !reserved && !settled {
                if from_cache {
                    // Nothing to write, so nothing proved the cached ledger current: a denial
                    // (or a dry run's answer) must come from a fresh read.
                    continue;
                }
                *last_written = stored;
                return verdicts;
            }
            let json = match serde_json::to_string(&ledger) {
                Ok(json) => json,
                Err(error) => {
                    return vec![Verdict::deny(format!("cannot encode the quota ledger: {error}")); group.len()];
                }
            };
            let mut config_map = stored.unwrap_or_else(|| ConfigMap {
                metadata: kube::api::ObjectMeta {
                    name: Some(name.clone()),
                    namespace: Some(self.namespace.clone()),
                    labels: Some(labels::managed_labels(tenant)),
                    ..Default::default()
                },
                ..Default::default()
            });
            config_map.data = Some(BTreeMap::from([(DATA_KEY.to_string(), json)]));
            let written = if config_map.metadata.resource_version.is_some() {
                api.replace(&name, &PostParams::default(), &config_map).await
            } else {
                api.create(&PostParams::default(), &config_map).await
            };
            match written {
                Ok(written) => {
                    *last_written = Some(written);
                    return verdicts;
                }
                Err(kube::Error::Api(status)) if status.code == 409 => {
                    // Another replica wrote first: read again, after a little jitter.
                    let jitter = u64::from(
                        SystemTime::now()
                            .duration_since(UNIX_EPOCH)
                            .map_or(0, |d| d.subsec_nanos())
                            % 20,
                    );
                    tokio::time::sleep(Duration::from_millis(1 + jitter)).await;
                }
                Err(error) => {
                    let failed = cannot("write", tenant, &error);
                    return verdicts
                        .into_iter()
                        .map(|v| if v.is_allowed() { failed.clone() } else { v })
                        .collect();
                }
            }
        }
        vec![
            Verdict::deny(format!(
                "tenant \"{tenant}\": too many concurrent requests competing for its quota right now; retry in a moment"
            ));
            group.len()
        ]
    }

    /// The objects of a kind the watches do not follow, in every namespace of the tenant, as
    /// observed usage (each counts one of its kind).
    async fn list_live(
        &self,
        index: &Index,
        tenant: &str,
        resource: &ApiResource,
    ) -> Result<BTreeMap<String, Usage>, kube::Error> {
        let namespaces = index.read().namespaces_of(tenant);
        let counted = Counted {
            group: &resource.group,
            kind: &resource.kind,
            resource: &resource.plural,
        };
        let mut observed = BTreeMap::new();
        for namespace in namespaces {
            let api = Api::<DynamicObject>::namespaced_with(self.client.clone(), &namespace, resource);
            for object in api.list_metadata(&Default::default()).await?.items {
                let Some(uid) = object.metadata.uid.clone() else {
                    continue;
                };
                let value = serde_json::json!({ "metadata": object.metadata });
                if let Ok(used) = usage::usage(&counted, &value) {
                    observed.insert(quota::object_key(&resource.plural, &uid), used);
                }
            }
        }
        Ok(observed)
    }

    /// Reservations past the grace period are settled against the API server: the object exists
    /// and the watch counts it, or it never came to be (a later admission step refused it); in
    /// both cases the reservation goes. One that exists but that the watch has not delivered
    /// yet stays.
    async fn settle_old_reservations(&self, index: &Index, tenant: &str, ledger: &mut Ledger, now: i64) -> bool {
        let grace = i64::try_from(self.grace.as_secs()).unwrap_or(i64::MAX);
        let old: Vec<(String, Reservation)> = ledger
            .reservations
            .iter()
            .filter(|(_, r)| now.saturating_sub(r.since) >= grace)
            .map(|(k, r)| (k.clone(), r.clone()))
            .collect();
        let mut settled = false;
        let observed = index.read().observed_usage(tenant);
        for (key, reservation) in old {
            if observed.contains_key(&key) || !self.still_pending(&key, &reservation).await {
                ledger.reservations.remove(&key);
                settled = true;
            }
        }
        settled
    }

    /// Whether the reserved object exists with the reserved identity (so the reservation must
    /// stay until the watch delivers it). A failed read keeps it: never undercount.
    async fn still_pending(&self, key: &str, reservation: &Reservation) -> bool {
        let mut parts = reservation.object.splitn(4, '|');
        let (Some(api_version), Some(kind), Some(plural), Some(name)) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return false;
        };
        if kind == "Namespace" {
            return match Api::<Namespace>::all(self.client.clone()).get_opt(name).await {
                Ok(found) => found.is_some(),
                Err(_) => true,
            };
        }
        let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
        let resource = ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), plural);
        let api = Api::<DynamicObject>::namespaced_with(self.client.clone(), &reservation.namespace, &resource);
        match api.get_opt(name).await {
            Ok(Some(object)) => object
                .metadata
                .uid
                .is_some_and(|uid| quota::object_key(plural, &uid) == key),
            Ok(None) => false,
            Err(_) => true,
        }
    }
}

fn cannot(verb: &str, tenant: &str, error: &kube::Error) -> Verdict {
    Verdict::deny(format!(
        "Palisade cannot {verb} the quota ledger of tenant \"{tenant}\" ({error}), so it cannot tell whether this request fits the tenant's quota; retry in a moment"
    ))
}

fn ledger_name(tenant: &str) -> String {
    format!("palisade-quota-ledger-{tenant}")
}

pub(crate) fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}
