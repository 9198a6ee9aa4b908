//! Host ownership against the real API server: two tenants racing for one host end with exactly
//! one holder, for Ingresses and HTTPRoutes alike; a host passes to another tenant only once no
//! object of its holder serves it; one tenant's namespaces share their hosts.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failure should stop the test loudly

mod common;

use std::time::Duration;

use common::*;
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::api::networking::v1::Ingress;
use kube::api::{ApiResource, DeleteParams, DynamicObject, GroupVersionKind, PostParams};
use kube::{Api, Client};
use serde_json::{Value, json};

const HOSTS: &str = "ingress: { hostnames: [\"*.race.example.com\", \"*.route.example.com\"] }";

async fn tenant_namespace(cluster: &Cluster, prefix: &str) -> (String, Client) {
    let (_, namespace, owner) = cluster.tenant_with_namespace(prefix, "web", HOSTS).await;
    (namespace, owner)
}

fn ingress(name: &str, host: &str) -> Ingress {
    serde_json::from_value(
        json!({ "metadata": { "name": name }, "spec": { "rules": [{ "host": host, "http": { "paths": [
        { "path": "/", "pathType": "Prefix", "backend": { "service": { "name": "web", "port": { "number": 80 } } } }
    ] } }] } }),
    )
    .unwrap()
}

fn routes(client: &Client, namespace: &str) -> Api<DynamicObject> {
    let resource = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("gateway.networking.k8s.io", "v1", "HTTPRoute"),
        "httproutes",
    );
    Api::namespaced_with(client.clone(), namespace, &resource)
}

/// The API server serves HTTPRoutes (through a schemaless stand-in for the Gateway API CRD).
async fn serve_http_routes(cluster: &Cluster) {
    palisade_testenv::install_stand_in_crd(
        &cluster.admin,
        palisade_testenv::StandInKind {
            api_version: "gateway.networking.k8s.io/v1",
            kind: "HTTPRoute",
            plural: "httproutes",
            namespaced: true,
        },
    )
    .await
    .unwrap();
}

fn route(name: &str, host: &str) -> DynamicObject {
    serde_json::from_value(
        json!({ "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
        "metadata": { "name": name }, "spec": { "parentRefs": [{ "name": "shared" }], "hostnames": [host] } }),
    )
    .unwrap()
}

#[tokio::test]
async fn fifty_racing_pairs_of_ingresses_leave_one_holder_per_host() {
    let cluster = Cluster::start().await;
    let (first, first_owner) = tenant_namespace(&cluster, "racea").await;
    let (second, second_owner) = tenant_namespace(&cluster, "raceb").await;
    let suffix = unique("h");
    let mut both_or_neither = Vec::new();
    for pair in 0..50 {
        let host = format!("{suffix}-{pair}.race.example.com");
        let a = Api::<Ingress>::namespaced(first_owner.clone(), &first);
        let b = Api::<Ingress>::namespaced(second_owner.clone(), &second);
        let object = ingress(&format!("i{pair}"), &host);
        let params = PostParams::default();
        let (ra, rb) = tokio::join!(a.create(&params, &object), b.create(&params, &object));
        if ra.is_ok() == rb.is_ok() {
            both_or_neither.push((pair, ra.map(|_| ()), rb.map(|_| ())));
            continue;
        }
        if let Some(error) = ra.err().or(rb.err()) {
            let message = error.to_string();
            assert!(
                message.contains("is served by another tenant") || message.contains("is already served"),
                "{message}"
            );
        }
    }
    assert!(
        both_or_neither.is_empty(),
        "pairs without exactly one winner: {both_or_neither:?}"
    );
    let stored = |namespace: &str| {
        let api = Api::<Ingress>::namespaced(cluster.admin.clone(), namespace);
        async move { api.list(&Default::default()).await.unwrap().items.len() }
    };
    assert_eq!(stored(&first).await + stored(&second).await, 50);
}

#[tokio::test]
async fn fifty_racing_pairs_of_http_routes_leave_one_holder_per_host() {
    let cluster = Cluster::start().await;
    serve_http_routes(&cluster).await;
    let (first, first_owner) = tenant_namespace(&cluster, "routea").await;
    let (second, second_owner) = tenant_namespace(&cluster, "routeb").await;
    let suffix = unique("r");
    let mut winners = Vec::new();
    for pair in 0..50 {
        let host = format!("{suffix}-{pair}.route.example.com");
        let (a, b) = (routes(&first_owner, &first), routes(&second_owner, &second));
        let object = route(&format!("r{pair}"), &host);
        let params = PostParams::default();
        let (ra, rb) = tokio::join!(a.create(&params, &object), b.create(&params, &object));
        winners.push(usize::from(ra.is_ok()) + usize::from(rb.is_ok()));
    }
    assert!(winners.iter().all(|w| *w == 1), "winners per host: {winners:?}");
    let stored = routes(&cluster.admin, &first)
        .list(&Default::default())
        .await
        .unwrap()
        .items
        .len()
        + routes(&cluster.admin, &second)
            .list(&Default::default())
            .await
            .unwrap()
            .items
            .len();
    assert_eq!(stored, 50);
}

