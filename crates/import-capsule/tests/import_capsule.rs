//! `palisade_import_capsule`: Capsule v1beta2 Tenants → Palisade Tenants, with every
//! field either mapped or reported as a gap.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failure should stop the test loudly

use std::collections::BTreeSet;

use palisade_api::{CollisionScope, IsolationMode, PodSecurityLevel, PullPolicy, SubjectKind, Tenant};
use palisade_import_capsule::{
    Conversion, Gap, GapKind, ImportError, Options, convert_document, convert_tenant, convert_tenant_with,
};
use serde_json::Value;

fn fixture(name: &str) -> String {
    let path = format!("{}/tests/fixtures/capsule/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn parse(yaml: &str) -> Value {
    serde_saphyr::from_str(yaml).unwrap_or_else(|e| panic!("fixture is not YAML: {e}"))
}

fn convert(yaml: &str) -> Conversion {
    convert_tenant(&parse(yaml), "test").unwrap_or_else(|e| panic!("conversion failed: {e:?}"))
}

fn refused(yaml: &str) -> Vec<ImportError> {
    match convert_document(&parse(yaml), "test") {
        Ok(conversions) => panic!("expected a refusal, got {} tenants", conversions.len()),
        Err(errors) => errors,
    }
}

/// A Capsule Tenant named `t` with one owner and the given extra spec lines (indented by 2).
fn tenant_with(spec: &str) -> String {
    let mut yaml = String::from(
        "apiVersion: capsule.clastix.io/v1beta2\nkind: Tenant\nmetadata:\n  name: t\nspec:\n  owners:\n    - kind: User\n      name: alice\n",
    );
    for line in spec.lines() {
        yaml.push_str("  ");
        yaml.push_str(line);
        yaml.push('\n');
    }
    yaml
}

fn gap<'a>(conversion: &'a Conversion, field: &str) -> Option<&'a Gap> {
    conversion.gaps.iter().find(|g| g.field == field)
}

fn must_gap<'a>(conversion: &'a Conversion, field: &str) -> &'a Gap {
    gap(conversion, field).unwrap_or_else(|| {
        let fields: Vec<&str> = conversion.gaps.iter().map(|g| g.field.as_str()).collect();
        panic!("no gap for {field}; gaps: {fields:#?}")
    })
}

fn invalid(conversion: &Conversion) -> Vec<&Gap> {
    conversion.gaps.iter().filter(|g| g.kind == GapKind::Invalid).collect()
}

fn render(conversion: &Conversion) -> String {
    let yaml = serde_saphyr::to_string(&conversion.tenant).unwrap_or_else(|e| panic!("serialize: {e}"));
    let gaps: Vec<String> = conversion.gaps.iter().map(ToString::to_string).collect();
    format!("{yaml}\n# gaps\n{}\n", gaps.join("\n"))
}

#[test]
fn kitchen_sink_snapshot() {
    let conversion = convert(&fixture("kitchen-sink.yaml"));
    insta::assert_snapshot!("kitchen_sink", render(&conversion));
}

#[test]
fn kitchen_sink_every_spec_field_is_mapped_or_reported() {
    let input = parse(&fixture("kitchen-sink.yaml"));
    let conversion = convert(&fixture("kitchen-sink.yaml"));
    // Fields that map one to one and need no note when set.
    let silent: BTreeSet<&str> = [
        "nodeSelector",
        "cordoned",
        "preventDeletion",
        "forceTenantPrefix",
        "imagePullPolicies",
        "priorityClasses",
    ]
    .into_iter()
    .collect();
    let spec = input
        .get("spec")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    assert!(spec.len() >= 24, "the kitchen sink must set every Capsule field");
    for key in spec.keys() {
        if silent.contains(key.as_str()) {
            continue;
        }
        let prefix = format!("spec.{key}");
        assert!(
            conversion.gaps.iter().any(|g| g.field == prefix
                || g.field.starts_with(&format!("{prefix}."))
                || g.field.starts_with(&format!("{prefix}["))),
            "spec.{key} is neither mapped silently nor reported"
        );
    }
    assert_eq!(
        must_gap(&conversion, "spec.spreadConstraints").message,
        "not a Capsule v1beta2 field as of v0.14; ignored"
    );
}

