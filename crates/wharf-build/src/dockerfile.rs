//! Dockerfile parser.
//!
//! [`parse`] turns the text into [`Instruction`]s carrying their (first)
//! line number; arguments stay raw, because variable substitution depends on
//! the build state (ARG/ENV so far) and happens while building, through
//! [`substitute`] / [`substitute_words`].

use crate::Error;
// Re-exported from the module that implements them, so that
// `dockerfile::substitute` keeps its public path.
pub use crate::substitution::{substitute, substitute_words};

/// Exec (`["a","b"]`) or shell (`a b`) form of RUN/CMD/ENTRYPOINT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandForm {
    Exec(Vec<String>),
    Shell(String),
}

/// `--name=value` flags of COPY/ADD.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CopyFlags {
    pub chmod: Option<String>,
    pub chown: Option<String>,
    pub from: Option<String>,
}

/// One instruction with its raw (unsubstituted) arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    From {
        image: String,
        alias: Option<String>,
        platform: Option<String>,
    },
    /// `ARG NAME[=default] ...`
    Arg(Vec<(String, Option<String>)>),
    /// `ENV K=V ...` or legacy `ENV K V`; values raw (quotes still there).
    Env(Vec<(String, String)>),
    Label(Vec<(String, String)>),
    Copy {
        flags: CopyFlags,
        sources: Vec<String>,
        dest: String,
    },
    Add {
        flags: CopyFlags,
        sources: Vec<String>,
        dest: String,
    },
    Workdir(String),
    Entrypoint(CommandForm),
    Cmd(CommandForm),
    Run(CommandForm),
    Shell(Vec<String>),
    User(String),
    Expose(String),
    Volume(String),
    StopSignal(String),
    Maintainer(String),
    /// `HEALTHCHECK NONE` (None) or `HEALTHCHECK [--opts] CMD ...`.
    Healthcheck(Option<Healthcheck>),
    /// `ONBUILD <instruction>`: the trigger as written (checked to parse).
    Onbuild(String),
}

/// A `HEALTHCHECK ... CMD` as the image config stores it (Docker's
/// `Healthcheck`): `test` is `["CMD", args...]` or `["CMD-SHELL", command]`;
/// options not given stay unset (the runtime's defaults apply).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Healthcheck {
    pub test: Vec<String>,
    pub interval: Option<std::time::Duration>,
    pub timeout: Option<std::time::Duration>,
    pub start_period: Option<std::time::Duration>,
    pub start_interval: Option<std::time::Duration>,
    pub retries: Option<u64>,
}

/// Parses a Go duration (`30s`, `1m30s`, `500ms`, `1.5h`), the syntax of
/// HEALTHCHECK's options.
pub fn go_duration(s: &str) -> Option<std::time::Duration> {
    let text = s.trim();
    if text == "0" {
        return Some(std::time::Duration::ZERO);
    }
    let mut nanos = 0f64;
    let mut rest = text;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let n = rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
        if n == 0 {
            return None;
        }
        let number: f64 = rest[..n].parse().ok()?;
        rest = &rest[n..];
        let u = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = match &rest[..u] {
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        rest = &rest[u..];
        nanos += number * unit;
    }
    (nanos.is_finite() && nanos < u64::MAX as f64)
        .then(|| std::time::Duration::from_nanos(nanos.round() as u64))
}

