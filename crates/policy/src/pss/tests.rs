#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

//! Version pinning and message wording. Expected values come from the standard (which check
//! applies from which version) and from upstream's own check tests (exact details), not from
//! this implementation.

use serde_json::{Value, json};

use super::*;

fn pod(spec: Value) -> Value {
    json!({ "apiVersion": "v1", "kind": "Pod", "metadata": { "name": "p" }, "spec": spec })
}

fn failing(level: Level, version: Version, object: &Value) -> Vec<&'static str> {
    check_object(level, version, object)
        .unwrap()
        .unwrap()
        .into_iter()
        .map(|f| f.check)
        .collect()
}

fn v(n: u32) -> Version {
    Version::Minor(n)
}

/// A pod that passes restricted at every version, to tweak one field at a time.
fn restricted_pod() -> Value {
    json!({
        "securityContext": { "runAsNonRoot": true, "seccompProfile": { "type": "RuntimeDefault" } },
        "containers": [{
            "name": "c", "image": "i",
            "securityContext": {
                "allowPrivilegeEscalation": false,
                "capabilities": { "drop": ["ALL"] }
            }
        }]
    })
}

#[test]
fn the_base_pod_passes_restricted_at_every_version() {
    for n in 0..=40 {
        assert_eq!(
            failing(Level::Restricted, v(n), &pod(restricted_pod())),
            Vec::<&str>::new(),
            "v1.{n}"
        );
    }
}

#[test]
fn checks_run_in_upstream_order_with_their_revisions_ascending() {
    let baseline: Vec<&str> = CHECKS
        .iter()
        .filter(|c| c.level == Level::Baseline)
        .map(|c| c.id)
        .collect();
    let restricted: Vec<&str> = CHECKS
        .iter()
        .filter(|c| c.level == Level::Restricted)
        .map(|c| c.id)
        .collect();
    let mut sorted = baseline.clone();
    sorted.sort_unstable();
    assert_eq!(baseline, sorted);
    let mut sorted = restricted.clone();
    sorted.sort_unstable();
    assert_eq!(restricted, sorted);
    assert_eq!(
        CHECKS.iter().map(|c| c.id).collect::<Vec<_>>(),
        [baseline, restricted].concat(),
        "baseline checks come first"
    );
    for c in CHECKS {
        assert!(c.revisions.windows(2).all(|w| w[0].since < w[1].since), "{}", c.id);
    }
    let sysctl_steps: Vec<u32> = sysctls::steps().collect();
    let sysctl_revisions: Vec<u32> = CHECKS
        .iter()
        .find(|c| c.id == "sysctls")
        .unwrap()
        .revisions
        .iter()
        .map(|r| r.since)
        .collect();
    assert_eq!(sysctl_steps, sysctl_revisions);
}

#[test]
fn which_checks_apply_at_which_version() {
    let has = |level, version, id| check_ids(level, version).contains(&id);
    // Baseline at latest: all 12 baseline checks; restricted: 7 of its own, and the 8 baseline
    // checks it does not replace.
    assert_eq!(check_ids(Level::Baseline, Version::Latest).len(), 12);
    assert_eq!(check_ids(Level::Restricted, Version::Latest).len(), 15);
    assert!(check_ids(Level::Privileged, Version::Latest).is_empty());
    let cases: &[(Level, u32, &str, bool)] = &[
        (Level::Restricted, 7, "allowPrivilegeEscalation", false),
        (Level::Restricted, 8, "allowPrivilegeEscalation", true),
        (Level::Restricted, 18, "seccompProfile_restricted", false),
        (Level::Restricted, 18, "seccompProfile_baseline", true),
        (Level::Restricted, 19, "seccompProfile_restricted", true),
        (Level::Restricted, 19, "seccompProfile_baseline", false),
        (Level::Baseline, 19, "seccompProfile_baseline", true),
        (Level::Restricted, 21, "capabilities_restricted", false),
        (Level::Restricted, 21, "capabilities_baseline", true),
        (Level::Restricted, 22, "capabilities_restricted", true),
        (Level::Restricted, 22, "capabilities_baseline", false),
        (Level::Restricted, 22, "runAsUser", false),
        (Level::Restricted, 23, "runAsUser", true),
        (Level::Baseline, 33, "hostProbesAndHostLifecycle", false),
        (Level::Baseline, 34, "hostProbesAndHostLifecycle", true),
        (Level::Restricted, 34, "procMount", true),
        (Level::Restricted, 34, "procMount_restricted", false),
        (Level::Restricted, 35, "procMount", false),
        (Level::Restricted, 35, "procMount_restricted", true),
        (Level::Baseline, 35, "procMount", true),
        (Level::Restricted, 0, "hostPathVolumes", false),
        (Level::Restricted, 0, "restrictedVolumes", true),
        (Level::Baseline, 37, "runAsNonRoot", false),
    ];
    for &(level, n, id, expected) in cases {
        assert_eq!(has(level, v(n), id), expected, "{level} v1.{n} {id}");
    }
}

