use std::process::ExitCode;

#[derive(clap::Subcommand)]
pub enum ImportCommand {
    Capsule,
}

pub fn run(_command: &ImportCommand) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not implemented yet")
}
