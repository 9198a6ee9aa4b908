//! Gateway API objects tried as an attacker would (issue 11): a Gateway of a forbidden class,
//! hostnames outside the tenant's, and a host-less route on a shared Gateway. Each attack has its
//! compliant twin.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failure should stop the test loudly

mod common;

use common::*;
use palisade_admission::Snapshot;
use serde_json::{Value, json};

fn with_gateway_classes() -> Snapshot {
    let mut payments = tenant(PAYMENTS);
    payments.spec.gateway.classes = Some(palisade_api::ClassAllowList {
        allowed: vec!["internal-gw".into()],
        default: None,
    });
    cluster().with_tenant(payments)
}

fn gateway(spec: Value) -> Review {
    Review::new("Gateway", "CREATE", Some("payments-api"), "gw").object(json!({ "spec": spec }))
}

fn route(spec: Value) -> Review {
    Review::new("HTTPRoute", "CREATE", Some("payments-api"), "r").object(json!({ "spec": spec }))
}

#[test]
fn gateway_classes_are_enforced() {
    let snapshot = with_gateway_classes();
    let listener = json!({ "name": "http", "port": 80, "protocol": "HTTP", "hostname": "eu.pay.example.com" });
    denied(
        gateway(json!({ "gatewayClassName": "public-gw", "listeners": [listener] })).decide_in(&snapshot),
        &[
            "tenant \"payments\" allows the gateway class internal-gw",
            "\"public-gw\" (Gateway \"gw\") is not one of them",
        ],
    );
    denied(
        gateway(json!({ "listeners": [listener] })).decide_in(&snapshot),
        &["names no gatewayClassName"],
    );
    denied(
        gateway(json!({ "gatewayClassName": "internal-gw", "listeners": [
            { "name": "http", "port": 80, "protocol": "HTTP", "hostname": "shop.example.com" }
        ] }))
        .decide_in(&snapshot),
        &[
            "may serve only pay.example.com, *.pay.example.com",
            "shop.example.com in spec.listeners[].hostname",
        ],
    );
    allowed(gateway(json!({ "gatewayClassName": "internal-gw", "listeners": [listener] })).decide_in(&snapshot));
}

#[test]
fn route_hostnames_follow_the_ingress_rules() {
    let shared = json!([{ "name": "shared", "namespace": "gateways" }]);
    denied(
        route(json!({ "parentRefs": shared, "hostnames": ["shop.example.com"] })).decide(),
        &[
            "may serve only pay.example.com, *.pay.example.com",
            "HTTPRoute \"r\" asks for shop.example.com in spec.hostnames",
        ],
    );
    denied(
        route(json!({ "parentRefs": shared, "hostnames": ["*.pay.example.com"] })).decide(),
        &["does not allow wildcard hosts"],
    );
    denied(
        route(json!({ "parentRefs": shared })).decide(),
        &["lists none, so it would take every hostname the shared listener accepts"],
    );
    allowed(route(json!({ "parentRefs": shared, "hostnames": ["eu.pay.example.com"] })).decide());
    // A route on the tenant's own Gateway inherits that Gateway's (checked) listener hostnames.
    allowed(route(json!({ "parentRefs": [{ "name": "gw" }] })).decide());
}
