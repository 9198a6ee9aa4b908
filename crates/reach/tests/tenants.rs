//! `--check-isolation` at the engine level: the example Tenants, rendered by Palisade, let no
//! tenant reach another beyond what the destination grants; a permissive NetworkPolicy in a
//! tenant namespace is reported.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failure should stop the test loudly

use palisade_api::{IsolationMode, NetworkProvider, Tenant};
use palisade_reach::matrix::{self, Grant};
use palisade_reach::parse::ClusterBuilder;
use palisade_reach::{Analysis, Options};
use palisade_tenancy::render::{ClusterFacts, ClusterInventory, TenantIndex};
use palisade_tenancy::{render_cluster_scoped, render_namespace};
use std::collections::BTreeMap;
use std::path::Path;

fn example_tenants() -> Vec<Tenant> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("examples/ exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
        .iter()
        .flat_map(|f| {
            let text = std::fs::read_to_string(f).expect("readable");
            serde_saphyr::from_multiple::<Tenant>(&text).expect("examples are Tenants")
        })
        .collect()
}

/// Renders the tenants into a builder (as `palisade reach --tenants` does) and returns the grants.
fn render_into(b: &mut ClusterBuilder, tenants: &[Tenant]) -> BTreeMap<String, Grant> {
    let index = TenantIndex::new(tenants.iter());
    let facts = ClusterFacts::default();
    let mut grants = BTreeMap::new();
    let mut namespaces = Vec::new();
    for t in tenants {
        let name = t.metadata.name.clone().unwrap_or_default();
        let spec = serde_json::to_value(&t.spec.network).unwrap();
        grants.insert(name.clone(), Grant::from_network_spec(&name, &spec).unwrap());
        for o in render_cluster_scoped(t, &index, &facts, &ClusterInventory::default()).0 {
            b.add_rendered("rendered", o.manifest).expect("rendered objects parse");
        }
        for ns in index.namespaces_of(&name) {
            for o in render_namespace(t, &ns, &index, &facts).objects {
                b.add_rendered("rendered", o.manifest).expect("rendered objects parse");
            }
            namespaces.push(ns);
        }
    }
    b.add_probes(namespaces);
    grants
}

fn ungranted(extra: Option<&str>) -> Vec<String> {
    let tenants = example_tenants();
    assert!(tenants.len() >= 2, "the examples define several tenants");
    let mut b = ClusterBuilder::new();
    if let Some(text) = extra {
        b.add_text("extra.yaml", text).expect("valid extra manifest");
    }
    let grants = render_into(&mut b, &tenants);
    let cluster = b.build();
    let analysis = Analysis::new(&cluster, Options::default());
    let m = matrix::tenant_matrix(&analysis);
    matrix::ungranted(&m, &grants)
        .into_iter()
        .map(|u| {
            format!(
                "{} => {}: {} => {} : {}",
                u.src, u.dst, u.flow.src, u.flow.dst, u.outside
            )
        })
        .collect()
}

#[test]
fn example_tenants_are_isolated() {
    assert_eq!(ungranted(None), Vec::<String>::new());
}

#[test]
fn permissive_network_policies_in_tenant_namespaces_are_reported() {
    let tenants = example_tenants();
    let read_by_engine = |t: &&Tenant| {
        t.spec.network.isolation == IsolationMode::Strict
            && matches!(
                t.spec.network.provider,
                NetworkProvider::Kubernetes | NetworkProvider::AdminNetworkPolicy
            )
    };
    let name = |t: &Tenant| t.metadata.name.clone().unwrap_or_default();
    let victim = tenants.iter().find(read_by_engine).expect("an isolated example tenant");
    let source = tenants
        .iter()
        .filter(read_by_engine)
        .find(|t| name(t) != name(victim) && !victim.spec.network.allow_from.grants_tenant(&name(t)))
        .expect("a second isolated tenant the first does not grant");
    let index = TenantIndex::new(tenants.iter());
    let first_ns = |t: &Tenant| index.namespaces_of(&name(t)).into_iter().next().expect("a namespace");
    let (victim_ns, source_ns) = (first_ns(victim), first_ns(source));
    // Both tenants deny by default in both directions, so a path needs the source's egress and the
    // victim's ingress opened: one permissive policy on each side.
    let permissive = format!(
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{name: allow-everyone-in, namespace: {victim_ns}}}\nspec:\n  podSelector: {{}}\n  ingress:\n  - from: [{{namespaceSelector: {{}}}}]\n---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{name: allow-everything-out, namespace: {source_ns}}}\nspec:\n  podSelector: {{}}\n  policyTypes: [Egress]\n  egress: [{{}}]\n"
    );
    let found = ungranted(Some(&permissive));
    let (v, s) = (name(victim), name(source));
    assert!(
        found
            .iter()
            .any(|l| l.starts_with(&format!("{s} => {v}: {source_ns}/")) && l.contains(&format!("=> {victim_ns}/"))),
        "expected a flow {s} ({source_ns}) => {v} ({victim_ns}), got {found:?}"
    );
    // One side alone opens nothing: the other tenant's default deny still holds.
    let one_side = permissive.split("---").next().unwrap_or_default().to_string();
    assert_eq!(ungranted(Some(&one_side)), Vec::<String>::new());
}

