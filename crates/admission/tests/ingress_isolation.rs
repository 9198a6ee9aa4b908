//! Ingresses tried as an attacker would (issue 11): catch-alls, TLS hosts, a path on a host
//! another tenant serves, and a legacy class annotation added by update. Each attack has its
//! compliant twin, and no denial names the holder of a host.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failure should stop the test loudly

mod common;

use common::*;
use serde_json::{Value, json};

fn ingress(spec: Value) -> Review {
    Review::new("Ingress", "CREATE", Some("payments-api"), "web").object(json!({ "spec": spec }))
}

fn backend() -> Value {
    json!({ "service": { "name": "web", "port": { "number": 80 } } })
}

fn rule(host: &str, path: &str) -> Value {
    json!({ "host": host, "http": { "paths": [{ "path": path, "pathType": "Prefix", "backend": backend() }] } })
}

#[test]
fn catch_alls_are_refused() {
    denied(
        ingress(json!({ "ingressClassName": "internal", "defaultBackend": backend() })).decide(),
        &["may not set spec.defaultBackend", "catches requests for every host"],
    );
    denied(
        ingress(json!({ "ingressClassName": "internal", "defaultBackend": backend(), "rules": [rule("eu.pay.example.com", "/")] }))
            .decide(),
        &["spec.defaultBackend"],
    );
    denied(
        ingress(json!({ "ingressClassName": "internal", "rules": [{ "http": { "paths": [{ "path": "/", "pathType": "Prefix", "backend": backend() }] } }] }))
            .decide(),
        &["has a rule without a host", "allowed: pay.example.com, *.pay.example.com"],
    );
    allowed(ingress(json!({ "ingressClassName": "internal", "rules": [rule("eu.pay.example.com", "/")] })).decide());
}

#[test]
fn tls_hosts_follow_the_hostname_rules() {
    let with_tls = |hosts: Value| {
        ingress(
            json!({ "ingressClassName": "internal", "rules": [rule("eu.pay.example.com", "/")],
            "tls": [{ "hosts": hosts, "secretName": "cert" }] }),
        )
    };
    denied(
        with_tls(json!(["eu.pay.example.com", "shop.example.com"])).decide(),
        &[
            "may serve only pay.example.com, *.pay.example.com",
            "asks for shop.example.com in spec.tls[].hosts",
        ],
    );
    denied(
        with_tls(json!(["*.pay.example.com"])).decide(),
        &["does not allow wildcard hosts", "*.pay.example.com in spec.tls[].hosts"],
    );
    // pay.example.com is served by another tenant (at /taken): a certificate for it is refused too.
    let verdict = with_tls(json!(["pay.example.com"])).decide();
    denied(
        verdict.clone(),
        &["host pay.example.com (spec.tls[].hosts of Ingress \"web\") is already served outside this tenant"],
    );
    never_names(verdict, &["storefront", "shop\""]);
    allowed(with_tls(json!(["eu.pay.example.com"])).decide());
}

#[test]
fn a_host_another_tenant_serves_cannot_be_used_for_any_path() {
    for path in ["/", "/admin", "/taken", "/taken/more"] {
        let verdict =
            ingress(json!({ "ingressClassName": "internal", "rules": [rule("pay.example.com", path)] })).decide();
        denied(
            verdict.clone(),
            &["host pay.example.com (spec.rules[].host of Ingress \"web\") is already served outside this tenant"],
        );
        never_names(verdict, &["storefront", "\"shop\""]);
    }
    // Updating the holder's own Ingress is not a collision with itself.
    let own = Review::new("Ingress", "UPDATE", Some("storefront-web"), "shop")
        .by("bob", &[])
        .old(json!({ "spec": { "rules": [rule("pay.example.com", "/taken")] } }))
        .object(json!({ "spec": { "rules": [rule("pay.example.com", "/taken"), rule("pay.example.com", "/more")] } }));
    assert!(own.decide().is_allowed());
    // A tenant with collision scope Tenant was told other tenants may reuse its hosts and paths:
    // its own paths stay unique within it, others' hosts do not bind it.
    let mut snapshot = cluster();
    let mut payments = tenant(PAYMENTS);
    payments.spec.ingress.collision_scope = palisade_api::CollisionScope::Tenant;
    snapshot = snapshot.with_tenant(payments);
    assert!(
        ingress(json!({ "ingressClassName": "internal", "rules": [rule("pay.example.com", "/admin")] }))
            .decide_in(&snapshot)
            .is_allowed()
    );
}

#[test]
fn the_legacy_class_annotation_is_checked_on_every_write() {
    let spec = json!({ "ingressClassName": "internal", "rules": [rule("eu.pay.example.com", "/")] });
    let old = json!({ "spec": spec });
    let update = |class: &str| {
        Review::new("Ingress", "UPDATE", Some("payments-api"), "web")
            .old(old.clone())
            .object(json!({ "metadata": { "annotations": { "kubernetes.io/ingress.class": class } }, "spec": spec }))
    };
    denied(
        update("public").decide(),
        &[
            "allows the ingress class internal",
            "\"public\" (annotation kubernetes.io/ingress.class of Ingress \"web\")",
        ],
    );
    assert!(update("internal").decide().is_allowed());
    denied(
        Review::new("Ingress", "CREATE", Some("payments-api"), "web")
            .object(
                json!({ "metadata": { "annotations": { "kubernetes.io/ingress.class": "public" } },
                "spec": { "rules": [rule("eu.pay.example.com", "/")] } }),
            )
            .decide(),
        &["\"public\" (annotation kubernetes.io/ingress.class"],
    );
}
