//! The `echowatch` command: parses arguments, sets up logging, runs one command.
//! Exit status: 0 all went well; 2 some sources failed (the rest were ingested);
//! 1 nothing could be done.

mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
    // A usage error exits 1 ("nothing could be done"), not clap's 2, which here means that
    // some sources failed.
    let args = match cli::Args::parse_checked() {
        Ok(args) => args,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    match cli::run(args) {
        Ok(code) => code,
        // The reader of our output went away (`| head`): it had all it wanted, nothing failed
        // on our side. Exit 0, not 141 (a SIGPIPE death): `set -o pipefail` scripts then
        // treat `echowatch export | head` as the success it is (ripgrep and others do the
        // same). Every command's stdout errors come here (see `cli::is_broken_pipe`).
        Err(e) if cli::is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("echowatch: {}", describe(&e));
            ExitCode::from(1)
        }
    }
}

/// The error and its causes on one line, each cause once: many of our errors already say
/// their cause ("cannot read config x: No such file…"), which the chain would repeat.
fn describe(e: &anyhow::Error) -> String {
    let mut text = e.to_string();
    for cause in e.chain().skip(1) {
        let cause = cause.to_string();
        if !text.contains(&cause) {
            text.push_str(": ");
            text.push_str(&cause);
        }
    }
    text
}
