//! Quota usage counted like Kubernetes' quota evaluators: tables of pods, claims, Services and
//! other kinds, each with the exact usage the API server's ResourceQuota would show.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failure should stop the test loudly

use palisade_admission::usage::{
    Counted, Usage, UsageError, add_into, charged_on, count_name, growth, missing_constraints, usage, usage_at,
};
use palisade_tenancy::quantity::{self, Amount};
use serde_json::{Value, json};

const NOW: i64 = 1_800_000_000; // 2027-01-15T08:00:00Z

fn q(text: &str) -> Amount {
    quantity::parse(text).unwrap_or_else(|| panic!("bad test quantity {text}"))
}

fn expect(pairs: &[(&str, &str)]) -> Usage {
    pairs.iter().map(|(k, v)| (k.to_string(), q(v))).collect()
}

fn container(name: &str, requests: Value, limits: Value) -> Value {
    json!({"name": name, "image": "registry.example/app:1", "resources": {"requests": requests, "limits": limits}})
}

fn pod(spec: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "ns"}, "spec": spec})
}

fn pod_usage(object: &Value) -> Usage {
    match usage_at(&Counted::POD, object, NOW) {
        Ok(used) => used,
        Err(e) => panic!("usage of {object}: {e}"),
    }
}

/// The compute part every counted pod has.
fn counted_pod(extra: &[(&str, &str)]) -> Usage {
    let mut used = expect(&[("pods", "1"), ("count/pods", "1")]);
    used.extend(expect(extra));
    used
}

