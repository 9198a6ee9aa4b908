//! `palisade check`: what the admission webhook would answer, offline. It runs the very function
//! the webhook runs (`palisade_admission::review`), on manifests, as the user you name, over a view
//! of the cluster filled by the very functions the webhook's watches fill theirs with
//! (`palisade_admission::index`): from Tenant manifests alone, from a dump of the cluster
//! (`--cluster-state`, what `kubectl get ... -o json` prints) or from the live cluster (`--cluster`).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use palisade_admission::{AdmissionConfig, SNAPSHOT_KINDS, Snapshot, Verdict, offline, review};
use palisade_view::Index as _;

use super::validate::load_and_check;
use crate::manifests;

#[derive(clap::Args)]
pub struct CheckArgs {
    /// Objects to check as if they were created: files, or directories of *.yaml, *.yml, *.json.
    #[arg(short = 'f', long = "file", required = true, value_name = "PATH")]
    pub files: Vec<PathBuf>,
    /// The Tenants in force. Without a cluster state, their `spec.namespaces.names` are taken as
    /// existing tenant namespaces; with one, they replace the state's Tenants of the same name.
    #[arg(long, value_name = "PATH", required_unless_present_any = ["cluster_state", "cluster"])]
    pub tenants: Vec<PathBuf>,
    /// The cluster's objects, as `kubectl get ns,pv,nodes,ingress,pods,pvc,svc,resourcequota,
    /// limitrange,servicecidrs,tenants -A -o json` prints them (Lists or single objects, JSON or
    /// YAML; files or directories; repeat for several).
    #[arg(long = "cluster-state", value_name = "FILE|DIR")]
    pub cluster_state: Vec<PathBuf>,
    /// Read the cluster state from the cluster of the current kubeconfig context (through kubectl).
    #[arg(long, conflicts_with = "cluster_state")]
    pub cluster: bool,
    /// The user who sends the requests.
    #[arg(long = "as", value_name = "USER")]
    pub user: String,
    /// A group of that user (repeat for several).
    #[arg(long = "as-group", value_name = "GROUP")]
    pub groups: Vec<String>,
    /// The cluster's pod CIDRs, for the NetworkPolicy ipBlock rule (else the nodes' podCIDRs).
    #[arg(long = "pod-cidr", value_name = "CIDR")]
    pub pod_cidrs: Vec<ipnet::IpNet>,
    /// The cluster's Service CIDRs, for the NetworkPolicy ipBlock rule (else the ServiceCIDRs).
    #[arg(long = "service-cidr", value_name = "CIDR")]
    pub service_cidrs: Vec<ipnet::IpNet>,
}

/// What the live cluster decides and `check` cannot, printed after the verdicts.
const NOT_CHECKED: &[&str] = &[
    "API validation (schema, required fields, immutable fields): the API server's, before and after the webhook",
    "Pod Security admission (the namespace's pod-security.kubernetes.io labels)",
    "RBAC: whether the user may send the request at all",
    "the tenant-wide quota's requests in flight: checked here against the objects in the cluster state and the objects checked before in this run, not against the webhook's live reservations; kinds counted only by number (count/<resource>) other than pods, claims and Services are not counted",
    "Kubernetes' own ResourceQuota and LimitRange admission in each namespace",
    "ValidatingAdmissionPolicies and other admission webhooks",
];

