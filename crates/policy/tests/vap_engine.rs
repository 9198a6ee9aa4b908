//! The VAP engine without a cluster: matching tables, what cannot be evaluated, failure policy,
//! message fallbacks, audit annotations and the answer's wording. The API server itself is the
//! oracle in `crates/palisade/tests/vap_parity.rs`; these pin the engine's own decisions.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failure should stop the test loudly

use std::collections::BTreeMap;

use k8s_openapi::api::admissionregistration::v1::{
    NamedRuleWithOperations, ParamRef, ValidatingAdmissionPolicy, ValidatingAdmissionPolicyBinding,
};
use palisade_policy::vap::{
    AuditAnnotationResult, Environment, Facts, GroupVersion, LoadedPolicy, Lookup, NamespaceLookup, Outcome, Request,
    Subject, UserInfo, VALIDATION_FAILURE_ANNOTATION, as_admitted, evaluate, respond, rule_matches,
    tenant_policy_problems,
};
use serde_json::{Value, json};

fn policy(spec: Value) -> ValidatingAdmissionPolicy {
    serde_json::from_value(json!({ "metadata": { "name": "p" }, "spec": spec })).unwrap()
}

fn binding(spec: Value) -> ValidatingAdmissionPolicyBinding {
    let mut spec = spec;
    spec["policyName"] = json!("p");
    serde_json::from_value(json!({ "metadata": { "name": "b" }, "spec": spec })).unwrap()
}

fn configmaps() -> Value {
    json!({ "resourceRules": [ { "apiGroups": [""], "apiVersions": ["v1"], "resources": ["configmaps"], "operations": ["CREATE", "UPDATE"] } ] })
}

fn create_configmap(name: &str, namespace: &str, data: Value) -> Request {
    Request {
        operation: "CREATE".into(),
        group_version: GroupVersion {
            group: String::new(),
            version: "v1".into(),
        },
        kind: "ConfigMap".into(),
        resource: "configmaps".into(),
        name: name.into(),
        namespace: namespace.into(),
        user: UserInfo {
            username: "alice".into(),
            ..UserInfo::default()
        },
        object: Some(json!({ "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": { "name": name, "namespace": namespace, "labels": { "team": "a" } }, "data": data })),
        ..Request::default()
    }
}

/// Namespaces `a` (labelled team=a) and `b`; Tenants `t1` (limit 1) and `t2` (limit 5).
struct World;

impl Facts for World {
    fn namespace(&self, name: &str) -> Lookup<Value> {
        match name {
            "a" => Lookup::Found(json!({ "metadata": { "name": "a", "labels": { "team": "a" } } })),
            "b" => Lookup::Found(json!({ "metadata": { "name": "b" } })),
            "unknown" => Lookup::Unknown("not given".into()),
            _ => Lookup::Missing,
        }
    }

    fn params(&self, _: &str, _: &str, reference: &ParamRef, _: &str) -> Lookup<Vec<Value>> {
        let all = [("t1", 1), ("t2", 5)];
        let found: Vec<Value> = all
            .iter()
            .filter(|(name, _)| reference.name.as_deref().is_none_or(|wanted| wanted == *name))
            .map(|(name, limit)| json!({ "metadata": { "name": name }, "spec": { "limit": limit } }))
            .collect();
        if found.is_empty() {
            Lookup::Missing
        } else {
            Lookup::Found(found)
        }
    }
}

fn run(policy_spec: Value, binding_spec: Value, request: &Request) -> Outcome {
    let loaded = LoadedPolicy::new(policy(policy_spec));
    let namespace = NamespaceLookup::of(request, &World);
    let subject = Subject::new(request, namespace.fact());
    evaluate(
        &Environment::default(),
        &loaded,
        &binding(binding_spec),
        &subject,
        &World,
    )
    .outcome
}

fn denied_messages(outcome: &Outcome) -> Vec<String> {
    match outcome {
        Outcome::Evaluated { decisions, .. } => decisions
            .iter()
            .filter(|d| d.action == palisade_policy::vap::Action::Deny)
            .map(|d| d.message.clone())
            .collect(),
        other => panic!("not evaluated: {other:?}"),
    }
}

