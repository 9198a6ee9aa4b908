//! Table tests for `validate`: each case breaks one rule and must be reported at its field.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failure should stop the test loudly

use palisade_api::Tenant;
use palisade_tenancy::validate;
use palisade_tenancy::validate::validate_set;

const BASE: &str = r#"
apiVersion: palisade.dev/v1alpha1
kind: Tenant
metadata: { name: shop }
spec:
  owners: [{ kind: Group, name: shop-devs }]
  namespaces: { names: [shop-web], forcePrefix: true, max: 3 }
"#;

fn parse(yaml: &str) -> Tenant {
    serde_saphyr::from_str(yaml).unwrap_or_else(|e| panic!("case YAML must parse: {e}\n{yaml}"))
}

/// BASE with `spec_extra` appended under `spec:` (indent two spaces).
fn with(spec_extra: &str) -> Tenant {
    let mut yaml = BASE.to_string();
    for line in spec_extra.lines() {
        yaml.push_str("  ");
        yaml.push_str(line);
        yaml.push('\n');
    }
    parse(&yaml)
}

#[test]
fn the_base_tenant_is_valid() {
    assert_eq!(validate(&parse(BASE)), vec![]);
}

#[test]
fn each_rule_reports_its_field() {
    let cases: &[(&str, Tenant, &str, &str)] = &[
        (
            "no owners",
            parse(&BASE.replace("owners: [{ kind: Group, name: shop-devs }]", "owners: []")),
            "spec.owners",
            "at least one owner",
        ),
        (
            "service account owner without namespace",
            parse(&BASE.replace("{ kind: Group, name: shop-devs }", "{ kind: ServiceAccount, name: ci }")),
            "spec.owners[0].namespace",
            "needs the namespace",
        ),
        (
            "user owner with namespace",
            parse(&BASE.replace(
                "{ kind: Group, name: shop-devs }",
                "{ kind: User, name: bob, namespace: x }",
            )),
            "spec.owners[0].namespace",
            "only a ServiceAccount",
        ),
        (
            "bad tenant name",
            parse(&BASE.replace("name: shop }", "name: Shop_1 }")),
            "metadata.name",
            "lowercase",
        ),
        (
            "prefix not followed",
            parse(&BASE.replace("names: [shop-web]", "names: [web]")),
            "spec.namespaces.names[0]",
            "must start with \"shop-\"",
        ),
        (
            "system namespace",
            parse(&BASE.replace("names: [shop-web], forcePrefix: true", "names: [kube-public]")),
            "spec.namespaces.names[0]",
            "system namespace",
        ),
        (
            "more names than max",
            parse(&BASE.replace("max: 3", "max: 0")),
            "spec.namespaces.max",
            "0 would forbid",
        ),
        (
            "reserved label",
            parse(&BASE.replace("max: 3 }", "max: 3, labels: { palisade.dev/tenant: other } }")),
            "spec.namespaces.labels[palisade.dev/tenant]",
            "set by Palisade",
        ),
        (
            "default class not allowed",
            with("storage: { classes: { allowed: [ssd], default: hdd } }"),
            "spec.storage.classes.default",
            "not allowed",
        ),
        (
            "empty allow-list",
            with("ingress: { classes: { allowed: [] } }"),
            "spec.ingress.classes.allowed",
            "forbids every class",
        ),
        (
            "bad hostname pattern",
            with("ingress: { hostnames: [\"shop.*.example.com\"] }"),
            "spec.ingress.hostnames[0]",
            "whole first label",
        ),
        (
            "bad externalIPs CIDR",
            with("services: { externalIPs: [10.0.0.0/33] }"),
            "spec.services.externalIPs[0]",
            "not a CIDR",
        ),
        (
            "host bits set",
            with("network: { egress: { cidrs: [{ cidr: 10.0.0.1/8 }] } }"),
            "spec.network.egress.cidrs[0].cidr",
            "did you mean 10.0.0.0/8",
        ),
        (
            "except outside cidr",
            with("network: { egress: { cidrs: [{ cidr: 10.0.0.0/16, except: [10.1.0.0/24] }] } }"),
            "spec.network.egress.cidrs[0].except[0]",
            "not inside",
        ),
        (
            "bad protocol",
            with("network: { egress: { cidrs: [{ cidr: 10.0.0.0/16, ports: [{ protocol: ICMP, port: 1 }] }] } }"),
            "spec.network.egress.cidrs[0].ports[0].protocol",
            "TCP, UDP or SCTP",
        ),
        (
            "endPort below port",
            with("network: { egress: { cidrs: [{ cidr: 10.0.0.0/16, ports: [{ port: 90, endPort: 80 }] }] } }"),
            "spec.network.egress.cidrs[0].ports[0].endPort",
            "below port",
        ),
        (
            "self grant",
            with("network: { allowFrom: { tenants: [shop] } }"),
            "spec.network.allowFrom.tenants[0]",
            "always reaches itself",
        ),
        (
            "grants without isolation",
            with("network: { isolation: None, allowFrom: { tenants: [other] } }"),
            "spec.network.isolation",
            "no effect",
        ),
        (
            "mesh grants without mesh",
            with("mesh: { allowFromTenants: [other] }"),
            "spec.mesh.provider",
            "nothing would enforce",
        ),
        (
            "spiffe prefix",
            with("mesh: { provider: Istio, trustDomain: \"spiffe://cluster.local\" }"),
            "spec.mesh.trustDomain",
            "without `spiffe://`",
        ),
        (
            "bad service account grant",
            with("mesh: { provider: Istio, allowFromServiceAccounts: [gateway] }"),
            "spec.mesh.allowFromServiceAccounts[0]",
            "<namespace>/<serviceaccount>",
        ),
        (
            "ports with istio",
            with("mesh: { provider: Istio, ports: [8080] }"),
            "spec.mesh.ports",
            "Linkerd only",
        ),
        (
            "duplicate pull policy",
            with("workloads: { pullPolicies: [Always, Always] }"),
            "spec.workloads.pullPolicies[1]",
            "listed twice",
        ),
        (
            "bad node selector key",
            with("workloads: { nodeSelector: { \"bad key\": x } }"),
            "spec.workloads.nodeSelector[bad key]",
            "not a valid key",
        ),
        (
            "role binding without subjects",
            with("roleBindings: [{ clusterRole: view, subjects: [] }]"),
            "spec.roleBindings[0].subjects",
            "at least one subject",
        ),
    ];
    for (name, tenant, path, fragment) in cases {
        let errors = validate(tenant);
        let found = errors.iter().find(|e| e.path == *path);
        let Some(error) = found else {
            panic!("case {name:?}: expected an error at {path}, got {errors:#?}");
        };
        assert!(
            error.message.contains(fragment),
            "case {name:?}: message {:?} lacks {fragment:?}",
            error.message
        );
    }
}

