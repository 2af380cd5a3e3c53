//! `kvstore`: audit, diff and inspect a live store from its manifest.
//!
//! The manifest is what a store's `schema()` returns, written to a file (for example by a test
//! that keeps it committed, see `kvstore::manifest::assert_snapshot`). Exit codes: 0 all is well,
//! 1 problems were found (invalid data, a breaking change), 2 the command could not run (a bad
//! argument, a missing manifest, a server that cannot be reached). With `--json`, the output is
//! JSON and an error is one JSON object on stderr, `{"error": "...", "kind": "..."}`. A reader
//! that stops reading (`| head -1`) ends the command quietly with exit 0.

mod glob;
mod inspect;
mod report;

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use kvstore::manifest::{self, Compatibility, Manifest};
use kvstore::{BackendErrorKind, DynBackend, Progress};

/// Audit, diff and inspect a kvstore keyspace from its manifest.
///
/// Exit codes: 0 all is well, 1 problems were found, 2 the command could not run. `audit`,
/// `stats`, `keys` and `get` never create a store: a `redb://` file must exist, and `memory://`
/// is refused.
#[derive(Parser, Debug)]
#[command(name = "kvstore", version, about, long_about)]
struct Cli {
    /// Print the result as JSON on stdout, and an error as one JSON object on stderr:
    /// `{"error": "<message>", "kind": "<usage|manifest|connection|backend|output>"}`.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Check every stored value against its pattern's schema (and its `previous` versions).
    ///
    /// Prints a table per pattern (keys checked, valid, outdated, invalid, of another kind), the
    /// keys that match no pattern, and the first problems. Exit 0 when everything is valid, 1
    /// when something is not, 2 when the audit could not run (a `redb://` file that does not
    /// exist is an error: nothing is created).
    #[command(
        after_help = "Example:\n  kvstore audit --manifest schema.json --url redis://127.0.0.1:6379\n  kvstore audit --manifest schema.json --url redis+cluster://10.0.0.1:7000,10.0.0.2:7000 --json"
    )]
    Audit {
        /// The manifest file (a store's `schema()` as JSON).
        #[arg(long)]
        manifest: PathBuf,
        /// The store: `redis://`, `rediss://`, `redis+cluster://`, or `redb://` (an existing file).
        #[arg(long)]
        url: String,
        /// Scan under this key prefix instead of the manifest's common prefix.
        #[arg(long)]
        prefix: Option<String>,
        /// How many problems to list (the counts are always complete).
        #[arg(long, default_value_t = 20)]
        problems: usize,
    },
    /// Make the secondary indexes of a manifest match their records: add the entries records
    /// need, remove the stale ones, report unique keys two records have.
    ///
    /// Safe while the service writes (every change is a step of the index protocol). An index
    /// whose key a function computes (`key_fn`) is skipped: only the program can repair it. Exit
    /// 0 when every index matches its records now, 1 when conflicts remain (change one of each
    /// pair of records), 2 when the repair could not run.
    #[command(
        after_help = "Example:\n  kvstore repair --manifest schema.json --url redis://127.0.0.1:6379\n  kvstore repair --manifest schema.json --url redis://127.0.0.1:6379 --index 'app:user_by_email:*'"
    )]
    Repair {
        /// The manifest file (a store's `schema()` as JSON).
        #[arg(long)]
        manifest: PathBuf,
        /// The store: `redis://`, `rediss://`, `redis+cluster://`, or `redb://` (an existing file).
        #[arg(long)]
        url: String,
        /// Repair only this index (its pattern, as in the manifest).
        #[arg(long)]
        index: Option<String>,
    },
    /// Compare two manifests: each change compatible (old data still reads), migrates (read
    /// through a `previous` version) or breaking.
    ///
    /// Exit 1 when a change is breaking. A tightened constraint (bounds, lengths, `pattern`,
    /// `format`) is breaking even when the old schema is listed in `previous`: a value that has
    /// the current shape but breaks a constraint is invalid, not outdated. Removing a `previous`
    /// version is breaking too (values still in it no longer read).
    #[command(after_help = "Example:\n  kvstore diff schema.old.json schema.json")]
    Diff {
        /// The manifest the stored data was written with.
        old: PathBuf,
        /// The manifest about to be deployed.
        new: PathBuf,
    },
    /// List the stored keys that a glob matches, as Redis's `SCAN MATCH` would, in key order.
    ///
    /// `*` matches any text (`:` included), `?` one byte, `[abc]`, `[^abc]` and `[a-z]` one byte
    /// of a set, and `\` makes the next character literal. A pattern ending in `:` lists
    /// everything under that prefix. Every key is listed, whether or not it fits a layout, as
    /// stored (ids stay percent-encoded as they are). On a terminal, control characters and
    /// backslashes are shown escaped (`\u{1b}`, `\\`) so that a hostile key cannot rewrite the
    /// screen; in a pipe or a file, keys are written exactly as stored, one per line; with
    /// `--json`, a JSON array of strings.
    #[command(
        after_help = "Example:\n  kvstore keys 'shop:u:*' --url redis://127.0.0.1:6379\n  kvstore keys 'shop:' --url redb://./data.redb   # a trailing `:` lists everything under it\n  kvstore keys 'shop:u:*' --url redb://./data.redb --limit 10 --json"
    )]
    Keys {
        /// The glob, or a prefix ending in `:`.
        pattern: String,
        /// The store (`redb://`: an existing file).
        #[arg(long)]
        url: String,
        /// List only the first N keys in key order (all are read, then sorted, then cut).
        #[arg(long, value_name = "N")]
        limit: Option<usize>,
    },
    /// Show what is stored at a key: its kind, TTL and value, and (with a manifest) whether it
    /// is valid.
    ///
    /// With a manifest, the value is decoded by its pattern's kind: counters and packed integers
    /// as numbers (of the pattern's integer type), bits as the offsets that are set, sets and
    /// lists as their members, sorted-set members with their scores, maps as field → value; a
    /// member, element or field that does not read is pointed at by its text or position. Exit
    /// 1 when the key is missing, invalid or matches no pattern.
    #[command(
        after_help = "Example:\n  kvstore get shop:u:alice --url redis://127.0.0.1:6379 --manifest schema.json"
    )]
    Get {
        /// The full key.
        key: String,
        /// The store (`redb://`: an existing file).
        #[arg(long)]
        url: String,
        /// The manifest, to decode the value by its pattern and check it.
        #[arg(long)]
        manifest: Option<PathBuf>,
    },
    /// Count the keys and bytes stored under each pattern of a manifest.
    #[command(
        after_help = "Example:\n  kvstore stats --url redis://127.0.0.1:6379 --manifest schema.json"
    )]
    Stats {
        /// The store (`redb://`: an existing file).
        #[arg(long)]
        url: String,
        /// The manifest.
        #[arg(long)]
        manifest: PathBuf,
    },
}