#[test]
fn kitchen_sink_maps_what_has_an_equivalent() {
    let conversion = convert(&fixture("kitchen-sink.yaml"));
    let spec = &conversion.tenant.spec;
    assert_eq!(conversion.tenant.metadata.name.as_deref(), Some("oil"));
    // Owners: the duplicate alice is merged, capsule-namespace-deleter dropped, SA split.
    let owners: Vec<(SubjectKind, &str, Option<&str>, Vec<&str>)> = spec
        .owners
        .iter()
        .map(|o| {
            (
                o.kind,
                o.name.as_str(),
                o.namespace.as_deref(),
                o.cluster_roles.iter().map(String::as_str).collect(),
            )
        })
        .collect();
    assert_eq!(
        owners,
        vec![
            (SubjectKind::User, "alice", None, vec!["admin", "view", "edit"]),
            (SubjectKind::Group, "oil-developers", None, vec!["admin"]),
            (
                SubjectKind::ServiceAccount,
                "argocd-application-controller",
                Some("argocd"),
                vec!["admin"]
            ),
        ]
    );
    assert_eq!(spec.namespaces.max, Some(5));
    assert!(spec.namespaces.force_prefix);
    assert_eq!(
        spec.namespaces.labels.get("environment").map(String::as_str),
        Some("production")
    );
    assert_eq!(
        spec.namespaces.labels.get("tenant-name").map(String::as_str),
        Some("oil")
    );
    assert!(
        !spec.namespaces.labels.contains_key("tier"),
        "selector-scoped metadata is not applied to all"
    );
    assert!(!spec.namespaces.annotations.contains_key("namespace-name"));
    assert_eq!(spec.pod_security.level, PodSecurityLevel::Restricted);
    assert_eq!(spec.pod_security.version, "v1.33");
    assert_eq!(
        spec.workloads.node_selector.get("pool").map(String::as_str),
        Some("oil")
    );
    let storage = spec
        .storage
        .classes
        .as_ref()
        .map(|c| (c.allowed.clone(), c.default.clone()));
    assert_eq!(
        storage,
        Some((
            vec!["standard".into(), "ceph-rbd".into(), "fast-*".into(), "premium".into()],
            Some("premium".into())
        ))
    );
    let runtime = spec.workloads.runtime_classes.as_ref().map(|c| c.allowed.clone());
    assert_eq!(runtime, Some(vec!["gvisor".to_string(), "kata".to_string()]));
    assert_eq!(spec.ingress.hostnames, vec!["oil.example.com", "*.oil.example.com"]);
    assert_eq!(spec.ingress.collision_scope, CollisionScope::Tenant);
    assert!(spec.ingress.allow_wildcard_hosts);
    assert_eq!(
        spec.workloads.registries,
        vec!["docker.io/", "quay.io/oil/", "registry.internal.example.com/"]
    );
    assert_eq!(
        spec.workloads.pull_policies,
        vec![PullPolicy::Always, PullPolicy::IfNotPresent]
    );
    assert!(!spec.services.allow_node_port);
    assert!(
        spec.services.allow_load_balancer,
        "not set: Capsule's default (allowed) is kept"
    );
    assert!(!spec.services.allow_external_name);
    assert_eq!(
        spec.services.external_ips,
        vec!["10.0.0.0/24", "10.1.1.1/32", "10.2.0.0/16"]
    );
    let quota = spec.quota.clone().unwrap_or_default();
    let tenant_quota: Vec<(&str, &str)> = quota.tenant.iter().map(|(k, v)| (k.as_str(), v.0.as_str())).collect();
    assert_eq!(
        tenant_quota,
        vec![
            ("count/mysqls.databases.example.com", "3"),
            ("limits.cpu", "8"),
            ("limits.memory", "16Gi"),
            ("pods", "40"),
            ("services.loadbalancers", "2")
        ]
    );
    assert!(quota.namespace.is_empty());
    assert_eq!(quota.limits.len(), 2);
    assert_eq!(spec.network.isolation, IsolationMode::Strict);
    assert_eq!(spec.network.allow_from.namespaces, vec!["ingress-nginx"]);
    assert_eq!(spec.network.allow_from.tenants, vec!["gas"]);
    let cidrs: Vec<(&str, usize)> = spec
        .network
        .egress
        .cidrs
        .iter()
        .map(|c| (c.cidr.as_str(), c.ports.len()))
        .collect();
    assert_eq!(cidrs, vec![("10.20.0.0/16", 1)]);
    assert_eq!(spec.role_bindings.len(), 1);
    assert_eq!(
        spec.role_bindings[0].subjects[1].namespace.as_deref(),
        Some("monitoring")
    );
    assert!(spec.prevent_deletion);
    assert!(!spec.cordoned);
    let labels = conversion.tenant.metadata.labels.clone().unwrap_or_default();
    assert_eq!(
        labels.keys().collect::<Vec<_>>(),
        vec!["projectcapsule.dev/pool", "team"]
    );
    let annotations = conversion.tenant.metadata.annotations.clone().unwrap_or_default();
    assert_eq!(annotations.keys().collect::<Vec<_>>(), vec!["owner-contact"]);
    assert!(conversion.tenant.status.is_none());
    assert_eq!(invalid(&conversion), Vec::<&Gap>::new());
}

