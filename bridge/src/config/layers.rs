//! Layering one options struct from defaults, a TOML file, the environment and flags.
//!
//! Each command's options are one struct that derives both `clap::Args` (flag, env
//! variable, default, help) and serde (the file's keys are the field names). clap
//! already resolves flags over the environment over defaults and remembers where each
//! value came from; this module slots the file in between, generically: the parsed
//! struct is turned into a TOML table, every value clap took from its default is
//! replaced by the file's value when the file has one, and the table is read back into
//! the struct. No option is merged by hand, so an option added to the struct is a file
//! key at once.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use clap::parser::ValueSource;
use clap::{ArgMatches, Args, FromArgMatches};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::start_error::StartError;

/// Arguments of a command that are not settings (no file key, not printed).
const NOT_SETTINGS: [&str; 4] = ["config", "print_config", "help", "version"];

/// The options about the options: a command's file and `--print-config`. Not settings
/// themselves (the file cannot name another file).
#[derive(Args, Clone, Debug, Default)]
pub struct FileOption {
    /// TOML file with any of the options below (keys are the long names with `_` for `-`)
    #[arg(long, env = "IBWS_CONFIG")]
    pub config: Option<PathBuf>,
    /// Print the effective settings (with where each came from) as TOML and exit
    #[arg(long)]
    pub print_config: bool,
}

/// Where an effective value came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    Default,
    File,
    Env,
    Flag,
}

impl Source {
    fn name(self) -> &'static str {
        match self {
            Source::Default => "default",
            Source::File => "config file",
            Source::Env => "environment",
            Source::Flag => "command line",
        }
    }
}

/// A command's effective options and where each came from.
#[derive(Debug)]
pub struct Layered<T> {
    pub options: T,
    pub sources: BTreeMap<String, Source>,
    /// Every setting's key, in the order `--help` lists them.
    keys: Vec<String>,
}

/// The keys a file may hold for `T`: its arguments' names, in declaration order.
pub fn keys<T: Args>() -> Vec<String> {
    T::augment_args(clap::Command::new("ibws"))
        .get_arguments()
        .map(|a| a.get_id().as_str().to_owned())
        .filter(|k| !NOT_SETTINGS.contains(&k.as_str()))
        .collect()
}

fn table_of<T: Serialize>(options: &T) -> Result<toml::Table, StartError> {
    toml::Table::try_from(options).map_err(|e| StartError::Other(format!("options as TOML: {e}")))
}

fn read_back<T: DeserializeOwned>(table: toml::Table) -> Result<T, toml::de::Error> {
    T::deserialize(toml::Value::Table(table))
}

/// The options of one command: clap's values from flags and environment, over the
/// values of the `--config` file (if `matches` has one), over the defaults.
pub fn load<T>(matches: &ArgMatches) -> Result<Layered<T>, StartError>
where
    T: Args + FromArgMatches + Serialize + DeserializeOwned,
{
    let parsed = T::from_arg_matches(matches).map_err(|e| StartError::Other(e.to_string()))?;
    let keys = keys::<T>();
    let clap_table = table_of(&parsed)?;
    let source_of = |k: &str| match matches.value_source(k) {
        Some(ValueSource::CommandLine) => Source::Flag,
        Some(ValueSource::EnvVariable) => Source::Env,
        _ => Source::Default,
    };
    let mut defaults = toml::Table::new();
    let mut explicit = toml::Table::new();
    for (k, v) in clap_table {
        match source_of(&k) {
            Source::Default => defaults.insert(k, v),
            _ => explicit.insert(k, v),
        };
    }
    let mut sources: BTreeMap<String, Source> = keys.iter().map(|k| (k.clone(), source_of(k))).collect();

    let mut merged = defaults.clone();
    let file = matches.try_get_one::<PathBuf>("config").ok().flatten();
    if let Some(path) = file {
        let mut every = defaults.clone();
        every.extend(explicit.clone());
        for (k, v) in read_file::<T>(path, &keys, &every)? {
            if sources.get(&k) == Some(&Source::Default) {
                sources.insert(k.clone(), Source::File);
            }
            merged.insert(k, v);
        }
    }
    merged.extend(explicit);
    let options = read_back(merged).map_err(|e| StartError::Other(format!("options: {e}")))?;
    Ok(Layered { options, sources, keys })
}

