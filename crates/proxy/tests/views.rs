//! What tenant users see through the proxy, against the real API server: each owner exactly
//! their own namespaces, Tenants and pods, in lists, pages, Tables and watches; ServiceAccounts
//! of the same name in two tenants each their own; and another tenant's names nowhere.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::type_complexity)] // test code

mod common;

use std::collections::BTreeSet;

use common::{WAIT, env, names, pod, proxy, tenant, two_tenants};
use futures::StreamExt;
use http::Method;
use k8s_openapi::api::core::v1::{Namespace, Pod, ServiceAccount};
use kube::api::{ListParams, PostParams, WatchEvent, WatchParams};
use kube::{Api, ResourceExt};
use palisade_api::Tenant;
use palisade_testenv::{eventually, unique_name};
use serde_json::json;

#[tokio::test]
async fn owners_see_exactly_their_own_tenant() {
    let admin = env().admin_client().await.unwrap();
    let t = two_tenants(&admin).await;
    let p = proxy();
    for (user, own, own_namespaces, other, other_namespaces) in [
        (&t.alice, &t.a, &t.a_namespaces, &t.b, &t.b_namespaces),
        (&t.bob, &t.b, &t.b_namespaces, &t.a, &t.a_namespaces),
    ] {
        let client = p.user(user, &[]).await;
        let namespaces = Api::<Namespace>::all(client.clone())
            .list(&ListParams::default())
            .await
            .unwrap();
        assert_eq!(
            names(&namespaces.items),
            own_namespaces.iter().cloned().collect(),
            "{user}: namespaces"
        );
        assert!(namespaces.metadata.resource_version.is_some());
        let tenants = Api::<Tenant>::all(client.clone())
            .list(&ListParams::default())
            .await
            .unwrap();
        assert_eq!(names(&tenants.items), BTreeSet::from([own.clone()]), "{user}: tenants");
        assert!(
            tenants.items[0].status.is_some(),
            "{user}: a Tenant is shown with its status"
        );
        let pods = Api::<Pod>::all(client.clone())
            .list(&ListParams::default())
            .await
            .unwrap();
        let expected: BTreeSet<String> = own_namespaces.iter().map(|ns| format!("web-{ns}")).collect();
        assert_eq!(names(&pods.items), expected, "{user}: pods -A");

        // kubectl's Table form, as raw text: not one name of the other tenant anywhere.
        let certificate = common::certificate(user, &[]).await;
        let table = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json";
        for path in [
            "/api/v1/namespaces",
            "/api/v1/pods",
            "/apis/palisade.dev/v1alpha1/tenants",
        ] {
            let (status, _, body) = common::raw(p, Some(&certificate), Method::GET, path, &[("accept", table)]).await;
            assert_eq!(status, 200, "{user} {path}: {body}");
            let parsed: serde_json::Value = serde_json::from_str(&body).unwrap();
            assert_eq!(parsed["kind"], "Table", "{path}");
            assert!(!parsed["rows"].as_array().unwrap().is_empty(), "{user} {path}: {body}");
            assert!(!body.contains(other.as_str()), "{user} {path} shows {other}: {body}");
            for ns in other_namespaces {
                assert!(!body.contains(ns.as_str()), "{user} {path} shows {ns}");
            }
        }
    }
    // The proxy lends no rights: directly, the same user may not list namespaces at all.
    let direct = env().user_client(&t.alice, &[]).await.unwrap();
    let refused = Api::<Namespace>::all(direct)
        .list(&ListParams::default())
        .await
        .unwrap_err();
    assert!(matches!(refused, kube::Error::Api(ref s) if s.code == 403), "{refused}");
}

#[tokio::test]
async fn merged_lists_page_with_continue_tokens() {
    let admin = env().admin_client().await.unwrap();
    let t = two_tenants(&admin).await;
    for ns in &t.a_namespaces {
        pod(&admin, ns, "extra").await;
    }
    let client = proxy().user(&t.alice, &[]).await;
    let api = Api::<Pod>::all(client);
    let mut seen = Vec::new();
    let mut params = ListParams::default().limit(1);
    let mut pages = 0;
    loop {
        let page = api.list(&params).await.unwrap();
        assert!(page.items.len() <= 1, "a page holds at most `limit` items");
        seen.extend(
            page.items
                .iter()
                .map(|p| format!("{}/{}", p.namespace().unwrap(), p.name_any())),
        );
        pages += 1;
        match page.metadata.continue_ {
            Some(token) if !token.is_empty() => params = ListParams::default().limit(1).continue_token(&token),
            _ => break,
        }
        assert!(pages < 20, "paging does not end");
    }
    let unique: BTreeSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "no pod twice: {seen:?}");
    assert_eq!(seen.len(), 4, "every pod of alice's two namespaces: {seen:?}");
    // A continue token the proxy did not make is refused, not passed on.
    let forged = api
        .list(
            &ListParams::default()
                .limit(1)
                .continue_token("eyJ2IjoibWV0YS5rOHMuaW8vdjEifQ"),
        )
        .await
        .unwrap_err();
    assert!(matches!(forged, kube::Error::Api(ref s) if s.code == 400), "{forged}");
}

