//! `palisade check -o junit|sarif`: the JSON document of `report::document`, for CI systems.
//!
//! Both are built from that one document rather than from the verdicts themselves, so the three
//! machine formats cannot disagree: JSON is the whole answer, JUnit and SARIF are views of it.
//!
//! - JUnit: one test case per checked object; a denial is a failure, an answer that depends on
//!   what could not be evaluated is skipped (neither pass nor fail), the API server's warnings
//!   go to the case's output. CI systems (GitLab, Jenkins, GitHub test reporters) show these.
//! - SARIF 2.1.0: one result per finding (a tenant rule's denial, Pod Security's, each failed
//!   validation of each binding, each warning, each step not evaluated), located at the file
//!   and line of the object, so code scanning annotates the manifest itself.
//!
//! The XML is written by hand: five entities and the characters XML 1.0 cannot carry are all
//! there is to escape, and a writer crate would be a dependency for that alone.

use std::fmt::Write as _;

use serde_json::{Value, json};

/// The JUnit XML report of a `check` document.
pub fn junit(document: &Value) -> String {
    let objects = objects(document);
    let count = |key: &str| document["summary"][key].as_u64().unwrap_or_default();
    let (tests, failures, skipped) = (objects.len(), count("denied"), count("undecided"));
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let counts = format!("tests=\"{tests}\" failures=\"{failures}\" errors=\"0\" skipped=\"{skipped}\"");
    let _ = writeln!(xml, "<testsuites name=\"palisade check\" {counts}>");
    let _ = writeln!(xml, "  <testsuite name=\"palisade check\" {counts}>");
    for object in objects {
        let origin = Origin::parse(text(&object["origin"]));
        let mut case = format!(
            "    <testcase classname=\"{}\" name=\"{}\" file=\"{}\"",
            escape(text(&object["kind"])),
            escape(&object_name(object)),
            escape(origin.path),
        );
        if let Some(line) = origin.line {
            let _ = write!(case, " line=\"{line}\"");
        }
        case.push('>');
        let _ = writeln!(xml, "{case}");
        if let Some(message) = object["message"].as_str().filter(|_| object["allowed"] == false) {
            // The body lists every refusal: the tenant rules' and each the API server would send.
            let mut body: Vec<String> = Vec::new();
            if object["tenantRules"]["verdict"] == "deny" {
                body.push(format!("tenant rules: {}", text(&object["tenantRules"]["message"])));
            }
            for denial in array(&object["response"]["denials"]) {
                body.push(text(&denial["message"]).to_string());
            }
            let _ = writeln!(
                xml,
                "      <failure message=\"{}\" type=\"denied\">{}</failure>",
                escape(message),
                escape(&body.join("\n"))
            );
        } else if object["decided"] == false {
            let why = undecided(object).join("; ");
            let _ = writeln!(xml, "      <skipped message=\"{}\"/>", escape(&why));
        }
        // The origin in full (document number included), then what the user would be told.
        let mut out = vec![format!("origin: {}", text(&object["origin"]))];
        out.extend(array(&object["response"]["warnings"]).map(|w| format!("warning: {}", text(w))));
        let _ = writeln!(xml, "      <system-out>{}</system-out>", escape(&out.join("\n")));
        let _ = writeln!(xml, "    </testcase>");
    }
    let _ = writeln!(xml, "  </testsuite>");
    let _ = writeln!(xml, "</testsuites>");
    xml
}

/// The SARIF 2.1.0 log of a `check` document: one run of the tool `palisade`.
pub fn sarif(document: &Value) -> String {
    let mut rules = Rules::default();
    let mut results = Vec::new();
    for object in objects(document) {
        for finding in findings(object) {
            let index = rules.index(&finding.rule);
            results.push(finding.to_sarif(object, index));
        }
    }
    let log = json!({
        "$schema": "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": {
                "name": "palisade",
                "version": env!("CARGO_PKG_VERSION"),
                "rules": rules.to_sarif(),
            } },
            "results": results,
        }],
    });
    serde_json::to_string_pretty(&log).unwrap_or_default()
}

