//! Tenant-written NetworkPolicies, tried as an attacker would: peerless rules, port-only rules,
//! selectors that reach outside the tenant, granted tenants named by hand, ipBlocks over pod and
//! Service ranges. Each attack has its compliant twin, and no denial says whose a namespace is.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failure should stop the test loudly

mod common;

use common::*;
use kube::core::DynamicObject;
use kube::core::admission::{AdmissionRequest, AdmissionReview};
use palisade_admission::{AdmissionConfig, Snapshot};
use serde_json::{Value, json};

fn policy(spec: Value) -> Review {
    Review::new("NetworkPolicy", "CREATE", Some("payments-api"), "open").object(json!({ "spec": spec }))
}

fn from(peer: Value) -> Value {
    json!({ "podSelector": {}, "ingress": [{ "from": [peer] }] })
}

fn to(peer: Value) -> Value {
    json!({ "podSelector": {}, "policyTypes": ["Egress"], "egress": [{ "to": [peer] }] })
}

fn ns(selector: Value) -> Value {
    json!({ "namespaceSelector": selector })
}

/// payments, granted ingress from the platform namespace `monitoring`.
fn with_monitoring_grant() -> Snapshot {
    let mut payments = tenant(PAYMENTS);
    payments.spec.network.allow_from.namespaces = vec!["monitoring".into()];
    cluster().with_tenant(payments)
}

#[test]
fn peerless_and_port_only_rules_are_refused_in_both_directions() {
    let attacks = [
        (
            "ingress",
            json!({ "podSelector": {}, "ingress": [{}] }),
            "has no `from`",
        ),
        (
            "ingress",
            json!({ "podSelector": {}, "ingress": [{ "from": [] }] }),
            "has no `from`",
        ),
        (
            "ingress",
            json!({ "podSelector": {}, "ingress": [{ "ports": [{ "port": 8080 }] }] }),
            "has only `ports` and no `from`",
        ),
        (
            "egress",
            json!({ "podSelector": {}, "policyTypes": ["Egress"], "egress": [{}] }),
            "has no `to`",
        ),
        (
            "egress",
            json!({ "podSelector": {}, "policyTypes": ["Egress"], "egress": [{ "to": [] }] }),
            "has no `to`",
        ),
        (
            "egress",
            json!({ "podSelector": {}, "policyTypes": ["Egress"],
                "egress": [{ "ports": [{ "protocol": "UDP", "port": 53 }, { "protocol": "TCP", "port": 53 }] }] }),
            "has only `ports` and no `to`",
        ),
    ];
    for (direction, spec, shape) in attacks {
        let verdict = policy(spec.clone()).decide();
        denied(
            verdict.clone(),
            &[
                &format!("NetworkPolicy \"open\" {direction} rule 1 {shape}"),
                "allows every pod of every namespace (other tenants' included)",
                "palisade.dev/tenant: payments",
                "except: [10.244.0.0/16, 10.96.0.0/12]",
            ],
        );
        never_names(verdict, &["storefront", "frozen"]);
    }
    // DNS is pointed at what Palisade already renders.
    denied(
        policy(json!({ "podSelector": {}, "egress": [{ "ports": [{ "protocol": "UDP", "port": 53 }] }] })).decide(),
        &["already allowed by Palisade (palisade-allow-dns)"],
    );
    // The second rule is numbered as such, after a compliant first one.
    denied(
        policy(json!({ "podSelector": {}, "ingress": [
            { "from": [{ "podSelector": {} }] },
            { "ports": [{ "port": 80 }] }
        ] }))
        .decide(),
        &["ingress rule 2 has only `ports`"],
    );
    // A policy with no rules at all (default deny) and empty lists allow nothing: fine.
    allowed(policy(json!({ "podSelector": {}, "policyTypes": ["Ingress", "Egress"] })).decide());
    allowed(policy(json!({ "podSelector": {}, "ingress": [], "egress": [] })).decide());
    // The compliant twins of the peerless rules.
    allowed(
        policy(json!({ "podSelector": {}, "ingress": [{
            "from": [
                { "namespaceSelector": { "matchLabels": { "palisade.dev/tenant": "payments" } } },
                { "ipBlock": { "cidr": "0.0.0.0/0", "except": ["10.244.0.0/16", "10.96.0.0/12"] } }
            ],
            "ports": [{ "port": 8080 }]
        }] }))
        .decide(),
    );
    allowed(policy(to(json!({ "podSelector": { "matchLabels": { "app": "db" } } }))).decide());
}

#[test]
fn peerless_rules_are_refused_on_update_and_for_tenants_without_isolation_too() {
    let update = Review::new("NetworkPolicy", "UPDATE", Some("payments-api"), "open")
        .old(json!({ "spec": from(json!({ "podSelector": {} })) }))
        .object(json!({ "spec": { "podSelector": {}, "ingress": [{}] } }));
    denied(update.decide(), &["has no `from`"]);

    // A tenant with isolation None is open today, but what it stores stays when it moves to Strict.
    let mut snapshot = cluster();
    let mut payments = tenant(PAYMENTS);
    payments.spec.network.isolation = palisade_api::IsolationMode::None;
    snapshot = snapshot.with_tenant(payments);
    denied(
        policy(json!({ "podSelector": {}, "egress": [{}] })).decide_in(&snapshot),
        &["has no `to`"],
    );
}

