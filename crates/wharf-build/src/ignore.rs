//! `.dockerignore` matching with Docker's semantics: patterns are relative
//! to the context root (a leading `/` is ignored), `*` and `?` match within
//! one path segment, `[...]` classes, `**` matches any number of segments,
//! `!pattern` re-includes, the last matching line wins, and a pattern that
//! matches a directory matches everything below it.

use std::path::Path;

use crate::paths::clean_segments;

#[derive(Debug, Clone)]
struct Pattern {
    negate: bool,
    segments: Vec<String>,
}

/// A parsed `.dockerignore`.
#[derive(Debug, Clone, Default)]
pub struct DockerIgnore {
    patterns: Vec<Pattern>,
}

impl DockerIgnore {
    /// Parses the text of a `.dockerignore` file.
    pub fn parse(text: &str) -> DockerIgnore {
        let mut patterns = Vec::new();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (negate, pat) = match line.strip_prefix('!') {
                Some(p) => (true, p.trim()),
                None => (false, line),
            };
            let segments = clean(pat);
            if segments.is_empty() {
                continue;
            }
            patterns.push(Pattern { negate, segments });
        }
        DockerIgnore { patterns }
    }

    /// Reads `<context>/.dockerignore`; no file means nothing is ignored.
    pub fn load(context: &Path) -> std::io::Result<DockerIgnore> {
        match std::fs::read_to_string(context.join(".dockerignore")) {
            Ok(t) => Ok(DockerIgnore::parse(&t)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(DockerIgnore::default()),
            Err(e) => Err(e),
        }
    }

    /// Whether `rel` (a path relative to the context root, `/`-separated)
    /// is excluded from the build context.
    pub fn is_excluded(&self, rel: &str) -> bool {
        let path = clean(rel);
        if path.is_empty() {
            return false;
        }
        let mut excluded = false;
        for p in &self.patterns {
            // The pattern matches the path or one of its parent directories.
            let hit = (1..=path.len()).any(|n| match_segments(&p.segments, &path[..n]));
            if hit {
                excluded = !p.negate;
            }
        }
        excluded
    }

    /// True when there are no patterns.
    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }
}

/// The path's segments, cleaned like Go's filepath.Clean (as Docker does).
fn clean(p: &str) -> Vec<String> {
    clean_segments(p).into_iter().map(str::to_string).collect()
}

fn match_segments(pat: &[String], path: &[String]) -> bool {
    match pat.first() {
        None => path.is_empty(),
        Some(first) if first == "**" => {
            (0..=path.len()).any(|skip| match_segments(&pat[1..], &path[skip..]))
        }
        Some(first) => {
            !path.is_empty()
                && match_one(first.as_bytes(), path[0].as_bytes())
                && match_segments(&pat[1..], &path[1..])
        }
    }
}

/// Glob match of one segment: `*`, `?`, `[a-z]`, `[!x]`/`[^x]`, `\` escape.
fn match_one(pat: &[u8], s: &[u8]) -> bool {
    if pat.is_empty() {
        return s.is_empty();
    }
    match pat[0] {
        b'*' => (0..=s.len()).any(|i| match_one(&pat[1..], &s[i..])),
        b'?' => !s.is_empty() && match_one(&pat[1..], &s[1..]),
        b'[' => {
            if s.is_empty() {
                return false;
            }
            let Some(end) = pat[1..].iter().position(|&c| c == b']').map(|p| p + 1) else {
                return s[0] == b'[' && match_one(&pat[1..], &s[1..]);
            };
            let mut class = &pat[1..end];
            let negated = matches!(class.first(), Some(b'!') | Some(b'^'));
            if negated {
                class = &class[1..];
            }
            let c = s[0];
            let mut found = false;
            let mut i = 0;
            while i < class.len() {
                if i + 2 < class.len() && class[i + 1] == b'-' {
                    if class[i] <= c && c <= class[i + 2] {
                        found = true;
                    }
                    i += 3;
                } else {
                    if class[i] == c {
                        found = true;
                    }
                    i += 1;
                }
            }
            found != negated && match_one(&pat[end + 1..], &s[1..])
        }
        b'\\' if pat.len() > 1 => !s.is_empty() && s[0] == pat[1] && match_one(&pat[2..], &s[1..]),
        c => !s.is_empty() && s[0] == c && match_one(&pat[1..], &s[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basics_and_exceptions() {
        let ig = DockerIgnore::parse(
            "# comment\n*.md\n!README.md\ntarget\n/secret.txt\nlogs/*.log\n**/*.tmp\n",
        );
        assert!(ig.is_excluded("NOTES.md"));
        assert!(!ig.is_excluded("README.md"));
        assert!(!ig.is_excluded("docs/NOTES.md"), "* does not cross /");
        assert!(ig.is_excluded("target"));
        assert!(
            ig.is_excluded("target/debug/x"),
            "children of an excluded dir"
        );
        assert!(ig.is_excluded("secret.txt"));
        assert!(ig.is_excluded("logs/a.log"));
        assert!(!ig.is_excluded("logs/sub/a.log"));
        assert!(ig.is_excluded("a.tmp"));
        assert!(ig.is_excluded("deep/er/a.tmp"));
        assert!(!ig.is_excluded("app.wasm"));
    }

    #[test]
    fn later_lines_win() {
        let ig = DockerIgnore::parse("!keep\n*\n");
        assert!(ig.is_excluded("keep"));
        let ig = DockerIgnore::parse("*\n!keep\n!dir/inner\n");
        assert!(!ig.is_excluded("keep"));
        assert!(ig.is_excluded("other"));
        assert!(ig.is_excluded("dir/x"));
        assert!(!ig.is_excluded("dir/inner"));
        assert!(!ig.is_excluded("dir/inner/file"));
    }

    #[test]
    fn double_star_and_classes() {
        let ig = DockerIgnore::parse("**/node_modules\nsrc/**/gen\nfile[0-9].txt\n?x\n");
        assert!(ig.is_excluded("node_modules"));
        assert!(ig.is_excluded("a/b/node_modules/pkg/x.js"));
        assert!(ig.is_excluded("src/gen"));
        assert!(ig.is_excluded("src/a/b/gen/f"));
        assert!(ig.is_excluded("file3.txt"));
        assert!(!ig.is_excluded("fileA.txt"));
        assert!(ig.is_excluded("ax"));
        assert!(!ig.is_excluded("abx"));
    }
}
