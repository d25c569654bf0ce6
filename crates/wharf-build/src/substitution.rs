//! Variable substitution in Dockerfile arguments, done while building
//! because the values depend on the ARG/ENV instructions so far.

/// Substitutes variables in `word` and removes quotes, like Docker does for
/// ENV/ARG/COPY/ADD/WORKDIR/USER/LABEL/EXPOSE/FROM arguments: `$V`, `${V}`,
/// `${V:-default}`, `${V-default}`, `${V:+alt}`, `${V+alt}`; no
/// substitution inside single quotes; `\$` is a literal `$`.
pub fn substitute(word: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let words = process(word, lookup, false)?;
    Ok(words.into_iter().next().unwrap_or_default())
}

/// Like [`substitute`], then splits on unquoted whitespace (EXPOSE, VOLUME,
/// COPY sources).
pub fn substitute_words(
    text: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<String>, String> {
    process(text, lookup, true)
}

fn process(
    text: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    split: bool,
) -> Result<Vec<String>, String> {
    let chars: Vec<char> = text.chars().collect();
    let mut words: Vec<String> = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut i = 0;
    let mut quote: Option<char> = None;
    while i < chars.len() {
        let c = chars[i];
        match quote {
            Some('\'') => {
                if c == '\'' {
                    quote = None;
                } else {
                    cur.push(c);
                }
                i += 1;
            }
            Some(_) => {
                // Double quotes.
                if c == '"' {
                    quote = None;
                    i += 1;
                } else if c == '\\'
                    && i + 1 < chars.len()
                    && matches!(chars[i + 1], '"' | '\\' | '$')
                {
                    cur.push(chars[i + 1]);
                    i += 2;
                } else if c == '$' {
                    let (value, used) = dollar(&chars[i..], lookup)?;
                    cur.push_str(&value);
                    i += used;
                } else {
                    cur.push(c);
                    i += 1;
                }
            }
            None => {
                if split && c.is_whitespace() {
                    if in_word {
                        words.push(std::mem::take(&mut cur));
                        in_word = false;
                    }
                    i += 1;
                    continue;
                }
                in_word = true;
                if c == '\'' || c == '"' {
                    quote = Some(c);
                    i += 1;
                } else if c == '\\' && i + 1 < chars.len() {
                    cur.push(chars[i + 1]);
                    i += 2;
                } else if c == '$' {
                    let (value, used) = dollar(&chars[i..], lookup)?;
                    i += used;
                    if split {
                        // Unquoted substitutions are split like in a shell.
                        let mut parts = value.split(char::is_whitespace).peekable();
                        while let Some(p) = parts.next() {
                            cur.push_str(p);
                            if parts.peek().is_some() && !cur.is_empty() {
                                words.push(std::mem::take(&mut cur));
                            }
                        }
                    } else {
                        cur.push_str(&value);
                    }
                } else {
                    cur.push(c);
                    i += 1;
                }
            }
        }
    }
    if quote.is_some() {
        return Err(format!("unterminated quote in {text:?}"));
    }
    if in_word || !split {
        words.push(cur);
    }
    Ok(words)
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Expands the `$...` at the start of `s`; returns the value and the number
/// of characters consumed.
fn dollar(s: &[char], lookup: &dyn Fn(&str) -> Option<String>) -> Result<(String, usize), String> {
    debug_assert_eq!(s[0], '$');
    if s.len() == 1 {
        return Ok(("$".into(), 1));
    }
    if s[1] == '{' {
        let close = s
            .iter()
            .position(|&c| c == '}')
            .ok_or_else(|| "missing '}' in variable substitution".to_string())?;
        let inner: String = s[2..close].iter().collect();
        let name_len = inner.chars().take_while(|&c| is_name_char(c)).count();
        let name = &inner[..name_len];
        if name.is_empty() {
            return Err(format!(
                "bad substitution '${{{inner}}}': missing variable name"
            ));
        }
        let rest = &inner[name_len..];
        let value = lookup(name);
        let out = if rest.is_empty() {
            value.unwrap_or_default()
        } else if let Some(def) = rest.strip_prefix(":-") {
            match value {
                Some(v) if !v.is_empty() => v,
                _ => substitute(def, lookup)?,
            }
        } else if let Some(def) = rest.strip_prefix('-') {
            match value {
                Some(v) => v,
                None => substitute(def, lookup)?,
            }
        } else if let Some(alt) = rest.strip_prefix(":+") {
            match value {
                Some(v) if !v.is_empty() => substitute(alt, lookup)?,
                _ => String::new(),
            }
        } else if let Some(alt) = rest.strip_prefix('+') {
            match value {
                Some(_) => substitute(alt, lookup)?,
                None => String::new(),
            }
        } else {
            return Err(format!(
                "unsupported modifier in '${{{inner}}}'; supported: ${{V}}, ${{V:-default}}, ${{V-default}}, ${{V:+alt}}, ${{V+alt}}"
            ));
        };
        return Ok((out, close + 1));
    }
    let n = s[1..].iter().take_while(|&&c| is_name_char(c)).count();
    if n == 0 {
        return Ok(("$".into(), 1));
    }
    let name: String = s[1..1 + n].iter().collect();
    Ok((lookup(&name).unwrap_or_default(), 1 + n))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let m: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| m.get(k).cloned()
    }

    #[test]
    fn substitution_forms() {
        let e = env(&[("A", "x"), ("EMPTY", ""), ("SP", "1 2")]);
        assert_eq!(substitute("$A", &e).unwrap(), "x");
        assert_eq!(substitute("${A}y", &e).unwrap(), "xy");
        assert_eq!(substitute("${B:-def}", &e).unwrap(), "def");
        assert_eq!(substitute("${EMPTY:-def}", &e).unwrap(), "def");
        assert_eq!(substitute("${EMPTY-def}", &e).unwrap(), "");
        assert_eq!(substitute("${A:+alt}", &e).unwrap(), "alt");
        assert_eq!(substitute("${B:+alt}", &e).unwrap(), "");
        assert_eq!(substitute("${B:-$A}", &e).unwrap(), "x");
        assert_eq!(substitute("'$A'", &e).unwrap(), "$A");
        assert_eq!(substitute("\"$A\"", &e).unwrap(), "x");
        assert_eq!(substitute("\\$A", &e).unwrap(), "$A");
        assert_eq!(substitute("$UNSET/x", &e).unwrap(), "/x");
        assert_eq!(substitute("a$", &e).unwrap(), "a$");
        assert_eq!(
            substitute_words("80 $SP", &e).unwrap(),
            vec!["80", "1", "2"]
        );
        assert_eq!(substitute_words("\"a b\" c", &e).unwrap(), vec!["a b", "c"]);
        assert!(substitute("${A", &e).is_err());
    }
}