/// Why a command could not run (exit 2): what failed, in words, and of which kind.
pub(crate) struct Fatal {
    kind: FatalKind,
    message: String,
}

/// The kinds of [`Fatal`], as `--json` names them in `"kind"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FatalKind {
    /// A bad argument: a missing option, an unknown URL scheme, `memory://`.
    Usage,
    /// The manifest file cannot be read, is not JSON or is not a manifest.
    Manifest,
    /// The store cannot be reached or opened: a server that does not answer, a `redb://` file
    /// that does not exist or that another process has open.
    Connection,
    /// The store failed while it was being read.
    Backend,
    /// The output could not be written (other than a closed pipe).
    Output,
    /// Whoever read the output stopped reading (a closed pipe, `| head -1`): not a failure,
    /// the command ends quietly with exit 0.
    Closed,
}

impl FatalKind {
    fn name(self) -> &'static str {
        match self {
            FatalKind::Usage => "usage",
            FatalKind::Manifest => "manifest",
            FatalKind::Connection => "connection",
            FatalKind::Backend => "backend",
            FatalKind::Output | FatalKind::Closed => "output",
        }
    }
}

impl Fatal {
    pub(crate) fn new(kind: FatalKind, message: impl Into<String>) -> Fatal {
        Fatal {
            kind,
            message: message.into(),
        }
    }
}