/// The file's settings, each checked on its own over `others` (a value for every other
/// key): a key no option has, or a value of the wrong kind, is refused with its line.
fn read_file<T: DeserializeOwned>(
    path: &Path,
    keys: &[String],
    others: &toml::Table,
) -> Result<toml::Table, StartError> {
    let text = String::from_utf8(StartError::read(path, "the config file", "--config")?)
        .map_err(|_| StartError::Config { path: path.to_owned(), line: 1, problem: "not UTF-8 text".into() })?;
    let line_at = |offset: usize| text[..offset.min(text.len())].matches('\n').count() + 1;
    let bad =
        |offset: usize, problem: String| StartError::Config { path: path.to_owned(), line: line_at(offset), problem };
    let table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| bad(e.span().map_or(0, |s| s.start), e.message().trim().to_owned()))?;
    // the same text once more, for the position of each key
    let spans = toml::de::DeTable::parse(&text).map_err(|e| bad(0, e.message().to_owned()))?;
    let line_of = |key: &str| {
        spans.get_ref().iter().find(|(k, _)| k.get_ref().as_ref() == key).map_or(0, |(k, _)| k.span().start)
    };
    for (k, v) in &table {
        if !keys.iter().any(|known| known == k) {
            let hint = keys.iter().find(|known| known.replace('_', "") == k.replace(['_', '-'], ""));
            let problem = match hint {
                Some(h) => format!("unknown key `{k}` (did you mean `{h}`?)"),
                None => format!("unknown key `{k}`; `ibws <command> --print-config` lists every key"),
            };
            return Err(bad(line_of(k), problem));
        }
        let mut one = others.clone();
        one.insert(k.clone(), v.clone());
        if let Err(e) = read_back::<T>(one) {
            return Err(bad(line_of(k), format!("`{k}`: {}", e.message().trim())));
        }
    }
    Ok(table)
}

impl<T: Serialize> Layered<T> {
    /// The effective settings as a TOML file that `--config` accepts, each with where
    /// it came from; unset options are listed as comments; credentials inside URLs
    /// are redacted.
    pub fn to_toml(&self) -> Result<String, StartError> {
        let table = table_of(&self.options)?;
        let mut out = String::new();
        for k in &self.keys {
            let from = self.sources.get(k).copied().unwrap_or(Source::Default).name();
            match table.get(k) {
                Some(v) => {
                    let mut one = toml::Table::new();
                    one.insert(k.clone(), redact(v.clone()));
                    let line = toml::to_string(&one).map_err(|e| StartError::Other(e.to_string()))?;
                    out.push_str(&format!("{:<60} # {from}\n", line.trim_end()));
                }
                None => out.push_str(&format!("# {k} = (not set)\n")),
            }
        }
        Ok(out)
    }
}

/// A URL's password and query values replaced: a token pasted into a URL never reaches
/// a terminal or a log through `--print-config`.
fn redact(v: toml::Value) -> toml::Value {
    match v {
        toml::Value::String(s) => toml::Value::String(redact_url(&s)),
        toml::Value::Array(a) => toml::Value::Array(a.into_iter().map(redact).collect()),
        other => other,
    }
}

fn redact_url(s: &str) -> String {
    let Ok(mut u) = url::Url::parse(s) else { return s.to_owned() };
    if u.cannot_be_a_base() {
        return s.to_owned();
    }
    let mut changed = false;
    if u.password().is_some() {
        let _ = u.set_password(Some("REDACTED"));
        changed = true;
    }
    if u.query().is_some() {
        let pairs: Vec<(String, String)> = u.query_pairs().map(|(k, _)| (k.into_owned(), "REDACTED".into())).collect();
        u.query_pairs_mut().clear().extend_pairs(pairs);
        changed = true;
    }
    if changed {
        u.into()
    } else {
        s.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_in_urls_are_redacted_and_other_text_kept() {
        assert_eq!(
            redact_url("wss://relay.example.com/bridge/ws?token=abc.def"),
            "wss://relay.example.com/bridge/ws?token=REDACTED"
        );
        assert_eq!(redact_url("wss://u:secret@relay.example.com/"), "wss://u:REDACTED@relay.example.com/");
        assert_eq!(redact_url("wss://relay.example.com:8443/bridge/ws"), "wss://relay.example.com:8443/bridge/ws");
        assert_eq!(redact_url("127.0.0.1:7497"), "127.0.0.1:7497");
        assert_eq!(redact_url("/etc/ibws/jwt.secret"), "/etc/ibws/jwt.secret");
    }
}
