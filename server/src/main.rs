use std::process::ExitCode;

use clap::Parser;
use usher::cli::{Cli, Command};

// Analysis allocates many small, short-lived values (JSON of resources, findings); mimalloc
// serves them markedly faster than the system allocator.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Check(args) => usher::cli::check::run(args),
        Command::Test(args) => usher::cli::test::run(args),
        Command::Index(args) => usher::cli::index::run_index(args),
        Command::Search(args) => usher::cli::index::run_search(args),
        Command::Lsp(_) => usher::lsp::run().map(|()| ExitCode::SUCCESS),
        Command::Mcp(args) => usher::mcp::run(args),
        Command::Cluster(args) => usher::cli::cluster::run(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("usher: {e:#}");
            ExitCode::from(2)
        }
    }
}
