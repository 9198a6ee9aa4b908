#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed step fails the test
//! Which namespaces the controller creates, and whose they are, against a real kube-apiserver +
//! kube-controller-manager (testenv), written as the attacks of issue 10:
//!
//! - a namespace an administrator deletes is never re-created while it terminates, and an
//!   owner-created one never at all; a namespace listed in `spec.namespaces.names` comes back,
//!   empty, only once it is fully gone (the documented choice);
//! - a Tenant cannot take a namespace another Tenant listed first, nor one bound to another
//!   tenant, and its status never names the other tenant; what it had put there is pruned;
//! - an invalid Tenant (here: one listing kube-system, as a webhook outage would let through) is
//!   not applied at all;
//! - the owners' ClusterRole gives them their own namespaces and Tenant, and nothing else.

mod common;

use std::time::Duration;

use common::*;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use k8s_openapi::api::rbac::v1::RoleBinding;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::{Api, ResourceExt};
use palisade_api::{Tenant, labels};
use palisade_controller::diff::ObjectKey;
use palisade_testenv::eventually;
use serde_json::json;

fn tenant(name: &str, namespaces: &[String]) -> Tenant {
    tenant_from_yaml(&format!(
        r#"
apiVersion: palisade.dev/v1alpha1
kind: Tenant
metadata:
  name: {name}
spec:
  owners:
    - {{ kind: User, name: {name}-owner }}
  namespaces:
    names: [{}]
"#,
        namespaces.join(", ")
    ))
}

fn namespaces(cluster: &Cluster) -> Api<Namespace> {
    Api::all(cluster.admin.clone())
}

/// Keeps `namespace` Terminating until the returned ConfigMap's finalizer is removed.
async fn hold_open(cluster: &Cluster, namespace: &str) -> Api<ConfigMap> {
    let maps: Api<ConfigMap> = Api::namespaced(cluster.admin.clone(), namespace);
    let map: ConfigMap = serde_json::from_value(json!({
        "metadata": { "name": "hold", "finalizers": ["palisade.dev/test-hold"] }
    }))
    .unwrap();
    maps.create(&PostParams::default(), &map).await.unwrap();
    maps
}

async fn release(maps: &Api<ConfigMap>) {
    let patch = json!({ "metadata": { "finalizers": null } });
    maps.patch("hold", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
}

/// Attack: an administrator deletes a tenant namespace; the controller, which still lists it
/// (in its cache and in the spec), must not write into it or re-create it while it terminates.
/// Once it is fully gone, a namespace listed in `spec.namespaces.names` is created again, empty
/// (a new uid): the documented choice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_namespace_is_left_alone_while_terminating_and_recreated_only_once_gone() {
    let cluster = Cluster::start().await;
    let name = unique("term");
    let ns = format!("{name}-a");
    cluster.create(&tenant(&name, std::slice::from_ref(&ns))).await;
    let converged = cluster.wait_reconciled(&name, "True").await;
    cluster.wait_converged(&converged).await;
    let before = namespaces(&cluster).get(&ns).await.unwrap();
    let held = hold_open(&cluster, &ns).await;

    namespaces(&cluster)
        .delete(&ns, &DeleteParams::default())
        .await
        .unwrap();
    let tenant = cluster.wait_reconciled(&name, "False").await;
    let ready = condition(&tenant, "Ready").unwrap();
    assert_eq!(ready.reason, "NamespaceTerminating", "{ready:?}");
    assert!(ready.message.contains(&ns), "{ready:?}");
    // The namespace controller empties it; the controller must not put anything back, nor
    // re-create the namespace.
    let bindings = Api::<RoleBinding>::namespaced(cluster.admin.clone(), &ns);
    eventually("the terminating namespace emptied of RoleBindings", WAIT, || async {
        bindings
            .list(&Default::default())
            .await
            .ok()?
            .items
            .is_empty()
            .then_some(())
    })
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let live = namespaces(&cluster).get(&ns).await.unwrap();
    assert_eq!(live.uid(), before.uid(), "the namespace must not have been re-created");
    assert!(live.metadata.deletion_timestamp.is_some(), "still terminating");
    assert!(
        bindings.list(&Default::default()).await.unwrap().items.is_empty(),
        "nothing is applied into a terminating namespace"
    );

    release(&held).await;
    let recreated = eventually("the listed namespace re-created once gone", WAIT, || {
        let api = namespaces(&cluster);
        let ns = ns.clone();
        let old = before.uid();
        async move {
            let live = api.get_opt(&ns).await.ok()??;
            (live.uid() != old && live.metadata.deletion_timestamp.is_none()).then_some(live)
        }
    })
    .await
    .unwrap();
    assert_eq!(recreated.labels().get(labels::TENANT), Some(&name));
    let tenant = cluster.wait_reconciled(&name, "True").await;
    cluster.wait_converged(&tenant).await;
}

