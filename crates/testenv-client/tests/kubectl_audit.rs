//! The testenv binary's own kubectl (`palisade-testenv kubectl`) and the API server's audit
//! log: what a test of a proxy in front of the API server needs to see who really asked what.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failure should stop the test loudly

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{ObjectMeta, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client, Config};
use palisade_testenv::{AuditEvent, TestEnv, unique_name};

fn env() -> &'static TestEnv {
    match TestEnv::get() {
        Ok(env) => env,
        Err(e) => panic!("{e}"),
    }
}

fn stdout(out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "kubectl failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn is_configmap(e: &AuditEvent, name: &str) -> bool {
    e.stage == "ResponseComplete"
        && e.object_ref
            .as_ref()
            .is_some_and(|o| o.resource.as_deref() == Some("configmaps") && o.name.as_deref() == Some(name))
}

#[tokio::test]
async fn kubectl_lists_namespaces_as_the_admin() {
    let env = env();
    let out = env
        .kubectl(env.kubeconfig_path(), &["get", "namespaces", "-o", "name"])
        .await
        .unwrap();
    let names = stdout(&out);
    assert!(names.lines().any(|l| l == "namespace/default"), "{names}");

    // Its exit status is kubectl's.
    let out = env
        .kubectl(
            env.kubeconfig_path(),
            &["get", "configmap", &unique_name("absent"), "-n", "default"],
        )
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("NotFound"));
}

#[tokio::test]
async fn an_admin_request_is_in_the_audit_log_with_the_admin_as_user() {
    let env = env();
    let name = unique_name("audited");
    let cms: Api<ConfigMap> = Api::namespaced(env.admin_client().await.unwrap(), "default");
    let cm = ConfigMap {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            ..ObjectMeta::default()
        },
        ..ConfigMap::default()
    };
    cms.create(&PostParams::default(), &cm).await.unwrap();
    cms.get(&name).await.unwrap();

    // Blocking audit mode: the events are written before the responses complete.
    let events: Vec<AuditEvent> = env
        .audit_events()
        .await
        .unwrap()
        .into_iter()
        .filter(|e| is_configmap(e, &name))
        .collect();
    let verbs: Vec<&str> = events.iter().map(|e| e.verb.as_str()).collect();
    assert_eq!(verbs, ["create", "get"], "{events:#?}");
    for e in &events {
        assert_eq!(e.user.username, "palisade-testenv-admin", "{e:#?}");
        assert!(e.user.groups.iter().any(|g| g == "system:masters"), "{e:#?}");
        assert_eq!(e.impersonated_user, None);
        assert_eq!(e.object_ref.as_ref().unwrap().namespace.as_deref(), Some("default"));
        assert!(!e.audit_id.is_empty(), "{e:#?}");
    }
    assert_eq!(events[0].code(), Some(201));
    assert_eq!(events[1].code(), Some(200));
    assert_eq!(
        events[1].request_uri,
        format!("/api/v1/namespaces/default/configmaps/{name}")
    );
}

#[tokio::test]
async fn a_forbidden_request_of_alice_is_in_the_audit_log_with_code_403() {
    let env = env();
    let name = unique_name("forbidden");
    let cms: Api<ConfigMap> = Api::namespaced(env.user_client("alice", &["team-a"]).await.unwrap(), "default");
    match cms.get(&name).await {
        Err(kube::Error::Api(s)) => assert_eq!(s.code, 403, "{s:?}"),
        other => panic!("alice should be forbidden, got {other:?}"),
    }
    let event = env
        .audit_event("alice's get", |e| is_configmap(e, &name))
        .await
        .unwrap();
    assert_eq!(event.user.username, "alice");
    assert!(event.user.groups.iter().any(|g| g == "team-a"), "{event:#?}");
    assert_eq!((event.verb.as_str(), event.code()), ("get", Some(403)));
    assert_eq!(
        event
            .annotations
            .get("authorization.k8s.io/decision")
            .map(String::as_str),
        Some("forbid")
    );
}

/// What an impersonating proxy does: authenticate as itself (here the admin), act as the user.
#[tokio::test]
async fn an_impersonated_request_names_both_users() {
    let env = env();
    let mut kubeconfig = Kubeconfig::read_from(env.kubeconfig_path()).unwrap();
    for user in &mut kubeconfig.auth_infos {
        let auth = user.auth_info.as_mut().unwrap();
        auth.impersonate = Some("bob".into());
        auth.impersonate_groups = Some(vec!["team-b".into()]);
    }
    let config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(Client::try_from(config).unwrap(), "default");
    let name = unique_name("impersonated");
    assert!(cms.get(&name).await.is_err(), "bob may not read config maps");

    // And the same through kubectl's --as.
    let out = env
        .kubectl(
            env.kubeconfig_path(),
            &[
                "get",
                "configmap",
                &name,
                "-n",
                "default",
                "--as",
                "carol",
                "--as-group",
                "team-c",
            ],
        )
        .await
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("forbidden"));

    let events: Vec<AuditEvent> = env
        .audit_events()
        .await
        .unwrap()
        .into_iter()
        .filter(|e| is_configmap(e, &name))
        .collect();
    assert_eq!(events.len(), 2, "{events:#?}");
    for (e, (user, group)) in events.iter().zip([("bob", "team-b"), ("carol", "team-c")]) {
        assert_eq!(e.user.username, "palisade-testenv-admin");
        let acted_as = e.impersonated_user.as_ref().unwrap();
        assert_eq!(acted_as.username, user);
        assert!(acted_as.groups.iter().any(|g| g == group), "{e:#?}");
        assert_eq!(e.effective_user().username, user);
        assert_eq!(e.code(), Some(403));
    }
    assert!(
        events[1].user_agent.starts_with("kubectl/"),
        "{:?}",
        events[1].user_agent
    );
}

/// `user_kubeconfig_via` points a user's kubeconfig at another server; here the API server
/// itself under its other name, `localhost`, with the testenv CA, written to a file for kubectl.
#[tokio::test]
async fn a_user_kubeconfig_via_another_url_works_with_kubectl() {
    let env = env();
    let admin = Kubeconfig::read_from(env.kubeconfig_path()).unwrap();
    let server = admin.clusters[0].cluster.as_ref().unwrap().server.clone().unwrap();
    let via = server.replace("127.0.0.1", "localhost");
    let ca = std::fs::read_to_string(env.dir().join("ca.crt")).unwrap();
    let kubeconfig = env
        .user_kubeconfig_via("dave", &["team-d", "team-e"], &via, &ca)
        .await
        .unwrap();
    let cluster = kubeconfig.clusters[0].cluster.as_ref().unwrap();
    assert_eq!(cluster.server.as_deref(), Some(via.as_str()));

    let dir = std::env::temp_dir().join(unique_name("kubeconfig-via"));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("dave.kubeconfig");
    env.write_kubeconfig(&kubeconfig, &path).unwrap();
    let out = env.kubectl(&path, &["auth", "whoami", "-o", "json"]).await;
    let _ = std::fs::remove_dir_all(&dir);
    let review: serde_json::Value = serde_json::from_str(&stdout(&out.unwrap())).unwrap();
    let user = &review["status"]["userInfo"];
    assert_eq!(user["username"], "dave", "{review}");
    let groups = user["groups"].as_array().unwrap();
    for g in ["team-d", "team-e", "system:authenticated"] {
        assert!(groups.iter().any(|x| x == g), "{review}");
    }
}
