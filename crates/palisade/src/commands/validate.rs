//! `palisade validate -f FILE...`: every problem in a set of Tenant manifests, like a compiler.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::manifests::{self, Diagnostic, LoadedTenant};

#[derive(clap::Args)]
pub struct ValidateArgs {
    /// Tenant manifests: files, or directories searched for *.yaml, *.yml and *.json.
    #[arg(short = 'f', long = "file", required = true, value_name = "PATH")]
    pub files: Vec<PathBuf>,
}

pub fn run(args: &ValidateArgs) -> anyhow::Result<ExitCode> {
    let (tenants, problems) = load_and_check(&args.files);
    for problem in &problems {
        eprintln!("{problem}");
    }
    if problems.is_empty() {
        println!("{} tenant(s) valid", tenants.len());
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("{} problem(s) found", problems.len());
        Ok(ExitCode::FAILURE)
    }
}

/// Reads the tenants behind `paths` and returns them with every problem: unreadable or malformed
/// documents, and everything `palisade_tenancy::validate` finds, per tenant and across tenants.
pub fn load_and_check(paths: &[PathBuf]) -> (Vec<LoadedTenant>, Vec<Diagnostic>) {
    let files = match manifests::collect_files(paths) {
        Ok(files) => files,
        Err(problem) => return (Vec::new(), vec![problem]),
    };
    let (tenants, mut problems) = manifests::load_tenants(&files);
    for loaded in &tenants {
        for error in palisade_tenancy::validate(&loaded.tenant) {
            problems.push(at_tenant(loaded, Some(error.path), error.message));
        }
    }
    let all: Vec<&palisade_api::Tenant> = tenants.iter().map(|t| &t.tenant).collect();
    for conflict in palisade_tenancy::validate::validate_set(&all) {
        problems.push(at_tenant(
            &tenants[conflict.index],
            Some(conflict.error.path),
            conflict.error.message,
        ));
    }
    (tenants, problems)
}

fn at_tenant(loaded: &LoadedTenant, field: Option<String>, message: String) -> Diagnostic {
    let name = loaded.tenant.metadata.name.as_deref().unwrap_or("(unnamed)");
    Diagnostic {
        path: loaded.origin.path.clone(),
        line: Some(loaded.origin.line),
        column: None,
        document: Some(loaded.origin.document),
        field: field.map(|f| format!("Tenant \"{name}\": {f}")),
        message,
    }
}
