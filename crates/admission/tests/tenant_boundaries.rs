//! The boundary between tenants, tried as an attacker would: every path to a namespace that is
//! not one's own, every subresource, every label that says who owns what, and every RoleBinding
//! subject. Each attack comes with its compliant twin, and no denial names another tenant.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failure should stop the test loudly

mod common;

use common::*;
use palisade_admission::Snapshot;
use serde_json::{Value, json};

fn namespace_of(tenant: Option<&str>, extra: Value) -> Value {
    let mut object = json!({ "metadata": { "labels": {} }, "spec": { "finalizers": ["kubernetes"] } });
    if let Some(tenant) = tenant {
        object["metadata"]["labels"]["palisade.dev/tenant"] = json!(tenant);
    }
    if let Value::Object(extra) = extra {
        for (key, value) in extra {
            object["metadata"][key] = value;
        }
    }
    object
}

fn update_namespace(name: &'static str, user: &'static str, old: Value, new: Value) -> Review {
    Review::new("Namespace", "UPDATE", None, name)
        .by(user, &["system:authenticated"])
        .old(old)
        .object(new)
}

const BOB: &str = "bob"; // owns storefront only
const STOREFRONT_SA: &str = "system:serviceaccount:storefront-web:deployer";

#[test]
fn tenant_users_cannot_write_or_delete_namespaces_outside_their_tenant() {
    let payments = namespace_of(Some("payments"), json!({}));
    let labelled = namespace_of(
        Some("payments"),
        json!({ "labels": { "palisade.dev/tenant": "payments", "x": "y" } }),
    );
    for user in [BOB, STOREFRONT_SA] {
        let verdict = update_namespace("payments-api", user, payments.clone(), labelled.clone()).decide();
        denied(
            verdict.clone(),
            &["namespace \"payments-api\" is not a namespace of your tenant"],
        );
        never_names(verdict, &["\"payments\""]);
        let delete = Review::new("Namespace", "DELETE", None, "payments-api")
            .by(user, &[])
            .old(payments.clone());
        denied(
            delete.decide(),
            &["is not a namespace of your tenant", "can delete only"],
        );
        for system in ["kube-system", "default", "monitoring"] {
            let annotated = namespace_of(
                None,
                json!({ "annotations": { "scheduler.alpha.kubernetes.io/node-selector": "pool=gpu" } }),
            );
            denied(
                update_namespace(system, user, namespace_of(None, json!({})), annotated).decide(),
                &["is not a namespace of your tenant"],
            );
            let delete = Review::new("Namespace", "DELETE", None, system)
                .by(user, &[])
                .old(namespace_of(None, json!({})));
            denied(delete.decide(), &["is not a namespace of your tenant"]);
            for sub in ["status", "finalize"] {
                let stripped = json!({ "metadata": { "labels": { "a": "b" } }, "spec": { "finalizers": [] } });
                denied(
                    update_namespace(system, user, namespace_of(None, json!({})), stripped)
                        .sub(sub)
                        .decide(),
                    &["is not a namespace of your tenant"],
                );
            }
        }
    }
    // The compliant twins: one's own namespace, and a platform user on a platform namespace.
    let storefront = namespace_of(Some("storefront"), json!({}));
    let mut own_label = storefront.clone();
    own_label["metadata"]["labels"]["team"] = json!("web");
    allowed(update_namespace("storefront-web", BOB, storefront.clone(), own_label.clone()).decide());
    allowed(update_namespace("storefront-web", STOREFRONT_SA, storefront.clone(), own_label).decide());
    allowed(
        Review::new("Namespace", "DELETE", None, "storefront-web")
            .by(BOB, &[])
            .old(storefront)
            .decide(),
    );
    let mut platform_label = namespace_of(None, json!({}));
    platform_label["metadata"]["labels"]["team"] = json!("sre");
    allowed(update_namespace("monitoring", "ops", namespace_of(None, json!({})), platform_label).decide());
}

