//! JSON objects as the CEL values a policy reads (`object`, `oldObject`, `params`,
//! `namespaceObject`, `request`).
//!
//! Keys are kept as they are in JSON, so `object.metadata.labels['app.kubernetes.io/name']` reads
//! a label the way it does in the API server. Numbers that fit become CEL `int`, as the API
//! server types integer fields; others become `double`.

use std::collections::HashMap;
use std::sync::Arc;

use kube::core::cel::cel::Value as CelValue;
use kube::core::cel::cel::objects::{Key, Map};
use serde_json::{Value, json};

/// `value` as a CEL value.
pub fn to_cel(value: &Value) -> CelValue {
    match value {
        Value::Null => CelValue::Null,
        Value::Bool(b) => CelValue::Bool(*b),
        Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => CelValue::Int(i),
            (None, Some(u)) => CelValue::UInt(u),
            _ => CelValue::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(s) => CelValue::String(Arc::new(s.clone())),
        Value::Array(items) => CelValue::List(Arc::new(items.iter().map(to_cel).collect())),
        Value::Object(fields) => {
            let map: HashMap<Key, CelValue> = fields
                .iter()
                .map(|(key, value)| (Key::String(Arc::new(key.clone())), to_cel(value)))
                .collect();
            CelValue::Map(Map { map: Arc::new(map) })
        }
    }
}

/// `object` as the API server hands it to admission: Go's `omitempty` drops the empty maps
/// and lists of the typed fields, so `labels: {}` in a manifest is no `labels` at all to a
/// policy (`'x' in object.metadata.labels` is then an error, not false). Done for the metadata
/// every kind shares and for the data maps of ConfigMaps and Secrets; custom resources keep
/// their own empty fields, as the API server keeps them.
pub fn as_admitted(object: &mut Value) {
    const METADATA_OMITTED_WHEN_EMPTY: &[&str] = &["labels", "annotations", "finalizers", "ownerReferences"];
    if let Some(metadata) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        metadata.retain(|key, value| !(METADATA_OMITTED_WHEN_EMPTY.contains(&key.as_str()) && is_empty(value)));
    }
    let core_data_kind = object["apiVersion"] == "v1" && (object["kind"] == "ConfigMap" || object["kind"] == "Secret");
    if core_data_kind && let Some(fields) = object.as_object_mut() {
        fields.retain(|key, value| !(["data", "binaryData", "stringData"].contains(&key.as_str()) && is_empty(value)));
    }
}

fn is_empty(value: &Value) -> bool {
    match value {
        Value::Object(map) => map.is_empty(),
        Value::Array(list) => list.is_empty(),
        Value::Null => true,
        _ => false,
    }
}

/// Group, version and kind (or resource) of a request, as in an AdmissionRequest.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupVersion {
    pub group: String,
    pub version: String,
}

/// Who sends a request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserInfo {
    pub username: String,
    pub uid: String,
    pub groups: Vec<String>,
    pub extra: std::collections::BTreeMap<String, Vec<String>>,
}

/// One admission request, as the API server hands it to its admission policies.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Request {
    pub uid: String,
    /// CREATE, UPDATE, DELETE or CONNECT.
    pub operation: String,
    pub group_version: GroupVersion,
    pub kind: String,
    /// The plural resource, e.g. `deployments`.
    pub resource: String,
    /// The subresource (`status`, `scale`, …), empty for the main resource.
    pub sub_resource: String,
    pub name: String,
    /// Empty for a cluster-scoped object.
    pub namespace: String,
    pub user: UserInfo,
    pub dry_run: bool,
    /// The object after the change; `None` for DELETE and CONNECT.
    pub object: Option<Value>,
    /// The object before the change; `None` for CREATE and CONNECT.
    pub old_object: Option<Value>,
    /// CreateOptions, UpdateOptions or DeleteOptions as sent.
    pub options: Option<Value>,
}

impl Request {
    /// The labels of the object (or, on DELETE, of the old object).
    pub fn labels(object: Option<&Value>) -> std::collections::BTreeMap<String, String> {
        object
            .and_then(|object| object["metadata"]["labels"].as_object())
            .map(|labels| {
                labels
                    .iter()
                    .filter_map(|(key, value)| value.as_str().map(|value| (key.clone(), value.to_string())))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The `request` variable.
    pub fn to_cel(&self) -> CelValue {
        let kind =
            json!({ "group": self.group_version.group, "version": self.group_version.version, "kind": self.kind });
        let resource = json!({
            "group": self.group_version.group, "version": self.group_version.version, "resource": self.resource,
        });
        let request = json!({
            "uid": self.uid,
            "kind": kind,
            "resource": resource,
            "subResource": self.sub_resource,
            "requestKind": kind,
            "requestResource": resource,
            "requestSubResource": self.sub_resource,
            "name": self.name,
            "namespace": self.namespace,
            "operation": self.operation,
            "userInfo": {
                "username": self.user.username,
                "uid": self.user.uid,
                "groups": self.user.groups,
                "extra": self.user.extra,
            },
            "dryRun": self.dry_run,
            "options": self.options.clone().unwrap_or(Value::Null),
        });
        to_cel(&request)
    }
}
