//! Bad input gets a clear error naming the file, the object and the field; unknown kinds are
//! notes, not errors.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failure should stop the test loudly

use palisade_reach::Error;
use palisade_reach::parse::parse_sources;

fn err(text: &str) -> String {
    match parse_sources([("in.yaml", text)]) {
        Ok(_) => panic!("expected an error for:\n{text}"),
        Err(e) => e.to_string(),
    }
}

fn np(spec: &str) -> String {
    format!(
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{name: p, namespace: ns}}\nspec:\n{spec}"
    )
}

#[test]
fn messages_name_file_object_and_field() {
    let cases = [
        (
            np("  podSelector: {matchExpressions: [{key: app, operator: Equals, values: [x]}]}\n"),
            "in.yaml: NetworkPolicy ns/p: field `spec.podSelector.matchExpressions[0].operator`: unknown operator \"Equals\"; expected In, NotIn, Exists or DoesNotExist",
        ),
        (
            np("  podSelector: {}\n  ingress: [{from: [{ipBlock: {cidr: 10.0.0.0/33}}]}]\n"),
            "in.yaml: NetworkPolicy ns/p: field `spec.ingress[0].from[0].ipBlock.cidr`: invalid CIDR \"10.0.0.0/33\"; expected e.g. 10.0.0.0/8",
        ),
        (
            np("  podSelector: {}\n  ingress: [{from: [{ipBlock: {cidr: 10.0.0.0/8, except: [11.0.0.0/8]}}]}]\n"),
            "in.yaml: NetworkPolicy ns/p: field `spec.ingress[0].from[0].ipBlock.except[0]`: 11.0.0.0/8 is not inside cidr 10.0.0.0/8; every except must lie in the cidr",
        ),
        (
            np("  podSelector: {}\n  ingress: [{ports: [{port: 70000}]}]\n"),
            "in.yaml: NetworkPolicy ns/p: field `spec.ingress[0].ports[0].port`: expected a port number 1-65535, got 70000",
        ),
        (
            np("  podSelector: {}\n  egress: [{ports: [{port: 90, endPort: 80}]}]\n"),
            "in.yaml: NetworkPolicy ns/p: field `spec.egress[0].ports[0].endPort`: endPort 80 is below port 90; expected endPort >= port",
        ),
        (
            np("  podSelector: {}\n  ingress: [{ports: [{port: 80, protocol: ICMP}]}]\n"),
            "in.yaml: NetworkPolicy ns/p: field `spec.ingress[0].ports[0].protocol`: unknown protocol \"ICMP\"; expected TCP, UDP or SCTP",
        ),
        (
            np("  podSelector: {}\n  ingress: [{from: [{ipBlock: {cidr: 10.0.0.0/8}, podSelector: {}}]}]\n"),
            "in.yaml: NetworkPolicy ns/p: field `spec.ingress[0].from[0]`: ipBlock cannot be combined with podSelector or namespaceSelector in one peer",
        ),
        (
            "apiVersion: policy.networking.k8s.io/v1alpha1\nkind: AdminNetworkPolicy\nmetadata: {name: a}\nspec:\n  priority: 5\n  subject: {namespaces: {}}\n  ingress: [{name: r, action: Maybe, from: [{namespaces: {}}]}]\n".to_string(),
            "in.yaml: AdminNetworkPolicy a: field `spec.ingress[0].action`: unknown action \"Maybe\"; expected Allow, Deny or Pass",
        ),
    ];
    for (text, want) in &cases {
        assert_eq!(err(text), *want);
    }
}

#[test]
fn unparseable_yaml_names_the_file() {
    let e = parse_sources([("broken.yaml", "kind: Pod\nmetadata: {name: [unclosed\n")]).err();
    match e {
        Some(Error::Parse { file, .. }) => assert_eq!(file, "broken.yaml"),
        other => panic!("expected a parse error, got {other:?}"),
    }
}

#[test]
fn duplicates_differing_are_errors_identical_ones_are_notes() {
    let a = np("  podSelector: {}\n");
    let b = np("  podSelector: {matchLabels: {app: x}}\n");
    let e = parse_sources([("one.yaml", a.as_str()), ("two.yaml", b.as_str())]).err();
    assert_eq!(
        e.map(|e| e.to_string()),
        Some("two.yaml: NetworkPolicy ns/p: defined twice (first in one.yaml)".to_string())
    );
    let c = parse_sources([("one.yaml", a.as_str()), ("two.yaml", a.as_str())]).expect("identical copies are fine");
    assert_eq!(c.network_policies.len(), 1);
    assert!(c.notes.iter().any(|n| n.contains("identical copy")));
}

#[test]
fn unknown_kinds_are_notes() {
    let c = parse_sources([(
        "mixed.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: x}\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: x}\n",
    )])
    .expect("unknown kinds are not errors");
    assert_eq!(c.workloads.len(), 1);
    assert!(c.notes.iter().any(|n| n.contains("ConfigMap")), "{:?}", c.notes);
}