/// Attack: an owner-created namespace (bound by its label, not listed in the spec) is deleted;
/// the controller must never create it again, although its cache listed it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_owner_created_namespace_is_never_recreated() {
    let cluster = Cluster::start().await;
    let name = unique("ownns");
    cluster.create(&tenant(&name, &[format!("{name}-a")])).await;
    cluster.wait_reconciled(&name, "True").await;
    let extra = env()
        .create_namespace(&format!("{name}-x"), &[(labels::TENANT, &name)])
        .await
        .unwrap();
    eventually("the owner's namespace in the status", WAIT, || async {
        let tenant = cluster.tenants().get(&name).await.ok()?;
        tenant.status?.namespaces.contains(&extra).then_some(())
    })
    .await
    .unwrap();
    namespaces(&cluster)
        .delete(&extra, &DeleteParams::default())
        .await
        .unwrap();
    eventually("the owner's namespace gone from the status", WAIT, || async {
        let tenant = cluster.tenants().get(&name).await.ok()?;
        let listed = tenant.status?.namespaces.contains(&extra);
        let exists = namespaces(&cluster).get_opt(&extra).await.ok()?.is_some();
        (!listed && !exists).then_some(())
    })
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        namespaces(&cluster).get_opt(&extra).await.unwrap().is_none(),
        "an owner-created namespace must never be created by the controller"
    );
}

/// Attack: tenant B lists a namespace that tenant A listed first. A keeps it; B is refused with
/// a status that does not name A, and nothing of B lands in it. The compliant variant, B's own
/// namespace, is served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_later_tenant_cannot_claim_a_namespace_an_earlier_one_lists() {
    let cluster = Cluster::start().await;
    let first = unique("clma");
    let later = unique("clmb");
    let shared = unique("shared");
    cluster.create(&tenant(&first, std::slice::from_ref(&shared))).await;
    // Listed by both before either is reconciled is the same as after: the older Tenant wins.
    cluster
        .create(&tenant(&later, &[format!("{later}-own"), shared.clone()]))
        .await;
    cluster.wait_reconciled(&first, "True").await;
    let refused = cluster.wait_reconciled(&later, "False").await;
    let ready = condition(&refused, "Ready").unwrap();
    assert_eq!(ready.reason, "NamespaceConflict", "{ready:?}");
    assert!(ready.message.contains(&shared), "{ready:?}");
    assert!(
        !ready.message.contains(&first),
        "the message must not name the other tenant: {ready:?}"
    );
    assert_eq!(
        refused.status.as_ref().unwrap().namespaces,
        vec![format!("{later}-own")]
    );
    let live = namespaces(&cluster).get(&shared).await.unwrap();
    assert_eq!(live.labels().get(labels::TENANT), Some(&first));
    let later_objects = cluster.managed_objects(&later).await;
    assert!(
        later_objects
            .iter()
            .all(|k| k.namespace.as_deref() != Some(shared.as_str()) && k.name != shared),
        "nothing of the later tenant may land in {shared}: {later_objects:?}"
    );
    // The later tenant's owners get no rights on it either.
    let role = cluster
        .get(&ObjectKey::new(
            "rbac.authorization.k8s.io/v1",
            "ClusterRole",
            None,
            &format!("palisade:tenant-owner:{later}"),
        ))
        .await
        .unwrap();
    assert!(!serde_json::to_string(&role.data).unwrap().contains(&shared));
    // The compliant part of the later Tenant, its own namespace, is served.
    assert!(
        namespaces(&cluster)
            .get_opt(&format!("{later}-own"))
            .await
            .unwrap()
            .is_some()
    );
}