/// Escapes `text` for XML 1.0 content and attribute values. Line breaks and tabs become
/// character references, so they survive attribute-value normalisation; characters XML 1.0
/// cannot carry at all (other C0 controls, U+FFFE, U+FFFF) become U+FFFD, as a lossy but
/// well-formed stand-in.
pub fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&apos;"),
            '\n' => escaped.push_str("&#10;"),
            '\r' => escaped.push_str("&#13;"),
            '\t' => escaped.push_str("&#9;"),
            '\u{0}'..='\u{1f}' | '\u{fffe}' | '\u{ffff}' => escaped.push('\u{fffd}'),
            c => escaped.push(c),
        }
    }
    escaped
}

/// Where a checked object came from, read back from the origin `check` prints
/// (`path/file.yaml:12: document 2`, see `manifests::Origin`).
#[derive(Debug, PartialEq, Eq)]
pub struct Origin<'a> {
    pub path: &'a str,
    /// 1-based; `None` when the origin carries none.
    pub line: Option<u64>,
}

impl<'a> Origin<'a> {
    pub fn parse(origin: &'a str) -> Origin<'a> {
        // From the right: a path may hold ':' (and even ": document "), the suffix never does.
        let located = origin.rsplit_once(": document ").map_or(origin, |(located, _)| located);
        match located.rsplit_once(':') {
            Some((path, line)) if !path.is_empty() => match line.parse::<u64>() {
                Ok(line) if line > 0 => Origin { path, line: Some(line) },
                _ => Origin {
                    path: located,
                    line: None,
                },
            },
            _ => Origin {
                path: located,
                line: None,
            },
        }
    }
}

/// A file path as a SARIF `artifactLocation.uri` (a URI reference): everything but unreserved
/// characters and '/' percent-encoded, so spaces, '#', '?' and a ':' that would read as a
/// scheme stay part of the path.
pub fn path_uri(path: &str) -> String {
    let path = path.replace('\\', "/");
    let mut uri = String::with_capacity(path.len());
    for byte in path.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~/".contains(&byte) {
            uri.push(char::from(byte));
        } else {
            let _ = write!(uri, "%{byte:02X}");
        }
    }
    uri
}

/// A SARIF level: `error` for what refuses the request, `warning` for what the user is warned
/// of, `note` for what was only audited or not evaluated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Error,
    Warning,
    Note,
}

impl Level {
    fn as_str(self) -> &'static str {
        match self {
            Level::Error => "error",
            Level::Warning => "warning",
            Level::Note => "note",
        }
    }

    /// How a failed validation of a binding with these `validationActions` reaches the user:
    /// Deny refuses, Warn warns, Audit only writes the audit log.
    pub fn of_actions(actions: &Value) -> Level {
        let has = |action: &str| array(actions).any(|a| a == action);
        if has("Deny") {
            Level::Error
        } else if has("Warn") {
            Level::Warning
        } else {
            Level::Note
        }
    }
}

/// What a SARIF rule stands for.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Rule {
    TenantRules,
    PodSecurity,
    Binding { policy: String, binding: String },
}

impl Rule {
    fn id(&self) -> String {
        match self {
            Rule::TenantRules => "tenant-rules".to_string(),
            Rule::PodSecurity => "pod-security".to_string(),
            Rule::Binding { policy, binding } => format!("{policy}/{binding}"),
        }
    }

    fn to_sarif(&self) -> Value {
        let (name, description, properties) = match self {
            Rule::TenantRules => (
                "TenantRules".to_string(),
                "Palisade's tenant rules, as its admission webhook enforces them".to_string(),
                json!({}),
            ),
            Rule::PodSecurity => (
                "PodSecurity".to_string(),
                "Pod Security admission at the namespace's enforce, warn and audit levels".to_string(),
                json!({}),
            ),
            Rule::Binding { policy, binding } => (
                policy.clone(),
                format!("ValidatingAdmissionPolicy {policy}, bound by {binding}"),
                json!({ "policy": policy, "binding": binding }),
            ),
        };
        json!({
            "id": self.id(),
            "name": name,
            "shortDescription": { "text": description },
            "properties": properties,
        })
    }
}

