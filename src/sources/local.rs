//! Local `path` sources: a file, or a folder of feeds, packets, bundles and text exports.

use std::io::Read;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    // Paths are shown sanitised: file names in a folder are outside text.
    #[error("{}: {source}", crate::parse::sanitize::path(.path))]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: larger than the cap of {limit} bytes", crate::parse::sanitize::path(.path))]
    TooLarge { path: PathBuf, limit: u64 },
    #[error("{}: {kind}, neither a file nor a folder", crate::parse::sanitize::path(.path))]
    NotFileOrFolder { path: PathBuf, kind: &'static str },
}

/// What a path that is neither a file nor a folder is, in words.
pub fn special_kind(meta: &std::fs::Metadata) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        let t = meta.file_type();
        if t.is_fifo() {
            return "a named pipe (FIFO)";
        } else if t.is_socket() {
            return "a socket";
        } else if t.is_block_device() {
            return "a block device";
        } else if t.is_char_device() {
            return "a character device";
        }
    }
    let _ = meta;
    "neither a file nor a folder"
}

/// Deepest folder nesting walked below a source folder.
const MAX_DEPTH: usize = 4;

/// The files of a source, in a stable order. Hidden files and the temporary files of
/// mailers and editors (binkd writes `*.hr`/`*.dt` while receiving) are skipped.
pub fn list_files(path: &Path) -> Result<Vec<PathBuf>, LocalError> {
    let io = |source| LocalError::Io {
        path: path.to_path_buf(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(io)?;
    if meta.is_file() {
        return Ok(vec![path.to_path_buf()]);
    }
    if !meta.is_dir() {
        // Never opened: reading a FIFO waits for a writer, for ever.
        return Err(LocalError::NotFileOrFolder {
            path: path.to_path_buf(),
            kind: special_kind(&meta),
        });
    }
    let mut out = Vec::new();
    walk(path, 0, &mut out)?;
    out.sort();
    Ok(out)
}

fn walk(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) -> Result<(), LocalError> {
    let io = |source| LocalError::Io {
        path: dir.to_path_buf(),
        source,
    };
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if is_temporary(&name) {
            continue;
        }
        let kind = entry.file_type().map_err(io)?;
        if kind.is_dir() && depth < MAX_DEPTH {
            walk(&entry.path(), depth + 1, out)?;
        } else if kind.is_file() {
            out.push(entry.path());
        }
    }
    Ok(())
}

/// Names no finished input has (hidden files, partial downloads, mailer and editor temps).
pub fn is_temporary(name: &str) -> bool {
    crate::ftn::inbound::is_unfinished(name)
}

/// Read a file, refusing one over `limit` bytes without reading it all.
pub fn read_capped(path: &Path, limit: u64) -> Result<Vec<u8>, LocalError> {
    let io = |source| LocalError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let mut bytes = Vec::new();
    file.take(limit + 1).read_to_end(&mut bytes).map_err(io)?;
    if bytes.len() as u64 > limit {
        return Err(LocalError::TooLarge {
            path: path.to_path_buf(),
            limit,
        });
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn a_fifo_is_named_for_what_it_is_and_never_opened() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("feed.xml");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        if !made.is_ok_and(|s| s.success()) {
            eprintln!("skipped: mkfifo is not available");
            return;
        }
        // Would block for ever if it were opened for reading.
        let e = list_files(&fifo).unwrap_err().to_string();
        assert!(
            e.ends_with("a named pipe (FIFO), neither a file nor a folder"),
            "{e}"
        );
        let e = list_files(Path::new("/dev/null")).unwrap_err().to_string();
        assert!(e.contains("a character device"), "{e}");
    }

    #[test]
    fn lists_finished_files_only() {
        let dir = tempfile::tempdir().unwrap();
        for name in [
            "b.xml",
            "a.pkt",
            ".hidden",
            "x.hr",
            "y.dt",
            "c.tmp",
            "sub/d.txt",
        ] {
            let p = dir.path().join(name);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, b"x").unwrap();
        }
        let names: Vec<String> = list_files(dir.path())
            .unwrap()
            .iter()
            .map(|p| p.strip_prefix(dir.path()).unwrap().display().to_string())
            .collect();
        assert_eq!(names, vec!["a.pkt", "b.xml", "sub/d.txt"]);
        assert!(matches!(
            read_capped(&dir.path().join("b.xml"), 0),
            Err(LocalError::TooLarge { .. })
        ));
        assert_eq!(read_capped(&dir.path().join("b.xml"), 1).unwrap(), b"x");
    }
}