/// Issue 10, grant squatting: tenant `shop` lets the platform's `monitoring` namespace in. Another
/// tenant that creates its own namespace named `monitoring` (and opens its egress) must not get
/// that grant: the rendered peer requires the namespace to carry no tenant label.
#[test]
fn a_tenant_namespace_named_like_a_granted_platform_namespace_gets_no_grant() {
    let tenants: Vec<Tenant> = serde_saphyr::from_multiple(
        r#"
apiVersion: palisade.dev/v1alpha1
kind: Tenant
metadata: { name: shop }
spec:
  owners: [{ kind: User, name: alice }]
  namespaces: { names: [shop-api] }
  network: { allowFrom: { namespaces: [monitoring] } }
---
apiVersion: palisade.dev/v1alpha1
kind: Tenant
metadata: { name: squatter }
spec:
  owners: [{ kind: User, name: mallory }]
  namespaces: { names: [monitoring] }
"#,
    )
    .unwrap();
    let open_egress = "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: allow-everything-out, namespace: monitoring}\nspec:\n  podSelector: {}\n  policyTypes: [Egress]\n  egress: [{}]\n";
    let mut b = ClusterBuilder::new();
    b.add_text("extra.yaml", open_egress).unwrap();
    let grants = render_into(&mut b, &tenants);
    let cluster = b.build();
    let analysis = Analysis::new(&cluster, Options::default());
    let m = matrix::tenant_matrix(&analysis);
    let found: Vec<String> = matrix::ungranted(&m, &grants)
        .into_iter()
        .map(|u| {
            format!(
                "{} => {}: {} => {} : {}",
                u.src, u.dst, u.flow.src, u.flow.dst, u.outside
            )
        })
        .collect();
    assert_eq!(found, Vec::<String>::new(), "the squatter must not reach shop");
}

/// Issue 11, item 4: a narrowed grant. `catalog` (namespace `catalog-api`, pods `api` and `db`)
/// writes `allow_from` as its `spec.network.allowFrom`; `storefront` (namespace `storefront-web`,
/// pod `web`) grants nothing. Returns the cluster (with `extra`: more manifests, e.g. policies an
/// admin or a tenant wrote) and the grants.
fn narrowed_cluster(
    provider: &str,
    allow_from: &str,
    extra: &str,
) -> (palisade_reach::Cluster, BTreeMap<String, Grant>) {
    let tenants: Vec<Tenant> = serde_saphyr::from_multiple(&format!(
        r#"
apiVersion: palisade.dev/v1alpha1
kind: Tenant
metadata: {{ name: catalog }}
spec:
  owners: [{{ kind: User, name: alice }}]
  namespaces: {{ names: [catalog-api] }}
  network: {{ provider: {provider}, allowFrom: {{ {allow_from} }} }}
---
apiVersion: palisade.dev/v1alpha1
kind: Tenant
metadata: {{ name: storefront }}
spec:
  owners: [{{ kind: User, name: bob }}]
  namespaces: {{ names: [storefront-web] }}
  network: {{ provider: {provider} }}
"#
    ))
    .unwrap();
    for t in &tenants {
        assert_eq!(palisade_tenancy::validate(t), vec![], "test tenants are valid");
    }
    let pod = |ns: &str, name: &str, app: &str| {
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}, namespace: {ns}, labels: {{app: {app}}}}}\nspec:\n  containers: [{{name: c, image: x, ports: [{{containerPort: 8080}}, {{containerPort: 9090}}]}}]\n---\n"
        )
    };
    let pods = [
        pod("catalog-api", "api", "api"),
        pod("catalog-api", "db", "db"),
        pod("storefront-web", "web", "web"),
    ]
    .concat();
    let mut b = ClusterBuilder::new();
    b.add_text("pods.yaml", &pods).unwrap();
    if !extra.is_empty() {
        b.add_text("extra.yaml", extra).unwrap();
    }
    let grants = render_into(&mut b, &tenants);
    (b.build(), grants)
}

