//! Every rule, allowed and denied, fed real AdmissionReview v1 JSON as the API server sends it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failure should stop the test loudly

mod common;

use common::*;
use kube::core::DynamicObject;
use kube::core::admission::{AdmissionRequest, AdmissionReview};
use palisade_admission::{AdmissionConfig, Verdict};
use serde_json::{Value, json};

// ---------------------------------------------------------------- namespaces

#[test]
fn owner_creates_a_namespace_that_lands_in_her_tenant() {
    let review = Review::new("Namespace", "CREATE", None, "payments-web").object(json!({ "metadata": {} }));
    let ns = patched(review.decide(), review.object.clone().unwrap());
    let labels = &ns["metadata"]["labels"];
    assert_eq!(labels["palisade.dev/tenant"], "payments");
    assert_eq!(labels["pod-security.kubernetes.io/enforce"], "restricted");
    assert_eq!(labels["cost-center"], "cc-1");
    assert_eq!(
        ns["metadata"]["annotations"]["scheduler.alpha.kubernetes.io/node-selector"],
        "pool=regulated"
    );
    assert_eq!(ns["metadata"]["ownerReferences"][0]["kind"], "Tenant");
    assert_eq!(
        ns["metadata"]["ownerReferences"][0]["uid"],
        "0b7c6f1e-0000-4000-8000-000000000001"
    );
}

#[test]
fn owner_of_several_tenants_is_routed_by_prefix_or_label_and_told_how_to_choose() {
    // alice owns payments and storefront.
    let by_prefix = Review::new("Namespace", "CREATE", None, "storefront-cart").object(json!({ "metadata": {} }));
    let ns = patched(by_prefix.decide(), by_prefix.object.clone().unwrap());
    assert_eq!(ns["metadata"]["labels"]["palisade.dev/tenant"], "storefront");

    let ambiguous = Review::new("Namespace", "CREATE", None, "scratch").object(json!({ "metadata": {} }));
    denied(
        ambiguous.decide(),
        &[
            "you own several tenants",
            "\"payments\"",
            "\"storefront\"",
            "palisade.dev/tenant=<tenant>",
        ],
    );

    let by_label = Review::new("Namespace", "CREATE", None, "payments-x")
        .object(json!({ "metadata": { "labels": { "palisade.dev/tenant": "payments" } } }));
    assert!(matches!(by_label.decide(), Verdict::Patch(_)));
}

#[test]
fn namespace_creation_rules() {
    let create = |name: &'static str, user: &'static str, labels: Value| {
        Review::new("Namespace", "CREATE", None, name)
            .by(user, &["system:authenticated"])
            .object(json!({ "metadata": { "labels": labels } }))
    };
    denied(
        create("web", "bob", json!({})).decide(),
        &[
            "tenant \"storefront\" names its namespaces \"storefront-<name>\"",
            "\"web\"",
        ],
    );
    denied(
        create("payments-x", "bob", json!({ "palisade.dev/tenant": "payments" })).decide(),
        &["asks for tenant \"payments\"", "bob is not an owner"],
    );
    denied(
        create("kube-payments", "alice", json!({ "palisade.dev/tenant": "payments" })).decide(),
        &["reserved for the cluster"],
    );
    denied(
        create("frozen-b", "carol", json!({})).decide(),
        &["tenant \"frozen\" is cordoned"],
    );
    // Someone who owns no tenant and asks for none is not Palisade's business (RBAC let them).
    allowed(create("sandbox", "dave", json!({})).decide());
    // ...but cannot put a namespace into a tenant.
    denied(
        create("payments-evil", "dave", json!({ "palisade.dev/tenant": "payments" })).decide(),
        &["dave is not an owner"],
    );
}

#[test]
fn the_namespace_limit_counts_existing_namespaces() {
    let mut snapshot = cluster();
    snapshot = snapshot.with_namespace("payments-third", Some("payments"));
    let review = Review::new("Namespace", "CREATE", None, "payments-fourth").object(json!({ "metadata": {} }));
    let request: AdmissionRequest<DynamicObject> =
        serde_json::from_value::<AdmissionReview<DynamicObject>>(review.json())
            .unwrap()
            .try_into()
            .unwrap();
    denied(
        palisade_admission::review(&request, &snapshot, &AdmissionConfig::default()),
        &[
            "at most 3 namespaces and already has 3",
            "payments-api, payments-jobs, payments-third",
        ],
    );
}

