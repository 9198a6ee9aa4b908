//! `palisade import capsule`: the built binary on Capsule fixtures and on bad input.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failure should stop the test loudly

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use palisade_api::Tenant;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../import-capsule/tests/fixtures/capsule")
        .join(name)
}

fn palisade(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_palisade"))
        .args(args)
        .output()
        .expect("run palisade")
}

fn import(files: &[&std::path::Path]) -> Output {
    let mut args = vec!["import", "capsule"];
    let paths: Vec<String> = files.iter().map(|p| p.display().to_string()).collect();
    args.extend(paths.iter().map(String::as_str));
    palisade(&args)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn tenants(stdout: &str) -> Vec<Tenant> {
    stdout
        .split("\n---\n")
        .map(|doc| serde_saphyr::from_str::<Tenant>(doc).unwrap_or_else(|e| panic!("not a Tenant: {e}\n{doc}")))
        .collect()
}

#[test]
fn kitchen_sink_converts_with_gaps_on_stderr() {
    let output = import(&[&fixture("kitchen-sink.yaml")]);
    let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
    assert_eq!(output.status.code(), Some(0), "stderr:\n{stderr}");
    let converted = tenants(&stdout);
    assert_eq!(converted.len(), 1);
    assert_eq!(converted[0].metadata.name.as_deref(), Some("oil"));
    assert!(stdout.starts_with("# Imported from the Capsule Tenant at "), "{stdout}");
    assert!(
        stderr.contains("tenant \"oil\": spec.deviceClasses: dropped: "),
        "{stderr}"
    );
    assert!(
        stderr.contains(
            "tenant \"oil\": spec.ingressOptions.allowedHostnames.allowedRegex: partial: regular expression \
             `^.*\\.oil\\.example\\.com$` converted to `*.oil.example.com`"
        ),
        "{stderr}"
    );
    let summary = stderr.lines().last().unwrap_or_default();
    assert!(
        summary.starts_with("imported 1 tenant from 1 file: 0 invalid, "),
        "{summary}"
    );
    // Most urgent first: every dropped line comes before the first note.
    let kinds: Vec<&str> = stderr.lines().filter_map(|l| l.split(": ").nth(2)).collect();
    let first_note = kinds.iter().position(|k| *k == "note").unwrap_or(kinds.len());
    assert!(kinds[first_note..].iter().all(|k| *k == "note"), "{kinds:?}");
}

#[test]
fn a_kubectl_list_and_stdin_work() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_palisade"))
        .args(["import", "capsule", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run palisade");
    let input = std::fs::read(fixture("list.yaml")).expect("fixture");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(&input)
        .expect("write stdin");
    let output = child.wait_with_output().expect("wait");
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "stderr:\n{stderr}");
    let names: Vec<_> = tenants(&text(&output.stdout))
        .into_iter()
        .filter_map(|t| t.metadata.name)
        .collect();
    assert_eq!(names, vec!["gas", "wind"]);
    assert!(
        stderr.contains("tenant \"wind\": spec.ingressOptions.allowedHostnames.allowedRegex: dropped: "),
        "{stderr}"
    );
    assert!(stderr.contains("imported 2 tenants from 1 file"), "{stderr}");
}

#[test]
fn output_file_receives_the_tenants() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("palisade.yaml");
    let output = palisade(&[
        "import",
        "capsule",
        "--output",
        out.to_str().expect("utf-8 path"),
        fixture("minimal.yaml").to_str().expect("utf-8 path"),
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert!(output.stdout.is_empty());
    let written = std::fs::read_to_string(&out).expect("output file");
    assert_eq!(tenants(&written)[0].metadata.name.as_deref(), Some("solar"));
    assert!(text(&output.stderr).contains(&format!("into {}", out.display())));
}

#[test]
fn a_document_that_is_not_a_capsule_tenant_fails_the_whole_import() {
    let path = fixture("not-a-tenant.yaml");
    let output = import(&[&path]);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        output.stdout.is_empty(),
        "nothing is printed when part of the input is wrong"
    );
    let expected = format!(
        "{}:11: document 2: kind: this is a v1 ConfigMap, not a Capsule Tenant (apiVersion capsule.clastix.io/v1beta2, kind Tenant)",
        path.display()
    );
    assert!(stderr.contains(&expected), "{stderr}");
    assert!(
        stderr.contains("error: 1 problem in the input; nothing was converted"),
        "{stderr}"
    );
}

#[test]
fn other_capsule_versions_are_refused_with_the_command_that_converts_them() {
    let path = fixture("v1beta1.yaml");
    let output = import(&[&path]);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr.contains(&format!(
            "{}:1: document 1: apiVersion: only capsule.clastix.io/v1beta2 Tenants can be imported; found v1beta1: \
             convert with `kubectl get tenants.v1beta2.capsule.clastix.io -o yaml` first",
            path.display()
        )),
        "{stderr}"
    );
}