/// Narrowed grants (`spec.network.allowFrom.tenantGrants`): each broken rule at its field.
#[test]
fn narrowed_grants_report_their_field() {
    let grant = |g: &str| with(&format!("network: {{ allowFrom: {{ tenantGrants: [{g}] }} }}"));
    let p = "spec.network.allowFrom.tenantGrants[0]";
    let cases: Vec<(&str, Tenant, String, &str)> = vec![
        (
            "itself",
            grant("{ tenant: shop }"),
            format!("{p}.tenant"),
            "always reaches itself",
        ),
        (
            "bad tenant name",
            grant("{ tenant: Other_1 }"),
            format!("{p}.tenant"),
            "lowercase",
        ),
        (
            "also granted whole",
            with(
                "network: { allowFrom: { tenants: [other], tenantGrants: [{ tenant: other, ports: [{ port: 80 }] }] } }",
            ),
            format!("{p}.tenant"),
            "already opens every port",
        ),
        (
            "protocol",
            grant("{ tenant: other, ports: [{ protocol: ICMP, port: 8 }] }"),
            format!("{p}.ports[0].protocol"),
            "not TCP, UDP or SCTP",
        ),
        (
            "lower-case protocol",
            grant("{ tenant: other, ports: [{ protocol: tcp, port: 80 }] }"),
            format!("{p}.ports[0].protocol"),
            "not TCP, UDP or SCTP",
        ),
        (
            "port 0",
            grant("{ tenant: other, ports: [{ port: 0 }] }"),
            format!("{p}.ports[0].port"),
            "between 1 and 65535",
        ),
        (
            "range upside down",
            grant("{ tenant: other, ports: [{ port: 80 }, { port: 9000, endPort: 8000 }] }"),
            format!("{p}.ports[1].endPort"),
            "below port 9000",
        ),
        (
            "label key",
            grant("{ tenant: other, podSelector: { matchLabels: { \"-app\": api } } }"),
            format!("{p}.podSelector.matchLabels[\"-app\"]"),
            "key \"-app\"",
        ),
        (
            "label value",
            grant("{ tenant: other, podSelector: { matchLabels: { app: \"a b\" } } }"),
            format!("{p}.podSelector.matchLabels[\"app\"]"),
            "not a label value",
        ),
        (
            "operator",
            grant(
                "{ tenant: other, podSelector: { matchExpressions: [{ key: app, operator: Equals, values: [api] }] } }",
            ),
            format!("{p}.podSelector.matchExpressions[0].operator"),
            "not In, NotIn, Exists or DoesNotExist",
        ),
        (
            "In without values",
            grant("{ tenant: other, podSelector: { matchExpressions: [{ key: app, operator: In }] } }"),
            format!("{p}.podSelector.matchExpressions[0].values"),
            "at least one value",
        ),
        (
            "Exists with values",
            grant(
                "{ tenant: other, podSelector: { matchExpressions: [{ key: app, operator: Exists, values: [x] }] } }",
            ),
            format!("{p}.podSelector.matchExpressions[0].values"),
            "takes no values",
        ),
        (
            "expression key",
            grant("{ tenant: other, podSelector: { matchExpressions: [{ key: \"a/b/c\", operator: Exists }] } }"),
            format!("{p}.podSelector.matchExpressions[0].key"),
            "not a valid key",
        ),
        (
            "mesh: UDP",
            with(
                "mesh: { provider: Istio, allowFromTenantGrants: [{ tenant: other, ports: [{ protocol: UDP, port: 53 }] }] }",
            ),
            "spec.mesh.allowFromTenantGrants[0].ports[0].protocol".to_string(),
            "TCP only",
        ),
        (
            "mesh: range",
            with(
                "mesh: { provider: Istio, allowFromTenantGrants: [{ tenant: other, ports: [{ port: 80, endPort: 90 }] }] }",
            ),
            "spec.mesh.allowFromTenantGrants[0].ports[0].endPort".to_string(),
            "single ports",
        ),
        (
            "mesh: expressions",
            with(
                "mesh: { provider: Istio, allowFromTenantGrants: [{ tenant: other, podSelector: { matchExpressions: [{ key: app, operator: Exists }] } }] }",
            ),
            "spec.mesh.allowFromTenantGrants[0].podSelector.matchExpressions".to_string(),
            "matchLabels only",
        ),
        (
            "mesh: also whole",
            with("mesh: { provider: Istio, allowFromTenants: [other], allowFromTenantGrants: [{ tenant: other }] }"),
            "spec.mesh.allowFromTenantGrants[0].tenant".to_string(),
            "already lets it call",
        ),
        (
            "mesh: provider None",
            with("mesh: { allowFromTenantGrants: [{ tenant: other }] }"),
            "spec.mesh.provider".to_string(),
            "nothing would enforce",
        ),
        (
            "isolation None",
            with("network: { isolation: None, allowFrom: { tenantGrants: [{ tenant: other }] } }"),
            "spec.network.isolation".to_string(),
            "no effect",
        ),
    ];
    for (name, tenant, path, fragment) in &cases {
        let errors = validate(tenant);
        let Some(error) = errors.iter().find(|e| e.path == *path) else {
            panic!("case {name:?}: expected an error at {path}, got {errors:#?}");
        };
        assert!(
            error.message.contains(fragment),
            "case {name:?}: message {:?} lacks {fragment:?}",
            error.message
        );
    }
    // The compliant twin: every shape above, written right, is valid.
    let valid = with(
        "network:\n  allowFrom:\n    tenants: [third]\n    tenantGrants:\n      - { tenant: other, ports: [{ port: 8080 }, { protocol: UDP, port: 9000, endPort: 9100 }, { protocol: SCTP, port: 65535 }] }\n      - { tenant: other, podSelector: { matchLabels: { app.kubernetes.io/name: api, empty: \"\" }, matchExpressions: [{ key: tier, operator: NotIn, values: [db] }, { key: canary, operator: DoesNotExist }] } }",
    );
    assert_eq!(validate(&valid), vec![]);
}

