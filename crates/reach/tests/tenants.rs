//! `--check-isolation` at the engine level: the example Tenants, rendered by Palisade, let no
//! tenant reach another beyond what the destination grants; a permissive NetworkPolicy in a
//! tenant namespace is reported.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failure should stop the test loudly

use palisade_api::{IsolationMode, NetworkProvider, Tenant};
use palisade_reach::matrix::{self, Grant};
use palisade_reach::parse::ClusterBuilder;
use palisade_reach::{Analysis, Options};
use palisade_tenancy::render::{ClusterFacts, TenantIndex};
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
        grants.insert(
            name.clone(),
            Grant {
                open: t.spec.network.isolation == IsolationMode::None,
                from_tenants: t.spec.network.allow_from.tenant_names().into_iter().collect(),
            },
        );
        for o in render_cluster_scoped(t, &index, &facts).0 {
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
        .map(|(s, d, f)| format!("{s} => {d}: {} => {} : {}", f.src, f.dst, f.conn))
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
        .map(|(s, d, f)| format!("{s} => {d}: {} => {} : {}", f.src, f.dst, f.conn))
        .collect();
    assert_eq!(found, Vec::<String>::new(), "the squatter must not reach shop");
}

/// Issue 11, item 4: a narrowed grant. `catalog` lets `storefront` reach its `app: api` pods on
/// TCP 8080 only; returns every connection line between the two tenants' pods (`extra`: more
/// manifests, e.g. policies tenants wrote).
fn narrowed_grant_lines(provider: &str, granted: bool, extra: &str) -> Vec<String> {
    let grant = if granted {
        "tenantGrants: [{ tenant: storefront, ports: [{ port: 8080 }], podSelector: { matchLabels: { app: api } } }]"
    } else {
        "tenantGrants: []"
    };
    let tenants: Vec<Tenant> = serde_saphyr::from_multiple(&format!(
        r#"
apiVersion: palisade.dev/v1alpha1
kind: Tenant
metadata: {{ name: catalog }}
spec:
  owners: [{{ kind: User, name: alice }}]
  namespaces: {{ names: [catalog-api] }}
  network: {{ provider: {provider}, allowFrom: {{ {grant} }} }}
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
    let cluster = b.build();
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
