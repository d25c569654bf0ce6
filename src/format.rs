//! `--format`, as Docker reads it: `table` (the command's own table), `json`
//! (one object per line), a Go template (`{{.ID}} {{.Names}}`), or
//! `table` followed by a template: a header line from the fields' column
//! names, then the rows, tab-separated cells aligned as Docker's tabwriter
//! does. Templates run on gtmpl (Go's text/template in Rust) over the same
//! JSON objects `--format json` prints.

use std::collections::{BTreeMap, HashMap};

use anyhow::{bail, Result};
use gtmpl::error::ExecError;
use gtmpl::{Context, FuncError, Template, Value as T};
use serde_json::Value;

use crate::table::escape_controls;

/// What `--format` asked for.
pub enum Format {
    /// No `--format`, or `table`: the command's own table.
    Table,
    /// `json`: each row as one line of JSON (Docker's `{{json .}}`).
    Json,
    /// A Go template, run once per row; `table` ones print a header and align
    /// their tab-separated cells.
    Template {
        table: bool,
        template: Box<Template>,
    },
}

impl Format {
    pub fn parse(text: Option<&str>) -> Result<Format> {
        let Some(text) = text else {
            return Ok(Format::Table);
        };
        match text.trim() {
            "" | "table" => return Ok(Format::Table),
            "json" => return Ok(Format::Json),
            _ => {}
        }
        let trimmed = text.trim_start_matches(' ');
        let (table, body) = match trimmed.strip_prefix("table") {
            Some(rest) if rest.starts_with(char::is_whitespace) => (true, rest),
            _ => (false, text),
        };
        // Docker's preprocessing: outer spaces go, and the two-character
        // escapes `\t` and `\n` a shell passes through become the real ones.
        let body = body
            .trim_matches(' ')
            .replace("\\t", "\t")
            .replace("\\n", "\n");
        Ok(Format::Template {
            table,
            template: Box::new(compile(&body)?),
        })
    }

    /// Prints `rows` (JSON objects) as asked; `headers` names the column of
    /// each field for `table` templates (others get their name upper-cased).
    /// Not for [`Format::Table`], which each command prints itself.
    pub fn print(&self, rows: &[Value], headers: &[(&str, &str)]) -> Result<()> {
        print!("{}", self.render(rows, headers)?);
        Ok(())
    }

    pub fn render(&self, rows: &[Value], headers: &[(&str, &str)]) -> Result<String> {
        match self {
            Format::Table => bail!("internal: the command prints its own table"),
            Format::Json => Ok(rows.iter().map(|r| format!("{r}\n")).collect()),
            Format::Template { table, template } => {
                let mut out = String::new();
                if *table {
                    let mut names: BTreeMap<String, T> = BTreeMap::new();
                    if let Some(Value::Object(first)) = rows.first() {
                        for k in first.keys() {
                            names.insert(k.clone(), T::from(k.to_uppercase()));
                        }
                    }
                    for (field, header) in headers {
                        names.insert(field.to_string(), T::from(*header));
                    }
                    let names = T::Map(names.into_iter().collect());
                    out.push_str(&run(template, names, "")?);
                    out.push('\n');
                }
                let fields: Vec<&str> = headers.iter().map(|(f, _)| *f).collect();
                for row in rows {
                    out.push_str(&run(template, to_template(row, true), &fields.join(", "))?);
                    out.push('\n');
                }
                Ok(if *table { align(&out) } else { out })
            }
        }
    }

    pub fn is_table(&self) -> bool {
        matches!(self, Format::Table)
    }
}

/// Renders `template` over a plain JSON value (inspect's objects), whose
/// objects are all maps: a missing field prints `<no value>`, as Go's
/// templates do for maps.
pub fn render_value(template: &Template, value: &Value) -> Result<String> {
    run(template, to_template(value, false), "")
}

