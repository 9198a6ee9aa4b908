//! `palisade import capsule FILE...`: Capsule Tenants in, Palisade Tenants out.
//!
//! ```text
//!   files / dirs / `-` ──split into YAML documents──▶ serde_json::Value
//!        ──palisade_import_capsule::convert_document_with()──▶ Tenant + gaps
//!   stdout (or --output): the Tenants as one multi-document YAML stream
//!   stderr: every gap, per tenant, then a one-line summary
//! ```
//!
//! All or nothing: if any document cannot be converted (bad YAML, not a Capsule v1beta2 Tenant,
//! a malformed field), every problem is printed with file, line, document and field, nothing is
//! written, and the exit code is non-zero, so `palisade import capsule f.yaml | kubectl apply -f -`
//! never applies half an import. Gaps alone are information: the exit code stays 0.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use palisade_import_capsule::{Conversion, GapKind, Options, convert_document_with};
use serde_json::Value;

use crate::manifests::{Diagnostic, collect_files, file_diagnostic, split_documents};

#[derive(clap::Subcommand)]
pub enum ImportCommand {
    /// Convert Capsule `capsule.clastix.io/v1beta2` Tenants. The Palisade Tenants go to stdout; every
    /// field that did not map exactly is listed on stderr.
    Capsule(CapsuleArgs),
}

#[derive(clap::Args)]
pub struct CapsuleArgs {
    /// Capsule Tenant manifests: files, directories (searched for *.yaml, *.yml, *.json) or `-` for
    /// stdin. The output of `kubectl get tenants.v1beta2.capsule.clastix.io -o yaml` works as is.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Write the converted Tenants to this file instead of stdout.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Do not list the namespaces a Capsule Tenant reports in its status in spec.namespaces.names
    /// (by default they are listed, so that Palisade adopts them).
    #[arg(long)]
    pub skip_namespaces: bool,
}

pub fn run(command: &ImportCommand) -> anyhow::Result<ExitCode> {
    match command {
        ImportCommand::Capsule(args) => run_capsule(args),
    }
}

/// One converted Tenant with where it came from.
struct Converted {
    conversion: Conversion,
    path: PathBuf,
    line: usize,
    document: usize,
}

fn run_capsule(args: &CapsuleArgs) -> anyhow::Result<ExitCode> {
    let mut problems = Vec::new();
    let mut converted = Vec::new();
    let mut files = 0;
    let options = Options {
        adopt_namespaces: !args.skip_namespaces,
    };
    for (path, text) in read_inputs(&args.files, &mut problems) {
        files += 1;
        convert_file(&path, &text, options, &mut converted, &mut problems);
    }
    check_duplicates(&converted, &mut problems);
    if converted.is_empty() && problems.is_empty() {
        anyhow::bail!("no Capsule Tenant found in the given files");
    }
    if !problems.is_empty() {
        for problem in &problems {
            eprintln!("{problem}");
        }
        anyhow::bail!(
            "{} problem{} in the input; nothing was converted",
            problems.len(),
            if problems.len() == 1 { "" } else { "s" }
        );
    }

    let yaml = render_stream(&converted)?;
    match &args.output {
        Some(path) => std::fs::write(path, &yaml).with_context(|| format!("cannot write {}", path.display()))?,
        None => {
            let mut stdout = std::io::stdout().lock();
            stdout.write_all(yaml.as_bytes()).context("cannot write to stdout")?;
            stdout.flush().context("cannot write to stdout")?;
        }
    }
    eprint!("{}", report(&converted, files, args.output.as_deref()));
    Ok(ExitCode::SUCCESS)
}