#[test]
fn restricted_capabilities_apply_from_v1_22() {
    let mut spec = restricted_pod();
    spec["containers"][0]["securityContext"]["capabilities"] = json!({});
    let p = pod(spec);
    assert_eq!(failing(Level::Restricted, v(21), &p), Vec::<&str>::new());
    assert_eq!(failing(Level::Restricted, v(22), &p), ["capabilities_restricted"]);
    assert_eq!(
        failing(Level::Restricted, Version::Latest, &p),
        ["capabilities_restricted"]
    );
}

#[test]
fn windows_pods_are_exempt_from_linux_only_fields_from_v1_25() {
    let p = pod(json!({
        "os": { "name": "windows" },
        "securityContext": { "runAsNonRoot": true },
        "containers": [{ "name": "c", "image": "i" }]
    }));
    let linux_only = [
        "allowPrivilegeEscalation",
        "capabilities_restricted",
        "seccompProfile_restricted",
    ];
    assert_eq!(failing(Level::Restricted, v(24), &p), linux_only);
    assert_eq!(failing(Level::Restricted, v(25), &p), Vec::<&str>::new());
    let mut linux = p.clone();
    linux["spec"]["os"]["name"] = json!("linux");
    assert_eq!(failing(Level::Restricted, v(25), &linux), linux_only);
}

#[test]
fn user_namespaces_relax_root_and_proc_checks_from_v1_35() {
    let mut spec = restricted_pod();
    spec["hostUsers"] = json!(false);
    spec["securityContext"] = json!({ "runAsUser": 0, "seccompProfile": { "type": "RuntimeDefault" } });
    spec["containers"][0]["securityContext"]["procMount"] = json!("Unmasked");
    let p = pod(spec);
    assert_eq!(
        failing(Level::Restricted, v(34), &p),
        ["procMount", "runAsNonRoot", "runAsUser"]
    );
    // Root is fine in a user namespace; an unmasked /proc is still not restricted.
    assert_eq!(failing(Level::Restricted, v(35), &p), ["procMount_restricted"]);
    assert_eq!(failing(Level::Baseline, v(34), &p), ["procMount"]);
    assert_eq!(failing(Level::Baseline, v(35), &p), Vec::<&str>::new());
}

#[test]
fn allowed_sysctls_grow_by_version() {
    let with = |name: &str| {
        pod(json!({ "securityContext": { "sysctls": [{ "name": name, "value": "1" }] }, "containers": [] }))
    };
    let cases: &[(&str, u32)] = &[
        ("kernel.shm_rmid_forced", 0),
        ("net.ipv4.ip_local_reserved_ports", 27),
        ("net.ipv4.tcp_fin_timeout", 29),
        ("net.ipv4.tcp_wmem", 32),
        ("net.ipv4.tcp_notsent_lowat", 37),
    ];
    for &(name, since) in cases {
        if since > 0 {
            assert_eq!(
                failing(Level::Baseline, v(since - 1), &with(name)),
                ["sysctls"],
                "{name}"
            );
        }
        assert!(failing(Level::Baseline, v(since), &with(name)).is_empty(), "{name}");
        assert!(
            failing(Level::Baseline, Version::Latest, &with(name)).is_empty(),
            "{name}"
        );
    }
    assert_eq!(
        failing(Level::Baseline, Version::Latest, &with("kernel.msgmax")),
        ["sysctls"]
    );
}

#[test]
fn selinux_container_engine_type_is_baseline_from_v1_31() {
    let p = pod(json!({ "securityContext": { "seLinuxOptions": { "type": "container_engine_t" } }, "containers": [] }));
    assert_eq!(failing(Level::Baseline, v(30), &p), ["seLinuxOptions"]);
    assert!(failing(Level::Baseline, v(31), &p).is_empty());
}