impl From<kvstore::Error> for Fatal {
    fn from(e: kvstore::Error) -> Fatal {
        let kind = match &e {
            kvstore::Error::Backend(b)
                if matches!(
                    b.kind(),
                    BackendErrorKind::Connection
                        | BackendErrorKind::Timeout
                        | BackendErrorKind::Auth
                        | BackendErrorKind::Unavailable
                ) =>
            {
                FatalKind::Connection
            }
            _ => FatalKind::Backend,
        };
        Fatal::new(kind, e.to_string())
    }
}

impl From<std::io::Error> for Fatal {
    fn from(e: std::io::Error) -> Fatal {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            Fatal::new(FatalKind::Closed, "the output was closed")
        } else {
            Fatal::new(FatalKind::Output, format!("cannot write the output: {e}"))
        }
    }
}

/// Standard output, locked and buffered; every write goes through `writeln!` so that a closed
/// pipe is an error the command returns (and ends on quietly), never a panic.
pub(crate) struct Out {
    inner: std::io::BufWriter<std::io::StdoutLock<'static>>,
    /// Whether standard output is a terminal (keys are then shown with control characters
    /// escaped).
    pub(crate) terminal: bool,
}

impl Out {
    fn new() -> Out {
        let stdout = std::io::stdout();
        let terminal = stdout.is_terminal();
        Out {
            inner: std::io::BufWriter::new(stdout.lock()),
            terminal,
        }
    }

    /// A stored key as this output shows it (see [`inspect::shown_key`]).
    pub(crate) fn key<'a>(&self, key: &'a str) -> std::borrow::Cow<'a, str> {
        inspect::shown_key(key, self.terminal)
    }
}

impl Write for Out {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.inner.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Prints why the command could not run on stderr (one JSON object with `--json`); errors
/// writing it are ignored, as there is nowhere left to report them.
fn report_fatal(fatal: &Fatal, json: bool) {
    let mut stderr = std::io::stderr().lock();
    let _ = if json {
        writeln!(
            stderr,
            "{}",
            serde_json::json!({"error": fatal.message, "kind": fatal.kind.name()})
        )
    } else {
        writeln!(stderr, "kvstore: {}", fatal.message)
    };
}

/// Whether `--json` was asked for, read from the raw arguments: for the errors clap reports
/// before there are parsed ones.
fn json_requested() -> bool {
    std::env::args_os()
        .skip(1)
        .take_while(|a| a != "--")
        .any(|a| a == "--json")
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return clap_error(&e),
    };
    let json = cli.json;
    let mut out = Out::new();
    let result = match run(cli.command, json, &mut out).await {
        Ok(code) => out.flush().map(|()| code).map_err(Fatal::from),
        Err(fatal) => {
            // What was written before the failure still goes out, before the error.
            let _ = out.flush();
            Err(fatal)
        }
    };
    match result {
        Ok(code) => code,
        Err(fatal) if fatal.kind == FatalKind::Closed => ExitCode::SUCCESS,
        Err(fatal) => {
            report_fatal(&fatal, json);
            ExitCode::from(2)
        }
    }
}

/// A usage error from clap (exit 2; one JSON object with `--json`), or `--help`/`--version`
/// (exit 0).
fn clap_error(e: &clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    let shown = matches!(
        e.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    );
    if shown || !json_requested() {
        // clap writes help to stdout and errors to stderr; a closed pipe is not worth a panic.
        let _ = e.print();
        return ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2));
    }
    let rendered = e.render().to_string();
    let message = rendered.trim().trim_start_matches("error: ");
    report_fatal(&Fatal::new(FatalKind::Usage, message), true);
    ExitCode::from(2)
}

