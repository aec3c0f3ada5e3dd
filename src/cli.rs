//! Command-line contract (DESIGN.md): names and JSON fields other programs rely on.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand, ValueEnum};

use echowatch::config::Config;
use echowatch::export::{self, HitInfo};
use echowatch::index::{SearchRequest, Sort};
use echowatch::ingest::{self, SourceEvent, SourceStatus, SyncReport};
use echowatch::model::{Provenance, Tag, counted};
use echowatch::workspace::{Workspace, WorkspaceError};

/// `println!` for command output, except that a closed pipe (`echowatch stats | head -1`)
/// becomes an error the command returns, which `main` ends quietly on, instead of a panic.
macro_rules! outln {
    ($($arg:tt)*) => {
        writeln!(std::io::stdout().lock(), $($arg)*)?
    };
}

#[derive(Parser, Debug)]
#[command(
    name = "echowatch",
    version,
    about = "Terminal news and regulation tracker: feeds and echomail, tagged by country and policy"
)]
pub struct Args {
    /// Config file [default: ./feeds.toml]
    #[arg(long, global = true, env = "ECHOWATCH_CONFIG")]
    config: Option<PathBuf>,
    /// Data folder [default: the `index` folder beside the config file]
    #[arg(long, global = true, env = "ECHOWATCH_DATA")]
    data: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

/// The options of `export` that only the gateway (`--format ftn`) reads: clap's id and the
/// flag as typed.
const FTN_ONLY: [(&str, &str); 12] = [
    ("area", "--area"),
    ("from", "--from"),
    ("to", "--to"),
    ("origin", "--origin"),
    ("password", "--password"),
    ("charset", "--charset"),
    ("outbound", "--outbound"),
    ("max_packet_kb", "--max-packet-kb"),
    ("busy_wait_ms", "--busy-wait-ms"),
    ("hang_before_confirm", "--hang-before-confirm"),
    ("hang_before_out", "--hang-before-out"),
    ("json", "--json"),
];

impl Args {
    /// The command line, parsed and checked (see [`Args::check`]).
    pub fn parse_checked() -> Result<Args, clap::Error> {
        use clap::{CommandFactory, FromArgMatches};
        let matches = Args::command().try_get_matches()?;
        let args = Args::from_arg_matches(&matches)?;
        args.check(&matches)
    }

