//! Variable interpolation (`${VAR:-default}` and friends) and `.env` /
//! `env_file` parsing, following compose-go's `template` and `dotenv`
//! packages.

use std::collections::BTreeMap;
use std::path::Path;

use crate::error::ComposeError;

/// Result of interpolating one string: the value, and the variables it used
/// that were not set (Compose warns about those and uses "").
pub(crate) struct Interpolated {
    pub value: String,
    pub unset: Vec<String>,
}

/// Substitutes `$VAR`, `${VAR}`, `${VAR:-default}`, `${VAR-default}`,
/// `${VAR:?message}`, `${VAR?message}`, `${VAR:+alt}`, `${VAR+alt}` and `$$`.
///
/// Defaults, messages and alternatives are interpolated themselves (so
/// `${A:-${B}}` works), and only when used. The error is a message that
/// names the variable; the caller adds where it was found.
pub(crate) fn interpolate(
    template: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Interpolated, String> {
    let mut out = Interpolated {
        value: String::with_capacity(template.len()),
        unset: Vec::new(),
    };
    expand_into(template, lookup, &mut out)?;
    Ok(out)
}

fn is_name_start(c: char) -> bool {
    c == '_' || c.is_ascii_alphabetic()
}

fn is_name_char(c: char) -> bool {
    c == '_' || c.is_ascii_alphanumeric()
}

fn expand_into(
    template: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    out: &mut Interpolated,
) -> Result<(), String> {
    let mut rest = template;
    while let Some(dollar) = rest.find('$') {
        out.value.push_str(&rest[..dollar]);
        let after = &rest[dollar + 1..];
        let Some(next) = after.chars().next() else {
            return Err(invalid(template));
        };
        if next == '$' {
            out.value.push('$');
            rest = &after[1..];
        } else if next == '{' {
            let body_len = closing_brace(&after[1..]).ok_or_else(|| {
                format!("invalid interpolation in {template:?}: `${{` is never closed by `}}`")
            })?;
            let body = &after[1..1 + body_len];
            expand_braced(body, template, lookup, out)?;
            rest = &after[1 + body_len + 1..];
        } else if is_name_start(next) {
            let len = after
                .find(|c: char| !is_name_char(c))
                .unwrap_or(after.len());
            let name = &after[..len];
            match lookup(name) {
                Some(v) => out.value.push_str(&v),
                None => out.unset.push(name.to_string()),
            }
            rest = &after[len..];
        } else {
            return Err(invalid(template));
        }
    }
    out.value.push_str(rest);
    Ok(())
}

fn invalid(template: &str) -> String {
    format!(
        "invalid interpolation in {template:?}: `$` must be followed by a variable name or `{{`; \
         write `$$` for a literal `$`"
    )
}

/// Length of the text up to the `}` that closes a `${` whose body starts at
/// `s`, counting nested `${ ... }`.
fn closing_brace(s: &str) -> Option<usize> {
    let bytes = s.as_bytes();
    let mut depth = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'$' if bytes.get(i + 1) == Some(&b'{') => {
                depth += 1;
                i += 2;
                continue;
            }
            b'}' if depth == 0 => return Some(i),
            b'}' => depth -= 1,
            _ => {}
        }
        i += 1;
    }
    None
}

fn expand_braced(
    body: &str,
    template: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    out: &mut Interpolated,
) -> Result<(), String> {
    let name_len = body.find(|c: char| !is_name_char(c)).unwrap_or(body.len());
    let name = &body[..name_len];
    if name.is_empty() || !name.starts_with(is_name_start) {
        return Err(format!(
            "invalid interpolation in {template:?}: `${{{body}}}` does not start with a variable name"
        ));
    }
    let op = &body[name_len..];
    let value = lookup(name);
    let (operator, arg) = if op.is_empty() {
        ("", "")
    } else if let Some(arg) = op.strip_prefix(":-") {
        (":-", arg)
    } else if let Some(arg) = op.strip_prefix(":?") {
        (":?", arg)
    } else if let Some(arg) = op.strip_prefix(":+") {
        (":+", arg)
    } else if let Some(arg) = op.strip_prefix('-') {
        ("-", arg)
    } else if let Some(arg) = op.strip_prefix('?') {
        ("?", arg)
    } else if let Some(arg) = op.strip_prefix('+') {
        ("+", arg)
    } else {
        return Err(format!(
            "invalid interpolation in {template:?}: unknown operator in `${{{body}}}` \
             (supported: :- - :? ? :+ +)"
        ));
    };
    let set_nonempty = value.as_deref().is_some_and(|v| !v.is_empty());
    match operator {
        "" => match value {
            Some(v) => out.value.push_str(&v),
            None => out.unset.push(name.to_string()),
        },
        ":-" | "-" => {
            let use_default = if operator == ":-" {
                !set_nonempty
            } else {
                value.is_none()
            };
            if use_default {
                expand_into(arg, lookup, out)?;
            } else {
                out.value.push_str(value.as_deref().unwrap_or_default());
            }
        }
        ":?" | "?" => {
            let missing = if operator == ":?" {
                !set_nonempty
            } else {
                value.is_none()
            };
            if missing {
                let mut message = Interpolated {
                    value: String::new(),
                    unset: Vec::new(),
                };
                expand_into(arg, lookup, &mut message)?;
                return Err(if message.value.is_empty() {
                    format!("required variable {name} is missing a value")
                } else {
                    format!(
                        "required variable {name} is missing a value: {}",
                        message.value
                    )
                });
            }
            out.value.push_str(value.as_deref().unwrap_or_default());
        }
        _ => {
            // `:+` / `+`: the alternative when set (and non-empty), else "".
            let use_alt = if operator == ":+" {
                set_nonempty
            } else {
                value.is_some()
            };
            if use_alt {
                expand_into(arg, lookup, out)?;
            }
        }
    }
    Ok(())
}