#[test]
fn pods_table() {
    let cases: Vec<(&str, Value, Usage)> = vec![
        (
            "no resources at all: only the pod counts",
            pod(json!({"containers": [{"name": "a", "image": "x"}]})),
            counted_pod(&[]),
        ),
        (
            "two app containers are summed; bare names equal requests",
            pod(json!({"containers": [
                container("a", json!({"cpu": "250m", "memory": "64Mi"}), json!({"cpu": "500m", "memory": "128Mi"})),
                container("b", json!({"cpu": "1", "memory": "1Gi"}), json!({"cpu": "2", "memory": "1Gi"})),
            ]})),
            counted_pod(&[
                ("cpu", "1250m"),
                ("requests.cpu", "1250m"),
                ("limits.cpu", "2500m"),
                ("memory", "1088Mi"),
                ("requests.memory", "1088Mi"),
                ("limits.memory", "1152Mi"),
            ]),
        ),
        (
            "a container without a limit adds nothing to limits.*",
            pod(json!({"containers": [
                container("a", json!({"cpu": "1"}), json!({"cpu": "2"})),
                container("b", json!({"cpu": "1"}), json!({})),
            ]})),
            counted_pod(&[("cpu", "2"), ("requests.cpu", "2"), ("limits.cpu", "2")]),
        ),
        (
            "an init container larger than the app containers sets the request",
            pod(json!({
                "initContainers": [container("migrate", json!({"cpu": "3", "memory": "100Mi"}), json!({"cpu": "3"}))],
                "containers": [container("a", json!({"cpu": "1", "memory": "1Gi"}), json!({"cpu": "1"}))],
            })),
            counted_pod(&[
                ("cpu", "3"),
                ("requests.cpu", "3"),
                ("limits.cpu", "3"),
                ("memory", "1Gi"),
                ("requests.memory", "1Gi"),
            ]),
        ),
        (
            "init containers take the max, not the sum",
            pod(json!({
                "initContainers": [
                    container("i1", json!({"cpu": "2"}), json!({})),
                    container("i2", json!({"cpu": "3"}), json!({})),
                ],
                "containers": [container("a", json!({"cpu": "1"}), json!({}))],
            })),
            counted_pod(&[("cpu", "3"), ("requests.cpu", "3")]),
        ),
        (
            "sidecars (restartPolicy: Always) add to the app containers",
            pod(json!({
                "initContainers": [
                    {"name": "proxy", "image": "x", "restartPolicy": "Always", "resources": {"requests": {"cpu": "500m"}, "limits": {"cpu": "1"}}},
                ],
                "containers": [container("a", json!({"cpu": "1"}), json!({"cpu": "1"}))],
            })),
            counted_pod(&[("cpu", "1500m"), ("requests.cpu", "1500m"), ("limits.cpu", "2")]),
        ),
        (
            "an init container after a sidecar runs beside it: 2 + 500m > 1 + 500m",
            pod(json!({
                "initContainers": [
                    {"name": "proxy", "image": "x", "restartPolicy": "Always", "resources": {"requests": {"cpu": "500m"}}},
                    container("migrate", json!({"cpu": "2"}), json!({})),
                ],
                "containers": [container("a", json!({"cpu": "1"}), json!({}))],
            })),
            counted_pod(&[("cpu", "2500m"), ("requests.cpu", "2500m")]),
        ),
        (
            "an init container before a sidecar does not run beside it",
            pod(json!({
                "initContainers": [
                    container("migrate", json!({"cpu": "2"}), json!({})),
                    {"name": "proxy", "image": "x", "restartPolicy": "Always", "resources": {"requests": {"cpu": "500m"}}},
                ],
                "containers": [container("a", json!({"cpu": "1"}), json!({}))],
            })),
            counted_pod(&[("cpu", "2"), ("requests.cpu", "2")]),
        ),
        (
            "overhead is added to requests, and to limits only where a limit exists",
            pod(json!({
                "overhead": {"cpu": "250m", "memory": "120Mi"},
                "containers": [container("a", json!({"cpu": "1", "memory": "1Gi"}), json!({"cpu": "2"}))],
            })),
            counted_pod(&[
                ("cpu", "1250m"),
                ("requests.cpu", "1250m"),
                ("limits.cpu", "2250m"),
                ("memory", "1144Mi"),
                ("requests.memory", "1144Mi"),
            ]),
        ),
        (
            "ephemeral storage",
            pod(
                json!({"containers": [container("a", json!({"ephemeral-storage": "2Gi"}), json!({"ephemeral-storage": "4Gi"}))]}),
            ),
            counted_pod(&[
                ("ephemeral-storage", "2Gi"),
                ("requests.ephemeral-storage", "2Gi"),
                ("limits.ephemeral-storage", "4Gi"),
            ]),
        ),
        (
            "extended resources count only as requests.<name>",
            pod(
                json!({"containers": [container("a", json!({"nvidia.com/gpu": "2"}), json!({"nvidia.com/gpu": "2"}))]}),
            ),
            counted_pod(&[("requests.nvidia.com/gpu", "2")]),
        ),
        (
            "hugepages count bare and as requests.",
            pod(
                json!({"containers": [container("a", json!({"hugepages-2Mi": "100Mi", "memory": "1Gi"}), json!({"hugepages-2Mi": "100Mi", "memory": "1Gi"}))]}),
            ),
            counted_pod(&[
                ("hugepages-2Mi", "100Mi"),
                ("requests.hugepages-2Mi", "100Mi"),
                ("memory", "1Gi"),
                ("requests.memory", "1Gi"),
                ("limits.memory", "1Gi"),
            ]),
        ),
        (
            "pod-level resources replace the containers' sum for cpu and memory",
            pod(json!({
                "resources": {"requests": {"cpu": "2", "memory": "2Gi"}, "limits": {"cpu": "4"}},
                "containers": [
                    container("a", json!({"cpu": "500m", "memory": "1Gi", "ephemeral-storage": "1Gi"}), json!({"memory": "1Gi"})),
                    container("b", json!({"cpu": "500m"}), json!({})),
                ],
            })),
            counted_pod(&[
                ("cpu", "2"),
                ("requests.cpu", "2"),
                ("limits.cpu", "4"),
                ("memory", "2Gi"),
                ("requests.memory", "2Gi"),
                ("limits.memory", "1Gi"),
                ("ephemeral-storage", "1Gi"),
                ("requests.ephemeral-storage", "1Gi"),
            ]),
        ),
        (
            "after an in-place resize the larger of spec, status and allocated counts",
            {
                let mut p = pod(json!({"containers": [container("a", json!({"cpu": "1"}), json!({"cpu": "1"}))]}));
                p["status"] = json!({"phase": "Running", "containerStatuses": [
                    {"name": "a", "allocatedResources": {"cpu": "1500m"}, "resources": {"requests": {"cpu": "1500m"}, "limits": {"cpu": "2"}}},
                ]});
                p
            },
            counted_pod(&[("cpu", "1500m"), ("requests.cpu", "1500m"), ("limits.cpu", "2")]),
        ),
        (
            "an infeasible resize counts what the kubelet runs, not the spec",
            {
                let mut p = pod(json!({"containers": [container("a", json!({"cpu": "64"}), json!({"cpu": "64"}))]}));
                p["status"] = json!({
                    "phase": "Running",
                    "conditions": [{"type": "PodResizePending", "status": "True", "reason": "Infeasible"}],
                    "containerStatuses": [
                        {"name": "a", "allocatedResources": {"cpu": "1"}, "resources": {"requests": {"cpu": "1"}, "limits": {"cpu": "1"}}},
                    ],
                });
                p
            },
            counted_pod(&[("cpu", "1"), ("requests.cpu", "1"), ("limits.cpu", "1")]),
        ),
    ];
    for (name, object, expected) in cases {
        assert_eq!(pod_usage(&object), expected, "{name}");
    }
}

