//! From any object to the pod metadata and spec PodSecurity admission would judge: a Pod
//! itself, or the pod template of the workload kinds PSA knows (it warns and audits on those so
//! that a bad template is caught before its controller's pods are refused).

use k8s_openapi::api::core::v1::{
    AppArmorProfile, Container, EphemeralContainer, PodSecurityContext, PodSpec, SecurityContext, Volume,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Deserialize;
use serde_json::Value;

use super::PssError;
use super::profiles::APPARMOR_ANNOTATION_PREFIX;
use super::util::is_windows;

/// Where the pod lives inside an object of a kind PSA checks, as JSON object keys.
fn template_path(group: &str, kind: &str) -> Option<&'static [&'static str]> {
    Some(match (group, kind) {
        ("", "Pod") => &[],
        ("", "PodTemplate") => &["template"],
        ("", "ReplicationController") => &["spec", "template"],
        ("apps", "Deployment" | "ReplicaSet" | "StatefulSet" | "DaemonSet") => &["spec", "template"],
        ("batch", "Job") => &["spec", "template"],
        ("batch", "CronJob") => &["spec", "jobTemplate", "spec", "template"],
        _ => return None,
    })
}

pub(crate) enum Extracted {
    /// Not a kind PodSecurity admission looks at.
    NoPods,
    /// A known kind without its (optional) template, which PSA lets through unchecked.
    NoTemplate,
    Pod(Box<ObjectMeta>, Box<PodSpec>),
}

pub(crate) fn extract(object: &Value) -> Result<Extracted, PssError> {
    let Some(map) = object.as_object() else {
        return Err(PssError::NotAnObject);
    };
    let api_version = map.get("apiVersion").and_then(Value::as_str).unwrap_or_default();
    let kind = map.get("kind").and_then(Value::as_str).unwrap_or_default();
    // "v1" is the core group; "apps/v1" is group "apps".
    let group = api_version.rsplit_once('/').map_or("", |(g, _)| g);
    let Some(path) = template_path(group, kind) else {
        return Ok(Extracted::NoPods);
    };
    let mut at = object;
    let mut field = String::new();
    for key in path {
        push_key(&mut field, key);
        match at.get(key) {
            None | Some(Value::Null) => return Ok(Extracted::NoTemplate),
            Some(v @ Value::Object(_)) => at = v,
            Some(_) => {
                return Err(PssError::Unreadable {
                    field,
                    message: "expected an object".to_owned(),
                });
            }
        }
    }
    let metadata = read(at, &field, "metadata", Shape::Meta, |v| ObjectMeta::deserialize(v))?;
    let mut spec = read(at, &field, "spec", Shape::PodSpec, |v| PodSpec::deserialize(v))?;
    if path.is_empty() {
        as_created(&metadata, &mut spec);
    }
    Ok(Extracted::Pod(Box::new(metadata), Box::new(spec)))
}

/// What the API server does to a new Pod before PodSecurity sees it (pod templates get
/// neither): defaulting gives every port of a host-network pod's containers a hostPort equal to
/// its containerPort, and the pod strategy turns each deprecated AppArmor annotation into the
/// container's field when the field is unset (not on Windows pods). Only the outcomes that
/// change a PodSecurity answer are reproduced: hostPorts, and an `Unconfined` field.
fn as_created(metadata: &ObjectMeta, spec: &mut PodSpec) {
    if spec.host_network == Some(true) {
        let containers = spec
            .containers
            .iter_mut()
            .chain(spec.init_containers.iter_mut().flatten());
        for port in containers.flat_map(|c| c.ports.iter_mut().flatten()) {
            if port.host_port.unwrap_or_default() == 0 {
                port.host_port = Some(port.container_port);
            }
        }
    }
    if is_windows(spec) {
        return;
    }
    let pod_unconfined = spec
        .security_context
        .as_ref()
        .and_then(|s| s.app_armor_profile.as_ref())
        .is_some_and(|p| p.type_ == "Unconfined" && p.localhost_profile.is_none());
    let annotations = metadata.annotations.as_ref();
    let unconfined_by_annotation = |name: &str| {
        annotations
            .and_then(|a| a.get(&format!("{APPARMOR_ANNOTATION_PREFIX}{name}")))
            .is_some_and(|v| v == "unconfined")
    };
    let sync = |name: &str, sc: &mut Option<SecurityContext>| {
        let unset = sc.as_ref().is_none_or(|s| s.app_armor_profile.is_none());
        // The API server copies only a field that differs from the pod's own profile.
        if unset && !pod_unconfined && unconfined_by_annotation(name) {
            sc.get_or_insert_with(SecurityContext::default).app_armor_profile = Some(AppArmorProfile {
                type_: "Unconfined".to_owned(),
                localhost_profile: None,
            });
        }
    };
    for c in spec
        .init_containers
        .iter_mut()
        .flatten()
        .chain(spec.containers.iter_mut())
    {
        sync(&c.name, &mut c.security_context);
    }
    for c in spec.ephemeral_containers.iter_mut().flatten() {
        sync(&c.name, &mut c.security_context);
    }
}

