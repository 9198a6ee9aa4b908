#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed step fails the test
//! A controller killed halfway through converging 50 tenants, with tenants changed while it is
//! down, converges to the same end state after a restart, and leaves no orphan behind.

mod common;

use std::collections::BTreeSet;
use std::time::Instant;

use common::*;
use kube::api::{DynamicObject, ListParams, Patch, PatchParams};
use kube::{Api, ResourceExt};
use palisade_api::{Tenant, labels};
use palisade_controller::diff::ObjectKey;
use palisade_controller::kinds::MANAGED_KINDS;
use palisade_testenv::eventually;
use serde_json::json;

const TENANTS: usize = 50;

fn tenant(name: &str) -> Tenant {
    tenant_from_yaml(&format!(
        r#"
apiVersion: palisade.dev/v1alpha1
kind: Tenant
metadata:
  name: {name}
spec:
  owners:
    - {{ kind: User, name: {name}-alice }}
    - {{ kind: User, name: {name}-bob }}
  namespaces: {{ names: [{name}-app] }}
  quota: {{ namespace: {{ pods: "10" }} }}
"#
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_and_restarted_controller_converges_without_orphans() {
    let first = start_controller();
    let admin = env().admin_client().await.unwrap();
    install_crds(&admin).await;
    let tenants: Api<Tenant> = Api::all(admin.clone());
    let prefix = unique("r");
    let names: Vec<String> = (0..TENANTS).map(|i| format!("{prefix}-{i}")).collect();
    let started = Instant::now();
    for name in &names {
        tenants.create(&Default::default(), &tenant(name)).await.unwrap();
    }
    // Kill the controller once it has finished some tenants, but not all.
    let ready_before_kill = eventually("a few tenants to be reconciled", WAIT, || async {
        let ready = count_ready(&tenants, &names).await;
        (ready >= 5).then_some(ready)
    })
    .await
    .unwrap();
    first.kill();
    let ready_at_kill = count_ready(&tenants, &names).await;
    eprintln!(
        "MEASURE restart: killed with {ready_at_kill}/{TENANTS} tenants reconciled (>= {ready_before_kill} seen)"
    );

    // While it is down: every fifth tenant loses bob and gets a bigger quota.
    for name in names.iter().step_by(5) {
        let patch = json!({ "spec": {
            "owners": [{ "kind": "User", "name": format!("{name}-alice") }],
            "quota": { "namespace": { "pods": "20" } },
        }});
        tenants
            .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .unwrap();
    }

    let second = start_controller();
    let restarted = Instant::now();
    let cluster = Cluster { admin: admin.clone() };
    for name in &names {
        let tenant = cluster.wait_reconciled(name, "True").await;
        cluster.wait_converged(&tenant).await;
    }
    eprintln!(
        "MEASURE restart: {TENANTS} tenants converged {:?} after the restart ({:?} after creation)",
        restarted.elapsed(),
        started.elapsed()
    );

    // No orphans: every object managed by Palisade for these tenants is one the renderer lists.
    let mut expected = BTreeSet::new();
    for name in &names {
        let tenant = tenants.get(name).await.unwrap();
        expected.extend(expected_plan(&tenant).all_objects().map(ObjectKey::of));
    }
    let mut found = BTreeSet::new();
    for kind in MANAGED_KINDS.iter().filter(|k| k.built_in) {
        let api: Api<DynamicObject> = Api::all_with(admin.clone(), &kind.api_resource());
        let list = api
            .list(&ListParams::default().labels(&format!("{}=palisade", labels::MANAGED_BY)))
            .await
            .unwrap();
        for item in list.items {
            if item
                .labels()
                .get(labels::TENANT)
                .is_some_and(|t| t.starts_with(&prefix))
            {
                found.insert(ObjectKey::new(
                    kind.api_version,
                    kind.kind,
                    item.namespace().as_deref(),
                    &item.name_any(),
                ));
            }
        }
    }
    let orphans: Vec<_> = found.difference(&expected).collect();
    let missing: Vec<_> = expected.difference(&found).collect();
    assert!(orphans.is_empty(), "orphans: {orphans:?}");
    assert!(missing.is_empty(), "missing: {missing:?}");
    second.kill();
}

async fn count_ready(tenants: &Api<Tenant>, names: &[String]) -> usize {
    let list = tenants.list(&ListParams::default()).await.unwrap();
    list.items
        .iter()
        .filter(|t| names.contains(&t.name_any()))
        .filter(|t| condition(t, "Ready").is_some_and(|c| c.status == "True"))
        .count()
}
