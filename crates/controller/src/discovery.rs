//! What the cluster offers the renderer: which optional APIs (Istio, Linkerd, Cilium, Calico,
//! AdminNetworkPolicy) it serves, where the API server really listens, and where cluster DNS
//! runs. Refreshed periodically and soon after any CustomResourceDefinition changes, so a mesh
//! installed after Palisade is picked up without a restart.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::ListParams;
use kube::{Api, Client};
use palisade_tenancy::ClusterFacts;
use palisade_tenancy::render::{ApiServerEndpoint, AvailableApis, DnsFacts};

use crate::Error;
use crate::kinds::{MANAGED_KINDS, ManagedKind};

/// What discovery found: the facts the renderer needs and the managed kinds served.
#[derive(Debug, Clone, PartialEq)]
pub struct Discovered {
    pub facts: ClusterFacts,
    pub served: BTreeSet<(&'static str, &'static str)>,
}

impl Discovered {
    pub fn serves(&self, kind: &ManagedKind) -> bool {
        kind.built_in || self.served.contains(&(kind.api_version, kind.kind))
    }

    /// Every managed kind the cluster serves.
    pub fn served_kinds(&self) -> Vec<&'static ManagedKind> {
        MANAGED_KINDS.iter().filter(|k| self.serves(k)).collect()
    }
}

/// Asks the API server which optional APIs it serves, where it listens and where DNS runs.
/// `dns` overrides the DNS lookup when the platform team set it.
pub async fn discover(client: &Client, dns: Option<&DnsFacts>) -> Result<Discovered, Error> {
    let groups = client.list_api_groups().await.map_err(Error::Discover)?;
    let group_versions: BTreeSet<String> = groups
        .groups
        .iter()
        .flat_map(|g| g.versions.iter().map(|v| v.group_version.clone()))
        .collect();
    let mut served = BTreeSet::new();
    let mut resources: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for kind in MANAGED_KINDS.iter().filter(|k| !k.built_in) {
        if !group_versions.contains(kind.api_version) {
            continue;
        }
        if !resources.contains_key(kind.api_version) {
            let list = client
                .list_api_group_resources(kind.api_version)
                .await
                .map_err(Error::Discover)?;
            resources.insert(kind.api_version, list.resources.into_iter().map(|r| r.kind).collect());
        }
        if resources
            .get(kind.api_version)
            .is_some_and(|kinds| kinds.contains(kind.kind))
        {
            served.insert((kind.api_version, kind.kind));
        }
    }
    let has = |api_version: &str, kind: &str| served.contains(&(api_version, kind));
    let apis = AvailableApis {
        admin_network_policy: has("policy.networking.k8s.io/v1alpha1", "AdminNetworkPolicy"),
        cilium: has("cilium.io/v2", "CiliumClusterwideNetworkPolicy"),
        calico: has("projectcalico.org/v3", "NetworkPolicy"),
        istio: has("security.istio.io/v1", "PeerAuthentication") && has("security.istio.io/v1", "AuthorizationPolicy"),
        linkerd: has("policy.linkerd.io/v1beta3", "Server")
            && has("policy.linkerd.io/v1alpha1", "MeshTLSAuthentication")
            && has("policy.linkerd.io/v1alpha1", "AuthorizationPolicy"),
    };
    let dns = match dns {
        Some(dns) => dns.clone(),
        None => cluster_dns(client).await,
    };
    let facts = ClusterFacts {
        api_server: api_server_endpoints(client).await,
        apis,
        dns,
    };
    Ok(Discovered { facts, served })
}

/// The endpoints behind the `kubernetes` Service (what a NetworkPolicy sees after DNAT).
async fn api_server_endpoints(client: &Client) -> Vec<ApiServerEndpoint> {
    let slices = Api::<EndpointSlice>::namespaced(client.clone(), "default");
    let list = match slices
        .list(&ListParams::default().labels("kubernetes.io/service-name=kubernetes"))
        .await
    {
        Ok(list) => list,
        Err(error) => {
            tracing::warn!(%error, "cannot read the API server's endpoints; tenants granted API access get no rule for it");
            return Vec::new();
        }
    };
    let mut endpoints = BTreeSet::new();
    for slice in list.items {
        let ports: Vec<u16> = slice
            .ports
            .iter()
            .flatten()
            .filter_map(|p| p.port.and_then(|p| u16::try_from(p).ok()))
            .collect();
        for address in slice.endpoints.iter().flatten().flat_map(|e| e.addresses.iter()) {
            if let Ok(ip) = address.parse() {
                endpoints.extend(ports.iter().map(|&port| ApiServerEndpoint { ip, port }));
            }
        }
    }
    endpoints.into_iter().collect()
}

/// Where cluster DNS runs: the pods the `kube-system/kube-dns` Service selects (CoreDNS keeps
/// that Service name). Without it, the conventional `k8s-app: kube-dns`.
async fn cluster_dns(client: &Client) -> DnsFacts {
    let fallback = DnsFacts::default();
    let service = match Api::<Service>::namespaced(client.clone(), &fallback.namespace)
        .get_opt("kube-dns")
        .await
    {
        Ok(service) => service,
        Err(error) => {
            tracing::warn!(%error, "cannot read the kube-dns Service; assuming DNS pods labelled k8s-app=kube-dns");
            return fallback;
        }
    };
    match service.and_then(|s| s.spec).and_then(|s| s.selector) {
        Some(selector) if !selector.is_empty() => DnsFacts {
            namespace: fallback.namespace,
            pod_labels: selector,
        },
        _ => fallback,
    }
}