fn read<T: Default>(
    parent: &Value,
    parent_field: &str,
    key: &str,
    shape: Shape,
    de: impl Fn(&Value) -> Result<T, serde_json::Error>,
) -> Result<T, PssError> {
    let mut field = parent_field.to_owned();
    push_key(&mut field, key);
    match parent.get(key) {
        None | Some(Value::Null) => Ok(T::default()),
        Some(v) => de(v).map_err(|e| {
            let (field, e) = locate(shape, v, field, e);
            PssError::Unreadable {
                field,
                message: e.to_string(),
            }
        }),
    }
}

fn push_key(path: &mut String, key: &str) {
    if !path.is_empty() {
        path.push('.');
    }
    path.push_str(key);
}

/// The k8s types we can re-try a part of the object against, to say which field failed
/// (serde_json alone reports only "invalid type", never where).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Shape {
    Meta,
    PodSpec,
    Container,
    EphemeralContainer,
    Volume,
    PodSecurityContext,
    SecurityContext,
    /// Not descended into: the error names this field.
    Leaf,
}

fn try_as(shape: Shape, v: &Value) -> Result<(), serde_json::Error> {
    match shape {
        Shape::Meta => ObjectMeta::deserialize(v).map(drop),
        Shape::PodSpec => PodSpec::deserialize(v).map(drop),
        Shape::Container => Container::deserialize(v).map(drop),
        Shape::EphemeralContainer => EphemeralContainer::deserialize(v).map(drop),
        Shape::Volume => Volume::deserialize(v).map(drop),
        Shape::PodSecurityContext => PodSecurityContext::deserialize(v).map(drop),
        Shape::SecurityContext => SecurityContext::deserialize(v).map(drop),
        Shape::Leaf => Ok(()),
    }
}

fn child(shape: Shape, key: &str) -> Shape {
    match (shape, key) {
        (Shape::PodSpec, "containers" | "initContainers") => Shape::Container,
        (Shape::PodSpec, "ephemeralContainers") => Shape::EphemeralContainer,
        (Shape::PodSpec, "volumes") => Shape::Volume,
        (Shape::PodSpec, "securityContext") => Shape::PodSecurityContext,
        (Shape::Container | Shape::EphemeralContainer, "securityContext") => Shape::SecurityContext,
        _ => Shape::Leaf,
    }
}

/// Narrows a deserialization error of `v` (read as `shape`) down to the deepest field that
/// fails on its own; every k8s field is optional to serde, so one key at a time deserializes.
fn locate(shape: Shape, v: &Value, path: String, err: serde_json::Error) -> (String, serde_json::Error) {
    let Some(map) = v.as_object() else {
        return (path, err);
    };
    for (key, value) in map {
        let single = Value::Object(serde_json::Map::from_iter([(key.clone(), value.clone())]));
        let Err(key_err) = try_as(shape, &single) else {
            continue;
        };
        let mut key_path = path.clone();
        push_key(&mut key_path, key);
        let sub = child(shape, key);
        if sub == Shape::Leaf {
            return (key_path, key_err);
        }
        if let Some(items) = value.as_array() {
            for (i, item) in items.iter().enumerate() {
                if let Err(item_err) = try_as(sub, item) {
                    return locate(sub, item, format!("{key_path}[{i}]"), item_err);
                }
            }
            return (key_path, key_err);
        }
        return locate(sub, value, key_path, key_err);
    }
    (path, err)
}