#[test]
fn in_their_own_namespace_tenant_users_leave_lifetime_and_reserved_metadata_alone() {
    let own = namespace_of(Some("storefront"), json!({}));
    let attacks: Vec<(&str, Value, Option<&'static str>, &str)> = vec![
        (
            "strip spec.finalizers through /finalize",
            json!({ "metadata": { "labels": { "palisade.dev/tenant": "storefront" } }, "spec": { "finalizers": [] } }),
            Some("finalize"),
            "tenant users cannot write namespaces/finalize",
        ),
        (
            "write /status",
            own.clone(),
            Some("status"),
            "tenant users cannot write namespaces/status",
        ),
        (
            "a dangling owner reference lets the garbage collector delete it",
            namespace_of(
                Some("storefront"),
                json!({ "ownerReferences": [{ "apiVersion": "v1", "kind": "Node", "name": "gone", "uid": "1" }] }),
            ),
            None,
            "owner references",
        ),
        (
            "a finalizer nobody removes keeps it Terminating forever",
            namespace_of(Some("storefront"), json!({ "finalizers": ["example.com/hold"] })),
            None,
            "finalizers",
        ),
        (
            "tolerations for the whole namespace",
            namespace_of(
                Some("storefront"),
                json!({ "annotations": { "scheduler.alpha.kubernetes.io/defaultTolerations": "[]" } }),
            ),
            None,
            "annotation scheduler.alpha.kubernetes.io/defaultTolerations",
        ),
        (
            "a Palisade label the Tenant does not set today",
            namespace_of(
                Some("storefront"),
                json!({ "labels": { "palisade.dev/tenant": "storefront", "palisade.dev/cordoned": "false" } }),
            ),
            None,
            "label palisade.dev/cordoned",
        ),
    ];
    for (attack, new, sub, fragment) in attacks {
        let mut review = update_namespace("storefront-web", BOB, own.clone(), new);
        if let Some(sub) = sub {
            review = review.sub(sub);
        }
        match review.decide() {
            palisade_admission::Verdict::Deny(message) => {
                assert!(message.contains(fragment), "{attack}: {message:?} lacks {fragment:?}")
            }
            other => panic!("{attack}: admitted ({other:?})"),
        }
    }
    // The namespace controller and the garbage collector still do their work.
    for controller in [
        "system:serviceaccount:kube-system:namespace-controller",
        "system:serviceaccount:kube-system:generic-garbage-collector",
    ] {
        let stripped =
            json!({ "metadata": { "labels": { "palisade.dev/tenant": "storefront" } }, "spec": { "finalizers": [] } });
        allowed(
            update_namespace("storefront-web", controller, own.clone(), stripped)
                .sub("finalize")
                .decide(),
        );
    }
}

#[test]
fn tenant_owner_references_are_recognised_however_the_group_is_spelled() {
    for api_version in ["palisade.dev/v1alpha1", "Palisade.dev/v1alpha1", "PALISADE.DEV/v1"] {
        let reference = json!([{ "apiVersion": api_version, "kind": "Tenant", "name": "payments", "uid": "u", "controller": false }]);
        // A platform user creating a namespace that the GC would delete with the tenant.
        let create = Review::new("Namespace", "CREATE", None, "team-x")
            .by("ops", &[])
            .object(json!({ "metadata": { "ownerReferences": reference } }));
        denied(create.decide(), &["owner reference to a Tenant"]);
        // An owner creating a namespace that also names another tenant.
        let create = Review::new("Namespace", "CREATE", None, "storefront-new")
            .by(BOB, &[])
            .object(json!({ "metadata": { "ownerReferences": reference } }));
        denied(create.decide(), &["owner reference to a Tenant"]);
        let update = update_namespace(
            "monitoring",
            "ops",
            namespace_of(None, json!({})),
            namespace_of(None, json!({ "ownerReferences": reference })),
        );
        denied(update.decide(), &["owner reference binding namespace"]);
    }
    // Owners still create namespaces, and Palisade writes the reference.
    let create = Review::new("Namespace", "CREATE", None, "storefront-new")
        .by(BOB, &[])
        .object(json!({ "metadata": {} }));
    assert!(matches!(create.decide(), palisade_admission::Verdict::Patch(_)));
}

#[test]
fn names_under_a_forced_prefix_belong_to_that_tenant() {
    let create = |name: &'static str, user: &'static str| {
        Review::new("Namespace", "CREATE", None, name)
            .by(user, &[])
            .object(json!({ "metadata": {} }))
    };
    denied(
        create("payments-shadow", "ops").decide(),
        &["under a tenant's forced name prefix", "only that tenant's owners"],
    );
    // A tenant ServiceAccount is not an owner and makes no namespace anywhere.
    denied(
        create("payments-ci", "system:serviceaccount:payments-api:ci").decide(),
        &["not one of its owners"],
    );
    allowed(create("paymentsx", "ops").decide());
    allowed(create("team-x", "ops").decide());
}

fn with_grant_to_metrics() -> Snapshot {
    let granting = tenant(
        r#"
apiVersion: palisade.dev/v1alpha1
kind: Tenant
metadata: { name: ledger, uid: u-ledger }
spec:
  owners: [{ kind: User, name: lena }]
  network: { allowFrom: { namespaces: [metrics] } }
"#,
    );
    let squatter = tenant(
        r#"
apiVersion: palisade.dev/v1alpha1
kind: Tenant
metadata: { name: squat, uid: u-squat }
spec:
  owners: [{ kind: User, name: sam }]
"#,
    );
    cluster().with_tenant(granting).with_tenant(squatter)
}

