//! The Pod Security Standards (baseline and restricted), every check, versioned, deciding and
//! wording exactly as the API server's PodSecurity admission (k8s.io/pod-security-admission,
//! v1.37) does, so that `palisade check`, the controller's audit and a live cluster agree.
//!
//! Why versioned: a namespace may pin `pod-security.kubernetes.io/enforce-version: v1.N`, and
//! the standard has changed over time (restricted capabilities from v1.22, runAsUser from v1.23,
//! Windows exemptions from v1.25, probe hosts from v1.34, user-namespace relaxations from v1.35,
//! a growing sysctl list...). So each check is a list of revisions, each with the first minor
//! version it governs; a version picks, per check, the newest revision not newer than itself.
//!
//! How the set of checks is assembled for (level, version), as upstream does:
//! - privileged checks nothing;
//! - baseline runs the baseline checks; restricted runs the restricted checks plus every baseline
//!   check that no applicable restricted revision overrides (restrictedVolumes replaces
//!   hostPathVolumes, capabilities_restricted replaces capabilities_baseline from v1.22, ...);
//! - checks run baseline first, then restricted, each group in byte order of check ID, which is
//!   the order of the reasons in the API server's message;
//! - versions newer than the newest revision (and `latest`) evaluate as that newest version.
//!
//! Module map: `host` (host namespaces, ports, paths, probe hosts, Windows host process),
//! `privilege` (privileged, escalation, capabilities, procMount), `profiles` (AppArmor,
//! seccomp, SELinux), `identity` (runAsNonRoot, runAsUser), `volumes`, `sysctls`, `object`
//! (finding the pod inside a workload, and what the API server does to a new Pod first).

mod host;
mod identity;
mod object;
mod privilege;
mod profiles;
mod sysctls;
mod util;
mod volumes;

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use k8s_openapi::api::core::v1::PodSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

/// A Pod Security Standards level, least to most strict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    Privileged,
    Baseline,
    Restricted,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Privileged => "privileged",
            Level::Baseline => "baseline",
            Level::Restricted => "restricted",
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Level {
    type Err = PssError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "privileged" => Ok(Level::Privileged),
            "baseline" => Ok(Level::Baseline),
            "restricted" => Ok(Level::Restricted),
            _ => Err(PssError::InvalidLevel(s.to_owned())),
        }
    }
}

/// A policy version as a namespace label gives it: `latest` or `v1.N` (`Minor(N)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Version {
    Latest,
    Minor(u32),
}

impl Version {
    /// The minor version whose checks this version runs: a version newer than the standard's
    /// last change, and `latest`, run the newest checks.
    pub fn effective_minor(self) -> u32 {
        match self {
            Version::Latest => NEWEST_MINOR,
            Version::Minor(n) => n.min(NEWEST_MINOR),
        }
    }
}

/// The last Kubernetes minor version in which a check changed.
pub const NEWEST_MINOR: u32 = 37;

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (Version::Latest, Version::Latest) => Ordering::Equal,
            (Version::Latest, Version::Minor(_)) => Ordering::Greater,
            (Version::Minor(_), Version::Latest) => Ordering::Less,
            (Version::Minor(a), Version::Minor(b)) => a.cmp(b),
        }
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Version::Latest => f.write_str("latest"),
            Version::Minor(n) => write!(f, "v1.{n}"),
        }
    }
}

impl FromStr for Version {
    type Err = PssError;

    /// Exactly what the API server accepts in `*-version` labels: `latest`, or `v1.` followed
    /// by a decimal without leading zeros.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s == "latest" {
            return Ok(Version::Latest);
        }
        let invalid = || PssError::InvalidVersion(s.to_owned());
        let digits = s.strip_prefix("v1.").ok_or_else(invalid)?;
        let well_formed = !digits.is_empty()
            && digits.bytes().all(|b| b.is_ascii_digit())
            && (digits == "0" || !digits.starts_with('0'));
        if !well_formed {
            return Err(invalid());
        }
        digits.parse().map(Version::Minor).map_err(|_| invalid())
    }
}

/// One failed check, as PodSecurity admission aggregates them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forbidden {
    /// The upstream check ID, e.g. `allowPrivilegeEscalation`.
    pub check: &'static str,
    /// The short reason, e.g. `allowPrivilegeEscalation != false`.
    pub reason: String,
    /// What exactly is wrong, e.g. `container "c" must set ...`; may be empty.
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PssError {
    #[error("invalid Pod Security level {0:?}: must be one of privileged, baseline, restricted")]
    InvalidLevel(String),
    #[error("invalid Pod Security version {0:?}: must be \"latest\" or \"v1.x\"")]
    InvalidVersion(String),
    #[error("the object is not a JSON object")]
    NotAnObject,
    #[error("{field}: {message}")]
    Unreadable { field: String, message: String },
}