#[test]
fn minimal_tenant_keeps_capsule_behaviour_and_says_so() {
    let conversion = convert(&fixture("minimal.yaml"));
    let spec = &conversion.tenant.spec;
    assert_eq!(spec.owners.len(), 1);
    assert_eq!(spec.owners[0].cluster_roles, vec!["admin"]);
    assert!(
        must_gap(&conversion, "spec.owners[0].clusterRoles")
            .message
            .contains("capsule-namespace-deleter")
    );
    assert!(spec.services.allow_node_port && spec.services.allow_load_balancer && spec.services.allow_external_name);
    assert!(
        must_gap(&conversion, "spec.serviceOptions.allowedServices")
            .message
            .contains("set them to false")
    );
    assert!(spec.services.external_ips.is_empty());
    assert!(
        must_gap(&conversion, "spec.serviceOptions.externalIPs")
            .message
            .contains("CVE-2020-8554")
    );
    assert_eq!(spec.ingress.collision_scope, CollisionScope::Disabled);
    assert_eq!(
        must_gap(&conversion, "spec.ingressOptions.hostnameCollisionScope").kind,
        GapKind::Note
    );
    assert_eq!(spec.network.isolation, IsolationMode::None);
    assert!(
        must_gap(&conversion, "spec.networkPolicies")
            .message
            .contains("isolation: Strict")
    );
    assert!(!spec.namespaces.force_prefix);
    must_gap(&conversion, "spec.forceTenantPrefix");
    assert_eq!(spec.pod_security.level, PodSecurityLevel::Baseline);
    must_gap(&conversion, "spec.podSecurity");
    assert!(
        conversion.gaps.iter().all(|g| g.kind == GapKind::Note),
        "{:#?}",
        conversion.gaps
    );
    assert_eq!(invalid(&conversion), Vec::<&Gap>::new());
}

#[test]
fn kubectl_list_output_converts_every_item() {
    let conversions = convert_document(&parse(&fixture("list.yaml")), "list.yaml").unwrap_or_else(|e| panic!("{e:?}"));
    let names: Vec<_> = conversions
        .iter()
        .map(|c| c.tenant.metadata.name.clone().unwrap_or_default())
        .collect();
    assert_eq!(names, vec!["gas", "wind"]);
    assert_eq!(conversions[0].source, "list.yaml: items[0]");
    let gas = &conversions[0];
    assert_eq!(gas.tenant.spec.namespaces.max, Some(2));
    assert!(!gas.tenant.spec.services.allow_node_port);
    assert!(
        gap(gas, "spec.serviceOptions.allowedServices").is_none(),
        "all three were set explicitly"
    );
    assert!(
        gap(gas, "spec.serviceOptions.externalIPs").is_none(),
        "an empty list means none in both tools"
    );
    let wind = &conversions[1];
    let owner = &wind.tenant.spec.owners[0];
    assert_eq!(
        (owner.kind, owner.name.as_str()),
        (SubjectKind::ServiceAccount, "kustomize-controller")
    );
    assert_eq!(owner.namespace.as_deref(), Some("flux-system"));
    assert_eq!(wind.tenant.spec.ingress.collision_scope, CollisionScope::Cluster);
    assert!(gap(wind, "spec.forceTenantPrefix").is_none(), "set explicitly to false");
    let regex = must_gap(wind, "spec.ingressOptions.allowedHostnames.allowedRegex");
    assert_eq!(regex.kind, GapKind::Dropped);
    assert!(regex.message.contains("ANY hostname"), "{}", regex.message);
}

