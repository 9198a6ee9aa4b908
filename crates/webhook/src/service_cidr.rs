//! The cluster's Service CIDRs, learned from its ServiceCIDR objects (`networking.k8s.io/v1`,
//! served since Kubernetes 1.33; the API server keeps one named `kubernetes` for its
//! `--service-cluster-ip-range`, and administrators may add more). The NetworkPolicy rule refuses
//! tenant ipBlocks over these ranges, and refuses every ipBlock while none is known (unless the
//! webhook was given `--service-cidr`), so a cluster that does not serve the API is reported by
//! `/readyz` and the log instead of being guessed at.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::StreamExt;
use ipnet::IpNet;
use k8s_openapi::api::networking::v1::ServiceCIDR;
use kube::runtime::watcher::{self, Event};
use kube::{Api, Client, ResourceExt};

use crate::Index;

/// Aborts the watch when dropped, so that it ends with the watchers that started it.
pub struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Starts watching ServiceCIDRs into `index`.
pub fn spawn(client: Client, index: Arc<Index>) -> AbortOnDrop {
    AbortOnDrop(tokio::spawn(watch(client, index)))
}

/// The ranges of one ServiceCIDR; entries that do not parse are left out (the API server
/// validates them, so there are none).
pub fn cidrs_of(object: &ServiceCIDR) -> Vec<IpNet> {
    object
        .spec
        .iter()
        .flat_map(|spec| spec.cidrs.iter().flatten())
        .filter_map(|cidr| cidr.parse().ok())
        .collect()
}

async fn watch(client: Client, index: Arc<Index>) {
    let api = Api::<ServiceCIDR>::all(client);
    let mut stream = watcher::watcher(api, watcher::Config::default()).boxed();
    let mut buffer: BTreeMap<String, Vec<IpNet>> = BTreeMap::new();
    let mut failures = 0u32;
    while let Some(event) = stream.next().await {
        match event {
            Ok(Event::Init) => buffer.clear(),
            Ok(Event::InitApply(object)) => {
                buffer.insert(object.name_any(), cidrs_of(&object));
            }
            Ok(Event::InitDone) => {
                failures = 0;
                let all = std::mem::take(&mut buffer);
                tracing::info!(count = all.len(), "ServiceCIDRs synced");
                index.write(|snapshot| snapshot.service_cidrs = all);
            }
            Ok(Event::Apply(object)) => index.write(|snapshot| {
                snapshot.service_cidrs.insert(object.name_any(), cidrs_of(&object));
            }),
            Ok(Event::Delete(object)) => index.write(|snapshot| {
                snapshot.service_cidrs.remove(&object.name_any());
            }),
            Err(error) => {
                // A cluster that does not serve ServiceCIDRs fails here for good: say it once,
                // then retry quietly and slowly (the rule keeps refusing ipBlocks meanwhile).
                if failures == 0 {
                    tracing::warn!(%error, "cannot watch ServiceCIDRs (give --service-cidr if the cluster does not serve networking.k8s.io/v1 ServiceCIDR); retrying");
                }
                failures = failures.saturating_add(1);
                let wait = if failures > 5 { 30 } else { 1 };
                tokio::time::sleep(std::time::Duration::from_secs(wait)).await;
            }
        }
    }
}