#[tokio::test]
async fn a_host_passes_on_only_once_its_holder_serves_it_no_more() {
    let cluster = Cluster::start().await;
    let (holder, holder_owner) = tenant_namespace(&cluster, "holder").await;
    let (taker, taker_owner) = tenant_namespace(&cluster, "taker").await;
    let host = format!("{}.race.example.com", unique("moving"));
    let held = Api::<Ingress>::namespaced(holder_owner.clone(), &holder);
    held.create(&PostParams::default(), &ingress("site", &host))
        .await
        .unwrap();
    let taking = Api::<Ingress>::namespaced(taker_owner.clone(), &taker);
    // Still served, however long ago it was claimed.
    tokio::time::sleep(RESERVATION_GRACE + Duration::from_secs(1)).await;
    let refused = taking.create(&PostParams::default(), &ingress("site", &host)).await;
    let message = refused.expect_err("the host was taken while served").to_string();
    // Refused by the cache-fed rule or by the claim, whichever sees it first.
    assert!(
        message.contains("is served by another tenant") || message.contains("already served outside this tenant"),
        "{message}"
    );
    assert!(!message.contains(&holder), "{message} names the holder");
    // The holder's own second namespace shares it.
    held.delete("site", &DeleteParams::default()).await.unwrap();
    palisade_testenv::eventually("the taker to get the host", WAIT, || {
        let taking = taking.clone();
        let host = host.clone();
        async move {
            taking
                .create(&PostParams::default(), &ingress("site", &host))
                .await
                .ok()
        }
    })
    .await
    .unwrap();
    let back: Result<Ingress, kube::Error> = held.create(&PostParams::default(), &ingress("again", &host)).await;
    assert!(back.is_err(), "the host went back while the taker serves it");
}

#[tokio::test]
async fn a_tenants_namespaces_share_their_hosts() {
    let cluster = Cluster::start().await;
    let (tenant, owner) = cluster.tenant_with("sharing", "{ forcePrefix: true }", HOSTS).await;
    let host = format!("{}.race.example.com", unique("shared"));
    let mut stored: Vec<Value> = Vec::new();
    for (index, path) in ["/a", "/b"].iter().enumerate() {
        let namespace = format!("{tenant}-n{index}");
        Api::<Namespace>::all(owner.clone())
            .create(&PostParams::default(), &namespace_object(&namespace))
            .await
            .unwrap();
        cluster.wait_for_namespace_count(&tenant, index + 1).await;
        let mut object = serde_json::to_value(ingress("site", &host)).unwrap();
        object["spec"]["rules"][0]["http"]["paths"][0]["path"] = json!(path);
        let object: Ingress = serde_json::from_value(object).unwrap();
        let created = Api::<Ingress>::namespaced(owner.clone(), &namespace)
            .create(&PostParams::default(), &object)
            .await
            .unwrap();
        stored.push(serde_json::to_value(created).unwrap());
    }
    assert_eq!(stored.len(), 2);
}

/// Tenant hostnames allowing, for each of `domains`, the wildcard `*.<domain>` and every host it
/// covers (a pattern `*.x` admits `*.x` itself and one more label).
fn wildcard_spec(domains: &[String]) -> String {
    let patterns: Vec<String> = domains.iter().map(|d| format!("\"*.{d}\"")).collect();
    format!(
        "ingress: {{ hostnames: [{}], allowWildcardHosts: true }}",
        patterns.join(", ")
    )
}