#[test]
fn seccomp_is_annotations_before_v1_19_and_fields_after() {
    let annotated = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": { "name": "p", "annotations": { "seccomp.security.alpha.kubernetes.io/pod": "unconfined" } },
        "spec": { "containers": [{ "name": "c" }] }
    });
    let forbidden = check_object(Level::Baseline, v(18), &annotated).unwrap().unwrap();
    assert_eq!(forbidden.len(), 1);
    assert_eq!(
        forbidden[0].detail,
        "forbidden annotation seccomp.security.alpha.kubernetes.io/pod=\"unconfined\""
    );
    assert!(failing(Level::Baseline, v(19), &annotated).is_empty());
    let field = pod(json!({ "securityContext": { "seccompProfile": { "type": "Unconfined" } }, "containers": [] }));
    assert!(failing(Level::Baseline, v(18), &field).is_empty());
    assert_eq!(failing(Level::Baseline, v(19), &field), ["seccompProfile_baseline"]);
}

#[test]
fn probe_hosts_are_baseline_from_v1_34() {
    let p = pod(
        json!({ "containers": [{ "name": "c", "readinessProbe": { "tcpSocket": { "host": "10.0.0.1", "port": 80 } } }] }),
    );
    assert!(failing(Level::Baseline, v(33), &p).is_empty());
    assert_eq!(failing(Level::Baseline, v(34), &p), ["hostProbesAndHostLifecycle"]);
}

#[test]
fn versions_past_the_last_change_evaluate_as_latest() {
    let p = pod(
        json!({ "hostNetwork": true, "containers": [{ "name": "c", "ports": [{ "containerPort": 1, "hostPort": 1 }] }] }),
    );
    assert_eq!(
        failing(Level::Baseline, v(99), &p),
        failing(Level::Baseline, Version::Latest, &p)
    );
    assert_eq!(Version::Minor(99).effective_minor(), NEWEST_MINOR);
}