#[test]
fn resource_rules_match_as_the_api_server_matches_them() {
    let rule = |resources: &[&str], scope: Option<&str>, names: &[&str]| NamedRuleWithOperations {
        api_groups: Some(vec!["*".into()]),
        api_versions: Some(vec!["*".into()]),
        operations: Some(vec!["*".into()]),
        resources: Some(resources.iter().map(|r| r.to_string()).collect()),
        resource_names: (!names.is_empty()).then(|| names.iter().map(|n| n.to_string()).collect()),
        scope: scope.map(String::from),
    };
    let request = |resource: &str, sub: &str, namespace: &str| Request {
        operation: "UPDATE".into(),
        resource: resource.into(),
        sub_resource: sub.into(),
        name: "x".into(),
        namespace: namespace.into(),
        ..Request::default()
    };
    let table = [
        (rule(&["*"], None, &[]), request("pods", "", "a"), true),
        (rule(&["*"], None, &[]), request("pods", "status", "a"), false),
        (rule(&["pods/*"], None, &[]), request("pods", "status", "a"), true),
        // `*` as subresource matches the empty one too: the main resource is included.
        (rule(&["pods/*"], None, &[]), request("pods", "", "a"), true),
        (
            rule(&["*/status"], None, &[]),
            request("deployments", "status", "a"),
            true,
        ),
        (rule(&["*/*"], None, &[]), request("deployments", "scale", "a"), true),
        (rule(&["pods"], Some("Namespaced"), &[]), request("pods", "", "a"), true),
        (rule(&["*"], Some("Namespaced"), &[]), request("nodes", "", ""), false),
        (rule(&["*"], Some("Cluster"), &[]), request("nodes", "", ""), true),
        // A Namespace's own requests carry its name as namespace, yet it is cluster-scoped.
        (
            rule(&["namespaces"], Some("Cluster"), &[]),
            request("namespaces", "", "x"),
            true,
        ),
        (
            rule(&["namespaces"], Some("Namespaced"), &[]),
            request("namespaces", "", "x"),
            false,
        ),
        (rule(&["pods"], None, &["x"]), request("pods", "", "a"), true),
        (rule(&["pods"], None, &["y"]), request("pods", "", "a"), false),
    ];
    for (i, (rule, request, expected)) in table.iter().enumerate() {
        assert_eq!(
            rule_matches(rule, request),
            *expected,
            "row {i}: {rule:?} vs {request:?}"
        );
    }
}

#[test]
fn each_tenant_gets_its_own_params() {
    let spec = json!({
        "paramKind": { "apiVersion": "palisade.dev/v1alpha1", "kind": "Tenant" },
        "matchConstraints": configmaps(),
        "validations": [ { "expression": "size(object.data) <= params.spec.limit",
                           "messageExpression": "'at most ' + string(params.spec.limit) + ' keys'" } ]
    });
    let request = create_configmap("c", "a", json!({ "x": "1", "y": "2" }));
    let for_tenant = |tenant: &str| json!({ "paramRef": { "name": tenant, "parameterNotFoundAction": "Deny" }, "validationActions": ["Deny"] });
    assert_eq!(
        denied_messages(&run(spec.clone(), for_tenant("t1"), &request)),
        ["at most 1 keys"]
    );
    assert!(denied_messages(&run(spec.clone(), for_tenant("t2"), &request)).is_empty());
    match run(spec.clone(), for_tenant("gone"), &request) {
        Outcome::ConfigError { message, denies } => {
            assert!(denies);
            assert_eq!(
                message,
                "failed to configure binding: no params found for policy binding with `Deny` parameterNotFoundAction"
            );
        }
        other => panic!("{other:?}"),
    }
    // A selector evaluates against every param it selects: both tenants here.
    let selector =
        json!({ "paramRef": { "selector": {}, "parameterNotFoundAction": "Deny" }, "validationActions": ["Deny"] });
    assert_eq!(denied_messages(&run(spec, selector, &request)), ["at most 1 keys"]);
}

