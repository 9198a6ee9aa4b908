//! `palisade`: Kubernetes multi-tenancy in one binary.
//!
//! Every subcommand is a thin shell around the pure crates: `render` and the controller share
//! `palisade_tenancy::render`, `validate` and the webhook share `palisade_tenancy::validate`, so the
//! same input always gets the same answer offline and online.

mod commands;
mod manifests;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "palisade", version, about = "Kubernetes multi-tenancy in one binary")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the CustomResourceDefinitions of the palisade.dev API as YAML.
    Crds(commands::crds::CrdsArgs),
    /// Check Tenant manifests and list every problem with its file and field.
    Validate(commands::validate::ValidateArgs),
    /// Print the objects a tenant's namespaces must hold, ready for `kubectl apply`.
    Render(commands::render::RenderArgs),
    /// What the cluster's admission would answer for these objects (tenant rules, Pod
    /// Security, ValidatingAdmissionPolicies), offline.
    Check(commands::check::CheckArgs),
    /// Judge what already runs in tenant namespaces by today's rules, as PolicyReports.
    Audit(commands::audit::AuditArgs),
    /// Who can connect to whom, across NetworkPolicy, AdminNetworkPolicy and BaselineAdminNetworkPolicy.
    Reach(commands::reach::ReachArgs),
    /// Run the admission webhook (HTTPS AdmissionReview v1).
    Webhook(Box<commands::webhook::WebhookArgs>),
    /// Run the tenant controller: apply what every tenant namespace must hold, repair drift, prune.
    Controller(commands::controller::ControllerArgs),
    /// Run the tenant users' API endpoint: their own view of the cluster, every request made as them.
    Proxy(commands::proxy::ProxyArgs),
    /// Convert another tool's tenants into Palisade Tenants.
    #[command(subcommand)]
    Import(commands::import::ImportCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Crds(args) => commands::crds::run(args),
        Command::Validate(args) => commands::validate::run(args),
        Command::Render(args) => commands::render::run(args),
        Command::Import(command) => commands::import::run(command),
        Command::Check(args) => commands::check::run(args),
        Command::Audit(args) => commands::audit::run(args),
        Command::Reach(args) => commands::reach::run(args),
        Command::Webhook(args) => commands::webhook::run(args),
        Command::Controller(args) => commands::controller::run(args),
        Command::Proxy(args) => commands::proxy::run(args),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
