#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed step fails the test
//! The controller against a real kube-apiserver + kube-controller-manager (testenv): tenants
//! converge to what the renderer says, changes prune what is no longer desired, drift is repaired
//! from watch events, status tells the truth, and deleting a Tenant deletes its namespaces.

mod common;

use std::time::{Duration, Instant};

use common::*;
use k8s_openapi::api::core::v1::{Namespace, Pod};
use k8s_openapi::api::rbac::v1::RoleBinding;
use kube::api::{DeleteParams, Patch, PatchParams};
use kube::{Api, ResourceExt};
use palisade_api::{Tenant, labels};
use palisade_controller::diff::ObjectKey;
use palisade_testenv::eventually;
use serde_json::json;

fn three_namespace_tenant(name: &str) -> Tenant {
    tenant_from_yaml(&format!(
        r#"
apiVersion: palisade.dev/v1alpha1
kind: Tenant
metadata:
  name: {name}
spec:
  owners:
    - {{ kind: User, name: {name}-alice }}
    - {{ kind: Group, name: {name}-devs, clusterRoles: [admin, view] }}
  namespaces:
    names: [{name}-a, {name}-b, {name}-c]
    labels: {{ team: {name} }}
  quota:
    namespace: {{ pods: "10", requests.cpu: "2" }}
    limits:
      - type: Container
        default: {{ cpu: 200m }}
        defaultRequest: {{ cpu: 100m }}
  podSecurity: {{ level: restricted }}
  roleBindings:
    - {{ name: ci-deployer, clusterRole: edit, subjects: [{{ kind: ServiceAccount, name: deployer, namespace: ci }}] }}
"#
    ))
}

