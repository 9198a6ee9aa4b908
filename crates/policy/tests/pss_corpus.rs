//! The shared Pod Security corpus (upstream's own v1.37 fixtures): every fixture under
//! `<level>/<pass|fail>/` must be allowed or refused at that level, version latest. A fail
//! fixture is named after the check it trips (`runasnonroot0.yaml`), so the refusal must also
//! come from that check (or, for a restricted fixture, from the check overriding it).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use palisade_policy::pss::{Level, Version, check_ids, check_object};

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpora/pod-security")
}

struct Fixture {
    level: Level,
    pass: bool,
    path: PathBuf,
}

fn fixtures() -> Vec<Fixture> {
    let mut out = Vec::new();
    for level in [Level::Baseline, Level::Restricted] {
        for (verdict, pass) in [("pass", true), ("fail", false)] {
            let dir = corpus_dir().join(level.to_string()).join(verdict);
            let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
            for entry in entries {
                let path = entry.unwrap().path();
                if path.extension().is_some_and(|e| e == "yaml") {
                    out.push(Fixture { level, pass, path });
                }
            }
        }
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out
}

/// The check a fail fixture is about: the file name without its trailing index.
fn named_check(path: &Path) -> String {
    let stem = path.file_stem().unwrap().to_string_lossy();
    stem.trim_end_matches(|c: char| c.is_ascii_digit()).to_owned()
}

#[test]
fn every_fixture_gives_the_expected_verdict_at_latest() {
    let fixtures = fixtures();
    assert!(!fixtures.is_empty(), "no fixtures under {}", corpus_dir().display());
    let mut mismatches = Vec::new();
    for f in &fixtures {
        let text = std::fs::read_to_string(&f.path).unwrap();
        let object: serde_json::Value =
            serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", f.path.display()));
        let forbidden = match check_object(f.level, Version::Latest, &object) {
            Ok(Some(forbidden)) => forbidden,
            Ok(None) => {
                mismatches.push(format!("{}: not read as a pod", f.path.display()));
                continue;
            }
            Err(e) => {
                mismatches.push(format!("{}: {e}", f.path.display()));
                continue;
            }
        };
        let rel = f.path.strip_prefix(corpus_dir()).unwrap_or(&f.path).display();
        if f.pass && !forbidden.is_empty() {
            mismatches.push(format!("{rel}: expected allowed, got {forbidden:?}"));
        } else if !f.pass {
            if forbidden.is_empty() {
                mismatches.push(format!("{rel}: expected forbidden, got allowed"));
                continue;
            }
            // A restricted fixture for a baseline check that restricted overrides is refused by
            // the overriding check; otherwise the named check must be among the reasons.
            let named = named_check(&f.path);
            let runs_named = check_ids(f.level, Version::Latest)
                .iter()
                .any(|id| id.to_lowercase() == named);
            if runs_named && !forbidden.iter().any(|x| x.check.to_lowercase() == named) {
                mismatches.push(format!("{rel}: refused, but not by {named}: {forbidden:?}"));
            }
        }
    }
    println!(
        "pod-security corpus: {}/{} fixtures give the expected verdict",
        fixtures.len() - mismatches.len(),
        fixtures.len()
    );
    assert!(
        mismatches.is_empty(),
        "{} mismatches:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}
