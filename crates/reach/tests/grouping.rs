//! The fast path (classes of workloads no selector tells apart, per-profile tables) must give
//! exactly what evaluating every workload pair on its own gives, on random small clusters.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failure should stop the test loudly

use palisade_reach::engine::Target;
use palisade_reach::parse::parse_sources;
use palisade_reach::{Analysis, Options};
use proptest::prelude::*;
use std::collections::BTreeMap;

const APPS: [&str; 3] = ["a", "b", "c"];
const TIERS: [&str; 2] = ["x", "y"];

fn pod_labels() -> impl Strategy<Value = String> {
    (0..4usize, 0..3usize).prop_map(|(app, tier)| {
        let mut l = Vec::new();
        if app < 3 {
            l.push(format!("app: {}", APPS[app]));
        }
        if tier < 2 {
            l.push(format!("tier: {}", TIERS[tier]));
        }
        format!("{{{}}}", l.join(", "))
    })
}

fn selector() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("{}".to_string()),
        (0..3usize).prop_map(|i| format!("{{matchLabels: {{app: {}}}}}", APPS[i])),
        (0..2usize).prop_map(|i| format!(
            "{{matchExpressions: [{{key: tier, operator: NotIn, values: [{}]}}]}}",
            TIERS[i]
        )),
        Just("{matchExpressions: [{key: app, operator: Exists}]}".to_string()),
    ]
}

fn ns_selector() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("{}".to_string()),
        (0..3usize).prop_map(|i| format!("{{matchLabels: {{kubernetes.io/metadata.name: ns{i}}}}}")),
        Just("{matchExpressions: [{key: env, operator: NotIn, values: [prod]}]}".to_string()),
    ]
}

fn peer() -> impl Strategy<Value = String> {
    prop_oneof![
        selector().prop_map(|s| format!("{{podSelector: {s}}}")),
        ns_selector().prop_map(|s| format!("{{namespaceSelector: {s}}}")),
        (ns_selector(), selector()).prop_map(|(n, p)| format!("{{namespaceSelector: {n}, podSelector: {p}}}")),
        Just("{ipBlock: {cidr: 10.0.0.0/8, except: [10.1.0.0/16]}}".to_string()),
    ]
}

fn port() -> impl Strategy<Value = String> {
    prop_oneof![
        (1u16..100).prop_map(|p| format!("{{port: {p}}}")),
        (1u16..50, 0u16..50).prop_map(|(p, e)| format!("{{port: {p}, endPort: {}, protocol: UDP}}", p + e)),
        Just("{port: http}".to_string()),
        Just("{port: dns, protocol: UDP}".to_string()),
        Just("{protocol: SCTP}".to_string()),
    ]
}

fn rule(dir: &'static str) -> impl Strategy<Value = String> {
    (prop::collection::vec(peer(), 0..3), prop::collection::vec(port(), 0..3)).prop_map(move |(peers, ports)| {
        let mut r = Vec::new();
        if !peers.is_empty() {
            r.push(format!("{dir}: [{}]", peers.join(", ")));
        }
        if !ports.is_empty() {
            r.push(format!("ports: [{}]", ports.join(", ")));
        }
        format!("{{{}}}", r.join(", "))
    })
}

fn policy() -> impl Strategy<Value = String> {
    (
        0..3usize,
        selector(),
        prop::option::of(prop::collection::vec(rule("from"), 0..3)),
        prop::option::of(prop::collection::vec(rule("to"), 0..3)),
    )
        .prop_map(|(ns, sel, ing, eg)| {
            let mut types = Vec::new();
            let mut body = String::new();
            if let Some(rules) = ing {
                types.push("Ingress");
                body.push_str(&format!("  ingress: [{}]\n", rules.join(", ")));
            }
            if let Some(rules) = eg {
                types.push("Egress");
                body.push_str(&format!("  egress: [{}]\n", rules.join(", ")));
            }
            format!("kind: NetworkPolicy\napiVersion: networking.k8s.io/v1\nmetadata: {{namespace: ns{ns}, name: NAME}}\nspec:\n  podSelector: {sel}\n  policyTypes: [{}]\n{body}", types.join(", "))
        })
}