#[test]
fn selectors_that_reach_outside_the_tenant_are_refused() {
    let attacks = [
        (ns(json!({})), "does not pin palisade.dev/tenant: payments"),
        (
            ns(json!({ "matchLabels": { "team": "x" } })),
            "does not pin palisade.dev/tenant: payments",
        ),
        (
            ns(json!({ "matchExpressions": [{ "key": "palisade.dev/tenant", "operator": "DoesNotExist" }] })),
            "matches kube-system, default, palisade-system",
        ),
        (
            ns(
                json!({ "matchExpressions": [{ "key": "palisade.dev/tenant", "operator": "NotIn", "values": ["payments"] }] }),
            ),
            "matches kube-system, default, palisade-system",
        ),
        (
            ns(json!({ "matchExpressions": [{ "key": "palisade.dev/tenant", "operator": "Exists" }] })),
            "does not pin palisade.dev/tenant: payments",
        ),
        (
            ns(json!({ "matchLabels": { "kubernetes.io/metadata.name": "kube-system" } })),
            "selects namespace \"kube-system\", which is neither one of this tenant's namespaces nor granted to it",
        ),
        (
            json!({ "namespaceSelector": { "matchLabels": { "kubernetes.io/metadata.name": "kube-system" } },
                    "podSelector": { "matchLabels": { "k8s-app": "kube-dns" } } }),
            "selects namespace \"kube-system\"",
        ),
        (
            ns(json!({ "matchLabels": { "kubernetes.io/metadata.name": "monitoring" } })),
            "selects namespace \"monitoring\", which is neither",
        ),
        (
            ns(json!({ "matchLabels": { "kubernetes.io/metadata.name": "frozen-a" } })),
            "selects namespace \"frozen-a\", which is neither",
        ),
        (
            ns(json!({ "matchLabels": { "kubernetes.io/metadata.name": "not-yet" } })),
            "selects namespace \"not-yet\", which is neither",
        ),
        (
            // The tenant's own namespace by name alone would follow the name to its next holder.
            ns(json!({ "matchLabels": { "kubernetes.io/metadata.name": "payments-jobs" } })),
            "add palisade.dev/tenant: payments to the same selector",
        ),
        (
            // A granted tenant named by hand would outlive the grant.
            ns(json!({ "matchLabels": { "palisade.dev/tenant": "storefront" } })),
            "selects namespaces labelled palisade.dev/tenant=storefront",
        ),
        (
            ns(
                json!({ "matchExpressions": [{ "key": "palisade.dev/tenant", "operator": "In", "values": ["payments", "frozen"] }] }),
            ),
            "selects namespaces labelled palisade.dev/tenant=frozen",
        ),
    ];
    for (peer, fragment) in attacks {
        for spec in [from(peer.clone()), to(peer.clone())] {
            let verdict = policy(spec).decide();
            denied(verdict.clone(), &[fragment, "payments"]);
            // Echoing what the policy wrote is fine; saying whose a namespace is is not.
            never_names(verdict, &["tenant \"frozen\"", "tenant \"storefront\"", "of tenant"]);
        }
    }
    // The compliant twins: the tenant's own namespaces, pinned by label (alone, with a name, In).
    for peer in [
        ns(json!({ "matchLabels": { "palisade.dev/tenant": "payments" } })),
        ns(
            json!({ "matchLabels": { "palisade.dev/tenant": "payments", "kubernetes.io/metadata.name": "payments-jobs" } }),
        ),
        ns(json!({ "matchExpressions": [{ "key": "palisade.dev/tenant", "operator": "In", "values": ["payments"] }] })),
        json!({ "namespaceSelector": { "matchLabels": { "palisade.dev/tenant": "payments" } },
                "podSelector": { "matchLabels": { "app": "api" } } }),
        json!({ "podSelector": { "matchLabels": { "app": "api" } } }),
    ] {
        allowed(policy(from(peer.clone())).decide());
        allowed(policy(to(peer)).decide());
    }
}

#[test]
fn granted_platform_namespaces_may_be_named_for_ingress_only() {
    let snapshot = with_monitoring_grant();
    let monitoring = ns(json!({ "matchLabels": { "kubernetes.io/metadata.name": "monitoring" } }));
    allowed(policy(from(monitoring.clone())).decide_in(&snapshot));
    allowed(
        policy(from(ns(json!({ "matchExpressions": [
            { "key": "kubernetes.io/metadata.name", "operator": "In", "values": ["monitoring"] },
            { "key": "palisade.dev/tenant", "operator": "DoesNotExist" }
        ] }))))
        .decide_in(&snapshot),
    );
    denied(
        policy(to(monitoring)).decide_in(&snapshot),
        &["grants for ingress only (spec.network.allowFrom.namespaces)"],
    );
    // Granted, plus one that is not: the whole selector is refused.
    denied(
        policy(from(ns(json!({ "matchExpressions": [
            { "key": "kubernetes.io/metadata.name", "operator": "In", "values": ["monitoring", "kube-system"] }
        ] }))))
        .decide_in(&snapshot),
        &[
            "selects namespace \"kube-system\"",
            "kubernetes.io/metadata.name In [monitoring]",
        ],
    );
    // A granted name that has become a tenant namespace is no longer a platform namespace.
    let mut squatted = snapshot.clone();
    squatted = squatted.with_namespace("monitoring", Some("storefront"));
    let verdict = policy(from(ns(
        json!({ "matchLabels": { "kubernetes.io/metadata.name": "monitoring" } }),
    )))
    .decide_in(&squatted);
    denied(verdict.clone(), &["selects namespace \"monitoring\", which is neither"]);
    never_names(verdict, &["storefront"]);
}