/// The rules results refer to, in order of first reference (`ruleIndex` is a position).
#[derive(Default)]
struct Rules(Vec<Rule>);

impl Rules {
    fn index(&mut self, rule: &Rule) -> usize {
        match self.0.iter().position(|known| known == rule) {
            Some(index) => index,
            None => {
                self.0.push(rule.clone());
                self.0.len() - 1
            }
        }
    }

    fn to_sarif(&self) -> Vec<Value> {
        self.0.iter().map(Rule::to_sarif).collect()
    }
}

/// One SARIF result before it is located.
#[derive(Debug)]
struct Finding {
    rule: Rule,
    level: Level,
    message: String,
}

impl Finding {
    fn to_sarif(&self, object: &Value, rule_index: usize) -> Value {
        let origin = Origin::parse(text(&object["origin"]));
        let mut physical = json!({ "artifactLocation": { "uri": path_uri(origin.path) } });
        if let Some(line) = origin.line {
            physical["region"] = json!({ "startLine": line });
        }
        json!({
            "ruleId": self.rule.id(),
            "ruleIndex": rule_index,
            "level": self.level.as_str(),
            "message": { "text": self.message },
            "locations": [{
                "physicalLocation": physical,
                "logicalLocations": [{
                    "name": object_name(object),
                    "fullyQualifiedName": format!("{} {}", text(&object["kind"]), object_name(object)),
                    "kind": "resource",
                }],
            }],
            "properties": {
                "apiVersion": object["apiVersion"],
                "kind": object["kind"],
                "namespace": object["namespace"],
                "name": object["name"],
                "operation": object["operation"],
            },
        })
    }
}

/// Every finding about one object of the document, in the order the API server meets them:
/// the tenant rules (Palisade's webhook), Pod Security, then each binding.
fn findings(object: &Value) -> Vec<Finding> {
    let mut findings = Vec::new();
    let mut add = |rule: Rule, level, message: String| findings.push(Finding { rule, level, message });
    if object["tenantRules"]["verdict"] == "deny" {
        add(
            Rule::TenantRules,
            Level::Error,
            text(&object["tenantRules"]["message"]).to_string(),
        );
    }
    let pod_security = &object["podSecurity"];
    if let Some(message) = pod_security["denial"]["message"].as_str() {
        add(Rule::PodSecurity, Level::Error, message.to_string());
    }
    for warning in array(&pod_security["warnings"]) {
        add(Rule::PodSecurity, Level::Warning, text(warning).to_string());
    }
    if let Some(why) = pod_security["undecided"].as_str() {
        add(Rule::PodSecurity, Level::Note, format!("not evaluated: {why}"));
    }
    for verdict in array(&object["policies"]) {
        let rule = Rule::Binding {
            policy: text(&verdict["policy"]).to_string(),
            binding: text(&verdict["binding"]).to_string(),
        };
        match text(&verdict["outcome"]) {
            "denied" => {
                let level = Level::of_actions(&verdict["validationActions"]);
                for decision in array(&verdict["decisions"]).filter(|d| d["action"] == "Deny") {
                    add(rule.clone(), level, text(&decision["message"]).to_string());
                }
            }
            "unsupported" | "undecidable" => {
                add(rule, Level::Note, format!("not evaluated: {}", text(&verdict["why"])));
            }
            "configError" => {
                // failurePolicy decides: Fail refuses the request, Ignore lets it through.
                let level = if verdict["denies"] == true {
                    Level::Error
                } else {
                    Level::Note
                };
                add(rule, level, format!("policy error: {}", text(&verdict["message"])));
            }
            _ => {}
        }
    }
    findings
}

