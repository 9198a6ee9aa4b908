//! One snapshot per provider and option: the exact objects a namespace gets. A change to the
//! renderer shows up here as a reviewable diff of YAML.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failure should stop the test loudly

use palisade_api::Tenant;
use palisade_tenancy::render::{ApiServerEndpoint, AvailableApis, ClusterFacts, ClusterInventory, TenantIndex};
use palisade_tenancy::{render_cluster_scoped, render_namespace, validate};

fn tenant(yaml: &str) -> Tenant {
    let tenant: Tenant = serde_saphyr::from_str(yaml).expect("test tenant parses");
    let errors = validate(&tenant);
    assert!(errors.is_empty(), "test tenant must be valid: {errors:?}");
    tenant
}

fn facts() -> ClusterFacts {
    ClusterFacts {
        api_server: vec![ApiServerEndpoint {
            ip: "172.18.0.2".parse().unwrap(),
            port: 6443,
        }],
        ..ClusterFacts::default()
    }
}

/// Renders the first namespace of the first tenant (with the others in the index) as YAML, with
/// skipped objects listed at the end.
fn render_first(tenants: &[Tenant], facts: &ClusterFacts) -> String {
    let index = TenantIndex::new(tenants.iter());
    let first = &tenants[0];
    let namespace = first.spec.namespaces.names[0].clone();
    let (cluster, mut skipped) = render_cluster_scoped(first, &index, facts, &ClusterInventory::default());
    let plan = render_namespace(first, &namespace, &index, facts);
    skipped.extend(plan.skipped);
    let manifests: Vec<_> = cluster.iter().chain(plan.objects.iter()).map(|o| &o.manifest).collect();
    let mut out = serde_saphyr::to_string_multiple(&manifests).unwrap();
    for skip in skipped {
        out.push_str(&format!("# skipped {} {}: {}\n", skip.kind, skip.name, skip.reason));
    }
    out
}

const MINIMAL: &str = r#"
apiVersion: palisade.dev/v1alpha1
kind: Tenant
metadata: { name: minimal }
spec:
  owners: [{ kind: User, name: dev }]
  namespaces: { names: [minimal] }
"#;

const GRANTING: &str = r#"
apiVersion: palisade.dev/v1alpha1
kind: Tenant
metadata: { name: catalog }
spec:
  owners:
    - { kind: Group, name: catalog-devs }
    - { kind: ServiceAccount, name: deployer, namespace: ci, clusterRoles: [edit, view] }
  namespaces: { names: [catalog-api, catalog-db] }
  network:
    provider: PROVIDER
    allowFrom: { tenants: [storefront], namespaces: [monitoring, ingress-nginx] }
    egress:
      apiServer: true
      cidrs:
        - { cidr: 10.20.0.0/16, except: [10.20.99.0/24], ports: [{ protocol: TCP, port: 5432 }, { protocol: UDP, port: 9000, endPort: 9100 }] }
        - { cidr: 198.51.100.0/24 }
  mesh: MESH
"#;

const GRANTED: &str = r#"
apiVersion: palisade.dev/v1alpha1
kind: Tenant
metadata: { name: storefront }
spec:
  owners: [{ kind: Group, name: storefront-devs }]
  namespaces: { names: [storefront-web] }
  network: { provider: PROVIDER }
"#;

fn mesh_spec(provider: &str, extra: &str) -> String {
    match provider {
        "None" => "{ provider: None }".to_string(),
        _ => format!(
            "{{ provider: {provider}, allowFromTenants: [storefront], allowFromServiceAccounts: [istio-ingress/gateway, monitoring/*]{extra} }}"
        ),
    }
}

fn pair(provider: &str, mesh: &str) -> Vec<Tenant> {
    vec![
        tenant(
            &GRANTING
                .replace("PROVIDER", provider)
                .replace("MESH", &mesh_spec(mesh, "")),
        ),
        tenant(&GRANTED.replace("PROVIDER", provider)),
    ]
}