#[test]
fn other_versions_and_kinds_are_refused_with_the_reason() {
    let errors = refused(&fixture("v1beta1.yaml"));
    assert_eq!(errors.len(), 1);
    assert!(matches!(errors[0], ImportError::CheckType { .. }), "{errors:?}");
    assert_eq!(errors[0].field(), "apiVersion");
    assert_eq!(
        errors[0].message(),
        "only capsule.clastix.io/v1beta2 Tenants can be imported; found v1beta1: convert with \
         `kubectl get tenants.v1beta2.capsule.clastix.io -o yaml` first"
    );
    let cases = [
        (
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n",
            "this is a v1 ConfigMap, not a Capsule Tenant",
        ),
        (
            "metadata:\n  name: x\n",
            "this is a document without `kind`, not a Capsule Tenant",
        ),
        (
            "apiVersion: palisade.dev/v1alpha1\nkind: Tenant\n",
            "this is already a Palisade Tenant; nothing to import",
        ),
        ("- a\n- b\n", "expected a Capsule Tenant (a mapping), found a list"),
        (
            "apiVersion: v1\nkind: List\nitems: []\n",
            "the list is empty: no Tenant to import",
        ),
    ];
    for (yaml, expected) in cases {
        let errors = refused(yaml);
        assert!(
            errors[0].message().starts_with(expected),
            "{yaml:?}: got {:?}",
            errors[0].message()
        );
    }
}

#[test]
fn malformed_values_name_their_field() {
    let cases = [
        ("owners: alice\n", "spec.owners", "expected a list, found a string"),
        (
            "namespaceOptions:\n  quota: many\n",
            "spec.namespaceOptions.quota",
            "expected an integer, found a string",
        ),
        (
            "cordoned: \"yes\"\n",
            "spec.cordoned",
            "expected true or false, found a string",
        ),
        (
            "nodeSelector:\n  gpu: true\n",
            "spec.nodeSelector[gpu]",
            "expected a string, found a boolean (quote it)",
        ),
        (
            "imagePullPolicies: [Sometimes]\n",
            "spec.imagePullPolicies[0]",
            "\"Sometimes\" is not Always, IfNotPresent or Never",
        ),
        (
            "resourceQuotas:\n  scope: Cluster\n",
            "spec.resourceQuotas.scope",
            "\"Cluster\" is not Tenant or Namespace",
        ),
        (
            "limitRanges:\n  items:\n    - limits:\n        - max: 3\n",
            "spec.limitRanges.items[0].limits[0]",
            "not a LimitRangeItem",
        ),
    ];
    for (spec, field, message) in cases {
        let yaml = if spec.starts_with("owners") {
            format!("apiVersion: capsule.clastix.io/v1beta2\nkind: Tenant\nmetadata:\n  name: t\nspec:\n  {spec}")
        } else {
            tenant_with(spec)
        };
        let errors = refused(&yaml);
        let found = errors.iter().find(|e| e.field() == field);
        assert!(
            found.is_some_and(|e| matches!(e, ImportError::ConvertField { .. }) && e.message().starts_with(message)),
            "{spec:?}: expected {field}: {message}, got {errors:?}"
        );
    }
    let errors = refused("apiVersion: capsule.clastix.io/v1beta2\nkind: Tenant\nspec: {}\n");
    assert_eq!(errors[0].field(), "metadata.name");
}

