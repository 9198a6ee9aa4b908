use std::process::ExitCode;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct RenderArgs {
    #[arg(short = 'f', long = "file", required = true)]
    pub files: Vec<PathBuf>,
}

pub fn run(_args: &RenderArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not implemented yet")
}
