//! The small syntaxes inside Compose values: shell words (`command: "a b"`),
//! Go durations (`1m30s`) and byte sizes (`512m`).

use std::time::Duration;

/// Splits a command string into words as compose-go does (go-shellwords):
/// whitespace separates words, single quotes are literal, double quotes
/// allow `\"`, `\\`, `\$` and `` \` `` escapes, a backslash outside quotes
/// escapes the next character. No variable or glob expansion.
pub(crate) fn shell_split(s: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            '\\' => {
                in_word = true;
                match chars.next() {
                    Some(next) => word.push(next),
                    None => return Err(format!("{s:?} ends with a lone backslash")),
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => word.push(c),
                        None => return Err(format!("unclosed single quote in {s:?}")),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(e @ ('"' | '\\' | '$' | '`')) => word.push(e),
                            Some(other) => {
                                word.push('\\');
                                word.push(other);
                            }
                            None => return Err(format!("unclosed double quote in {s:?}")),
                        },
                        Some(c) => word.push(c),
                        None => return Err(format!("unclosed double quote in {s:?}")),
                    }
                }
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

/// Parses a Go duration (`1m30s`, `10s`, `500ms`, `1.5h`, `2h45m`), the
/// syntax Compose uses for healthcheck timings and `stop_grace_period`.
pub(crate) fn parse_duration(s: &str) -> Result<Duration, String> {
    let bad = || {
        format!(
            "invalid duration {s:?}: expected a number with a unit (ns, us, ms, s, m, h), \
             like 10s, 500ms or 1m30s"
        )
    };
    let text = s.trim();
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    if text.is_empty() {
        return Err(bad());
    }
    let mut total_nanos: f64 = 0.0;
    let mut rest = text;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        if num_len == 0 {
            return Err(bad());
        }
        let number: f64 = rest[..num_len].parse().map_err(|_| bad())?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let nanos_per_unit = match &rest[..unit_len] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return Err(bad()),
        };
        rest = &rest[unit_len..];
        total_nanos += number * nanos_per_unit;
    }
    if !total_nanos.is_finite() || total_nanos > u64::MAX as f64 {
        return Err(bad());
    }
    Ok(Duration::from_nanos(total_nanos.round() as u64))
}

/// Formats a duration as Go's `time.Duration.String` does, which is what
/// `docker compose config` prints: `1m30s`, `500ms`, `1h0m0s`, `0s`.
pub(crate) fn format_duration(d: Duration) -> String {
    let nanos = d.as_nanos();
    if nanos == 0 {
        return "0s".to_string();
    }
    if nanos < 1_000 {
        return format!("{nanos}ns");
    }
    if nanos < 1_000_000 {
        return format!("{}µs", trim_fraction(nanos, 1_000));
    }
    if nanos < 1_000_000_000 {
        return format!("{}ms", trim_fraction(nanos, 1_000_000));
    }
    let hours = nanos / 3_600_000_000_000;
    let minutes = (nanos / 60_000_000_000) % 60;
    let seconds = trim_fraction(nanos % 60_000_000_000, 1_000_000_000);
    if hours > 0 {
        format!("{hours}h{minutes}m{seconds}s")
    } else if minutes > 0 {
        format!("{minutes}m{seconds}s")
    } else {
        format!("{seconds}s")
    }
}

/// `value / unit` as a decimal with trailing zeros (and a bare point) removed.
fn trim_fraction(value: u128, unit: u128) -> String {
    let whole = value / unit;
    let frac = value % unit;
    if frac == 0 {
        return whole.to_string();
    }
    let width = unit.to_string().len() - 1;
    let digits = format!("{frac:0width$}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

/// Parses a byte size as Docker does (go-units `RAMInBytes`): a number with
/// an optional binary unit, `b`, `k`, `m`, `g`, `t`, `p`, optionally followed
/// by `b` or `ib` (`512m`, `1.5g`, `256MiB`, `1024`). Units are powers of 1024.
pub(crate) fn parse_size(s: &str) -> Result<u64, String> {
    let bad = || {
        format!(
            "invalid size {s:?}: expected a number of bytes with an optional unit \
             (b, k, m, g, t, p), like 512m or 1g"
        )
    };
    let text = s.trim();
    let num_len = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    if num_len == 0 {
        return Err(bad());
    }
    let number: f64 = text[..num_len].parse().map_err(|_| bad())?;
    let unit = text[num_len..].trim_start().to_ascii_lowercase();
    let unit = unit
        .strip_suffix("ib")
        .or_else(|| unit.strip_suffix('b'))
        .unwrap_or(&unit);
    let multiplier: f64 = match unit {
        "" => 1.0,
        "k" => 1024.0,
        "m" => 1024.0 * 1024.0,
        "g" => 1024.0 * 1024.0 * 1024.0,
        "t" => 1024.0_f64.powi(4),
        "p" => 1024.0_f64.powi(5),
        _ => return Err(bad()),
    };
    let bytes = number * multiplier;
    if !bytes.is_finite() || bytes > u64::MAX as f64 {
        return Err(bad());
    }
    Ok(bytes as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_words() {
        assert_eq!(
            shell_split("echo hello world").unwrap(),
            ["echo", "hello", "world"]
        );
        assert_eq!(
            shell_split(r#"sh -c 'echo $HOME && ls' "a \"q\" b" x\ y """#).unwrap(),
            ["sh", "-c", "echo $HOME && ls", "a \"q\" b", "x y", ""]
        );
        assert_eq!(shell_split("  spaced\t out  ").unwrap(), ["spaced", "out"]);
        assert!(shell_split("").unwrap().is_empty());
        assert_eq!(
            shell_split("echo 'oops").unwrap_err(),
            "unclosed single quote in \"echo 'oops\""
        );
        assert!(shell_split("echo \"oops").is_err());
    }

    #[test]
    fn durations_parse_and_print_like_go() {
        assert_eq!(parse_duration("1m30s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("10s").unwrap(), Duration::from_secs(10));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("1.5h").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_duration("2h45m").unwrap(), Duration::from_secs(9900));
        assert_eq!(parse_duration("0").unwrap(), Duration::ZERO);
        for bad in ["", "10", "ten seconds", "10x", "s", "1m30"] {
            let e = parse_duration(bad).unwrap_err();
            assert!(e.starts_with(&format!("invalid duration {bad:?}")), "{e}");
        }
        assert_eq!(format_duration(Duration::from_secs(90)), "1m30s");
        assert_eq!(format_duration(Duration::from_millis(500)), "500ms");
        assert_eq!(format_duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(format_duration(Duration::from_secs(3600)), "1h0m0s");
        assert_eq!(format_duration(Duration::ZERO), "0s");
        assert_eq!(format_duration(Duration::from_micros(5)), "5µs");
    }

    #[test]
    fn sizes_are_binary_units() {
        assert_eq!(parse_size("512m").unwrap(), 512 * 1024 * 1024);
        assert_eq!(parse_size("1g").unwrap(), 1 << 30);
        assert_eq!(parse_size("1.5G").unwrap(), 3 << 29);
        assert_eq!(parse_size("256MiB").unwrap(), 256 << 20);
        assert_eq!(parse_size("64 kb").unwrap(), 64 << 10);
        assert_eq!(parse_size("1024").unwrap(), 1024);
        assert_eq!(parse_size("100b").unwrap(), 100);
        for bad in ["", "m", "12x", "1.2.3g", "-5m"] {
            let e = parse_size(bad).unwrap_err();
            assert!(e.starts_with(&format!("invalid size {bad:?}")), "{e}");
        }
    }
}
