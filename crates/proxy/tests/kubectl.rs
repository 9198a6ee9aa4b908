//! kubectl itself (the v1.37 kubectl built into testenv) through the proxy, as each example
//! owner would use it: `get ns`, `get tenants`, `get pods -A`, `get ns -w`, `apply`; `logs`,
//! `exec` and `port-forward` fail exactly as they do against the API server (testenv has no
//! kubelet); and the audit log records the tenant user for every request.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::type_complexity)] // test code

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{PROXY_USER, TwoTenants, env, proxy, two_tenants};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use palisade_api::Tenant;
use serde_json::json;

async fn kubeconfigs(user: &str, dir: &Path) -> (PathBuf, PathBuf) {
    let direct = env().user_kubeconfig(user, &[]).await.unwrap();
    let via = proxy().via(direct.clone());
    let (direct_path, via_path) = (dir.join(format!("{user}.direct")), dir.join(format!("{user}.proxy")));
    env().write_kubeconfig(&direct, &direct_path).unwrap();
    env().write_kubeconfig(&via, &via_path).unwrap();
    (direct_path, via_path)
}

async fn kubectl(kubeconfig: &Path, args: &[&str]) -> (bool, String, String) {
    let out = env().kubectl(kubeconfig, args).await.unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn lines(text: &str) -> Vec<String> {
    let mut lines: Vec<String> = text.lines().filter(|l| !l.is_empty()).map(str::to_string).collect();
    lines.sort();
    lines
}

fn assert_hides(t: &TwoTenants, what: &str, text: &str) {
    assert!(!text.contains(t.b.as_str()), "{what} shows the other tenant: {text}");
    for ns in &t.b_namespaces {
        assert!(!text.contains(ns.as_str()), "{what} shows {ns}: {text}");
    }
}

#[tokio::test]
async fn kubectl_reads_the_owners_own_view() {
    let admin = env().admin_client().await.unwrap();
    let t = two_tenants(&admin).await;
    let dir = tempfile::tempdir().unwrap();
    let (_, via) = kubeconfigs(&t.alice, dir.path()).await;

    let (ok, out, err) = kubectl(&via, &["get", "namespaces", "-o", "name"]).await;
    assert!(ok, "{err}");
    let expected: Vec<String> = t.a_namespaces.iter().map(|ns| format!("namespace/{ns}")).collect();
    assert_eq!(lines(&out), expected);

    let (ok, out, err) = kubectl(&via, &["get", "tenants", "-o", "name"]).await;
    assert!(ok, "{err}");
    assert_eq!(lines(&out), [format!("tenant.palisade.dev/{}", t.a)]);

    for args in [
        &["get", "pods", "-A"][..],
        &["get", "namespaces"],
        &["get", "tenants"],
        &["get", "pods", "-A", "-o", "wide"],
    ] {
        let (ok, out, err) = kubectl(&via, args).await;
        assert!(ok, "{args:?}: {err}");
        assert_hides(&t, &format!("{args:?}"), &out);
        assert!(out.lines().count() > 1, "{args:?} printed no rows: {out}");
    }
    // No node selector: no nodes (node status lists every tenant's images); classes are not
    // restricted for this tenant, so every one is readable.
    let (ok, out, err) = kubectl(&via, &["get", "nodes", "-o", "name"]).await;
    assert!(ok && out.trim().is_empty(), "get nodes: {out} {err}");
    let (ok, _, err) = kubectl(&via, &["get", "storageclasses,ingressclasses,priorityclasses"]).await;
    assert!(ok, "get classes: {err}");
    let (direct_path, _) = kubeconfigs(&t.alice, dir.path()).await;
    let (ok, _, _) = kubectl(&direct_path, &["get", "namespaces"]).await;
    assert!(
        !ok,
        "directly, alice may not list namespaces: the proxy lends no rights"
    );

    let (_, pods, _) = kubectl(&via, &["get", "pods", "-A", "--no-headers"]).await;
    for ns in &t.a_namespaces {
        assert!(pods.contains(&format!("web-{ns}")), "pods -A lacks {ns}'s pod: {pods}");
    }
}

#[tokio::test]
async fn kubectl_watch_sees_a_new_namespace_of_the_tenant() {
    let admin = env().admin_client().await.unwrap();
    let t = two_tenants(&admin).await;
    let dir = tempfile::tempdir().unwrap();
    let (_, via) = kubeconfigs(&t.alice, dir.path()).await;
    let watch = {
        let via = via.clone();
        tokio::spawn(async move { kubectl(&via, &["get", "namespaces", "-w", "--request-timeout=25s"]).await })
    };
    tokio::time::sleep(Duration::from_secs(3)).await;
    let tenants = Api::<Tenant>::all(admin.clone());
    for (tenant, existing) in [(&t.b, &t.b_namespaces), (&t.a, &t.a_namespaces)] {
        let mut names = existing.clone();
        names.push(format!("{tenant}-late"));
        let patch = json!({"spec": {"namespaces": {"names": names}}});
        tenants
            .patch(
                tenant,
                &kube::api::PatchParams::default(),
                &kube::api::Patch::Merge(patch),
            )
            .await
            .unwrap();
    }
    let (_, out, err) = watch.await.unwrap();
    assert!(
        out.contains(&format!("{}-late", t.a)),
        "the watch never showed the new namespace: {out} {err}"
    );
    assert_hides(&t, "get ns -w", &out);
}

#[tokio::test]
async fn kubectl_writes_and_streams_behave_as_against_the_api_server() {
    let admin = env().admin_client().await.unwrap();
    let t = two_tenants(&admin).await;
    let dir = tempfile::tempdir().unwrap();
    let (direct, via) = kubeconfigs(&t.alice, dir.path()).await;
    let ns = &t.a_namespaces[0];

    let manifest = dir.path().join("settings.yaml");
    std::fs::write(
        &manifest,
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: {ns}\ndata:\n  mode: proxy\n"
        ),
    )
    .unwrap();
    let (ok, _, err) = kubectl(&via, &["apply", "-f", manifest.to_str().unwrap()]).await;
    assert!(ok, "apply through the proxy: {err}");
    let stored = Api::<ConfigMap>::namespaced(admin.clone(), ns)
        .get("settings")
        .await
        .unwrap();
    assert_eq!(stored.data.unwrap()["mode"], "proxy");
    let (ok, _, err) = kubectl(&via, &["apply", "--server-side", "-f", manifest.to_str().unwrap()]).await;
    assert!(ok, "server-side apply through the proxy: {err}");

    // Another tenant's namespace: refused by the API server, as alice.
    let (ok, _, err) = kubectl(&via, &["get", "configmaps", "-n", &t.b_namespaces[0]]).await;
    assert!(!ok && err.contains("Forbidden") && err.contains(&t.alice), "{err}");

    // No kubelet in testenv: each answers the same through the proxy as directly.
    let pod = format!("web-{ns}");
    for args in [
        vec!["logs", pod.as_str(), "-n", ns.as_str()],
        vec!["exec", pod.as_str(), "-n", ns.as_str(), "--", "true"],
        vec!["port-forward", "-n", ns.as_str(), &format!("pod/{pod}"), "0:8080"],
    ] {
        let (direct_ok, direct_out, direct_err) = kubectl(&direct, &args).await;
        let (via_ok, via_out, via_err) = kubectl(&via, &args).await;
        eprintln!("{args:?}: direct {direct_ok} {direct_out:?} {direct_err:?}");
        assert_eq!(
            (via_ok, via_out.trim(), via_err.trim()),
            (direct_ok, direct_out.trim(), direct_err.trim()),
            "{args:?}"
        );
    }

    // Every request alice made through the proxy is in the audit log as alice.
    let events = env().audit_events().await.unwrap();
    let alices: Vec<_> = events
        .iter()
        .filter(|e| e.impersonated_user.as_ref().is_some_and(|u| u.username == t.alice))
        .collect();
    assert!(
        alices.len() >= 5,
        "too few of alice's requests audited: {}",
        alices.len()
    );
    for event in &alices {
        assert_eq!(event.user.username, PROXY_USER, "{event:?}");
    }
    let filtered = alices
        .iter()
        .any(|e| e.request_uri.starts_with("/api/v1/namespaces?") && e.request_uri.contains("metadata.name"));
    let configmap = alices.iter().any(|e| e.request_uri.contains("/configmaps"));
    assert!(filtered, "no filtered namespace read audited as alice");
    assert!(configmap, "no pass-through write audited as alice");
    // And nothing alice asked for ran as the proxy itself.
    let as_proxy: Vec<_> = events
        .iter()
        .filter(|e| e.user.username == PROXY_USER && e.impersonated_user.is_none())
        .filter(|e| e.user_agent.starts_with("kubectl"))
        .collect();
    assert!(
        as_proxy.is_empty(),
        "kubectl requests ran with the proxy's rights: {as_proxy:?}"
    );
}
