//! `palisade reach`: which workloads can open connections to which, from manifests (or a cluster
//! dump piped in), across NetworkPolicy, AdminNetworkPolicy and BaselineAdminNetworkPolicy, with
//! what Palisade's Tenants render added; and whether any tenant reaches another in a way the
//! destination's Tenant did not grant.

use std::collections::BTreeMap;
use std::io::{Read as _, Write as _};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use palisade_api::{IsolationMode, NetworkProvider};
use palisade_reach::engine::format_json;
use palisade_reach::matrix::{self, Grant};
use palisade_reach::parse::ClusterBuilder;
use palisade_reach::{Analysis, Options};
use palisade_tenancy::render::{ClusterFacts, ClusterInventory, TenantLookup};
use palisade_tenancy::{render_cluster_scoped, render_namespace};

use super::validate::load_and_check;
use crate::manifests;

#[derive(clap::Args)]
pub struct ReachArgs {
    /// Manifests: files, or directories searched for *.yaml, *.yml and *.json; `-` reads stdin, e.g.
    /// `kubectl get ns,pods,deploy,sts,ds,rs,jobs,cronjobs,netpol,svc,ing -A -o json | palisade reach -f -`.
    #[arg(short = 'f', long = "file", value_name = "PATH")]
    pub files: Vec<PathBuf>,
    /// Read the current cluster (kubectl's current context): namespaces, pods, policies, services,
    /// ingresses and the network CRDs that exist. Pods collapse into their owners.
    #[arg(long)]
    pub cluster: bool,
    /// Tenant manifests: what Palisade renders for every tenant namespace is added to the analysis.
    #[arg(long, value_name = "PATH")]
    pub tenants: Vec<PathBuf>,
    /// Output: the connectivity list as text (the netpol-analyzer format) or JSON, or the
    /// tenant × tenant matrix as text or a self-contained HTML page.
    #[arg(short = 'o', long, value_enum)]
    pub output: Option<Output>,
    /// List every flow between two tenants that the destination's Tenant did not grant
    /// (`spec.network.allowFrom.tenants`, or the ports and pods of `tenantGrants`), and exit
    /// with status 3 if there is one.
    #[arg(long, requires = "tenants")]
    pub check_isolation: bool,
    /// Say which rule of which policy allows or denies each direction of SRC => DST
    /// (`ns/name[Kind]`, `ns/name`, an IPv4 address, or `{ingress-controller}`).
    #[arg(long, num_args = 2, value_names = ["SRC", "DST"])]
    pub explain: Option<Vec<String>>,
    /// Let ipBlocks match pod IPs (`status.podIP`), as Calico does. Default: ipBlocks match only
    /// addresses outside the cluster's pods, as Cilium does and as the netpol-analyzer corpus expects.
    #[arg(long)]
    pub ipblock_matches_pod_ips: bool,
    /// Namespace of the cluster DNS pods (used when rendering --tenants).
    #[arg(long, default_value = "kube-system")]
    pub dns_namespace: String,
    /// Do not print notes (ignored kinds, collapsed pods) on stderr.
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    Text,
    Json,
    Matrix,
    Html,
}

/// Exit status when --check-isolation finds a flow no Tenant granted.
const UNGRANTED: u8 = 3;

const RENDERED: &str = "(rendered)";

pub fn run(args: &ReachArgs) -> anyhow::Result<ExitCode> {
    if args.files.is_empty() && args.tenants.is_empty() && !args.cluster {
        bail!("nothing to analyse: give manifests with -f PATH (`-f -` reads stdin), --cluster, and/or --tenants PATH");
    }
    let mut builder = ClusterBuilder::new();
    read_manifests(&args.files, &mut builder)?;
    if args.cluster {
        read_cluster(&mut builder)?;
    }
    let grants = if args.tenants.is_empty() {
        BTreeMap::new()
    } else {
        add_tenants(args, &mut builder)?
    };
    let cluster = builder.build();
    if !args.quiet {
        for note in cluster.notes.iter().filter(|n| !n.contains(RENDERED)) {
            eprintln!("note: {note}");
        }
    }
    let options = Options {
        ipblock_matches_pod_ips: args.ipblock_matches_pod_ips,
        ..Options::default()
    };
    let analysis = Analysis::new(&cluster, options);

    if let Some([src, dst]) = args.explain.as_deref() {
        emit(&palisade_reach::explain::explain(&analysis, src, dst)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    let output = match (args.output, args.check_isolation) {
        (Some(o), _) => Some(o),
        (None, true) => None,
        (None, false) => Some(Output::Text),
    };
    let needs_matrix = args.check_isolation || matches!(output, Some(Output::Matrix | Output::Html));
    let m = needs_matrix.then(|| matrix::tenant_matrix(&analysis));
    match (output, &m) {
        (Some(Output::Text), _) => emit(&palisade_reach::report::connlist_report(&cluster, options))?,
        (Some(Output::Json), _) => emit(&format!("{}\n", format_json(&analysis.connections())))?,
        (Some(Output::Matrix), Some(m)) => emit(&matrix::format_text(m))?,
        (Some(Output::Html), Some(m)) => {
            let g = (!args.tenants.is_empty()).then_some(&grants);
            emit(&matrix::format_html(m, g))?;
        }
        _ => {}
    }
    if let (true, Some(m)) = (args.check_isolation, &m) {
        let bad = matrix::ungranted(m, &grants);
        if bad.is_empty() {
            eprintln!(
                "isolation holds: no flow between tenants beyond what their Tenants grant ({} tenant(s))",
                grants.len()
            );
            return Ok(ExitCode::SUCCESS);
        }
        let mut text = String::new();
        for u in &bad {
            text.push_str(&format!("ungranted: {u}\n"));
        }
        emit(&text)?;
        eprintln!("{} flow(s) between tenants that no Tenant granted", bad.len());
        return Ok(ExitCode::from(UNGRANTED));
    }
    Ok(ExitCode::SUCCESS)
}

/// Writes to stdout; a closed pipe (`| head`) is not an error.
fn emit(text: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e).context("writing to stdout"),
        _ => Ok(()),
    }
}