#[test]
fn a_granted_platform_namespace_name_cannot_be_taken_by_a_tenant() {
    let create = |user: &'static str| {
        Review::new("Namespace", "CREATE", None, "metrics")
            .by(user, &[])
            .object(json!({ "metadata": {} }))
    };
    let verdict = create("sam").decide_in(&with_grant_to_metrics());
    denied(verdict.clone(), &["reserved for a platform namespace"]);
    never_names(verdict, &["ledger"]);
    // The platform itself re-creates it.
    allowed(create("ops").decide_in(&with_grant_to_metrics()));
    // A name nobody was granted is free.
    let free = Review::new("Namespace", "CREATE", None, "sam-tools")
        .by("sam", &[])
        .object(json!({ "metadata": {} }));
    assert!(matches!(
        free.decide_in(&with_grant_to_metrics()),
        palisade_admission::Verdict::Patch(_)
    ));
}

#[test]
fn a_cordon_covers_every_subresource() {
    let attacks = [
        Review::new("Eviction", "CREATE", Some("frozen-a"), "api-0")
            .sub("eviction")
            .object(json!({})),
        Review::new("Scale", "UPDATE", Some("frozen-a"), "api")
            .sub("scale")
            .old(json!({ "spec": { "replicas": 1 } }))
            .object(json!({ "spec": { "replicas": 50 } })),
        Review::new("TokenRequest", "CREATE", Some("frozen-a"), "default")
            .sub("token")
            .object(json!({ "spec": { "audiences": [] } })),
        Review::new("Pod", "UPDATE", Some("frozen-a"), "api-0")
            .sub("resize")
            .old(pod("registry.example.com/frozen/api:1"))
            .object(pod("registry.example.com/frozen/api:1")),
    ];
    for attack in attacks {
        denied(attack.by("carol", &[]).decide(), &["tenant \"frozen\" is cordoned"]);
    }
    // Kubernetes' controllers keep running in a cordoned tenant.
    let controller = Review::new("Scale", "UPDATE", Some("frozen-a"), "api")
        .sub("scale")
        .by("system:serviceaccount:kube-system:horizontal-pod-autoscaler", &[])
        .old(json!({ "spec": { "replicas": 1 } }))
        .object(json!({ "spec": { "replicas": 2 } }));
    allowed(controller.decide());
}

#[test]
fn a_pods_binding_and_status_are_the_schedulers_and_the_kubelets() {
    let binding = Review::new("Binding", "CREATE", Some("payments-api"), "api-0")
        .sub("binding")
        .object(json!({ "target": { "kind": "Node", "name": "gpu-node" } }));
    denied(binding.decide(), &["pods/binding", "the scheduler"]);
    let status = Review::new("Pod", "UPDATE", Some("payments-api"), "api-0")
        .sub("status")
        .old(pod("registry.example.com/payments/api:1"))
        .object(pod("registry.example.com/payments/api:1"));
    denied(status.decide(), &["pods/status", "the kubelet"]);
    allowed(binding.by("system:kube-scheduler", &[]).decide());
    // Evicting and scaling one's own workloads is fine.
    allowed(
        Review::new("Eviction", "CREATE", Some("payments-api"), "api-0")
            .sub("eviction")
            .object(json!({}))
            .decide(),
    );
    allowed(
        Review::new("Scale", "UPDATE", Some("payments-api"), "api")
            .sub("scale")
            .old(json!({ "spec": { "replicas": 1 } }))
            .object(json!({ "spec": { "replicas": 3 } }))
            .decide(),
    );
}

#[test]
fn palisade_labels_cannot_be_forged_on_objects_or_templates() {
    let forged = json!({ "palisade.dev/tenant": "storefront" });
    let pod_spec = pod("registry.example.com/payments/api:1")["spec"].clone();
    let attacks: Vec<Review> = vec![
        Review::new("ConfigMap", "CREATE", Some("payments-api"), "c")
            .object(json!({ "metadata": { "labels": forged } })),
        Review::new("ConfigMap", "CREATE", Some("payments-api"), "c")
            .object(json!({ "metadata": { "labels": { "palisade.dev/cordoned": "true" } } })),
        Review::new("NetworkPolicy", "CREATE", Some("payments-api"), "n")
            .object(json!({ "metadata": { "labels": forged }, "spec": { "podSelector": {} } })),
        Review::new("Deployment", "CREATE", Some("payments-api"), "d").object(json!({ "spec": {
            "template": { "metadata": { "labels": forged }, "spec": pod_spec }
        } })),
        Review::new("CronJob", "CREATE", Some("payments-api"), "j").object(
            json!({ "spec": { "jobTemplate": { "spec": {
            "template": { "metadata": { "labels": forged }, "spec": pod_spec }
        } } } }),
        ),
        Review::new("StatefulSet", "CREATE", Some("payments-api"), "s").object(json!({ "spec": {
            "template": { "spec": pod_spec },
            "volumeClaimTemplates": [{ "metadata": { "name": "data", "labels": forged } }]
        } })),
        // Made by a controller from a template written before Palisade checked templates.
        Review::new("Pod", "CREATE", Some("payments-api"), "p")
            .by("system:serviceaccount:kube-system:replicaset-controller", &[])
            .object({
                let mut p = pod("registry.example.com/payments/api:1");
                p["metadata"] = json!({ "labels": forged });
                p
            }),
    ];
    for attack in attacks {
        let verdict = attack.decide();
        denied(verdict, &["labels under palisade.dev/ are set by Palisade"]);
    }
    let own = Review::new("ConfigMap", "CREATE", Some("payments-api"), "c")
        .object(json!({ "metadata": { "labels": { "palisade.dev/tenant": "payments", "app": "api" } } }));
    allowed(own.decide());
}