/// `catalog` grants `storefront` two narrowed grants (TCP 8080 and a UDP range to its `api`
/// pods of tier web or edge; TCP 9090 to every pod) and `reporting` everything.
const NARROWING: &str = r#"
apiVersion: palisade.dev/v1alpha1
kind: Tenant
metadata: { name: catalog }
spec:
  owners: [{ kind: Group, name: catalog-devs }]
  namespaces: { names: [catalog-api] }
  network:
    provider: PROVIDER
    allowFrom:
      tenants: [reporting]
      tenantGrants:
        - tenant: storefront
          ports: [{ port: 8080 }, { protocol: UDP, port: 9000, endPort: 9100 }]
          podSelector:
            matchLabels: { app: api }
            matchExpressions: [{ key: tier, operator: In, values: [web, edge] }]
        - { tenant: storefront, ports: [{ port: 9090 }] }
"#;

const REPORTING: &str = r#"
apiVersion: palisade.dev/v1alpha1
kind: Tenant
metadata: { name: reporting }
spec:
  owners: [{ kind: Group, name: reporting-devs }]
  namespaces: { names: [reporting] }
  network: { provider: PROVIDER }
"#;

/// The network objects of the granting tenant's namespace (ingress side), then of the granted
/// tenant's (egress side).
fn narrowed_both_sides(provider: &str) -> String {
    let tenants = [
        tenant(&NARROWING.replace("PROVIDER", provider)),
        tenant(&GRANTED.replace("PROVIDER", provider)),
        tenant(&REPORTING.replace("PROVIDER", provider)),
    ];
    let index = TenantIndex::new(tenants.iter());
    let mut out = String::new();
    for (side, t) in [
        ("granting tenant catalog", &tenants[0]),
        ("granted tenant storefront", &tenants[1]),
    ] {
        let namespace = t.spec.namespaces.names[0].clone();
        let (cluster, skipped) = render_cluster_scoped(t, &index, &facts(), &ClusterInventory::default());
        assert!(skipped.is_empty(), "{skipped:?}");
        let plan = render_namespace(t, &namespace, &index, &facts());
        let network: Vec<_> = cluster
            .iter()
            .chain(plan.objects.iter())
            .map(|o| &o.manifest)
            .filter(|m| m["kind"].as_str().is_some_and(|k| k.contains("NetworkPolicy")))
            .collect();
        out.push_str(&format!("# {side}\n"));
        out.push_str(&serde_saphyr::to_string_multiple(&network).unwrap());
    }
    out
}

#[test]
fn narrowed_grants_kubernetes() {
    insta::assert_snapshot!(narrowed_both_sides("Kubernetes"));
}

#[test]
fn narrowed_grants_admin_network_policy() {
    insta::assert_snapshot!(narrowed_both_sides("AdminNetworkPolicy"));
}

#[test]
fn narrowed_grants_cilium() {
    insta::assert_snapshot!(narrowed_both_sides("Cilium"));
}

#[test]
fn narrowed_grants_calico() {
    insta::assert_snapshot!(narrowed_both_sides("Calico"));
}

/// Istio narrowed grants: an AuthorizationPolicy per grant, with the ports and the workload
/// selector, beside the tenant's own policy.
#[test]
fn narrowed_mesh_grants_istio() {
    let granting = tenant(&GRANTING.replace("PROVIDER", "Kubernetes").replace(
        "MESH",
        "{ provider: Istio, allowFromTenantGrants: [{ tenant: storefront, ports: [{ port: 8080 }, { port: 8443 }], podSelector: { matchLabels: { app: api } } }, { tenant: storefront, ports: [{ port: 9090 }] }, { tenant: nowhere, ports: [{ port: 1 }] }] }",
    ));
    let tenants = [granting, tenant(&GRANTED.replace("PROVIDER", "Kubernetes"))];
    let index = TenantIndex::new(tenants.iter());
    let plan = render_namespace(&tenants[0], "catalog-api", &index, &facts());
    let mesh: Vec<_> = plan
        .objects
        .iter()
        .map(|o| &o.manifest)
        .filter(|m| {
            m["apiVersion"]
                .as_str()
                .is_some_and(|v| v.starts_with("security.istio.io"))
        })
        .collect();
    insta::assert_snapshot!(serde_saphyr::to_string_multiple(&mesh).unwrap());
}