#[tokio::test]
async fn same_named_service_accounts_see_their_own_tenant() {
    let admin = env().admin_client().await.unwrap();
    let c = unique_name("pc");
    let d = unique_name("pd");
    let mut tokens = Vec::new();
    for t in [&c, &d] {
        let ns = format!("{t}-1");
        let owner = json!([{"kind": "ServiceAccount", "name": "deployer", "namespace": ns}]);
        Api::<Tenant>::all(admin.clone())
            .create(&PostParams::default(), &tenant(t, owner, std::slice::from_ref(&ns)))
            .await
            .unwrap();
        let accounts = Api::<ServiceAccount>::namespaced(admin.clone(), &ns);
        let account: ServiceAccount = serde_json::from_value(json!({"metadata": {"name": "deployer"}})).unwrap();
        eventually(&format!("ServiceAccount {ns}/deployer"), WAIT, || {
            let accounts = accounts.clone();
            let account = account.clone();
            async move { accounts.create(&PostParams::default(), &account).await.ok() }
        })
        .await
        .unwrap();
        let token = common::service_account_token(&admin, &ns, "deployer").await;
        tokens.push((t.clone(), ns, token));
    }
    for (t, ns, token) in &tokens {
        let client = proxy().token_client(token).await;
        let expected = BTreeSet::from([ns.clone()]);
        eventually(&format!("{t}'s deployer sees its namespace"), WAIT, || {
            let api = Api::<Namespace>::all(client.clone());
            let expected = expected.clone();
            async move { (names(&api.list(&ListParams::default()).await.ok()?.items) == expected).then_some(()) }
        })
        .await
        .unwrap();
        let tenants = Api::<Tenant>::all(client.clone())
            .list(&ListParams::default())
            .await
            .unwrap();
        assert_eq!(names(&tenants.items), BTreeSet::from([t.clone()]));
    }
}

#[tokio::test]
async fn a_watch_sees_its_tenants_new_namespace_and_nothing_else() {
    let admin = env().admin_client().await.unwrap();
    let t = two_tenants(&admin).await;
    let client = proxy().user(&t.alice, &[]).await;
    let api = Api::<Namespace>::all(client);
    let list = api.list(&ListParams::default()).await.unwrap();
    let version = list.metadata.resource_version.unwrap();
    let mut events = api
        .watch(&WatchParams::default().timeout(60), &version)
        .await
        .unwrap()
        .boxed();

    let tenants = Api::<Tenant>::all(admin.clone());
    let grow = |tenant: &str, names: Vec<String>| {
        let patch = json!({"spec": {"namespaces": {"names": names}}});
        let tenants = tenants.clone();
        let tenant = tenant.to_string();
        async move {
            tenants
                .patch(
                    &tenant,
                    &kube::api::PatchParams::default(),
                    &kube::api::Patch::Merge(patch),
                )
                .await
                .unwrap();
        }
    };
    let b_new = format!("{}-new", t.b);
    let a_new = format!("{}-new", t.a);
    let mut b_names = t.b_namespaces.clone();
    b_names.push(b_new.clone());
    grow(&t.b, b_names).await;
    let mut a_names = t.a_namespaces.clone();
    a_names.push(a_new.clone());
    grow(&t.a, a_names).await;

    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let event = tokio::time::timeout_at(deadline, events.next())
            .await
            .expect("the new namespace never appeared in the watch")
            .expect("the watch ended")
            .unwrap();
        let name = match &event {
            WatchEvent::Added(ns) | WatchEvent::Modified(ns) | WatchEvent::Deleted(ns) => ns.name_any(),
            WatchEvent::Bookmark(_) => continue,
            WatchEvent::Error(e) => panic!("watch error: {e:?}"),
        };
        assert!(!name.starts_with(&t.b), "alice's watch shows {name} of another tenant");
        if name == a_new && matches!(event, WatchEvent::Added(_)) {
            break;
        }
    }
}

#[tokio::test]
async fn a_user_with_a_role_in_one_tenant_namespace_sees_that_namespace() {
    let admin = env().admin_client().await.unwrap();
    let t = two_tenants(&admin).await;
    let carol = unique_name("carol");
    let ns = &t.a_namespaces[0];
    let binding: k8s_openapi::api::rbac::v1::RoleBinding = serde_json::from_value(json!({
        "metadata": {"name": "carol-view", "namespace": ns},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
        "subjects": [{"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": carol}],
    }))
    .unwrap();
    Api::<k8s_openapi::api::rbac::v1::RoleBinding>::namespaced(admin.clone(), ns)
        .create(&PostParams::default(), &binding)
        .await
        .unwrap();
    let client = proxy().user(&carol, &[]).await;
    let expected = BTreeSet::from([ns.clone()]);
    eventually("carol sees the namespace she holds a role in", WAIT, || {
        let api = Api::<Namespace>::all(client.clone());
        let expected = expected.clone();
        async move { (names(&api.list(&ListParams::default()).await.ok()?.items) == expected).then_some(()) }
    })
    .await
    .unwrap();
    let pods = Api::<Pod>::all(client.clone())
        .list(&ListParams::default())
        .await
        .unwrap();
    assert_eq!(names(&pods.items), BTreeSet::from([format!("web-{ns}")]));
    let tenants = Api::<Tenant>::all(client).list(&ListParams::default()).await.unwrap();
    assert!(
        tenants.items.is_empty(),
        "a role holder is not an owner: no Tenant to read"
    );
}
