//! `palisade check -o junit` and `-o sarif` as CI meets them: a tenant, two of the example tenant
//! policies bound to it (one denying, one warning), one object admitted and one denied. The
//! outputs are read back structurally: the XML must be well-formed, the SARIF must carry the
//! fields code scanning reads, with the right levels at the objects' lines.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failure should stop the test loudly

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

const TENANT: &str = "\
apiVersion: palisade.dev/v1alpha1
kind: Tenant
metadata:
  name: shop
spec:
  owners: [{kind: User, name: alice}]
  namespaces:
    names: [shop-apps]
  policies:
    parameters:
      maxReplicas: 4
      requiredLabels: [cost-center]
";

/// The bindings the controller keeps for the tenant: max-replicas denies, required-labels warns.
const BINDINGS: &str = "\
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata:
  name: palisade-shop.palisade-max-replicas
spec:
  policyName: palisade-max-replicas
  paramRef: {name: shop, parameterNotFoundAction: Deny}
  validationActions: [Deny]
  matchResources:
    namespaceSelector:
      matchLabels: {palisade.dev/tenant: shop}
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata:
  name: palisade-shop.palisade-required-labels
spec:
  policyName: palisade-required-labels
  paramRef: {name: shop, parameterNotFoundAction: Deny}
  validationActions: [Warn]
  matchResources:
    namespaceSelector:
      matchLabels: {palisade.dev/tenant: shop}
";

/// Document 1 (line 1) is admitted; document 2 (line 19) asks for too many replicas & has no
/// cost-center label: denied by max-replicas, warned by required-labels.
const OBJECTS: &str = "\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop-apps
  labels: {cost-center: cc-1}
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
        - name: main
          image: registry.example.com/web:1
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: batch
  namespace: shop-apps
spec:
  replicas: 10
  selector:
    matchLabels: {app: batch}
  template:
    metadata:
      labels: {app: batch}
    spec:
      containers:
        - name: main
          image: registry.example.com/batch:1
";

struct Case {
    _dir: tempfile::TempDir,
    tenant: PathBuf,
    policies: Vec<PathBuf>,
    objects: PathBuf,
}

fn case() -> Case {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    };
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/policies");
    Case {
        tenant: write("tenant.yaml", TENANT),
        policies: vec![
            examples.join("max-replicas.yaml"),
            examples.join("required-labels.yaml"),
            write("bindings.yaml", BINDINGS),
        ],
        objects: write("my objects.yaml", OBJECTS),
        _dir: dir,
    }
}

fn check(case: &Case, output: &str) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_palisade"));
    command.args(["check", "--as", "alice", "-o", output, "--tenants"]);
    command.arg(&case.tenant).arg("-f").arg(&case.objects);
    for policy in &case.policies {
        command.arg("--policies").arg(policy);
    }
    let out = command.output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "one object is denied: exit 1\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A small well-formedness check: every tag closed in order, one root, attribute values quoted,
/// no raw '<' or stray '&' in text or attributes. Returns the elements' names, in order.
fn well_formed(xml: &str) -> Vec<String> {
    let body = xml
        .strip_prefix("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n")
        .expect("an XML declaration first");
    let mut open: Vec<String> = Vec::new();
    let mut elements = Vec::new();
    let mut roots = 0;
    let mut rest = body;
    let check_text = |text: &str| {
        assert!(
            !text.contains('<') && !text.contains('>'),
            "raw markup in text: {text:?}"
        );
        for (i, _) in text.match_indices('&') {
            let entity = &text[i..text[i..].find(';').map_or(text.len(), |end| i + end + 1)];
            let known = ["&amp;", "&lt;", "&gt;", "&quot;", "&apos;"].contains(&entity)
                || (entity.starts_with("&#") && entity[2..entity.len() - 1].parse::<u32>().is_ok());
            assert!(known, "unknown entity {entity:?}");
        }
    };
    while let Some(start) = rest.find('<') {
        check_text(&rest[..start]);
        let end = rest[start..].find('>').expect("an unclosed tag") + start;
        let tag = &rest[start + 1..end];
        rest = &rest[end + 1..];
        if let Some(name) = tag.strip_prefix('/') {
            assert_eq!(open.pop().as_deref(), Some(name), "closing </{name}> out of order");
            continue;
        }
        let self_closing = tag.ends_with('/');
        let tag = tag.trim_end_matches('/');
        let (name, mut attributes) = tag.split_once(' ').unwrap_or((tag, ""));
        assert!(
            !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'),
            "{name:?}"
        );
        // name="value" pairs, values without '"' or '<' (escaped or absent).
        while !attributes.trim().is_empty() {
            let (key, after) = attributes.trim_start().split_once("=\"").expect("attribute=\"value\"");
            assert!(key.chars().all(|c| c.is_ascii_alphanumeric()), "attribute name {key:?}");
            let (value, after) = after.split_once('"').expect("a closing quote");
            check_text(value);
            attributes = after;
        }
        if open.is_empty() {
            roots += 1;
        }
        elements.push(name.to_string());
        if !self_closing {
            open.push(name.to_string());
        }
    }
    check_text(rest);
    assert!(open.is_empty(), "unclosed: {open:?}");
    assert_eq!(roots, 1, "one root element");
    elements
}

