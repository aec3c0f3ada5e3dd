//! Opening a link in the browser: only http and https, and the program and the URL are
//! separate arguments of a direct exec — feed data never reaches a shell
//! (newsbeuter CVE-2017-12904, CVE-2017-14500).

use std::process::{Command, Stdio};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum OpenError {
    #[error("not opened: {0:?} is not a web link (only http and https are opened)")]
    Scheme(String),
    #[error("not opened: cannot read the link {0:?}")]
    Invalid(String),
    #[error("cannot start {program}: {message}")]
    Spawn { program: String, message: String },
}

/// The program and its leading arguments: `$BROWSER` (first entry of a `:` list, split on
/// whitespace, never through a shell), else the system opener.
pub fn opener(browser: Option<&str>) -> Vec<String> {
    if let Some(b) = browser
        && let Some(first) = b.split(':').map(str::trim).find(|s| !s.is_empty())
    {
        let words: Vec<String> = first.split_whitespace().map(str::to_string).collect();
        if !words.is_empty() {
            return words;
        }
    }
    if cfg!(target_os = "macos") {
        vec!["open".into()]
    } else {
        vec!["xdg-open".into()]
    }
}

/// Check a link: an absolute http or https URL. Returns it normalised.
pub fn check(link: &str) -> Result<String, OpenError> {
    let url = url::Url::parse(link.trim())
        .map_err(|_| OpenError::Invalid(crate::tui::text::line(link)))?;
    match url.scheme() {
        "http" | "https" => Ok(url.to_string()),
        other => Err(OpenError::Scheme(crate::tui::text::line(other))),
    }
}

/// Open `link` in the browser, without waiting for it. Returns the program started.
pub fn open(link: &str) -> Result<String, OpenError> {
    let url = check(link)?;
    let browser = std::env::var("BROWSER").ok();
    let argv = opener(browser.as_deref());
    let (program, args) = argv.split_first().ok_or_else(|| OpenError::Spawn {
        program: String::new(),
        message: "no program".into(),
    })?;
    let child = Command::new(program)
        .args(args)
        .arg(&url)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| OpenError::Spawn {
            program: program.clone(),
            message: e.to_string(),
        })?;
    // Reap it when it exits so no zombie is left behind.
    let mut child = child;
    let _ = std::thread::Builder::new()
        .name("echowatch-opener".into())
        .spawn(move || child.wait());
    Ok(program.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_web_links_are_opened() {
        assert_eq!(
            check("https://example.com/a?b=1").unwrap(),
            "https://example.com/a?b=1"
        );
        assert!(check(" http://example.com ").is_ok());
        for bad in [
            "file:///etc/passwd",
            "javascript:alert(1)",
            "exec:rm -rf /",
            "mailto:x@y",
        ] {
            assert!(matches!(check(bad), Err(OpenError::Scheme(_))), "{bad}");
        }
        assert!(matches!(
            check("not a url; rm -rf ~"),
            Err(OpenError::Invalid(_))
        ));
        assert!(matches!(check("\u{1b}[2J"), Err(OpenError::Invalid(_))));
    }

    #[test]
    fn browser_variable_is_split_without_a_shell() {
        assert_eq!(opener(Some("firefox --new-tab")), ["firefox", "--new-tab"]);
        assert_eq!(opener(Some("w3m:lynx")), ["w3m"]);
        assert_eq!(opener(Some("  ")).len(), 1);
        assert_eq!(opener(Some("sh -c 'x; y'")), ["sh", "-c", "'x;", "y'"]);
    }

    #[test]
    fn a_link_with_shell_characters_is_one_argument() {
        // `echo` prints its arguments; the URL arrives as one argument, unexpanded.
        let url = check("https://example.com/$(id)?a=1&b=`x`").unwrap();
        let out = Command::new("echo").arg(&url).output().unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), url);
    }
}
