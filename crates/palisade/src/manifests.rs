//! Reading Tenant manifests from files, with errors a developer can act on: every problem names
//! the file, the line, the document and the field.

use std::fmt;
use std::path::{Path, PathBuf};

use palisade_api::Tenant;
use palisade_view::{Index as _, NamespaceEntry, TenantDirectory};
use serde_json::Value;

/// A Tenant read from a file, with where it came from.
#[derive(Debug, Clone)]
pub struct LoadedTenant {
    pub tenant: Tenant,
    /// The document as written: what admission policies read as `params`, where the API server
    /// hands them the stored object rather than Palisade's typed reading of it.
    pub manifest: Value,
    pub origin: Origin,
}

/// Where a document starts: file, 1-based document number, 1-based line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub path: PathBuf,
    pub document: usize,
    pub line: usize,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: document {}", self.path.display(), self.line, self.document)
    }
}

/// One problem in the input, printed like a compiler diagnostic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub path: PathBuf,
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub document: Option<usize>,
    /// Dotted path of the field at fault (`spec.owners[0].kind`), when known.
    pub field: Option<String>,
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(column) = self.column {
                write!(f, ":{column}")?;
            }
        }
        if let Some(document) = self.document {
            write!(f, ": document {document}")?;
        }
        if let Some(field) = &self.field {
            write!(f, ": {field}")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// The files behind the given paths: files as given, directories read for `*.yaml`, `*.yml`
/// and `*.json` in name order so output is stable. Like `kubectl apply -f DIR`, a directory's
/// subdirectories are not entered: `examples/` holds Tenants, `examples/policies/` policies.
pub fn collect_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, Diagnostic> {
    let mut files = Vec::new();
    for path in paths {
        collect_into(path, &mut files)?;
    }
    Ok(files)
}

fn collect_into(path: &Path, files: &mut Vec<PathBuf>) -> Result<(), Diagnostic> {
    let io_error = |error: std::io::Error| file_diagnostic(path, format!("cannot read: {error}"));
    let metadata = std::fs::metadata(path).map_err(io_error)?;
    if !metadata.is_dir() {
        files.push(path.to_path_buf());
        return Ok(());
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
        .map_err(io_error)?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .map_err(io_error)?;
    entries.sort();
    for entry in entries {
        let is_manifest = entry
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| matches!(e, "yaml" | "yml" | "json"));
        if is_manifest && !entry.is_dir() {
            files.push(entry);
        }
    }
    Ok(())
}

pub(crate) fn file_diagnostic(path: &Path, message: String) -> Diagnostic {
    Diagnostic {
        path: path.to_path_buf(),
        line: None,
        column: None,
        document: None,
        field: None,
        message,
    }
}

/// A YAML document of a stream: its 1-based number (documents holding only comments or blank
/// lines are not counted), the line it starts on, and its text.
pub(crate) struct RawDocument<'a> {
    pub number: usize,
    pub first_line: usize,
    pub text: &'a str,
}

/// Splits a YAML stream at `---` markers, keeping line numbers so errors point into the file.
impl RawDocument<'_> {
    /// A problem in this document; `line` counts from the document's first line.
    fn diagnostic(
        &self,
        path: &Path,
        line: Option<usize>,
        column: Option<usize>,
        field: Option<String>,
        message: String,
    ) -> Diagnostic {
        Diagnostic {
            path: path.to_path_buf(),
            line: Some(line.map_or(self.first_line, |l| self.first_line + l - 1)),
            column,
            document: Some(self.number),
            field,
            message,
        }
    }

    /// The document as JSON, or where and why it is not valid YAML.
    fn parse(&self, path: &Path) -> Result<Value, Diagnostic> {
        if self.text.trim_start().starts_with('{') {
            // JSON (what `kubectl get -o json` prints): read as JSON, which is faster and says
            // where it is broken in JSON's terms.
            return serde_json::from_str(self.text).map_err(|error| {
                self.diagnostic(
                    path,
                    Some(error.line()),
                    Some(error.column()),
                    None,
                    format!(
                        "not valid JSON: {}",
                        error.to_string().split(" at line ").next().unwrap_or_default()
                    ),
                )
            });
        }
        serde_saphyr::from_str(self.text).map_err(|error| {
            let (line, column) = location(&error);
            self.diagnostic(
                path,
                line,
                column,
                None,
                format!("not valid YAML: {}", first_line_of(&error.to_string())),
            )
        })
    }
}