fn tenant_namespace(tenant: &str, extra_labels: Value) -> Value {
    let mut labels = json!({
        "palisade.dev/tenant": tenant,
        "kubernetes.io/metadata.name": "payments-api",
        "app.kubernetes.io/managed-by": "palisade",
        "pod-security.kubernetes.io/enforce": "restricted", "pod-security.kubernetes.io/enforce-version": "latest",
        "pod-security.kubernetes.io/audit": "restricted", "pod-security.kubernetes.io/audit-version": "latest",
        "pod-security.kubernetes.io/warn": "restricted", "pod-security.kubernetes.io/warn-version": "latest",
        "cost-center": "cc-1",
    });
    if let (Value::Object(labels), Value::Object(extra)) = (&mut labels, extra_labels) {
        labels.extend(extra);
    }
    json!({ "metadata": { "labels": labels, "annotations": { "scheduler.alpha.kubernetes.io/node-selector": "pool=regulated" } } })
}

#[test]
fn the_tenant_binding_cannot_be_moved_removed_or_added_on_any_path() {
    let bound = tenant_namespace("payments", json!({}));
    let mut moved = bound.clone();
    moved["metadata"]["labels"]["palisade.dev/tenant"] = json!("storefront");
    let mut removed = bound.clone();
    removed["metadata"]["labels"]
        .as_object_mut()
        .unwrap()
        .remove("palisade.dev/tenant");
    for sub in [None, Some("status"), Some("finalize")] {
        for user in ["alice", "bob"] {
            let update = |old: &Value, new: &Value| {
                let mut review = Review::new("Namespace", "UPDATE", None, "payments-api")
                    .by(user, &["system:authenticated"])
                    .old(old.clone())
                    .object(new.clone());
                if let Some(sub) = sub {
                    review = review.sub(sub);
                }
                review.decide()
            };
            denied(
                update(&bound, &moved),
                &["belongs to a tenant and cannot be moved to tenant \"storefront\""],
            );
            denied(
                update(&bound, &removed),
                &["only the platform team can remove the label palisade.dev/tenant"],
            );
        }
    }
    // Labelling a system namespace into a tenant.
    for system in ["kube-system", "default"] {
        let review = Review::new("Namespace", "UPDATE", None, system)
            .old(json!({ "metadata": { "labels": {} } }))
            .object(json!({ "metadata": { "labels": { "palisade.dev/tenant": "payments" } } }));
        denied(review.decide(), &["is not a tenant namespace", "cannot be added"]);
    }
    // Owner references binding to a tenant are Palisade's too.
    let mut with_owner = bound.clone();
    with_owner["metadata"]["ownerReferences"] =
        json!([{ "apiVersion": "palisade.dev/v1alpha1", "kind": "Tenant", "name": "payments", "uid": "x" }]);
    let review = Review::new("Namespace", "UPDATE", None, "payments-api")
        .old(with_owner)
        .object(bound.clone());
    denied(
        review.decide(),
        &["owner reference", "cannot be added, changed or removed"],
    );
}