/// Parses a template with Docker's functions added.
pub fn compile(text: &str) -> Result<Template> {
    let mut t = Template::default();
    t.add_funcs(&[
        ("json", json as gtmpl::Func),
        ("join", join),
        ("split", split),
        ("lower", lower),
        ("upper", upper),
        ("title", title),
        ("truncate", truncate),
        ("pad", pad),
        (SHOW, show_func),
    ]);
    t.parse(show_actions(text)).map_err(|e| {
        anyhow::anyhow!(
            "template parsing error: {e}\nCheck the --format template's {{{{ }}}} actions"
        )
    })?;
    Ok(t)
}

fn run(template: &Template, data: T, fields: &str) -> Result<String> {
    template.render(&Context::from(data)).map_err(|e| match e {
        ExecError::NoFiledFor(field, _) if !fields.is_empty() => {
            anyhow::anyhow!("template: can't evaluate field {field}: the fields are {fields}")
        }
        ExecError::NoFiledFor(field, _) => {
            anyhow::anyhow!("template: can't evaluate field {field}")
        }
        e => anyhow::anyhow!("template: {e}"),
    })
}

/// JSON to a template value. Objects at the top of a row are structs (an
/// unknown field is an error, as in Docker); below, and all of inspect's,
/// are maps. Strings lose control characters (see `escape_controls`).
fn to_template(v: &Value, strict: bool) -> T {
    match v {
        Value::Null => T::Nil,
        Value::Bool(b) => T::Bool(*b),
        Value::Number(n) => match (n.as_u64(), n.as_i64()) {
            (Some(u), _) => T::from(u),
            (None, Some(i)) => T::from(i),
            _ => T::from(n.as_f64().unwrap_or(0.0)),
        },
        Value::String(s) => T::String(escape_controls(s)),
        Value::Array(a) => T::Array(a.iter().map(|v| to_template(v, false)).collect()),
        Value::Object(o) => {
            let m: HashMap<String, T> = o
                .iter()
                .map(|(k, v)| (k.clone(), to_template(v, false)))
                .collect();
            if strict {
                T::Object(m)
            } else {
                T::Map(m)
            }
        }
    }
}

/// A template value back to JSON, objects' keys sorted (Go sorts map keys).
fn to_json(v: &T) -> Value {
    match v {
        T::NoValue | T::Nil | T::Function(_) => Value::Null,
        T::Bool(b) => Value::Bool(*b),
        T::String(s) => Value::String(s.clone()),
        T::Number(n) => match (n.as_u64(), n.as_i64(), n.as_f64()) {
            (Some(u), _, _) => Value::from(u),
            (None, Some(i), _) => Value::from(i),
            (None, None, Some(f)) => Value::from(f),
            _ => Value::Null,
        },
        T::Array(a) => Value::Array(a.iter().map(to_json).collect()),
        T::Object(m) | T::Map(m) => {
            let sorted: BTreeMap<&String, Value> = m.iter().map(|(k, v)| (k, to_json(v))).collect();
            Value::Object(sorted.into_iter().map(|(k, v)| (k.clone(), v)).collect())
        }
    }
}

/// How Go prints a value in a template: `[a b]` for lists, `map[k:v]` for maps.
fn show(v: &T) -> String {
    match v {
        T::NoValue => "<no value>".to_string(),
        T::Nil => "<nil>".to_string(),
        T::String(s) => s.clone(),
        T::Bool(b) => b.to_string(),
        T::Number(n) => n.to_string(),
        T::Function(_) => "<func>".to_string(),
        T::Array(a) => format!("[{}]", a.iter().map(show).collect::<Vec<_>>().join(" ")),
        T::Object(m) | T::Map(m) => {
            let sorted: BTreeMap<&String, &T> = m.iter().collect();
            let items: Vec<String> = sorted
                .into_iter()
                .map(|(k, v)| format!("{k}:{}", show(v)))
                .collect();
            format!("map[{}]", items.join(" "))
        }
    }
}

/// The function every printing action ends in (see [`show_actions`]).
const SHOW: &str = "wharfShow";

/// gtmpl prints lists and maps with Rust's `{:?}`; Go prints `[a b]` and
/// `map[k:v]`. Every action that prints (not `if`, `range`, `end`, ...,
/// a declaration or a comment) gets `| wharfShow` appended, which formats
/// as Go does.
fn show_actions(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(len) = action_len(after) else {
            // Unterminated: the parser says so.
            out.push_str(&rest[start..]);
            return out;
        };
        out.push_str("{{");
        out.push_str(&show_action(&after[..len]));
        out.push_str("}}");
        rest = &after[len + 2..];
    }
    out.push_str(rest);
    out
}

