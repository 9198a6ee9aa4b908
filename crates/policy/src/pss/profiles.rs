//! Checks on the kernel security profiles a pod runs under: AppArmor, seccomp, SELinux. Each
//! can be set on the pod and on every container, and AppArmor and (before v1.19) seccomp also
//! through annotations.

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::{PodSpec, SELinuxOptions};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::Violation;
use super::util::{containers, containers_phrase, go_quote, is_windows, join_quote, pluralize};

pub(crate) const APPARMOR_ANNOTATION_PREFIX: &str = "container.apparmor.security.beta.kubernetes.io/";
const SECCOMP_POD_ANNOTATION: &str = "seccomp.security.alpha.kubernetes.io/pod";
const SECCOMP_CONTAINER_ANNOTATION_PREFIX: &str = "container.seccomp.security.alpha.kubernetes.io/";

fn apparmor_type_allowed(t: &str) -> bool {
    matches!(t, "RuntimeDefault" | "Localhost")
}

fn apparmor_annotation_allowed(v: &str) -> bool {
    v.is_empty() || v == "runtime/default" || v.starts_with("localhost/")
}

pub(crate) fn app_armor_profile(meta: &ObjectMeta, spec: &PodSpec) -> Option<Violation> {
    let mut setters = Vec::new();
    let mut values = BTreeSet::new();
    if let Some(profile) = spec
        .security_context
        .as_ref()
        .and_then(|s| s.app_armor_profile.as_ref())
        && !apparmor_type_allowed(&profile.type_)
    {
        setters.push("pod".to_owned());
        values.insert(profile.type_.clone());
    }
    let mut bad = Vec::new();
    for c in containers(spec) {
        if let Some(profile) = c.security_context.and_then(|s| s.app_armor_profile.as_ref())
            && !apparmor_type_allowed(&profile.type_)
        {
            bad.push(c.name);
            values.insert(profile.type_.clone());
        }
    }
    if !bad.is_empty() {
        setters.push(containers_phrase(&bad));
    }
    // The field values come first (sorted), then the annotations (sorted among themselves).
    let mut values: Vec<String> = values.into_iter().collect();
    let mut annotations: Vec<String> = meta
        .annotations
        .iter()
        .flatten()
        .filter(|(k, v)| k.starts_with(APPARMOR_ANNOTATION_PREFIX) && !apparmor_annotation_allowed(v))
        .map(|(k, v)| format!("{k}={}", go_quote(v)))
        .collect();
    if !annotations.is_empty() {
        annotations.sort();
        setters.push(pluralize("annotation", "annotations", annotations.len()).to_owned());
        values.extend(annotations);
    }
    (!setters.is_empty()).then(|| {
        Violation::new(
            pluralize(
                "forbidden AppArmor profile",
                "forbidden AppArmor profiles",
                values.len(),
            ),
            format!(
                "{} must not set AppArmor profile type to {}",
                setters.join(" and "),
                join_quote(&values)
            ),
        )
    })
}

fn seccomp_annotation_allowed(v: &str) -> bool {
    v == "runtime/default" || v == "docker/default" || v.starts_with("localhost/")
}

fn seccomp_type_allowed(t: &str) -> bool {
    matches!(t, "RuntimeDefault" | "Localhost")
}

/// v1.0 to v1.18: seccomp was only the alpha annotations, on the pod and per container name.
pub(crate) fn seccomp_baseline_1_0(meta: &ObjectMeta, spec: &PodSpec) -> Option<Violation> {
    let annotations = meta.annotations.as_ref();
    let mut forbidden = BTreeSet::new();
    let mut judge = |key: String| {
        if let Some(v) = annotations.and_then(|a| a.get(&key))
            && !seccomp_annotation_allowed(v)
        {
            forbidden.insert(format!("{key}={}", go_quote(v)));
        }
    };
    judge(SECCOMP_POD_ANNOTATION.to_owned());
    for c in containers(spec) {
        judge(format!("{SECCOMP_CONTAINER_ANNOTATION_PREFIX}{}", c.name));
    }
    (!forbidden.is_empty()).then(|| {
        let forbidden: Vec<String> = forbidden.into_iter().collect();
        Violation::new(
            "seccompProfile",
            format!(
                "forbidden {} {}",
                pluralize("annotation", "annotations", forbidden.len()),
                forbidden.join(", ")
            ),
        )
    })
}

/// Who explicitly set `seccompProfile.type` to something other than RuntimeDefault/Localhost,
/// and to what; shared by baseline (v1.19+) and restricted.
struct SeccompFindings<'a> {
    setters: Vec<String>,
    values: BTreeSet<&'a str>,
    pod_profile_valid: bool,
    /// Containers with no profile of their own.
    unset: Vec<&'a str>,
}

