//! The `echowatch` command: parses arguments, sets up logging, runs one command.
//! Exit status: 0 all went well; 2 some sources failed (the rest were ingested);
//! 1 nothing could be done.

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = cli::Args::parse();
    match cli::run(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("echowatch: {e:#}");
            ExitCode::from(1)
        }
    }
}