/// A failed check's own words, before the registry names the check.
pub(crate) struct Violation {
    reason: String,
    detail: String,
}

impl Violation {
    fn new(reason: impl Into<String>, detail: impl Into<String>) -> Self {
        Violation {
            reason: reason.into(),
            detail: detail.into(),
        }
    }
}

type CheckFn = fn(&ObjectMeta, &PodSpec) -> Option<Violation>;

struct Revision {
    /// First minor version (of v1) this revision governs.
    since: u32,
    eval: CheckFn,
    /// Baseline checks this (restricted) revision replaces at restricted level.
    overrides: &'static [&'static str],
}

struct Check {
    id: &'static str,
    level: Level,
    /// Ascending by `since`.
    revisions: &'static [Revision],
}

impl Check {
    fn at(&self, minor: u32) -> Option<&Revision> {
        self.revisions.iter().rev().find(|r| r.since <= minor)
    }
}

const fn rev(since: u32, eval: CheckFn) -> Revision {
    Revision {
        since,
        eval,
        overrides: &[],
    }
}

const fn rev_over(since: u32, eval: CheckFn, overrides: &'static [&'static str]) -> Revision {
    Revision { since, eval, overrides }
}

/// Every check, in evaluation order: baseline then restricted, each sorted by ID bytes
/// (upper case before lower, so `seLinuxOptions` precedes `seccompProfile_baseline`).
static CHECKS: &[Check] = &[
    Check {
        id: "appArmorProfile",
        level: Level::Baseline,
        revisions: &[rev(0, profiles::app_armor_profile)],
    },
    Check {
        id: "capabilities_baseline",
        level: Level::Baseline,
        revisions: &[rev(0, privilege::capabilities_baseline)],
    },
    Check {
        id: "hostNamespaces",
        level: Level::Baseline,
        revisions: &[rev(0, host::host_namespaces)],
    },
    Check {
        id: "hostPathVolumes",
        level: Level::Baseline,
        revisions: &[rev(0, host::host_path_volumes)],
    },
    Check {
        id: "hostPorts",
        level: Level::Baseline,
        revisions: &[rev(0, host::host_ports)],
    },
    Check {
        id: "hostProbesAndHostLifecycle",
        level: Level::Baseline,
        revisions: &[rev(34, host::host_probes_and_host_lifecycle)],
    },
    Check {
        id: "privileged",
        level: Level::Baseline,
        revisions: &[rev(0, privilege::privileged)],
    },
    Check {
        id: "procMount",
        level: Level::Baseline,
        revisions: &[
            rev(0, privilege::proc_mount_1_0),
            rev(35, privilege::proc_mount_1_35_baseline),
        ],
    },
    Check {
        id: "seLinuxOptions",
        level: Level::Baseline,
        revisions: &[
            rev(0, profiles::se_linux_options_1_0),
            rev(31, profiles::se_linux_options_1_31),
        ],
    },
    Check {
        id: "seccompProfile_baseline",
        level: Level::Baseline,
        revisions: &[
            rev(0, profiles::seccomp_baseline_1_0),
            rev(19, profiles::seccomp_baseline_1_19),
        ],
    },
    Check {
        id: "sysctls",
        level: Level::Baseline,
        revisions: &[
            rev(0, sysctls::sysctls_1_0),
            rev(27, sysctls::sysctls_1_27),
            rev(29, sysctls::sysctls_1_29),
            rev(32, sysctls::sysctls_1_32),
            rev(37, sysctls::sysctls_1_37),
        ],
    },
    Check {
        id: "windowsHostProcess",
        level: Level::Baseline,
        revisions: &[rev(0, host::windows_host_process)],
    },
    Check {
        id: "allowPrivilegeEscalation",
        level: Level::Restricted,
        revisions: &[
            // The field exists from v1.8.
            rev(8, privilege::allow_privilege_escalation_1_8),
            rev(25, privilege::allow_privilege_escalation_1_25),
        ],
    },
    Check {
        id: "capabilities_restricted",
        level: Level::Restricted,
        revisions: &[
            rev_over(22, privilege::capabilities_restricted_1_22, &["capabilities_baseline"]),
            rev_over(25, privilege::capabilities_restricted_1_25, &["capabilities_baseline"]),
        ],
    },
    Check {
        id: "procMount_restricted",
        level: Level::Restricted,
        // Restricted keeps the unconditional form when baseline relaxes for user namespaces.
        revisions: &[rev_over(35, privilege::proc_mount_1_0, &["procMount"])],
    },
    Check {
        id: "restrictedVolumes",
        level: Level::Restricted,
        revisions: &[rev_over(0, volumes::restricted_volumes, &["hostPathVolumes"])],
    },
    Check {
        id: "runAsNonRoot",
        level: Level::Restricted,
        revisions: &[
            rev(0, identity::run_as_non_root_1_0),
            rev(35, identity::run_as_non_root_1_35),
        ],
    },
    Check {
        id: "runAsUser",
        level: Level::Restricted,
        revisions: &[rev(23, identity::run_as_user_1_23), rev(35, identity::run_as_user_1_35)],
    },
    Check {
        id: "seccompProfile_restricted",
        level: Level::Restricted,
        revisions: &[
            rev_over(19, profiles::seccomp_restricted_1_19, &["seccompProfile_baseline"]),
            rev_over(25, profiles::seccomp_restricted_1_25, &["seccompProfile_baseline"]),
        ],
    },
];