fn location(error: &serde_saphyr::Error) -> (Option<usize>, Option<usize>) {
    error
        .location()
        .map(|l| (Some(l.line() as usize), Some(l.column() as usize)))
        .unwrap_or((None, None))
}

fn read(path: &Path) -> Result<String, Diagnostic> {
    std::fs::read_to_string(path).map_err(|error| file_diagnostic(path, format!("cannot read: {error}")))
}

pub(crate) fn split_documents(text: &str) -> Vec<RawDocument<'_>> {
    let mut documents = Vec::new();
    let mut start = 0;
    let mut first_line = 1;
    let mut offset = 0;
    for (index, line) in text.split_inclusive('\n').enumerate() {
        let trimmed = line.trim_end();
        if trimmed == "---" || trimmed.starts_with("--- ") || trimmed == "..." {
            documents.push((first_line, &text[start..offset]));
            start = offset + line.len();
            first_line = index + 2;
        }
        offset += line.len();
    }
    documents.push((first_line, &text[start..]));
    documents
        .into_iter()
        .filter(|(_, text)| {
            text.lines()
                .any(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        })
        .enumerate()
        .map(|(i, (first_line, text))| RawDocument {
            number: i + 1,
            first_line,
            text,
        })
        .collect()
}

/// Any Kubernetes object read from a file, with where it came from.
#[derive(Debug, Clone)]
pub struct LoadedObject {
    pub manifest: Value,
    pub origin: Origin,
}

/// Reads every object in `files` (items of `List` documents included). Each must have
/// `apiVersion`, `kind` and `metadata.name`.
pub fn load_objects(files: &[PathBuf]) -> (Vec<LoadedObject>, Vec<Diagnostic>) {
    let mut objects = Vec::new();
    let mut problems = Vec::new();
    for path in files {
        let text = match read(path) {
            Ok(text) => text,
            Err(problem) => {
                problems.push(problem);
                continue;
            }
        };
        for document in split_documents(&text) {
            let value = match document.parse(path) {
                Ok(value) => value,
                Err(problem) => {
                    problems.push(problem);
                    continue;
                }
            };
            let items = match value.get("kind").and_then(Value::as_str) {
                Some("List") => value
                    .get("items")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default(),
                _ => vec![value],
            };
            for item in items {
                let missing = ["apiVersion", "kind"]
                    .into_iter()
                    .find(|field| item.get(*field).and_then(Value::as_str).is_none())
                    .or_else(|| item["metadata"]["name"].as_str().is_none().then_some("metadata.name"));
                if let Some(field) = missing {
                    problems.push(document.diagnostic(path, None, None, None, format!("the object has no `{field}`")));
                    continue;
                }
                let origin = Origin {
                    path: path.to_path_buf(),
                    document: document.number,
                    line: document.first_line,
                };
                objects.push(LoadedObject { manifest: item, origin });
            }
        }
    }
    (objects, problems)
}

/// Reads every Tenant in `files`. Returns the tenants found and every problem met; a caller that
/// gets any problem must not act as if the input were complete.
pub fn load_tenants(files: &[PathBuf]) -> (Vec<LoadedTenant>, Vec<Diagnostic>) {
    let mut tenants = Vec::new();
    let mut problems = Vec::new();
    for path in files {
        let text = match read(path) {
            Ok(text) => text,
            Err(problem) => {
                problems.push(problem);
                continue;
            }
        };
        let documents = split_documents(&text);
        if documents.is_empty() {
            problems.push(file_diagnostic(
                path,
                "the file is empty: expected one or more Tenant manifests".into(),
            ));
            continue;
        }
        for document in documents {
            match parse_tenant(path, &document) {
                Ok(tenant) => tenants.push(tenant),
                Err(problem) => problems.push(problem),
            }
        }
    }
    if tenants.is_empty() && problems.is_empty() {
        let shown = files
            .iter()
            .map(|f| f.display().to_string())
            .collect::<Vec<_>>()
            .join(", ");
        problems.push(file_diagnostic(
            Path::new(if shown.is_empty() { "(no files)" } else { &shown }),
            "no Tenant manifests found".into(),
        ));
    }
    (tenants, problems)
}

