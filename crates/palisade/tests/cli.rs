//! The CLI as a user meets it: real files in, exit codes and messages out.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failure should stop the test loudly

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn palisade(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_palisade"))
        .args(args)
        .output()
        .expect("palisade runs")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

const VALID: &str =
    "apiVersion: palisade.dev/v1alpha1\nkind: Tenant\nmetadata:\n  name: a\nspec:\n  owners: [{kind: User, name: x}]\n";

#[test]
fn examples_are_valid() {
    let out = palisade(&["validate", "-f", examples().to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), "4 tenant(s) valid");
}

/// (file content, fragments the message must contain, in order)
const BAD_INPUTS: &[(&str, &str, &[&str])] = &[
    (
        "unknown field",
        "apiVersion: palisade.dev/v1alpha1\nkind: Tenant\nmetadata:\n  name: a\nspec:\n  owners: [{kind: User, name: x}]\n  network:\n    isolaton: Strict\n",
        &[
            ":8:5: document 1: spec.network.isolaton: unknown field `isolaton`",
            "a typo?",
        ],
    ),
    (
        "wrong type",
        "apiVersion: palisade.dev/v1alpha1\nkind: Tenant\nmetadata:\n  name: a\nspec:\n  owners: [{kind: User, name: x}]\n  namespaces:\n    max: many\n",
        &[":8:10: document 1: spec.namespaces.max: invalid type: string \"many\""],
    ),
    (
        "another kind",
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\n",
        &[":1: document 1: this is a v1 Namespace; expected apiVersion palisade.dev/v1alpha1, kind Tenant"],
    ),
    (
        "a Capsule tenant",
        "apiVersion: capsule.clastix.io/v1beta2\nkind: Tenant\nmetadata:\n  name: a\n",
        &["palisade import capsule"],
    ),
    (
        "malformed YAML in the second document",
        "apiVersion: palisade.dev/v1alpha1\nkind: Tenant\nmetadata:\n  name: a\nspec:\n  owners: [{kind: User, name: x}]\n---\napiVersion: palisade.dev/v1alpha1\nkind: Tenant\nspec:\n  owners: [{kind: User, name: x\n",
        &[":11:", "document 2: not valid YAML: unclosed bracket"],
    ),
    ("empty file", "", &["the file is empty"]),
    ("only comments", "# nothing here\n---\n", &["the file is empty"]),
    (
        "an invalid tenant lists every problem",
        "apiVersion: palisade.dev/v1alpha1\nkind: Tenant\nmetadata:\n  name: a\nspec:\n  owners: []\n  storage: { classes: { allowed: [ssd], default: hdd } }\n",
        &[
            "Tenant \"a\": spec.owners: a tenant needs at least one owner",
            "spec.storage.classes.default: default \"hdd\" is not allowed",
            "2 problem(s)",
        ],
    ),
    (
        "two tenants with one name",
        "apiVersion: palisade.dev/v1alpha1\nkind: Tenant\nmetadata:\n  name: a\nspec:\n  owners: [{kind: User, name: x}]\n---\napiVersion: palisade.dev/v1alpha1\nkind: Tenant\nmetadata:\n  name: a\nspec:\n  owners: [{kind: User, name: y}]\n",
        &[":8: document 2: Tenant \"a\": metadata.name: \"a\" is the name of another Tenant"],
    ),
];

#[test]
fn bad_input_is_named_by_file_line_and_field_and_fails() {
    let dir = tempfile::tempdir().unwrap();
    for (i, (case, text, fragments)) in BAD_INPUTS.iter().enumerate() {
        let file = write(dir.path(), &format!("case{i}.yaml"), text);
        for command in ["validate", "render"] {
            let out = palisade(&[command, "-f", &file]);
            let message = stderr(&out);
            assert!(!out.status.success(), "{command} {case}: must fail\n{message}");
            assert!(
                message.contains(&file),
                "{command} {case}: message must name the file\n{message}"
            );
            for fragment in *fragments {
                assert!(
                    message.contains(fragment),
                    "{command} {case}: message lacks {fragment:?}\n{message}"
                );
            }
            assert!(!message.contains("panicked"), "{command} {case}: panicked\n{message}");
            if command == "render" {
                assert!(
                    stdout(&out).is_empty(),
                    "render {case}: must print nothing when the input is bad"
                );
            }
        }
    }
}

#[test]
fn missing_file_and_directory_without_tenants() {
    let dir = tempfile::tempdir().unwrap();
    let out = palisade(&["validate", "-f", "/nonexistent/tenants.yaml"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("/nonexistent/tenants.yaml: cannot read"),
        "{}",
        stderr(&out)
    );

    write(dir.path(), "notes.txt", "not a manifest");
    let out = palisade(&["validate", "-f", dir.path().to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("no Tenant manifests found"), "{}", stderr(&out));
}

#[test]
fn render_prints_every_provider_of_the_examples() {
    let out = palisade(&[
        "render",
        "-f",
        examples().to_str().unwrap(),
        "--api-server",
        "10.0.0.1:6443",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let yaml = stdout(&out);
    for kind in [
        "kind: Namespace",
        "kind: RoleBinding",
        "kind: ResourceQuota",
        "kind: LimitRange",
        "kind: NetworkPolicy",
        "kind: CiliumClusterwideNetworkPolicy",
        "kind: PeerAuthentication",
        "kind: AuthorizationPolicy",
    ] {
        assert!(yaml.contains(kind), "render output lacks {kind}");
    }
    // The output is a YAML stream kubectl can read: every document parses back.
    let documents: Vec<serde_json::Value> = serde_saphyr::from_multiple(&yaml).unwrap();
    assert!(documents.len() > 20, "{} documents", documents.len());
    assert!(
        documents
            .iter()
            .all(|d| d["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "palisade")
    );
}

#[test]
fn render_one_namespace_and_report_skipped_objects() {
    let examples = examples();
    let out = palisade(&[
        "render",
        "-f",
        examples.to_str().unwrap(),
        "-n",
        "catalog",
        "--without",
        "istio",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let yaml = stdout(&out);
    assert!(yaml.contains("namespace: catalog"));
    assert!(!yaml.contains("namespace: payments-api"));
    assert!(!yaml.contains("kind: PeerAuthentication"));
    assert!(stderr(&out).contains(
        "# skipped PeerAuthentication catalog/palisade-mtls: the cluster does not serve security.istio.io/v1"
    ));

    let out = palisade(&["render", "-f", examples.to_str().unwrap(), "-n", "nowhere"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("namespace \"nowhere\" is not in spec.namespaces.names of any tenant"));
}

#[test]
fn crds_command_prints_the_tenant_crd() {
    let out = palisade(&["crds"]);
    assert!(out.status.success());
    let crd: serde_json::Value = serde_saphyr::from_str(&stdout(&out)).unwrap();
    assert_eq!(crd["metadata"]["name"], "tenants.palisade.dev");
    assert_eq!(crd["spec"]["scope"], "Cluster");
}

#[test]
fn a_valid_file_passes() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "ok.yaml", VALID);
    let out = palisade(&["validate", "-f", &file]);
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn check_gives_the_webhook_answer_offline() {
    let objects = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/check/payments-objects.yaml");
    let examples = examples();
    let out = palisade(&[
        "check",
        "--tenants",
        examples.to_str().unwrap(),
        "-f",
        objects.to_str().unwrap(),
        "--as",
        "alice@example.com",
    ]);
    assert!(!out.status.success(), "a denial must fail the command");
    let lines = stdout(&out);
    assert!(lines.contains("mutated  Namespace payments-web:"), "{lines}");
    assert!(lines.contains("\"palisade.dev/tenant\":\"payments\""), "{lines}");
    // The tenant rules mutate the pod, and Pod Security (the tenant enforces restricted) then
    // refuses it, with the API server's own message.
    assert!(
        lines.contains("DENIED   Pod payments-api/api: pods \"api\" is forbidden: violates PodSecurity \"restricted:latest\": allowPrivilegeEscalation != false"),
        "{lines}"
    );
    assert!(lines.contains("  mutated by the tenant rules first: "), "{lines}");
    assert!(lines.contains("DENIED   Deployment payments-api/debug: tenant \"payments\" allows images only from registry.example.com/payments/"), "{lines}");
    assert!(
        lines.contains(
            "DENIED   Service payments-api/api: tenant \"payments\" does not allow Services of type NodePort"
        ),
        "{lines}"
    );

    // The same objects from someone who owns nothing: a name under the tenant's forced prefix is
    // the tenant's, and the objects in tenant namespaces are still checked.
    let out = palisade(&[
        "check",
        "--tenants",
        examples.to_str().unwrap(),
        "-f",
        objects.to_str().unwrap(),
        "--as",
        "mallory",
    ]);
    let lines = stdout(&out);
    assert!(
        lines.contains(
            "DENIED   Namespace payments-web: namespace \"payments-web\" is under a tenant's forced name prefix"
        ),
        "{lines}"
    );
    assert!(lines.contains("DENIED   Service payments-api/api"), "{lines}");
}

#[test]
fn check_names_what_is_wrong_in_a_cluster_state() {
    let objects = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/check/payments-objects.yaml");
    let objects = objects.to_str().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let run = |state: &str| {
        palisade(&[
            "check",
            "--cluster-state",
            state,
            "-f",
            objects,
            "--as",
            "alice@example.com",
        ])
    };

    let missing = dir.path().join("absent.json");
    let out = run(missing.to_str().unwrap());
    assert!(!out.status.success());
    assert!(stderr(&out).contains("absent.json: cannot read"), "{}", stderr(&out));

    let broken = write(dir.path(), "broken.json", "{\"kind\": \"List\", \"items\": [\n");
    let out = run(&broken);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("broken.json:2:0: document 1: not valid JSON"),
        "{}",
        stderr(&out)
    );

    let unknown = write(
        dir.path(),
        "unknown.yaml",
        "apiVersion: v1\nkind: Namespace\nmetadata: { name: a }\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata: { name: web }\n",
    );
    let out = run(&unknown);
    assert!(!out.status.success());
    let message = stderr(&out);
    assert!(
        message.contains("unknown.yaml:5: document 2: cluster state object \"web\": apps/v1 Deployment is not part of the cluster state"),
        "{message}"
    );
    assert!(
        message.contains("expected one of: Tenant (palisade.dev/v1alpha1), Namespace (v1)"),
        "{message}"
    );

    let wrong = write(
        dir.path(),
        "wrong.yaml",
        "apiVersion: v1\nkind: Node\nmetadata: { name: node-1 }\nspec: { podCIDRs: 10.0.0.0/24 }\n",
    );
    let out = run(&wrong);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("not a valid Node: spec.podCIDRs"),
        "{}",
        stderr(&out)
    );

    // Without tenants from anywhere, check says what it needs.
    let out = palisade(&["check", "-f", objects, "--as", "alice@example.com"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("--tenants"), "{}", stderr(&out));
}

#[test]
fn check_counts_the_tenant_wide_quota_across_the_objects_it_checks() {
    let dir = tempfile::tempdir().unwrap();
    let tenants = dir.path().join("tenant.yaml");
    std::fs::write(
        &tenants,
        "apiVersion: palisade.dev/v1alpha1\nkind: Tenant\nmetadata: { name: metered }\nspec:\n  owners: [{ kind: User, name: mia }]\n  namespaces: { names: [metered-a, metered-b] }\n  quota: { tenant: { requests.cpu: \"1\" } }\n",
    )
    .unwrap();
    let pods: String = ["metered-a", "metered-b", "metered-a"]
        .iter()
        .enumerate()
        .map(|(n, namespace)| {
            format!(
                "---\napiVersion: v1\nkind: Pod\nmetadata: {{ name: p{n}, namespace: {namespace} }}\nspec:\n  containers: [{{ name: app, image: registry.example.com/app:1, imagePullPolicy: Always, resources: {{ requests: {{ cpu: 400m }} }} }}]\n"
            )
        })
        .collect();
    let objects = dir.path().join("pods.yaml");
    std::fs::write(&objects, pods).unwrap();
    let out = palisade(&[
        "check",
        "--tenants",
        tenants.to_str().unwrap(),
        "-f",
        objects.to_str().unwrap(),
        "--as",
        "mia",
    ]);
    let lines = stdout(&out);
    assert!(lines.contains("allowed  Pod metered-a/p0"), "{lines}");
    assert!(lines.contains("allowed  Pod metered-b/p1"), "{lines}");
    assert!(
        lines.contains("DENIED   Pod metered-a/p2: tenant \"metered\" would use 1200m of its 1 requests.cpu (800m in 2 namespaces + 400m in this Pod \"p2\")"),
        "{lines}"
    );
    assert!(!out.status.success());
}

const POLICY_TENANT: &str = "apiVersion: palisade.dev/v1alpha1\nkind: Tenant\nmetadata:\n  name: shop\nspec:\n  owners: [{kind: User, name: alice}]\n  namespaces: {names: [shop-web]}\n  policies: {parameters: {maxReplicas: 2}}\n";

fn bound_policy(name: &str, expression: &str) -> String {
    format!(
        "apiVersion: admissionregistration.k8s.io/v1\nkind: ValidatingAdmissionPolicy\nmetadata: {{name: {name}}}\nspec:\n  paramKind: {{apiVersion: palisade.dev/v1alpha1, kind: Tenant}}\n  matchConstraints:\n    resourceRules: [{{apiGroups: [apps], apiVersions: [v1], operations: [CREATE], resources: [deployments]}}]\n  validations:\n  - expression: \"{expression}\"\n---\napiVersion: admissionregistration.k8s.io/v1\nkind: ValidatingAdmissionPolicyBinding\nmetadata: {{name: palisade-shop.{name}}}\nspec:\n  policyName: {name}\n  paramRef: {{name: shop, parameterNotFoundAction: Deny}}\n  validationActions: [Deny]\n  matchResources: {{namespaceSelector: {{matchLabels: {{palisade.dev/tenant: shop}}}}}}\n"
    )
}

const DEPLOYMENT: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: shop-web}\nspec:\n  replicas: 3\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec: {containers: [{name: web, image: nginx:1.27}]}\n";

#[test]
fn check_evaluates_tenant_policies_and_never_guesses() {
    let dir = tempfile::tempdir().unwrap();
    let tenants = write(dir.path(), "tenant.yaml", POLICY_TENANT);
    let deployment = write(dir.path(), "deploy.yaml", DEPLOYMENT);
    let check = |policies: &str| {
        palisade(&[
            "check",
            "--tenants",
            &tenants,
            "--policies",
            policies,
            "-f",
            &deployment,
            "--as",
            "alice",
        ])
    };

    // The tenant's parameter decides: 3 replicas where it allows 2.
    let limits = write(
        dir.path(),
        "limits.yaml",
        &bound_policy(
            "limits",
            "object.spec.replicas <= params.spec.policies.parameters.maxReplicas",
        ),
    );
    let out = check(&limits);
    assert_eq!(out.status.code(), Some(1), "{}{}", stdout(&out), stderr(&out));
    assert!(
        stdout(&out).contains("DENIED   Deployment shop-web/web: deployments.apps \"web\" is forbidden: ValidatingAdmissionPolicy 'limits' with binding 'palisade-shop.limits' denied request: failed expression: object.spec.replicas <= params.spec.policies.parameters.maxReplicas"),
        "{}",
        stdout(&out)
    );

    // CEL the offline engine lacks is reported, and the exit code says undecided.
    let bind = write(
        dir.path(),
        "bind.yaml",
        &bound_policy("binds", "cel.bind(r, object.spec.replicas, r < 10)"),
    );
    let out = check(&bind);
    assert_eq!(out.status.code(), Some(2), "{}{}", stdout(&out), stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("UNDECIDED Deployment shop-web/web"), "{text}");
    assert!(
        text.contains("`cel.bind` is not supported by the offline CEL engine"),
        "{text}"
    );
}

#[test]
fn check_names_the_file_line_and_field_of_a_broken_policy() {
    let dir = tempfile::tempdir().unwrap();
    let tenants = write(dir.path(), "tenant.yaml", POLICY_TENANT);
    let deployment = write(dir.path(), "deploy.yaml", DEPLOYMENT);
    let broken = write(
        dir.path(),
        "broken.yaml",
        &format!(
            "{}---\napiVersion: admissionregistration.k8s.io/v1\nkind: ValidatingAdmissionPolicy\nmetadata: {{name: bad}}\nspec:\n  validations: {{expression: true}}\n",
            bound_policy("fine", "true")
        ),
    );
    let out = palisade(&[
        "check",
        "--tenants",
        &tenants,
        "--policies",
        &broken,
        "-f",
        &deployment,
        "--as",
        "alice",
    ]);
    assert!(!out.status.success());
    let message = stderr(&out);
    assert!(message.contains("broken.yaml:"), "{message}");
    assert!(message.contains("document 3"), "{message}");
    assert!(
        message.contains("ValidatingAdmissionPolicy \"bad\": spec.validations"),
        "{message}"
    );
    assert!(message.contains("nothing checked"), "{message}");
}
