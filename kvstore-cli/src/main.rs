//! `kvstore`: audit, diff and inspect a live store from its manifest.
//!
//! The manifest is what a store's `schema()` returns, written to a file (for example by a test
//! that keeps it committed, see `kvstore::manifest::assert_snapshot`). Exit codes: 0 all is well,
//! 1 problems were found (invalid data, a breaking change), 2 the command could not run (a bad
//! argument, a missing manifest, a server that cannot be reached).

mod inspect;
mod report;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use kvstore::manifest::{self, Compatibility, Manifest};
use kvstore::{DynBackend, Progress};

/// Audit, diff and inspect a kvstore keyspace from its manifest.
#[derive(Parser, Debug)]
#[command(name = "kvstore", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Check every stored value against its pattern's schema (and its `previous` versions).
    ///
    /// Prints a table per pattern (keys checked, valid, outdated, invalid, of another kind), the
    /// keys that match no pattern, and the first problems. Exit 0 when everything is valid, 1
    /// when something is not, 2 when the audit could not run.
    #[command(
        after_help = "Example:\n  kvstore audit --manifest schema.json --url redis://127.0.0.1:6379\n  kvstore audit --manifest schema.json --url redis+cluster://10.0.0.1:7000,10.0.0.2:7000 --json"
    )]
    Audit {
        /// The manifest file (a store's `schema()` as JSON).
        #[arg(long)]
        manifest: PathBuf,
        /// The store: `redis://`, `rediss://`, `redis+cluster://`, `redb://`.
        #[arg(long)]
        url: String,
        /// Scan under this key prefix instead of the manifest's common prefix.
        #[arg(long)]
        prefix: Option<String>,
        /// How many problems to list (the counts are always complete).
        #[arg(long, default_value_t = 20)]
        problems: usize,
        /// Print the report as JSON (on stdout).
        #[arg(long)]
        json: bool,
    },
    /// Compare two manifests: each change compatible (old data still reads), migrates (read
    /// through a `previous` version) or breaking.
    ///
    /// Exit 1 when a change is breaking.
    #[command(after_help = "Example:\n  kvstore diff schema.old.json schema.json")]
    Diff {
        /// The manifest the stored data was written with.
        old: PathBuf,
        /// The manifest about to be deployed.
        new: PathBuf,
        /// Print the changes as JSON (on stdout).
        #[arg(long)]
        json: bool,
    },
    /// List the stored keys that match a pattern (`*`: one id; `{*}`: one colocated id), in
    /// key order.
    #[command(
        after_help = "Example:\n  kvstore keys 'shop:u:*' --url redis://127.0.0.1:6379\n  kvstore keys 'shop:' --url redb://./data.redb   # a trailing `:` lists everything under it"
    )]
    Keys {
        /// The key pattern, or a prefix ending in `:`.
        pattern: String,
        /// The store.
        #[arg(long)]
        url: String,
        /// Stop after this many keys.
        #[arg(long)]
        limit: Option<usize>,
    },
    /// Show what is stored at a key: its kind, TTL and value, and (with a manifest) whether it
    /// is valid.
    #[command(
        after_help = "Example:\n  kvstore get shop:u:alice --url redis://127.0.0.1:6379 --manifest schema.json"
    )]
    Get {
        /// The full key.
        key: String,
        /// The store.
        #[arg(long)]
        url: String,
        /// The manifest, to check the value against its pattern.
        #[arg(long)]
        manifest: Option<PathBuf>,
    },
    /// Count the keys and bytes stored under each pattern of a manifest.
    #[command(
        after_help = "Example:\n  kvstore stats --url redis://127.0.0.1:6379 --manifest schema.json"
    )]
    Stats {
        /// The store.
        #[arg(long)]
        url: String,
        /// The manifest.
        #[arg(long)]
        manifest: PathBuf,
        /// Print the counts as JSON (on stdout).
        #[arg(long)]
        json: bool,
    },
}

/// A failure to run at all (exit 2), with what to do about it.
struct Fatal(String);