fn read_manifests(paths: &[PathBuf], builder: &mut ClusterBuilder) -> anyhow::Result<()> {
    let (stdin, paths): (Vec<&PathBuf>, Vec<&PathBuf>) = paths.iter().partition(|p| p.as_os_str() == "-");
    if !stdin.is_empty() {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("reading manifests from stdin")?;
        builder.add_text("<stdin>", &text)?;
    }
    let paths: Vec<PathBuf> = paths.into_iter().cloned().collect();
    let files = manifests::collect_files(&paths).map_err(|d| anyhow::anyhow!("{d}"))?;
    for file in files {
        let text = std::fs::read_to_string(&file).with_context(|| format!("{}: cannot read", file.display()))?;
        builder.add_text(&file.display().to_string(), &text)?;
    }
    Ok(())
}

/// What `--cluster` lists. Pods, not their controllers: each pod names its owner, so workloads
/// appear once. CRDs that are not installed are skipped.
const CLUSTER_RESOURCES: &[&str] = &[
    "namespaces",
    "pods",
    "networkpolicies.networking.k8s.io",
    "adminnetworkpolicies.policy.networking.k8s.io",
    "baselineadminnetworkpolicies.policy.networking.k8s.io",
    "ciliumnetworkpolicies.cilium.io",
    "ciliumclusterwidenetworkpolicies.cilium.io",
    "services",
    "ingresses.networking.k8s.io",
    "routes.route.openshift.io",
    "userdefinednetworks.k8s.ovn.org",
    "clusteruserdefinednetworks.k8s.ovn.org",
    "network-attachment-definitions.k8s.cni.cncf.io",
    "multi-networkpolicies.k8s.cni.cncf.io",
];

fn read_cluster(builder: &mut ClusterBuilder) -> anyhow::Result<()> {
    for resource in CLUSTER_RESOURCES {
        let Some(text) = manifests::kubectl_get_all(resource)? else {
            continue;
        };
        builder.add_text(&format!("cluster: {resource}"), &text)?;
    }
    Ok(())
}

/// Adds every object Palisade renders for the tenants, a probe pod in each tenant namespace that
/// has no workload, and returns what each tenant grants.
fn add_tenants(args: &ReachArgs, builder: &mut ClusterBuilder) -> anyhow::Result<BTreeMap<String, Grant>> {
    let (loaded, problems) = load_and_check(&args.tenants);
    if !problems.is_empty() {
        for problem in &problems {
            eprintln!("{problem}");
        }
        bail!("fix the {} problem(s) in the Tenant manifests first", problems.len());
    }
    let tenants: Vec<&palisade_api::Tenant> = loaded.iter().map(|l| &l.tenant).collect();
    let index = crate::manifests::directory_of(tenants.iter().copied());
    let mut facts = ClusterFacts::default();
    facts.dns.namespace = args.dns_namespace.clone();
    let mut grants = BTreeMap::new();
    let mut namespaces = Vec::new();
    for tenant in &tenants {
        let name = tenant.metadata.name.clone().unwrap_or_default();
        let network = &tenant.spec.network;
        if network.isolation == IsolationMode::Strict && network.provider == NetworkProvider::Calico {
            eprintln!(
                "warning: tenant {name} is isolated with Calico policies, which reach does not read yet: its namespaces count as unrestricted"
            );
        }
        let spec = serde_json::to_value(network).with_context(|| format!("Tenant {name}: spec.network"))?;
        grants.insert(name.clone(), Grant::from_network_spec(&name, &spec)?);
        let source = format!("Tenant {name} {RENDERED}");
        // Only the network objects matter here, and none depends on the cluster's inventory.
        let (cluster_objects, _) = render_cluster_scoped(tenant, &index, &facts, &ClusterInventory::default());
        for object in cluster_objects {
            builder.add_rendered(&source, object.manifest)?;
        }
        for ns in index.namespaces_of(&name) {
            for object in render_namespace(tenant, &ns, &index, &facts).objects {
                builder.add_rendered(&source, object.manifest)?;
            }
            namespaces.push(ns);
        }
    }
    builder.add_probes(namespaces);
    Ok(grants)
}