async fn run(command: Cmd, json: bool, out: &mut Out) -> Result<ExitCode, Fatal> {
    match command {
        Cmd::Audit {
            manifest,
            url,
            prefix,
            problems,
        } => {
            let manifest = load(&manifest)?;
            let backend = open(&url).await?;
            let report = audit(backend, &manifest, prefix.as_deref()).await?;
            if json {
                writeln!(out, "{}", report::audit_json(&report, problems))?;
            } else {
                write!(out, "{}", report::audit_text(&report, problems))?;
            }
            let clean = report.invalid == 0
                && report.wrong_type == 0
                && report.unknown == 0
                && report.missing_entries == 0
                && report.stale_entries == 0
                && report.index_conflicts == 0;
            Ok(if clean {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Cmd::Repair {
            manifest,
            url,
            index,
        } => {
            let manifest = load(&manifest)?;
            if let Some(index) = &index {
                if manifest.get(index).and_then(|p| p.of.as_ref()).is_none() {
                    return Err(Fatal::new(
                        FatalKind::Usage,
                        format!("the manifest has no index `{index}` (an index's pattern, as in the manifest: `app:user_by_email:*`)"),
                    ));
                }
            }
            let backend = open(&url).await?;
            let repairs = repair(backend, &manifest, index.as_deref()).await?;
            if json {
                writeln!(out, "{}", report::repair_json(&repairs))?;
            } else {
                write!(out, "{}", report::repair_text(&repairs))?;
            }
            let conflicts = repairs
                .iter()
                .filter_map(|r| r.report.as_ref())
                .any(|r| r.conflicts > 0);
            Ok(if conflicts {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            })
        }
        Cmd::Diff { old, new } => {
            let changes = manifest::diff(&load(&old)?, &load(&new)?);
            if json {
                writeln!(out, "{}", report::diff_json(&changes))?;
            } else if changes.is_empty() {
                writeln!(out, "no changes")?;
            } else {
                for change in &changes {
                    writeln!(out, "{change}")?;
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
            let keys = inspect::keys(&backend, &pattern, limit).await?;
            if json {
                writeln!(out, "{}", serde_json::Value::from(keys))?;
            } else {
                for key in &keys {
                    let shown = out.key(key).into_owned();
                    writeln!(out, "{shown}")?;
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Get { key, url, manifest } => {
            let manifest = manifest.map(|m| load(&m)).transpose()?;
            let backend = open(&url).await?;
            let valid = inspect::get(&backend, &key, manifest.as_ref(), json, out).await?;
            Ok(if valid {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Cmd::Stats { url, manifest } => {
            let manifest = load(&manifest)?;
            let backend = open(&url).await?;
            let stats = inspect::stats(&backend, &manifest).await?;
            if json {
                writeln!(out, "{}", report::stats_json(&stats))?;
            } else {
                write!(out, "{}", report::stats_text(&stats))?;
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// How to write a manifest, for the errors about one.
const MANIFEST_HINT: &str = "(write it from your code with `std::fs::write(\"schema.json\", serde_json::to_string_pretty(&App::schema())?)`, or keep it with `kvstore::manifest::assert_snapshot`)";

/// Reads the manifest at `path`; each error says which step failed (reading the file, parsing
/// JSON, reading it as a manifest).
fn load(path: &std::path::Path) -> Result<Manifest, Fatal> {
    let shown = path.display();
    let bad =
        |message: String| Fatal::new(FatalKind::Manifest, format!("{message}\n  {MANIFEST_HINT}"));
    let text = std::fs::read_to_string(path)
        .map_err(|e| bad(format!("cannot read manifest {shown}: {e}")))?;
    let value: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| bad(format!("manifest {shown} is not JSON: {e}")))?;
    Manifest::from_json(&value).map_err(|e| bad(format!("manifest {shown}: {}", cause(&e))))
}

/// An error's own words, without the "backend error:" its kind adds in front.
fn cause(e: &kvstore::Error) -> String {
    match e {
        kvstore::Error::Backend(b) => {
            std::error::Error::source(b).map_or_else(|| b.to_string(), ToString::to_string)
        }
        other => other.to_string(),
    }
}

/// Opens the store at `url` to read it. Never creates one: a `redb://` file must exist, and
/// `memory://` (always a new, empty store) is refused.
async fn open(url: &str) -> Result<DynBackend, Fatal> {
    let (scheme, rest) = url
        .split_once("://")
        .map_or((String::new(), ""), |(s, rest)| {
            (s.to_ascii_lowercase(), rest)
        });
    match scheme.as_str() {
        "memory" => {
            return Err(Fatal::new(
                FatalKind::Usage,
                "`memory://` is a new, empty store that lives only inside this command, so there is nothing in it to read: give the URL of the store to inspect (redis://host:port, redis+cluster://host:port,host:port, or redb://path)",
            ))
        }
        "redb" if !rest.is_empty() => match std::fs::metadata(rest) {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Fatal::new(
                    FatalKind::Connection,
                    format!("there is no kvstore file at `{rest}` (nothing was created): check the path in the URL; kvstore audit, stats, keys and get only open an existing store"),
                ))
            }
            Err(e) => {
                return Err(Fatal::new(
                    FatalKind::Connection,
                    format!("cannot open the kvstore file `{rest}`: {e}"),
                ))
            }
        },
        _ => {}
    }
    let known = kvstore::backend::SCHEMES.contains(&scheme.as_str());
    kvstore::connect(url).await.map_err(|e| {
        let unavailable =
            matches!(&e, kvstore::Error::Backend(b) if b.kind() == BackendErrorKind::Unavailable);
        if !known {
            Fatal::new(FatalKind::Usage, cause(&e))
        } else if scheme == "redb" && unavailable {
            Fatal::new(
                FatalKind::Connection,
                format!("the kvstore file `{rest}` is in use by another process, and one process at a time can open it: stop that process, or inspect the store through it"),
            )
        } else if scheme == "redb" {
            Fatal::new(FatalKind::Connection, cause(&e))
        } else {
            Fatal::new(
                FatalKind::Connection,
                format!(
                    "{e}\n  (check that the server is running and reachable, and the URL: redis://host:port, rediss://..., redis+cluster://host:port,host:port, or redb://path)"
                ),
            )
        }
    })
}

/// The repair, with a progress bar on a terminal (one per index) and nothing otherwise.
async fn repair(
    backend: DynBackend,
    manifest: &Manifest,
    index: Option<&str>,
) -> Result<Vec<manifest::IndexRepair>, Fatal> {
    let terminal = std::io::stderr().is_terminal();
    let bar = terminal.then(|| {
        let bar = indicatif::ProgressBar::new_spinner();
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} {msg}: {pos} records and entries read ({per_sec})",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
        );
        bar
    });
    let mut current = String::new();
    let mut progress = |pattern: &str, read: u64| {
        if let Some(bar) = &bar {
            if current != pattern {
                current = pattern.to_owned();
                bar.set_message(current.clone());
            }
            bar.set_position(read);
        }
    };
    let repairs = manifest::repair(backend, manifest, index, &mut progress).await;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    repairs.map_err(|e| {
        let fatal = Fatal::from(e);
        Fatal::new(fatal.kind, format!("the repair stopped: {}", fatal.message))
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
                let _ = writeln!(std::io::stderr(), "kvstore: {} keys scanned", p.scanned);
            }
        }
    };
    let report = manifest::audit(backend, manifest, prefix, &mut progress).await;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    report.map_err(|e| {
        let fatal = Fatal::from(e);
        Fatal::new(fatal.kind, format!("the audit stopped: {}", fatal.message))
    })
}
