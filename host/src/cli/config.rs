//! The configuration file (`--config mobieus.toml`, `MOBIEUS_CONFIG`): every `serve` flag and
//! `data_dir`, as a TOML key named like the flag (`rate_limit_per_minute = 1200` for
//! `--rate-limit-per-minute 1200`; `-` or `_`). Precedence, highest first: a flag, its
//! environment variable, the file, the default. Every command reads the file's `data_dir`;
//! only `serve` reads the rest. A file with any wrong key is refused whole.
//!
//! The flags are the one declaration: a key is valid when `serve` has a flag of its name, and its
//! value is checked by that flag's own parser. A file value is turned into the flag it stands for
//! and handed to clap, after the command line, only for flags the command line and environment
//! left unset.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use clap::parser::ValueSource;
use clap::{Parser, Subcommand};
use toml::{Spanned, Value};

use super::common::{CliResult, user_error};

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Check a configuration file: every key is a `serve` flag (or `data_dir`) and every value
    /// parses; each problem is named with its line. Exit code 2 when any is wrong.
    Check {
        /// The file (default: --config, or MOBIEUS_CONFIG).
        file: Option<PathBuf>,
    },
}

/// `C` is the whole command line (`super::Cli`), passed in rather than imported: this module
/// sits below it.
pub fn run<C: Parser>(config: Option<&Path>, cmd: ConfigCommand) -> CliResult {
    match cmd {
        ConfigCommand::Check { file } => {
            let path = file.as_deref().or(config).ok_or_else(|| {
                user_error(
                    "name the file: `mobieus config check FILE` (or --config, MOBIEUS_CONFIG)",
                )
            })?;
            let entries = read::<C>(path)?;
            println!("{}: ok ({} keys)", path.display(), entries.len());
            Ok(())
        }
    }
}

/// The command line, with the file's values under it when `serve` runs with `--config`.
/// Usage errors exit here, as `Parser::parse` would. `config_of` is the parsed `--config`.
pub fn layered<C: Parser>(
    argv: Vec<OsString>,
    config_of: impl Fn(&C) -> Option<PathBuf>,
) -> CliResult<C> {
    let matches = C::command().get_matches_from(&argv);
    let cli = C::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    let Some(path) = config_of(&cli) else {
        return Ok(cli);
    };
    // Serve takes every key; the other commands only `data_dir`, to find the same data.
    let (serving, serve) = match matches.subcommand() {
        Some(("serve", serve)) => (true, Some(serve)),
        None => (true, None),
        Some(_) => (false, None),
    };
    let mut layered = argv;
    if serving && serve.is_none() {
        layered.push("serve".into());
    }
    for entry in read::<C>(&path)? {
        let given = if entry.id == "data_dir" {
            matches.value_source("data_dir")
        } else if serving {
            serve.and_then(|s| s.value_source(&entry.id))
        } else {
            continue;
        };
        if !matches!(
            given,
            Some(ValueSource::CommandLine | ValueSource::EnvVariable)
        ) {
            layered.extend(entry.args);
        }
    }
    C::try_parse_from(layered).map_err(|e| user_error(first_line(&e)))
}

/// One key of the file, as the flags it stands for.
struct Entry {
    /// The clap id (`rate_limit_per_minute`).
    id: String,
    args: Vec<OsString>,
}

/// Reads and checks the whole file; every problem, each with its line.
fn read<C: Parser>(path: &Path) -> CliResult<Vec<Entry>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| user_error(format!("{}: {e}", path.display())))?;
    let name = path.display();
    let table: BTreeMap<Spanned<String>, Spanned<Value>> = toml::from_str(&text)
        .map_err(|e| user_error(format!("{name}: {}", e.to_string().trim_end())))?;
    let flags = serve_flags(&C::command());
    let (mut entries, mut problems): (Vec<Entry>, Vec<(usize, String)>) = (Vec::new(), Vec::new());
    for (key, value) in table {
        let line = line_of(&text, key.span().start);
        let id = key.get_ref().replace('-', "_");
        let Some(long) = flags.iter().find(|(i, _)| *i == id).map(|(_, l)| l.clone()) else {
            problems.push((line, format!(
                "{name}:{line}: unknown key `{}`: keys are serve's flags without the dashes (`listen`, `rate_limit_per_minute`…) and `data_dir`; see `mobieus serve --help`",
                key.get_ref()
            )));
            continue;
        };
        match args_of(&long, value.get_ref()) {
            Err(why) => problems.push((line, format!("{name}:{line}: `{}`: {why}", key.get_ref()))),
            Ok(args) => {
                // The flag's own parser judges the value.
                let mut probe: Vec<OsString> = vec!["mobieus".into(), "serve".into()];
                probe.extend(args.iter().cloned());
                match C::try_parse_from(probe) {
                    Ok(_) => entries.push(Entry { id, args }),
                    Err(e) => problems.push((
                        line,
                        format!("{name}:{line}: `{}`: {}", key.get_ref(), first_line(&e)),
                    )),
                }
            }
        }
    }
    if problems.is_empty() {
        return Ok(entries);
    }
    problems.sort();
    let problems: Vec<String> = problems.into_iter().map(|(_, p)| p).collect();
    Err(user_error(problems.join("\n")))
}

/// `(id, long flag)` of every flag `serve` takes, and the global `data_dir`.
fn serve_flags(cli: &clap::Command) -> Vec<(String, String)> {
    let serve = cli
        .find_subcommand("serve")
        .expect("serve is a subcommand")
        .get_arguments()
        .filter(|a| !a.is_global_set());
    serve
        .chain(cli.get_arguments().filter(|a| a.get_id() == "data_dir"))
        .filter_map(|a| Some((a.get_id().to_string(), a.get_long()?.to_owned())))
        .filter(|(id, _)| !["help", "version", "config"].contains(&id.as_str()))
        .collect()
}

/// The flags a value stands for: `--long value`, once per element of an array; a boolean is the
/// bare flag when true and nothing when false.
fn args_of(long: &str, value: &Value) -> Result<Vec<OsString>, String> {
    let flag = OsString::from(format!("--{long}"));
    let scalar = |v: &Value| -> Result<String, String> {
        match v {
            Value::String(s) => Ok(s.clone()),
            Value::Integer(i) => Ok(i.to_string()),
            Value::Float(f) => Ok(f.to_string()),
            other => Err(format!(
                "expected a string or a number, found {}",
                other.type_str()
            )),
        }
    };
    match value {
        Value::Boolean(true) => Ok(vec![flag]),
        Value::Boolean(false) => Ok(vec![]),
        Value::Array(items) => items
            .iter()
            .map(|v| scalar(v).map(|s| [flag.clone(), s.into()]))
            .collect::<Result<Vec<_>, _>>()
            .map(|pairs| pairs.into_iter().flatten().collect()),
        Value::Table(_) => Err("expected a value, found a table: the file is flat".into()),
        v => Ok(vec![flag, scalar(v)?.into()]),
    }
}

/// The 1-based line of a byte offset.
fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// Clap's message without its `error: ` prefix and usage hint.
fn first_line(e: &clap::Error) -> String {
    let rendered = e.to_string();
    let line = rendered.lines().next().unwrap_or_default();
    line.strip_prefix("error: ").unwrap_or(line).to_owned()
}