/// Linkerd narrowed mesh grants: what a Server per port cannot express is refused at its field.
#[test]
fn linkerd_narrowed_mesh_grants_report_what_linkerd_cannot_express() {
    let mesh = |extra: &str, grants: &str| {
        with(&format!(
            "mesh: {{ provider: Linkerd{extra}, allowFromTenantGrants: [{grants}] }}"
        ))
    };
    let p = "spec.mesh.allowFromTenantGrants";
    let api = "podSelector: { matchLabels: { app: api } }";
    let cases: Vec<(&str, Tenant, String, &str)> = vec![
        (
            "no ports",
            mesh("", "{ tenant: other }"),
            format!("{p}[0].ports"),
            "a Server names one port: list the TCP ports",
        ),
        (
            "UDP",
            mesh("", "{ tenant: other, ports: [{ protocol: UDP, port: 53 }] }"),
            format!("{p}[0].ports[0].protocol"),
            "Linkerd authorizes TCP only",
        ),
        (
            "range",
            mesh("", "{ tenant: other, ports: [{ port: 80, endPort: 90 }] }"),
            format!("{p}[0].ports[0].endPort"),
            "a Linkerd Server names one port; list each port instead of a range",
        ),
        (
            "pods on a port of spec.mesh.ports",
            mesh(
                ", ports: [80]",
                &format!("{{ tenant: other, ports: [{{ port: 80 }}], {api} }}"),
            ),
            format!("{p}[0].ports[0].port"),
            "remove 80 from spec.mesh.ports",
        ),
        (
            "two selectors for one port",
            mesh(
                "",
                &format!(
                    "{{ tenant: other, ports: [{{ port: 80 }}], {api} }}, {{ tenant: third, ports: [{{ port: 81 }}, {{ port: 80 }}], podSelector: {{ matchLabels: {{ app: web }} }} }}"
                ),
            ),
            format!("{p}[1].ports[1].port"),
            "spec.mesh.allowFromTenantGrants[0] opens port 80 to other pods",
        ),
        (
            "every pod and some pods on one port",
            mesh(
                "",
                &format!(
                    "{{ tenant: other, ports: [{{ port: 80 }}] }}, {{ tenant: third, ports: [{{ port: 80 }}], {api} }}"
                ),
            ),
            format!("{p}[1].ports[0].port"),
            "give every grant of port 80 the same podSelector",
        ),
        (
            "selector still checked",
            mesh(
                "",
                "{ tenant: other, ports: [{ port: 80 }], podSelector: { matchExpressions: [{ key: app, operator: In }] } }",
            ),
            format!("{p}[0].podSelector.matchExpressions[0].values"),
            "at least one value",
        ),
        (
            "also whole",
            with(
                "mesh: { provider: Linkerd, allowFromTenants: [other], allowFromTenantGrants: [{ tenant: other, ports: [{ port: 80 }] }] }",
            ),
            format!("{p}[0].tenant"),
            "already lets it call",
        ),
    ];
    for (name, tenant, path, fragment) in &cases {
        let errors = validate(tenant);
        let Some(error) = errors.iter().find(|e| e.path == *path) else {
            panic!("case {name:?}: expected an error at {path}, got {errors:#?}");
        };
        assert!(
            error.message.contains(fragment),
            "case {name:?}: message {:?} lacks {fragment:?}",
            error.message
        );
    }
    // The compliant twin: every-pod grants on a spec.mesh.ports port, matchExpressions, one
    // selector shared by two grants of a port, an empty selector counted as none.
    let valid = mesh(
        ", ports: [8080]",
        "{ tenant: other, ports: [{ port: 8080 }] }, { tenant: other, ports: [{ port: 9090 }, { port: 9091 }], podSelector: { matchExpressions: [{ key: app, operator: In, values: [api] }] } }, { tenant: third, ports: [{ port: 9090 }], podSelector: { matchExpressions: [{ key: app, operator: In, values: [api] }] } }, { tenant: third, ports: [{ port: 8080 }], podSelector: {} }",
    );
    assert_eq!(validate(&valid), vec![]);
}

