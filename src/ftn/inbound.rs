//! A binkd inbound folder: which files are ready to toss, and where a tossed file goes.
//! Nothing here deletes data: files are moved (hard link + unlink, or copy + unlink across
//! file systems) to `<data>/ftn/done/` or `<data>/ftn/bad/`, never over an existing file.

use std::collections::HashSet;
use std::ffi::{OsStr, OsString};
use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::bundle::is_arcmail_name;

/// Files of `dir` that are finished and may be ours to toss: packets (`*.pkt`), ArcMail
/// bundles (`*.mo0`…) and text exports (`*.txt`; the caller leaves one that is not an
/// export where it is), sorted by name. Skipped: binkd's partial and control files (`*.hr`,
/// `*.dt`, `*.bsy`, `*.csy`, `*.tmp`, `*.$$$`), dot files, symlinks, directories, other
/// kinds of files (TIC, nodelists … are not ours to move), files a TIC in `dir` names (a
/// file echo's, whatever their name), and files changed (ctime) less than `min_age` ago
/// (still being written by something that is not binkd).
pub fn finished_files(dir: &Path, min_age: Duration) -> io::Result<Vec<PathBuf>> {
    let now = SystemTime::now();
    // Names as the file system has them, judged by their lossy text: a name that is not
    // UTF-8 (a remote mailer chose it) is tossed like any other, never skipped forever.
    let mut names: Vec<(OsString, String)> = Vec::new();
    for entry in fs::read_dir(dir)? {
        let name = entry?.file_name();
        let text = name.to_string_lossy().into_owned();
        names.push((name, text));
    }
    let ticked = named_by_tics(dir, &names);
    let mut out = Vec::new();
    for (name, text) in &names {
        if !is_candidate(text) || ticked.contains(&text.to_ascii_lowercase()) {
            continue;
        }
        let path = dir.join(name);
        // symlink_metadata: a symlink in the inbound is not a delivered file.
        let meta = match fs::symlink_metadata(&path) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue, // gone meanwhile
            Err(e) => return Err(e),
        };
        if !meta.file_type().is_file() {
            continue;
        }
        // The inode's change time, not the modification time: binkd keeps the sender's
        // mtime (old, or in the future), while any write or rename into this folder sets
        // the ctime, which no one can set back.
        if !min_age.is_zero() {
            use std::os::unix::fs::MetadataExt;
            let changed = u64::try_from(meta.ctime()).ok().map(|s| {
                SystemTime::UNIX_EPOCH
                    + Duration::new(s, meta.ctime_nsec().clamp(0, 999_999_999) as u32)
            });
            let age = changed.map_or(Duration::ZERO, |c| {
                now.duration_since(c).unwrap_or_default()
            });
            if age < min_age {
                continue;
            }
        }
        out.push(path);
    }
    out.sort();
    Ok(out)
}

/// Most bytes of a `*.tic` file read for the names it gives.
const MAX_TIC_BYTES: u64 = 64 * 1024;

/// Names (lower case) of the files the TIC files in `dir` deliver: a file echo's files,
/// left for the file tosser whatever their extension (`NEWS.TXT`). An unreadable TIC names
/// nothing.
fn named_by_tics(dir: &Path, names: &[(OsString, String)]) -> HashSet<String> {
    let mut named = HashSet::new();
    for (tic, _) in names
        .iter()
        .filter(|(_, text)| text.to_ascii_lowercase().ends_with(".tic"))
    {
        let Ok(file) = fs::File::open(dir.join(tic)) else {
            continue;
        };
        // A TIC is a few hundred bytes; a cap keeps a huge file called *.tic harmless.
        let mut text = Vec::new();
        if file.take(MAX_TIC_BYTES).read_to_end(&mut text).is_err() {
            continue;
        }
        for line in String::from_utf8_lossy(&text).lines() {
            let mut words = line.trim().splitn(2, char::is_whitespace);
            let (Some(keyword), Some(value)) = (words.next(), words.next()) else {
                continue;
            };
            // FSC-0087: `File` is the 8.3 name, `Lfile`/`Fullname` the long one.
            if ["file", "lfile", "fullname"]
                .iter()
                .any(|k| keyword.eq_ignore_ascii_case(k))
            {
                let value = value.trim().trim_matches('"');
                let base = value.rsplit(['/', '\\']).next().unwrap_or_default();
                if !base.is_empty() {
                    named.insert(base.to_ascii_lowercase());
                }
            }
        }
    }
    named
}

fn is_candidate(name: &str) -> bool {
    if is_unfinished(name) {
        return false;
    }
    let lower = name.to_ascii_lowercase();
    lower.ends_with(".pkt") || lower.ends_with(".txt") || is_arcmail_name(&lower)
}