/// Attack: objects of tenant B already sit in a namespace bound to tenant A (left from before
/// A held it, or forged with B's labels). The controller never applies into A's namespace for B,
/// and prunes what B has there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objects_of_a_tenant_in_another_tenants_namespace_are_pruned() {
    let cluster = Cluster::start().await;
    let holder = unique("hold");
    let intruder = unique("intr");
    let held = format!("{holder}-a");
    cluster.create(&tenant(&holder, std::slice::from_ref(&held))).await;
    cluster.wait_reconciled(&holder, "True").await;
    let leftover: RoleBinding = serde_json::from_value(json!({
        "metadata": {
            "name": "palisade-owner-admin-user-intruder",
            "labels": { labels::TENANT: intruder, labels::MANAGED_BY: labels::MANAGED_BY_VALUE },
        },
        "roleRef": { "apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "admin" },
        "subjects": [{ "apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": format!("{intruder}-owner") }],
    }))
    .unwrap();
    let bindings: Api<RoleBinding> = Api::namespaced(cluster.admin.clone(), &held);
    bindings.create(&PostParams::default(), &leftover).await.unwrap();
    // The intruder lists the namespace too, after the holder.
    cluster
        .create(&tenant(&intruder, &[format!("{intruder}-a"), held.clone()]))
        .await;
    let refused = cluster.wait_reconciled(&intruder, "False").await;
    assert_eq!(condition(&refused, "Ready").unwrap().reason, "NamespaceConflict");
    eventually(
        "the intruder's RoleBinding pruned from the held namespace",
        WAIT,
        || async {
            bindings
                .get_opt("palisade-owner-admin-user-intruder")
                .await
                .ok()?
                .is_none()
                .then_some(())
        },
    )
    .await
    .unwrap();
    let live = namespaces(&cluster).get(&held).await.unwrap();
    assert_eq!(live.labels().get(labels::TENANT), Some(&holder));
    // The holder's own objects are untouched.
    let holder_tenant = cluster.tenants().get(&holder).await.unwrap();
    cluster.wait_converged(&holder_tenant).await;
}

/// Attack: with the webhook down, a Tenant listing kube-system reaches the API server. The
/// controller validates it, applies nothing (kube-system is not labelled or touched), and says
/// why; fixed, the same Tenant converges.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_tenant_is_not_applied() {
    let cluster = Cluster::start().await;
    let name = unique("inval");
    cluster
        .create(&tenant(&name, &["kube-system".to_string(), format!("{name}-a")]))
        .await;
    let invalid = cluster.wait_reconciled(&name, "False").await;
    let ready = condition(&invalid, "Ready").unwrap();
    assert_eq!(ready.reason, "Invalid", "{ready:?}");
    assert!(ready.message.contains("spec.namespaces.names[0]"), "{ready:?}");
    assert!(ready.message.contains("system namespace"), "{ready:?}");
    let system = namespaces(&cluster).get("kube-system").await.unwrap();
    assert_eq!(system.labels().get(labels::TENANT), None);
    assert!(
        namespaces(&cluster)
            .get_opt(&format!("{name}-a"))
            .await
            .unwrap()
            .is_none()
    );
    assert!(cluster.managed_objects(&name).await.is_empty());

    let fix = json!({ "spec": { "namespaces": { "names": [format!("{name}-a")] } } });
    cluster
        .tenants()
        .patch(&name, &PatchParams::default(), &Patch::Merge(&fix))
        .await
        .unwrap();
    let valid = cluster.wait_reconciled(&name, "True").await;
    cluster.wait_converged(&valid).await;
}