/// Linkerd narrowed grants: a Server per granted port selecting the grant's pods (port 8080,
/// granted for every pod and in `spec.mesh.ports`, reuses that Server; 9090 is shared by two
/// grants with one selector), a MeshTLSAuthentication per granted tenant naming its namespaces,
/// and an AuthorizationPolicy per grant and port targeting the Server; nothing to allow for a
/// tenant without a namespace (its Server still selects the port).
#[test]
fn narrowed_mesh_grants_linkerd() {
    let granting = tenant(&GRANTING.replace("PROVIDER", "Kubernetes").replace(
        "MESH",
        "{ provider: Linkerd, allowFromTenants: [], ports: [8080], allowFromTenantGrants: [{ tenant: storefront, ports: [{ port: 9090 }, { port: 8443 }, { port: 9090 }], podSelector: { matchLabels: { app: api }, matchExpressions: [{ key: tier, operator: In, values: [web] }] } }, { tenant: storefront, ports: [{ port: 8080 }] }, { tenant: reporting, ports: [{ port: 9090 }], podSelector: { matchLabels: { app: api }, matchExpressions: [{ key: tier, operator: In, values: [web] }] } }, { tenant: nowhere, ports: [{ port: 7070 }] }] }",
    ));
    let tenants = [
        granting,
        tenant(&GRANTED.replace("PROVIDER", "Kubernetes")),
        tenant(&REPORTING.replace("PROVIDER", "Kubernetes")),
    ];
    let index = TenantIndex::new(tenants.iter());
    let plan = render_namespace(&tenants[0], "catalog-api", &index, &facts());
    let mesh: Vec<_> = plan
        .objects
        .iter()
        .map(|o| &o.manifest)
        .filter(|m| {
            m["apiVersion"]
                .as_str()
                .is_some_and(|v| v.starts_with("policy.linkerd.io"))
        })
        .collect();
    // Every policy targets a Server rendered here, and requires an authentication rendered here.
    let named = |kind: &str| -> Vec<&str> {
        mesh.iter()
            .filter(|m| m["kind"] == kind)
            .filter_map(|m| m["metadata"]["name"].as_str())
            .collect()
    };
    let (servers, authentications) = (named("Server"), named("MeshTLSAuthentication"));
    for policy in mesh.iter().filter(|m| m["kind"] == "AuthorizationPolicy") {
        let target = &policy["spec"]["targetRef"];
        if target["kind"] == "Server" {
            assert!(servers.contains(&target["name"].as_str().unwrap()), "{policy}");
        }
        let authentication = policy["spec"]["requiredAuthenticationRefs"][0]["name"]
            .as_str()
            .unwrap();
        assert!(authentications.contains(&authentication), "{policy}");
    }
    insta::assert_snapshot!(serde_saphyr::to_string_multiple(&mesh).unwrap());
}

#[test]
fn minimal_tenant() {
    insta::assert_snapshot!(render_first(&[tenant(MINIMAL)], &facts()));
}

#[test]
fn kubernetes_network_policies_with_grants() {
    insta::assert_snapshot!(render_first(&pair("Kubernetes", "None"), &facts()));
}

#[test]
fn granted_tenant_gets_egress_to_granting_tenant() {
    let tenants = pair("Kubernetes", "None");
    let reversed = vec![tenants[1].clone(), tenants[0].clone()];
    insta::assert_snapshot!(render_first(&reversed, &facts()));
}