/// Names no finished delivery has: hidden files, binkd's partial and control files
/// (`*.hr`, `*.dt`, `*.bsy`, `*.csy`), other tools' temporaries and our own `.reason` notes.
/// Shared with plain folder sources, so both skip the same files.
pub fn is_unfinished(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    name.starts_with('.')
        || name.ends_with('~')
        || [
            ".hr", ".dt", ".bsy", ".csy", ".busy", ".lck", ".tmp", ".$$$", ".part", ".partial",
            ".swp", ".reason",
        ]
        .iter()
        .any(|ext| lower.ends_with(ext))
}

/// What became of a tossed file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict<'a> {
    /// Tossed: goes to `<data>/ftn/done/`.
    Done,
    /// Rejected: goes to `<data>/ftn/bad/` with `<name>.reason` holding this text.
    Bad(&'a str),
}

/// Moves `file` out of the inbound according to `verdict` and returns its new path. Name
/// collisions get a `~N` suffix before the extension (`x.pkt` → `x~1.pkt`); nothing is
/// overwritten. A `file` that is gone fails with [`io::ErrorKind::NotFound`], having
/// created nothing (no copy, no `.reason`).
pub fn settle(data_dir: &Path, file: &Path, verdict: Verdict<'_>) -> io::Result<PathBuf> {
    let sub = match verdict {
        Verdict::Done => "done",
        Verdict::Bad(_) => "bad",
    };
    let target_dir = data_dir.join("ftn").join(sub);
    fs::create_dir_all(&target_dir)?;
    // Any name the file system gave us, UTF-8 or not: the file keeps it in done/ or bad/.
    let name = file.file_name().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("no usable file name: {}", file.display()),
        )
    })?;
    let target = move_without_overwrite(file, &target_dir, name)?;
    if let Verdict::Bad(reason) = verdict {
        let mut reason_name = target.file_name().unwrap_or_default().to_os_string();
        reason_name.push(".reason");
        let reason_path = target_dir.join(reason_name);
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&reason_path)?;
        writeln!(f, "{}", reason.trim_end())?;
        f.sync_all()?;
    }
    Ok(target)
}

/// The `n`th name tried for `name`: itself, then `stem~n.ext`. Those are built from the lossy
/// text of a name that is not UTF-8 (its bytes cannot be split safely); the ~ tells them apart.
fn candidate_name(name: &OsStr, n: u32) -> OsString {
    if n == 0 {
        return name.to_os_string();
    }
    let name = name.to_string_lossy();
    OsString::from(match name.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() => format!("{stem}~{n}.{ext}"),
        _ => format!("{name}~{n}"),
    })
}

/// The error for a source file that vanished under us: another tosser (or another run)
/// took it. Its kind stays `NotFound`, so callers can tell it from a failure.
fn gone(src: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::NotFound,
        format!("{} is gone (another program took it)", src.display()),
    )
}

fn move_without_overwrite(src: &Path, dir: &Path, name: &OsStr) -> io::Result<PathBuf> {
    for n in 0..10_000 {
        let target = dir.join(candidate_name(name, n));
        // A hard link fails when the target exists: an atomic "rename, but never overwrite".
        match fs::hard_link(src, &target) {
            Ok(()) => {
                remove_source(src)?;
                return Ok(target);
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            // The source went away: nothing to move, and nothing must be created for it
            // (the copy below used to leave an empty file behind).
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(if src.symlink_metadata().is_err() {
                    gone(src)
                } else {
                    e
                });
            }
            Err(_) => {
                // Different file system or no hard links: copy into a new file, then unlink.
                // The source is opened first, so a vanished one creates nothing.
                let mut input = match fs::File::open(src) {
                    Ok(f) => f,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(gone(src)),
                    Err(e) => return Err(e),
                };
                match fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(&target)
                {
                    Ok(mut out) => {
                        if let Err(e) = io::copy(&mut input, &mut out).and_then(|_| out.sync_all())
                        {
                            // A partial copy is no copy: the source stays where it is.
                            let _ = fs::remove_file(&target);
                            return Err(e);
                        }
                        remove_source(src)?;
                        return Ok(target);
                    }
                    Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                    Err(e) => return Err(e),
                }
            }
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AlreadyExists,
        format!("too many files named like {}", name.to_string_lossy()),
    ))
}