fn healthcheck(line: usize, rest: &str) -> Result<Command, Error> {
    let usage = "write HEALTHCHECK [--interval=30s] [--timeout=30s] [--start-period=0s] [--start-interval=5s] [--retries=3] CMD command, or HEALTHCHECK NONE";
    let (flags, rest) = take_flags(line, rest)?;
    let (kw, cmd) = split_keyword(rest);
    match kw.to_ascii_uppercase().as_str() {
        "NONE" if flags.is_empty() && cmd.is_empty() => Ok(Command::Healthcheck(None)),
        "NONE" => Err(perr(line, "HEALTHCHECK NONE takes no options or arguments")),
        "CMD" if !cmd.is_empty() => {
            let test = match command_form(line, "HEALTHCHECK CMD", cmd)? {
                CommandForm::Exec(v) if v.is_empty() => {
                    return Err(perr(
                        line,
                        format!("HEALTHCHECK CMD [] has no command; {usage}"),
                    ))
                }
                CommandForm::Exec(v) => std::iter::once("CMD".to_string()).chain(v).collect(),
                CommandForm::Shell(s) => vec!["CMD-SHELL".to_string(), s],
            };
            let mut hc = Healthcheck {
                test,
                interval: None,
                timeout: None,
                start_period: None,
                start_interval: None,
                retries: None,
            };
            for (name, value) in flags {
                let duration = || {
                    go_duration(&value)
                        .filter(|d| d.is_zero() || *d >= std::time::Duration::from_millis(1))
                        .ok_or_else(|| {
                            perr(
                                line,
                                format!("HEALTHCHECK --{name}={value} is not a duration of at least 1ms; write e.g. --{name}=30s"),
                            )
                        })
                };
                match name.as_str() {
                    "interval" => hc.interval = Some(duration()?),
                    "timeout" => hc.timeout = Some(duration()?),
                    "start-period" => hc.start_period = Some(duration()?),
                    "start-interval" => hc.start_interval = Some(duration()?),
                    "retries" => {
                        hc.retries = Some(value.parse::<u64>().map_err(|_| {
                            perr(line, format!("HEALTHCHECK --retries={value} is not a whole number; write e.g. --retries=3"))
                        })?)
                    }
                    other => {
                        return Err(perr(
                            line,
                            format!("HEALTHCHECK flag --{other} is unknown; {usage}"),
                        ))
                    }
                }
            }
            Ok(Command::Healthcheck(Some(hc)))
        }
        _ => Err(perr(
            line,
            format!("HEALTHCHECK needs CMD or NONE; {usage}"),
        )),
    }
}

/// A parsed instruction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instruction {
    /// 1-based line where the instruction starts.
    pub line: usize,
    /// The instruction as written (continuations joined), for history and
    /// progress output.
    pub original: String,
    pub command: Command,
}

impl Instruction {
    /// The upper-case keyword (`COPY`, `RUN`, ...).
    pub fn keyword(&self) -> &'static str {
        match &self.command {
            Command::From { .. } => "FROM",
            Command::Arg(_) => "ARG",
            Command::Env(_) => "ENV",
            Command::Label(_) => "LABEL",
            Command::Copy { .. } => "COPY",
            Command::Add { .. } => "ADD",
            Command::Workdir(_) => "WORKDIR",
            Command::Entrypoint(_) => "ENTRYPOINT",
            Command::Cmd(_) => "CMD",
            Command::Run(_) => "RUN",
            Command::Shell(_) => "SHELL",
            Command::User(_) => "USER",
            Command::Expose(_) => "EXPOSE",
            Command::Volume(_) => "VOLUME",
            Command::StopSignal(_) => "STOPSIGNAL",
            Command::Maintainer(_) => "MAINTAINER",
            Command::Healthcheck(_) => "HEALTHCHECK",
            Command::Onbuild(_) => "ONBUILD",
        }
    }
}

fn perr(line: usize, message: impl Into<String>) -> Error {
    Error::Parse {
        line,
        message: message.into(),
    }
}

/// Parses a Dockerfile. Errors name the line.
pub fn parse(text: &str) -> Result<Vec<Instruction>, Error> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let mut directives_allowed = true;
    while i < lines.len() {
        let start = i + 1;
        let first = lines[i];
        i += 1;
        let trimmed = first.trim();
        if trimmed.is_empty() {
            directives_allowed = false;
            continue;
        }
        if let Some(body) = trimmed.strip_prefix('#') {
            // Parser directives (`# syntax=`, `# escape=`) and comments are
            // ignored; only `\` is supported as the escape character.
            if directives_allowed {
                let body = body.trim();
                if let Some((k, v)) = body.split_once('=') {
                    if k.trim().eq_ignore_ascii_case("escape") && v.trim() != "\\" {
                        return Err(perr(
                            start,
                            format!(
                                "parser directive 'escape={}' is not supported; only the default escape character '\\' is",
                                v.trim()
                            ),
                        ));
                    }
                }
            }
            continue;
        }
        directives_allowed = false;
        // Join continuation lines; comment lines inside are dropped.
        let mut logical = String::new();
        let mut cur = first.trim_end().to_string();
        loop {
            if let Some(stripped) = cur.strip_suffix('\\') {
                logical.push_str(stripped);
                // Find the next non-comment line.
                let mut next = None;
                while i < lines.len() {
                    let l = lines[i];
                    i += 1;
                    if l.trim_start().starts_with('#') {
                        continue;
                    }
                    next = Some(l);
                    break;
                }
                match next {
                    Some(l) => {
                        if l.trim().is_empty() {
                            // An empty line ends a continuation (Docker warns).
                            break;
                        }
                        cur = l.trim_end().to_string();
                    }
                    None => break,
                }
            } else {
                logical.push_str(&cur);
                break;
            }
        }
        let logical = logical.trim().to_string();
        if logical.is_empty() {
            continue;
        }
        out.push(parse_instruction(start, &logical)?);
    }
    Ok(out)
}

