//! The `flowtag` binary: parse the command line, run, exit with the run's code.

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = flowtag::cli::Cli::parse();
    ExitCode::from(flowtag::app::run(cli).code())
}