const NARROWED: &str =
    "tenantGrants: [{ tenant: storefront, ports: [{ port: 8080 }], podSelector: { matchLabels: { app: api } } }]";

/// Every connection line between the two tenants' pods (see [`narrowed_cluster`]); with the
/// grant and no extra manifest, also checks that --check-isolation reports nothing.
fn narrowed_grant_lines(provider: &str, granted: bool, extra: &str) -> Vec<String> {
    let allow_from = if granted { NARROWED } else { "tenantGrants: []" };
    let (cluster, grants) = narrowed_cluster(provider, allow_from, extra);
    let analysis = Analysis::new(&cluster, Options::default());
    // The grant counts for --check-isolation: nothing is reported as ungranted.
    let m = matrix::tenant_matrix(&analysis);
    if extra.is_empty() {
        assert_eq!(matrix::ungranted(&m, &grants).len(), 0, "{provider}: nothing ungranted");
    }
    analysis
        .connections()
        .iter()
        .filter(|c| {
            let tenant_of = |s: &str| {
                s.split('/')
                    .next()
                    .map(|ns| ns.split('-').next().unwrap_or("").to_string())
            };
            let (s, d) = (tenant_of(&c.src), tenant_of(&c.dst));
            s != d
                && matches!(s.as_deref(), Some("catalog" | "storefront"))
                && matches!(d.as_deref(), Some("catalog" | "storefront"))
        })
        .map(palisade_reach::engine::format_line)
        .collect()
}

#[test]
fn a_narrowed_grant_opens_exactly_its_ports_and_pods() {
    for provider in ["Kubernetes", "AdminNetworkPolicy"] {
        assert_eq!(
            narrowed_grant_lines(provider, true, ""),
            vec!["storefront-web/web[Pod] => catalog-api/api[Pod] : TCP 8080".to_string()],
            "{provider}: only TCP 8080, only to the api pod, only from storefront to catalog"
        );
        assert_eq!(
            narrowed_grant_lines(provider, false, ""),
            Vec::<String>::new(),
            "{provider}: the grant removed, nothing between the tenants"
        );
    }
}

/// With AdminNetworkPolicy, a narrowed grant holds at the admin tier even against the most
/// permissive policies tenants could have stored (before the webhook refused them): the granting
/// tenant's ANP passes only the ports, the granted tenant's ANP passes only those ports of those
/// pods, and denies the rest of the tenant; without the grant, nothing. (With the Kubernetes
/// provider the same policies would open everything: there only the webhook keeps them out.)
#[test]
fn a_narrowed_grant_keeps_its_ports_under_admin_network_policy_whatever_tenants_wrote() {
    let permissive = "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: everyone-in, namespace: catalog-api}\nspec:\n  podSelector: {}\n  ingress: [{}]\n---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: everything-out, namespace: storefront-web}\nspec:\n  podSelector: {}\n  policyTypes: [Egress]\n  egress: [{}]\n";
    assert_eq!(
        narrowed_grant_lines("AdminNetworkPolicy", true, permissive),
        vec!["storefront-web/web[Pod] => catalog-api/api[Pod] : TCP 8080".to_string()]
    );
    assert_eq!(
        narrowed_grant_lines("AdminNetworkPolicy", false, permissive),
        Vec::<String>::new()
    );
}

/// Policies as an admin (or a tenant, before the webhook refused it) could write them: ingress
/// into `catalog-api` pods `pods` from `storefront-web` on `ports`, and egress from
/// `storefront-web` to every pod of `catalog-api`.
fn opened(pods: &str, ports: &str) -> String {
    format!(
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{name: admin-in, namespace: catalog-api}}\nspec:\n  podSelector: {pods}\n  ingress:\n  - from: [{{namespaceSelector: {{matchLabels: {{kubernetes.io/metadata.name: storefront-web}}}}}}]\n    ports: {ports}\n---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{name: admin-out, namespace: storefront-web}}\nspec:\n  podSelector: {{}}\n  policyTypes: [Egress]\n  egress:\n  - to: [{{namespaceSelector: {{matchLabels: {{kubernetes.io/metadata.name: catalog-api}}}}}}]\n"
    )
}