/// The length of an action's inside, up to its `}}`, past quoted strings
/// and comments (which may hold `}}`).
fn action_len(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            q @ (b'"' | b'\'') => {
                i += 1;
                while i < b.len() && b[i] != q {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
            }
            b'`' => {
                i += 1 + s[i + 1..].find('`')?;
                i += 1;
            }
            b'/' if b.get(i + 1) == Some(&b'*') => i += 2 + s[i + 2..].find("*/")? + 2,
            b'}' if b.get(i + 1) == Some(&b'}') => return Some(i),
            _ => i += 1,
        }
    }
    None
}

fn show_action(inner: &str) -> String {
    // Trim markers ("{{- " and " -}}") stay at the ends.
    let (lead, body) = match inner.strip_prefix('-') {
        Some(b) if b.starts_with(char::is_whitespace) => ("-", b),
        _ => ("", inner),
    };
    let trimmed = body.trim_end();
    let (body, trail) = match trimmed.strip_suffix('-') {
        Some(b) if b.ends_with(char::is_whitespace) => (b, " -"),
        _ => (trimmed, ""),
    };
    let words = body.trim_start();
    let first = words
        .split(|c: char| c.is_whitespace() || c == '(')
        .next()
        .unwrap_or("");
    let control = [
        "if", "else", "end", "range", "with", "define", "template", "block", "break", "continue",
    ]
    .contains(&first);
    let head = words.split(['|', '(', '"', '`']).next().unwrap_or("");
    let declaration = words.starts_with('$') && head.contains('=');
    if words.trim().is_empty() || words.starts_with("/*") || control || declaration {
        return inner.to_string();
    }
    format!("{lead}{body} | {SHOW}{trail}")
}

/// Aligns tab-separated cells as Docker's tabwriter (min width 10,
/// padding 3): each cell but a line's last is padded to its column's width.
fn align(text: &str) -> String {
    let lines: Vec<Vec<&str>> = text.lines().map(|l| l.split('\t').collect()).collect();
    let mut widths: Vec<usize> = Vec::new();
    for cells in &lines {
        for (i, cell) in cells.iter().enumerate().take(cells.len().saturating_sub(1)) {
            if widths.len() <= i {
                widths.push(10);
            }
            widths[i] = widths[i].max(cell.chars().count() + 3);
        }
    }
    let mut out = String::new();
    for cells in &lines {
        let last = cells.len() - 1;
        for (i, cell) in cells.iter().enumerate() {
            out.push_str(cell);
            if i < last {
                out.push_str(&" ".repeat(widths[i] - cell.chars().count()));
            }
        }
        out.push('\n');
    }
    out
}

fn one<'a>(name: &str, args: &'a [T]) -> Result<&'a T, FuncError> {
    match args {
        [v] => Ok(v),
        _ => Err(FuncError::ExactlyXArgs(name.to_string(), 1)),
    }
}

fn text_of(name: &str, v: &T) -> Result<String, FuncError> {
    match v {
        T::String(s) => Ok(s.clone()),
        T::NoValue | T::Nil => Err(FuncError::Generic(format!(
            "{name}: the field has no value"
        ))),
        other => Ok(show(other)),
    }
}

fn number_of(name: &str, v: &T) -> Result<usize, FuncError> {
    match v {
        T::Number(n) => n
            .as_u64()
            .map(|n| n as usize)
            .ok_or_else(|| FuncError::Generic(format!("{name}: {n} is not a count"))),
        other => Err(FuncError::Generic(format!(
            "{name}: {} is not a number",
            show(other)
        ))),
    }
}

fn show_func(args: &[T]) -> Result<T, FuncError> {
    Ok(T::String(show(one(SHOW, args)?)))
}

fn json(args: &[T]) -> Result<T, FuncError> {
    let v = to_json(one("json", args)?);
    Ok(T::String(v.to_string()))
}

