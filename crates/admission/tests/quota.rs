//! The tenant-wide quota's arithmetic: usage per key is the larger of what was observed and what
//! was reserved, never both; growth decides what is checked; the denial says it all.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failure should stop the test loudly

use std::collections::BTreeMap;

use palisade_admission::quantity::{self, Amount};
use palisade_admission::quota::{self, Ledger, Request, Reservation};
use palisade_admission::usage::Usage;

fn amounts(pairs: &[(&str, &str)]) -> Usage {
    pairs
        .iter()
        .map(|(resource, text)| (resource.to_string(), quantity::parse(text).unwrap()))
        .collect()
}

fn reservation(pairs: &[(&str, &str)]) -> Reservation {
    Reservation {
        namespace: "payments-api".into(),
        object: "v1|Pod|pods|x".into(),
        since: 0,
        usage: pairs.iter().map(|(r, t)| (r.to_string(), t.to_string())).collect(),
    }
}

#[test]
fn a_key_counts_once_as_the_larger_of_observed_and_reserved() {
    let observed = BTreeMap::from([
        ("pods/a".to_string(), amounts(&[("requests.cpu", "500m")])),
        ("pods/b".to_string(), amounts(&[("requests.cpu", "1")])),
    ]);
    let mut ledger = Ledger::default();
    // a: reserved and since observed (same amount): once.
    ledger
        .reservations
        .insert("pods/a".into(), reservation(&[("requests.cpu", "500m")]));
    // b: resized up, the watch still has the old size: the reservation wins.
    ledger
        .reservations
        .insert("pods/b".into(), reservation(&[("requests.cpu", "2")]));
    // c: reserved, not observed yet (in flight): counted.
    ledger
        .reservations
        .insert("pods/c".into(), reservation(&[("requests.cpu", "250m")]));
    let total = quota::tenant_usage(&observed, &ledger, "");
    assert_eq!(quantity::format(total["requests.cpu"]), "2750m");
    // The object being admitted is left out (the caller adds its new usage).
    let without_b = quota::tenant_usage(&observed, &ledger, "pods/b");
    assert_eq!(quantity::format(without_b["requests.cpu"]), "750m");
}

#[test]
fn only_growing_resources_are_checked_and_a_shrinking_update_always_fits() {
    let hard = BTreeMap::from([
        ("requests.cpu".to_string(), quantity::parse("1").unwrap()),
        ("pods".to_string(), quantity::parse("5").unwrap()),
    ]);
    let used = amounts(&[("requests.cpu", "3"), ("pods", "9")]); // already over: the limit was lowered
    let new = amounts(&[("requests.cpu", "100m"), ("pods", "1")]);
    let old = amounts(&[("requests.cpu", "200m"), ("pods", "1")]);
    let shrink = Request {
        tenant: "payments",
        key: "pods/a",
        described: "Pod \"a\"",
        new: &new,
        old: &old,
    };
    assert!(quota::growing(&hard, &shrink).is_empty());
    assert_eq!(quota::check(&hard, &used, 4, &shrink), Ok(()));
}

#[test]
fn the_denial_names_tenant_resource_usage_namespaces_request_and_limit() {
    let hard = BTreeMap::from([("requests.cpu".to_string(), quantity::parse("8").unwrap())]);
    let used = amounts(&[("requests.cpu", "7500m")]);
    let new = amounts(&[("requests.cpu", "1")]);
    let create = Request {
        tenant: "payments",
        key: "pods/z",
        described: "Pod \"api-7\"",
        new: &new,
        old: &Usage::new(),
    };
    assert_eq!(
        quota::check(&hard, &used, 4, &create),
        Err("tenant \"payments\" would use 8500m of its 8 requests.cpu (7500m in 4 namespaces + 1 in this Pod \"api-7\"); free some up or ask your platform team to raise spec.quota.tenant[\"requests.cpu\"]".to_string())
    );
    // Exactly at the limit fits.
    let exact = amounts(&[("requests.cpu", "500m")]);
    let fits = Request {
        new: &exact,
        ..create.clone()
    };
    assert_eq!(quota::check(&hard, &used, 4, &fits), Ok(()));
    assert_eq!(Amount::units(8), quantity::parse("8").unwrap());
}

#[test]
fn the_ledger_reads_back_what_it_wrote() {
    let mut ledger = Ledger::default();
    ledger.reservations.insert(
        quota::object_key("pods", "u1"),
        reservation(&[("requests.cpu", "1500m")]),
    );
    ledger.reservations.insert(
        quota::namespace_key("payments-new"),
        reservation(&[(quota::NAMESPACES, "1")]),
    );
    let json = serde_json::to_string(&ledger).unwrap();
    let back: Ledger = serde_json::from_str(&json).unwrap();
    assert_eq!(back, ledger);
    assert_eq!(
        back.reservations["pods/u1"].amounts(),
        amounts(&[("requests.cpu", "1500m")])
    );
}