/// A case name, the granting tenant's `allowFrom`, extra manifests, and the expected reports (the
/// flow with what is outside the grant, and part of the reason).
type NarrowCase = (&'static str, String, String, Vec<(String, &'static str)>);

/// `--check-isolation` with narrowed grants: a flow is granted only on the ports and pods the
/// destination's `tenantGrants` name; anything a policy opens beyond them is reported, with the
/// part outside the grant and the field to change.
#[test]
fn check_isolation_reports_what_a_policy_opens_beyond_a_narrowed_grant() {
    let web_to = |pod: &str| format!("storefront => catalog: storefront-web/web[Pod] => catalog-api/{pod}[Pod]");
    let api = "{matchLabels: {app: api}}";
    let db = "{matchLabels: {app: db}}";
    // (case, allowFrom of catalog, extra manifests, expected (flow : outside, part of the reason)).
    let cases: Vec<NarrowCase> = vec![
        ("the exact grant, nothing else", NARROWED.into(), String::new(), vec![]),
        (
            "a policy opening exactly the granted port and pods",
            NARROWED.into(),
            opened(api, "[{port: 8080}]"),
            vec![],
        ),
        (
            "a policy opening more ports than granted",
            NARROWED.into(),
            opened(api, "[{port: 8080}, {port: 9090}]"),
            vec![(
                format!("{} : TCP 9090", web_to("api")),
                "TCP 9090 of pod catalog-api/api[Pod] is outside the grant: Tenant catalog grants storefront only spec.network.allowFrom.tenantGrants[0].ports (TCP 8080)",
            )],
        ),
        (
            "a policy opening the granted port over UDP",
            NARROWED.into(),
            opened(api, "[{port: 8080, protocol: UDP}]"),
            vec![(
                format!("{} : UDP 8080", web_to("api")),
                "spec.network.allowFrom.tenantGrants[0].ports (TCP 8080)",
            )],
        ),
        (
            "a policy opening every port",
            NARROWED.into(),
            opened(api, "[]"),
            vec![(
                format!("{} : SCTP 1-65535,TCP 1-8079,8081-65535,UDP 1-65535", web_to("api")),
                "outside the grant",
            )],
        ),
        (
            "a policy opening the granted port of a pod outside the podSelector",
            NARROWED.into(),
            opened(db, "[{port: 8080}]"),
            vec![(
                format!("{} : TCP 8080", web_to("db")),
                "pod catalog-api/db[Pod] is outside the grant: Tenant catalog grants storefront only the pods of spec.network.allowFrom.tenantGrants[0].podSelector (app=api)",
            )],
        ),
        (
            "a port range covers the policy's ports",
            "tenantGrants: [{ tenant: storefront, ports: [{ port: 8080, endPort: 9090 }], podSelector: { matchLabels: { app: api } } }]".into(),
            opened(api, "[{port: 8080}, {port: 9090}]"),
            vec![],
        ),
        (
            "two entries for the tenant add up",
            "tenantGrants: [{ tenant: storefront, ports: [{ port: 8080 }], podSelector: { matchLabels: { app: api } } }, { tenant: storefront, ports: [{ port: 9090 }], podSelector: { matchLabels: { app: api } } }]".into(),
            opened(api, "[{port: 8080}, {port: 9090}]"),
            vec![],
        ),
        (
            "an entry without podSelector opens every pod on its ports",
            "tenantGrants: [{ tenant: storefront, ports: [{ port: 8080 }] }]".into(),
            opened("{}", "[{port: 8080}, {port: 9090}]"),
            vec![
                (format!("{} : TCP 9090", web_to("api")), "tenantGrants[0].ports (TCP 8080)"),
                (format!("{} : TCP 9090", web_to("db")), "tenantGrants[0].ports (TCP 8080)"),
            ],
        ),
        (
            "a whole-tenant grant covers everything",
            "tenants: [storefront]".into(),
            opened("{}", "[]"),
            vec![],
        ),
        (
            "no grant at all",
            "tenantGrants: []".into(),
            opened(api, "[{port: 8080}]"),
            vec![(
                format!("{} : TCP 8080", web_to("api")),
                "Tenant catalog does not list storefront in spec.network.allowFrom.tenants or tenantGrants",
            )],
        ),
    ];
    for (case, allow_from, extra, want) in cases {
        for provider in ["Kubernetes", "AdminNetworkPolicy"] {
            let (cluster, grants) = narrowed_cluster(provider, &allow_from, &extra);
            let analysis = Analysis::new(&cluster, Options::default());
            let m = matrix::tenant_matrix(&analysis);
            let got = matrix::ungranted(&m, &grants);
            // Under AdminNetworkPolicy, Palisade's admin tier keeps the flow to the grant whatever
            // namespaced policies say: nothing beyond it is reachable, so nothing is reported.
            if provider == "AdminNetworkPolicy" {
                assert_eq!(got.len(), 0, "{case} ({provider}): {got:?}");
                continue;
            }
            let lines: Vec<String> = got
                .iter()
                .map(|u| {
                    format!(
                        "{} => {}: {} => {} : {}",
                        u.src, u.dst, u.flow.src, u.flow.dst, u.outside
                    )
                })
                .collect();
            let expected: Vec<String> = want.iter().map(|(l, _)| l.clone()).collect();
            assert_eq!(lines, expected, "{case} ({provider})");
            for (u, (_, why)) in got.iter().zip(&want) {
                assert!(u.why.contains(why), "{case}: {:?} should contain {why:?}", u.why);
                assert!(u.to_string().contains(why), "{case}: {u}");
            }
        }
    }
}

