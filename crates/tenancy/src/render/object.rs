//! The renderer's unit of output: one Kubernetes object as JSON, with its identity pulled out.

use palisade_api::labels;
use serde::Serialize;
use serde_json::{Value, json};

/// One object Palisade manages, complete and ready to apply.
#[derive(Debug, Clone, PartialEq)]
pub struct ManagedObject {
    pub api_version: String,
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
    /// The whole object, `apiVersion` and `kind` included.
    pub manifest: Value,
}

impl ManagedObject {
    /// From a k8s-openapi type whose metadata is already filled in.
    pub(crate) fn from_typed<K>(object: &K) -> Self
    where
        K: k8s_openapi::Resource
            + k8s_openapi::Metadata<Ty = k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta>
            + Serialize,
    {
        let metadata = object.metadata();
        let mut manifest = serde_json::to_value(object).unwrap_or(Value::Null);
        if let Value::Object(map) = &mut manifest {
            map.insert("apiVersion".into(), Value::String(K::API_VERSION.to_string()));
            map.insert("kind".into(), Value::String(K::KIND.to_string()));
        }
        ManagedObject {
            api_version: K::API_VERSION.to_string(),
            kind: K::KIND.to_string(),
            namespace: metadata.namespace.clone(),
            name: metadata.name.clone().unwrap_or_default(),
            manifest,
        }
    }

    /// A custom resource (a mesh or CNI kind) built from its `spec`.
    pub(crate) fn custom(
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
        name: &str,
        tenant: &str,
        spec: Value,
    ) -> Self {
        let mut metadata = json!({ "name": name, "labels": labels::managed_labels(tenant) });
        if let Some(ns) = namespace {
            metadata["namespace"] = Value::String(ns.to_string());
        }
        ManagedObject {
            api_version: api_version.to_string(),
            kind: kind.to_string(),
            namespace: namespace.map(str::to_string),
            name: name.to_string(),
            manifest: json!({ "apiVersion": api_version, "kind": kind, "metadata": metadata, "spec": spec }),
        }
    }

    /// The tenant label of the object.
    pub fn tenant(&self) -> Option<&str> {
        self.manifest["metadata"]["labels"][labels::TENANT].as_str()
    }

    /// `kind namespace/name`, for messages.
    pub fn describe(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{} {ns}/{}", self.kind, self.name),
            None => format!("{} {}", self.kind, self.name),
        }
    }
}

/// An object the tenant should have but that cannot be created here, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub api_version: String,
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
    pub reason: String,
}

impl Skipped {
    pub(crate) fn from_object(object: ManagedObject, reason: impl Into<String>) -> Self {
        Skipped {
            api_version: object.api_version,
            kind: object.kind,
            namespace: object.namespace,
            name: object.name,
            reason: reason.into(),
        }
    }
}