#[tokio::test]
async fn a_wildcard_host_and_the_hosts_it_covers_belong_to_one_tenant() {
    let cluster = Cluster::start().await;
    let domains = [
        format!("{}.wild.example.com", unique("one")),
        format!("{}.wild.example.com", unique("two")),
    ];
    let spec = wildcard_spec(&domains);
    let (_, first, first_owner) = cluster.tenant_with_namespace("wilda", "web", &spec).await;
    let (_, second, second_owner) = cluster.tenant_with_namespace("wildb", "web", &spec).await;
    let a = Api::<Ingress>::namespaced(first_owner.clone(), &first);
    let b = Api::<Ingress>::namespaced(second_owner.clone(), &second);
    // A wildcard held: the hosts it covers are not another tenant's to take.
    a.create(&PostParams::default(), &ingress("wild", &format!("*.{}", domains[0])))
        .await
        .unwrap();
    let covered = b
        .create(&PostParams::default(), &ingress("eu", &format!("eu.{}", domains[0])))
        .await;
    let message = covered
        .expect_err("a host under another tenant's wildcard was taken")
        .to_string();
    assert!(message.contains("overlaps a wildcard host"), "{message}");
    // A host held: no other tenant's wildcard may cover it.
    b.create(&PostParams::default(), &ingress("us", &format!("us.{}", domains[1])))
        .await
        .unwrap();
    let covering = a
        .create(&PostParams::default(), &ingress("wild2", &format!("*.{}", domains[1])))
        .await;
    assert!(covering.is_err(), "a wildcard over another tenant's host was admitted");
    // The compliant twin: the holder serves hosts under its own wildcard.
    a.create(&PostParams::default(), &ingress("eu", &format!("eu.{}", domains[0])))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_wildcard_and_a_host_it_covers_racing_leave_one_holder() {
    let cluster = Cluster::start().await;
    let domains: Vec<String> = (0..20)
        .map(|i| format!("{}.wide.example.com", unique(&format!("d{i}"))))
        .collect();
    let spec = wildcard_spec(&domains);
    let (_, first, first_owner) = cluster.tenant_with_namespace("wracea", "web", &spec).await;
    let (_, second, second_owner) = cluster.tenant_with_namespace("wraceb", "web", &spec).await;
    let a = Api::<Ingress>::namespaced(first_owner.clone(), &first);
    let b = Api::<Ingress>::namespaced(second_owner.clone(), &second);
    let mut winners = Vec::new();
    for (pair, domain) in domains.iter().enumerate() {
        let wild = ingress(&format!("w{pair}"), &format!("*.{domain}"));
        let exact = ingress(&format!("e{pair}"), &format!("eu.{domain}"));
        let params = PostParams::default();
        let (ra, rb) = tokio::join!(a.create(&params, &wild), b.create(&params, &exact));
        winners.push(usize::from(ra.is_ok()) + usize::from(rb.is_ok()));
    }
    assert!(winners.iter().all(|w| *w == 1), "winners per domain: {winners:?}");
}

#[tokio::test]
async fn http_routes_keep_host_and_path_unique_inside_the_tenant() {
    let cluster = Cluster::start().await;
    serve_http_routes(&cluster).await;
    let (tenant, owner) = cluster.tenant_with("paths", "{ forcePrefix: true }", HOSTS).await;
    let mut namespaces = Vec::new();
    for index in 0..2 {
        let namespace = format!("{tenant}-n{index}");
        Api::<Namespace>::all(owner.clone())
            .create(&PostParams::default(), &namespace_object(&namespace))
            .await
            .unwrap();
        cluster.wait_for_namespace_count(&tenant, index + 1).await;
        namespaces.push(namespace);
    }
    let host = format!("{}.route.example.com", unique("p"));
    let with_path = |name: &str, path: &str| -> DynamicObject {
        serde_json::from_value(
            json!({ "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
            "metadata": { "name": name }, "spec": { "parentRefs": [{ "name": "shared" }], "hostnames": [host],
            "rules": [{ "matches": [{ "path": { "type": "PathPrefix", "value": path } }] }] } }),
        )
        .unwrap()
    };
    routes(&owner, &namespaces[0])
        .create(&PostParams::default(), &with_path("api", "/api"))
        .await
        .unwrap();
    let same = routes(&owner, &namespaces[1])
        .create(&PostParams::default(), &with_path("api", "/api"))
        .await;
    expect_denied(
        same,
        &[&format!(
            "{host}/api is already served by HTTPRoute {}/api",
            namespaces[0]
        )],
    );
    assert!(
        routes(&cluster.admin, &namespaces[1])
            .get_opt("api")
            .await
            .unwrap()
            .is_none()
    );
    // An Ingress of the tenant holds a path too.
    Api::<Ingress>::namespaced(owner.clone(), &namespaces[0])
        .create(&PostParams::default(), &ingress("site", &host))
        .await
        .unwrap();
    expect_denied(
        routes(&owner, &namespaces[1])
            .create(&PostParams::default(), &with_path("root", "/"))
            .await,
        &["is already served by Ingress"],
    );
    // The compliant twin: another path.
    routes(&owner, &namespaces[1])
        .create(&PostParams::default(), &with_path("web", "/web"))
        .await
        .unwrap();
    // And an Ingress cannot take a path a route of the tenant serves.
    let mut taken = serde_json::to_value(ingress("web", &host)).unwrap();
    taken["spec"]["rules"][0]["http"]["paths"][0]["path"] = json!("/web");
    let taken: Ingress = serde_json::from_value(taken).unwrap();
    expect_denied(
        Api::<Ingress>::namespaced(owner.clone(), &namespaces[0])
            .create(&PostParams::default(), &taken)
            .await,
        &[&format!(
            "{host}/web is already served by HTTPRoute {}/web",
            namespaces[1]
        )],
    );
}