fn split_keyword(s: &str) -> (&str, &str) {
    match s.find(char::is_whitespace) {
        Some(p) => (&s[..p], s[p..].trim()),
        None => (s, ""),
    }
}

/// Leading `--name=value` flags.
type Flags = Vec<(String, String)>;

fn take_flags(line: usize, mut rest: &str) -> Result<(Flags, &str), Error> {
    let mut flags = Vec::new();
    while let Some(after) = rest.strip_prefix("--") {
        let (flag, r) = split_keyword(after);
        let (name, value) = match flag.split_once('=') {
            Some((n, v)) => (n.to_ascii_lowercase(), v.to_string()),
            None => (flag.to_ascii_lowercase(), String::from("true")),
        };
        if name.is_empty() {
            return Err(perr(line, "empty flag name '--'"));
        }
        flags.push((name, value));
        rest = r;
    }
    Ok((flags, rest))
}

fn parse_json_array(s: &str) -> Option<Vec<String>> {
    if !s.starts_with('[') {
        return None;
    }
    serde_json::from_str::<Vec<String>>(s).ok()
}

/// The exec form (a JSON array) or the shell form. Text that is plainly
/// meant as JSON (`["...` or `",` between brackets) but does not parse is a
/// syntax error, not a shell command: run as `/bin/sh -c '["a", ]'` it
/// would only fail later, in the container, with a puzzling message. A
/// shell `[ ... ]` test (`[ -f x ]`, `[ "$A" = b ]`) stays shell form.
fn command_form(line: usize, kw: &str, rest: &str) -> Result<CommandForm, Error> {
    if let Some(v) = parse_json_array(rest) {
        return Ok(CommandForm::Exec(v));
    }
    let bracketed = rest.starts_with('[') && rest.trim_end().ends_with(']');
    if bracketed && (rest.starts_with("[\"") || rest.contains("\",")) {
        let why = match serde_json::from_str::<Vec<String>>(rest.trim_end()) {
            Err(e) => e.to_string(),
            Ok(_) => "not an array of strings".to_string(),
        };
        return Err(perr(
            line,
            format!(
                "{kw}: malformed exec form {rest}: {why}; write a JSON array of double-quoted strings without a trailing comma (e.g. {kw} [\"/app\", \"--flag\"]), or the shell form without brackets"
            ),
        ));
    }
    Ok(CommandForm::Shell(rest.to_string()))
}

/// Splits on unquoted whitespace, keeping quotes and escapes in the tokens.
fn raw_tokens(s: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut chars = s.chars();
    let mut in_token = false;
    while let Some(c) = chars.next() {
        match quote {
            Some(q) => {
                cur.push(c);
                if c == '\\' && q == '"' {
                    if let Some(n) = chars.next() {
                        cur.push(n);
                    }
                } else if c == q {
                    quote = None;
                }
            }
            None => {
                if c.is_whitespace() {
                    if in_token {
                        out.push(std::mem::take(&mut cur));
                        in_token = false;
                    }
                    continue;
                }
                in_token = true;
                cur.push(c);
                if c == '\\' {
                    if let Some(n) = chars.next() {
                        cur.push(n);
                    }
                } else if c == '"' || c == '\'' {
                    quote = Some(c);
                }
            }
        }
    }
    if quote.is_some() {
        return Err("unterminated quote".into());
    }
    if in_token {
        out.push(cur);
    }
    Ok(out)
}