#[test]
fn empty_unparseable_and_missing_input_fail() {
    let dir = tempfile::tempdir().expect("tempdir");
    let empty = dir.path().join("empty.yaml");
    std::fs::write(&empty, "# nothing here\n\n").expect("write");
    let output = import(&[&empty]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains(&format!(
            "{}: the file is empty: expected one or more Capsule Tenants",
            empty.display()
        )),
        "{stderr}"
    );

    let broken = dir.path().join("broken.yaml");
    std::fs::write(
        &broken,
        "apiVersion: capsule.clastix.io/v1beta2\nkind: Tenant\nspec: [unclosed\n",
    )
    .expect("write");
    let output = import(&[&broken]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains(&format!("{}:", broken.display())) && stderr.contains("not valid YAML"),
        "{stderr}"
    );

    let malformed = dir.path().join("malformed.yaml");
    std::fs::write(
        &malformed,
        "---\napiVersion: capsule.clastix.io/v1beta2\nkind: Tenant\nmetadata:\n  name: x\nspec:\n  owners: alice\n",
    )
    .expect("write");
    let output = import(&[&malformed]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains(&format!(
            "{}:7: document 1: spec.owners: expected a list, found a string",
            malformed.display()
        )),
        "{stderr}"
    );

    let output = import(&[&dir.path().join("missing.yaml")]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        text(&output.stderr).contains("missing.yaml: cannot read"),
        "{}",
        text(&output.stderr)
    );
}

#[test]
fn the_same_tenant_twice_is_refused() {
    let path = fixture("minimal.yaml");
    let output = import(&[&path, &path]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        text(&output.stderr).contains("tenant \"solar\" is also defined at"),
        "{}",
        text(&output.stderr)
    );
}

#[test]
fn existing_namespaces_are_adopted_unless_skipped() {
    let path = fixture("kitchen-sink.yaml");
    let adopted = import(&[&path]);
    assert_eq!(adopted.status.code(), Some(0));
    assert_eq!(
        tenants(&text(&adopted.stdout))[0].spec.namespaces.names,
        vec!["oil-dev", "oil-prod", "oil-test"]
    );
    let skipped = palisade(&[
        "import",
        "capsule",
        "--skip-namespaces",
        path.to_str().expect("utf-8 path"),
    ]);
    assert_eq!(skipped.status.code(), Some(0));
    assert!(tenants(&text(&skipped.stdout))[0].spec.namespaces.names.is_empty());
    assert!(
        text(&skipped.stderr).contains("tenant \"oil\": status.namespaces: dropped: "),
        "{}",
        text(&skipped.stderr)
    );
}

#[test]
fn imported_tenants_pass_palisade_validate() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("imported.yaml");
    let out_arg = out.to_str().expect("utf-8 path");
    let kitchen = fixture("kitchen-sink.yaml");
    let list = fixture("list.yaml");
    let output = palisade(&[
        "import",
        "capsule",
        "-o",
        out_arg,
        kitchen.to_str().expect("utf-8 path"),
        list.to_str().expect("utf-8 path"),
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let validated = palisade(&["validate", "-f", out_arg]);
    assert_eq!(
        validated.status.code(),
        Some(0),
        "{}{}",
        text(&validated.stdout),
        text(&validated.stderr)
    );
}