#[test]
fn list_errors_name_the_item() {
    let yaml = "apiVersion: v1\nkind: List\nitems:\n  - apiVersion: capsule.clastix.io/v1beta2\n    kind: Tenant\n    metadata:\n      name: a\n    spec:\n      owners: []\n  - apiVersion: v1\n    kind: Secret\n";
    let errors = refused(yaml);
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].field(), "items[1].kind");
    assert!(matches!(errors[0], ImportError::CheckType { .. }), "{errors:?}");
    assert_eq!(
        errors[0].to_string(),
        "items[1].kind: this is a v1 Secret, not a Capsule Tenant (apiVersion capsule.clastix.io/v1beta2, kind Tenant)"
    );
}

/// (regex, Capsule field, Palisade result or None when it cannot be converted)
#[test]
fn regular_expressions_convert_only_when_simple() {
    struct Case {
        regex: &'static str,
        field: &'static str,
        expected: Option<&'static [&'static str]>,
        exact: bool,
    }
    let cases = [
        Case {
            regex: "^fast-.*$",
            field: "storageClasses",
            expected: Some(&["fast-*"]),
            exact: true,
        },
        Case {
            regex: "^(gold|silver)$",
            field: "storageClasses",
            expected: Some(&["gold", "silver"]),
            exact: true,
        },
        Case {
            regex: "^(?:gold|silver)-.*$",
            field: "storageClasses",
            expected: None,
            exact: false,
        },
        Case {
            regex: "gold",
            field: "storageClasses",
            expected: Some(&["gold"]),
            exact: false,
        },
        Case {
            regex: ".*-ssd$",
            field: "storageClasses",
            expected: None,
            exact: false,
        },
        Case {
            regex: "^[a-z]+$",
            field: "storageClasses",
            expected: None,
            exact: false,
        },
        Case {
            regex: ".*",
            field: "storageClasses",
            expected: Some(&["*"]),
            exact: true,
        },
        Case {
            regex: "^.*\\.apps\\.example\\.com$",
            field: "hostnames",
            expected: Some(&["*.apps.example.com"]),
            exact: false,
        },
        Case {
            regex: "^[^.]+\\.apps\\.example\\.com$",
            field: "hostnames",
            expected: Some(&["*.apps.example.com"]),
            exact: true,
        },
        Case {
            regex: "^shop\\.example\\.com$",
            field: "hostnames",
            expected: Some(&["shop.example.com"]),
            exact: true,
        },
        Case {
            regex: "^shop.example.com$",
            field: "hostnames",
            expected: Some(&["shop.example.com"]),
            exact: false,
        },
        Case {
            regex: "^shop\\..*$",
            field: "hostnames",
            expected: None,
            exact: false,
        },
        Case {
            regex: "^quay\\.io$",
            field: "containerRegistries",
            expected: Some(&["quay.io/"]),
            exact: true,
        },
        Case {
            regex: "^registry\\.example\\.com/team-.*$",
            field: "containerRegistries",
            expected: Some(&["registry.example.com/team-"]),
            exact: true,
        },
        Case {
            regex: "internal.registry.\\w.tld",
            field: "containerRegistries",
            expected: None,
            exact: false,
        },
    ];
    for case in cases {
        let spec = match case.field {
            "hostnames" => format!(
                "ingressOptions:\n  allowedHostnames:\n    allowedRegex: '{}'\n",
                case.regex
            ),
            field => format!("{field}:\n  allowedRegex: '{}'\n", case.regex),
        };
        let conversion = convert(&tenant_with(&spec));
        let spec = &conversion.tenant.spec;
        let (got, gap_field): (Vec<String>, &str) = match case.field {
            "storageClasses" => (
                spec.storage
                    .classes
                    .as_ref()
                    .map(|c| c.allowed.clone())
                    .unwrap_or_default(),
                "spec.storageClasses.allowedRegex",
            ),
            "hostnames" => (
                spec.ingress.hostnames.clone(),
                "spec.ingressOptions.allowedHostnames.allowedRegex",
            ),
            _ => (
                spec.workloads.registries.clone(),
                "spec.containerRegistries.allowedRegex",
            ),
        };
        let reported = must_gap(&conversion, gap_field);
        match case.expected {
            Some(expected) => {
                assert_eq!(got, expected, "{}", case.regex);
                assert_ne!(reported.kind, GapKind::Dropped, "{}", case.regex);
                let same = reported.message.contains("(the same names)") || reported.message.contains("matches every");
                assert_eq!(same, case.exact, "{}: {}", case.regex, reported.message);
            }
            None => {
                assert!(got.is_empty(), "{}: {got:?}", case.regex);
                assert_eq!(reported.kind, GapKind::Dropped, "{}", case.regex);
            }
        }
    }
}