fn key_values(
    line: usize,
    kw: &str,
    rest: &str,
    legacy: bool,
) -> Result<Vec<(String, String)>, Error> {
    if rest.is_empty() {
        return Err(perr(
            line,
            format!("{kw} needs at least one key=value pair"),
        ));
    }
    let tokens = raw_tokens(rest).map_err(|e| perr(line, format!("{kw}: {e}")))?;
    if legacy && !tokens[0].contains('=') {
        // Legacy `ENV KEY value with spaces`.
        let (key, value) = split_keyword(rest);
        if value.is_empty() {
            return Err(perr(
                line,
                format!("{kw} {key} has no value; write {kw} {key}=value"),
            ));
        }
        return Ok(vec![(key.to_string(), value.to_string())]);
    }
    tokens
        .into_iter()
        .map(|t| match t.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
            _ => Err(perr(
                line,
                format!("{kw}: '{t}' is not of the form key=value"),
            )),
        })
        .collect()
}

fn copy_args(line: usize, kw: &str, rest: &str) -> Result<(CopyFlags, Vec<String>, String), Error> {
    let (flags, rest) = take_flags(line, rest)?;
    let mut cf = CopyFlags::default();
    for (name, value) in flags {
        match name.as_str() {
            "chmod" => cf.chmod = Some(value),
            "chown" => cf.chown = Some(value),
            "from" => cf.from = Some(value),
            "link" => {}
            other => {
                return Err(perr(
                    line,
                    format!(
                    "{kw} flag --{other} is not supported (supported: --chmod, --chown, --from)"
                ),
                ))
            }
        }
    }
    let mut parts = match parse_json_array(rest) {
        Some(v) => v,
        None => raw_tokens(rest).map_err(|e| perr(line, format!("{kw}: {e}")))?,
    };
    if parts.len() < 2 {
        return Err(perr(
            line,
            format!(
                "{kw} needs at least one source and a destination, e.g. {kw} app.wasm /app.wasm"
            ),
        ));
    }
    let dest = parts.pop().expect("len >= 2");
    Ok((cf, parts, dest))
}

