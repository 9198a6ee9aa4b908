//! `palisade render`: the objects the controller would apply, printed as YAML for `kubectl apply`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use palisade_tenancy::render::{ApiServerEndpoint, AvailableApis, ClusterFacts, ClusterInventory, TenantLookup};
use palisade_tenancy::{ManagedObject, render_cluster_scoped, render_namespace};
use palisade_view::{Index as _, NamespaceEntry, TenantDirectory};

use super::validate::load_and_check;

#[derive(clap::Args)]
pub struct RenderArgs {
    /// Tenant manifests: files, or directories searched for *.yaml, *.yml and *.json.
    #[arg(short = 'f', long = "file", required = true, value_name = "PATH")]
    pub files: Vec<PathBuf>,
    /// Render only this tenant.
    #[arg(long)]
    pub tenant: Option<String>,
    /// Render only this namespace (one of a tenant's `spec.namespaces.names`, or any name with --tenant).
    #[arg(short = 'n', long)]
    pub namespace: Option<String>,
    /// Where the API server listens, after DNAT (the `kubernetes` EndpointSlice), for egress grants.
    #[arg(long = "api-server", value_name = "IP:PORT")]
    pub api_server: Vec<SocketAddr>,
    /// Namespace of the cluster DNS pods.
    #[arg(long, default_value = "kube-system")]
    pub dns_namespace: String,
    /// Render as for a cluster without these optional APIs (their objects are reported as skipped).
    #[arg(long, value_delimiter = ',', value_enum)]
    pub without: Vec<OptionalApi>,
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum OptionalApi {
    AdminNetworkPolicy,
    Cilium,
    Calico,
    Istio,
    Linkerd,
}

pub fn run(args: &RenderArgs) -> anyhow::Result<ExitCode> {
    let (loaded, problems) = load_and_check(&args.files);
    if !problems.is_empty() {
        for problem in &problems {
            eprintln!("{problem}");
        }
        eprintln!("nothing rendered: fix the {} problem(s) above first", problems.len());
        return Ok(ExitCode::FAILURE);
    }
    let tenants: Vec<&palisade_api::Tenant> = loaded.iter().map(|l| &l.tenant).collect();
    let mut index = crate::manifests::directory_of(tenants.iter().copied());
    let facts = cluster_facts(args);

    let selected: Vec<&palisade_api::Tenant> = match &args.tenant {
        Some(name) => {
            let found: Vec<_> = tenants
                .iter()
                .copied()
                .filter(|t| t.metadata.name.as_deref() == Some(name))
                .collect();
            if found.is_empty() {
                bail!("no Tenant named \"{name}\" in {}", shown(&args.files));
            }
            found
        }
        None => tenants.clone(),
    };

    let mut objects: Vec<ManagedObject> = Vec::new();
    let mut skipped = Vec::new();
    match &args.namespace {
        Some(namespace) => {
            let owner = owner_of(namespace, &selected, &index)
                .or_else(|| args.tenant.as_ref().and_then(|_| selected.first().copied()))
                .with_context(|| {
                    format!("namespace \"{namespace}\" is not in spec.namespaces.names of any tenant in {}; add --tenant NAME to render it as that tenant's", shown(&args.files))
                })?;
            let owner_name = owner.metadata.name.clone().unwrap_or_default();
            index.apply(NamespaceEntry {
                name: namespace.clone(),
                tenant: Some(owner_name.clone()),
                terminating: false,
            });
            let plan = render_namespace(owner, namespace, &index, &facts);
            objects.extend(plan.objects);
            skipped.extend(plan.skipped);
        }
        None => {
            // Offline there is no inventory of nodes, classes and volumes: the owners'
            // ClusterRole shows the unrestricted class kinds and the exact class names a tenant
            // allows, and no node or volume; the controller names those from its watches.
            let inventory = ClusterInventory::default();
            for tenant in &selected {
                let (cluster, cluster_skipped) = render_cluster_scoped(tenant, &index, &facts, &inventory);
                objects.extend(cluster);
                skipped.extend(cluster_skipped);
                let name = tenant.metadata.name.as_deref().unwrap_or_default();
                let namespaces = index.namespaces_of(name);
                if namespaces.is_empty() {
                    eprintln!(
                        "# tenant \"{name}\" lists no namespaces (spec.namespaces.names); only cluster-scoped objects rendered"
                    );
                }
                for namespace in namespaces {
                    let plan = render_namespace(tenant, &namespace, &index, &facts);
                    objects.extend(plan.objects);
                    skipped.extend(plan.skipped);
                }
            }
        }
    }

    let manifests: Vec<&serde_json::Value> = objects.iter().map(|o| &o.manifest).collect();
    print!(
        "{}",
        serde_saphyr::to_string_multiple(&manifests).context("writing YAML")?
    );
    for skip in &skipped {
        let at = skip.namespace.as_ref().map(|ns| format!("{ns}/")).unwrap_or_default();
        eprintln!("# skipped {} {at}{}: {}", skip.kind, skip.name, skip.reason);
    }
    Ok(ExitCode::SUCCESS)
}

fn owner_of<'a>(
    namespace: &str,
    tenants: &[&'a palisade_api::Tenant],
    index: &TenantDirectory,
) -> Option<&'a palisade_api::Tenant> {
    tenants.iter().copied().find(|t| {
        let name = t.metadata.name.as_deref().unwrap_or_default();
        index.namespaces_of(name).iter().any(|ns| ns == namespace)
    })
}

fn cluster_facts(args: &RenderArgs) -> ClusterFacts {
    let mut facts = ClusterFacts::default();
    facts.dns.namespace = args.dns_namespace.clone();
    facts.api_server = args
        .api_server
        .iter()
        .map(|addr| ApiServerEndpoint {
            ip: addr.ip(),
            port: addr.port(),
        })
        .collect();
    let mut apis = AvailableApis::all();
    for api in &args.without {
        match api {
            OptionalApi::AdminNetworkPolicy => apis.admin_network_policy = false,
            OptionalApi::Cilium => apis.cilium = false,
            OptionalApi::Calico => apis.calico = false,
            OptionalApi::Istio => apis.istio = false,
            OptionalApi::Linkerd => apis.linkerd = false,
        }
    }
    facts.apis = apis;
    facts
}

fn shown(files: &[PathBuf]) -> String {
    files
        .iter()
        .map(|f| f.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}