#[test]
fn ip_blocks_name_only_addresses_outside_the_cluster() {
    let block = |cidr: &str, except: &[&str]| policy(to(json!({ "ipBlock": { "cidr": cidr, "except": except } })));
    denied(
        block("0.0.0.0/0", &[]).decide(),
        &[
            "ipBlock 0.0.0.0/0, which covers pod addresses (10.244.0.0/16)",
            "except: [10.244.0.0/16]",
        ],
    );
    denied(
        block("0.0.0.0/0", &["10.244.0.0/16"]).decide(),
        &["covers Service addresses (10.96.0.0/12)", "except: [10.96.0.0/12]"],
    );
    denied(
        block("10.96.0.1/32", &[]).decide(),
        &["covers Service addresses (10.96.0.0/12)"],
    );
    denied(block("10.244.3.0/24", &[]).decide(), &["covers pod addresses"]);
    denied(
        block("10.0.0.0/8", &["10.244.0.0/17"]).decide(),
        &["covers pod addresses"],
    );
    allowed(block("0.0.0.0/0", &["10.244.0.0/16", "10.96.0.0/12"]).decide());
    allowed(block("0.0.0.0/0", &["10.0.0.0/8"]).decide());
    allowed(block("203.0.113.0/24", &[]).decide());
    allowed(policy(from(json!({ "ipBlock": { "cidr": "192.168.0.0/16" } }))).decide());
}

fn request(review: &Review) -> AdmissionRequest<DynamicObject> {
    serde_json::from_value::<AdmissionReview<DynamicObject>>(review.json())
        .unwrap()
        .try_into()
        .unwrap()
}

#[test]
fn service_cidrs_come_from_the_cluster_or_the_flag_and_are_never_guessed() {
    let review = policy(to(
        json!({ "ipBlock": { "cidr": "0.0.0.0/0", "except": ["10.244.0.0/16"] } }),
    ));
    let request = request(&review);
    let pods_only = AdmissionConfig {
        pod_cidrs: vec!["10.244.0.0/16".parse().unwrap()],
        ..AdmissionConfig::default()
    };
    // Nothing known: denied, and the denial says why and what to set.
    denied(
        palisade_admission::review(&request, &cluster(), &pods_only),
        &["does not know the cluster's Service CIDRs", "--service-cidr"],
    );
    // Learned from ServiceCIDR objects (two of them, one IPv6).
    let mut snapshot = cluster();
    snapshot.service_cidrs.insert(
        "kubernetes".into(),
        vec!["10.96.0.0/16".parse().unwrap(), "fd00:10:96::/112".parse().unwrap()],
    );
    snapshot
        .service_cidrs
        .insert("extra".into(), vec!["10.100.0.0/16".parse().unwrap()]);
    denied(
        palisade_admission::review(&request, &snapshot, &pods_only),
        &["covers Service addresses (10.96.0.0/16)"],
    );
    let excepting = policy(to(json!({ "ipBlock": { "cidr": "0.0.0.0/0",
        "except": ["10.244.0.0/16", "10.96.0.0/16", "10.100.0.0/16"] } })));
    allowed(palisade_admission::review(
        &request_of(&excepting),
        &snapshot,
        &pods_only,
    ));
    // The flag wins over what the cluster says.
    let flagged = AdmissionConfig {
        service_cidrs: vec!["172.20.0.0/16".parse().unwrap()],
        ..pods_only.clone()
    };
    let outside = policy(to(json!({ "ipBlock": { "cidr": "203.0.113.0/24" } })));
    denied(
        palisade_admission::review(&request_of(&outside), &cluster(), &pods_only),
        &["does not know the cluster's Service CIDRs"],
    );
    allowed(palisade_admission::review(&request_of(&outside), &cluster(), &flagged));
    denied(
        palisade_admission::review(&request, &cluster(), &flagged),
        &["covers Service addresses (172.20.0.0/16)"],
    );
    denied(
        palisade_admission::review(
            &request_of(&policy(to(json!({ "ipBlock": { "cidr": "172.20.5.0/24" } })))),
            &snapshot,
            &flagged,
        ),
        &["covers Service addresses (172.20.0.0/16)"],
    );
}

fn request_of(review: &Review) -> AdmissionRequest<DynamicObject> {
    request(review)
}
