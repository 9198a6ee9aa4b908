//! Conformance: every netpol-analyzer case under `$PALISADE_CORPORA/netpol-analyzer/cases/`
//! (default `<workspace>/../shared/corpora`) must produce exactly its `expected.txt`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failure should stop the test loudly

use palisade_reach::Options;
use palisade_reach::parse::ClusterBuilder;
use palisade_reach::report::connlist_report;
use std::collections::BTreeSet;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

/// Cases that cannot pass yet, each with the reason. They still run; a listed case that starts
/// passing fails the test so the list stays honest.
const EXCEPTIONS: &[(&str, &str)] = &[];

fn corpora() -> PathBuf {
    match std::env::var_os("PALISADE_CORPORA") {
        Some(p) => PathBuf::from(p),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpora"),
    }
}

fn input_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            input_files(&p, out);
        } else if matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml" | "json")) {
            out.push(p);
        }
    }
}

/// Runs one case: `Ok(())` when the output matches, else the reason (with a diff).
fn run_case(case: &Path) -> Result<(), String> {
    let mut files = Vec::new();
    input_files(&case.join("input"), &mut files);
    let mut builder = ClusterBuilder::new();
    for f in &files {
        let text = fs::read_to_string(f).map_err(|e| format!("{}: {e}", f.display()))?;
        let name = f.strip_prefix(case).unwrap_or(f).display().to_string();
        builder.add_text(&name, &text).map_err(|e| format!("error: {e}"))?;
    }
    let cluster = builder.build();
    let got = connlist_report(&cluster, Options::default());
    let expected = fs::read_to_string(case.join("expected.txt")).map_err(|e| e.to_string())?;
    let norm = |s: &str| -> Vec<String> {
        s.lines()
            .map(|l| l.trim_end().to_string())
            .filter(|l| !l.is_empty())
            .collect()
    };
    let (g, e) = (norm(&got), norm(&expected));
    if g == e {
        return Ok(());
    }
    let gs: BTreeSet<&String> = g.iter().collect();
    let es: BTreeSet<&String> = e.iter().collect();
    let mut diff = String::new();
    for l in e.iter().filter(|l| !gs.contains(l)) {
        diff.push_str(&format!("    - {l}\n"));
    }
    for l in g.iter().filter(|l| !es.contains(l)) {
        diff.push_str(&format!("    + {l}\n"));
    }
    if diff.is_empty() {
        diff.push_str("    (same lines, different order)\n");
    }
    Err(format!("output differs (- expected, + got):\n{diff}"))
}

/// Prints past the test harness's output capture, so the summary shows on every run.
fn report(line: &str) {
    let _ = writeln!(std::io::stderr(), "{line}");
}

#[test]
fn netpol_analyzer_corpus() {
    let root = corpora().join("netpol-analyzer/cases");
    if !root.is_dir() {
        report(&format!(
            "SKIPPED: netpol-analyzer corpus not found at {} (set PALISADE_CORPORA)",
            root.display()
        ));
        return;
    }
    let mut cases: Vec<PathBuf> = fs::read_dir(&root)
        .expect("corpus directory is readable")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("expected.txt").is_file())
        .collect();
    cases.sort();
    let only = std::env::var("CORPUS_CASE").ok();
    let mut passed = 0;
    let mut failures = Vec::new();
    let mut excepted = Vec::new();
    let mut stale = Vec::new();
    for case in &cases {
        let name = case.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if only.as_deref().is_some_and(|o| o != name) {
            continue;
        }
        let exception = EXCEPTIONS.iter().find(|(n, _)| *n == name);
        match (run_case(case), exception) {
            (Ok(()), None) => passed += 1,
            (Ok(()), Some(_)) => {
                passed += 1;
                stale.push(name.to_string());
            }
            (Err(e), None) => failures.push(format!("FAIL {name}: {e}")),
            (Err(_), Some((_, reason))) => excepted.push(format!("EXCEPTED {name}: {reason}")),
        }
    }
    let total = if only.is_some() { 1 } else { cases.len() };
    for f in &failures {
        report(f);
    }
    for x in &excepted {
        report(x);
    }
    report(&format!(
        "netpol-analyzer corpus: {passed} of {total} cases passed ({} excepted with a reason, {} failed)",
        excepted.len(),
        failures.len()
    ));
    assert!(
        stale.is_empty(),
        "listed as exceptions but now passing (remove them from EXCEPTIONS): {stale:?}"
    );
    assert!(
        failures.is_empty(),
        "{} corpus case(s) failed: {:?}",
        failures.len(),
        failures
            .iter()
            .map(|f| f.lines().next().unwrap_or_default())
            .collect::<Vec<_>>()
    );
}
