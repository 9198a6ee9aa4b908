//! Host ownership, decided race-free: a hostname served through an Ingress or a Gateway API
//! object belongs to one tenant at a time, for every path. The watch cache alone cannot decide
//! it: two tenants creating the same host at the same moment both find it free there.
//!
//! So a request that serves a host first *claims* it. Claims live in one ConfigMap per parent
//! domain in Palisade's namespace (`eu.shop.example.com` and `*.shop.example.com` both under
//! `shop.example.com`): a wildcard matches exactly one more label, so every host it overlaps sits
//! in the same ConfigMap, and one compare-and-swap decides exact hosts and wildcards together.
//! A claim names the owning tenant and the objects that serve the host; a later claim by the same
//! tenant adds its object. A claim by another tenant on the same host, or on a host a wildcard
//! overlaps, is refused while the claim is fresh (within the grace period: its object may still
//! be on its way to storage), and after that while any object it lists still exists with that
//! host, read live; a claim whose objects are all gone (deleted, or refused by a later admission
//! step) is dropped. The first write creates the ConfigMap, so of two racing first claims exactly
//! one succeeds. Denials never say who holds the host.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{ApiResource, DynamicObject, PostParams};
use kube::core::GroupVersionKind;
use kube::core::admission::{AdmissionRequest, Operation};
use kube::{Api, Client};
use palisade_admission::{ClusterView, Verdict};
use palisade_api::{CollisionScope, labels};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::Index;

/// Attempts at the compare-and-swap of one claim.
const ATTEMPTS: usize = 20;

/// Who holds a host, and through which objects.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Claim {
    host: String,
    tenant: String,
    /// Unix seconds of the tenant's latest claim.
    since: i64,
    /// `<apiVersion>|<kind>|<plural>|<namespace>|<name>` of each object serving the host.
    objects: Vec<String>,
}

/// The claims under one parent domain, by host.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Claims {
    #[serde(default)]
    hosts: BTreeMap<String, Claim>,
}

/// The domain a host's claims are kept under: its name less the first label (`*` included).
fn parent_domain(host: &str) -> &str {
    host.split_once('.').map_or("", |(_, parent)| parent)
}

/// Whether claims on `a` and `b` (under one parent) cover some of the same names.
fn overlap(a: &str, b: &str) -> bool {
    a == b || a.starts_with("*.") || b.starts_with("*.")
}

/// The host claims of all tenants.
pub struct HostClaims {
    client: Client,
    namespace: String,
    grace: Duration,
}