#[test]
fn what_the_engine_cannot_evaluate_is_said_never_guessed() {
    let table = [
        ("cel.bind(x, 1, x == 1)", "`cel.bind`"),
        ("[1, 2].sortBy(x, x) == [1, 2]", "`sortBy`"),
        ("object.data.all(k, v, v != '')", "two-variable form of `all`"),
        (
            "authorizer.group('').resource('pods').check('get').allowed()",
            "`authorizer`",
        ),
        ("object.?data.?x.orValue('') == ''", "optional field selection"),
    ];
    for (expression, feature) in table {
        let spec = json!({ "matchConstraints": configmaps(), "validations": [ { "expression": expression } ] });
        let outcome = run(
            spec,
            json!({ "validationActions": ["Deny"] }),
            &create_configmap("c", "a", json!({ "k": "v" })),
        );
        match outcome {
            Outcome::Unsupported(why) => assert!(why.contains(feature), "{expression}: {why}"),
            other => panic!("{expression}: {other:?}"),
        }
    }
    // A function that is called but missing at run time is reported the same way.
    let spec = json!({ "matchConstraints": configmaps(), "validations": [ { "expression": "object.data.k.noSuchFunction()" } ] });
    match run(
        spec,
        json!({ "validationActions": ["Deny"] }),
        &create_configmap("c", "a", json!({ "k": "v" })),
    ) {
        Outcome::Unsupported(why) => assert!(why.contains("noSuchFunction"), "{why}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_tenant_policy_must_read_the_tenant_and_compile() {
    let good = policy(json!({
        "paramKind": { "apiVersion": "palisade.dev/v1alpha1", "kind": "Tenant" },
        "matchConstraints": configmaps(),
        "validations": [ { "expression": "true" } ]
    }));
    assert!(
        tenant_policy_problems(&good).is_empty(),
        "{:?}",
        tenant_policy_problems(&good)
    );
    let wrong_kind = policy(json!({
        "paramKind": { "apiVersion": "v1", "kind": "ConfigMap" },
        "matchConstraints": configmaps(),
        "validations": [ { "expression": "true" } ]
    }));
    let problems = tenant_policy_problems(&wrong_kind);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].starts_with("spec.paramKind is {apiVersion: v1, kind: ConfigMap}"),
        "{problems:?}"
    );
    let broken = policy(json!({
        "matchConstraints": configmaps(),
        "validations": [ { "expression": "object.data.(" }, { "expression": "true", "messageExpression": "cel.bind(a, 'x', a)" } ]
    }));
    let problems = tenant_policy_problems(&broken);
    assert!(
        problems.iter().any(|p| p.starts_with("spec.paramKind is not set")),
        "{problems:?}"
    );
    assert!(
        problems
            .iter()
            .any(|p| p.starts_with("spec.validations[0].expression: the expression does not compile")),
        "{problems:?}"
    );
    assert!(
        problems
            .iter()
            .any(|p| p.starts_with("spec.validations[1].messageExpression: `cel.bind` is not supported")),
        "{problems:?}"
    );
}

#[test]
fn failure_policy_decides_what_an_error_does() {
    let spec = |failure: &str| {
        json!({ "failurePolicy": failure, "matchConstraints": configmaps(),
                "validations": [ { "expression": "object.data.missing == 'x'" } ] })
    };
    let request = create_configmap("c", "a", json!({ "k": "v" }));
    let fail = run(spec("Fail"), json!({ "validationActions": ["Deny"] }), &request);
    assert_eq!(
        denied_messages(&fail),
        ["expression 'object.data.missing == 'x'' resulted in error: no such key: missing"]
    );
    let ignore = run(spec("Ignore"), json!({ "validationActions": ["Deny"] }), &request);
    assert!(denied_messages(&ignore).is_empty());
}

#[test]
fn messages_fall_back_as_the_api_server_does() {
    let request = create_configmap("c", "a", json!({ "k": "v" }));
    let table = [
        (
            json!({ "expression": "false", "messageExpression": "'from expression'", "message": "static" }),
            "from expression",
        ),
        (
            json!({ "expression": "false", "messageExpression": "'  '", "message": " static " }),
            "static",
        ),
        (
            json!({ "expression": "false", "messageExpression": "'a\\nb'", "message": "static" }),
            "static",
        ),
        (
            json!({ "expression": "false", "messageExpression": "object.nope", "message": "static" }),
            "static",
        ),
        (json!({ "expression": " false " }), "failed expression: false"),
    ];
    for (validation, expected) in table {
        let spec = json!({ "matchConstraints": configmaps(), "validations": [validation.clone()] });
        let outcome = run(spec, json!({ "validationActions": ["Deny"] }), &request);
        assert_eq!(denied_messages(&outcome), [expected], "{validation}");
    }
}