/// The checks (with the revision each runs) for a level and version, in evaluation order.
fn applicable(level: Level, version: Version) -> Vec<(&'static Check, &'static Revision)> {
    if level == Level::Privileged {
        return Vec::new();
    }
    let minor = version.effective_minor();
    let active: Vec<(&Check, &Revision)> = CHECKS
        .iter()
        .filter(|c| c.level <= level)
        .filter_map(|c| c.at(minor).map(|r| (c, r)))
        .collect();
    let overridden: Vec<&str> = active.iter().flat_map(|(_, r)| r.overrides.iter().copied()).collect();
    active
        .into_iter()
        .filter(|(c, _)| !overridden.contains(&c.id))
        .collect()
}

/// The IDs of the checks a level and version run, in the order they report.
pub fn check_ids(level: Level, version: Version) -> Vec<&'static str> {
    applicable(level, version).into_iter().map(|(c, _)| c.id).collect()
}

/// Evaluate a Pod's metadata and spec (or a pod template's) at a level and version, as given
/// (e.g. a Pod the API server already stored; for a manifest, [`check_object`] applies what the
/// API server would do to it first).
pub fn check_pod(level: Level, version: Version, metadata: &ObjectMeta, spec: &PodSpec) -> Vec<Forbidden> {
    applicable(level, version)
        .into_iter()
        .filter_map(|(check, revision)| {
            (revision.eval)(metadata, spec).map(|v| Forbidden {
                check: check.id,
                reason: v.reason,
                detail: v.detail,
            })
        })
        .collect()
}

/// Any object: a Pod, or a workload carrying a pod template (Deployment, ReplicaSet,
/// StatefulSet, DaemonSet, Job, CronJob, ReplicationController, PodTemplate). `Ok(None)` for
/// kinds without pods; `Ok(Some(vec![]))` also when an optional template is absent (PSA lets
/// that through). Err names the field that cannot be read as the Kubernetes type.
///
/// A Pod is judged as the API server hands a new one to PodSecurity: with host-network ports
/// defaulted to hostPorts and deprecated AppArmor annotations copied to unset fields, so a
/// manifest gets the answer `kubectl apply` would. Pod templates are judged as written.
pub fn check_object(
    level: Level,
    version: Version,
    object: &serde_json::Value,
) -> Result<Option<Vec<Forbidden>>, PssError> {
    Ok(match object::extract(object)? {
        object::Extracted::NoPods => None,
        object::Extracted::NoTemplate => Some(Vec::new()),
        object::Extracted::Pod(metadata, spec) => Some(check_pod(level, version, &metadata, &spec)),
    })
}

/// `reason (detail), reason, ...`: PSA's aggregate of the failed checks for one object.
pub fn forbidden_detail(forbidden: &[Forbidden]) -> String {
    let parts: Vec<String> = forbidden
        .iter()
        .map(|f| {
            let reason = if f.reason.is_empty() {
                "unknown forbidden reason"
            } else {
                &f.reason
            };
            if f.detail.is_empty() {
                reason.to_owned()
            } else {
                format!("{reason} ({})", f.detail)
            }
        })
        .collect();
    parts.join(", ")
}

/// The message the API server refuses a Pod with (after its `pods "name" is forbidden: `):
/// `violates PodSecurity "restricted:latest": allowPrivilegeEscalation != false (...), ...`.
pub fn violation_message(level: Level, version: Version, forbidden: &[Forbidden]) -> String {
    format!(
        "violates PodSecurity \"{level}:{version}\": {}",
        forbidden_detail(forbidden)
    )
}

/// The warning the API server returns for an object that violates the namespace's `warn`
/// level (a Pod admitted under a laxer `enforce`, or a workload's pod template).
pub fn warning_message(level: Level, version: Version, forbidden: &[Forbidden]) -> String {
    format!(
        "would violate PodSecurity \"{level}:{version}\": {}",
        forbidden_detail(forbidden)
    )
}

#[cfg(test)]
mod tests;