/// The owners' ClusterRole, as the owner: create namespaces, read their own Tenant, manage their
/// own namespaces; not read another Tenant, nor touch another tenant's or a system namespace.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owners_manage_their_own_namespaces_and_nothing_else() {
    let cluster = Cluster::start().await;
    let mine = unique("orm");
    let theirs = unique("ort");
    cluster
        .create(&tenant(&mine, &[format!("{mine}-a"), format!("{mine}-b")]))
        .await;
    cluster.create(&tenant(&theirs, &[format!("{theirs}-a")])).await;
    let converged = cluster.wait_reconciled(&mine, "True").await;
    cluster.wait_converged(&converged).await;
    cluster.wait_reconciled(&theirs, "True").await;

    let owner = env().user_client(&format!("{mine}-owner"), &[]).await.unwrap();
    let as_owner: Api<Namespace> = Api::all(owner.clone());
    let tenants: Api<Tenant> = Api::all(owner.clone());
    // RBAC is read from informer caches: the new binding may take a moment to count.
    eventually("the owner's ClusterRoleBinding in effect", WAIT, || async {
        tenants.get(&mine).await.ok().map(|_| ())
    })
    .await
    .unwrap();
    let forbidden = |result: Result<_, kube::Error>, what: &str| match result {
        Err(kube::Error::Api(status)) if status.code == 403 => {}
        other => panic!("{what}: expected 403, got {:?}", other.map(|_: ()| ())),
    };
    forbidden(tenants.get(&theirs).await.map(drop), "get another Tenant");
    forbidden(tenants.list(&Default::default()).await.map(drop), "list Tenants");
    forbidden(
        as_owner
            .delete(&format!("{theirs}-a"), &DeleteParams::default())
            .await
            .map(drop),
        "delete another tenant's namespace",
    );
    forbidden(
        as_owner.delete("kube-system", &DeleteParams::default()).await.map(drop),
        "delete kube-system",
    );
    let label = json!({ "metadata": { "labels": { "x": "y" } } });
    forbidden(
        as_owner
            .patch("default", &PatchParams::default(), &Patch::Merge(&label))
            .await
            .map(drop),
        "label default",
    );
    forbidden(as_owner.list(&Default::default()).await.map(drop), "list namespaces");
    // Stored state: all of those are untouched.
    assert!(
        namespaces(&cluster)
            .get_opt(&format!("{theirs}-a"))
            .await
            .unwrap()
            .is_some()
    );
    assert!(cluster.tenants().get(&theirs).await.is_ok());
    assert!(
        !namespaces(&cluster)
            .get("default")
            .await
            .unwrap()
            .labels()
            .contains_key("x")
    );

    // Compliant: their own namespaces and Tenant.
    as_owner
        .patch(&format!("{mine}-a"), &PatchParams::default(), &Patch::Merge(&label))
        .await
        .unwrap();
    as_owner.get(&format!("{mine}-b")).await.unwrap();
    let created: Namespace = serde_json::from_value(json!({ "metadata": { "name": format!("{mine}-new") } })).unwrap();
    as_owner.create(&PostParams::default(), &created).await.unwrap();
    as_owner
        .delete(&format!("{mine}-b"), &DeleteParams::default())
        .await
        .unwrap();
    assert!(
        namespaces(&cluster)
            .get(&format!("{mine}-b"))
            .await
            .unwrap()
            .metadata
            .deletion_timestamp
            .is_some()
    );
    namespaces(&cluster)
        .delete(&format!("{mine}-new"), &DeleteParams::default())
        .await
        .unwrap();
}