/// The plain list of tenant names still parses as before, beside the narrowed form.
#[test]
fn plain_and_narrowed_grants_parse_together() {
    let tenant =
        with("network: { allowFrom: { tenants: [a, b], tenantGrants: [{ tenant: c, ports: [{ port: 443 }] }] } }");
    let grants = &tenant.spec.network.allow_from;
    assert_eq!(grants.tenants, vec!["a", "b"]);
    assert_eq!(
        grants.tenant_grants[0].ports[0].protocol, "TCP",
        "TCP is the default protocol"
    );
    assert_eq!(grants.tenant_names(), vec!["a", "b", "c"]);
    // An unknown field in a grant is refused, not ignored.
    let yaml = format!("{BASE}  network: {{ allowFrom: {{ tenantGrants: [{{ tenant: c, podSelektor: {{}} }}] }} }}\n");
    assert!(serde_saphyr::from_str::<Tenant>(&yaml).is_err());
}

#[test]
fn every_problem_is_reported_not_just_the_first() {
    let tenant = with(
        "storage: { classes: { allowed: [ssd], default: hdd } }\nservices: { externalIPs: [nonsense] }\nmesh: { allowFromTenants: [x] }",
    );
    let paths: Vec<String> = validate(&tenant).into_iter().map(|e| e.path).collect();
    assert_eq!(
        paths,
        vec![
            "spec.storage.classes.default",
            "spec.services.externalIPs[0]",
            "spec.mesh.provider"
        ]
    );
}