impl<E: std::fmt::Display> From<E> for Fatal {
    fn from(e: E) -> Fatal {
        Fatal(e.to_string())
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli.command).await {
        Ok(code) => code,
        Err(Fatal(message)) => {
            eprintln!("kvstore: {message}");
            ExitCode::from(2)
        }
    }
}

async fn run(command: Cmd) -> Result<ExitCode, Fatal> {
    match command {
        Cmd::Audit {
            manifest,
            url,
            prefix,
            problems,
            json,
        } => {
            let manifest = load(&manifest)?;
            let backend = open(&url).await?;
            let report = audit(backend, &manifest, prefix.as_deref()).await?;
            if json {
                println!("{}", report::audit_json(&report, problems));
            } else {
                print!("{}", report::audit_text(&report, problems));
            }
            let clean = report.invalid == 0 && report.wrong_type == 0 && report.unknown == 0;
            Ok(if clean {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Cmd::Diff { old, new, json } => {
            let changes = manifest::diff(&load(&old)?, &load(&new)?);
            if json {
                println!("{}", report::diff_json(&changes));
            } else if changes.is_empty() {
                println!("no changes");
            } else {
                for change in &changes {
                    println!("{change}");
                }
            }
            let breaking = changes
                .iter()
                .any(|c| c.compatibility == Compatibility::Breaking);
            Ok(if breaking {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            })
        }
        Cmd::Keys {
            pattern,
            url,
            limit,
        } => {
            let backend = open(&url).await?;
            for key in inspect::keys(&backend, &pattern, limit).await? {
                println!("{}", inspect::printable(&key));
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Get { key, url, manifest } => {
            let manifest = manifest.map(|m| load(&m)).transpose()?;
            let backend = open(&url).await?;
            let valid = inspect::get(&backend, &key, manifest.as_ref()).await?;
            Ok(if valid {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Cmd::Stats {
            url,
            manifest,
            json,
        } => {
            let manifest = load(&manifest)?;
            let backend = open(&url).await?;
            let stats = inspect::stats(&backend, &manifest).await?;
            if json {
                println!("{}", report::stats_json(&stats));
            } else {
                print!("{}", report::stats_text(&stats));
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn load(path: &std::path::Path) -> Result<Manifest, Fatal> {
    Manifest::from_file(path).map_err(|e| {
        Fatal(format!(
            "{e}\n  (write it from your code with `std::fs::write(\"schema.json\", serde_json::to_string_pretty(&App::schema())?)`, or keep it with `kvstore::manifest::assert_snapshot`)"
        ))
    })
}

async fn open(url: &str) -> Result<DynBackend, Fatal> {
    kvstore::connect(url).await.map_err(|e| {
        Fatal(format!(
            "{e}\n  (check that the server is running and reachable, and the URL: redis://host:port, rediss://..., redis+cluster://host:port,host:port, or redb://path)"
        ))
    })
}

/// The audit, with a progress bar on a terminal and plain lines otherwise (both on stderr).
async fn audit(
    backend: DynBackend,
    manifest: &Manifest,
    prefix: Option<&str>,
) -> Result<kvstore::AuditReport, Fatal> {
    let terminal = std::io::stderr().is_terminal();
    let bar = terminal.then(|| {
        let bar = indicatif::ProgressBar::new_spinner();
        bar.set_style(
            indicatif::ProgressStyle::with_template("{spinner} {pos} keys scanned ({per_sec})")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
        );
        bar
    });
    let mut last_line = 0u64;
    let mut progress = |p: &Progress| match &bar {
        Some(bar) => bar.set_position(p.scanned),
        None => {
            if p.scanned >= last_line + 100_000 {
                last_line = p.scanned;
                eprintln!("kvstore: {} keys scanned", p.scanned);
            }
        }
    };
    let report = manifest::audit(backend, manifest, prefix, &mut progress).await;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    report.map_err(|e| Fatal(format!("the audit stopped: {e}")))
}