fn join(args: &[T]) -> Result<T, FuncError> {
    let [list, sep] = args else {
        return Err(FuncError::ExactlyXArgs("join".into(), 2));
    };
    let sep = text_of("join", sep)?;
    let items: Vec<String> = match list {
        T::Array(a) => a.iter().map(show).collect(),
        other => vec![text_of("join", other)?],
    };
    Ok(T::String(items.join(&sep)))
}

fn split(args: &[T]) -> Result<T, FuncError> {
    let [s, sep] = args else {
        return Err(FuncError::ExactlyXArgs("split".into(), 2));
    };
    let (s, sep) = (text_of("split", s)?, text_of("split", sep)?);
    Ok(T::Array(s.split(sep.as_str()).map(T::from).collect()))
}

fn lower(args: &[T]) -> Result<T, FuncError> {
    Ok(T::String(
        text_of("lower", one("lower", args)?)?.to_lowercase(),
    ))
}

fn upper(args: &[T]) -> Result<T, FuncError> {
    Ok(T::String(
        text_of("upper", one("upper", args)?)?.to_uppercase(),
    ))
}

fn title(args: &[T]) -> Result<T, FuncError> {
    let s = text_of("title", one("title", args)?)?;
    let mut out = String::new();
    let mut start = true;
    for c in s.chars() {
        if start {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        start = !c.is_alphanumeric();
    }
    Ok(T::String(out))
}

fn truncate(args: &[T]) -> Result<T, FuncError> {
    let [s, n] = args else {
        return Err(FuncError::ExactlyXArgs("truncate".into(), 2));
    };
    let n = number_of("truncate", n)?;
    Ok(T::String(text_of("truncate", s)?.chars().take(n).collect()))
}

fn pad(args: &[T]) -> Result<T, FuncError> {
    let [s, left, right] = args else {
        return Err(FuncError::ExactlyXArgs("pad".into(), 3));
    };
    let (left, right) = (number_of("pad", left)?, number_of("pad", right)?);
    Ok(T::String(format!(
        "{}{}{}",
        " ".repeat(left),
        text_of("pad", s)?,
        " ".repeat(right)
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn render(format: &str, rows: &[Value]) -> String {
        Format::parse(Some(format))
            .unwrap()
            .render(rows, &[("ID", "CONTAINER ID"), ("Image", "IMAGE")])
            .unwrap()
    }

    #[test]
    fn go_printing_and_functions() {
        let row =
            json!({"ID": "abc", "Image": "hello:1", "L": ["a", "b"], "M": {"z": 1, "a": "x"}});
        assert_eq!(
            render("{{.ID}} {{.Image}}", std::slice::from_ref(&row)),
            "abc hello:1\n"
        );
        assert_eq!(
            render("{{.L}} {{.M}}", std::slice::from_ref(&row)),
            "[a b] map[a:x z:1]\n"
        );
        assert_eq!(
            render(
                "{{json .M}}|{{join .L \",\"}}|{{upper .ID}}",
                std::slice::from_ref(&row)
            ),
            "{\"a\":\"x\",\"z\":1}|a,b|ABC\n"
        );
        assert_eq!(
            render(
                "{{range .L}}<{{.}}>{{end}}{{if .ID}}!{{end}}",
                std::slice::from_ref(&row)
            ),
            "<a><b>!\n"
        );
        assert_eq!(
            render("{{- $x := .ID -}} {{$x}}", std::slice::from_ref(&row)),
            "abc\n"
        );
        let err = Format::parse(Some("{{.Nope}}"))
            .unwrap()
            .render(&[row], &[("ID", "CONTAINER ID")])
            .unwrap_err();
        assert!(
            err.to_string().contains("can't evaluate field Nope"),
            "{err}"
        );
    }

    #[test]
    fn table_aligns_under_headers() {
        let rows = [json!({"ID": "abc", "Image": "a-rather-long-image"})];
        assert_eq!(
            render("table {{.ID}}\\t{{.Image}}", &rows),
            "CONTAINER ID   IMAGE\nabc            a-rather-long-image\n"
        );
    }
}
