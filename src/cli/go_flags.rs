//! Go's `flag` syntax for the commands that mirror Consul's CLI: `-name x`, `-name=x`,
//! `--name x` and `--name=x` are all one flag; flags end at `--` or at the first argument that
//! is not a flag (the rest is ignored, as Consul does). The arguments are rewritten into the
//! `--name=value` form clap parses, and malformed ones are reported with Go's messages.

use std::ffi::OsString;

use clap::Command;

/// A command-line error worded like Go's `flag` package.
#[derive(Debug, PartialEq, Eq)]
pub struct GoFlagError(pub String);

impl std::fmt::Display for GoFlagError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Checks a flag's value as Go's `flag.Value.Set` would (e.g. `-meta` needs `key=value`).
pub type ValueCheck = fn(flag: &str, value: &str) -> Result<(), String>;

/// Rewrites the arguments of `subcommand` (when `args`, the whole command line, runs it) from Go
/// flag syntax into clap's, using `command` to know the flags and which of them take a value.
/// Other command lines are left alone.
pub fn normalize(
    args: Vec<OsString>,
    subcommand: &str,
    command: &Command,
    check: ValueCheck,
) -> Result<Vec<OsString>, GoFlagError> {
    if args.get(1).is_none_or(|a| a != subcommand) {
        return Ok(args);
    }
    let (head, tail) = args.split_at(2);
    let mut out = head.to_vec();
    let mut rest = tail.iter();
    while let Some(arg) = rest.next() {
        // Go's flags are strings; a non-UTF-8 argument is an ordinary value or ends the flags.
        let Some(text) = arg.to_str() else { break };
        if text == "--" || !text.starts_with('-') || text == "-" {
            break;
        }
        let body = text.strip_prefix("--").unwrap_or(&text[1..]);
        if body.is_empty() || body.starts_with('-') || body.starts_with('=') {
            return Err(GoFlagError(format!("bad flag syntax: {text}")));
        }
        let (name, inline) = match body.split_once('=') {
            Some((name, value)) => (name, Some(value)),
            None => (body, None),
        };
        if matches!(name, "h" | "help") {
            out.push("--help".into());
            continue;
        }
        let Some(flag) = command.get_arguments().find(|a| a.get_long() == Some(name)) else {
            return Err(GoFlagError(format!(
                "flag provided but not defined: -{name}"
            )));
        };
        if !flag.get_action().takes_values() {
            // A boolean: Go accepts `-flag` and `-flag=true|false` only.
            match inline {
                None => out.push(format!("--{name}").into()),
                Some(value) => match crate::consul::parse_go_bool(value) {
                    Some(true) => out.push(format!("--{name}").into()),
                    Some(false) => {}
                    None => {
                        return Err(GoFlagError(format!(
                            "invalid boolean value {value:?} for -{name}: parse error"
                        )));
                    }
                },
            }
            continue;
        }
        let value = match inline {
            Some(value) => value.to_owned(),
            None => match rest.next() {
                Some(value) => value.to_string_lossy().into_owned(),
                None => {
                    return Err(GoFlagError(format!("flag needs an argument: -{name}")));
                }
            },
        };
        check(name, &value).map_err(|err| {
            GoFlagError(format!("invalid value {value:?} for flag -{name}: {err}"))
        })?;
        out.push(format!("--{name}={value}").into());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use clap::{Arg, ArgAction};

    use super::*;

    fn command() -> Command {
        Command::new("generate-token")
            .arg(Arg::new("name").long("name"))
            .arg(Arg::new("meta").long("meta").action(ArgAction::Append))
            .arg(Arg::new("stale").long("stale").action(ArgAction::SetTrue))
    }

    fn no_check(_: &str, _: &str) -> Result<(), String> {
        Ok(())
    }

    fn meta_check(flag: &str, value: &str) -> Result<(), String> {
        if flag == "meta" && !value.contains('=') {
            return Err(format!("Missing \"=\" value in argument: {value}"));
        }
        Ok(())
    }

    fn run(args: &[&str]) -> Result<Vec<String>, GoFlagError> {
        let args = args.iter().map(OsString::from).collect();
        normalize(args, "generate-token", &command(), meta_check)
            .map(|out| out.into_iter().map(|a| a.into_string().unwrap()).collect())
    }

    #[test]
    fn every_go_spelling_becomes_one_clap_flag() {
        for spelling in [
            &["-name", "dc2"][..],
            &["-name=dc2"],
            &["--name", "dc2"],
            &["--name=dc2"],
        ] {
            let mut args = vec!["cpo", "generate-token"];
            args.extend_from_slice(spelling);
            assert_eq!(run(&args).unwrap(), ["cpo", "generate-token", "--name=dc2"]);
        }
        assert_eq!(
            run(&[
                "cpo",
                "generate-token",
                "-meta",
                "a=b=c",
                "-meta=-x=y",
                "-stale",
                "-name",
                "-n"
            ])
            .unwrap(),
            [
                "cpo",
                "generate-token",
                "--meta=a=b=c",
                "--meta=-x=y",
                "--stale",
                "--name=-n"
            ]
        );
        assert_eq!(
            run(&["cpo", "generate-token", "-stale=false", "-stale=1"]).unwrap(),
            ["cpo", "generate-token", "--stale"]
        );
    }

    #[test]
    fn flags_end_like_go() {
        assert_eq!(
            run(&["cpo", "generate-token", "-name", "a", "extra", "-name", "b"]).unwrap(),
            ["cpo", "generate-token", "--name=a"]
        );
        assert_eq!(
            run(&["cpo", "generate-token", "--", "-name", "b"]).unwrap(),
            ["cpo", "generate-token"]
        );
        assert_eq!(
            run(&["cpo", "generate-token", "-h"]).unwrap(),
            ["cpo", "generate-token", "--help"]
        );
        // Other subcommands are untouched, even with the subcommand's name as a value.
        let other: Vec<OsString> = ["cpo", "crds", "--output-dir", "generate-token"]
            .map(OsString::from)
            .into();
        assert_eq!(
            normalize(other.clone(), "generate-token", &command(), no_check).unwrap(),
            other
        );
    }

    #[test]
    fn go_error_messages() {
        let err = |args: &[&str]| run(args).unwrap_err().0;
        assert_eq!(
            err(&["cpo", "generate-token", "-nope"]),
            "flag provided but not defined: -nope"
        );
        assert_eq!(
            err(&["cpo", "generate-token", "-name"]),
            "flag needs an argument: -name"
        );
        assert_eq!(
            err(&["cpo", "generate-token", "---name=x"]),
            "bad flag syntax: ---name=x"
        );
        assert_eq!(
            err(&["cpo", "generate-token", "-=x"]),
            "bad flag syntax: -=x"
        );
        assert_eq!(
            err(&["cpo", "generate-token", "-meta", "novalue"]),
            "invalid value \"novalue\" for flag -meta: Missing \"=\" value in argument: novalue"
        );
        assert_eq!(
            err(&["cpo", "generate-token", "-stale=maybe"]),
            "invalid boolean value \"maybe\" for -stale: parse error"
        );
    }
}