#[test]
fn admin_network_policy() {
    insta::assert_snapshot!(render_first(&pair("AdminNetworkPolicy", "None"), &facts()));
}

#[test]
fn cilium() {
    insta::assert_snapshot!(render_first(&pair("Cilium", "None"), &facts()));
}

#[test]
fn calico() {
    insta::assert_snapshot!(render_first(&pair("Calico", "None"), &facts()));
}

#[test]
fn istio() {
    insta::assert_snapshot!(render_first(&pair("Kubernetes", "Istio"), &facts()));
}

#[test]
fn linkerd_with_ports() {
    let yaml = GRANTING
        .replace("PROVIDER", "Kubernetes")
        .replace("MESH", &mesh_spec("Linkerd", ", ports: [8080, 9090], mtls: Permissive"));
    let tenants = vec![tenant(&yaml), tenant(&GRANTED.replace("PROVIDER", "Kubernetes"))];
    insta::assert_snapshot!(render_first(&tenants, &facts()));
}

#[test]
fn absent_apis_are_skipped_with_a_reason() {
    let facts = ClusterFacts {
        apis: AvailableApis::none(),
        api_server: Vec::new(),
        ..ClusterFacts::default()
    };
    insta::assert_snapshot!(render_first(&pair("Cilium", "Istio"), &facts));
}

#[test]
fn isolation_none_writes_no_network_policy() {
    let yaml = MINIMAL.replace(
        "namespaces: { names: [minimal] }",
        "namespaces: { names: [minimal] }\n  network: { isolation: None }",
    );
    let rendered = render_first(&[tenant(&yaml)], &facts());
    assert!(!rendered.contains("NetworkPolicy"), "{rendered}");
    assert!(rendered.contains("kind: Namespace"));
}

#[test]
fn quota_limits_metadata_and_cordon() {
    let yaml = r##"
apiVersion: palisade.dev/v1alpha1
kind: Tenant
metadata: { name: team }
spec:
  owners: [{ kind: User, name: "Alice@Example.com" }]
  namespaces:
    names: [team-a]
    forcePrefix: true
    labels: { cost-center: cc-1 }
    annotations: { example.com/contact: "#team" }
  quota:
    namespace: { requests.cpu: "4", pods: "20" }
    limits: [{ type: Container, default: { cpu: 500m }, defaultRequest: { cpu: 100m } }]
  podSecurity: { level: restricted, version: v1.37 }
  workloads: { nodeSelector: { pool: tenants, zone: a } }
  roleBindings:
    - { clusterRole: view, subjects: [{ kind: Group, name: auditors }] }
    - { name: deployer-edit, clusterRole: edit, subjects: [{ kind: ServiceAccount, name: deployer, namespace: ci }] }
  network: { isolation: None }
  cordoned: true
"##;
    insta::assert_snapshot!(render_first(&[tenant(yaml)], &facts()));
}

#[test]
fn rendering_is_deterministic() {
    let tenants = pair("Calico", "Istio");
    assert_eq!(render_first(&tenants, &facts()), render_first(&tenants, &facts()));
}

#[test]
fn every_object_is_labelled_managed_and_with_its_tenant() {
    for provider in ["Kubernetes", "AdminNetworkPolicy", "Cilium", "Calico"] {
        for mesh in ["None", "Istio", "Linkerd"] {
            let tenants = pair(provider, mesh);
            let index = TenantIndex::new(tenants.iter());
            let plan = palisade_tenancy::render_tenant(&tenants[0], &index, &facts(), &ClusterInventory::default());
            for object in plan.all_objects() {
                let labels = &object.manifest["metadata"]["labels"];
                assert_eq!(
                    labels["app.kubernetes.io/managed-by"],
                    "palisade",
                    "{}",
                    object.describe()
                );
                assert_eq!(labels["palisade.dev/tenant"], "catalog", "{}", object.describe());
                assert_eq!(object.manifest["apiVersion"], object.api_version.as_str());
                assert_eq!(object.manifest["kind"], object.kind.as_str());
            }
        }
    }
}