#[test]
fn junit_reports_each_object_as_a_test_case() {
    let case = case();
    let out = check(&case, "junit");
    let xml = String::from_utf8(out.stdout).unwrap();
    let elements = well_formed(&xml);
    let count = |name: &str| elements.iter().filter(|e| *e == name).count();
    assert_eq!(
        (count("testsuites"), count("testsuite"), count("testcase")),
        (1, 1, 2),
        "{xml}"
    );
    assert_eq!((count("failure"), count("skipped")), (1, 0), "{xml}");
    assert!(
        xml.contains(r#"<testsuite name="palisade check" tests="2" failures="1" errors="0" skipped="0">"#),
        "{xml}"
    );
    let file = case.objects.display().to_string();
    assert!(
        xml.contains(&format!(
            r#"<testcase classname="Deployment" name="shop-apps/web" file="{file}" line="1">"#
        )),
        "{xml}"
    );
    let denied = xml
        .split("<testcase ")
        .find(|c| c.contains(r#"name="shop-apps/batch""#))
        .unwrap();
    assert!(denied.contains(&format!(r#"file="{file}" line="19">"#)), "{denied}");
    // The message is the API server's refusal, escaped (its quotes are XML's to escape).
    assert!(
        denied.contains(
            "<failure message=\"deployments.apps &quot;batch&quot; is forbidden: ValidatingAdmissionPolicy &apos;palisade-max-replicas&apos;"
        ),
        "{denied}"
    );
    assert!(
        denied.contains("asks for 10 replicas; tenant shop allows at most 4"),
        "{denied}"
    );
    // The warning of the Warn binding, in the case's output.
    assert!(denied.contains("<system-out>"), "{denied}");
    assert!(denied.contains("warning: "), "{denied}");
    assert!(denied.contains("cost-center"), "{denied}");
}

#[test]
fn sarif_locates_each_finding_at_its_object() {
    let case = case();
    let out = check(&case, "sarif");
    let log: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(log["version"], "2.1.0");
    assert!(
        log["$schema"].as_str().unwrap().ends_with("sarif-schema-2.1.0.json"),
        "{}",
        log["$schema"]
    );
    let runs = log["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 1);
    let driver = &runs[0]["tool"]["driver"];
    assert_eq!(driver["name"], "palisade");
    let rules: Vec<&str> = driver["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        rules,
        [
            "palisade-max-replicas/palisade-shop.palisade-max-replicas",
            "palisade-required-labels/palisade-shop.palisade-required-labels",
        ]
    );

    // The admitted object has no finding; the denied one an error and a warning, at line 19.
    let results = runs[0]["results"].as_array().unwrap();
    assert_eq!(results.len(), 2, "{results:#?}");
    let uri = case.objects.display().to_string().replace(' ', "%20");
    for result in results {
        let index = result["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(result["ruleId"], driver["rules"][index]["id"]);
        let location = &result["locations"][0]["physicalLocation"];
        assert_eq!(location["artifactLocation"]["uri"], uri.as_str());
        assert_eq!(location["region"]["startLine"], 19);
        assert_eq!(
            result["locations"][0]["logicalLocations"][0]["fullyQualifiedName"],
            "Deployment shop-apps/batch"
        );
        assert!(!result["message"]["text"].as_str().unwrap().is_empty());
    }
    let levels: Vec<(&str, &str)> = results
        .iter()
        .map(|r| (r["ruleId"].as_str().unwrap(), r["level"].as_str().unwrap()))
        .collect();
    assert_eq!(
        levels,
        [
            ("palisade-max-replicas/palisade-shop.palisade-max-replicas", "error"),
            (
                "palisade-required-labels/palisade-shop.palisade-required-labels",
                "warning"
            ),
        ]
    );
    assert!(
        results[0]["message"]["text"]
            .as_str()
            .unwrap()
            .contains("asks for 10 replicas; tenant shop allows at most 4"),
        "{:#}",
        results[0]
    );
}