fn parse_instruction(line: usize, logical: &str) -> Result<Instruction, Error> {
    let (kw, rest) = split_keyword(logical);
    let upper = kw.to_ascii_uppercase();
    let need = |what: &str| -> Result<(), Error> {
        if rest.is_empty() {
            Err(perr(line, format!("{upper} needs {what}")))
        } else {
            Ok(())
        }
    };
    let command = match upper.as_str() {
        "FROM" => {
            let (flags, rest) = take_flags(line, rest)?;
            let mut platform = None;
            for (n, v) in flags {
                match n.as_str() {
                    "platform" => platform = Some(v),
                    other => {
                        return Err(perr(line, format!("FROM flag --{other} is not supported (only --platform is)")))
                    }
                }
            }
            let words: Vec<&str> = rest.split_whitespace().collect();
            match words.as_slice() {
                [image] => Command::From {
                    image: image.to_string(),
                    alias: None,
                    platform,
                },
                [image, as_kw, alias] if as_kw.eq_ignore_ascii_case("as") => Command::From {
                    image: image.to_string(),
                    alias: Some(alias.to_ascii_lowercase()),
                    platform,
                },
                _ => {
                    return Err(perr(
                        line,
                        "FROM takes an image and an optional 'AS name', e.g. FROM scratch or FROM alpine AS build",
                    ))
                }
            }
        }
        "ARG" => {
            need("a name, e.g. ARG VERSION=1.0")?;
            let tokens = raw_tokens(rest).map_err(|e| perr(line, format!("ARG: {e}")))?;
            Command::Arg(
                tokens
                    .into_iter()
                    .map(|t| match t.split_once('=') {
                        Some((k, v)) => (k.to_string(), Some(v.to_string())),
                        None => (t, None),
                    })
                    .collect(),
            )
        }
        "ENV" => Command::Env(key_values(line, "ENV", rest, true)?),
        "LABEL" => Command::Label(key_values(line, "LABEL", rest, false)?),
        "COPY" => {
            let (flags, sources, dest) = copy_args(line, "COPY", rest)?;
            Command::Copy { flags, sources, dest }
        }
        "ADD" => {
            let (flags, sources, dest) = copy_args(line, "ADD", rest)?;
            Command::Add { flags, sources, dest }
        }
        "WORKDIR" => {
            need("a path, e.g. WORKDIR /app")?;
            Command::Workdir(rest.to_string())
        }
        "ENTRYPOINT" => {
            need("a command, e.g. ENTRYPOINT [\"/app.wasm\"]")?;
            Command::Entrypoint(command_form(line, "ENTRYPOINT", rest)?)
        }
        "CMD" => {
            need("a command, e.g. CMD [\"--help\"]")?;
            Command::Cmd(command_form(line, "CMD", rest)?)
        }
        "RUN" => {
            let (_flags, rest) = take_flags(line, rest)?;
            if rest.is_empty() {
                return Err(perr(line, "RUN needs a command"));
            }
            Command::Run(command_form(line, "RUN", rest)?)
        }
        "SHELL" => match parse_json_array(rest) {
            Some(v) if !v.is_empty() => Command::Shell(v),
            _ => {
                return Err(perr(
                    line,
                    "SHELL needs a JSON array, e.g. SHELL [\"/bin/bash\", \"-c\"]",
                ))
            }
        },
        "USER" => {
            need("a user, e.g. USER 1000:1000")?;
            Command::User(rest.to_string())
        }
        "EXPOSE" => {
            need("a port, e.g. EXPOSE 8080/tcp")?;
            Command::Expose(rest.to_string())
        }
        "VOLUME" => {
            need("a path, e.g. VOLUME /data")?;
            Command::Volume(rest.to_string())
        }
        "STOPSIGNAL" => {
            need("a signal, e.g. STOPSIGNAL SIGTERM")?;
            Command::StopSignal(rest.to_string())
        }
        "MAINTAINER" => Command::Maintainer(rest.to_string()),
        "HEALTHCHECK" => healthcheck(line, rest)?,
        "ONBUILD" => {
            need("an instruction, e.g. ONBUILD COPY . /app")?;
            let trigger = parse_instruction(line, rest)?;
            if matches!(
                trigger.command,
                Command::Onbuild(_) | Command::From { .. } | Command::Maintainer(_)
            ) {
                return Err(perr(
                    line,
                    format!("ONBUILD {} is not allowed as a trigger", trigger.keyword()),
                ));
            }
            Command::Onbuild(rest.to_string())
        }
        _ => {
            return Err(perr(
                line,
                format!(
                    "unknown instruction '{kw}'; expected one of FROM, ARG, ENV, LABEL, COPY, ADD, WORKDIR, ENTRYPOINT, CMD, RUN, SHELL, USER, EXPOSE, VOLUME, STOPSIGNAL, HEALTHCHECK, ONBUILD"
                ),
            ))
        }
    };
    Ok(Instruction {
        line,
        original: format!("{upper} {rest}").trim_end().to_string(),
        command,
    })
}

