//! The `flowtag` binary: parse the command line, run, exit with the run's code.

use clap::Parser;
use std::io::Write;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = match flowtag::cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => e.exit(),
        Err(e) => {
            // clap quotes the argument it refused, as given: controls in it are shown, not
            // obeyed, line by line (clap's own message spans several).
            let text = e.render().to_string();
            let mut err = std::io::stderr().lock();
            for line in text.lines() {
                let _ = writeln!(err, "{}", flowtag::output::escape::visible(line));
            }
            return ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2));
        }
    };
    ExitCode::from(flowtag::app::run(cli).code())
}