#[test]
fn grants_read_from_a_tenant_spec_name_the_field_in_errors() {
    use serde_json::json;
    let g = Grant::from_network_spec(
        "catalog",
        &json!({"isolation": "Strict", "allowFrom": {"tenants": ["a"], "tenantGrants": [
            {"tenant": "b", "ports": [{"protocol": "UDP", "port": 53}, {"port": 8000, "endPort": 8010}],
             "podSelector": {"matchExpressions": [{"key": "app", "operator": "In", "values": ["x"]}]}},
            {"tenant": "c"}]}}),
    )
    .unwrap();
    assert!(!g.open);
    assert_eq!(
        g.from_tenants.iter().cloned().collect::<Vec<_>>(),
        vec!["a".to_string()]
    );
    assert_eq!(g.narrowed.len(), 2);
    assert_eq!(g.narrowed[0].conns.to_string(), "TCP 8000-8010,UDP 53");
    assert_eq!(g.narrowed[0].pods.to_string(), "app in (x)");
    assert_eq!((g.narrowed[1].tenant.as_str(), g.narrowed[1].index), ("c", 1));
    assert!(g.narrowed[1].conns.is_all() && g.narrowed[1].pods.is_everything());
    assert!(
        Grant::from_network_spec("t", &json!({"isolation": "None"}))
            .unwrap()
            .open
    );

    let bad = [
        (
            json!({"tenantGrants": [{"tenant": "b", "ports": [{"port": 0}]}]}),
            "spec.network.allowFrom.tenantGrants[0].ports[0].port",
        ),
        (
            json!({"tenantGrants": [{"tenant": "b", "ports": [{"port": 90, "endPort": 80}]}]}),
            "spec.network.allowFrom.tenantGrants[0].ports[0].endPort",
        ),
        (
            json!({"tenantGrants": [{"tenant": "b", "ports": [{"port": 80, "protocol": "ICMP"}]}]}),
            "spec.network.allowFrom.tenantGrants[0].ports[0].protocol",
        ),
        (
            json!({"tenantGrants": [{"ports": []}]}),
            "spec.network.allowFrom.tenantGrants[0].tenant",
        ),
        (
            json!({"tenantGrants": [{"tenant": "b", "podSelector": {"matchExpressions": [{"key": "k", "operator": "Near"}]}}]}),
            "spec.network.allowFrom.tenantGrants[0].podSelector.matchExpressions[0].operator",
        ),
        (json!({"tenants": [3]}), "spec.network.allowFrom.tenants[0]"),
    ];
    for (allow_from, field) in bad {
        let err = Grant::from_network_spec("catalog", &json!({"allowFrom": allow_from}))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(&format!("field `{field}`")) && err.contains("Tenant catalog"),
            "{field}: {err}"
        );
    }
}