#[test]
fn terminal_pods_count_only_as_objects() {
    for phase in ["Succeeded", "Failed"] {
        let mut p = pod(json!({"containers": [container("a", json!({"cpu": "1"}), json!({"cpu": "1"}))]}));
        p["status"] = json!({"phase": phase});
        assert_eq!(pod_usage(&p), expect(&[("count/pods", "1")]), "{phase}");
    }
    for phase in ["Pending", "Running", "Unknown"] {
        let mut p = pod(json!({"containers": [container("a", json!({"cpu": "1"}), json!({}))]}));
        p["status"] = json!({"phase": phase});
        assert_eq!(
            pod_usage(&p),
            counted_pod(&[("cpu", "1"), ("requests.cpu", "1")]),
            "{phase}"
        );
    }
}

#[test]
fn deleting_pods_stop_counting_after_their_grace_period() {
    let deleting = |timestamp: &str, grace: Value| {
        let mut p = pod(json!({"containers": [container("a", json!({"cpu": "1"}), json!({}))]}));
        p["metadata"]["deletionTimestamp"] = json!(timestamp);
        p["metadata"]["deletionGracePeriodSeconds"] = grace;
        p
    };
    let counted = counted_pod(&[("cpu", "1"), ("requests.cpu", "1")]);
    let gone = expect(&[("count/pods", "1")]);
    // NOW is 2027-01-15T08:00:00Z.
    assert_eq!(
        pod_usage(&deleting("2027-01-15T08:00:00Z", json!(30))),
        counted,
        "deleted just now"
    );
    assert_eq!(
        pod_usage(&deleting("2027-01-15T07:59:30Z", json!(30))),
        counted,
        "exactly at the end of grace"
    );
    assert_eq!(
        pod_usage(&deleting("2027-01-15T07:59:29Z", json!(30))),
        gone,
        "one second past grace"
    );
    assert_eq!(
        pod_usage(&deleting("2027-01-15T07:00:00Z", json!(0))),
        gone,
        "force-deleted an hour ago"
    );
    // Without a grace period Kubernetes does not apply the rule.
    assert_eq!(
        pod_usage(&deleting("2020-01-01T00:00:00Z", Value::Null)),
        counted,
        "no grace period"
    );
}

#[test]
fn unreadable_pods_name_the_field() {
    let bad = pod(json!({"containers": [container("a", json!({"cpu": "lots"}), json!({}))]}));
    match usage_at(&Counted::POD, &bad, NOW) {
        Err(UsageError::Unreadable { field, reason }) => {
            assert_eq!(field, "spec.containers[0].resources.requests[\"cpu\"]");
            assert!(reason.contains("\"lots\" is not a Kubernetes quantity"), "{reason}");
        }
        other => panic!("expected an error, got {other:?}"),
    }
    let bad = pod(json!({"containers": {"name": "a"}}));
    assert!(matches!(
        usage_at(&Counted::POD, &bad, NOW),
        Err(UsageError::Unreadable { field, .. }) if field == "spec.containers"
    ));
    let mut bad = pod(json!({"containers": []}));
    bad["metadata"]["deletionTimestamp"] = json!("yesterday");
    bad["metadata"]["deletionGracePeriodSeconds"] = json!(30);
    assert!(matches!(
        usage_at(&Counted::POD, &bad, NOW),
        Err(UsageError::Unreadable { field, .. }) if field == "metadata.deletionTimestamp"
    ));
}

#[test]
fn quantities_as_bare_json_numbers_are_read() {
    let p = pod(json!({"containers": [container("a", json!({"cpu": 2, "memory": 1024}), json!({}))]}));
    assert_eq!(
        pod_usage(&p),
        counted_pod(&[
            ("cpu", "2"),
            ("requests.cpu", "2"),
            ("memory", "1024"),
            ("requests.memory", "1024")
        ])
    );
}