/// Details exactly as upstream's check tests expect them.
#[test]
fn details_match_upstream_wording() {
    let detail = |level, spec: Value, meta: Value, id: &str| -> String {
        let object = json!({ "apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec });
        let all = check_object(level, Version::Latest, &object).unwrap().unwrap();
        let one = all
            .iter()
            .find(|f| f.check == id)
            .unwrap_or_else(|| panic!("{id} not in {all:?}"));
        format!("{}: {}", one.reason, one.detail)
    };
    let sel = |name: &str, t: &str| json!({ "name": name, "securityContext": { "seLinuxOptions": { "type": t } } });
    assert_eq!(
        detail(
            Level::Baseline,
            json!({
                "securityContext": { "seLinuxOptions": { "type": "foo", "user": "bar", "role": "baz" } },
                "containers": [
                    sel("a", "container_t"), sel("b", "container_init_t"),
                    sel("c", "container_kvm_t"), sel("d", "container_engine_t"),
                    sel("e", "bar"),
                    { "name": "f", "securityContext": { "seLinuxOptions": { "user": "bar" } } },
                    { "name": "g", "securityContext": { "seLinuxOptions": { "role": "baz" } } }
                ]
            }),
            json!({}),
            "seLinuxOptions"
        ),
        "seLinuxOptions: pod and containers \"e\", \"f\", \"g\" set forbidden \
         securityContext.seLinuxOptions: types \"bar\", \"foo\"; user may not be set; role may not be set"
    );
    let caps = |name: &str, add: Value, drop: Value| json!({ "name": name, "securityContext": { "capabilities": { "add": add, "drop": drop } } });
    assert_eq!(
        detail(
            Level::Restricted,
            json!({ "containers": [
                caps("a", json!(["FOO", "BAR"]), json!(null)),
                caps("b", json!(["BAR", "BAZ"]), json!(null)),
                caps("c", json!(["NET_BIND_SERVICE", "CHOWN"]), json!(["ALL", "FOO"]))
            ] }),
            json!({}),
            "capabilities_restricted"
        ),
        "unrestricted capabilities: containers \"a\", \"b\" must set securityContext.capabilities.drop=[\"ALL\"]; \
         containers \"a\", \"b\", \"c\" must not include \"BAR\", \"BAZ\", \"CHOWN\", \"FOO\" in securityContext.capabilities.add"
    );
    let ports = |name: &str, ports: &[i32]| json!({ "name": name, "ports": ports.iter().map(|p| json!({ "containerPort": 1, "hostPort": p })).collect::<Vec<_>>() });
    assert_eq!(
        detail(
            Level::Baseline,
            json!({ "containers": [ports("a", &[0]), ports("b", &[0, 10, 20]), ports("c", &[0, 10, 30])] }),
            json!({}),
            "hostPorts"
        ),
        "hostPort: containers \"b\", \"c\" use hostPorts 10, 20, 30"
    );
    assert_eq!(
        detail(
            Level::Baseline,
            json!({ "containers": [] }),
            json!({ "annotations": {
                "container.apparmor.security.beta.kubernetes.io/": "bogus",
                "container.apparmor.security.beta.kubernetes.io/a": "",
                "container.apparmor.security.beta.kubernetes.io/b": "runtime/default",
                "container.apparmor.security.beta.kubernetes.io/c": "localhost/",
                "container.apparmor.security.beta.kubernetes.io/d": "localhost/foo",
                "container.apparmor.security.beta.kubernetes.io/e": "unconfined",
                "container.apparmor.security.beta.kubernetes.io/f": "unknown"
            } }),
            "appArmorProfile"
        ),
        "forbidden AppArmor profiles: annotations must not set AppArmor profile type to \
         \"container.apparmor.security.beta.kubernetes.io/=\"bogus\"\", \
         \"container.apparmor.security.beta.kubernetes.io/e=\"unconfined\"\", \
         \"container.apparmor.security.beta.kubernetes.io/f=\"unknown\"\""
    );
    let probe = json!({ "httpGet": { "host": "localhost", "port": 1 }, "tcpSocket": { "host": "::1", "port": 1 } });
    assert_eq!(
        detail(
            Level::Baseline,
            json!({ "containers": [{
                "name": "a", "livenessProbe": probe,
                "lifecycle": { "preStop": { "httpGet": { "host": "127.0.0.1", "port": 1 } } }
            }] }),
            json!({}),
            "hostProbesAndHostLifecycle"
        ),
        "probe or lifecycle host: container \"a\" uses probe or lifecycle hosts \"127.0.0.1\", \"::1\", \"localhost\""
    );
    assert_eq!(
        detail(
            Level::Restricted,
            json!({ "containers": [{ "name": "a" }, { "name": "b" }] }),
            json!({}),
            "runAsNonRoot"
        ),
        "runAsNonRoot != true: pod or containers \"a\", \"b\" must set securityContext.runAsNonRoot=true"
    );
}

#[test]
fn the_message_joins_reasons_with_their_details() {
    let forbidden = [
        Forbidden {
            check: "hostPorts",
            reason: "hostPort".into(),
            detail: "container \"a\" uses hostPort 80".into(),
        },
        Forbidden {
            check: "x",
            reason: "no detail".into(),
            detail: String::new(),
        },
    ];
    assert_eq!(
        violation_message(Level::Baseline, Version::Minor(30), &forbidden),
        "violates PodSecurity \"baseline:v1.30\": hostPort (container \"a\" uses hostPort 80), no detail"
    );
    assert!(
        warning_message(Level::Restricted, Version::Latest, &forbidden)
            .starts_with("would violate PodSecurity \"restricted:latest\": ")
    );
}

#[test]
fn levels_and_versions_parse_as_the_labels_do() {
    for (text, level) in [
        ("privileged", Level::Privileged),
        ("baseline", Level::Baseline),
        ("restricted", Level::Restricted),
    ] {
        assert_eq!(text.parse::<Level>().unwrap(), level);
        assert_eq!(level.to_string(), text);
    }
    assert!("Restricted".parse::<Level>().is_err());
    for (text, version) in [
        ("latest", Version::Latest),
        ("v1.0", v(0)),
        ("v1.22", v(22)),
        ("v1.137", v(137)),
    ] {
        assert_eq!(text.parse::<Version>().unwrap(), version);
        assert_eq!(version.to_string(), text);
    }
    for bad in [
        "",
        "v1.",
        "v1.01",
        "v2.0",
        "1.22",
        "v1.2x",
        "Latest",
        "v1.-1",
        "v1.99999999999",
    ] {
        assert!(bad.parse::<Version>().is_err(), "{bad}");
    }
    assert!(Version::Latest > v(1000));
    assert!(v(21) < v(22));
}

#[test]
fn workloads_are_judged_by_their_pod_template() {
    let template =
        json!({ "metadata": { "labels": { "a": "b" } }, "spec": { "hostPID": true, "containers": [{ "name": "c" }] } });
    let objects = [
        json!({ "apiVersion": "apps/v1", "kind": "Deployment", "spec": { "template": template } }),
        json!({ "apiVersion": "apps/v1", "kind": "StatefulSet", "spec": { "template": template } }),
        json!({ "apiVersion": "apps/v1", "kind": "DaemonSet", "spec": { "template": template } }),
        json!({ "apiVersion": "apps/v1", "kind": "ReplicaSet", "spec": { "template": template } }),
        json!({ "apiVersion": "v1", "kind": "ReplicationController", "spec": { "template": template } }),
        json!({ "apiVersion": "v1", "kind": "PodTemplate", "template": template }),
        json!({ "apiVersion": "batch/v1", "kind": "Job", "spec": { "template": template } }),
        json!({ "apiVersion": "batch/v1", "kind": "CronJob", "spec": { "jobTemplate": { "spec": { "template": template } } } }),
    ];
    for object in &objects {
        assert_eq!(
            failing(Level::Baseline, Version::Latest, object),
            ["hostNamespaces"],
            "{object}"
        );
    }
    let no_pods = json!({ "apiVersion": "v1", "kind": "ConfigMap", "data": {} });
    assert_eq!(check_object(Level::Restricted, Version::Latest, &no_pods), Ok(None));
    let other_group = json!({ "apiVersion": "example.com/v1", "kind": "Deployment", "spec": { "template": template } });
    assert_eq!(check_object(Level::Restricted, Version::Latest, &other_group), Ok(None));
    let rc_without_template = json!({ "apiVersion": "v1", "kind": "ReplicationController", "spec": {} });
    assert_eq!(
        check_object(Level::Restricted, Version::Latest, &rc_without_template),
        Ok(Some(vec![]))
    );
}

#[test]
fn unreadable_objects_name_the_field() {
    let bad = json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "spec": { "template": { "spec": { "containers": [
            { "name": "ok" },
            { "name": "c", "securityContext": { "privileged": "yes" } }
        ] } } }
    });
    let err = check_object(Level::Baseline, Version::Latest, &bad).unwrap_err();
    let PssError::Unreadable { field, message } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(field, "spec.template.spec.containers[1].securityContext.privileged");
    assert!(message.contains("expected a boolean"), "{message}");
    let bad_meta = json!({ "apiVersion": "v1", "kind": "Pod", "metadata": { "annotations": { "a": 1 } }, "spec": {} });
    let err = check_object(Level::Baseline, Version::Latest, &bad_meta).unwrap_err();
    assert!(err.to_string().starts_with("metadata.annotations: "), "{err}");
    let bad_template = json!({ "apiVersion": "batch/v1", "kind": "Job", "spec": { "template": [] } });
    let err = check_object(Level::Baseline, Version::Latest, &bad_template).unwrap_err();
    assert!(err.to_string().starts_with("spec.template: "), "{err}");
    assert_eq!(
        check_object(Level::Baseline, Version::Latest, &json!([])),
        Err(PssError::NotAnObject)
    );
}