#[test]
fn selectors_and_conditions_decide_what_is_evaluated() {
    let spec = json!({
        "matchConstraints": configmaps(),
        "matchConditions": [ { "name": "not-k", "expression": "!('skip' in object.data)" } ],
        "validations": [ { "expression": "false", "message": "always" } ]
    });
    let on_team_a = json!({ "validationActions": ["Deny"], "matchResources": { "namespaceSelector": { "matchLabels": { "team": "a" } } } });
    let in_a = create_configmap("c", "a", json!({ "k": "v" }));
    assert_eq!(
        denied_messages(&run(spec.clone(), on_team_a.clone(), &in_a)),
        ["always"]
    );
    let in_b = create_configmap("c", "b", json!({ "k": "v" }));
    assert!(matches!(
        run(spec.clone(), on_team_a.clone(), &in_b),
        Outcome::NotMatched(_)
    ));
    let skipped = create_configmap("c", "a", json!({ "skip": "1" }));
    assert!(matches!(
        run(spec.clone(), on_team_a.clone(), &skipped),
        Outcome::NotMatched(_)
    ));
    // Without the namespace, a namespace selector cannot be decided.
    let unknown = create_configmap("c", "unknown", json!({ "k": "v" }));
    assert!(matches!(run(spec, on_team_a, &unknown), Outcome::Undecidable(_)));
}

#[test]
fn the_answer_is_worded_as_the_api_server_words_it() {
    let spec = json!({
        "matchConstraints": configmaps(),
        "validations": [ { "expression": "false", "message": "no", "reason": "Forbidden" } ],
        "auditAnnotations": [
            { "key": "size", "valueExpression": "string(size(object.data))" },
            { "key": "empty", "valueExpression": "''" },
            { "key": "bad", "valueExpression": "1" }
        ]
    });
    let request = create_configmap("c", "a", json!({ "k": "v" }));
    let loaded = LoadedPolicy::new(policy(spec));
    let environment = Environment::default();
    let verdicts: Vec<_> = ["Deny", "Warn", "Audit"]
        .iter()
        .map(|action| {
            let namespace = NamespaceLookup::of(&request, &World);
            let subject = Subject::new(&request, namespace.fact());
            let mut verdict = evaluate(
                &environment,
                &loaded,
                &binding(json!({ "validationActions": [action] })),
                &subject,
                &World,
            );
            verdict.binding = format!("b-{action}");
            verdict
        })
        .collect();
    if let Outcome::Evaluated { audit_annotations, .. } = &verdicts[0].outcome {
        assert_eq!(
            audit_annotations[0],
            AuditAnnotationResult::Publish {
                key: "size".into(),
                value: "1".into()
            }
        );
        assert_eq!(
            audit_annotations[1],
            AuditAnnotationResult::Exclude { key: "empty".into() }
        );
        assert!(
            matches!(&audit_annotations[2], AuditAnnotationResult::Error { message, .. } if message.contains("must be either string or null"))
        );
    }
    let response = respond(&request, &verdicts);
    let denial = response.denial.unwrap();
    assert_eq!((denial.code, denial.reason.as_str()), (403, "Forbidden"));
    assert_eq!(
        denial.message,
        "configmaps \"c\" is forbidden: ValidatingAdmissionPolicy 'p' with binding 'b-Deny' denied request: no"
    );
    assert_eq!(
        response.warnings,
        ["Validation failed for ValidatingAdmissionPolicy 'p' with binding 'b-Warn': no"]
    );
    let annotations: BTreeMap<_, _> = response.audit_annotations.into_iter().collect();
    assert_eq!(annotations.get("p/size").map(String::as_str), Some("1"));
    assert!(annotations[VALIDATION_FAILURE_ANNOTATION].contains("\"binding\":\"b-Audit\""));
}

#[test]
fn objects_are_read_as_the_api_server_admits_them() {
    let mut config_map = json!({ "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": { "name": "c", "labels": {}, "annotations": { "a": "b" } }, "data": {} });
    as_admitted(&mut config_map);
    assert_eq!(
        config_map,
        json!({ "apiVersion": "v1", "kind": "ConfigMap", "metadata": { "name": "c", "annotations": { "a": "b" } } })
    );
    // A custom resource keeps its own empty fields; only the shared metadata is typed.
    let mut custom = json!({ "apiVersion": "example.com/v1", "kind": "Thing", "metadata": { "name": "t", "labels": {} }, "data": {} });
    as_admitted(&mut custom);
    assert_eq!(
        custom,
        json!({ "apiVersion": "example.com/v1", "kind": "Thing", "metadata": { "name": "t" }, "data": {} })
    );
}