#[test]
fn a_default_outside_the_allow_list_is_added_to_it() {
    let conversion = convert(&tenant_with("priorityClasses:\n  allowed: [low]\n  default: high\n"));
    let list = conversion
        .tenant
        .spec
        .workloads
        .priority_classes
        .clone()
        .unwrap_or_default();
    assert_eq!(list.allowed, vec!["low", "high"]);
    assert_eq!(list.default.as_deref(), Some("high"));
    assert_eq!(
        must_gap(&conversion, "spec.priorityClasses.default").kind,
        GapKind::Note
    );
    assert_eq!(invalid(&conversion), Vec::<&Gap>::new());
}

#[test]
fn a_selector_only_list_says_it_got_wider() {
    let conversion = convert(&tenant_with(
        "storageClasses:\n  matchLabels:\n    tier: gold\n  default: gold-ssd\n",
    ));
    let list = conversion.tenant.spec.storage.classes.clone().unwrap_or_default();
    assert_eq!(list.allowed, vec!["*"]);
    assert_eq!(list.default.as_deref(), Some("gold-ssd"));
    let selector = must_gap(&conversion, "spec.storageClasses.matchLabels/matchExpressions");
    assert!(
        selector
            .message
            .contains("kubectl get storageclasses -l 'tier=gold' -o name"),
        "{}",
        selector.message
    );
    assert_eq!(must_gap(&conversion, "spec.storageClasses").kind, GapKind::Partial);
    assert_eq!(invalid(&conversion), Vec::<&Gap>::new());
}

#[test]
fn namespace_scoped_quota_goes_to_the_namespace_quota() {
    let conversion = convert(&tenant_with(
        "resourceQuotas:\n  scope: Namespace\n  items:\n    - hard:\n        pods: 10\n",
    ));
    let quota = conversion.tenant.spec.quota.clone().unwrap_or_default();
    assert_eq!(quota.namespace.get("pods").map(|q| q.0.as_str()), Some("10"));
    assert!(quota.tenant.is_empty());
}

#[test]
fn owners_that_cannot_be_converted_are_reported() {
    let conversion = convert(&tenant_with(
        "additionalRoleBindings:\n  - clusterRoleName: view\n    subjects:\n      - kind: ServiceAccount\n        name: orphan\n",
    ));
    assert_eq!(
        must_gap(&conversion, "spec.additionalRoleBindings[0].subjects[0]").kind,
        GapKind::Dropped
    );
    let yaml = "apiVersion: capsule.clastix.io/v1beta2\nkind: Tenant\nmetadata:\n  name: t\nspec:\n  owners:\n    - kind: ServiceAccount\n      name: ci-bot\n";
    let conversion = convert(yaml);
    assert!(conversion.tenant.spec.owners.is_empty());
    assert_eq!(must_gap(&conversion, "spec.owners[0].name").kind, GapKind::Dropped);
    assert!(
        must_gap(&conversion, "spec.owners").kind == GapKind::Invalid,
        "an owner-less Tenant fails validation"
    );
    let roles_only_capsule = convert(&tenant_with("").replace(
        "      name: alice\n",
        "      name: alice\n      clusterRoles: [capsule-namespace-deleter]\n",
    ));
    assert_eq!(
        must_gap(&roles_only_capsule, "spec.owners[0].clusterRoles").kind,
        GapKind::Dropped
    );
    assert_eq!(
        must_gap(&roles_only_capsule, "spec.owners[0].clusterRoles").field,
        "spec.owners[0].clusterRoles"
    );
    assert!(
        invalid(&roles_only_capsule)
            .iter()
            .any(|g| g.field == "spec.owners[0].clusterRoles")
    );
}