#[test]
fn tenants_cannot_share_a_name_or_a_namespace() {
    let a = parse(BASE);
    let b = parse(BASE);
    let c = parse(
        &BASE
            .replace("name: shop }", "name: other }")
            .replace("forcePrefix: true", "forcePrefix: false"),
    );
    let errors = validate_set(&[&a, &b, &c]);
    let described: Vec<(usize, &str)> = errors.iter().map(|e| (e.index, e.error.path.as_str())).collect();
    assert_eq!(described, vec![(1, "metadata.name"), (2, "spec.namespaces.names[0]")]);
    assert!(errors[1].error.message.contains("already belongs to tenant \"shop\""));
}

/// BASE with `spec.quota.tenant` holding the one entry `name: value`.
fn tenant_quota(name: &str, value: &str) -> Tenant {
    with(&format!("quota: {{ tenant: {{ {name:?}: {value:?} }} }}"))
}

#[test]
fn every_resource_a_quota_counts_is_accepted() {
    let names = [
        "pods",
        "count/pods",
        "cpu",
        "memory",
        "ephemeral-storage",
        "requests.cpu",
        "requests.memory",
        "requests.ephemeral-storage",
        "requests.storage",
        "limits.cpu",
        "limits.memory",
        "limits.ephemeral-storage",
        "hugepages-2Mi",
        "requests.hugepages-1Gi",
        "requests.nvidia.com/gpu",
        "requests.example.com/dongle",
        "persistentvolumeclaims",
        "count/persistentvolumeclaims",
        "gold.storageclass.storage.k8s.io/requests.storage",
        "gold.storageclass.storage.k8s.io/persistentvolumeclaims",
        "gpu.example.com.deviceclass.resource.k8s.io/devices",
        "services",
        "count/services",
        "services.loadbalancers",
        "services.nodeports",
        "configmaps",
        "secrets",
        "replicationcontrollers",
        "resourcequotas",
        "count/deployments.apps",
        "count/widgets.example.com",
        "count/jobs.batch",
    ];
    for name in names {
        let errors = validate(&tenant_quota(name, "8"));
        assert_eq!(errors, vec![], "{name} must be accepted");
    }
    let namespace = with("quota: { namespace: { requests.cpu: \"4\", limits.memory: 8Gi, pods: \"50\" } }");
    assert_eq!(validate(&namespace), vec![]);
}