pub fn run(args: &CheckArgs) -> anyhow::Result<ExitCode> {
    let (tenants, mut problems) = if args.tenants.is_empty() {
        (Vec::new(), Vec::new())
    } else {
        load_and_check(&args.tenants)
    };
    let files = manifests::collect_files(&args.files).map_err(|p| anyhow::anyhow!("{p}"))?;
    let (objects, object_problems) = manifests::load_objects(&files);
    problems.extend(object_problems);
    let state = if args.cluster {
        Some(read_cluster()?)
    } else if args.cluster_state.is_empty() {
        None
    } else {
        let files = manifests::collect_files(&args.cluster_state).map_err(|p| anyhow::anyhow!("{p}"))?;
        match load_state(&files) {
            Ok(state) => Some(state),
            Err(state_problems) => {
                problems.extend(state_problems);
                None
            }
        }
    };
    if !problems.is_empty() {
        for problem in &problems {
            eprintln!("{problem}");
        }
        bail!("nothing checked: fix the {} problem(s) above first", problems.len());
    }

    let snapshot = match state {
        None => tenant_snapshot(tenants),
        Some(state) => {
            println!("cluster state: {}", state.summary());
            for warning in state.warnings() {
                println!("warning: {warning}");
            }
            let mut snapshot = state.snapshot;
            for loaded in tenants {
                snapshot.apply(loaded.tenant);
            }
            snapshot
        }
    };
    let config = AdmissionConfig {
        pod_cidrs: args.pod_cidrs.clone(),
        service_cidrs: args.service_cidrs.clone(),
        ..AdmissionConfig::default()
    };

    let mut denied = 0;
    // Reservations of the objects checked so far, as the webhook's ledger would hold them.
    let mut ledger = palisade_admission::quota::Ledger::default();
    for object in &objects {
        let request = offline::create_request(&object.manifest, &args.user, &args.groups)
            .with_context(|| object.origin.to_string())?;
        let what = match &request.namespace {
            Some(ns) => format!("{} {ns}/{}", request.kind.kind, request.name),
            None => format!("{} {}", request.kind.kind, request.name),
        };
        let verdict = match review(&request, &snapshot, &config) {
            Verdict::Deny(message) => Verdict::Deny(message),
            admitted => match palisade_admission::quota::check_offline(&request, &snapshot, &mut ledger) {
                Verdict::Allow => admitted,
                refused => refused,
            },
        };
        match verdict {
            Verdict::Allow => println!("allowed  {what}"),
            Verdict::Patch(patch) => {
                let changes = serde_json::to_string(&patch).context("writing the patch")?;
                println!("mutated  {what}: {changes}");
            }
            Verdict::Deny(message) => {
                denied += 1;
                println!("DENIED   {what}: {message}");
            }
        }
    }
    println!("not checked offline (the live cluster decides these too):");
    for item in NOT_CHECKED {
        println!("  - {item}");
    }
    Ok(if denied == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// A cluster holding just these tenants and their declared namespaces (`spec.namespaces.names`).
pub(crate) fn tenant_snapshot(tenants: Vec<manifests::LoadedTenant>) -> Snapshot {
    let mut snapshot = Snapshot::default();
    for loaded in tenants {
        let name = loaded.tenant.metadata.name.clone().unwrap_or_default();
        for namespace in &loaded.tenant.spec.namespaces.names {
            snapshot = snapshot.with_namespace(namespace, Some(&name));
        }
        snapshot = snapshot.with_tenant(loaded.tenant);
    }
    snapshot
}

/// A cluster state read from files or the cluster, with how many objects of each kind it held.
struct ClusterState {
    snapshot: Snapshot,
    counts: std::collections::BTreeMap<&'static str, usize>,
}

impl ClusterState {
    fn new() -> ClusterState {
        // The webhook tracks Palisade's ResourceQuotas and LimitRanges; a state that holds none
        // says none exist (an empty `kubectl get resourcequota -A` prints no kind to go by).
        let snapshot = Snapshot {
            managed_quota_objects: Some(Default::default()),
            ..Snapshot::default()
        };
        ClusterState {
            snapshot,
            counts: Default::default(),
        }
    }

    fn add(&mut self, object: &serde_json::Value) -> Result<(), palisade_admission::SnapshotError> {
        let kind = self.snapshot.apply_object(object)?;
        *self.counts.entry(kind).or_default() += 1;
        Ok(())
    }

    fn summary(&self) -> String {
        let counted: Vec<String> = SNAPSHOT_KINDS
            .iter()
            .map(|(_, kind)| format!("{} {kind}", self.counts.get(kind).copied().unwrap_or(0)))
            .collect();
        counted.join(", ")
    }

    /// Kinds whose absence changes verdicts, said out loud.
    fn warnings(&self) -> Vec<String> {
        let none = |kind: &str| !self.counts.contains_key(kind);
        let mut warnings = Vec::new();
        if none("Namespace") {
            warnings.push(
                "the cluster state holds no Namespace: every namespaced object is in an unknown namespace".to_string(),
            );
        }
        if none("Tenant") && self.snapshot.directory.tenant_count() == 0 {
            warnings.push("the cluster state holds no Tenant (add `tenants` to kubectl get, or --tenants)".to_string());
        }
        if none("ResourceQuota") || none("LimitRange") {
            warnings.push(
                "the cluster state holds no ResourceQuota or no LimitRange of Palisade's: tenant namespaces with a quota are taken as not yet set up".to_string(),
            );
        }
        warnings
    }
}

/// Reads every object of the state files into a snapshot; every problem names file, line and
/// document (and the field, for an object that is not what its kind says).
fn load_state(files: &[PathBuf]) -> Result<ClusterState, Vec<manifests::Diagnostic>> {
    let (objects, mut problems) = manifests::load_objects(files);
    let mut state = ClusterState::new();
    for object in &objects {
        if let Err(error) = state.add(&object.manifest) {
            let name = object.manifest["metadata"]["name"].as_str().unwrap_or_default();
            problems.push(manifests::Diagnostic {
                path: object.origin.path.clone(),
                line: Some(object.origin.line),
                column: None,
                document: Some(object.origin.document),
                field: None,
                message: format!("cluster state object \"{name}\": {error}"),
            });
        }
    }
    if objects.is_empty() && problems.is_empty() {
        let shown: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
        problems.push(manifests::Diagnostic {
            path: PathBuf::from(shown.join(", ")),
            line: None,
            column: None,
            document: None,
            field: None,
            message: "no objects in the cluster state; expected the output of `kubectl get ... -o json`".to_string(),
        });
    }
    if problems.is_empty() { Ok(state) } else { Err(problems) }
}

/// What `--cluster` lists: the kinds of the webhook's watches.
const CLUSTER_RESOURCES: &[&str] = &[
    "tenants.palisade.dev",
    "namespaces",
    "persistentvolumes",
    "nodes",
    "servicecidrs.networking.k8s.io",
    "ingresses.networking.k8s.io",
    "pods",
    "persistentvolumeclaims",
    "services",
    "resourcequotas",
    "limitranges",
];

fn read_cluster() -> anyhow::Result<ClusterState> {
    let mut state = ClusterState::new();
    for resource in CLUSTER_RESOURCES {
        // A kind the cluster does not serve is skipped, as the webhook does (the Service range
        // rule then needs --service-cidr).
        let Some(text) = manifests::kubectl_get_all(resource)? else {
            continue;
        };
        let list: serde_json::Value = serde_json::from_str(&text)
            .with_context(|| format!("kubectl get {resource} -o json printed something that is not JSON"))?;
        for item in list["items"].as_array().into_iter().flatten() {
            state
                .add(item)
                .with_context(|| format!("kubectl get {resource}: {}", item["metadata"]["name"]))?;
        }
    }
    Ok(state)
}