/// An `EXPOSE` word as `PORT/PROTO` (`8080` is `8080/tcp`, ranges like
/// `8000-8010` allowed), or the message saying why it is not a port.
pub fn exposed_port(word: &str) -> Result<String, String> {
    let (port, proto) = match word.split_once('/') {
        Some((port, proto)) => (port, proto.to_ascii_lowercase()),
        None => (word, "tcp".to_string()),
    };
    let valid = !port.is_empty()
        && port.split('-').all(|n| n.parse::<u16>().is_ok())
        && matches!(proto.as_str(), "tcp" | "udp" | "sctp");
    if valid {
        Ok(format!("{port}/{proto}"))
    } else {
        Err(format!(
            "'{word}' is not a port; write e.g. EXPOSE 8080 or EXPOSE 53/udp"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continuations_comments_and_line_numbers() {
        let df = "# syntax=docker/dockerfile:1\n\nFROM scratch\n# a comment\nCOPY a \\\n  # inside\n  b \\\n  /dest/\nenv A=1\n";
        let ins = parse(df).unwrap();
        assert_eq!(ins.len(), 3);
        assert_eq!(ins[0].line, 3);
        assert_eq!(ins[1].line, 5);
        assert_eq!(
            ins[1].command,
            Command::Copy {
                flags: CopyFlags::default(),
                sources: vec!["a".into(), "b".into()],
                dest: "/dest/".into()
            }
        );
        assert_eq!(ins[2].line, 9);
        assert_eq!(ins[2].keyword(), "ENV");
    }

    #[test]
    fn both_env_forms() {
        let ins = parse("ENV A=1 B=\"two words\" C='x y'\nENV LEGACY some value\n").unwrap();
        assert_eq!(
            ins[0].command,
            Command::Env(vec![
                ("A".into(), "1".into()),
                ("B".into(), "\"two words\"".into()),
                ("C".into(), "'x y'".into())
            ])
        );
        assert_eq!(
            ins[1].command,
            Command::Env(vec![("LEGACY".into(), "some value".into())])
        );
        let none = |_: &str| None;
        assert_eq!(substitute("\"two words\"", &none).unwrap(), "two words");
    }

    #[test]
    fn exec_and_shell_forms() {
        let ins = parse("ENTRYPOINT [\"/app.wasm\", \"--x\"]\nCMD echo hi\nRUN [\"a\"]\n").unwrap();
        assert_eq!(
            ins[0].command,
            Command::Entrypoint(CommandForm::Exec(vec!["/app.wasm".into(), "--x".into()]))
        );
        assert_eq!(
            ins[1].command,
            Command::Cmd(CommandForm::Shell("echo hi".into()))
        );
        assert_eq!(
            ins[2].command,
            Command::Run(CommandForm::Exec(vec!["a".into()]))
        );
    }

    #[test]
    fn errors_name_the_line() {
        let e = parse("FROM scratch\n\nFROBNICATE x\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 3"), "{e}");
        assert!(e.contains("FROBNICATE"), "{e}");
        let e = parse("FROM scratch\nCOPY onlyone\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 2"), "{e}");
        let e = parse("FROM scratch\nSHELL /bin/sh\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 2") && e.contains("JSON"), "{e}");
    }

    #[test]
    fn healthcheck_and_onbuild() {
        let ins = parse(
            "HEALTHCHECK --interval=1m30s --retries=2 CMD curl -f http://localhost/\nHEALTHCHECK CMD [\"/bin/check\", \"-q\"]\nHEALTHCHECK NONE\nONBUILD COPY . /app\n",
        )
        .unwrap();
        match &ins[0].command {
            Command::Healthcheck(Some(h)) => {
                assert_eq!(h.test, vec!["CMD-SHELL", "curl -f http://localhost/"]);
                assert_eq!(h.interval, Some(std::time::Duration::from_secs(90)));
                assert_eq!(h.retries, Some(2));
                assert_eq!(h.timeout, None);
            }
            other => panic!("{other:?}"),
        }
        match &ins[1].command {
            Command::Healthcheck(Some(h)) => assert_eq!(h.test, vec!["CMD", "/bin/check", "-q"]),
            other => panic!("{other:?}"),
        }
        assert_eq!(ins[2].command, Command::Healthcheck(None));
        assert_eq!(ins[3].command, Command::Onbuild("COPY . /app".into()));
        for bad in [
            "HEALTHCHECK --interval=soon CMD true",
            "HEALTHCHECK --bogus=1 CMD true",
            "HEALTHCHECK NONE extra",
            "HEALTHCHECK true",
            "ONBUILD ONBUILD RUN x",
            "ONBUILD FROM scratch",
            "ONBUILD FROBNICATE",
        ] {
            let e = parse(bad).unwrap_err().to_string();
            assert!(e.contains("line 1"), "{bad}: {e}");
        }
        assert_eq!(
            go_duration("500ms"),
            Some(std::time::Duration::from_millis(500))
        );
        assert_eq!(
            go_duration("1.5h"),
            Some(std::time::Duration::from_secs(5400))
        );
        assert_eq!(go_duration("5"), None);
    }

    #[test]
    fn flags_and_from_alias() {
        let ins = parse(
            "from --platform=wasi/wasm scratch AS Build\nCOPY --chmod=0755 --chown=1:2 a b\n",
        )
        .unwrap();
        assert_eq!(
            ins[0].command,
            Command::From {
                image: "scratch".into(),
                alias: Some("build".into()),
                platform: Some("wasi/wasm".into())
            }
        );
        match &ins[1].command {
            Command::Copy { flags, .. } => {
                assert_eq!(flags.chmod.as_deref(), Some("0755"));
                assert_eq!(flags.chown.as_deref(), Some("1:2"));
            }
            other => panic!("{other:?}"),
        }
    }
}
