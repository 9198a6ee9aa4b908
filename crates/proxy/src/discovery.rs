//! Whether a resource is namespaced, and its kind: asked of the API server's discovery
//! (with the proxy's credentials; discovery is readable by every authenticated user) per
//! group-version, remembered for a few minutes. A resource discovery does not know is
//! passed through, and the API server answers for it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::APIResourceList;
use kube::Client;

use crate::plan::ResourceInfo;

const FRESH_FOR: Duration = Duration::from_secs(300);
/// A group-version that lacked a resource is not asked again sooner than this (a client
/// naming resources that do not exist must not turn into a discovery storm).
const MISS_RETRY: Duration = Duration::from_secs(10);

type Resources = HashMap<String, ResourceInfo>;

pub struct Discovery {
    client: Client,
    cache: Mutex<HashMap<String, (Instant, Arc<Resources>)>>,
}

impl Discovery {
    pub fn new(client: Client) -> Discovery {
        Discovery {
            client,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// `prefix` is `/api/v1` or `/apis/<group>/<version>`.
    pub async fn resource(&self, prefix: &str, resource: &str) -> Option<ResourceInfo> {
        if let Some((fetched, resources)) = self.cached(prefix) {
            let found = resources.get(resource).cloned();
            let stale = fetched.elapsed() > FRESH_FOR || (found.is_none() && fetched.elapsed() > MISS_RETRY);
            if !stale {
                return found;
            }
        }
        let resources = Arc::new(self.fetch(prefix).await?);
        let found = resources.get(resource).cloned();
        self.cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(prefix.to_string(), (Instant::now(), resources));
        found
    }

    fn cached(&self, prefix: &str) -> Option<(Instant, Arc<Resources>)> {
        let cache = self.cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        cache.get(prefix).map(|(at, resources)| (*at, resources.clone()))
    }

    async fn fetch(&self, prefix: &str) -> Option<Resources> {
        let request = http::Request::get(prefix).body(Vec::new()).ok()?;
        match self.client.request::<APIResourceList>(request).await {
            Ok(list) => Some(
                list.resources
                    .into_iter()
                    .filter(|r| !r.name.contains('/'))
                    .map(|r| {
                        (
                            r.name,
                            ResourceInfo {
                                namespaced: r.namespaced,
                                kind: r.kind,
                            },
                        )
                    })
                    .collect(),
            ),
            Err(error) => {
                tracing::debug!(prefix, %error, "discovery failed; passing the request through");
                None
            }
        }
    }
}
