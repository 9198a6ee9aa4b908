//! One list out of many: the pages the API server returned for each namespace (or object name)
//! in a user's view, merged into a single well-formed `List` or `Table`, and the continue
//! token that lets a client page through the merge. Pure, so that the shape of what kubectl
//! reads is tested without a cluster.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::status::Refusal;

/// What an empty merge looks like when no page came back to copy from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListShape {
    /// `v1`, `palisade.dev/v1alpha1`.
    pub api_version: String,
    /// `NamespaceList`.
    pub list_kind: String,
    /// The client asked for `as=Table`.
    pub table: bool,
}

/// Where the next page of a merged list starts: the target (namespace or object name) to
/// resume at, the API server's own continue token inside it, and the resourceVersion every
/// page is read at.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContinueToken {
    #[serde(rename = "rv")]
    pub resource_version: String,
    #[serde(rename = "at")]
    pub target: String,
    #[serde(rename = "up", default, skip_serializing_if = "Option::is_none")]
    pub upstream: Option<String>,
}

const TOKEN_PREFIX: &str = "palisade1.";

impl ContinueToken {
    pub fn encode(&self) -> String {
        let json = serde_json::to_vec(self).unwrap_or_default();
        format!("{TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(json))
    }

    pub fn decode(token: &str) -> Result<ContinueToken, Refusal> {
        let invalid =
            || Refusal::bad_request("the continue token is not one this proxy gave out; list again without it");
        let body = token.strip_prefix(TOKEN_PREFIX).ok_or_else(invalid)?;
        let json = URL_SAFE_NO_PAD.decode(body).map_err(|_| invalid())?;
        serde_json::from_slice(&json).map_err(|_| invalid())
    }
}

/// Collects pages into one list.
#[derive(Default)]
pub struct Merger {
    template: Option<Map<String, Value>>,
    entries: Vec<Value>,
    resource_versions: Vec<String>,
}

impl Merger {
    /// Adds one page (a `...List` or a `Table`); returns how many entries it held and its
    /// continue token. A page of neither shape is an upstream failure.
    pub fn add(&mut self, page: Value) -> Result<(usize, Option<String>), Refusal> {
        let Value::Object(mut page) = page else {
            return Err(Refusal::upstream(
                "the API server answered a list with something that is not an object",
            ));
        };
        let key = if page.get("kind").and_then(Value::as_str) == Some("Table") {
            "rows"
        } else {
            "items"
        };
        let entries = match page.remove(key) {
            Some(Value::Array(entries)) => entries,
            Some(Value::Null) | None => Vec::new(),
            Some(_) => {
                return Err(Refusal::upstream(format!(
                    "the API server answered a list whose `{key}` is not an array"
                )));
            }
        };
        let metadata = page.get("metadata");
        let field = |name: &str| {
            metadata
                .and_then(|m| m.get(name))
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
        };
        if let Some(rv) = field("resourceVersion") {
            self.resource_versions.push(rv);
        }
        let next = field("continue");
        let count = entries.len();
        self.entries.extend(entries);
        if self.template.is_none() {
            self.template = Some(page);
        }
        Ok((count, next))
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The resourceVersion of the first page, for reading the others at the same one.
    pub fn first_resource_version(&self) -> Option<&str> {
        self.resource_versions.first().map(String::as_str)
    }

    /// The merged list. `resource_version`, when given, is the one every page was read at;
    /// otherwise the oldest page's: a watch from it may replay an event, never miss one.
    pub fn finish(self, shape: &ListShape, resource_version: Option<String>, next: Option<ContinueToken>) -> Value {
        let resource_version = resource_version
            .or_else(|| oldest(&self.resource_versions))
            .unwrap_or_else(|| "0".to_string());
        let mut list = self.template.unwrap_or_else(|| empty_template(shape));
        let mut metadata = Map::new();
        metadata.insert("resourceVersion".into(), Value::String(resource_version));
        if let Some(next) = next {
            metadata.insert("continue".into(), Value::String(next.encode()));
        }
        list.insert("metadata".into(), Value::Object(metadata));
        let key = if list.get("kind").and_then(Value::as_str) == Some("Table") {
            "rows"
        } else {
            "items"
        };
        list.insert(key.into(), Value::Array(self.entries));
        Value::Object(list)
    }
}

fn empty_template(shape: &ListShape) -> Map<String, Value> {
    let mut list = Map::new();
    if shape.table {
        list.insert("kind".into(), "Table".into());
        list.insert("apiVersion".into(), "meta.k8s.io/v1".into());
        list.insert("columnDefinitions".into(), Value::Array(Vec::new()));
    } else {
        list.insert("kind".into(), shape.list_kind.clone().into());
        list.insert("apiVersion".into(), shape.api_version.clone().into());
    }
    list
}

/// The smallest resourceVersion, compared as numbers when they are (etcd revisions), else the
/// first one seen.
pub fn oldest(versions: &[String]) -> Option<String> {
    let numbers: Option<Vec<u64>> = versions.iter().map(|v| v.parse().ok()).collect();
    match numbers {
        Some(numbers) => numbers.into_iter().min().map(|n| n.to_string()),
        None => versions.first().cloned(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn shape(table: bool) -> ListShape {
        ListShape {
            api_version: "v1".into(),
            list_kind: "PodList".into(),
            table,
        }
    }

    #[test]
    fn lists_concatenate_items_under_one_resource_version() {
        let mut merger = Merger::default();
        let page = |ns: &str, rv: &str| {
            json!({"kind": "PodList", "apiVersion": "v1", "metadata": {"resourceVersion": rv},
                   "items": [{"metadata": {"name": "p", "namespace": ns}}]})
        };
        assert_eq!(merger.add(page("a", "12")).unwrap(), (1, None));
        merger.add(page("b", "9")).unwrap();
        let list = merger.finish(&shape(false), None, None);
        assert_eq!(list["kind"], "PodList");
        assert_eq!(
            list["metadata"],
            json!({"resourceVersion": "9"}),
            "the oldest page's version"
        );
        assert_eq!(list["items"].as_array().unwrap().len(), 2);
    }

    #[test]
    fn tables_concatenate_rows_and_keep_the_columns() {
        let mut merger = Merger::default();
        let table = |name: &str| {
            json!({"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": {"resourceVersion": "5", "continue": "x"},
                   "columnDefinitions": [{"name": "Name"}], "rows": [{"cells": [name]}]})
        };
        assert_eq!(merger.add(table("a")).unwrap(), (1, Some("x".into())));
        merger.add(table("b")).unwrap();
        let next = ContinueToken {
            resource_version: "5".into(),
            target: "c".into(),
            upstream: None,
        };
        let merged = merger.finish(&shape(true), Some("5".into()), Some(next.clone()));
        assert_eq!(merged["columnDefinitions"], json!([{"name": "Name"}]));
        assert_eq!(merged["rows"].as_array().unwrap().len(), 2);
        let token = merged["metadata"]["continue"].as_str().unwrap();
        assert_eq!(ContinueToken::decode(token).unwrap(), next);
    }

    #[test]
    fn an_empty_merge_is_still_well_formed() {
        let list = Merger::default().finish(&shape(false), None, None);
        assert_eq!(
            list,
            json!({"kind": "PodList", "apiVersion": "v1", "metadata": {"resourceVersion": "0"}, "items": []})
        );
        let table = Merger::default().finish(&shape(true), None, None);
        assert_eq!(table["kind"], "Table");
        assert_eq!(table["rows"], json!([]));
    }

    #[test]
    fn foreign_or_broken_continue_tokens_are_refused() {
        for token in ["", "eyJ2IjoxfQ", "palisade1.!!!", "palisade1.e30"] {
            assert_eq!(ContinueToken::decode(token).unwrap_err().code, 400, "{token:?}");
        }
    }

    #[test]
    fn pages_of_the_wrong_shape_are_upstream_failures() {
        let mut merger = Merger::default();
        assert!(merger.add(json!([])).is_err());
        assert!(merger.add(json!({"kind": "PodList", "items": {}})).is_err());
    }

    #[test]
    fn oldest_compares_numbers() {
        assert_eq!(oldest(&["100".into(), "99".into()]), Some("99".into()));
        assert_eq!(oldest(&["b".into(), "a".into()]), Some("b".into()));
        assert_eq!(oldest(&[]), None);
    }
}