/// The text of every input, `-` meaning stdin (read once).
fn read_inputs(paths: &[PathBuf], problems: &mut Vec<Diagnostic>) -> Vec<(PathBuf, String)> {
    let mut inputs = Vec::new();
    let mut stdin_read = false;
    for path in paths {
        if path.as_os_str() == "-" {
            if stdin_read {
                continue;
            }
            stdin_read = true;
            let mut text = String::new();
            match std::io::stdin().read_to_string(&mut text) {
                Ok(_) => inputs.push((PathBuf::from("<stdin>"), text)),
                Err(error) => problems.push(file_diagnostic(Path::new("<stdin>"), format!("cannot read: {error}"))),
            }
            continue;
        }
        let files = match collect_files(std::slice::from_ref(path)) {
            Ok(files) => files,
            Err(problem) => {
                problems.push(problem);
                continue;
            }
        };
        if files.is_empty() {
            problems.push(file_diagnostic(
                path,
                "no *.yaml, *.yml or *.json file in this directory".to_string(),
            ));
        }
        for file in files {
            match std::fs::read_to_string(&file) {
                Ok(text) => inputs.push((file, text)),
                Err(error) => problems.push(file_diagnostic(&file, format!("cannot read: {error}"))),
            }
        }
    }
    inputs
}

fn convert_file(
    path: &Path,
    text: &str,
    options: Options,
    converted: &mut Vec<Converted>,
    problems: &mut Vec<Diagnostic>,
) {
    let documents = split_documents(text);
    if documents.is_empty() {
        problems.push(file_diagnostic(
            path,
            "the file is empty: expected one or more Capsule Tenants".to_string(),
        ));
        return;
    }
    for document in documents {
        let at = |line: usize, column: Option<usize>, field: Option<String>, message: String| Diagnostic {
            path: path.to_path_buf(),
            line: Some(line),
            column,
            document: Some(document.number),
            field,
            message,
        };
        let value: Value = match serde_saphyr::from_str(document.text) {
            Ok(value) => value,
            Err(error) => {
                let (line, column) = error
                    .location()
                    .map(|l| (document.first_line + l.line() as usize - 1, Some(l.column() as usize)))
                    .unwrap_or((document.first_line, None));
                let message = error.to_string();
                let message = message.lines().next().unwrap_or_default();
                problems.push(at(line, column, None, format!("not valid YAML: {message}")));
                continue;
            }
        };
        let source = format!(
            "{}:{}: document {}",
            path.display(),
            document.first_line,
            document.number
        );
        match convert_document_with(&value, &source, options) {
            Ok(conversions) => converted.extend(conversions.into_iter().map(|conversion| Converted {
                conversion,
                path: path.to_path_buf(),
                line: document.first_line,
                document: document.number,
            })),
            Err(errors) => problems.extend(errors.into_iter().map(|error| {
                let line = field_line(document.text, error.field())
                    .map_or(document.first_line, |l| document.first_line + l - 1);
                let field = Some(error.field().to_string()).filter(|f| !f.is_empty());
                at(line, None, field, error.message().to_string())
            })),
        }
    }
}

/// Two documents converting to the same Tenant name would overwrite each other when applied.
fn check_duplicates(converted: &[Converted], problems: &mut Vec<Diagnostic>) {
    let mut seen: BTreeMap<String, &Converted> = BTreeMap::new();
    for item in converted {
        let name = tenant_name(&item.conversion);
        if let Some(first) = seen.get(&name) {
            problems.push(Diagnostic {
                path: item.path.clone(),
                line: Some(item.line),
                column: None,
                document: Some(item.document),
                field: Some("metadata.name".to_string()),
                message: format!(
                    "tenant \"{name}\" is also defined at {}; each Tenant may be imported once",
                    first.conversion.source
                ),
            });
        } else {
            seen.insert(name, item);
        }
    }
}

fn tenant_name(conversion: &Conversion) -> String {
    conversion.tenant.metadata.name.clone().unwrap_or_default()
}