fn parse_tenant(path: &Path, document: &RawDocument<'_>) -> Result<LoadedTenant, Diagnostic> {
    let at = |line, column, field, message| document.diagnostic(path, line, column, field, message);
    let value = document.parse(path)?;
    let api_version = value.get("apiVersion").and_then(Value::as_str).unwrap_or_default();
    let kind = value.get("kind").and_then(Value::as_str).unwrap_or_default();
    if kind != "Tenant" || api_version != "palisade.dev/v1alpha1" {
        let what = if kind.is_empty() {
            "a document without `kind`".to_string()
        } else {
            format!("a {api_version} {kind}")
        };
        let hint = if api_version.starts_with("capsule.clastix.io/") {
            " (convert Capsule tenants with `palisade import capsule FILE`)"
        } else {
            ""
        };
        return Err(at(
            None,
            None,
            None,
            format!("this is {what}; expected apiVersion palisade.dev/v1alpha1, kind Tenant{hint}"),
        ));
    }

    // The YAML parser decides (it types scalars from the target type, as Kubernetes does); when
    // it refuses, serde_json's pass over the same document supplies the path of the field at fault.
    match serde_saphyr::from_str::<Tenant>(document.text) {
        Ok(tenant) => {
            let origin = Origin {
                path: path.to_path_buf(),
                document: document.number,
                line: document.first_line,
            };
            Ok(LoadedTenant {
                tenant,
                manifest: value,
                origin,
            })
        }
        Err(yaml_error) => {
            let (line, column) = location(&yaml_error);
            let (field, message) = match serde_path_to_error::deserialize::<_, Tenant>(&value) {
                Err(error) => (Some(error.path().to_string()), error.inner().to_string()),
                Ok(_) => (None, first_line_of(&yaml_error.to_string())),
            };
            Err(at(line, column, field, describe_serde_error(&message)))
        }
    }
}

fn first_line_of(message: &str) -> String {
    let first = message.lines().next().unwrap_or_default();
    let without_label = first.strip_prefix("error: ").unwrap_or(first);
    match without_label
        .strip_prefix("line ")
        .and_then(|rest| rest.split_once(": "))
    {
        Some((position, text)) if position.contains("column") => text.to_string(),
        _ => without_label.to_string(),
    }
}

/// serde's messages, reworded where they would puzzle a reader of a manifest.
fn describe_serde_error(message: &str) -> String {
    if let Some(rest) = message.strip_prefix("unknown field ") {
        return format!("unknown field {rest} (a typo? unknown fields are refused, as by kubectl --validate=strict)");
    }
    message.to_string()
}

/// `kubectl get <resource> --all-namespaces -o json`, as text; `None` when the cluster does not
/// serve that kind (an optional API such as ServiceCIDR or a CNI's CRDs), which callers skip.
pub fn kubectl_get_all(resource: &str) -> anyhow::Result<Option<String>> {
    use anyhow::Context;
    let out = std::process::Command::new("kubectl")
        .args(["get", resource, "--all-namespaces", "-o", "json"])
        .output()
        .context("running kubectl (needed by --cluster); is it installed and on PATH?")?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        if stderr.contains("the server doesn't have a resource type") {
            return Ok(None);
        }
        anyhow::bail!("kubectl get {resource} failed: {}", stderr.trim());
    }
    String::from_utf8(out.stdout)
        .map(Some)
        .context("kubectl printed non-UTF-8 output")
}

/// The tenant directory of Tenants read from files, as the controller's directory would see a
/// cluster holding them: each namespace of a Tenant's status exists, labelled for it, and a
/// namespace its spec lists goes to the oldest Tenant listing it (then the first by name). The
/// controller and `palisade render` so answer the same from the same Tenants.
pub fn directory_of<'a>(tenants: impl IntoIterator<Item = &'a Tenant>) -> TenantDirectory {
    let mut directory = TenantDirectory::default();
    for tenant in tenants {
        let name = tenant.metadata.name.clone().unwrap_or_default();
        for namespace in tenant.status.iter().flat_map(|s| s.namespaces.iter()) {
            directory.apply(NamespaceEntry {
                name: namespace.clone(),
                tenant: Some(name.clone()),
                terminating: false,
            });
        }
        directory.apply(tenant.clone());
    }
    directory
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_keep_their_first_line() {
        let text = "# comment\n---\na: 1\n---\n\n---\nb: 2\nc: 3\n";
        let docs = split_documents(text);
        assert_eq!(docs.len(), 2);
        assert_eq!((docs[0].number, docs[0].first_line), (1, 3));
        assert_eq!((docs[1].number, docs[1].first_line), (2, 7));
        assert_eq!(docs[1].text, "b: 2\nc: 3\n");
    }
}
