//! Reading one Capsule Tenant: the gaps and errors collected so far, and typed readers of JSON
//! values that report a value of the wrong type as an error naming its field.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use serde_json::{Map, Value};

use crate::conversion::{Gap, GapKind, ImportError};

const NOT_A_FIELD: &str = "not a Capsule v1beta2 field as of v0.14; ignored";

/// A one-line rendering of a JSON value for messages.
pub(crate) fn compact(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() > 120 {
        format!("{}…", text.chars().take(117).collect::<String>())
    } else {
        text
    }
}

/// `path.key`, or whichever of the two is not empty.
pub(crate) fn join(path: &str, key: &str) -> String {
    match (path.is_empty(), key.is_empty()) {
        (true, _) => key.to_string(),
        (_, true) => path.to_string(),
        _ => format!("{path}.{key}"),
    }
}

/// What kind of JSON value `value` is, for messages (`a string`, `a list`).
pub(crate) fn describe(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

/// Gaps and errors collected while reading one Tenant, with typed readers that report a value of
/// the wrong type as an error naming its field.
#[derive(Default)]
pub(crate) struct Cx {
    pub(crate) gaps: Vec<Gap>,
    pub(crate) errors: Vec<ImportError>,
    /// Tenant-wide object counts read from Capsule's custom-resource quota annotations.
    pub(crate) counted_resources: BTreeMap<String, Quantity>,
}

impl Cx {
    pub(crate) fn gap(&mut self, field: impl Into<String>, kind: GapKind, message: impl Into<String>) {
        self.gaps.push(Gap {
            field: field.into(),
            kind,
            message: message.into(),
        });
    }

    pub(crate) fn error(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.errors.push(ImportError::ConvertField {
            field: field.into(),
            message: message.into(),
        });
    }

    /// `value` as a mapping (null: none); keys not in `known` are reported as gaps.
    pub(crate) fn object<'v>(
        &mut self,
        value: &'v Value,
        path: &str,
        known: &[&str],
    ) -> Option<&'v Map<String, Value>> {
        match value {
            Value::Null => None,
            Value::Object(map) => {
                for key in map.keys() {
                    if !known.contains(&key.as_str()) {
                        self.gap(join(path, key), GapKind::Dropped, NOT_A_FIELD);
                    }
                }
                Some(map)
            }
            other => {
                self.error(path, format!("expected a mapping, found {}", describe(other)));
                None
            }
        }
    }

    pub(crate) fn string(&mut self, map: &Map<String, Value>, key: &str, path: &str) -> Option<String> {
        match map.get(key)? {
            Value::Null => None,
            Value::String(text) => Some(text.clone()),
            other => {
                self.error(join(path, key), format!("expected a string, found {}", describe(other)));
                None
            }
        }
    }

    pub(crate) fn bool(&mut self, map: &Map<String, Value>, key: &str, path: &str) -> Option<bool> {
        match map.get(key)? {
            Value::Null => None,
            Value::Bool(value) => Some(*value),
            other => {
                self.error(
                    join(path, key),
                    format!("expected true or false, found {}", describe(other)),
                );
                None
            }
        }
    }

    pub(crate) fn array<'v>(&mut self, map: &'v Map<String, Value>, key: &str, path: &str) -> &'v [Value] {
        match map.get(key) {
            None | Some(Value::Null) => &[],
            Some(Value::Array(items)) => items,
            Some(other) => {
                self.error(join(path, key), format!("expected a list, found {}", describe(other)));
                &[]
            }
        }
    }

    pub(crate) fn strings(&mut self, map: &Map<String, Value>, key: &str, path: &str) -> Vec<String> {
        let field = join(path, key);
        let mut result = Vec::new();
        for (i, item) in self.array(map, key, path).iter().enumerate() {
            match item {
                Value::String(text) => result.push(text.clone()),
                other => self.error(
                    format!("{field}[{i}]"),
                    format!("expected a string, found {}", describe(other)),
                ),
            }
        }
        result
    }

    pub(crate) fn string_map(&mut self, map: &Map<String, Value>, key: &str, path: &str) -> BTreeMap<String, String> {
        let field = join(path, key);
        let mut result = BTreeMap::new();
        match map.get(key) {
            None | Some(Value::Null) => {}
            Some(Value::Object(entries)) => {
                for (k, v) in entries {
                    match v {
                        Value::String(text) => {
                            result.insert(k.clone(), text.clone());
                        }
                        other => self.error(
                            format!("{field}[{k}]"),
                            format!("expected a string, found {} (quote it)", describe(other)),
                        ),
                    }
                }
            }
            Some(other) => self.error(field, format!("expected a mapping, found {}", describe(other))),
        }
        result
    }

    /// A map of resource name → quantity; numbers are accepted as Kubernetes does.
    pub(crate) fn quantity_map(
        &mut self,
        map: &Map<String, Value>,
        key: &str,
        path: &str,
    ) -> BTreeMap<String, Quantity> {
        let field = join(path, key);
        let mut result = BTreeMap::new();
        match map.get(key) {
            None | Some(Value::Null) => {}
            Some(Value::Object(entries)) => {
                for (k, v) in entries {
                    match v {
                        Value::String(text) => {
                            result.insert(k.clone(), Quantity(text.clone()));
                        }
                        Value::Number(n) => {
                            result.insert(k.clone(), Quantity(n.to_string()));
                        }
                        other => self.error(
                            format!("{field}[{k}]"),
                            format!("expected a quantity, found {}", describe(other)),
                        ),
                    }
                }
            }
            Some(other) => self.error(field, format!("expected a mapping, found {}", describe(other))),
        }
        result
    }
}