/// The hostnames an object serves: Ingress rules and TLS entries, Gateway listeners, route
/// `hostnames`. Wildcards are claimed as written.
pub fn served_hosts(kind: &str, object: &Value) -> Vec<String> {
    let strings = |value: &Value| -> Vec<String> {
        value
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect()
    };
    let spec = &object["spec"];
    let mut hosts: Vec<String> = match kind {
        "Ingress" => spec["rules"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|rule| rule["host"].as_str().map(str::to_string))
            .chain(
                spec["tls"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .flat_map(|tls| strings(&tls["hosts"])),
            )
            .collect(),
        "Gateway" => spec["listeners"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|listener| listener["hostname"].as_str().map(str::to_string))
            .collect(),
        "HTTPRoute" | "GRPCRoute" | "TLSRoute" => strings(&spec["hostnames"]),
        _ => Vec::new(),
    };
    hosts.retain(|h| !h.is_empty());
    hosts.iter_mut().for_each(|h| *h = h.to_ascii_lowercase());
    hosts.sort();
    hosts.dedup();
    hosts
}

/// Every (host, path) an HTTPRoute serves: each hostname with each path match (`/` when a rule
/// has no path match).
fn route_paths(route: &Value) -> Vec<(String, String)> {
    let mut paths: Vec<String> = route["spec"]["rules"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|rule| {
            let matches: Vec<String> = rule["matches"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|m| m["path"]["value"].as_str().unwrap_or("/").to_string())
                .collect();
            if matches.is_empty() {
                vec!["/".to_string()]
            } else {
                matches
            }
        })
        .collect();
    if paths.is_empty() {
        paths.push("/".to_string());
    }
    paths.sort();
    paths.dedup();
    served_hosts("HTTPRoute", route)
        .into_iter()
        .flat_map(|host| paths.iter().map(move |path| (host.clone(), path.clone())))
        .collect()
}

/// Every (host, path) an Ingress serves, as the webhook's index records them.
fn ingress_paths(ingress: &Value) -> Vec<(String, String)> {
    ingress["spec"]["rules"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|rule| {
            let host = rule["host"].as_str()?.to_ascii_lowercase();
            let paths: Vec<String> = rule["http"]["paths"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|p| p["path"].as_str().unwrap_or("/").to_string())
                .collect();
            let paths = if paths.is_empty() { vec!["/".to_string()] } else { paths };
            Some(paths.into_iter().map(move |path| (host.clone(), path)))
        })
        .flatten()
        .collect()
}

fn serves_hosts(group: &str, kind: &str) -> bool {
    matches!(
        (group, kind),
        ("networking.k8s.io", "Ingress")
            | (
                "gateway.networking.k8s.io",
                "Gateway" | "HTTPRoute" | "GRPCRoute" | "TLSRoute"
            )
    )
}

impl HostClaims {
    pub fn new(client: Client, namespace: String, grace: Duration) -> Self {
        HostClaims {
            client,
            namespace,
            grace,
        }
    }

    /// The host step of a validating review that everything else allowed.
    pub async fn admit(&self, index: &Index, request: &AdmissionRequest<DynamicObject>) -> Verdict {
        if !matches!(request.operation, Operation::Create | Operation::Update)
            || !serves_hosts(&request.kind.group, &request.kind.kind)
            || request.sub_resource.as_deref().is_some_and(|s| !s.is_empty())
        {
            return Verdict::Allow;
        }
        let (Some(object), Some(namespace)) = (request.object.as_ref(), request.namespace.as_deref()) else {
            return Verdict::Allow;
        };
        let Some(tenant) = index.read().tenant_of_namespace(namespace).map(str::to_string) else {
            return Verdict::Allow;
        };
        let Ok(value) = serde_json::to_value(object) else {
            return Verdict::deny(format!("cannot read the {}", request.kind.kind));
        };
        let api_version = if request.kind.group.is_empty() {
            request.kind.version.clone()
        } else {
            format!("{}/{}", request.kind.group, request.kind.version)
        };
        let reference = format!(
            "{api_version}|{}|{}|{namespace}|{}",
            request.kind.kind, request.resource.resource, request.name
        );
        for host in served_hosts(&request.kind.kind, &value) {
            if let Err(denial) = self.claim(&host, &tenant, &reference, request.dry_run).await {
                return denial;
            }
        }
        if matches!(request.kind.kind.as_str(), "HTTPRoute" | "Ingress") {
            return self.route_collisions(index, request, &tenant, namespace, &value).await;
        }
        Verdict::Allow
    }

    /// HTTPRoutes get the Ingress's host-and-path uniqueness inside the tenant's collision scope
    /// (across tenants, host ownership already decides), against the tenant's other routes and
    /// its Ingresses, and an Ingress against the tenant's routes (Ingress against Ingress is the
    /// cache-fed rule's). Routes are not watched, so they are listed live; a cluster without the
    /// Gateway API has none.
    async fn route_collisions(
        &self,
        index: &Index,
        request: &AdmissionRequest<DynamicObject>,
        tenant: &str,
        namespace: &str,
        route: &Value,
    ) -> Verdict {
        let (scope, namespaces, ingress_routes) = {
            let view = index.read();
            let Some(policy) = view.tenant(tenant).map(|t| t.spec.ingress.collision_scope) else {
                return Verdict::Allow;
            };
            let namespaces = match policy {
                CollisionScope::Disabled => return Verdict::Allow,
                CollisionScope::Namespace => vec![namespace.to_string()],
                CollisionScope::Cluster | CollisionScope::Tenant => view.namespaces_of(tenant),
            };
            let is_route = request.kind.kind == "HTTPRoute";
            let ingress_routes: Vec<(String, String, String)> = view
                .ingress_routes()
                .into_iter()
                .filter(|r| is_route && namespaces.contains(&r.namespace))
                .map(|r| {
                    (
                        format!("Ingress {}/{}", r.namespace, r.name),
                        r.host.to_ascii_lowercase(),
                        r.path.clone(),
                    )
                })
                .collect();
            (policy, namespaces, ingress_routes)
        };
        let wanted = if request.kind.kind == "Ingress" {
            ingress_paths(route)
        } else {
            route_paths(route)
        };
        let resource = ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("gateway.networking.k8s.io", "v1", "HTTPRoute"),
            "httproutes",
        );
        let mut taken = ingress_routes;
        for listed in &namespaces {
            let api = Api::<DynamicObject>::namespaced_with(self.client.clone(), listed, &resource);
            let routes = match api.list(&Default::default()).await {
                Ok(routes) => routes,
                // No Gateway API in this cluster: no routes to collide with.
                Err(kube::Error::Api(status)) if status.code == 404 => break,
                Err(error) => {
                    return Verdict::deny(format!(
                        "Palisade cannot list the tenant's HTTPRoutes ({error}) to check host and path collisions; retry in a moment"
                    ));
                }
            };
            for other in routes.items {
                let name = other.metadata.name.clone().unwrap_or_default();
                if listed == namespace && name == request.name && request.kind.kind == "HTTPRoute" {
                    continue;
                }
                let value = serde_json::to_value(&other).unwrap_or_default();
                for (host, path) in route_paths(&value) {
                    taken.push((format!("HTTPRoute {listed}/{name}"), host, path));
                }
            }
        }
        for (host, path) in &wanted {
            if let Some((holder, _, _)) = taken.iter().find(|(_, h, p)| h == host && p == path) {
                return Verdict::deny(format!(
                    "{host}{path} is already served by {holder}; tenant \"{tenant}\" requires hosts and paths to be unique in the {}",
                    match scope {
                        CollisionScope::Namespace => "namespace",
                        _ => "tenant",
                    }
                ));
            }
        }
        Verdict::Allow
    }

    async fn claim(&self, host: &str, tenant: &str, reference: &str, dry_run: bool) -> Result<(), Verdict> {
        let api = Api::<ConfigMap>::namespaced(self.client.clone(), &self.namespace);
        let parent = parent_domain(host);
        let name = claims_name(parent);
        let taken = || {
            Verdict::deny(format!(
                "host \"{host}\" is served by another tenant (or overlaps a wildcard host that is); a host belongs to one tenant at a time, for every path (choose another host, or ask your platform team)"
            ))
        };
        let grace = i64::try_from(self.grace.as_secs()).unwrap_or(i64::MAX);
        for _ in 0..ATTEMPTS {
            let stored = api.get_opt(&name).await.map_err(|e| cannot(host, &e))?;
            let mut claims: Claims = stored.as_ref().and_then(read_claims).unwrap_or_default();
            let now = crate::ledger::unix_now();
            let others: Vec<Claim> = claims
                .hosts
                .values()
                .filter(|c| c.tenant != tenant && overlap(&c.host, host))
                .cloned()
                .collect();
            for other in others {
                let fresh = now.saturating_sub(other.since) < grace;
                if fresh || self.still_served(&other).await {
                    return Err(taken());
                }
                // Every object that served it is gone: the host is free again.
                claims.hosts.remove(&other.host);
            }
            if dry_run {
                return Ok(());
            }
            let claim = claims.hosts.entry(host.to_string()).or_insert_with(|| Claim {
                host: host.to_string(),
                tenant: tenant.to_string(),
                since: now,
                objects: Vec::new(),
            });
            let listed = claim.objects.iter().any(|o| o == reference);
            if listed && now.saturating_sub(claim.since) < grace {
                return Ok(());
            }
            if !listed {
                claim.objects.push(reference.to_string());
            }
            claim.since = now;
            let json =
                serde_json::to_string(&claims).map_err(|e| Verdict::deny(format!("cannot encode host claims: {e}")))?;
            let mut config_map = stored.unwrap_or_else(|| ConfigMap {
                metadata: kube::api::ObjectMeta {
                    name: Some(name.clone()),
                    namespace: Some(self.namespace.clone()),
                    labels: Some(BTreeMap::from([(
                        labels::MANAGED_BY.to_string(),
                        labels::MANAGED_BY_VALUE.to_string(),
                    )])),
                    annotations: Some(BTreeMap::from([(
                        "palisade.dev/domain".to_string(),
                        parent.to_string(),
                    )])),
                    ..Default::default()
                },
                ..Default::default()
            });
            config_map.data = Some(BTreeMap::from([("claims.json".to_string(), json)]));
            let written = if config_map.metadata.resource_version.is_some() {
                api.replace(&name, &PostParams::default(), &config_map).await
            } else {
                api.create(&PostParams::default(), &config_map).await
            };
            match written {
                Ok(_) => return Ok(()),
                // Someone else wrote first: decide again from what they wrote.
                Err(kube::Error::Api(status)) if status.code == 409 => continue,
                Err(error) => return Err(cannot(host, &error)),
            }
        }
        Err(Verdict::deny(format!(
            "host \"{host}\" is being claimed by several requests at once; retry in a moment"
        )))
    }

    /// Whether any object of the claim still exists and still serves its host. A failed read
    /// counts as served: never hand a host over on a guess.
    async fn still_served(&self, claim: &Claim) -> bool {
        for reference in &claim.objects {
            let parts: Vec<&str> = reference.splitn(5, '|').collect();
            let [api_version, kind, plural, namespace, name] = parts.as_slice() else {
                continue;
            };
            let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
            let resource = ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), plural);
            let api = Api::<DynamicObject>::namespaced_with(self.client.clone(), namespace, &resource);
            match api.get_opt(name).await {
                Ok(Some(object)) => {
                    let value = serde_json::to_value(&object).unwrap_or_default();
                    if served_hosts(kind, &value).contains(&claim.host) {
                        return true;
                    }
                }
                Ok(None) => {}
                Err(_) => return true,
            }
        }
        false
    }
}