/// Tenant policies: the bindings of one tenant for three marked policies: one with the
/// annotation's actions, one the Tenant overrides, one on Namespaces (a cluster-scoped rule
/// for them), and the statuses, a policy that cannot be bound among them.
#[test]
fn tenant_policy_bindings() {
    use k8s_openapi::api::admissionregistration::v1::ValidatingAdmissionPolicy;
    use palisade_tenancy::render::{MarkedPolicy, policy_binding, policy_statuses};

    let tenant = tenant(
        r#"
apiVersion: palisade.dev/v1alpha1
kind: Tenant
metadata: { name: shop }
spec:
  owners: [{ kind: User, name: dev }]
  namespaces: { names: [shop-web] }
  policies:
    parameters: { maxReplicas: 4, requiredLabels: [cost-center] }
    overrides: [{ policy: required-labels, validationActions: [Warn, Audit] }]
"#,
    );
    let vaps: Vec<ValidatingAdmissionPolicy> = serde_saphyr::from_multiple(
        r#"
metadata:
  name: max-replicas
  labels: { palisade.dev/tenant-policy: "true" }
  annotations: { palisade.dev/validation-actions: "Deny,Audit" }
spec:
  paramKind: { apiVersion: palisade.dev/v1alpha1, kind: Tenant }
  matchConstraints:
    resourceRules:
      - { apiGroups: [apps], apiVersions: [v1], operations: [CREATE, UPDATE], resources: [deployments, statefulsets] }
  validations: [{ expression: "object.spec.replicas <= params.spec.policies.parameters.maxReplicas" }]
---
metadata:
  name: required-labels
  labels: { palisade.dev/tenant-policy: "true" }
spec:
  paramKind: { apiVersion: palisade.dev/v1alpha1, kind: Tenant }
  matchConstraints:
    resourceRules:
      - { apiGroups: ["*"], apiVersions: ["*"], operations: [CREATE, UPDATE], resources: ["*"] }
  validations: [{ expression: "true" }]
---
metadata:
  name: wrong-params
  labels: { palisade.dev/tenant-policy: "true" }
spec:
  paramKind: { apiVersion: v1, kind: ConfigMap }
  matchConstraints:
    resourceRules:
      - { apiGroups: [""], apiVersions: [v1], operations: [CREATE], resources: [pods] }
  validations: [{ expression: "true" }]
"#,
    )
    .unwrap();
    let policies = vaps
        .iter()
        .map(|vap| {
            let problems = if vap.metadata.name.as_deref() == Some("wrong-params") {
                vec!["spec.paramKind is {apiVersion: v1, kind: ConfigMap}; a tenant policy needs {apiVersion: palisade.dev/v1alpha1, kind: Tenant}".to_string()]
            } else {
                Vec::new()
            };
            let policy = MarkedPolicy::from_policy(vap, problems);
            (policy.name.clone(), policy)
        })
        .collect();
    let inventory = ClusterInventory {
        policies,
        ..ClusterInventory::default()
    };
    let index = TenantIndex::new([&tenant]);
    let (cluster, _) = render_cluster_scoped(&tenant, &index, &facts(), &inventory);
    let bindings: Vec<_> = cluster
        .iter()
        .filter(|o| o.kind == "ValidatingAdmissionPolicyBinding")
        .map(|o| &o.manifest)
        .collect();
    assert_eq!(bindings.len(), 2, "the unbindable policy gets none");
    let mut out = serde_saphyr::to_string_multiple(&bindings).unwrap();
    out.push_str("# status.policies\n");
    out.push_str(&serde_saphyr::to_string(&policy_statuses(&tenant, &inventory.policies)).unwrap());
    assert_eq!(
        policy_binding::render(&tenant, &inventory.policies).len(),
        2,
        "render_cluster_scoped holds exactly policy_binding::render's bindings"
    );
    insta::assert_snapshot!(out);
}