fn render_stream(converted: &[Converted]) -> anyhow::Result<String> {
    let mut stream = String::new();
    for (i, item) in converted.iter().enumerate() {
        if i > 0 {
            stream.push_str("---\n");
        }
        let _ = writeln!(
            stream,
            "# Imported from the Capsule Tenant at {} ({} gap{} reported)",
            item.conversion.source,
            item.conversion.gaps.len(),
            if item.conversion.gaps.len() == 1 { "" } else { "s" }
        );
        let yaml = serde_saphyr::to_string(&item.conversion.tenant)
            .with_context(|| format!("cannot write tenant \"{}\" as YAML", tenant_name(&item.conversion)))?;
        stream.push_str(&yaml);
        if !yaml.ends_with('\n') {
            stream.push('\n');
        }
    }
    Ok(stream)
}

/// The gaps of every tenant, most urgent first (invalid, dropped, partial, note), then a summary.
fn report(converted: &[Converted], files: usize, output: Option<&Path>) -> String {
    let mut text = String::new();
    let mut counts: BTreeMap<GapKind, usize> = BTreeMap::new();
    for item in converted {
        let name = tenant_name(&item.conversion);
        let mut gaps: Vec<_> = item.conversion.gaps.iter().collect();
        gaps.sort_by_key(|gap| match gap.kind {
            GapKind::Invalid => 0,
            GapKind::Dropped => 1,
            GapKind::Partial => 2,
            GapKind::Note => 3,
        });
        for gap in gaps {
            *counts.entry(gap.kind).or_default() += 1;
            let _ = writeln!(text, "tenant \"{name}\": {}: {}: {}", gap.field, gap.kind, gap.message);
        }
    }
    let count = |kind: GapKind| counts.get(&kind).copied().unwrap_or_default();
    let destination = output.map(|p| format!(" into {}", p.display())).unwrap_or_default();
    let _ = writeln!(
        text,
        "imported {} tenant{} from {} file{}{destination}: {} invalid, {} dropped, {} partial, {} notes",
        converted.len(),
        if converted.len() == 1 { "" } else { "s" },
        files,
        if files == 1 { "" } else { "s" },
        count(GapKind::Invalid),
        count(GapKind::Dropped),
        count(GapKind::Partial),
        count(GapKind::Note),
    );
    if count(GapKind::Invalid) > 0 {
        let _ = writeln!(
            text,
            "fix the `invalid` lines before applying: those Tenants would be refused"
        );
    }
    text
}

/// One step of a field path: `spec`, `owners`, `[0]`, `labels[team]` → `team`.
#[derive(Debug, PartialEq, Eq)]
enum Segment<'a> {
    Key(&'a str),
    Index(usize),
}

fn segments(field: &str) -> Vec<Segment<'_>> {
    let mut result = Vec::new();
    let mut rest = field;
    while !rest.is_empty() {
        if let Some(inner) = rest.strip_prefix('[') {
            let end = inner.find(']').unwrap_or(inner.len());
            let text = &inner[..end];
            result.push(text.parse().map_or(Segment::Key(text), Segment::Index));
            rest = inner.get(end + 1..).unwrap_or_default();
        } else {
            let end = rest.find(['.', '[']).unwrap_or(rest.len());
            if end > 0 {
                result.push(Segment::Key(&rest[..end]));
            }
            rest = &rest[end..];
        }
        rest = rest.strip_prefix('.').unwrap_or(rest);
    }
    result
}

/// A block-YAML line: indentation of the line, of a `- ` sequence marker if any, and the key it
/// holds (after any markers).
struct Line<'a> {
    number: usize,
    indent: usize,
    dash: Option<usize>,
    key_indent: usize,
    key: Option<&'a str>,
}

fn parse_line(number: usize, raw: &str) -> Line<'_> {
    let indent = raw.len() - raw.trim_start().len();
    let mut rest = raw.trim_start();
    let mut key_indent = indent;
    let mut dash = None;
    while let Some(after) = rest.strip_prefix("- ").or_else(|| (rest == "-").then_some("")) {
        dash.get_or_insert(key_indent);
        let trimmed = after.trim_start();
        key_indent += rest.len() - trimmed.len();
        rest = trimmed;
    }
    let key = rest
        .find(':')
        .filter(|i| rest[i + 1..].is_empty() || rest[i + 1..].starts_with(' '))
        .map(|i| rest[..i].trim().trim_matches(|c| c == '"' || c == '\''))
        .filter(|k| !k.is_empty() && !k.starts_with(['{', '[', '#']));
    Line {
        number,
        indent,
        dash,
        key_indent,
        key,
    }
}

