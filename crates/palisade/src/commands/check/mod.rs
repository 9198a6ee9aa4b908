//! `palisade check`: what the admission webhook would answer, offline. It runs the very function
//! the webhook runs (`palisade_admission::review`), on manifests, as the user you name, over a view
//! of the cluster filled by the very functions the webhook's watches fill theirs with
//! (`palisade_admission::index`): from Tenant manifests alone, from a dump of the cluster
//! (`--cluster-state`, what `kubectl get ... -o json` prints) or from the live cluster (`--cluster`).
//!
//! The ValidatingAdmissionPolicies in force (`--policies`, or in the cluster state) are evaluated
//! too, binding by binding, by `palisade_policy::vap`, and the answer is worded as the API server
//! words it. An object that is already stored (`--existing`) is checked as an UPDATE of it.

mod formats;
mod report;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use palisade_admission::{AdmissionConfig, SNAPSHOT_KINDS, Snapshot, Verdict, offline, review};
use palisade_view::Index as _;

use super::validate::load_and_check;
use crate::manifests;
use palisade_audit::PolicyState;

#[derive(clap::Args)]
pub struct CheckArgs {
    /// Objects to check as if they were created (or updated, when `--existing` holds them):
    /// files, or directories of *.yaml, *.yml, *.json. With `--cluster` and no file, what
    /// already runs in the tenant namespaces is judged instead, as `palisade audit` reports it.
    #[arg(short = 'f', long = "file", required_unless_present = "cluster", value_name = "PATH")]
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
    /// The user who sends the requests (not needed to judge what already runs, with `--cluster`
    /// and no file: each object is judged as its tenant's owner).
    #[arg(long = "as", value_name = "USER", required_unless_present = "cluster")]
    pub user: Option<String>,
    /// A group of that user (repeat for several).
    #[arg(long = "as-group", value_name = "GROUP")]
    pub groups: Vec<String>,
    /// The cluster's pod CIDRs, for the NetworkPolicy ipBlock rule (else the nodes' podCIDRs).
    #[arg(long = "pod-cidr", value_name = "CIDR")]
    pub pod_cidrs: Vec<ipnet::IpNet>,
    /// The cluster's Service CIDRs, for the NetworkPolicy ipBlock rule (else the ServiceCIDRs).
    #[arg(long = "service-cidr", value_name = "CIDR")]
    pub service_cidrs: Vec<ipnet::IpNet>,
    /// ValidatingAdmissionPolicies and their bindings in force, and the objects their paramRefs
    /// name (Tenants need not be repeated here: `--tenants` and the cluster state's count).
    #[arg(long = "policies", value_name = "FILE|DIR")]
    pub policies: Vec<PathBuf>,
    /// Objects as they are stored now: a checked object with the same apiVersion, kind,
    /// namespace and name is checked as an UPDATE of it (policies read it as `oldObject`).
    #[arg(long = "existing", value_name = "FILE|DIR")]
    pub existing: Vec<PathBuf>,
    /// How to print the verdicts.
    #[arg(long, short = 'o', value_enum, default_value_t = Output::Text)]
    pub output: Output,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    /// One line per object, the policies that matched it below.
    Text,
    /// Every verdict, every binding's decisions and the API server's answer, as JSON.
    Json,
    /// JUnit XML for CI: a test case per object, failed when denied, skipped when undecided.
    Junit,
    /// SARIF 2.1.0 for code scanning: a result per finding, at the object's file and line.
    Sarif,
}

/// What the live cluster decides and `check` cannot, printed after the verdicts.
const NOT_CHECKED: &[&str] = &[
    "API validation (schema, required fields, immutable fields): the API server's, before and after the webhook",
    "Pod Security admission on updates (checked on creation only) and its exemptions (users, runtime classes, namespaces)",
    "defaulting: the API server fills in defaults (imagePullPolicy, strategy, restartPolicy, ...) before policies read the object; check reads the manifest as written",
    "RBAC: whether the user may send the request at all",
    "the tenant-wide quota's requests in flight: checked here against the objects in the cluster state and the objects checked before in this run, not against the webhook's live reservations; kinds counted only by number (count/<resource>) other than pods, claims and Services are not counted",
    "Kubernetes' own ResourceQuota and LimitRange admission in each namespace",
    "other admission webhooks, and ValidatingAdmissionPolicies not given (--policies, or in the cluster state)",
    "CEL cost limits: an expression that would exceed the API server's runtime cost budget is evaluated here to the end",
];