#[test]
fn bad_quota_names_and_quantities_name_the_field() {
    let cases: &[(&str, &str, &str, &[&str])] = &[
        (
            "requests.cpuu",
            "8",
            "spec.quota.tenant[\"requests.cpuu\"]",
            &[
                "not a resource a quota counts",
                "did you mean \"requests.cpu\"",
                "count/<resource>",
            ],
        ),
        ("cpus", "8", "spec.quota.tenant[\"cpus\"]", &["did you mean \"cpu\""]),
        (
            "storage",
            "1Ti",
            "spec.quota.tenant[\"storage\"]",
            &["did you mean \"requests.storage\""],
        ),
        (
            "gpus",
            "1",
            "spec.quota.tenant[\"gpus\"]",
            &["not a resource a quota counts"],
        ),
        (
            "nvidia.com/gpu",
            "1",
            "spec.quota.tenant[\"nvidia.com/gpu\"]",
            &["requests.nvidia.com/gpu"],
        ),
        (
            "limits.nvidia.com/gpu",
            "1",
            "spec.quota.tenant[\"limits.nvidia.com/gpu\"]",
            &["by their requests only", "requests.nvidia.com/gpu"],
        ),
        (
            "limits.hugepages-2Mi",
            "1Gi",
            "spec.quota.tenant[\"limits.hugepages-2Mi\"]",
            &["requests.hugepages-2Mi"],
        ),
        (
            "hugepages-big",
            "1Gi",
            "spec.quota.tenant[\"hugepages-big\"]",
            &["huge page size"],
        ),
        (
            "count/Deployments.apps",
            "5",
            "spec.quota.tenant[\"count/Deployments.apps\"]",
            &["lowercase plural"],
        ),
        ("count/", "5", "spec.quota.tenant[\"count/\"]", &["not a valid key"]),
        (
            "gold.storageclass.storage.k8s.io/limits.storage",
            "1Ti",
            "spec.quota.tenant[\"gold.storageclass.storage.k8s.io/limits.storage\"]",
            &["only \"gold.storageclass.storage.k8s.io/requests.storage\""],
        ),
        (
            "requests.kubernetes.io/thing",
            "1",
            "spec.quota.tenant[\"requests.kubernetes.io/thing\"]",
            &["kubernetes.io domain"],
        ),
        ("a/b/c", "1", "spec.quota.tenant[\"a/b/c\"]", &["not a valid key"]),
        (
            "requests.cpu",
            "lots",
            "spec.quota.tenant[\"requests.cpu\"]",
            &["\"lots\" is not a Kubernetes quantity"],
        ),
        (
            "requests.cpu",
            "-1",
            "spec.quota.tenant[\"requests.cpu\"]",
            &["negative"],
        ),
        (
            "requests.memory",
            "1e18Ei",
            "spec.quota.tenant[\"requests.memory\"]",
            &["not a Kubernetes quantity"],
        ),
        (
            "requests.memory",
            "100000Ei",
            "spec.quota.tenant[\"requests.memory\"]",
            &["absurdly large"],
        ),
        ("pods", "2.5", "spec.quota.tenant[\"pods\"]", &["not a whole number"]),
        ("pods", "1T", "spec.quota.tenant[\"pods\"]", &["absurd"]),
        (
            "count/deployments.apps",
            "500m",
            "spec.quota.tenant[\"count/deployments.apps\"]",
            &["not a whole number"],
        ),
        (
            "requests.nvidia.com/gpu",
            "0.5",
            "spec.quota.tenant[\"requests.nvidia.com/gpu\"]",
            &["not a whole number"],
        ),
        (
            "requests.cpu",
            "100u",
            "spec.quota.tenant[\"requests.cpu\"]",
            &["finer than a millicore"],
        ),
    ];
    for (name, value, path, fragments) in cases {
        let errors = validate(&tenant_quota(name, value));
        let Some(error) = errors.iter().find(|e| e.path == *path) else {
            panic!("{name}: {value}: expected an error at {path}, got {errors:#?}");
        };
        for fragment in *fragments {
            assert!(
                error.message.contains(fragment),
                "{name}: {value}: message {:?} lacks {fragment:?}",
                error.message
            );
        }
        assert_eq!(errors.len(), 1, "{name}: {value}: exactly one problem, got {errors:#?}");
    }
}

