//! Docker-style output helpers: aligned columns and human sizes.

/// Prints rows under a header with columns padded to their widest cell plus
/// three spaces, as Docker's tabwriter does.
pub fn print(header: &[&str], rows: &[Vec<String>]) {
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|row| row.iter().map(|c| escape_controls(c)).collect())
        .collect();
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let last = cells.len() - 1;
        let mut out = String::new();
        for (i, cell) in cells.iter().enumerate() {
            out.push_str(cell);
            if i < last {
                out.push_str(&" ".repeat(widths[i] - cell.chars().count() + 3));
            }
        }
        println!("{out}");
    };
    line(header.to_vec());
    for row in &rows {
        line(row.iter().map(String::as_str).collect());
    }
}

/// Control characters (from a loaded archive's names, say) shown as `\xNN`
/// escapes, so no string from an image can drive the user's terminal.
pub fn escape_controls(s: &str) -> String {
    if !s.chars().any(char::is_control) {
        return s.to_string();
    }
    s.chars()
        .map(|c| {
            if c.is_control() {
                format!("\\x{:02x}", c as u32)
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// Decimal units, as Docker prints image sizes: 12B, 3.4kB, 1.23MB.
pub fn human_size(bytes: u64) -> String {
    let units = ["B", "kB", "MB", "GB", "TB"];
    let mut v = bytes as f64;
    let mut i = 0;
    while v >= 1000.0 && i < units.len() - 1 {
        v /= 1000.0;
        i += 1;
    }
    if i == 0 {
        format!("{bytes}B")
    } else {
        format!("{:.3}", v)
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_string()
            + units[i]
    }
}

/// Docker's `CreatedAt` in listings: `2024-01-02 15:04:05 +0000 UTC`, from
/// an RFC 3339 time (given back as it is if it is not one).
pub fn docker_time(rfc3339: &str) -> String {
    match humantime::parse_rfc3339_weak(rfc3339) {
        Ok(t) => {
            let s = humantime::format_rfc3339_seconds(t).to_string();
            format!(
                "{} +0000 UTC",
                s.trim_end_matches('Z').replacen('T', " ", 1)
            )
        }
        Err(_) => rfc3339.to_string(),
    }
}

/// Splits "registry:5000/ns/app:1" into ("registry:5000/ns/app", "1").
pub fn split_name(name: &str) -> (String, String) {
    let base = name.split('@').next().unwrap_or(name);
    match base.rfind(':') {
        Some(i) if !base[i..].contains('/') => (base[..i].to_string(), base[i + 1..].to_string()),
        _ => (base.to_string(), "<none>".to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_names() {
        assert_eq!(human_size(12), "12B");
        assert_eq!(human_size(3_400), "3.4kB");
        assert_eq!(human_size(1_230_000), "1.23MB");
        assert_eq!(
            docker_time("2024-01-02T15:04:05.123Z"),
            "2024-01-02 15:04:05 +0000 UTC"
        );
        assert_eq!(split_name("hello:1"), ("hello".into(), "1".into()));
        assert_eq!(
            split_name("registry:5000/ns/app:v2"),
            ("registry:5000/ns/app".into(), "v2".into())
        );
        assert_eq!(
            split_name("registry:5000/ns/app"),
            ("registry:5000/ns/app".into(), "<none>".into())
        );
    }
}