pub fn run(args: &CheckArgs) -> anyhow::Result<ExitCode> {
    if args.cluster && args.files.is_empty() {
        return super::audit::print_cluster();
    }
    let Some(user) = args.user.as_deref() else {
        bail!("--as USER is needed to check files: the user who would send them");
    };
    let mut policies = PolicyState::default();
    let (tenants, mut problems) = if args.tenants.is_empty() {
        (Vec::new(), Vec::new())
    } else {
        load_and_check(&args.tenants)
    };
    let files = manifests::collect_files(&args.files).map_err(|p| anyhow::anyhow!("{p}"))?;
    let (objects, object_problems) = manifests::load_objects(&files);
    problems.extend(object_problems);
    problems.extend(load_policies(&args.policies, &mut policies));
    let (existing, existing_problems) = load_existing(&args.existing)?;
    problems.extend(existing_problems);
    let state = if args.cluster {
        Some(read_cluster(&mut policies)?)
    } else if args.cluster_state.is_empty() {
        None
    } else {
        let files = manifests::collect_files(&args.cluster_state).map_err(|p| anyhow::anyhow!("{p}"))?;
        match load_state(&files, &mut policies) {
            Ok(state) => Some(state),
            Err(state_problems) => {
                problems.extend(state_problems);
                return fail_on(&problems);
            }
        }
    };
    if !problems.is_empty() {
        return fail_on(&problems);
    }

    let snapshot = match state {
        None => tenant_snapshot(tenants.clone()),
        Some(state) => {
            if args.output == Output::Text {
                println!("cluster state: {}", state.summary());
                for warning in state.warnings() {
                    println!("warning: {warning}");
                }
            }
            let mut snapshot = state.snapshot;
            for loaded in &tenants {
                snapshot.apply(loaded.tenant.clone());
            }
            snapshot
        }
    };
    for loaded in &tenants {
        policies.add_param(&loaded.manifest);
        let mut labels = palisade_tenancy::render::namespace_labels(&loaded.tenant);
        for namespace in &loaded.tenant.spec.namespaces.names {
            labels.insert(palisade_api::labels::NAMESPACE_NAME.to_string(), namespace.clone());
            policies.declare_namespace(namespace, labels.clone());
        }
    }
    let config = AdmissionConfig {
        pod_cidrs: args.pod_cidrs.clone(),
        service_cidrs: args.service_cidrs.clone(),
        ..AdmissionConfig::default()
    };

    let mut results = Vec::new();
    // Reservations of the objects checked so far, as the webhook's ledger would hold them.
    let mut ledger = palisade_admission::quota::Ledger::default();
    for object in &objects {
        let stored = existing.get(&identity(&object.manifest));
        let request = match stored {
            Some(old) => offline::update_request(&object.manifest, old, user, &args.groups),
            None => offline::create_request(&object.manifest, user, &args.groups),
        }
        .with_context(|| object.origin.to_string())?;
        let tenant_rules = match review(&request, &snapshot, &config) {
            Verdict::Deny(message) => Verdict::Deny(message),
            admitted => match palisade_admission::quota::check_offline(&request, &snapshot, &mut ledger) {
                Verdict::Allow => admitted,
                refused => refused,
            },
        };
        let mut decided = palisade_audit::decide(&request, tenant_rules, &policies)?;
        // Judged: what is printed is the verdict, not the object, which the input still holds.
        decided.request.object = None;
        decided.request.old_object = None;
        results.push(report::Checked {
            origin: object.origin.to_string(),
            decided,
        });
    }
    let summary = report::Summary::of(&results);
    match args.output {
        Output::Text => {
            if !policies.is_empty() {
                println!("policies: {}", policies.summary());
            }
            for problem in policies.policy_problems() {
                println!("warning: {problem}");
            }
            report::print_text(&results);
            println!("not checked offline (the live cluster decides these too):");
            for item in NOT_CHECKED {
                println!("  - {item}");
            }
        }
        Output::Json => report::write_json(&mut std::io::stdout().lock(), &results, &summary, NOT_CHECKED)
            .context("writing the JSON report")?,
        Output::Junit => print!("{}", formats::junit(&report::document(&results, &summary, NOT_CHECKED))),
        Output::Sarif => println!("{}", formats::sarif(&report::document(&results, &summary, NOT_CHECKED))),
    }
    Ok(if summary.denied > 0 {
        ExitCode::FAILURE
    } else if summary.undecided > 0 {
        // Not a denial, not an admission: the answer depends on what could not be evaluated.
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}

fn fail_on(problems: &[manifests::Diagnostic]) -> anyhow::Result<ExitCode> {
    for problem in problems {
        eprintln!("{problem}");
    }
    bail!("nothing checked: fix the {} problem(s) above first", problems.len());
}

/// Reads `--policies` files into `policies`; every object that is not a policy or binding is
/// kept as a possible param.
fn load_policies(paths: &[PathBuf], policies: &mut PolicyState) -> Vec<manifests::Diagnostic> {
    if paths.is_empty() {
        return Vec::new();
    }
    let files = match manifests::collect_files(paths) {
        Ok(files) => files,
        Err(problem) => return vec![problem],
    };
    let (objects, mut problems) = manifests::load_objects(&files);
    for object in &objects {
        if let Err(message) = policies.add(&object.manifest) {
            problems.push(object_problem(object, &message));
        }
    }
    problems
}

fn object_problem(object: &manifests::LoadedObject, message: &str) -> manifests::Diagnostic {
    let name = object.manifest["metadata"]["name"].as_str().unwrap_or_default();
    let kind = object.manifest["kind"].as_str().unwrap_or_default();
    manifests::Diagnostic {
        path: object.origin.path.clone(),
        line: Some(object.origin.line),
        column: None,
        document: Some(object.origin.document),
        field: None,
        message: format!("{kind} \"{name}\": {message}"),
    }
}

/// apiVersion, kind, namespace and name: what makes a checked object an update of a stored one.
type Identity = (String, String, String, String);

fn identity(object: &serde_json::Value) -> Identity {
    let text = |value: &serde_json::Value| value.as_str().unwrap_or_default().to_string();
    (
        text(&object["apiVersion"]),
        text(&object["kind"]),
        text(&object["metadata"]["namespace"]),
        text(&object["metadata"]["name"]),
    )
}

/// `--existing`: objects as stored, by identity.
fn load_existing(
    paths: &[PathBuf],
) -> anyhow::Result<(BTreeMap<Identity, serde_json::Value>, Vec<manifests::Diagnostic>)> {
    if paths.is_empty() {
        return Ok((BTreeMap::new(), Vec::new()));
    }
    let files = manifests::collect_files(paths).map_err(|p| anyhow::anyhow!("{p}"))?;
    let (objects, problems) = manifests::load_objects(&files);
    Ok((
        objects
            .into_iter()
            .map(|object| (identity(&object.manifest), object.manifest))
            .collect(),
        problems,
    ))
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

    /// Takes one object: policies and bindings into `policies`, everything else into the
    /// admission snapshot (and, as a possible param or namespace, into `policies` too).
    fn add(&mut self, object: &serde_json::Value, policies: &mut PolicyState) -> Result<(), String> {
        if policies.add(object)? {
            return Ok(());
        }
        let kind = self.snapshot.apply_object(object).map_err(|error| error.to_string())?;
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
fn load_state(files: &[PathBuf], policies: &mut PolicyState) -> Result<ClusterState, Vec<manifests::Diagnostic>> {
    let (objects, mut problems) = manifests::load_objects(files);
    let mut state = ClusterState::new();
    for object in &objects {
        if let Err(error) = state.add(&object.manifest, policies) {
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
    "validatingadmissionpolicies.admissionregistration.k8s.io",
    "validatingadmissionpolicybindings.admissionregistration.k8s.io",
];

fn read_cluster(policies: &mut PolicyState) -> anyhow::Result<ClusterState> {
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
                .add(item, policies)
                .map_err(|error| anyhow::anyhow!(error))
                .with_context(|| format!("kubectl get {resource}: {}", item["metadata"]["name"]))?;
        }
    }
    Ok(state)
}