fn claim(class: Option<&str>, storage: Option<&str>) -> Value {
    let mut c = json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "c"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {}}});
    if let Some(class) = class {
        c["spec"]["storageClassName"] = json!(class);
    }
    if let Some(storage) = storage {
        c["spec"]["resources"]["requests"] = json!({"storage": storage});
    }
    c
}

#[test]
fn claims_table() {
    let gold = "gold.storageclass.storage.k8s.io";
    let cases: Vec<(&str, Value, Usage)> = vec![
        (
            "a claim with a class counts for the class too",
            claim(Some("gold"), Some("10Gi")),
            expect(&[
                ("persistentvolumeclaims", "1"),
                ("count/persistentvolumeclaims", "1"),
                ("requests.storage", "10Gi"),
                (&format!("{gold}/requests.storage"), "10Gi"),
                (&format!("{gold}/persistentvolumeclaims"), "1"),
            ]),
        ),
        (
            "without a class (none set, no default class) only the totals count",
            claim(None, Some("1Gi")),
            expect(&[
                ("persistentvolumeclaims", "1"),
                ("count/persistentvolumeclaims", "1"),
                ("requests.storage", "1Gi"),
            ]),
        ),
        (
            "an empty class name is no class",
            claim(Some(""), Some("1Gi")),
            expect(&[
                ("persistentvolumeclaims", "1"),
                ("count/persistentvolumeclaims", "1"),
                ("requests.storage", "1Gi"),
            ]),
        ),
        (
            "the beta annotation wins over spec.storageClassName",
            {
                let mut c = claim(Some("silver"), Some("1Gi"));
                c["metadata"]["annotations"] = json!({"volume.beta.kubernetes.io/storage-class": "gold"});
                c
            },
            expect(&[
                ("persistentvolumeclaims", "1"),
                ("count/persistentvolumeclaims", "1"),
                ("requests.storage", "1Gi"),
                (&format!("{gold}/requests.storage"), "1Gi"),
                (&format!("{gold}/persistentvolumeclaims"), "1"),
            ]),
        ),
        (
            "allocated storage larger than the request counts",
            {
                let mut c = claim(Some("gold"), Some("1Gi"));
                c["status"] = json!({"allocatedResources": {"storage": "5Gi"}});
                c
            },
            expect(&[
                ("persistentvolumeclaims", "1"),
                ("count/persistentvolumeclaims", "1"),
                ("requests.storage", "5Gi"),
                (&format!("{gold}/requests.storage"), "5Gi"),
                (&format!("{gold}/persistentvolumeclaims"), "1"),
            ]),
        ),
        (
            "allocated storage smaller than the request does not",
            {
                let mut c = claim(None, Some("2Gi"));
                c["status"] = json!({"allocatedResources": {"storage": "1Gi"}});
                c
            },
            expect(&[
                ("persistentvolumeclaims", "1"),
                ("count/persistentvolumeclaims", "1"),
                ("requests.storage", "2Gi"),
            ]),
        ),
        (
            "storage is rounded up to a whole byte",
            claim(None, Some("1500m")),
            expect(&[
                ("persistentvolumeclaims", "1"),
                ("count/persistentvolumeclaims", "1"),
                ("requests.storage", "2"),
            ]),
        ),
        (
            "no request: no storage counted",
            claim(Some("gold"), None),
            expect(&[
                ("persistentvolumeclaims", "1"),
                ("count/persistentvolumeclaims", "1"),
                (&format!("{gold}/persistentvolumeclaims"), "1"),
            ]),
        ),
    ];
    for (name, object, expected) in cases {
        assert_eq!(
            usage(&Counted::PERSISTENT_VOLUME_CLAIM, &object).unwrap_or_else(|e| panic!("{name}: {e}")),
            expected,
            "{name}"
        );
    }
}

fn service(spec: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}, "spec": spec})
}

fn ports(n: usize) -> Value {
    Value::Array(
        (0..n)
            .map(|i| json!({"name": format!("p{i}"), "port": 80 + i}))
            .collect(),
    )
}