#[test]
fn namespace_quota_is_checked_the_same_way() {
    let tenant = with("quota: { namespace: { requests.cpuu: \"4\", pods: \"-3\" }, tenant: { requests.cpu: \"8\" } }");
    let errors = validate(&tenant);
    let paths: Vec<&str> = errors.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(
        paths,
        vec![
            "spec.quota.namespace[\"pods\"]",
            "spec.quota.namespace[\"requests.cpuu\"]"
        ]
    );
    assert!(errors[0].message.contains("negative"), "{}", errors[0]);
}

#[test]
fn policy_actions_and_names_are_checked_at_their_field() {
    let cases: &[(&str, &str, &str, &str)] = &[
        (
            "no actions",
            "policies: { validationActions: [] }",
            "spec.policies.validationActions",
            "at least one of Deny, Warn, Audit",
        ),
        (
            "deny and warn",
            "policies: { validationActions: [Deny, Warn] }",
            "spec.policies.validationActions",
            "combines Deny and Warn",
        ),
        (
            "duplicate action",
            "policies: { overrides: [{ policy: max-replicas, validationActions: [Audit, Audit] }] }",
            "spec.policies.overrides[0].validationActions",
            "lists Audit twice",
        ),
        (
            "bad policy name",
            "policies: { overrides: [{ policy: Max_Replicas, validationActions: [Warn] }] }",
            "spec.policies.overrides[0].policy",
            "ValidatingAdmissionPolicy name",
        ),
        (
            "policy overridden twice",
            "policies: { overrides: [{ policy: a, validationActions: [Warn] }, { policy: a, validationActions: [Audit] }] }",
            "spec.policies.overrides[1].policy",
            "overridden twice",
        ),
        (
            "excluded twice",
            "policies: { exclude: [a, a] }",
            "spec.policies.exclude[1]",
            "listed twice",
        ),
        (
            "excluded and overridden",
            "policies: { exclude: [a], overrides: [{ policy: a, validationActions: [Warn] }] }",
            "spec.policies.exclude[0]",
            "both excluded and overridden",
        ),
    ];
    for (name, extra, path, fragment) in cases {
        let errors = validate(&with(extra));
        let Some(error) = errors.iter().find(|e| e.path == *path) else {
            panic!("case {name:?}: expected an error at {path}, got {errors:#?}");
        };
        assert!(
            error.message.contains(fragment),
            "case {name:?}: message {:?} lacks {fragment:?}",
            error.message
        );
    }
    // An action the API server does not know does not even parse (the CRD's enum refuses it too).
    let yaml = format!("{BASE}  policies: {{ validationActions: [deny] }}\n");
    let error = serde_saphyr::from_str::<Tenant>(&yaml).unwrap_err().to_string();
    assert!(error.contains("deny"), "{error}");
    // The compliant twin.
    let valid = with(
        "policies:\n  parameters: { maxReplicas: 4, requiredLabels: [cost-center] }\n  validationActions: [Warn, Audit]\n  overrides: [{ policy: max-replicas, validationActions: [Deny, Audit] }]\n  exclude: [no-latest]",
    );
    assert_eq!(validate(&valid), vec![]);
}