/// Parses a `.env` / `env_file` file's text: `KEY=VALUE` lines, optional
/// `export ` prefix, `#` comments (whole lines, or after whitespace in an
/// unquoted value), single quotes (literal), double quotes (escapes and
/// interpolation, may span lines), unquoted values (interpolated, trimmed).
/// A bare `KEY` takes its value from `lookup` and is left out when unset.
///
/// Interpolation sees `lookup` first and then the file's earlier entries,
/// as compose-go's dotenv does (the process environment wins).
pub(crate) fn parse_env_file(
    text: &str,
    file: &Path,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<BTreeMap<String, String>, ComposeError> {
    let mut vars: BTreeMap<String, String> = BTreeMap::new();
    let lines: Vec<&str> = text.lines().collect();
    let mut i = 0;
    while i < lines.len() {
        let line_no = i + 1;
        let err = |message: String| ComposeError::EnvFile {
            file: file.to_path_buf(),
            line: line_no,
            message,
        };
        let line = lines[i].trim_start_matches('\u{feff}').trim();
        i += 1;
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").map_or(line, str::trim_start);
        let (key, raw) = match line.split_once('=') {
            Some((k, v)) => (k.trim(), Some(v.trim_start())),
            None => (line, None),
        };
        if key.is_empty() || !key.chars().all(|c| c.is_ascii_graphic() && c != '#') {
            return Err(err(format!(
                "invalid variable name {key:?}: expected KEY=VALUE with no spaces in KEY"
            )));
        }
        let Some(raw) = raw else {
            if let Some(v) = lookup(key) {
                vars.insert(key.to_string(), v);
            }
            continue;
        };
        let lookup_here = |name: &str| lookup(name).or_else(|| vars.get(name).cloned());
        let value = if let Some(quote @ ('\'' | '"')) = raw.chars().next() {
            // A quoted value may run over several lines until its closing quote.
            let mut body = raw[1..].to_string();
            let close = loop {
                if let Some(pos) = find_closing_quote(&body, quote) {
                    break pos;
                }
                let Some(next) = lines.get(i) else {
                    return Err(err(format!(
                        "the {quote} quote opened for {key} is never closed"
                    )));
                };
                body.push('\n');
                body.push_str(next);
                i += 1;
            };
            let trailing = body[close + 1..].trim();
            if !trailing.is_empty() && !trailing.starts_with('#') {
                return Err(err(format!(
                    "unexpected text {trailing:?} after the closing quote of {key}"
                )));
            }
            let inner = &body[..close];
            if quote == '\'' {
                inner.to_string()
            } else {
                let unescaped = unescape_double_quoted(inner);
                interpolate(&unescaped, &lookup_here).map_err(err)?.value
            }
        } else {
            let unquoted = match raw.find(" #").or_else(|| raw.find("\t#")) {
                Some(pos) => &raw[..pos],
                None => raw,
            };
            interpolate(unquoted.trim_end(), &lookup_here)
                .map_err(err)?
                .value
        };
        vars.insert(key.to_string(), value);
    }
    Ok(vars)
}

fn find_closing_quote(body: &str, quote: char) -> Option<usize> {
    let mut escaped = false;
    for (pos, c) in body.char_indices() {
        if quote == '"' && !escaped && c == '\\' {
            escaped = true;
            continue;
        }
        if c == quote && !escaped {
            return Some(pos);
        }
        escaped = false;
    }
    None
}

fn unescape_double_quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('"') => out.push('"'),
            Some('\\') => out.push('\\'),
            // `\$` stays escaped for the interpolation step, as `$$`.
            Some('$') => out.push_str("$$"),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn interp(template: &str, vars: &BTreeMap<String, String>) -> Result<String, String> {
        interpolate(template, &|k| vars.get(k).cloned()).map(|i| i.value)
    }

    #[test]
    fn plain_and_braced_variables() {
        let vars = env(&[("TAG", "1.2"), ("EMPTY", "")]);
        assert_eq!(interp("app:$TAG", &vars).unwrap(), "app:1.2");
        assert_eq!(interp("app:${TAG}-x", &vars).unwrap(), "app:1.2-x");
        assert_eq!(interp("$TAG.$TAG", &vars).unwrap(), "1.2.1.2");
        assert_eq!(interp("no vars here", &vars).unwrap(), "no vars here");
        let r = interpolate("a${MISSING}b$ALSO_MISSING", &|k| vars.get(k).cloned()).unwrap();
        assert_eq!(r.value, "ab");
        assert_eq!(r.unset, vec!["MISSING", "ALSO_MISSING"]);
    }

    #[test]
    fn defaults_distinguish_unset_from_empty() {
        let vars = env(&[("SET", "v"), ("EMPTY", "")]);
        assert_eq!(interp("${SET:-d}", &vars).unwrap(), "v");
        assert_eq!(interp("${EMPTY:-d}", &vars).unwrap(), "d");
        assert_eq!(interp("${UNSET:-d}", &vars).unwrap(), "d");
        assert_eq!(interp("${EMPTY-d}", &vars).unwrap(), "");
        assert_eq!(interp("${UNSET-d}", &vars).unwrap(), "d");
        assert_eq!(interp("${UNSET:-}", &vars).unwrap(), "");
        // Nested default, and a default with spaces and colons.
        assert_eq!(interp("${UNSET:-${SET}}", &vars).unwrap(), "v");
        assert_eq!(interp("${UNSET:-a b:c}", &vars).unwrap(), "a b:c");
        assert_eq!(
            interp("${SET:+alt}|${EMPTY:+alt}|${EMPTY+alt}", &vars).unwrap(),
            "alt||alt"
        );
        // A default is only expanded when used: its required var is not checked.
        assert_eq!(interp("${SET:-${NOPE:?x}}", &vars).unwrap(), "v");
    }

    #[test]
    fn required_variables_error_with_name_and_message() {
        let vars = env(&[("EMPTY", "")]);
        assert_eq!(
            interp("${TOKEN:?set TOKEN in .env}", &vars).unwrap_err(),
            "required variable TOKEN is missing a value: set TOKEN in .env"
        );
        assert_eq!(
            interp("${EMPTY:?must not be empty}", &vars).unwrap_err(),
            "required variable EMPTY is missing a value: must not be empty"
        );
        assert_eq!(interp("${EMPTY?unused}", &vars).unwrap(), "");
        assert_eq!(
            interp("${TOKEN?}", &vars).unwrap_err(),
            "required variable TOKEN is missing a value"
        );
    }

    #[test]
    fn dollar_escapes_and_invalid_templates() {
        let vars = env(&[("A", "x")]);
        assert_eq!(interp("cost $$5 and $$A", &vars).unwrap(), "cost $5 and $A");
        assert_eq!(interp("$${A}", &vars).unwrap(), "${A}");
        let e = interp("price $5", &vars).unwrap_err();
        assert!(e.contains("write `$$` for a literal `$`"), "{e}");
        assert!(interp("trailing $", &vars).is_err());
        let e = interp("${A", &vars).unwrap_err();
        assert!(e.contains("never closed"), "{e}");
        let e = interp("${A%x}", &vars).unwrap_err();
        assert!(e.contains("unknown operator"), "{e}");
        let e = interp("${}", &vars).unwrap_err();
        assert!(e.contains("does not start with a variable name"), "{e}");
    }

    #[test]
    fn env_file_syntax() {
        let text = "\
# comment line
export A=1
B = two words   # trailing comment
C='single $A # not a comment'
D=\"double $A\\n${B}\"
E=a#b
F=
G=${A}-${UNSET:-dflt}
H=\"multi
line\"
FROM_ENV
NOT_IN_ENV
";
        let outer = env(&[("FROM_ENV", "outer"), ("A", "process-wins")]);
        let vars = parse_env_file(text, Path::new(".env"), &|k| outer.get(k).cloned()).unwrap();
        assert_eq!(vars["A"], "1");
        assert_eq!(vars["B"], "two words");
        assert_eq!(vars["C"], "single $A # not a comment");
        // Interpolation inside the file sees the outer environment first.
        assert_eq!(vars["D"], "double process-wins\ntwo words");
        assert_eq!(vars["E"], "a#b");
        assert_eq!(vars["F"], "");
        assert_eq!(vars["G"], "process-wins-dflt");
        assert_eq!(vars["H"], "multi\nline");
        assert_eq!(vars["FROM_ENV"], "outer");
        assert!(!vars.contains_key("NOT_IN_ENV"));
    }

    #[test]
    fn env_file_errors_name_file_and_line() {
        let none = |_: &str| None;
        let e = parse_env_file("A=1\nB='open\n", Path::new("/p/.env"), &none).unwrap_err();
        assert_eq!(
            e.to_string(),
            "/p/.env, line 2: the ' quote opened for B is never closed"
        );
        let e = parse_env_file("BAD KEY=1\n", Path::new("x.env"), &none).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("x.env, line 1: invalid variable name"),
            "{e}"
        );
        let e =
            parse_env_file("A=${NEED:?please set NEED}\n", Path::new("x.env"), &none).unwrap_err();
        assert_eq!(
            e.to_string(),
            "x.env, line 1: required variable NEED is missing a value: please set NEED"
        );
        let e = parse_env_file("A='x' y\n", Path::new("x.env"), &none).unwrap_err();
        assert!(e.to_string().contains("after the closing quote"), "{e}");
    }
}