#[test]
fn services_table() {
    let svc = |lb: &str, np: &str| {
        expect(&[
            ("services", "1"),
            ("count/services", "1"),
            ("services.loadbalancers", lb),
            ("services.nodeports", np),
        ])
    };
    let cases: Vec<(&str, Value, Usage)> = vec![
        (
            "ClusterIP (default type)",
            service(json!({"ports": ports(2)})),
            svc("0", "0"),
        ),
        (
            "ClusterIP",
            service(json!({"type": "ClusterIP", "ports": ports(3)})),
            svc("0", "0"),
        ),
        (
            "headless",
            service(json!({"clusterIP": "None", "ports": ports(1)})),
            svc("0", "0"),
        ),
        (
            "ExternalName",
            service(json!({"type": "ExternalName", "externalName": "db.example"})),
            svc("0", "0"),
        ),
        (
            "NodePort: one node port per port",
            service(json!({"type": "NodePort", "ports": ports(2)})),
            svc("0", "2"),
        ),
        (
            "LoadBalancer: node ports too",
            service(json!({"type": "LoadBalancer", "ports": ports(3)})),
            svc("1", "3"),
        ),
        (
            "LoadBalancer allocating node ports explicitly",
            service(json!({"type": "LoadBalancer", "allocateLoadBalancerNodePorts": true, "ports": ports(2)})),
            svc("1", "2"),
        ),
        (
            "LoadBalancer without node port allocation: only named node ports",
            service(
                json!({"type": "LoadBalancer", "allocateLoadBalancerNodePorts": false, "ports": [
                    {"port": 80}, {"port": 443, "nodePort": 30443}, {"port": 8080, "nodePort": 0},
                ]}),
            ),
            svc("1", "1"),
        ),
    ];
    for (name, object, expected) in cases {
        assert_eq!(
            usage(&Counted::SERVICE, &object).unwrap_or_else(|e| panic!("{name}: {e}")),
            expected,
            "{name}"
        );
    }
}

#[test]
fn other_kinds_count_as_objects() {
    let object = json!({"metadata": {"name": "x"}});
    type Case<'a> = (&'a str, &'a str, &'a str, &'a [(&'a str, &'a str)]);
    let cases: &[Case<'_>] = &[
        (
            "",
            "ConfigMap",
            "configmaps",
            &[("count/configmaps", "1"), ("configmaps", "1")],
        ),
        ("", "Secret", "secrets", &[("count/secrets", "1"), ("secrets", "1")]),
        (
            "",
            "ReplicationController",
            "replicationcontrollers",
            &[("count/replicationcontrollers", "1"), ("replicationcontrollers", "1")],
        ),
        (
            "",
            "ResourceQuota",
            "resourcequotas",
            &[("count/resourcequotas", "1"), ("resourcequotas", "1")],
        ),
        (
            "",
            "ServiceAccount",
            "serviceaccounts",
            &[("count/serviceaccounts", "1")],
        ),
        ("apps", "Deployment", "deployments", &[("count/deployments.apps", "1")]),
        ("batch", "CronJob", "cronjobs", &[("count/cronjobs.batch", "1")]),
        (
            "example.com",
            "Widget",
            "widgets",
            &[("count/widgets.example.com", "1")],
        ),
        // A kind named like a core one in another group is just a count.
        ("example.com", "Pod", "pods", &[("count/pods.example.com", "1")]),
    ];
    for (group, kind, resource, expected) in cases {
        let what = Counted { group, kind, resource };
        assert_eq!(usage(&what, &object).ok(), Some(expect(expected)), "{kind}.{group}");
        assert_eq!(count_name(&what), expected[0].0);
    }
}

#[test]
fn charged_operations_follow_quota_admission() {
    let deployments = Counted {
        group: "apps",
        kind: "Deployment",
        resource: "deployments",
    };
    assert!(charged_on(&Counted::POD, "CREATE", None));
    assert!(
        !charged_on(&Counted::POD, "UPDATE", None),
        "a pod's spec cannot grow except by resize"
    );
    assert!(charged_on(&Counted::POD, "UPDATE", Some("resize")));
    assert!(!charged_on(&Counted::POD, "UPDATE", Some("status")));
    assert!(
        charged_on(&Counted::PERSISTENT_VOLUME_CLAIM, "UPDATE", None),
        "claims grow"
    );
    assert!(
        charged_on(&Counted::SERVICE, "UPDATE", None),
        "a ClusterIP becomes a LoadBalancer"
    );
    assert!(charged_on(&deployments, "CREATE", None));
    assert!(!charged_on(&deployments, "UPDATE", None));
    assert!(!charged_on(&Counted::POD, "DELETE", None));
}