/// Unlink the moved source; one already unlinked (by another program) is as good.
fn remove_source(src: &Path) -> io::Result<()> {
    match fs::remove_file(src) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_and_settles() {
        let tmp = tempfile::tempdir().unwrap();
        let inbound = tmp.path().join("in");
        fs::create_dir(&inbound).unwrap();
        for n in [
            "a.pkt",
            "b.MO0",
            "c.hr",
            "d.dt",
            "e.bsy",
            ".f.pkt",
            "g.tic",
            "h.txt",
            "x.pkt.tmp",
        ] {
            fs::write(inbound.join(n), n).unwrap();
        }
        fs::create_dir(inbound.join("dir.pkt")).unwrap();
        let names: Vec<String> = finished_files(&inbound, Duration::ZERO)
            .unwrap()
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["a.pkt", "b.MO0", "h.txt"]);
        assert!(
            finished_files(&inbound, Duration::from_secs(3600))
                .unwrap()
                .is_empty()
        );

        let data = tmp.path().join("data");
        let p = settle(&data, &inbound.join("a.pkt"), Verdict::Done).unwrap();
        assert_eq!(p, data.join("ftn/done/a.pkt"));
        fs::write(inbound.join("a.pkt"), "second").unwrap();
        let p2 = settle(&data, &inbound.join("a.pkt"), Verdict::Done).unwrap();
        assert_eq!(p2, data.join("ftn/done/a~1.pkt"));
        assert_eq!(fs::read_to_string(&p).unwrap(), "a.pkt");
        assert_eq!(fs::read_to_string(&p2).unwrap(), "second");
        let b = settle(
            &data,
            &inbound.join("b.MO0"),
            Verdict::Bad("truncated at byte 12"),
        )
        .unwrap();
        assert_eq!(
            fs::read_to_string(data.join("ftn/bad/b.MO0.reason")).unwrap(),
            "truncated at byte 12\n"
        );
        assert!(b.exists() && !inbound.join("b.MO0").exists());
    }

    #[test]
    fn a_vanished_file_is_reported_gone_and_nothing_is_created() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("done");
        fs::create_dir(&dir).unwrap();
        // Another run already moved it here under its name: the collision must not send
        // us on to create `x~1.pkt` either.
        fs::write(dir.join("x.pkt"), "tossed by the other run").unwrap();
        let missing = tmp.path().join("x.pkt");
        let moved = move_without_overwrite(&missing, &dir, OsStr::new("x.pkt"));
        let left: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left, ["x.pkt"]);
        let e = moved.unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound, "{e}");
        assert!(e.to_string().contains("gone"), "{e}");
        assert_eq!(
            fs::read_to_string(dir.join("x.pkt")).unwrap(),
            "tossed by the other run"
        );

        // Through `settle` as a broken file: no file and no `.reason` in bad/.
        let data = tmp.path().join("data");
        let e = settle(&data, &missing, Verdict::Bad("truncated")).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
        let bad: Vec<_> = fs::read_dir(data.join("ftn/bad"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert!(bad.is_empty(), "{bad:?}");
    }

    /// A remote mailer may name a file in any bytes: it is listed and moved like any other,
    /// keeping its name, rather than left in the inbound unseen on every run.
    #[cfg(unix)]
    #[test]
    fn names_that_are_not_utf8_are_listed_and_settled() {
        use std::os::unix::ffi::OsStrExt;
        let tmp = tempfile::tempdir().unwrap();
        let inbound = tmp.path().join("in");
        fs::create_dir(&inbound).unwrap();
        let good = OsStr::from_bytes(b"caf\xe91.pkt");
        let bad = OsStr::from_bytes(b"bad\xe92.pkt");
        let tmpfile = OsStr::from_bytes(b"x\xe9.pkt.tmp");
        for n in [good, bad, tmpfile] {
            fs::write(inbound.join(n), "x").unwrap();
        }
        let listed = finished_files(&inbound, Duration::ZERO).unwrap();
        assert_eq!(listed, vec![inbound.join(bad), inbound.join(good)]);

        let data = tmp.path().join("data");
        let done = settle(&data, &inbound.join(good), Verdict::Done).unwrap();
        assert_eq!(done, data.join("ftn/done").join(good));
        let set_aside = settle(&data, &inbound.join(bad), Verdict::Bad("broken")).unwrap();
        assert_eq!(set_aside, data.join("ftn/bad").join(bad));
        let mut reason = bad.to_os_string();
        reason.push(".reason");
        assert_eq!(
            fs::read_to_string(data.join("ftn/bad").join(reason)).unwrap(),
            "broken\n"
        );
        // A second file of the same name gets a `~1` name, from its lossy text.
        fs::write(inbound.join(good), "again").unwrap();
        let again = settle(&data, &inbound.join(good), Verdict::Done).unwrap();
        assert_eq!(again, data.join("ftn/done/caf\u{fffd}1~1.pkt"));
        assert_eq!(fs::read_to_string(again).unwrap(), "again");
    }

    #[test]
    fn files_a_tic_delivers_are_never_listed() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        fs::write(
            dir.join("abcd1234.tic"),
            "Area NEWSFILES\r\nOrigin 1337:1/1\r\nFile NEWS.TXT\r\n\
             Desc Weekly news\r\nLfile Export-Rules-2026.pkt\r\nCrc 1A2B3C4D\r\n",
        )
        .unwrap();
        for n in [
            "news.txt",
            "Export-Rules-2026.pkt",
            "README.txt",
            "0000aaaa.pkt",
        ] {
            fs::write(dir.join(n), n).unwrap();
        }
        let names: Vec<String> = finished_files(dir, Duration::ZERO)
            .unwrap()
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["0000aaaa.pkt", "README.txt"]);
    }
}