    /// What clap cannot say in attributes, for `export`: the gateway's options are refused
    /// with jsonl and csv rather than silently ignored (a user who gives `--area` expects it
    /// to do something), and with `--format ftn` every missing required flag is named at
    /// once, not one per run.
    fn check(self, matches: &clap::ArgMatches) -> Result<Args, clap::Error> {
        let Some(Command::Export {
            format, out, ftn, ..
        }) = &self.command
        else {
            return Ok(self);
        };
        let Some(("export", given)) = matches.subcommand() else {
            return Ok(self);
        };
        let usage_error = |kind, message: String| {
            let mut cmd = <Args as clap::CommandFactory>::command();
            // Built, so that the error shows `echowatch export`'s usage line.
            cmd.build();
            let export = cmd.find_subcommand("export").cloned();
            export.unwrap_or(cmd).error(kind, message)
        };
        if *format != ExportFormat::Ftn {
            // Defaults (charset, size limit) count only when typed.
            let typed: Vec<&str> = FTN_ONLY
                .iter()
                .filter(|(id, _)| {
                    given.value_source(id) == Some(clap::parser::ValueSource::CommandLine)
                })
                .map(|(_, flag)| *flag)
                .collect();
            if typed == ["--json"] {
                return Err(usage_error(
                    clap::error::ErrorKind::ArgumentConflict,
                    "--json goes with --format ftn only, where it prints the gateway run's \
                     report; --format jsonl already writes the stories as JSON, one a line"
                        .into(),
                ));
            }
            if !typed.is_empty() {
                return Err(usage_error(
                    clap::error::ErrorKind::ArgumentConflict,
                    format!(
                        "{} {} the echomail gateway's (--format ftn) only; --format {} would \
                         ignore {}",
                        and_list(&typed),
                        if typed.len() == 1 { "is" } else { "are" },
                        if *format == ExportFormat::Csv {
                            "csv"
                        } else {
                            "jsonl"
                        },
                        if typed.len() == 1 { "it" } else { "them" },
                    ),
                ));
            }
            return Ok(self);
        }
        let missing: Vec<&str> = [
            (out.is_none(), "--out DIR"),
            (ftn.area.is_none(), "--area TAG"),
            (ftn.from.is_none(), "--from Z:N/F[.P]"),
            (ftn.to.is_none(), "--to Z:N/F[.P]"),
        ]
        .into_iter()
        .filter_map(|(absent, flag)| absent.then_some(flag))
        .collect();
        if !missing.is_empty() {
            return Err(usage_error(
                clap::error::ErrorKind::MissingRequiredArgument,
                format!("export --format ftn needs {}", and_list(&missing)),
            ));
        }
        Ok(self)
    }
}

/// `a`, `a and b`, `a, b and c`.
fn and_list(items: &[&str]) -> String {
    match items {
        [] => String::new(),
        [one] => (*one).to_string(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Fetch or read every source of the config (or those named), ingest, tag and index
    Sync {
        /// Only this source (repeatable)
        #[arg(long = "source", value_name = "NAME")]
        sources: Vec<String>,
        /// Read every file of path sources again, changed or not
        #[arg(long)]
        reread: bool,
    },
    /// Ingest local files or folders once: feeds, .pkt packets, bundles, BBS text exports
    Import {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// Search stories (tantivy query syntax; fields title: body: country: (a code or a
    /// name) policy: tag: source: kind: area: published: seen:, e.g. published:>=2026-08-01 or
    /// published:[2026-11-20 TO 2026-11-22] (a plain date is that whole day, UTC; `}` leaves
    /// the end day out); is:starred, is:unread and is:read for the flags)
    Search {
        query: String,
        /// Most stories to list; 0 lists every match
        #[arg(long, value_name = "N", default_value_t = 20)]
        limit: usize,
        #[arg(long, value_enum, default_value_t = SortArg::Relevance)]
        sort: SortArg,
        /// One JSON object per line
        #[arg(long)]
        json: bool,
    },
    /// Show one story
    Show {
        id: i64,
        /// One JSON object: the search fields plus body, links and tag details
        #[arg(long)]
        json: bool,
    },
    /// Add or remove tags by hand: +country:CN -policy:tariffs brief (a bare tag is added)
    Tag {
        id: i64,
        #[arg(allow_hyphen_values = true, required = true, value_name = "[+|-]TAG")]
        changes: Vec<String>,
    },
    /// Write stories (all, or those matching QUERY) as JSON lines, CSV, or an echomail packet
    Export {
        #[arg(long, value_enum)]
        format: ExportFormat,
        query: Option<String>,
        /// Output file (jsonl, csv) [default: standard output], or folder for the packets
        /// (ftn: required)
        #[arg(long)]
        out: Option<PathBuf>,
        #[command(flatten)]
        ftn: FtnArgs,
    },
    /// Rebuild the search index from the store
    Reindex,
    /// Re-run the tagger over every stored story (after a change of rules)
    Retag,
    /// Counts by source, kind, country and policy (for all stories, or a query)
    Stats {
        query: Option<String>,
        /// One JSON object: stories, by_source, by_kind, by_country, by_policy, by_tag,
        /// by_area
        #[arg(long)]
        json: bool,
    },
    /// Measure the tagger on a labeled JSONL file (fields title, summary, countries,
    /// policies; every line needs countries and policies, [] for none)
    EvalTags { file: PathBuf },
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum SortArg {
    Relevance,
    Newest,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum ExportFormat {
    Jsonl,
    Csv,
    /// A type 2+ echomail packet (the feed-to-echo gateway)
    Ftn,
}

/// Options of `export --format ftn`.
#[derive(clap::Args, Debug)]
struct FtnArgs {
    /// Echo area tag to post into (ftn: required)
    #[arg(long, value_name = "TAG")]
    area: Option<String>,
    /// Our address, Z:N/F[.P] (ftn: required)
    #[arg(long, value_name = "Z:N/F[.P]")]
    from: Option<echowatch::ftn::FtnAddress>,
    /// The uplink's address (ftn: required)
    #[arg(long, value_name = "Z:N/F[.P]")]
    to: Option<echowatch::ftn::FtnAddress>,
    /// Origin line text
    #[arg(long, value_name = "TEXT")]
    origin: Option<String>,
    /// Packet password agreed with the uplink
    #[arg(long, value_name = "PW", value_parser = packet_password)]
    password: Option<String>,
    /// Charset of the messages
    #[arg(long, value_enum, default_value_t = FtnCharset::Utf8)]
    charset: FtnCharset,
    /// Also place the packets in this binkd outbound (BSO): into NNNNnnnn.out while it
    /// stays within the size limit, the others attached through NNNNnnnn.flo, holding the
    /// uplink's busy flag NNNNnnnn.bsy meanwhile (waited for a few seconds if binkd has it)
    #[arg(long, value_name = "DIR")]
    outbound: Option<PathBuf>,
    /// Largest packet in KiB (0 = no limit); more stories make more packets, and a story
    /// larger than the limit goes alone in its own
    #[arg(long, value_name = "N", default_value_t = export::gateway::DEFAULT_MAX_PACKET_KB)]
    max_packet_kb: u32,
    /// How long to wait for the uplink's busy flag (NNNNnnnn.bsy) in the outbound, in
    /// milliseconds. Hidden: for the tests, which must not sleep for seconds.
    #[arg(long, value_name = "MS", hide = true)]
    busy_wait_ms: Option<u64>,
    /// Stop for ever after writing packet N, before recording it. Hidden: for the tests,
    /// which kill the run there.
    #[arg(long, value_name = "N", hide = true)]
    hang_before_confirm: Option<usize>,
    /// Stop for ever after placing packet N in the outbound, before --out gets it. Hidden:
    /// for the tests, which kill the run there.
    #[arg(long, value_name = "N", hide = true)]
    hang_before_out: Option<usize>,
    /// With --format ftn: print the run's report as one JSON object on standard output (the
    /// summary stays on standard error)
    #[arg(long)]
    json: bool,
}

/// A packet password fits the header's 8 bytes (FTS-0001); refused before anything is done.
fn packet_password(s: &str) -> Result<String, String> {
    if s.len() > 8 {
        return Err(format!(
            "a packet password has at most 8 bytes, this one {}",
            s.len()
        ));
    }
    Ok(s.to_string())
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum FtnCharset {
    Utf8,
    /// CP437 with transliteration of what it lacks
    Cp437,
}

/// Config and data folder as the flags, environment and defaults decide.
fn locate(args: &Args) -> Result<(Config, PathBuf)> {
    let config = match &args.config {
        Some(path) => Config::load(path)?,
        None => {
            let path = PathBuf::from("feeds.toml");
            if path.exists() {
                Config::load(&path)?
            } else if args.data.is_some() || matches!(args.command, Some(Command::EvalTags { .. }))
            {
                Config::empty(path)
            } else {
                // A cron job started in the wrong folder must not quietly sync nothing into a
                // new `./index`.
                let here = std::env::current_dir().unwrap_or_default();
                bail!(
                    "no feeds.toml in {}: run echowatch from the folder that holds it, or give --config FILE (or --data DIR)",
                    here.display()
                );
            }
        }
    };
    let data = args
        .data
        .clone()
        .unwrap_or_else(|| config.default_data_dir());
    Ok((config, data))
}

/// Logs go to a file in the data folder, never onto the terminal the user is reading.
fn init_logging(data: &Path) {
    if std::fs::create_dir_all(data).is_err() {
        return;
    }
    let Ok(file) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(data.join("echowatch.log"))
    else {
        return;
    };
    let filter =
        tracing_subscriber::EnvFilter::try_from_env("ECHOWATCH_LOG").unwrap_or_else(|_| {
            tracing_subscriber::EnvFilter::new("info,tantivy=warn,html5ever=error")
        });
    let _ = tracing_subscriber::fmt()
        .with_writer(std::sync::Mutex::new(file))
        .with_ansi(false)
        .with_env_filter(filter)
        .try_init();
}

/// Whether `e` is our output's reader going away (`echowatch export | head`): EPIPE from
/// any write to stdout, as a plain io error or inside the csv writer's error, which does not
/// give it as its `source()`.
pub fn is_broken_pipe(e: &anyhow::Error) -> bool {
    let broken = |io: &std::io::Error| io.kind() == std::io::ErrorKind::BrokenPipe;
    e.chain().any(|cause| {
        cause.downcast_ref::<std::io::Error>().is_some_and(broken)
            || cause
                .downcast_ref::<csv::Error>()
                .is_some_and(|c| matches!(c.kind(), csv::ErrorKind::Io(io) if broken(io)))
    })
}

impl Command {
    /// Commands that work on stories already stored: they refuse a `--data` folder without
    /// a store instead of creating one. Those that fill a store (sync, import, reindex, the
    /// interface, whose `r` syncs) create it.
    fn needs_store(&self) -> bool {
        matches!(
            self,
            Command::Search { .. }
                | Command::Show { .. }
                | Command::Tag { .. }
                | Command::Export { .. }
                | Command::Stats { .. }
                | Command::Retag
        )
    }
}

/// `sync --source` names as the config spells them: the source whose name matches in any case
/// (queries' `source:` ignores case too). An unknown name is an error that lists the
/// configured names, so a typo is fixed in one go.
fn resolve_sources(config: &Config, wanted: &[String]) -> Result<Vec<String>> {
    let names: Vec<&str> = config.sources.iter().map(|s| s.name.as_str()).collect();
    let listed = || {
        if names.is_empty() {
            format!("{} has no sources", config.path.display())
        } else {
            let quoted: Vec<String> = names.iter().map(|n| format!("{n:?}")).collect();
            format!("the sources are: {}", quoted.join(", "))
        }
    };
    // The config refuses names that differ only in case, so at most one matches.
    wanted
        .iter()
        .map(|name| {
            names
                .iter()
                .find(|n| n.to_lowercase() == name.to_lowercase())
                .map(|n| n.to_string())
                .ok_or_else(|| {
                    anyhow::anyhow!("no source named {name:?} in the config; {}", listed())
                })
        })
        .collect()
}

/// `import`'s status: as `sync`'s (0, or 2 when some paths failed and the rest were
/// ingested), except that 1 means nothing at all could be read (a missing path, or only
/// broken files), so a cron job can tell a missing spool folder from a partial failure.
fn import_code(report: &SyncReport) -> ExitCode {
    let s = &report.stories;
    let read_something = report.ok + report.unchanged + report.deferred > 0
        || s.new + s.updated + s.unchanged + s.duplicates + report.netmail_skipped > 0;
    if report.failed > 0 && !read_something {
        eprintln!("nothing could be imported");
        return ExitCode::from(1);
    }
    finish_code(report)
}

pub fn run(args: Args) -> Result<ExitCode> {
    let (config, data) = locate(&args)?;
    // A folder named by --data (or ECHOWATCH_DATA) that holds no store is most likely a
    // typo; checked before anything is written (the log included), so it creates nothing.
    // The default folder beside the config is a store not synced yet, and opens empty.
    if args.data.is_some() && args.command.as_ref().is_some_and(Command::needs_store) {
        Workspace::require_store(&data)?;
    }
    let sync_sources = match &args.command {
        Some(Command::Sync { sources, .. }) => resolve_sources(&config, sources)?,
        _ => Vec::new(),
    };
    if let Some(Command::EvalTags { file }) = &args.command {
        // The same rules as ingest: built-in plus the config's extra rules file, if any. It
        // reads no store: the data folder is neither needed nor created.
        let tagger = echowatch::workspace::LazyTagger::new(config.tagger_rules.clone()).get()?;
        let report = echowatch::classify::eval::evaluate_file(&tagger, file)?;
        write!(std::io::stdout().lock(), "{report}")?;
        return Ok(ExitCode::SUCCESS);
    }
    init_logging(&data);
    let Some(command) = args.command else {
        // No command: the interface. It opens the data folder itself (and keeps it in step
        // with a cron `sync` running beside it).
        echowatch::tui::run(config, &data)?;
        return Ok(ExitCode::SUCCESS);
    };
    // The folder's own error names it already: context would say it twice.
    let mut ws = Workspace::open(config, &data).map_err(|e| match e {
        e @ (WorkspaceError::DataDir { .. } | WorkspaceError::NotAFolder { .. }) => {
            anyhow::Error::new(e)
        }
        e => anyhow::Error::new(e).context(format!("cannot open data folder {}", data.display())),
    })?;
    match command {
        Command::Sync { reread, .. } => {
            let rereads = if reread {
                ingest::Rereads::All
            } else {
                ingest::Rereads::Changed
            };
            let report =
                with_progress(|on_event| ingest::sync(&mut ws, &sync_sources, rereads, on_event))?;
            let watches = print_watches(&ws);
            let code = finish(&report);
            match watches {
                // `sync | head` still says, by its status, whether sources failed.
                Err(e) if !is_broken_pipe(&e) => Err(e),
                _ => Ok(code),
            }
        }
        Command::Import { paths } => {
            let report = with_progress(|on_event| ingest::import(&mut ws, &paths, on_event))?;
            eprintln!("{}", report.summary());
            Ok(import_code(&report))
        }
        Command::Search {
            query,
            limit,
            sort,
            json,
        } => {
            let sort = match sort {
                SortArg::Relevance => Sort::Relevance,
                SortArg::Newest => Sort::Newest,
            };
            // The index reads `usize::MAX` as "every match" (it caps limits at its size).
            let limit = if limit == 0 { usize::MAX } else { limit };
            let page = ws.index.search(&SearchRequest {
                query: query.clone(),
                sort,
                limit,
                ..Default::default()
            })?;
            let snippets = if json {
                ws.index.snippets(&query)?
            } else {
                None
            };
            let mut out = std::io::stdout().lock();
            for hit in &page.hits {
                let Some(story) = ws.store.story(hit.id)? else {
                    continue;
                };
                if json {
                    let info = HitInfo {
                        score: hit.score,
                        snippet: snippets.as_ref().map(|s| s.of(&story.body)),
                    };
                    writeln!(out, "{}", export::story_json(&story, Some(&info), false))?;
                } else {
                    writeln!(out, "{}", list_line(&story))?;
                }
            }
            if !json {
                writeln!(
                    out,
                    "{} of {} matching stories",
                    page.hits.len(),
                    page.total
                )?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Show { id, json } => {
            let Some(story) = ws.store.story(id)? else {
                bail!("no story with id {id}")
            };
            let mut out = std::io::stdout().lock();
            if json {
                writeln!(out, "{}", export::story_json(&story, None, true))?;
            } else {
                write!(out, "{}", show_text(&story))?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Tag { id, changes } => {
            let Some(story) = ws.store.story(id)? else {
                bail!("no story with id {id}")
            };
            let (add, remove) = tag_changes(&ws, &changes)?;
            // Saying that a tag the story already has was "added" would imply a change. One
            // set by hand before is left alone; one from the tagger or the source is also set
            // by hand, so that a later retag cannot take it away.
            let mut by_hand = Vec::new();
            for tag in add {
                match story.tags.iter().find(|t| t.tag == tag) {
                    Some(t) if t.provenance == Provenance::Manual => {
                        eprintln!("{tag}: already there");
                    }
                    Some(t) => {
                        let from = match t.provenance {
                            Provenance::Source => "a tag of its source",
                            _ => "set by the tagger",
                        };
                        eprintln!("{tag}: already there ({from}), now also set by hand");
                        by_hand.push(tag);
                    }
                    None => by_hand.push(tag),
                }
            }
            if !by_hand.is_empty() || !remove.is_empty() {
                ws.store.set_manual_tags(id, &by_hand, &remove)?;
                ws.flush_index()?;
            }
            if let Some(story) = ws.store.story(id)? {
                let tags: Vec<String> = story.tags.iter().map(|t| t.tag.to_string()).collect();
                outln!("{id}: {}", tags.join(" "));
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Export {
            format: ExportFormat::Ftn,
            query,
            out,
            ftn,
        } => {
            let json = ftn.json;
            let opts = gateway_options(ftn, out)?;
            // The ledger is written: one writing run per data folder (see DataLock).
            let _lock = ws.lock_for_writing()?;
            let stories = matching_stories(&ws, query)?;
            let report = export::gateway::post(&mut ws.store, &stories, &opts)?;
            eprint!("{}", gateway_summary(&report, &opts, stories.is_empty()));
            if json {
                outln!("{}", gateway_json(&report, &opts));
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Export {
            format, query, out, ..
        } => {
            let format = if format == ExportFormat::Csv {
                export::Format::Csv
            } else {
                export::Format::Jsonl
            };
            let query = query.filter(|q| !q.trim().is_empty());
            let write_all = |sink: &mut dyn Write| -> Result<usize> {
                let mut exporter = export::Exporter::new(format, sink)?;
                let mut n = 0usize;
                match &query {
                    // Without a query, every story, streamed from the store in id order.
                    None => {
                        let mut failed = None;
                        ws.store.for_each_story(|s| {
                            if failed.is_none() {
                                match exporter.write(&s) {
                                    Ok(()) => n += 1,
                                    Err(e) => failed = Some(e),
                                }
                            }
                            Ok(())
                        })?;
                        if let Some(e) = failed {
                            return Err(e.into());
                        }
                    }
                    Some(q) => {
                        for story in matching_stories(&ws, Some(q.clone()))? {
                            exporter.write(&story)?;
                            n += 1;
                        }
                    }
                }
                exporter.finish()?;
                Ok(n)
            };
            // A regular file (or a new one) is written beside its name and renamed over it
            // once whole, so a killed run leaves the previous export as it was. Anything else
            // (/dev/null, a pipe, a symlink to keep) is written through, as before.
            let replaceable = |path: &Path| {
                std::fs::symlink_metadata(path).map_or(true, |m| m.file_type().is_file())
            };
            let n = match &out {
                Some(path) if replaceable(path) => export::gateway::replace_file(path, |file| {
                    write_all(&mut std::io::BufWriter::new(file))
                })
                .with_context(|| format!("cannot write {}", path.display()))?,
                Some(path) => {
                    let file = std::fs::File::create(path)
                        .with_context(|| format!("cannot create {}", path.display()))?;
                    write_all(&mut std::io::BufWriter::new(file))?
                }
                None => write_all(&mut std::io::BufWriter::new(std::io::stdout().lock()))?,
            };
            eprintln!("exported {}", counted(n, "story", "stories"));
            Ok(ExitCode::SUCCESS)
        }
        Command::Reindex => {
            let n = ws.reindex()?;
            eprintln!("reindexed {}", counted(n, "story", "stories"));
            Ok(ExitCode::SUCCESS)
        }
        Command::Retag => {
            let n = ws.retag()?;
            eprintln!("retagged {}", counted(n, "story", "stories"));
            Ok(ExitCode::SUCCESS)
        }
        Command::Stats { query, json } => {
            let stats = stats_of(&ws, query.as_deref().unwrap_or(""))?;
            if json {
                outln!("{stats}");
            } else {
                print_stats(&stats)?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::EvalTags { .. } => unreachable!("handled before opening the data folder"),
    }
}

/// `tag`'s arguments as tags to add and to remove: `+TAG` or a bare `TAG` adds (as in the
/// interface's tag editor), `-TAG` removes. Every bad one is reported, not only the first,
/// and nothing is changed then.
fn tag_changes(ws: &Workspace, changes: &[String]) -> Result<(Vec<Tag>, Vec<Tag>)> {
    let mut add = Vec::new();
    let mut remove = Vec::new();
    let mut bad = Vec::new();
    for change in changes {
        let (adding, text) = match change.split_at_checked(1) {
            Some(("+", rest)) => (true, rest),
            Some(("-", rest)) => (false, rest),
            _ => (true, change.as_str()),
        };
        match Tag::from_input(text) {
            // Read in order, as typed: the last word on a tag wins (`-brief +brief` adds it).
            Ok(tag) => {
                add.retain(|t| *t != tag);
                remove.retain(|t| *t != tag);
                if adding { &mut add } else { &mut remove }.push(tag);
            }
            Err(e) => bad.push(e.to_string()),
        }
    }
    if let Err(e) = ws.check_policies(&add) {
        bad.push(e.to_string());
    }
    match bad.as_slice() {
        [] => Ok((add, remove)),
        [one] => bail!("{one}"),
        many => bail!("no tag changed:\n  {}", many.join("\n  ")),
    }
}

/// Stories matching a query, newest first; every story when there is no query.
fn matching_stories(
    ws: &Workspace,
    query: Option<String>,
) -> Result<Vec<echowatch::store::StoryRecord>> {
    let query = query.unwrap_or_default();
    let total = ws
        .index
        .search(&SearchRequest {
            query: query.clone(),
            limit: 1,
            ..Default::default()
        })?
        .total;
    let page = ws.index.search(&SearchRequest {
        query,
        sort: Sort::Newest,
        limit: total.max(1),
        ..Default::default()
    })?;
    let mut out = Vec::with_capacity(page.hits.len());
    for hit in page.hits {
        if let Some(story) = ws.store.story(hit.id)? {
            out.push(story);
        }
    }
    Ok(out)
}

fn gateway_options(a: FtnArgs, out: Option<PathBuf>) -> Result<export::gateway::GatewayOptions> {
    let missing = |what: &str| anyhow::anyhow!("export --format ftn needs {what}");
    let max_packet_bytes = usize::try_from(a.max_packet_kb)
        .ok()
        .and_then(|kb| kb.checked_mul(1024))
        .ok_or_else(|| anyhow::anyhow!("--max-packet-kb {} is too large", a.max_packet_kb))?;
    Ok(export::gateway::GatewayOptions {
        max_packet_bytes,
        area: a.area.ok_or_else(|| missing("--area TAG"))?,
        from: a.from.ok_or_else(|| missing("--from Z:N/F[.P]"))?,
        to: a.to.ok_or_else(|| missing("--to Z:N/F[.P]"))?,
        origin: a.origin,
        password: a.password,
        charset: match a.charset {
            FtnCharset::Utf8 => echowatch::ftn::OutCharset::Utf8,
            FtnCharset::Cp437 => echowatch::ftn::OutCharset::Cp437,
        },
        out_dir: out.ok_or_else(|| missing("--out DIR"))?,
        outbound: a.outbound,
        busy_wait: a.busy_wait_ms.map_or(
            export::gateway::DEFAULT_BUSY_WAIT,
            std::time::Duration::from_millis,
        ),
        hang_before_confirm: a.hang_before_confirm,
        hang_before_out: a.hang_before_out,
    })
}

/// What a gateway run did, for stderr: the summary line, then with several packets one
/// line for each (its messages, size, and where it went in the outbound).
fn gateway_summary(
    report: &export::gateway::GatewayReport,
    opts: &export::gateway::GatewayOptions,
    nothing_matched: bool,
) -> String {
    use export::gateway::OutboundPlacement;
    // " and …" after the one packet's name; ", also in/as …" in the list of several.
    let placed = |p: &export::gateway::PacketWritten, listed: bool| match &p.outbound {
        None => String::new(),
        Some(OutboundPlacement::Packet(out)) => {
            let and = if listed { ", also in" } else { " and" };
            format!("{and} {}", out.display())
        }
        Some(OutboundPlacement::Attached { file, flow }) => {
            let and = if listed { ", also as" } else { " and" };
            format!("{and} {} (attached in {})", file.display(), flow.display())
        }
    };
    // Upper case, as the packets and the ledger have it.
    let area = opts.area.to_ascii_uppercase();
    let skipped = format!("{} skipped (already posted there)", report.skipped);
    let stories = |n| counted(n, "story", "stories");
    let mut s = match report.packets.as_slice() {
        [] if nothing_matched => "nothing to post: no story matches the query\n".into(),
        [] => format!(
            "nothing to post: {} already posted to {}\n",
            stories(report.skipped),
            area
        ),
        [one] => format!(
            "posted {} to {} in {}{}; {skipped}\n",
            stories(report.posted),
            area,
            one.path.display(),
            placed(one, false)
        ),
        many => {
            let limit = match opts.max_packet_bytes {
                0 => String::new(),
                b => format!(" (limit {} KiB a packet)", b / 1024),
            };
            let mut s = format!(
                "posted {} to {} in {} packets{limit}; {skipped}\n",
                stories(report.posted),
                area,
                many.len()
            );
            for p in many {
                s.push_str(&format!(
                    "  {}: {}, {}{}\n",
                    p.path.display(),
                    stories(p.messages),
                    counted(p.bytes, "byte", "bytes"),
                    placed(p, true)
                ));
            }
            s
        }
    };
    // FTS-5005 asks for a word when a left-over flag is removed.
    if let Some(stale) = &report.stale_flag
        && let Some(pid) = stale.killed_run
    {
        s.push_str(&format!(
            "removed the busy flag {} of a killed echowatch run (PID {pid}, no longer running)\n",
            stale.path.display()
        ));
    } else if let Some(stale) = &report.stale_flag {
        s.push_str(&format!(
            "removed a stale busy flag {} (untouched for {})\n",
            stale.path.display(),
            counted(
                usize::try_from(stale.age.as_secs() / 3600).unwrap_or(usize::MAX),
                "hour",
                "hours"
            )
        ));
    }
    if report.adopted > 0 {
        s.push_str(&format!(
            "recorded {} that a killed run had written into its packets (not posted again)\n",
            stories(report.adopted)
        ));
    }
    // The sysop's local message base reads --out: say where those that had reached only
    // the uplink's outbound went.
    for copy in &report.copies {
        s.push_str(&format!(
            "copied {} that had reached only the outbound into {} (for --out; not sent to {} \
             again)\n",
            stories(copy.messages),
            copy.path.display(),
            opts.to
        ));
    }
    if report.temp_files_removed > 0 {
        s.push_str(&format!(
            "removed {} left by runs that were killed (.echowatch-PID-N.tmp)\n",
            counted(
                report.temp_files_removed,
                "temporary file",
                "temporary files"
            )
        ));
    }
    s
}

/// `export --format ftn --json`: what the run did, as one object. The field names are a
/// contract (README, gateway paragraph): add to them, don't rename them.
fn gateway_json(
    report: &export::gateway::GatewayReport,
    opts: &export::gateway::GatewayOptions,
) -> serde_json::Value {
    use export::gateway::OutboundPlacement;
    use serde_json::{Value, json};
    // The paths are the user's --out/--outbound and our ASCII names; one that is not UTF-8
    // is shown with U+FFFD rather than failing a run whose packets are already out.
    let path = |p: &Path| p.to_string_lossy().into_owned();
    // Copies of adopted stories first, as they were written first; `adopted` tells them apart.
    let packets: Vec<Value> = report
        .copies
        .iter()
        .map(|p| (p, true))
        .chain(report.packets.iter().map(|p| (p, false)))
        .map(|(p, adopted)| {
            let outbound = match &p.outbound {
                None => Value::Null,
                Some(OutboundPlacement::Packet(out)) => {
                    json!({ "placement": "packet", "path": path(out) })
                }
                Some(OutboundPlacement::Attached { file, flow }) => {
                    json!({ "placement": "attached", "file": path(file), "flow": path(flow) })
                }
            };
            json!({
                "path": path(&p.path),
                "messages": p.messages,
                "bytes": p.bytes,
                "outbound": outbound,
                "adopted": adopted,
            })
        })
        .collect();
    let stale_flag = report
        .stale_flag
        .as_ref()
        .map(|s| json!({ "path": path(&s.path), "age_seconds": s.age.as_secs(), "killed_run_pid": s.killed_run }));
    json!({
        // As the packets and the ledger have it (echo tags are upper case).
        "area": opts.area.to_ascii_uppercase(),
        "from": opts.from.to_string(),
        "to": opts.to.to_string(),
        "posted": report.posted,
        "skipped": report.skipped,
        "packets": packets,
        "stale_flag": stale_flag,
        "temp_files_removed": report.temp_files_removed,
        "adopted": report.adopted,
    })
}

/// Run an ingest with a progress bar on a terminal, or plain lines for failures otherwise.
fn with_progress(
    f: impl FnOnce(&mut dyn FnMut(SourceEvent<'_>)) -> Result<SyncReport, ingest::IngestError>,
) -> Result<SyncReport> {
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = indicatif::ProgressBar::new(0);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} [{bar:30}] {pos}/{len} sources {wide_msg}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        bar
    });
    let mut on_event = |ev: SourceEvent<'_>| {
        if let Some(bar) = &bar {
            bar.set_length(ev.total as u64);
            bar.set_position(ev.done as u64);
            bar.set_message(ev.name.to_string());
        }
        match ev.status {
            SourceStatus::Failed(e) => {
                let line = format!("failed: {}: {e}", ev.name);
                match &bar {
                    Some(bar) => bar.println(line),
                    None => eprintln!("{line}"),
                }
            }
            SourceStatus::Deferred(until) => {
                let line = format!(
                    "waiting: {}: server asked not to fetch before {}",
                    ev.name,
                    until.to_rfc3339()
                );
                match &bar {
                    Some(bar) => bar.println(line),
                    None => eprintln!("{line}"),
                }
            }
            _ => {}
        }
    };
    let report = f(&mut on_event)?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    Ok(report)
}

fn finish(report: &SyncReport) -> ExitCode {
    eprintln!("{}", report.summary());
    finish_code(report)
}

fn finish_code(report: &SyncReport) -> ExitCode {
    if report.failed > 0 {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    }
}

/// For cron mail: how many stories each saved search gained since it was last viewed.
fn print_watches(ws: &Workspace) -> Result<()> {
    // The config's watches and those saved in the interface (`w`).
    let (watches, error) = echowatch::tui::watches::load(&ws.config.watches, &ws.data_dir);
    if let Some(e) = error {
        eprintln!("watches: {e}");
    }
    for w in &watches {
        let since = ws.store.watch_last_viewed(&w.name)?;
        match ws.index.count_new_since(&w.query, since) {
            Ok(n) => outln!("watch {}: {n} new since last viewed", w.name),
            Err(e) => match ws.config.watch_lines.get(&w.name).filter(|_| w.from_config) {
                Some(line) => {
                    eprintln!("{}:{line}: watch {}: {e}", ws.config.path.display(), w.name)
                }
                None => eprintln!("watch {}: {e}", w.name),
            },
        }
    }
    Ok(())
}

fn list_line(s: &echowatch::store::StoryRecord) -> String {
    // As the interface shows it: a story that came both ways says so (`kind` in JSON is
    // the first way it came).
    use echowatch::model::StoryKind;
    let badge = match (
        s.kinds.contains(&StoryKind::Feed),
        s.kinds.contains(&StoryKind::Echomail),
    ) {
        (true, true) => "both",
        (false, true) => "echo",
        _ => "feed",
    };
    let mut tags: Vec<String> = s.countries();
    tags.extend(s.policies());
    tags.extend(s.free_tags());
    format!(
        "{:>6}  {}  {:<4}  {:<20.20}  {}{}",
        s.id,
        s.date().format("%Y-%m-%d"),
        badge,
        s.sources.first().map(String::as_str).unwrap_or(""),
        s.title,
        if tags.is_empty() {
            String::new()
        } else {
            format!("  [{}]", tags.join(" "))
        }
    )
}

fn show_text(s: &echowatch::store::StoryRecord) -> String {
    let mut out = String::new();
    out.push_str(&format!("{}\n", s.title));
    out.push_str(&format!(
        "id {}  {}  {}\n",
        s.id,
        s.date().to_rfc3339(),
        s.kinds
            .iter()
            .map(|k| k.as_str())
            .collect::<Vec<_>>()
            .join("+")
    ));
    out.push_str(&format!("sources: {}\n", s.sources.join(", ")));
    if let Some(a) = &s.area {
        out.push_str(&format!("area: {a}\n"));
    }
    if let Some(a) = &s.author {
        out.push_str(&format!("author: {a}\n"));
    }
    if let Some(l) = &s.link {
        out.push_str(&format!("link: {l}\n"));
    }
    out.push_str("tags:\n");
    for t in &s.tags {
        out.push_str(&format!("  {} ({})", t.tag, t.provenance.as_str()));
        let ev: Vec<String> = t
            .evidence
            .iter()
            .map(|e| format!("{:?} in {:?}", e.phrase, e.field).to_lowercase())
            .collect();
        if !ev.is_empty() {
            out.push_str(&format!(": {}", ev.join(", ")));
        }
        out.push('\n');
    }
    out.push('\n');
    out.push_str(&s.body);
    out.push('\n');
    if !s.links.is_empty() {
        out.push_str("\nLinks:\n");
        for (i, l) in s.links.iter().enumerate() {
            out.push_str(&format!("  [{}] {l}\n", i + 1));
        }
    }
    out
}

/// `stats`: totals from the store, per-value counts straight from the index.
fn stats_of(ws: &Workspace, query: &str) -> Result<serde_json::Value> {
    use echowatch::index::FacetField;
    let counts = ws.index.facet_counts(query, &[])?;
    let total = ws
        .index
        .search(&SearchRequest {
            query: query.to_string(),
            limit: 1,
            ..Default::default()
        })?
        .total;
    let sources = ws.store.sources()?;
    let map = |field: FacetField,
               display: &dyn Fn(&str) -> String|
     -> serde_json::Map<String, serde_json::Value> {
        counts
            .get(&field)
            .map(|v| {
                v.iter()
                    .map(|(k, n)| (display(k), serde_json::json!(n)))
                    .collect()
            })
            .unwrap_or_default()
    };
    let source_name = |k: &str| {
        sources
            .iter()
            .find(|s| s.name.to_lowercase() == k)
            .map(|s| s.name.clone())
            .unwrap_or_else(|| k.to_string())
    };
    Ok(serde_json::json!({
        "stories": total,
        "by_source": map(FacetField::Source, &source_name),
        "by_kind": map(FacetField::Kind, &|k| k.to_string()),
        "by_country": map(FacetField::Country, &|k| k.to_uppercase()),
        "by_policy": map(FacetField::Policy, &|k| k.to_string()),
        "by_tag": map(FacetField::Tag, &|k| k.to_string()),
        "by_area": map(FacetField::Area, &|k| k.to_uppercase()),
    }))
}

fn print_stats(v: &serde_json::Value) -> Result<()> {
    outln!("stories: {}", v["stories"]);
    for (key, title) in [
        ("by_source", "by source"),
        ("by_kind", "by kind"),
        ("by_country", "by country"),
        ("by_policy", "by policy"),
        ("by_tag", "by tag"),
        ("by_area", "by echo area"),
    ] {
        let Some(map) = v[key].as_object() else {
            continue;
        };
        if map.is_empty() {
            continue;
        }
        outln!("{title}:");
        let mut rows: Vec<(&String, u64)> = map
            .iter()
            .map(|(k, n)| (k, n.as_u64().unwrap_or(0)))
            .collect();
        rows.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        let stories = v["stories"].as_u64().unwrap_or(0);
        let sum: u64 = rows.iter().map(|r| r.1).sum();
        let counted_twice = sum.saturating_sub(stories);
        for (k, n) in rows {
            outln!("  {n:>7}  {k}");
        }
        // A story is counted under each source and kind it came by, so these add up to more
        // than the stories; say why rather than leave the sum looking wrong. (Countries and
        // policies are plainly several per story.)
        match key {
            "by_kind" if counted_twice > 0 => outln!(
                "  ({} came both by feed and by echomail: counted under each kind)",
                counted(counted_twice as usize, "story", "stories")
            ),
            "by_source" if counted_twice > 0 => outln!(
                "  (a story carried by several sources is counted under each: {sum} counts for {})",
                counted(stories as usize, "story", "stories")
            ),
            _ => {}
        }
    }
    Ok(())
}
