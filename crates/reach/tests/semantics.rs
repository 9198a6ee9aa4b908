//! Table tests for the Kubernetes semantics that reachability tools most often get wrong
//! (network-mesh.md §1): each case is a small cluster and the exact lines it must produce.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failure should stop the test loudly

use palisade_reach::parse::parse_sources;
use palisade_reach::{Analysis, Options};
use std::collections::BTreeMap;

const NAMESPACES: &str = "
apiVersion: v1
kind: Namespace
metadata: {name: a, labels: {team: red}}
---
apiVersion: v1
kind: Namespace
metadata: {name: b}
---
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: a, labels: {app: web}}
spec:
  containers:
  - ports: [{name: http, containerPort: 8080}, {name: dns, containerPort: 53, protocol: UDP}]
---
apiVersion: v1
kind: Pod
metadata: {name: db, namespace: a, labels: {app: db}}
spec:
  containers:
  - ports: [{name: http, containerPort: 9090}]
---
apiVersion: v1
kind: Pod
metadata: {name: client, namespace: b, labels: {app: client}}
";

/// `src => dst` → connections, for pod pairs only (external lines dropped unless `externals`).
fn run(policies: &str, externals: bool) -> BTreeMap<String, String> {
    let cluster = parse_sources([("ns.yaml", NAMESPACES), ("policies.yaml", policies)]).expect("valid input");
    let analysis = Analysis::new(&cluster, Options::default());
    analysis
        .connections()
        .into_iter()
        .filter(|c| externals || !(c.src.contains("[External]") || c.dst.contains("[External]")))
        .map(|c| (format!("{} => {}", c.src, c.dst), c.conn.to_string()))
        .collect()
}

fn get<'a>(m: &'a BTreeMap<String, String>, pair: &str) -> &'a str {
    m.get(pair).map_or("none", String::as_str)
}

const WEB: &str = "a/web[Pod]";
const DB: &str = "a/db[Pod]";
const CLIENT: &str = "b/client[Pod]";

fn pair(s: &str, d: &str) -> String {
    format!("{s} => {d}")
}

#[test]
fn semantics_table() {
    struct Case {
        name: &'static str,
        policies: &'static str,
        expect: &'static [(&'static str, &'static str, &'static str)],
    }
    let cases = [
        Case {
            name: "no policy: everything is allowed",
            policies: "",
            expect: &[(CLIENT, WEB, "All Connections"), (WEB, DB, "All Connections")],
        },
        Case {
            name: "policyTypes defaulting: an egress-only policy without policyTypes isolates ingress too",
            policies: "
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: egress-only, namespace: a}
spec:
  podSelector: {matchLabels: {app: web}}
  egress: [{}]
",
            expect: &[
                (CLIENT, WEB, "none"),
                (DB, WEB, "none"),
                (WEB, CLIENT, "All Connections"),
            ],
        },
        Case {
            name: "policyTypes defaulting: `egress: []` without policyTypes does not isolate egress",
            policies: "
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-in, namespace: a}
spec:
  podSelector: {}
  egress: []
",
            expect: &[
                (WEB, CLIENT, "All Connections"),
                (CLIENT, WEB, "none"),
                (WEB, DB, "none"),
            ],
        },
        Case {
            name: "both directions must allow: egress denied at the source wins over ingress allowed",
            policies: "
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: no-egress, namespace: b}
spec:
  podSelector: {}
  policyTypes: [Egress]
",
            expect: &[(CLIENT, WEB, "none"), (WEB, CLIENT, "All Connections")],
        },
        Case {
            name: "namespaceSelector AND podSelector in one peer",
            policies: "
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: and, namespace: a}
spec:
  podSelector: {matchLabels: {app: db}}
  ingress:
  - from:
    - namespaceSelector: {matchLabels: {team: red}}
      podSelector: {matchLabels: {app: client}}
",
            expect: &[(CLIENT, DB, "none"), (WEB, DB, "none")],
        },
        Case {
            name: "namespaceSelector OR podSelector as two peers",
            policies: "
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: or, namespace: a}
spec:
  podSelector: {matchLabels: {app: db}}
  ingress:
  - from:
    - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: b}}
    - podSelector: {matchLabels: {app: web}}