/// The 1-based line of `field` (a dotted path such as `spec.owners[1].kind`) in a block-YAML
/// document: the deepest part of the path that could be found, or `None`.
fn field_line(text: &str, field: &str) -> Option<usize> {
    let lines: Vec<Line<'_>> = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .map(|(i, l)| parse_line(i + 1, l))
        .collect();
    let mut found = None;
    let mut position: Option<usize> = None;
    let mut parent: isize = -1;
    for segment in segments(field) {
        let start = position.map_or(0, |p| p + 1);
        let hit = match segment {
            Segment::Key(key) => {
                let mut hit = None;
                // The key may sit on the line of the sequence item just found (`- kind: User`).
                let from = match position {
                    Some(p) if lines[p].dash.is_some_and(|d| d as isize == parent) => p,
                    _ => start,
                };
                for (j, line) in lines.iter().enumerate().skip(from) {
                    if j > from && line.indent as isize <= parent && line.dash.is_none_or(|d| d as isize != parent) {
                        break;
                    }
                    if j > from && line.dash.is_some_and(|d| d as isize == parent) {
                        break;
                    }
                    if line.key == Some(key) && line.key_indent as isize > parent {
                        hit = Some((j, line.key_indent as isize));
                        break;
                    }
                }
                hit
            }
            Segment::Index(index) => {
                let mut seen = 0;
                let mut marker = None;
                let mut hit = None;
                for (j, line) in lines.iter().enumerate().skip(start) {
                    match (line.dash, marker) {
                        (Some(d), None) if d as isize >= parent => marker = Some(d),
                        (Some(d), Some(m)) if d == m => {}
                        _ if (line.indent as isize) <= parent || marker.is_some_and(|m| line.indent < m) => break,
                        _ => continue,
                    }
                    if seen == index {
                        hit = Some((j, marker.map_or(parent, |m| m as isize)));
                        break;
                    }
                    seen += 1;
                }
                hit
            }
        };
        let Some((j, indent)) = hit else { break };
        found = Some(lines[j].number);
        position = Some(j);
        parent = indent;
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_found_on_their_line() {
        let text = "apiVersion: x\nmetadata:\n  name: t\n  labels:\n    a.b/c: d\nspec:\n  owners:\n  - kind: User\n    name: alice\n  - kind: Group\n    name: devs\n    clusterRoles: [admin]\n  nodeSelector:\n    gpu: true\n  items:\n    - - nested\n";
        let cases = [
            ("spec", Some(6)),
            ("spec.owners", Some(7)),
            ("spec.owners[0]", Some(8)),
            ("spec.owners[1].kind", Some(10)),
            ("spec.owners[1].clusterRoles", Some(12)),
            ("spec.owners[1].clusterRoles[0]", Some(12)),
            ("spec.owners[2]", Some(7)),
            ("spec.nodeSelector[gpu]", Some(14)),
            ("metadata.labels[a.b/c]", Some(5)),
            ("metadata.name", Some(3)),
            ("spec.missing", Some(6)),
            ("status", None),
        ];
        for (field, line) in cases {
            assert_eq!(field_line(text, field), line, "{field}");
        }
    }

    #[test]
    fn documents_are_numbered_without_empty_ones() {
        let docs = split_documents("# header\n---\na: 1\n---\n# only a comment\n---\nb: 2\n");
        let found: Vec<(usize, usize)> = docs.iter().map(|d| (d.number, d.first_line)).collect();
        assert_eq!(found, vec![(1, 3), (2, 7)]);
    }
}
