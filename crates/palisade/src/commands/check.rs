//! `palisade check`: what the admission webhook would answer, offline. It runs the very function
//! the webhook runs (`palisade_admission::review`), on manifests, as the user you name.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use palisade_admission::{AdmissionConfig, Snapshot, Verdict, offline, review};

use super::validate::load_and_check;
use crate::manifests;

#[derive(clap::Args)]
pub struct CheckArgs {
    /// Objects to check as if they were created: files, or directories of *.yaml, *.yml, *.json.
    #[arg(short = 'f', long = "file", required = true, value_name = "PATH")]
    pub files: Vec<PathBuf>,
    /// The Tenants in force (their `spec.namespaces.names` are taken as existing tenant namespaces).
    #[arg(long, required = true, value_name = "PATH")]
    pub tenants: Vec<PathBuf>,
    /// The user who sends the requests.
    #[arg(long = "as", value_name = "USER")]
    pub user: String,
    /// A group of that user (repeat for several).
    #[arg(long = "as-group", value_name = "GROUP")]
    pub groups: Vec<String>,
    /// The cluster's pod CIDRs, for the NetworkPolicy ipBlock rule.
    #[arg(long = "pod-cidr", value_name = "CIDR")]
    pub pod_cidrs: Vec<ipnet::IpNet>,
    /// The cluster's Service CIDRs, for the NetworkPolicy ipBlock rule.
    #[arg(long = "service-cidr", value_name = "CIDR")]
    pub service_cidrs: Vec<ipnet::IpNet>,
}

pub fn run(args: &CheckArgs) -> anyhow::Result<ExitCode> {
    let (tenants, mut problems) = load_and_check(&args.tenants);
    let files = manifests::collect_files(&args.files).map_err(|p| anyhow::anyhow!("{p}"))?;
    let (objects, object_problems) = manifests::load_objects(&files);
    problems.extend(object_problems);
    if !problems.is_empty() {
        for problem in &problems {
            eprintln!("{problem}");
        }
        anyhow::bail!("nothing checked: fix the {} problem(s) above first", problems.len());
    }

    let snapshot = tenant_snapshot(tenants);
    let config = AdmissionConfig {
        pod_cidrs: args.pod_cidrs.clone(),
        service_cidrs: args.service_cidrs.clone(),
        ..AdmissionConfig::default()
    };

    let mut denied = 0;
    for object in &objects {
        let request = offline::create_request(&object.manifest, &args.user, &args.groups)
            .with_context(|| object.origin.to_string())?;
        let what = match &request.namespace {
            Some(ns) => format!("{} {ns}/{}", request.kind.kind, request.name),
            None => format!("{} {}", request.kind.kind, request.name),
        };
        match review(&request, &snapshot, &config) {
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