",
            expect: &[(CLIENT, DB, "All Connections"), (WEB, DB, "All Connections")],
        },
        Case {
            name: "NotIn matches namespaces without the label",
            policies: "
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: notin, namespace: a}
spec:
  podSelector: {}
  ingress:
  - from:
    - namespaceSelector: {matchExpressions: [{key: team, operator: NotIn, values: [red]}]}
",
            expect: &[(CLIENT, WEB, "All Connections"), (DB, WEB, "none")],
        },
        Case {
            name: "endPort ranges and protocol defaulting to TCP",
            policies: "
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: range, namespace: a}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress:
  - ports: [{port: 8000, endPort: 8100}, {protocol: UDP}]
",
            expect: &[(CLIENT, WEB, "TCP 8000-8100,UDP 1-65535")],
        },
        Case {
            name: "named ports resolve on each destination pod",
            policies: "
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: named, namespace: b}
spec:
  podSelector: {}
  policyTypes: [Egress]
  egress:
  - ports: [{port: http}]
",
            expect: &[(CLIENT, WEB, "TCP 8080"), (CLIENT, DB, "TCP 9090")],
        },
        Case {
            name: "a named port with the wrong protocol matches nothing",
            policies: "
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: named-udp, namespace: a}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress:
  - ports: [{port: http, protocol: UDP}, {port: dns, protocol: UDP}]