fn admin() -> impl Strategy<Value = String> {
    (0..3usize, ns_selector(), prop::collection::vec((0..3usize, peer(), port()), 1..4)).prop_map(|(prio, subj, rules)| {
        let rules: Vec<String> = rules
            .iter()
            .enumerate()
            .map(|(i, (action, p, port))| {
                let action = ["Allow", "Deny", "Pass"][*action];
                let peer = if p.contains("ipBlock") {
                    "{namespaces: {}}".to_string()
                } else if p.starts_with("{podSelector") || p.contains("podSelector") {
                    "{pods: {namespaceSelector: {}, podSelector: {matchLabels: {app: a}}}}".to_string()
                } else {
                    "{namespaces: {matchLabels: {env: prod}}}".to_string()
                };
                let port = if port.contains("http") {
                    "{namedPort: http}".to_string()
                } else {
                    "{portRange: {protocol: TCP, start: 5, end: 60}}".to_string()
                };
                format!("{{name: r{i}, action: {action}, from: [{peer}], ports: [{port}]}}")
            })
            .collect();
        format!(
            "kind: AdminNetworkPolicy\napiVersion: policy.networking.k8s.io/v1alpha1\nmetadata: {{name: anp{prio}}}\nspec:\n  priority: {prio}\n  subject: {{namespaces: {subj}}}\n  ingress: [{}]\n",
            rules.join(", ")
        )
    })
}

fn cluster() -> impl Strategy<Value = String> {
    (
        prop::collection::vec((0..3usize, pod_labels(), 1u16..100), 2..8),
        prop::collection::vec(policy(), 0..5),
        prop::option::of(admin()),
    )
        .prop_map(|(pods, policies, anp)| {
            let mut docs = vec![
                "kind: Namespace\napiVersion: v1\nmetadata: {name: ns0, labels: {env: prod}}".to_string(),
                "kind: Namespace\napiVersion: v1\nmetadata: {name: ns1, labels: {env: dev}}".to_string(),
                "kind: Namespace\napiVersion: v1\nmetadata: {name: ns2}".to_string(),
            ];
            for (i, (ns, labels, http)) in pods.iter().enumerate() {
                docs.push(format!(
                    "kind: Pod\napiVersion: v1\nmetadata: {{name: p{i}, namespace: ns{ns}, labels: {labels}}}\nspec:\n  containers: [{{ports: [{{name: http, containerPort: {http}}}, {{name: dns, containerPort: 53, protocol: UDP}}]}}]"
                ));
            }
            for (i, p) in policies.iter().enumerate() {
                docs.push(p.replace("NAME", &format!("np{i}")));
            }
            docs.extend(anp);
            docs.join("\n---\n")
        })
}

/// Every ordered pair, each workload evaluated on its own.
fn one_by_one(text: &str) -> BTreeMap<(String, String), String> {
    let cluster = parse_sources([("c.yaml", text)]).unwrap();
    let a = Analysis::new(
        &cluster,
        Options {
            ungrouped: true,
            ..Options::default()
        },
    );
    let mut out = BTreeMap::new();
    let names: Vec<String> = cluster.workloads.iter().map(|w| w.display_name()).collect();
    for (i, si) in names.iter().enumerate() {
        for (j, dj) in names.iter().enumerate() {
            if i == j {
                continue;
            }
            let c = a.pair(Target::Class(a.class_of[i]), Target::Class(a.class_of[j]));
            if !c.is_empty() {
                out.insert((si.clone(), dj.clone()), c.to_string());
            }
        }
        for t in a.source_atoms..a.atoms.len() {
            let c = a.pair(Target::Class(a.class_of[i]), Target::Atom(t));
            if !c.is_empty() {
                out.insert(
                    (si.clone(), a.endpoint_names(Target::Atom(t))[0].clone()),
                    c.to_string(),
                );
            }
        }
        for t in 0..a.source_atoms {
            let c = a.pair(Target::Atom(t), Target::Class(a.class_of[i]));
            if !c.is_empty() {
                out.insert(
                    (a.endpoint_names(Target::Atom(t))[0].clone(), si.clone()),
                    c.to_string(),
                );
            }
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]
    #[test]
    fn grouped_tables_match_pairwise_evaluation(text in cluster()) {
        let cluster = parse_sources([("c.yaml", text.as_str())]).unwrap();
        let fast: BTreeMap<(String, String), String> = Analysis::new(&cluster, Options::default())
            .connections()
            .into_iter()
            .map(|c| ((c.src, c.dst), c.conn.to_string()))
            .collect();
        prop_assert_eq!(fast, one_by_one(&text), "cluster:\n{}", text);
    }
}