fn read_claims(config_map: &ConfigMap) -> Option<Claims> {
    serde_json::from_str(config_map.data.as_ref()?.get("claims.json")?).ok()
}

/// The ConfigMap name for the claims under a parent domain (domains may be longer than a name).
fn claims_name(parent: &str) -> String {
    // FNV-1a, 64 bits: stable across versions and replicas.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in parent.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("palisade-hosts-{hash:016x}")
}

fn cannot(host: &str, error: &kube::Error) -> Verdict {
    Verdict::deny(format!(
        "Palisade cannot read or write the claim of host \"{host}\" ({error}), so it cannot tell whether another tenant serves it; retry in a moment"
    ))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use serde_json::json;

    #[test]
    fn every_place_a_host_is_served_is_found() {
        let ingress = json!({ "spec": {
            "rules": [{ "host": "Shop.Example.com" }, { "host": "a.example.com" }, {}],
            "tls": [{ "hosts": ["shop.example.com", "tls-only.example.com"] }]
        } });
        assert_eq!(
            served_hosts("Ingress", &ingress),
            vec!["a.example.com", "shop.example.com", "tls-only.example.com"]
        );
        let route = json!({ "spec": { "hostnames": ["r.example.com", "*.w.example.com"] } });
        assert_eq!(
            served_hosts("HTTPRoute", &route),
            vec!["*.w.example.com", "r.example.com"]
        );
        let gateway = json!({ "spec": { "listeners": [{ "hostname": "g.example.com" }, { "port": 80 }] } });
        assert_eq!(served_hosts("Gateway", &gateway), vec!["g.example.com"]);
        assert!(served_hosts("Service", &route).is_empty());
    }

    #[test]
    fn a_route_serves_each_hostname_at_each_path() {
        let route = json!({ "spec": { "hostnames": ["a.example.com", "b.example.com"], "rules": [
            { "matches": [{ "path": { "type": "PathPrefix", "value": "/api" } }, { "headers": [] }] },
            {}
        ] } });
        assert_eq!(
            route_paths(&route),
            vec![
                ("a.example.com".to_string(), "/".to_string()),
                ("a.example.com".to_string(), "/api".to_string()),
                ("b.example.com".to_string(), "/".to_string()),
                ("b.example.com".to_string(), "/api".to_string()),
            ]
        );
    }

    #[test]
    fn a_wildcard_and_the_hosts_it_covers_share_one_claims_object() {
        assert_eq!(parent_domain("eu.shop.example.com"), "shop.example.com");
        assert_eq!(parent_domain("*.shop.example.com"), "shop.example.com");
        assert_eq!(parent_domain("localhost"), "");
        assert!(overlap("*.shop.example.com", "eu.shop.example.com"));
        assert!(overlap("eu.shop.example.com", "*.shop.example.com"));
        assert!(overlap("eu.shop.example.com", "eu.shop.example.com"));
        assert!(!overlap("eu.shop.example.com", "us.shop.example.com"));
        let name = claims_name("shop.example.com");
        assert_eq!(name, claims_name("shop.example.com"));
        assert_ne!(name, claims_name("example.com"));
        assert!(
            name.len() <= 63
                && name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        );
    }
}