",
            expect: &[(CLIENT, WEB, "UDP 53")],
        },
        Case {
            name: "ANP: lower priority number first; Deny beats a later Allow; Pass goes to NetworkPolicy",
            policies: "
apiVersion: policy.networking.k8s.io/v1alpha1
kind: AdminNetworkPolicy
metadata: {name: allow-all}
spec:
  priority: 50
  subject: {namespaces: {}}
  ingress:
  - {name: all, action: Allow, from: [{namespaces: {}}]}
---
apiVersion: policy.networking.k8s.io/v1alpha1
kind: AdminNetworkPolicy
metadata: {name: first}
spec:
  priority: 5
  subject: {pods: {namespaceSelector: {}, podSelector: {matchLabels: {app: db}}}}
  ingress:
  - name: deny-22
    action: Deny
    from: [{namespaces: {}}]
    ports: [{portNumber: {protocol: TCP, port: 22}}]
  - name: pass-client
    action: Pass
    from: [{namespaces: {matchLabels: {kubernetes.io/metadata.name: b}}}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: db-only-5432, namespace: a}
spec:
  podSelector: {matchLabels: {app: db}}
  ingress:
  - ports: [{port: 5432}]
",
            expect: &[
                (CLIENT, DB, "TCP 5432"),
                (WEB, DB, "SCTP 1-65535,TCP 1-21,23-65535,UDP 1-65535"),
            ],
        },
        Case {
            name: "BANP applies only where no NetworkPolicy isolates the pod",
            policies: "
apiVersion: policy.networking.k8s.io/v1alpha1
kind: BaselineAdminNetworkPolicy
metadata: {name: default}
spec:
  subject: {namespaces: {}}
  ingress:
  - {name: deny-other-ns, action: Deny, from: [{namespaces: {matchLabels: {kubernetes.io/metadata.name: b}}}]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: db-open, namespace: a}
spec:
  podSelector: {matchLabels: {app: db}}
  ingress: [{}]
",
            expect: &[
                (CLIENT, WEB, "none"),
                (CLIENT, DB, "All Connections"),
                (DB, WEB, "All Connections"),
            ],
        },
        Case {
            name: "ANP egress Allow does not bypass ingress at the destination",
            policies: "
apiVersion: policy.networking.k8s.io/v1alpha1
kind: AdminNetworkPolicy
metadata: {name: egress}
spec:
  priority: 1
  subject: {namespaces: {matchLabels: {kubernetes.io/metadata.name: b}}}
  egress:
  - {name: allow, action: Allow, to: [{namespaces: {}}]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web-80, namespace: a}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress:
  - ports: [{port: 80}]
",
            expect: &[(CLIENT, WEB, "TCP 80"), (CLIENT, DB, "All Connections")],
        },
    ];
    let mut failures = Vec::new();
    for case in &cases {
        let got = run(case.policies, false);
        for (s, d, want) in case.expect {
            let p = pair(s, d);
            if get(&got, &p) != *want {
                failures.push(format!("{}: {p}: want {want}, got {}", case.name, get(&got, &p)));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn ip_block_except_is_per_rule_and_splits_external_ranges() {
    let got = run(
        "
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: ipblocks, namespace: a}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress:
  - from: [{ipBlock: {cidr: 10.0.0.0/8, except: [10.1.0.0/16]}}]
    ports: [{port: 80}]
  - from: [{ipBlock: {cidr: 10.1.0.0/16}}]
    ports: [{port: 443}]
",
        true,
    );
    assert_eq!(get(&got, &pair("10.0.0.0-10.0.255.255[External]", WEB)), "TCP 80");
    // Excepted by the first rule, allowed by the second.
    assert_eq!(get(&got, &pair("10.1.0.0-10.1.255.255[External]", WEB)), "TCP 443");
    assert_eq!(get(&got, &pair("10.2.0.0-10.255.255.255[External]", WEB)), "TCP 80");
    assert_eq!(get(&got, &pair("11.0.0.0-255.255.255.255[External]", WEB)), "none");
    // Pods are not matched by ipBlocks in the default mode.
    assert_eq!(get(&got, &pair(CLIENT, WEB)), "none");
}

#[test]
fn ip_block_can_match_pod_ips_when_asked() {
    let pods = "
apiVersion: v1
kind: Pod
metadata: {name: p, namespace: x}
status: {podIP: 10.0.0.7}
---
apiVersion: v1
kind: Pod
metadata: {name: q, namespace: x, labels: {app: q}}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: only-10, namespace: x}
spec:
  podSelector: {matchLabels: {app: q}}
  ingress: [{from: [{ipBlock: {cidr: 10.0.0.0/24}}]}]
";
    let cluster = parse_sources([("x.yaml", pods)]).expect("valid");
    let line = |opts: Options| {
        Analysis::new(&cluster, opts)
            .connections()
            .into_iter()
            .find(|c| c.src == "x/p[Pod]" && c.dst == "x/q[Pod]")
            .map(|c| c.conn.to_string())
    };
    assert_eq!(line(Options::default()), None);
    assert_eq!(
        line(Options {
            ipblock_matches_pod_ips: true,
            ..Options::default()
        }),
        Some("All Connections".to_string())
    );
}

#[test]
fn cilium_policies_join_the_union_and_deny_wins() {
    let policies = r#"
apiVersion: cilium.io/v2
kind: CiliumClusterwideNetworkPolicy
metadata: {name: red-team}
spec:
  endpointSelector:
    matchLabels: {"k8s:io.cilium.k8s.namespace.labels.team": red}
  ingress:
  - fromEndpoints:
    - matchLabels: {"k8s:io.cilium.k8s.namespace.labels.team": red}
  - fromEntities: [world]
    toPorts: [{ports: [{port: "443", protocol: TCP}]}]
  ingressDeny:
  - fromEndpoints:
    - matchLabels: {"k8s:app": db}
    toPorts: [{ports: [{port: "22"}]}]
---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: web-from-anywhere-http, namespace: a}
spec:
  endpointSelector: {matchLabels: {app: web}}
  ingress:
  - fromEndpoints: [{}]
    toPorts: [{ports: [{port: http, protocol: TCP}]}]
  - fromEndpoints:
    - matchLabels: {"k8s:io.kubernetes.pod.namespace": b}
    toPorts: [{ports: [{port: "53", protocol: UDP}]}]
"#;
    let got = run(policies, true);
    // Same team (namespace label), minus the deny of port 22 (any protocol: Cilium's ANY default).
    assert_eq!(
        get(&got, &pair(DB, WEB)),
        "SCTP 1-21,23-65535,TCP 1-21,23-65535,UDP 1-21,23-65535"
    );
    assert_eq!(get(&got, &pair(WEB, DB)), "All Connections");
    // `fromEndpoints: [{}]` in a namespaced policy means its own namespace only; naming the
    // namespace label reaches elsewhere; the named port resolves on web.
    assert_eq!(get(&got, &pair(CLIENT, WEB)), "UDP 53");
    assert_eq!(get(&got, &pair(CLIENT, DB)), "none");
    assert_eq!(get(&got, &pair("0.0.0.0-255.255.255.255[External]", DB)), "TCP 443");
}