#[test]
fn growth_lists_only_what_increases() {
    let old = expect(&[
        ("services", "1"),
        ("services.loadbalancers", "0"),
        ("services.nodeports", "3"),
    ]);
    let new = expect(&[
        ("services", "1"),
        ("services.loadbalancers", "1"),
        ("services.nodeports", "2"),
    ]);
    assert_eq!(growth(&new, &old), expect(&[("services.loadbalancers", "1")]));
    let mut total = old.clone();
    add_into(&mut total, &new);
    assert_eq!(
        total,
        expect(&[
            ("services", "2"),
            ("services.loadbalancers", "1"),
            ("services.nodeports", "5")
        ])
    );
}

#[test]
fn missing_cpu_and_memory_are_named_per_container() {
    let p = pod(json!({
        "initContainers": [container("init", json!({"cpu": "1"}), json!({"cpu": "1"}))],
        "containers": [
            container("a", json!({"cpu": "1", "memory": "1Gi"}), json!({"cpu": "1", "memory": "1Gi"})),
            container("b", json!({"cpu": "1"}), json!({})),
        ],
    }));
    let missing = missing_constraints(["limits.cpu", "requests.memory", "pods", "requests.nvidia.com/gpu"], &p)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        missing,
        vec![
            ("limits.cpu".to_string(), vec!["b".to_string()]),
            ("requests.memory".to_string(), vec!["b".to_string(), "init".to_string()]),
        ]
    );
    assert_eq!(missing_constraints(["pods", "count/pods"], &p).ok(), Some(vec![]));
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    fn millis() -> impl Strategy<Value = i64> {
        0_i64..100_000
    }

    fn cpu_of(used: &Usage) -> Amount {
        used.get("requests.cpu").copied().unwrap_or_default()
    }

    proptest! {
        /// Without init containers a pod requests exactly the sum of its containers.
        #[test]
        fn app_containers_are_summed(cpus in prop::collection::vec(millis(), 1..8)) {
            let containers: Vec<Value> = cpus.iter().enumerate()
                .map(|(i, m)| container(&format!("c{i}"), json!({"cpu": format!("{m}m")}), json!({})))
                .collect();
            let used = pod_usage(&pod(json!({"containers": containers})));
            prop_assert_eq!(cpu_of(&used), Amount::millis(cpus.iter().sum()));
        }

        /// Whatever the mix of init containers and sidecars: the request is at least the sum of
        /// app containers and sidecars and at least each init container, and it is one of the
        /// two candidates the Kubernetes formula allows.
        #[test]
        fn init_containers_and_sidecars_bound_the_request(
            apps in prop::collection::vec(millis(), 1..4),
            inits in prop::collection::vec((millis(), any::<bool>()), 0..6),
        ) {
            let containers: Vec<Value> = apps.iter().enumerate()
                .map(|(i, m)| container(&format!("a{i}"), json!({"cpu": format!("{m}m")}), json!({})))
                .collect();
            let init_containers: Vec<Value> = inits.iter().enumerate()
                .map(|(i, (m, sidecar))| {
                    let mut c = container(&format!("i{i}"), json!({"cpu": format!("{m}m")}), json!({}));
                    if *sidecar {
                        c["restartPolicy"] = json!("Always");
                    }
                    c
                })
                .collect();
            let used = pod_usage(&pod(json!({"containers": containers, "initContainers": init_containers})));
            let steady: i64 = apps.iter().sum::<i64>() + inits.iter().filter(|(_, s)| *s).map(|(m, _)| m).sum::<i64>();
            let mut sidecars_so_far = 0;
            let mut peak = 0;
            for (m, sidecar) in &inits {
                if *sidecar {
                    sidecars_so_far += m;
                    peak = peak.max(sidecars_so_far);
                } else {
                    peak = peak.max(sidecars_so_far + m);
                }
            }
            prop_assert_eq!(cpu_of(&used), Amount::millis(steady.max(peak)));
        }

        /// A terminal pod never counts for anything but the object count.
        #[test]
        fn terminal_pods_count_nothing(cpus in prop::collection::vec(millis(), 1..4), failed in any::<bool>()) {
            let containers: Vec<Value> = cpus.iter().enumerate()
                .map(|(i, m)| container(&format!("c{i}"), json!({"cpu": format!("{m}m")}), json!({"cpu": "1"})))
                .collect();
            let mut p = pod(json!({"containers": containers}));
            p["status"] = json!({"phase": if failed { "Failed" } else { "Succeeded" }});
            prop_assert_eq!(pod_usage(&p), expect(&[("count/pods", "1")]));
        }
    }
}
