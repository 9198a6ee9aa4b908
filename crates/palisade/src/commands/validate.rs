use std::process::ExitCode;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct ValidateArgs {
    #[arg(short = 'f', long = "file", required = true)]
    pub files: Vec<PathBuf>,
}

pub fn run(_args: &ValidateArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not implemented yet")
}