fn seccomp_findings(spec: &PodSpec) -> SeccompFindings<'_> {
    let mut f = SeccompFindings {
        setters: Vec::new(),
        values: BTreeSet::new(),
        pod_profile_valid: false,
        unset: Vec::new(),
    };
    if let Some(profile) = spec.security_context.as_ref().and_then(|s| s.seccomp_profile.as_ref()) {
        if seccomp_type_allowed(&profile.type_) {
            f.pod_profile_valid = true;
        } else {
            f.setters.push("pod".to_owned());
            f.values.insert(&profile.type_);
        }
    }
    let mut bad = Vec::new();
    for c in containers(spec) {
        match c.security_context.and_then(|s| s.seccomp_profile.as_ref()) {
            Some(profile) if !seccomp_type_allowed(&profile.type_) => {
                bad.push(c.name);
                f.values.insert(&profile.type_);
            }
            Some(_) => {}
            None => f.unset.push(c.name),
        }
    }
    if !bad.is_empty() {
        f.setters.push(containers_phrase(&bad));
    }
    f
}

fn explicit_seccomp_violation(f: &SeccompFindings<'_>) -> Option<Violation> {
    (!f.setters.is_empty()).then(|| {
        let values: Vec<&str> = f.values.iter().copied().collect();
        Violation::new(
            "seccompProfile",
            format!(
                "{} must not set securityContext.seccompProfile.type to {}",
                f.setters.join(" and "),
                join_quote(&values)
            ),
        )
    })
}

/// v1.19+: the fields replaced the annotations; Unconfined is what baseline forbids.
pub(crate) fn seccomp_baseline_1_19(_: &ObjectMeta, spec: &PodSpec) -> Option<Violation> {
    explicit_seccomp_violation(&seccomp_findings(spec))
}

/// v1.19 to v1.24: a valid profile must also be set, on the pod or on every container.
pub(crate) fn seccomp_restricted_1_19(_: &ObjectMeta, spec: &PodSpec) -> Option<Violation> {
    let f = seccomp_findings(spec);
    if let Some(v) = explicit_seccomp_violation(&f) {
        return Some(v);
    }
    (!f.pod_profile_valid && !f.unset.is_empty()).then(|| {
        Violation::new(
            "seccompProfile",
            format!(
                "pod or {} must set securityContext.seccompProfile.type to \"RuntimeDefault\" or \"Localhost\"",
                containers_phrase(&f.unset)
            ),
        )
    })
}

/// v1.25+: Windows pods cannot set seccomp, so they are exempt.
pub(crate) fn seccomp_restricted_1_25(meta: &ObjectMeta, spec: &PodSpec) -> Option<Violation> {
    if is_windows(spec) {
        return None;
    }
    seccomp_restricted_1_19(meta, spec)
}

const SELINUX_TYPES_1_0: &[&str] = &["", "container_t", "container_init_t", "container_kvm_t"];
/// v1.31 admits the type that container engines running inside pods (e.g. podman) need.
const SELINUX_TYPES_1_31: &[&str] = &[
    "",
    "container_t",
    "container_init_t",
    "container_kvm_t",
    "container_engine_t",
];

pub(crate) fn se_linux_options_1_0(_: &ObjectMeta, spec: &PodSpec) -> Option<Violation> {
    se_linux_options(spec, SELINUX_TYPES_1_0)
}

pub(crate) fn se_linux_options_1_31(_: &ObjectMeta, spec: &PodSpec) -> Option<Violation> {
    se_linux_options(spec, SELINUX_TYPES_1_31)
}

fn se_linux_options(spec: &PodSpec, allowed_types: &[&str]) -> Option<Violation> {
    let mut types = BTreeSet::new();
    let mut user_set = false;
    let mut role_set = false;
    // Every aspect is judged (not short-circuited) so the detail lists all of them.
    let mut valid = |opts: &SELinuxOptions| {
        let mut ok = true;
        let t = opts.type_.as_deref().unwrap_or_default();
        if !allowed_types.contains(&t) {
            ok = false;
            types.insert(t.to_owned());
        }
        if opts.user.as_deref().is_some_and(|u| !u.is_empty()) {
            ok = false;
            user_set = true;
        }
        if opts.role.as_deref().is_some_and(|r| !r.is_empty()) {
            ok = false;
            role_set = true;
        }
        ok
    };
    let mut setters = Vec::new();
    if let Some(opts) = spec.security_context.as_ref().and_then(|s| s.se_linux_options.as_ref())
        && !valid(opts)
    {
        setters.push("pod".to_owned());
    }
    let mut bad = Vec::new();
    for c in containers(spec) {
        if let Some(opts) = c.security_context.and_then(|s| s.se_linux_options.as_ref())
            && !valid(opts)
        {
            bad.push(c.name);
        }
    }
    if !bad.is_empty() {
        setters.push(containers_phrase(&bad));
    }
    if setters.is_empty() {
        return None;
    }
    let mut what = Vec::new();
    if !types.is_empty() {
        let types: Vec<String> = types.into_iter().collect();
        what.push(format!(
            "{} {}",
            pluralize("type", "types", types.len()),
            join_quote(&types)
        ));
    }
    if user_set {
        what.push("user may not be set".to_owned());
    }
    if role_set {
        what.push("role may not be set".to_owned());
    }
    Some(Violation::new(
        "seLinuxOptions",
        format!(
            "{} set forbidden securityContext.seLinuxOptions: {}",
            setters.join(" and "),
            what.join("; ")
        ),
    ))
}