/// Why an object's verdict depends on what could not be evaluated, as `check` prints it.
fn undecided(object: &Value) -> Vec<String> {
    let policies = array(&object["policies"])
        .filter(|v| matches!(text(&v["outcome"]), "unsupported" | "undecidable"))
        .map(|v| {
            format!(
                "policy {} (binding {}): {}",
                text(&v["policy"]),
                text(&v["binding"]),
                text(&v["why"])
            )
        });
    object["podSecurity"]["undecided"]
        .as_str()
        .map(str::to_string)
        .into_iter()
        .chain(policies)
        .collect()
}

/// `namespace/name`, or `name` for a cluster-scoped object.
fn object_name(object: &Value) -> String {
    match (text(&object["namespace"]), text(&object["name"])) {
        ("", name) => name.to_string(),
        (namespace, name) => format!("{namespace}/{name}"),
    }
}

fn objects(document: &Value) -> Vec<&Value> {
    array(&document["objects"]).collect()
}

fn array(value: &Value) -> impl Iterator<Item = &Value> {
    value.as_array().into_iter().flatten()
}

fn text(value: &Value) -> &str {
    value.as_str().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    #[test]
    fn escapes_the_five_entities_line_breaks_and_what_xml_cannot_carry() {
        assert_eq!(escape(r#"a<b>&"c"'d'"#), "a&lt;b&gt;&amp;&quot;c&quot;&apos;d&apos;");
        assert_eq!(escape("one\ntwo\r\tthree"), "one&#10;two&#13;&#9;three");
        assert_eq!(
            escape("bell\u{7} nul\u{0} \u{ffff}"),
            "bell\u{fffd} nul\u{fffd} \u{fffd}"
        );
        assert_eq!(escape("déjà vu ✓"), "déjà vu ✓");
        assert_eq!(
            escape("&amp;"),
            "&amp;amp;",
            "escaped once more: the input is text, not XML"
        );
    }

    #[test]
    fn reads_path_and_line_from_an_origin() {
        let parse = Origin::parse;
        assert_eq!(
            parse("deploy/app.yaml:12: document 2"),
            Origin {
                path: "deploy/app.yaml",
                line: Some(12)
            }
        );
        assert_eq!(parse("/abs/x.json:1: document 1").line, Some(1));
        // A ':' in the path is the path's; the line is what follows the last one.
        assert_eq!(
            parse("C:/work/a:b.yaml:7: document 3"),
            Origin {
                path: "C:/work/a:b.yaml",
                line: Some(7)
            }
        );
        // Without a line (or with one that is not a line), the whole is the path.
        assert_eq!(
            parse("pod.yaml"),
            Origin {
                path: "pod.yaml",
                line: None
            }
        );
        assert_eq!(
            parse("pod.yaml:x: document 1"),
            Origin {
                path: "pod.yaml:x",
                line: None
            }
        );
        assert_eq!(
            parse("pod.yaml:0: document 1"),
            Origin {
                path: "pod.yaml:0",
                line: None
            }
        );
        assert_eq!(parse(""), Origin { path: "", line: None });
    }

    #[test]
    fn paths_become_uri_references() {
        assert_eq!(path_uri("manifests/app-1.yaml"), "manifests/app-1.yaml");
        assert_eq!(path_uri("my dir/a#b?.yaml"), "my%20dir/a%23b%3F.yaml");
        assert_eq!(path_uri("c:\\x\\é.yaml"), "c%3A/x/%C3%A9.yaml");
    }

    #[test]
    fn a_failed_validation_is_as_loud_as_its_binding_makes_it() {
        assert_eq!(Level::of_actions(&json!(["Deny"])), Level::Error);
        assert_eq!(Level::of_actions(&json!(["Warn", "Deny"])), Level::Error);
        assert_eq!(Level::of_actions(&json!(["Warn", "Audit"])), Level::Warning);
        assert_eq!(Level::of_actions(&json!(["Audit"])), Level::Note);
        assert_eq!(Level::of_actions(&Value::Null), Level::Note);
    }

    /// A document as `report::document` builds it: one denied, one warned and undecided, one
    /// allowed cluster-scoped object.
    fn document() -> Value {
        json!({
            "summary": { "checked": 3, "denied": 1, "undecided": 1 },
            "objects": [
                {
                    "origin": "apps/web.yaml:1: document 1", "apiVersion": "apps/v1", "kind": "Deployment",
                    "namespace": "shop-apps", "name": "web", "operation": "CREATE",
                    "allowed": false, "decided": true,
                    "message": "tenant shop: replicas <10> & more than 4",
                    "tenantRules": { "verdict": "deny", "message": "tenant shop: replicas <10> & more than 4" },
                    "podSecurity": { "denial": null, "warnings": [], "undecided": null },
                    "policies": [
                        { "policy": "max-replicas", "binding": "palisade-shop.max-replicas",
                          "validationActions": ["Deny"], "outcome": "denied",
                          "decisions": [ { "action": "Deny", "evaluation": "reject", "message": "at most 4 replicas" },
                                         { "action": "Admit", "evaluation": "admit", "message": "" } ] },
                        { "policy": "labels", "binding": "palisade-shop.labels",
                          "validationActions": ["Audit"], "outcome": "denied",
                          "decisions": [ { "action": "Deny", "evaluation": "reject", "message": "label missing" } ] },
                    ],
                    "response": { "denial": { "message": "ValidatingAdmissionPolicy 'max-replicas' denied" },
                                  "denials": [ { "message": "ValidatingAdmissionPolicy 'max-replicas' denied" } ],
                                  "warnings": [], "auditAnnotations": {} },
                },
                {
                    "origin": "apps/web.yaml:30: document 2", "apiVersion": "v1", "kind": "Pod",
                    "namespace": "shop-apps", "name": "p", "operation": "CREATE",
                    "allowed": true, "decided": false, "message": null,
                    "tenantRules": { "verdict": "allow" },
                    "podSecurity": { "denial": null, "warnings": ["would violate \"restricted\""], "undecided": null },
                    "policies": [
                        { "policy": "digest", "binding": "palisade-shop.digest", "validationActions": ["Deny"],
                          "outcome": "unsupported", "why": "a CEL function kube-cel lacks" },
                        { "policy": "max-replicas", "binding": "palisade-shop.max-replicas",
                          "validationActions": ["Deny"], "outcome": "notMatched", "why": "not a Deployment" },
                    ],
                    "response": { "denial": null, "denials": [], "warnings": ["would violate \"restricted\""],
                                  "auditAnnotations": {} },
                },
                {
                    "origin": "ns.yaml:3: document 1", "apiVersion": "v1", "kind": "Namespace",
                    "namespace": "", "name": "shop-apps", "operation": "CREATE",
                    "allowed": true, "decided": true, "message": null,
                    "tenantRules": { "verdict": "allow" },
                    "podSecurity": { "denial": null, "warnings": [], "undecided": null },
                    "policies": [],
                    "response": { "denial": null, "denials": [], "warnings": [], "auditAnnotations": {} },
                },
            ],
            "notChecked": [],
        })
    }

    #[test]
    fn junit_has_a_case_per_object_a_failure_per_denial_and_a_skip_per_undecided() {
        let xml = junit(&document());
        assert!(
            xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites"),
            "{xml}"
        );
        assert!(xml.contains(r#"<testsuite name="palisade check" tests="3" failures="1" errors="0" skipped="1">"#));
        assert_eq!(xml.matches("<testcase ").count(), 3);
        assert_eq!(xml.matches("</testcase>").count(), 3);
        assert!(
            xml.contains(r#"<testcase classname="Deployment" name="shop-apps/web" file="apps/web.yaml" line="1">"#)
        );
        assert!(xml.contains(r#"<testcase classname="Namespace" name="shop-apps" file="ns.yaml" line="3">"#));
        assert!(xml.contains(
            r#"<failure message="tenant shop: replicas &lt;10&gt; &amp; more than 4" type="denied">tenant rules: "#
        ));
        assert!(xml.contains("&#10;ValidatingAdmissionPolicy &apos;max-replicas&apos; denied</failure>"));
        assert!(xml.contains(
            r#"<skipped message="policy digest (binding palisade-shop.digest): a CEL function kube-cel lacks"/>"#
        ));
        assert!(xml.contains("warning: would violate &quot;restricted&quot;</system-out>"));
        assert_eq!(xml.matches("<failure ").count(), 1);
        assert_eq!(xml.matches("<skipped ").count(), 1);
    }

    #[test]
    fn sarif_has_a_result_per_finding_at_its_line_with_its_level() {
        let log: Value = serde_json::from_str(&sarif(&document())).unwrap();
        assert_eq!(log["version"], "2.1.0");
        assert!(log["$schema"].as_str().unwrap().ends_with("sarif-schema-2.1.0.json"));
        let run = &log["runs"][0];
        assert_eq!(run["tool"]["driver"]["name"], "palisade");
        let rules: Vec<&str> = run["tool"]["driver"]["rules"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap())
            .collect();
        assert_eq!(
            rules,
            [
                "tenant-rules",
                "max-replicas/palisade-shop.max-replicas",
                "labels/palisade-shop.labels",
                "pod-security",
                "digest/palisade-shop.digest"
            ]
        );
        let results: Vec<(&str, &str, u64, &str)> = run["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                let index = r["ruleIndex"].as_u64().unwrap() as usize;
                assert_eq!(
                    r["ruleId"], run["tool"]["driver"]["rules"][index]["id"],
                    "ruleIndex points at ruleId"
                );
                let location = &r["locations"][0]["physicalLocation"];
                assert!(!location["artifactLocation"]["uri"].as_str().unwrap().is_empty());
                (
                    r["ruleId"].as_str().unwrap(),
                    r["level"].as_str().unwrap(),
                    location["region"]["startLine"].as_u64().unwrap(),
                    r["message"]["text"].as_str().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            results,
            [
                ("tenant-rules", "error", 1, "tenant shop: replicas <10> & more than 4"),
                (
                    "max-replicas/palisade-shop.max-replicas",
                    "error",
                    1,
                    "at most 4 replicas"
                ),
                ("labels/palisade-shop.labels", "note", 1, "label missing"),
                ("pod-security", "warning", 30, "would violate \"restricted\""),
                (
                    "digest/palisade-shop.digest",
                    "note",
                    30,
                    "not evaluated: a CEL function kube-cel lacks"
                ),
            ]
        );
        assert_eq!(
            run["results"][0]["locations"][0]["logicalLocations"][0]["fullyQualifiedName"],
            "Deployment shop-apps/web"
        );
    }

    #[test]
    fn a_policy_error_refuses_only_under_fail() {
        let object = |denies: bool| {
            json!({ "origin": "a.yaml:2: document 1", "kind": "Pod", "namespace": "n", "name": "p",
                    "tenantRules": { "verdict": "allow" }, "podSecurity": {},
                    "policies": [ { "policy": "p", "binding": "b", "validationActions": ["Deny"],
                                    "outcome": "configError", "message": "no params", "denies": denies } ] })
        };
        let levels = |denies| findings(&object(denies)).iter().map(|f| f.level).collect::<Vec<_>>();
        assert_eq!(levels(true), [Level::Error]);
        assert_eq!(levels(false), [Level::Note]);
    }

    #[test]
    fn an_empty_document_is_still_a_valid_report() {
        let empty = json!({ "summary": { "checked": 0, "denied": 0, "undecided": 0 }, "objects": [] });
        let xml = junit(&empty);
        assert!(xml.contains(r#"tests="0" failures="0""#));
        assert!(xml.ends_with("</testsuites>\n"));
        let log: Value = serde_json::from_str(&sarif(&empty)).unwrap();
        assert_eq!(log["runs"][0]["results"], json!([]));
        assert_eq!(log["runs"][0]["tool"]["driver"]["rules"], json!([]));
    }
}