/// What the API server changes in a new Pod before PodSecurity sees it (observed against the
/// real API server by tests/pss_apiserver.rs), and leaves alone in pod templates.
#[test]
fn new_pods_are_judged_as_the_api_server_defaults_them() {
    let spec = json!({ "hostNetwork": true, "containers": [{ "name": "c", "ports": [{ "containerPort": 8080 }] }] });
    let as_pod = check_object(Level::Baseline, Version::Latest, &pod(spec.clone()))
        .unwrap()
        .unwrap();
    assert_eq!(
        as_pod.iter().map(|f| f.check).collect::<Vec<_>>(),
        ["hostNamespaces", "hostPorts"]
    );
    assert_eq!(as_pod[1].detail, "container \"c\" uses hostPort 8080");
    let deployment = json!({ "apiVersion": "apps/v1", "kind": "Deployment", "spec": { "template": { "spec": spec } } });
    assert_eq!(
        failing(Level::Baseline, Version::Latest, &deployment),
        ["hostNamespaces"]
    );

    let annotated = |os: &str| {
        json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": { "name": "p", "annotations": { "container.apparmor.security.beta.kubernetes.io/c": "unconfined" } },
            "spec": { "os": { "name": os }, "containers": [{ "name": "c" }] }
        })
    };
    let linux = check_object(Level::Baseline, Version::Latest, &annotated("linux"))
        .unwrap()
        .unwrap();
    assert_eq!(
        linux[0].detail,
        "container \"c\" and annotation must not set AppArmor profile type to \"Unconfined\", \
         \"container.apparmor.security.beta.kubernetes.io/c=\"unconfined\"\""
    );
    let windows = check_object(Level::Baseline, Version::Latest, &annotated("windows"))
        .unwrap()
        .unwrap();
    assert_eq!(
        windows[0].detail,
        "annotation must not set AppArmor profile type to \"container.apparmor.security.beta.kubernetes.io/c=\"unconfined\"\""
    );
}