#[test]
fn managed_namespace_metadata_is_immutable_for_tenant_users_and_the_rest_is_free() {
    let bound = tenant_namespace("payments", json!({}));
    let mut lowered = bound.clone();
    lowered["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] = json!("privileged");
    let review = Review::new("Namespace", "UPDATE", None, "payments-api")
        .old(bound.clone())
        .object(lowered);
    denied(
        review.decide(),
        &[
            "manages the label pod-security.kubernetes.io/enforce",
            "must stay \"restricted\"",
            "changed to \"privileged\"",
        ],
    );

    let mut no_selector = bound.clone();
    no_selector["metadata"]["annotations"] = json!({});
    let review = Review::new("Namespace", "UPDATE", None, "payments-api")
        .old(bound.clone())
        .object(no_selector);
    denied(
        review.decide(),
        &["annotation scheduler.alpha.kubernetes.io/node-selector", "removed"],
    );

    let mut own_label = bound.clone();
    own_label["metadata"]["labels"]["team"] = json!("blue");
    allowed(
        Review::new("Namespace", "UPDATE", None, "payments-api")
            .old(bound)
            .object(own_label)
            .decide(),
    );
}

#[test]
fn administrators_are_never_checked() {
    let review = Review::new("Namespace", "UPDATE", None, "kube-system")
        .by("admin", &["system:masters", "system:authenticated"])
        .old(json!({ "metadata": { "labels": {} } }))
        .object(json!({ "metadata": { "labels": { "palisade.dev/tenant": "payments" } } }));
    allowed(review.decide());
}

// ---------------------------------------------------------------- pods and workloads

#[test]
fn pod_gets_defaults_and_node_selector() {
    let review = Review::new("Pod", "CREATE", Some("payments-api"), "api")
        .by("system:serviceaccount:kube-system:replicaset-controller", &["system:serviceaccounts"])
        .object(json!({ "spec": {
            "containers": [{ "name": "api", "image": "registry.example.com/payments/api:1", "imagePullPolicy": "IfNotPresent" }],
            "priority": 0
        } }));
    let pod = patched(review.decide(), review.object.clone().unwrap());
    assert_eq!(pod["spec"]["priorityClassName"], "tenant-normal");
    assert_eq!(pod["spec"]["runtimeClassName"], "gvisor");
    assert_eq!(pod["spec"]["nodeSelector"]["pool"], "regulated");
    assert!(
        pod["spec"].get("priority").is_none(),
        "the Priority plugin must recompute the priority"
    );
}

#[test]
fn pod_rules_cover_every_container_kind() {
    let pod_review =
        |spec: Value| Review::new("Pod", "CREATE", Some("payments-api"), "api").object(json!({ "spec": spec }));
    denied(
        pod_review(pod("nginx")["spec"].clone()).decide(),
        &[
            "tenant \"payments\" allows images only from registry.example.com/payments/",
            "container \"api\" uses docker.io/library/nginx",
        ],
    );
    denied(
        pod_review(json!({
            "containers": [{ "name": "api", "image": "registry.example.com/payments/api", "imagePullPolicy": "Always" }],
            "initContainers": [{ "name": "init", "image": "busybox", "imagePullPolicy": "Always" }]
        }))
        .decide(),
        &["init container \"init\" uses docker.io/library/busybox"],
    );
    denied(
        pod_review(json!({ "containers": [{ "name": "api", "image": "registry.example.com/payments/api", "imagePullPolicy": "Never" }] })).decide(),
        &["allows imagePullPolicy Always, IfNotPresent", "uses Never"],
    );
    denied(
        pod_review(json!({ "containers": [{ "name": "api", "image": "registry.example.com/payments/api" }], "priorityClassName": "system-cluster-critical" }))
            .decide(),
        &["allows the priority class tenant-normal, tenant-high", "\"system-cluster-critical\""],
    );
    denied(
        pod_review(json!({ "containers": [{ "name": "api", "image": "registry.example.com/payments/api" }], "runtimeClassName": "runc" })).decide(),
        &["runtime class gvisor", "\"runc\""],
    );
    denied(
        pod_review(json!({ "containers": [{ "name": "api", "image": "registry.example.com/payments/api" }], "nodeSelector": { "pool": "general" } }))
            .decide(),
        &["runs its pods on nodes with pool=regulated", "asks for pool=general"],
    );
    // kubectl debug adds ephemeral containers through a subresource UPDATE.
    let debug = Review::new("Pod", "UPDATE", Some("payments-api"), "api")
        .sub("ephemeralcontainers")
        .old(pod("registry.example.com/payments/api"))
        .object(json!({ "spec": {
            "containers": [{ "name": "api", "image": "registry.example.com/payments/api", "imagePullPolicy": "Always" }],
            "ephemeralContainers": [{ "name": "debugger", "image": "docker.io/nicolaka/netshoot" }]
        } }));
    denied(
        debug.decide(),
        &["ephemeral container \"debugger\" uses docker.io/nicolaka/netshoot"],
    );
}

#[test]
fn compliant_pod_with_explicit_classes_is_allowed_unchanged() {
    let review = Review::new("Pod", "CREATE", Some("payments-api"), "api").object(json!({ "spec": {
        "containers": [{ "name": "api", "image": "registry.example.com/payments/api", "imagePullPolicy": "Always" }],
        "priorityClassName": "tenant-high", "runtimeClassName": "gvisor", "nodeSelector": { "pool": "regulated" }
    } }));
    allowed(review.decide());
}

#[test]
fn workload_templates_are_checked_at_apply_time() {
    let deployment = Review::new("Deployment", "CREATE", Some("payments-api"), "web").object(json!({ "spec": {
        "selector": { "matchLabels": { "app": "web" } },
        "template": { "metadata": { "labels": { "app": "web" } }, "spec": pod("nginx:1.27")["spec"] }
    } }));
    denied(
        deployment.decide(),
        &["container \"api\" (in the pod template of Deployment \"web\") uses docker.io/library/nginx:1.27"],
    );

    let cronjob = Review::new("CronJob", "CREATE", Some("payments-api"), "nightly").object(json!({ "spec": {
        "schedule": "0 3 * * *",
        "jobTemplate": { "spec": { "template": { "spec": pod("registry.example.com/payments/batch")["spec"] } } }
    } }));
    allowed(cronjob.decide());
}

// ---------------------------------------------------------------- services, ingresses, PVCs

#[test]
fn service_types_and_external_ips() {
    let service =
        |spec: Value| Review::new("Service", "CREATE", Some("payments-api"), "api").object(json!({ "spec": spec }));
    denied(
        service(json!({ "type": "NodePort" })).decide(),
        &["does not allow Services of type NodePort", "Service \"api\""],
    );
    denied(
        service(json!({ "type": "ExternalName", "externalName": "x.example.com" })).decide(),
        &["type ExternalName"],
    );
    allowed(service(json!({ "type": "LoadBalancer" })).decide());
    denied(
        service(json!({ "externalIPs": ["10.0.0.10"] })).decide(),
        &["allows externalIPs only in 203.0.113.0/28", "uses 10.0.0.10"],
    );
    allowed(service(json!({ "externalIPs": ["203.0.113.5"] })).decide());
    // storefront grants no externalIPs at all: the CVE-2020-8554 hijack is closed by default.
    let hijack = Review::new("Service", "CREATE", Some("storefront-web"), "mitm")
        .by("bob", &[])
        .object(json!({ "spec": { "externalIPs": ["8.8.8.8"] } }));
    denied(hijack.decide(), &["allows no externalIPs at all", "8.8.8.8"]);
}

#[test]
fn ingress_classes_hosts_and_collisions() {
    let ingress =
        |spec: Value| Review::new("Ingress", "CREATE", Some("payments-api"), "web").object(json!({ "spec": spec }));
    let rule = |host: &str, path: &str| json!({ "host": host, "http": { "paths": [{ "path": path, "pathType": "Prefix", "backend": { "service": { "name": "web", "port": { "number": 80 } } } }] } });

    let defaulted = ingress(json!({ "rules": [rule("eu.pay.example.com", "/")] }));
    let object = patched(defaulted.decide(), defaulted.object.clone().unwrap());
    assert_eq!(object["spec"]["ingressClassName"], "internal");

    denied(
        ingress(json!({ "ingressClassName": "public", "rules": [rule("eu.pay.example.com", "/")] })).decide(),
        &["ingress class internal", "\"public\""],
    );
    denied(
        ingress(json!({ "rules": [rule("shop.example.com", "/")] })).decide(),
        &[
            "may serve only pay.example.com, *.pay.example.com",
            "asks for shop.example.com",
        ],
    );
    denied(
        ingress(json!({ "rules": [rule("*.pay.example.com", "/")] })).decide(),
        &["does not allow wildcard hosts"],
    );
    allowed(ingress(json!({ "ingressClassName": "internal", "rules": [rule("eu.pay.example.com", "/")] })).decide());
    denied(
        ingress(json!({ "ingressClassName": "internal", "rules": [rule("pay.example.com", "/taken")] })).decide(),
        &[
            "host pay.example.com (spec.rules[].host of Ingress \"web\") is already served outside this tenant",
            "unique in the cluster",
        ],
    );
    // Another tenant's Ingress is never named.
    never_names(
        ingress(json!({ "ingressClassName": "internal", "rules": [rule("pay.example.com", "/taken")] })).decide(),
        &["storefront", "shop"],
    );
}

#[test]
fn persistent_volume_claims() {
    let claim = |spec: Value| {
        Review::new("PersistentVolumeClaim", "CREATE", Some("payments-api"), "data").object(json!({ "spec": spec }))
    };
    let object = patched(
        claim(json!({ "accessModes": ["ReadWriteOnce"] })).decide(),
        claim(json!({ "accessModes": ["ReadWriteOnce"] })).object.unwrap(),
    );
    assert_eq!(object["spec"]["storageClassName"], "encrypted-ssd");
    denied(
        claim(json!({ "storageClassName": "standard" })).decide(),
        &["storage class encrypted-ssd", "\"standard\""],
    );
    denied(
        claim(json!({ "storageClassName": "encrypted-ssd", "volumeName": "pv-storefront" })).decide(),
        &["PersistentVolume \"pv-storefront\" is not a volume of tenant \"payments\""],
    );
    never_names(
        claim(json!({ "storageClassName": "encrypted-ssd", "volumeName": "pv-storefront" })).decide(),
        &["tenant \"storefront\""],
    );
    denied(
        claim(json!({ "storageClassName": "encrypted-ssd", "volumeName": "pv-reserved" })).decide(),
        &["reserved for a claim in another namespace"],
    );
    never_names(
        claim(json!({ "storageClassName": "encrypted-ssd", "volumeName": "pv-reserved" })).decide(),
        &["monitoring"],
    );
}

// ---------------------------------------------------------------- network policies

#[test]
fn tenant_network_policies_stay_inside_the_tenant() {
    // The full table of attacks is in tests/network_isolation.rs.
    let policy = |spec: Value| {
        Review::new("NetworkPolicy", "CREATE", Some("payments-api"), "open").object(json!({ "spec": spec }))
    };
    let from = |peer: Value| json!({ "podSelector": {}, "ingress": [{ "from": [peer] }] });
    let to = |peer: Value| json!({ "podSelector": {}, "egress": [{ "to": [peer] }] });

    denied(
        policy(from(json!({ "namespaceSelector": {} }))).decide(),
        &[
            "ingress rule 1 has a namespaceSelector that does not pin palisade.dev/tenant: payments",
            "add palisade.dev/tenant: payments",
        ],
    );
    allowed(
        policy(from(
            json!({ "namespaceSelector": { "matchLabels": { "palisade.dev/tenant": "payments" } } }),
        ))
        .decide(),
    );
    // storefront was granted ingress by payments, and Palisade renders that grant itself; a
    // tenant-written copy would outlive it.
    denied(
        policy(from(
            json!({ "namespaceSelector": { "matchLabels": { "palisade.dev/tenant": "storefront" } } }),
        ))
        .decide(),
        &["spec.network.allowFrom.tenants", "close when the grant is revoked"],
    );
    let verdict = policy(from(
        json!({ "namespaceSelector": { "matchLabels": { "kubernetes.io/metadata.name": "frozen-a" } } }),
    ))
    .decide();
    denied(verdict.clone(), &["selects namespace \"frozen-a\", which is neither"]);
    never_names(verdict, &["tenant \"frozen\""]);
    denied(
        policy(to(json!({ "ipBlock": { "cidr": "0.0.0.0/0" } }))).decide(),
        &[
            "ipBlock 0.0.0.0/0, which covers pod addresses (10.244.0.0/16)",
            "except: [10.244.0.0/16]",
        ],
    );
    allowed(
        policy(to(
            json!({ "ipBlock": { "cidr": "0.0.0.0/0", "except": ["10.244.0.0/16", "10.96.0.0/12"] } }),
        ))
        .decide(),
    );
}

// ---------------------------------------------------------------- managed objects, cordon, tenants

#[test]
fn objects_managed_by_palisade_cannot_be_touched_by_tenant_users() {
    let managed = json!({ "metadata": { "labels": { "app.kubernetes.io/managed-by": "palisade", "palisade.dev/tenant": "payments" } },
        "roleRef": { "apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "admin" }, "subjects": [] });
    let mut edited = managed.clone();
    edited["subjects"] = json!([{ "kind": "User", "name": "mallory", "apiGroup": "rbac.authorization.k8s.io" }]);
    let update = Review::new(
        "RoleBinding",
        "UPDATE",
        Some("payments-api"),
        "palisade-owner-admin-user-alice",
    )
    .old(managed.clone())
    .object(edited);
    denied(
        update.decide(),
        &[
            "is managed by Palisade",
            "cannot change objects labelled app.kubernetes.io/managed-by=palisade",
        ],
    );
    let delete = Review::new(
        "RoleBinding",
        "DELETE",
        Some("payments-api"),
        "palisade-owner-admin-user-alice",
    )
    .old(managed.clone());
    denied(delete.decide(), &["cannot delete objects labelled"]);
    let spoof = Review::new("RoleBinding", "CREATE", Some("payments-api"), "fake").object(managed.clone());
    denied(spoof.decide(), &["cannot create objects labelled"]);
    // The namespace controller cleans up a deleted namespace.
    let cleanup = Review::new(
        "RoleBinding",
        "DELETE",
        Some("payments-api"),
        "palisade-owner-admin-user-alice",
    )
    .by(
        "system:serviceaccount:kube-system:namespace-controller",
        &["system:serviceaccounts"],
    )
    .old(managed);
    allowed(cleanup.decide());
}

#[test]
fn a_cordoned_tenant_is_read_only_for_its_users() {
    let write = Review::new("ConfigMap", "CREATE", Some("frozen-a"), "settings")
        .by("carol", &[])
        .object(json!({ "data": {} }));
    denied(write.decide(), &["tenant \"frozen\" is cordoned"]);
    let delete = Review::new("Namespace", "DELETE", None, "frozen-a")
        .by("carol", &[])
        .old(json!({ "metadata": { "labels": { "palisade.dev/tenant": "frozen" } } }));
    denied(
        delete.decide(),
        &["cannot be deleted until the platform team lifts the cordon"],
    );
    // Controllers still run (a cordon freezes people, not the cluster).
    let controller = Review::new("ConfigMap", "CREATE", Some("frozen-a"), "leader")
        .by("system:serviceaccount:kube-system:replicaset-controller", &[])
        .object(json!({ "data": {} }));
    allowed(controller.decide());
}

#[test]
fn tenants_are_validated_and_protected_from_deletion() {
    let invalid = Review::new("Tenant", "CREATE", None, "broken")
        .by("admin", &["system:masters"])
        .object(json!({ "spec": { "owners": [], "storage": { "classes": { "allowed": ["a"], "default": "b" } } } }));
    denied(
        invalid.decide(),
        &[
            "tenant \"broken\" is invalid",
            "spec.owners",
            "spec.storage.classes.default",
        ],
    );
    let protected = Review::new("Tenant", "DELETE", None, "payments")
        .by("admin", &["system:masters"])
        .old(json!({ "spec": { "owners": [{ "kind": "User", "name": "alice" }], "preventDeletion": true } }));
    denied(protected.decide(), &["spec.preventDeletion", "set it to false first"]);
    let deletable = Review::new("Tenant", "DELETE", None, "payments")
        .by("admin", &["system:masters"])
        .old(json!({ "spec": { "owners": [{ "kind": "User", "name": "alice" }] } }));
    allowed(deletable.decide());
}

#[test]
fn objects_outside_tenant_namespaces_are_not_our_business() {
    let pod_in_system = Review::new("Pod", "CREATE", Some("kube-system"), "dns")
        .by("bob", &[])
        .object(pod("nginx"));
    allowed(pod_in_system.decide());
}

#[test]
fn without_configured_pod_cidrs_the_nodes_pod_cidrs_are_used() {
    let mut snapshot = cluster();
    snapshot
        .node_pod_cidrs
        .insert("node-1".into(), vec!["10.42.0.0/24".parse().unwrap()]);
    snapshot
        .node_pod_cidrs
        .insert("node-2".into(), vec!["10.42.1.0/24".parse().unwrap()]);
    let review = Review::new("NetworkPolicy", "CREATE", Some("payments-api"), "open").object(json!({ "spec": {
        "podSelector": {}, "egress": [{ "to": [{ "ipBlock": { "cidr": "10.0.0.0/8" } }] }]
    } }));
    let request: AdmissionRequest<DynamicObject> =
        serde_json::from_value::<AdmissionReview<DynamicObject>>(review.json())
            .unwrap()
            .try_into()
            .unwrap();
    // The two node ranges aggregate into one.
    let services_known = AdmissionConfig {
        service_cidrs: vec!["10.96.0.0/12".parse().unwrap()],
        ..AdmissionConfig::default()
    };
    denied(
        palisade_admission::review(&request, &snapshot, &services_known),
        &["covers pod addresses (10.42.0.0/23)", "except: [10.42.0.0/23]"],
    );
    // No node ranges known and none configured: the rule cannot decide, so it denies and says why.
    denied(
        palisade_admission::review(&request, &cluster(), &services_known),
        &["does not know the cluster's pod CIDRs", "--pod-cidr"],
    );
}