#[test]
fn converted_tenants_round_trip_through_the_palisade_schema() {
    for name in ["kitchen-sink.yaml", "minimal.yaml"] {
        let conversion = convert(&fixture(name));
        let yaml = serde_saphyr::to_string(&conversion.tenant).unwrap_or_else(|e| panic!("{e}"));
        let back: Tenant = serde_saphyr::from_str(&yaml).unwrap_or_else(|e| panic!("{name}: {e}\n{yaml}"));
        assert_eq!(back.spec, conversion.tenant.spec, "{name}");
    }
}

#[test]
fn what_cannot_be_fixed_is_reported_as_invalid() {
    let name = "a-long-tenant-name-that-capsule-accepted-but-palisade-cannot";
    let conversion = convert(&tenant_with("").replace("name: t\n", &format!("name: {name}\n")));
    let problem = must_gap(&conversion, "metadata.name");
    assert_eq!(problem.kind, GapKind::Invalid);
    assert!(problem.message.contains("at most 52"), "{}", problem.message);
}

#[test]
fn one_way_capsule_policies_keep_the_other_direction_open_or_say_so() {
    let ingress_only = convert(&tenant_with(
        "networkPolicies:\n  items:\n    - podSelector: {}\n      ingress:\n        - from:\n            - podSelector: {}\n",
    ));
    let network = &ingress_only.tenant.spec.network;
    assert_eq!(network.isolation, IsolationMode::Strict);
    let cidrs: Vec<&str> = network.egress.cidrs.iter().map(|c| c.cidr.as_str()).collect();
    assert_eq!(cidrs, vec!["0.0.0.0/0", "::/0"]);
    assert!(
        ingress_only
            .gaps
            .iter()
            .any(|g| g.field == "spec.networkPolicies" && g.message.contains("egress to 0.0.0.0/0"))
    );
    assert_eq!(invalid(&ingress_only), Vec::<&Gap>::new());

    let egress_only = convert(&tenant_with(
        "networkPolicies:\n  items:\n    - podSelector: {}\n      policyTypes: [Egress]\n      egress:\n        - to:\n            - ipBlock:\n                cidr: 10.0.0.0/8\n",
    ));
    assert_eq!(egress_only.tenant.spec.network.egress.cidrs.len(), 1);
    let gap = egress_only
        .gaps
        .iter()
        .find(|g| g.field == "spec.networkPolicies" && g.kind == GapKind::Partial);
    assert!(
        gap.is_some_and(|g| g.message.contains("restricted only egress")),
        "{:#?}",
        egress_only.gaps
    );
}

#[test]
fn existing_namespaces_are_adopted_unless_asked_not_to() {
    let yaml = format!(
        "{}status:\n  namespaces: [t-old]\n  spaces:\n    - name: t-dev\n    - name: t-prod\n",
        tenant_with("namespaceOptions:\n  quota: 1\n")
    );
    let adopted = convert(&yaml);
    assert_eq!(
        adopted.tenant.spec.namespaces.names,
        vec!["t-dev", "t-prod"],
        "status.spaces wins over the older list"
    );
    assert_eq!(must_gap(&adopted, "status.spaces").kind, GapKind::Note);
    let too_many = invalid(&adopted);
    assert!(
        too_many.iter().any(|g| g.field == "spec.namespaces.names"),
        "2 names with max 1: {too_many:#?}"
    );

    let skipped = convert_tenant_with(
        &parse(&yaml),
        "test",
        Options {
            adopt_namespaces: false,
        },
    )
    .unwrap_or_else(|e| panic!("{e:?}"));
    assert!(skipped.tenant.spec.namespaces.names.is_empty());
    assert_eq!(must_gap(&skipped, "status.spaces").kind, GapKind::Dropped);
}