fn role_binding(subjects: Value) -> Review {
    Review::new("RoleBinding", "CREATE", Some("payments-api"), "grant").object(json!({
        "roleRef": { "apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "admin" },
        "subjects": subjects
    }))
}

#[test]
fn role_bindings_name_only_the_tenants_own_subjects() {
    let outside = [
        (json!({ "kind": "User", "name": "bob" }), "an owner of another tenant"),
        (
            json!({ "kind": "Group", "name": "system:authenticated" }),
            "system group",
        ),
        (
            json!({ "kind": "Group", "name": "system:serviceaccounts" }),
            "system group",
        ),
        (
            json!({ "kind": "Group", "name": "system:unauthenticated" }),
            "system group",
        ),
        (
            json!({ "kind": "Group", "name": "system:serviceaccounts:storefront-web" }),
            "namespace outside this tenant",
        ),
        (
            json!({ "kind": "ServiceAccount", "name": "default", "namespace": "storefront-web" }),
            "namespace outside this tenant",
        ),
        (
            json!({ "kind": "ServiceAccount", "name": "default", "namespace": "kube-system" }),
            "namespace outside this tenant",
        ),
        (
            json!({ "kind": "User", "name": "system:serviceaccount:storefront-web:default" }),
            "namespace outside this tenant",
        ),
        (json!({ "kind": "User", "name": "system:anonymous" }), "system identity"),
    ];
    for (subject, why) in outside {
        let verdict = role_binding(json!([subject])).decide();
        denied(verdict.clone(), &[why, "spec.rbac.outsideSubjects"]);
        never_names(verdict, &["tenant \"storefront\""]);
    }
    let inside = json!([
        { "kind": "User", "name": "dev-dan" },
        { "kind": "User", "name": "alice" },
        { "kind": "Group", "name": "payments-admins" },
        { "kind": "ServiceAccount", "name": "builder", "namespace": "payments-jobs" },
        { "kind": "ServiceAccount", "name": "builder" },
        { "kind": "Group", "name": "system:serviceaccounts:payments-jobs" }
    ]);
    allowed(role_binding(inside).decide());
    // The platform can let a named outsider in.
    let mut payments = cluster().directory.tenant("payments").unwrap().clone();
    payments.spec.rbac.outside_subjects = vec![palisade_api::SubjectRef {
        kind: palisade_api::SubjectKind::ServiceAccount,
        name: "prometheus".into(),
        namespace: Some("monitoring".into()),
    }];
    payments.metadata.resource_version = Some("changed".into());
    let snapshot = cluster().with_tenant(payments);
    allowed(
        role_binding(json!([{ "kind": "ServiceAccount", "name": "prometheus", "namespace": "monitoring" }]))
            .decide_in(&snapshot),
    );
    denied(
        role_binding(json!([{ "kind": "ServiceAccount", "name": "grafana", "namespace": "monitoring" }]))
            .decide_in(&snapshot),
        &["namespace outside this tenant"],
    );
}

#[test]
fn what_the_webhook_does_not_know_it_does_not_wave_through() {
    // A namespace the cache has not seen (the API server sent it because it is a tenant's).
    let pod =
        Review::new("Pod", "CREATE", Some("payments-fresh"), "p").object(pod("registry.example.com/payments/a:1"));
    denied(pod.decide(), &["does not know namespace \"payments-fresh\"", "retry"]);
    // A namespace bound to a tenant the cache has not seen: said without naming it.
    let snapshot = cluster().with_namespace("ghost-a", Some("ghost"));
    let verdict = Review::new("ConfigMap", "CREATE", Some("ghost-a"), "c")
        .object(json!({}))
        .decide_in(&snapshot);
    denied(verdict.clone(), &["bound to a tenant Palisade does not know yet"]);
    never_names(verdict, &["ghost\""]);
}