fn namespaces(name: &str) -> Vec<String> {
    ["a", "b", "c"].iter().map(|s| format!("{name}-{s}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_namespace_tenant_converges_with_status() {
    let cluster = Cluster::start().await;
    let name = unique("conv");
    let started = Instant::now();
    let created = cluster.create(&three_namespace_tenant(&name)).await;
    let tenant = cluster.wait_reconciled(&name, "True").await;
    let ready_after = started.elapsed();
    let plan = cluster.wait_converged(&tenant).await;
    eprintln!(
        "MEASURE converge: tenant with 3 namespaces and {} objects Ready after {ready_after:?}",
        plan.all_objects().count()
    );
    assert!(
        plan.all_objects().count() > 3 * 5,
        "the plan is richer than namespaces alone"
    );

    // Status.
    let status = tenant.status.clone().unwrap();
    assert_eq!(status.namespaces, namespaces(&name));
    assert_eq!(status.namespace_count, 3);
    assert_eq!(status.observed_generation, created.metadata.generation);
    let ready = condition(&tenant, "Ready").unwrap();
    assert_eq!(ready.reason, "Reconciled", "{ready:?}");
    assert_eq!(condition(&tenant, "Cordoned").unwrap().status, "False");

    // Namespaces are bound to the tenant by label and owner reference (garbage collection).
    let uid = created.uid().unwrap();
    for ns in namespaces(&name) {
        let namespace = Api::<Namespace>::all(cluster.admin.clone()).get(&ns).await.unwrap();
        assert_eq!(namespace.labels().get(labels::TENANT), Some(&name));
        assert_eq!(
            namespace.labels().get(labels::PSA_ENFORCE).map(String::as_str),
            Some("restricted")
        );
        assert_eq!(namespace.labels().get("team"), Some(&name));
        let owners = namespace.owner_references();
        assert!(
            owners
                .iter()
                .any(|o| o.uid == uid && o.kind == "Tenant" && o.controller == Some(true)),
            "{owners:?}"
        );
    }

    // Quota usage is summed over the tenant's namespaces.
    let pods_in = [(format!("{name}-a"), "250m"), (format!("{name}-b"), "500m")];
    for (ns, cpu) in &pods_in {
        wait_for_service_account(&cluster, ns).await;
        let pod: Pod = serde_json::from_value(json!({
            "metadata": { "name": "app" },
            "spec": { "containers": [{ "name": "app", "image": "registry.example/app:1",
                "resources": { "requests": { "cpu": cpu }, "limits": { "cpu": "1" } },
                "securityContext": { "allowPrivilegeEscalation": false, "runAsNonRoot": true,
                    "capabilities": { "drop": ["ALL"] }, "seccompProfile": { "type": "RuntimeDefault" } } }] }
        }))
        .unwrap();
        Api::<Pod>::namespaced(cluster.admin.clone(), ns)
            .create(&Default::default(), &pod)
            .await
            .unwrap();
    }
    let tenants = cluster.tenants();
    eventually("quotaUsed to sum both namespaces", WAIT, || {
        let tenants = tenants.clone();
        let name = name.clone();
        async move {
            let used = tenants.get(&name).await.ok()?.status?.quota_used;
            (used.get("pods")?.0 == "2" && used.get("requests.cpu")?.0 == "750m").then_some(())
        }
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_converge_and_prune_what_is_no_longer_desired() {
    let cluster = Cluster::start().await;
    let name = unique("chg");
    cluster.create(&three_namespace_tenant(&name)).await;
    let tenant = cluster.wait_reconciled(&name, "True").await;
    let before = cluster.wait_converged(&tenant).await;
    let alice_bindings: Vec<ObjectKey> = before
        .all_objects()
        .filter(|o| o.kind == "RoleBinding" && o.name.contains("alice"))
        .map(ObjectKey::of)
        .collect();
    assert_eq!(alice_bindings.len(), 3);

    // An owner removed, the quota changed, the provider switched to AdminNetworkPolicy (whose
    // API testenv does not serve).
    let patch = json!({ "spec": {
        "owners": [{ "kind": "Group", "name": format!("{name}-devs"), "clusterRoles": ["admin", "view"] }],
        "quota": { "namespace": { "pods": "20", "requests.cpu": "2" }, "limits": null },
        "network": { "provider": "AdminNetworkPolicy" },
    }});
    let started = Instant::now();
    cluster
        .tenants()
        .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    let tenant = cluster.wait_reconciled(&name, "False").await;
    let ready = condition(&tenant, "Ready").unwrap();
    assert_eq!(ready.reason, "ObjectsSkipped", "{ready:?}");
    assert!(
        ready.message.contains("AdminNetworkPolicy") && ready.message.contains("does not serve"),
        "{ready:?}"
    );
    let after = cluster.wait_converged(&tenant).await;
    eprintln!(
        "MEASURE change: owner removed, quota changed, provider switched; converged after {:?}",
        started.elapsed()
    );
    for key in &alice_bindings {
        assert!(cluster.get(key).await.is_none(), "{key} should have been pruned");
    }
    // The LimitRange left the spec: pruned.
    assert!(!after.all_objects().any(|o| o.kind == "LimitRange"));
    let quota = ObjectKey::new("v1", "ResourceQuota", Some(&format!("{name}-a")), "palisade-quota");
    let live = cluster.get(&quota).await.unwrap();
    assert_eq!(live.data["spec"]["hard"]["pods"], "20");

    // Isolation off: every NetworkPolicy goes; Ready again (nothing skipped).
    let patch = json!({ "spec": { "network": { "isolation": "None", "provider": "Kubernetes" } } });
    cluster
        .tenants()
        .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    let tenant = cluster.wait_reconciled(&name, "True").await;
    let plan = cluster.wait_converged(&tenant).await;
    assert!(!plan.all_objects().any(|o| o.kind == "NetworkPolicy"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drift_is_repaired_from_watch_events() {
    let cluster = Cluster::start().await;
    let name = unique("drift");
    cluster.create(&three_namespace_tenant(&name)).await;
    let tenant = cluster.wait_reconciled(&name, "True").await;
    let plan = cluster.wait_converged(&tenant).await;
    let ns = format!("{name}-b");
    let pick = |kind: &str| {
        plan.all_objects()
            .find(|o| o.kind == kind && o.namespace.as_deref() == Some(ns.as_str()))
            .map(ObjectKey::of)
            .unwrap()
    };
    let binding = pick("RoleBinding");
    let quota = pick("ResourceQuota");
    let policy = pick("NetworkPolicy");

    // A user's own RoleBinding (no Palisade labels) is never touched.
    let own: RoleBinding = serde_json::from_value(json!({
        "metadata": { "name": "mine", "labels": { labels::TENANT: name } },
        "roleRef": { "apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view" },
        "subjects": [{ "apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "bob" }]
    }))
    .unwrap();
    Api::<RoleBinding>::namespaced(cluster.admin.clone(), &ns)
        .create(&Default::default(), &own)
        .await
        .unwrap();

    let delete = DeleteParams::default();
    for key in [&binding, &quota, &policy] {
        let uid = cluster.get(key).await.unwrap().uid();
        let started = Instant::now();
        api(&cluster.admin, kind_of(key), key.namespace.as_deref())
            .delete(&key.name, &delete)
            .await
            .unwrap();
        eventually(&format!("{key} to be recreated"), Duration::from_secs(30), || async {
            let live = cluster.get(key).await?;
            (live.uid() != uid && live.metadata.deletion_timestamp.is_none()).then_some(())
        })
        .await
        .unwrap();
        eprintln!(
            "MEASURE drift: deleted {} recreated after {:?}",
            key.kind,
            started.elapsed()
        );
    }

    // Edits by someone else are reverted.
    let edits = [
        (&quota, json!({ "spec": { "hard": { "pods": "999" } } })),
        (
            &binding,
            json!({ "subjects": [{ "apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "mallory" }] }),
        ),
        (&policy, json!({ "spec": { "ingress": [{}] } })),
    ];
    for (key, edit) in edits {
        let started = Instant::now();
        api(&cluster.admin, kind_of(key), key.namespace.as_deref())
            .patch(&key.name, &PatchParams::default(), &Patch::Merge(&edit))
            .await
            .unwrap();
        let expected = plan
            .all_objects()
            .find(|o| ObjectKey::of(o) == *key)
            .unwrap()
            .manifest
            .clone();
        eventually(&format!("{key} to be restored"), Duration::from_secs(30), || async {
            let live = serde_json::to_value(cluster.get(key).await?).unwrap();
            contains(&live, &expected, "").ok()
        })
        .await
        .unwrap();
        eprintln!(
            "MEASURE drift: edited {} restored after {:?}",
            key.kind,
            started.elapsed()
        );
    }

    // A namespace label owners must not change is put back.
    let namespaces = Api::<Namespace>::all(cluster.admin.clone());
    namespaces
        .patch(
            &ns,
            &PatchParams::default(),
            &Patch::Merge(&json!({ "metadata": { "labels": { labels::PSA_ENFORCE: "privileged" } } })),
        )
        .await
        .unwrap();
    eventually(
        "the Pod Security label to be restored",
        Duration::from_secs(30),
        || async {
            let namespace = namespaces.get(&ns).await.ok()?;
            (namespace.labels().get(labels::PSA_ENFORCE).map(String::as_str) == Some("restricted")).then_some(())
        },
    )
    .await
    .unwrap();

    cluster.wait_converged(&tenant).await;
    assert!(
        Api::<RoleBinding>::namespaced(cluster.admin.clone(), &ns)
            .get_opt("mine")
            .await
            .unwrap()
            .is_some(),
        "an object without managed-by=palisade must never be pruned"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn labelled_namespaces_are_adopted() {
    let cluster = Cluster::start().await;
    let name = unique("adopt");
    let mut tenant = three_namespace_tenant(&name);
    tenant.spec.namespaces.names = vec![format!("{name}-a")];
    cluster.create(&tenant).await;
    cluster.wait_reconciled(&name, "True").await;
    let extra = env()
        .create_namespace(&format!("{name}-x"), &[(labels::TENANT, &name)])
        .await
        .unwrap();
    let tenants = cluster.tenants();
    let tenant = eventually("the adopted namespace in the status", WAIT, || {
        let tenants = tenants.clone();
        let (name, extra) = (name.clone(), extra.clone());
        async move {
            let tenant = tenants.get(&name).await.ok()?;
            tenant.status.as_ref()?.namespaces.contains(&extra).then_some(tenant)
        }
    })
    .await
    .unwrap();
    assert_eq!(tenant.status.as_ref().unwrap().namespace_count, 2);
    let plan = cluster.wait_converged(&tenant).await;
    assert!(plan.namespaces.iter().any(|ns| ns.namespace == extra));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cordoned_condition_follows_the_spec() {
    let cluster = Cluster::start().await;
    let name = unique("cord");
    let mut tenant = three_namespace_tenant(&name);
    tenant.spec.cordoned = true;
    cluster.create(&tenant).await;
    let tenant = cluster.wait_reconciled(&name, "True").await;
    assert_eq!(condition(&tenant, "Cordoned").unwrap().status, "True");
    let ns = Api::<Namespace>::all(cluster.admin.clone())
        .get(&format!("{name}-a"))
        .await
        .unwrap();
    assert_eq!(ns.labels().get(labels::CORDONED).map(String::as_str), Some("true"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_the_tenant_deletes_its_namespaces() {
    let cluster = Cluster::start().await;
    let name = unique("del");
    cluster.create(&three_namespace_tenant(&name)).await;
    let tenant = cluster.wait_reconciled(&name, "True").await;
    cluster.wait_converged(&tenant).await;
    let started = Instant::now();
    cluster.tenants().delete(&name, &DeleteParams::default()).await.unwrap();
    let namespaces = Api::<Namespace>::all(cluster.admin.clone());
    eventually(
        "every namespace of the tenant to be gone",
        Duration::from_secs(120),
        || async {
            for ns in namespaces_of(&name) {
                if namespaces.get_opt(&ns).await.ok()?.is_some() {
                    return None;
                }
            }
            Some(())
        },
    )
    .await
    .unwrap();
    eprintln!(
        "MEASURE delete: 3 namespaces gone {:?} after the Tenant was deleted",
        started.elapsed()
    );
    assert!(cluster.managed_objects(&name).await.is_empty());
}

fn namespaces_of(name: &str) -> Vec<String> {
    namespaces(name)
}

async fn wait_for_service_account(cluster: &Cluster, namespace: &str) {
    let accounts = Api::<k8s_openapi::api::core::v1::ServiceAccount>::namespaced(cluster.admin.clone(), namespace);
    eventually("the default ServiceAccount", WAIT, || {
        let accounts = accounts.clone();
        async move { accounts.get_opt("default").await.ok().flatten().map(|_| ()) }
    })
    .await
    .unwrap();
}

/// The renderer reads other tenants' grants: when tenant B starts or stops letting tenant A in,
/// A's egress policy appears or is pruned, although A itself did not change.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grant_by_another_tenant_reaches_the_granted_tenant() {
    let cluster = Cluster::start().await;
    let a = unique("ga");
    let b = unique("gb");
    cluster.create(&three_namespace_tenant(&a)).await;
    cluster.create(&three_namespace_tenant(&b)).await;
    cluster.wait_reconciled(&a, "True").await;
    cluster.wait_reconciled(&b, "True").await;
    let egress = ObjectKey::new(
        "networking.k8s.io/v1",
        "NetworkPolicy",
        Some(&format!("{a}-a")),
        "palisade-allow-to-tenants",
    );
    assert!(cluster.get(&egress).await.is_none());

    let grant = |tenants: Vec<String>| json!({ "spec": { "network": { "allowFrom": { "tenants": tenants } } } });
    cluster
        .tenants()
        .patch(&b, &PatchParams::default(), &Patch::Merge(&grant(vec![a.clone()])))
        .await
        .unwrap();
    eventually("tenant A's egress policy to tenant B", WAIT, || async {
        let live = cluster.get(&egress).await?;
        serde_json::to_string(&live.data).unwrap().contains(&b).then_some(())
    })
    .await
    .unwrap();

    cluster
        .tenants()
        .patch(&b, &PatchParams::default(), &Patch::Merge(&grant(Vec::new())))
        .await
        .unwrap();
    eventually("tenant A's egress policy to be pruned", WAIT, || async {
        cluster.get(&egress).await.is_none().then_some(())
    })
    .await
    .unwrap();
}

/// Issue 11, item 4: a narrowed grant (ports and a pod selector) renders on both sides in every
/// namespace of each tenant (ingress in the granting tenant selecting the pods, egress in the
/// granted one to those pods and ports); narrowing it further changes both sides; revoking it
/// prunes both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_narrowed_grant_renders_on_both_sides_and_revoking_it_prunes_both() {
    let cluster = Cluster::start().await;
    let a = unique("na");
    let b = unique("nb");
    cluster.create(&three_namespace_tenant(&a)).await;
    cluster.create(&three_namespace_tenant(&b)).await;
    cluster.wait_reconciled(&a, "True").await;
    cluster.wait_reconciled(&b, "True").await;
    let policy =
        |namespace: &str, name: &str| ObjectKey::new("networking.k8s.io/v1", "NetworkPolicy", Some(namespace), name);
    let ingress_name = format!("palisade-allow-from-tenant-{a}-0");
    let ingress: Vec<ObjectKey> = namespaces(&b).iter().map(|ns| policy(ns, &ingress_name)).collect();
    let egress: Vec<ObjectKey> = namespaces(&a)
        .iter()
        .map(|ns| policy(ns, "palisade-allow-to-tenants"))
        .collect();
    for key in ingress.iter().chain(&egress) {
        assert!(cluster.get(key).await.is_none(), "{key:?} before any grant");
    }

    // B lets A's pods reach its `app: api` pods on TCP 8080.
    let grant = |ports: serde_json::Value| {
        json!({ "spec": { "network": { "allowFrom": { "tenantGrants": [
            { "tenant": a, "ports": ports, "podSelector": { "matchLabels": { "app": "api" } } }
        ] } } } })
    };
    let patch = |body: serde_json::Value| {
        let cluster = &cluster;
        let b = b.clone();
        async move {
            cluster
                .tenants()
                .patch(&b, &PatchParams::default(), &Patch::Merge(&body))
                .await
                .unwrap();
        }
    };
    patch(grant(json!([{ "port": 8080 }]))).await;
    let spec_of = |key: &ObjectKey| {
        let key = key.clone();
        let cluster = &cluster;
        async move { Some(cluster.get(&key).await?.data["spec"].clone()) }
    };
    for key in &ingress {
        let spec = eventually("B's ingress policy for the narrowed grant", WAIT, || async {
            spec_of(key).await
        })
        .await
        .unwrap();
        assert_eq!(
            spec["podSelector"],
            json!({ "matchLabels": { "app": "api" } }),
            "{key:?}"
        );
        assert_eq!(
            spec["ingress"],
            json!([{ "from": [{ "namespaceSelector": { "matchLabels": { labels::TENANT: a } } }],
                      "ports": [{ "port": 8080, "protocol": "TCP" }] }]),
            "{key:?}"
        );
    }
    for key in &egress {
        let spec = eventually("A's egress policy to the granted pods and port", WAIT, || async {
            spec_of(key).await
        })
        .await
        .unwrap();
        assert_eq!(
            spec["egress"],
            json!([{ "to": [{ "namespaceSelector": { "matchLabels": { labels::TENANT: b } },
                               "podSelector": { "matchLabels": { "app": "api" } } }],
                      "ports": [{ "port": 8080, "protocol": "TCP" }] }]),
            "{key:?}"
        );
    }

    // Another port instead: both sides follow.
    patch(grant(json!([{ "port": 9443 }]))).await;
    for key in ingress.iter().chain(&egress) {
        eventually("both sides to follow the new port", WAIT, || async {
            let spec = spec_of(key).await?;
            let text = spec.to_string();
            (text.contains("9443") && !text.contains("8080")).then_some(())
        })
        .await
        .unwrap();
    }

    // Revoked: every policy the grant opened is pruned, on both sides.
    patch(json!({ "spec": { "network": { "allowFrom": { "tenantGrants": null } } } })).await;
    for key in ingress.iter().chain(&egress) {
        eventually("the grant's policies to be pruned", WAIT, || async {
            cluster.get(key).await.is_none().then_some(())
        })
        .await
        .unwrap();
    }
    cluster.wait_reconciled(&a, "True").await;
    cluster.wait_reconciled(&b, "True").await;
}

/// A namespace bound to one tenant is never taken over by another that lists it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_namespace_of_another_tenant_is_never_taken_over() {
    let cluster = Cluster::start().await;
    let owner = unique("own");
    let thief = unique("thief");
    cluster.create(&three_namespace_tenant(&owner)).await;
    cluster.wait_reconciled(&owner, "True").await;
    let mut tenant = three_namespace_tenant(&thief);
    let taken = format!("{owner}-a");
    tenant.spec.namespaces.names = vec![format!("{thief}-a"), taken.clone()];
    cluster.create(&tenant).await;
    let tenant = cluster.wait_reconciled(&thief, "False").await;
    let ready = condition(&tenant, "Ready").unwrap();
    assert_eq!(ready.reason, "NamespaceConflict", "{ready:?}");
    assert!(ready.message.contains(&format!("namespace {taken}")), "{ready:?}");
    assert!(
        !ready.message.replace(&taken, "").contains(&owner),
        "never names the other tenant: {ready:?}"
    );
    assert_eq!(tenant.status.as_ref().unwrap().namespaces, vec![format!("{thief}-a")]);
    let namespace = Api::<Namespace>::all(cluster.admin.clone()).get(&taken).await.unwrap();
    assert_eq!(namespace.labels().get(labels::TENANT), Some(&owner));
    assert!(
        cluster
            .managed_objects(&thief)
            .await
            .iter()
            .all(|key| key.namespace.as_deref() != Some(taken.as_str()) && key.name != taken),
        "nothing of the other tenant may land in {taken}"
    );
    // The thief's own namespace is still served.
    assert!(
        cluster
            .get(&ObjectKey::new(
                "v1",
                "ResourceQuota",
                Some(&format!("{thief}-a")),
                "palisade-quota"
            ))
            .await
            .is_some()
    );
}

/// Issue 11, item 4: a NetworkPolicy the webhook would refuse, stored without it (here by an
/// administrator, who is exempt), is reported on the Tenant as ForeignPolicies=True with its
/// namespace/name and why, never with the other tenant's name; deleting it turns the condition
/// False. The watch wakes the tenant: nothing about the Tenant changes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stored_policy_the_webhook_would_refuse_is_reported_until_deleted() {
    let cluster = Cluster::start().await;
    let a = unique("fpa");
    let b = unique("fpb");
    cluster.create(&three_namespace_tenant(&a)).await;
    cluster.create(&three_namespace_tenant(&b)).await;
    let tenant = cluster.wait_reconciled(&a, "True").await;
    cluster.wait_reconciled(&b, "True").await;
    let before = condition(&tenant, "ForeignPolicies").expect("a ForeignPolicies condition");
    assert_eq!((before.status.as_str(), before.reason.as_str()), ("False", "None"));

    let namespace = format!("{a}-a");
    let policies =
        Api::<k8s_openapi::api::networking::v1::NetworkPolicy>::namespaced(cluster.admin.clone(), &namespace);
    let policy: k8s_openapi::api::networking::v1::NetworkPolicy = serde_json::from_value(json!({
        "metadata": { "name": "from-the-other-tenant" },
        "spec": {
            "podSelector": {},
            "ingress": [{ "from": [{ "namespaceSelector": { "matchLabels": { labels::TENANT: b } } }] }],
        },
    }))
    .unwrap();
    policies.create(&Default::default(), &policy).await.unwrap();
    let tenants = cluster.tenants();
    let reported = eventually("ForeignPolicies=True listing the policy", WAIT, || async {
        let tenant = tenants.get(&a).await.ok()?;
        let c = condition(&tenant, "ForeignPolicies")?;
        (c.status == "True").then_some(c)
    })
    .await
    .unwrap();
    assert_eq!(reported.reason, "WouldBeRefused");
    assert!(
        reported.message.contains(&format!(
            "{namespace}/from-the-other-tenant: ingress rule 1 selects another tenant's namespaces"
        )),
        "{}",
        reported.message
    );
    assert!(
        !reported.message.contains(&b),
        "names the other tenant: {}",
        reported.message
    );
    let other = tenants.get(&b).await.unwrap();
    assert_eq!(
        condition(&other, "ForeignPolicies").unwrap().status,
        "False",
        "the named tenant has nothing of its own to fix"
    );

    policies
        .delete("from-the-other-tenant", &DeleteParams::default())
        .await
        .unwrap();
    eventually("ForeignPolicies=False once the policy is gone", WAIT, || async {
        let tenant = tenants.get(&a).await.ok()?;
        let c = condition(&tenant, "ForeignPolicies")?;
        (c.status == "False" && c.reason == "None").then_some(())
    })
    .await
    .unwrap();
}
