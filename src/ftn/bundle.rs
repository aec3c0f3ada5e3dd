//! ArcMail bundles (`*.mo0` … `*.su9` and friends): ZIP archives of packets, unpacked in
//! memory. Limits are enforced on what inflating actually produces, not on the sizes the
//! archive claims, and entry names are only labels, never paths. [`read_each`] reads the
//! packets one by one, so a broken one does not cost the others.

use std::io::{Cursor, Read};

use super::{Charsets, FileStories, FtnError};

/// Bounds for unpacking one bundle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most entries a bundle may have.
    pub max_entries: usize,
    /// Most bytes all entries together may inflate to.
    pub max_total_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        // A busy hub's daily bundle is a few MB; these leave room while stopping zip bombs.
        Limits {
            max_entries: 1000,
            max_total_bytes: 256 * 1024 * 1024,
        }
    }
}

/// One unpacked file of a bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleEntry {
    /// The entry's base name, sanitised for messages (no directories, no control characters).
    pub name: String,
    pub data: Vec<u8>,
}

/// True when the bytes are a ZIP archive (local file header, or the empty-archive record).
pub fn is_zip(bytes: &[u8]) -> bool {
    bytes.starts_with(b"PK\x03\x04") || bytes.starts_with(b"PK\x05\x06")
}

/// True for ArcMail bundle names: `.mo?`, `.tu?`, `.we?`, `.th?`, `.fr?`, `.sa?`, `.su?`
/// with any letter or digit last (binkd and tossers count past 9 into letters).
pub fn is_arcmail_name(name: &str) -> bool {
    let Some((_, ext)) = name.rsplit_once('.') else {
        return false;
    };
    let ext = ext.to_ascii_lowercase();
    let Some(day) = ext.get(..2) else {
        return false;
    };
    ext.len() == 3
        && ["mo", "tu", "we", "th", "fr", "sa", "su"].contains(&day)
        && ext
            .bytes()
            .last()
            .is_some_and(|b| b.is_ascii_alphanumeric())
}

/// Unpacks every file entry (directories skipped) within `limits`; the first entry that
/// cannot be inflated fails the whole bundle.
pub fn unpack(bytes: &[u8], limits: Limits) -> Result<Vec<BundleEntry>, FtnError> {
    unpack_each(bytes, limits)?
        .into_iter()
        .map(|entry| entry.map_err(|(label, e)| FtnError::Zip(format!("entry {label}: {e}"))))
        .collect()
}

/// An entry that could not be inflated: its label (name, or number) and the ZIP reader's why.
pub type BrokenEntry = (String, String);

/// Unpacks every file entry (directories skipped) within `limits`, each on its own: an entry
/// that cannot be inflated does not stop the others. The bundle as a whole fails when it is
/// no ZIP or breaks `limits` (a zip bomb is not half read).
pub fn unpack_each(
    bytes: &[u8],
    limits: Limits,
) -> Result<Vec<Result<BundleEntry, BrokenEntry>>, FtnError> {
    // The zip crate keys entries by name: of two entries with one name it keeps only the last.
    // Such a bundle is read through a copy whose directory names each entry by its number, and
    // the entries are labelled with their own names from the directory.
    let directory = central_names(bytes);
    let renamed;
    let mut labels = None;
    let mut archive =
        zip::ZipArchive::new(Cursor::new(bytes)).map_err(|e| FtnError::Zip(e.to_string()))?;
    // Only where names really repeat: a directory that just holds more records than its end
    // record counts is the crate's to read, as before.
    let repeats = |names: &Vec<Vec<u8>>| {
        let distinct: std::collections::HashSet<&Vec<u8>> = names.iter().collect();
        distinct.len() < names.len()
    };
    if let Some(names) = directory.filter(|names| names.len() > archive.len() && repeats(names)) {
        if names.len() > limits.max_entries {
            return Err(FtnError::TooManyEntries {
                count: names.len(),
                max: limits.max_entries,
            });
        }
        renamed = numbered_copy(bytes).ok_or_else(|| {
            FtnError::Zip("two entries of one name, and its directory cannot be read".into())
        })?;
        archive = zip::ZipArchive::new(Cursor::new(renamed.as_slice()))
            .map_err(|e| FtnError::Zip(e.to_string()))?;
        if archive.len() != names.len() {
            return Err(FtnError::Zip(format!(
                "{} entries, of which only {} can be told apart by name",
                names.len(),
                archive.len()
            )));
        }
        labels = Some(names);
    }
    if archive.len() > limits.max_entries {
        return Err(FtnError::TooManyEntries {
            count: archive.len(),
            max: limits.max_entries,
        });
    }
    let mut remaining = limits.max_total_bytes;
    let mut out = Vec::with_capacity(archive.len());
    for i in 0..archive.len() {
        let entry = match archive.by_index(i) {
            Ok(entry) => entry,
            Err(e) => {
                out.push(Err((i.to_string(), e.to_string())));
                continue;
            }
        };
        if entry.is_dir() {
            continue;
        }
        let name = match labels.as_ref().and_then(|l: &Vec<Vec<u8>>| l.get(i)) {
            Some(raw) => safe_name(raw),
            None => safe_name(entry.name_raw()),
        };
        // Read one byte past the budget through `take`: the declared size is not trusted.
        let mut data = Vec::with_capacity(
            usize::try_from(entry.size().min(remaining).min(1 << 24)).unwrap_or(0),
        );
        let mut limited = entry.take(remaining.saturating_add(1));
        let read = limited.read_to_end(&mut data);
        // What was inflated counts against the budget, whole entry or not.
        let got = u64::try_from(data.len()).unwrap_or(u64::MAX);
        if got > remaining {
            return Err(FtnError::TooLarge {
                max: limits.max_total_bytes,
            });
        }
        remaining -= got;
        out.push(match read {
            Ok(_) => Ok(BundleEntry { name, data }),
            Err(e) => Err((name, e.to_string())),
        });
    }
    Ok(out)
}

/// What [`read_each`] made of a bundle.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BundleStories {
    /// The stories (and warnings) of its good packets.
    pub file: FileStories,
    /// Packets read.
    pub read: usize,
    /// The packets that could not be read, each a [`FtnError::BundleEntry`], in archive order.
    pub broken: Vec<FtnError>,
}

/// Reads a bundle packet by packet: the stories of every good packet, the broken ones named.
/// Tossers (crashmail) toss a bundle's good packets however broken its others are; the
/// caller decides what becomes of the bundle. Fails as a whole only when the archive does
/// (no ZIP, over `limits`).
pub fn read_each(
    name: &str,
    bytes: &[u8],
    charsets: &Charsets,
    limits: Limits,
) -> Result<BundleStories, FtnError> {
    let mut out = BundleStories::default();
    for entry in unpack_each(bytes, limits)? {
        let entry = match entry {
            Ok(entry) => entry,
            Err((label, why)) => {
                out.broken.push(FtnError::BundleEntry {
                    name: label,
                    source: Box::new(FtnError::Zip(why)),
                });
                continue;
            }
        };
        let label = format!("{name}/{}", entry.name);
        if entry.data.is_empty() {
            out.file
                .warnings
                .push(format!("{label}: empty entry skipped"));
            continue;
        }
        // Bundles carry packets only; anything else is broken with the packet reader's reason.
        match super::stories_from_packet(&label, &entry.data, charsets, &mut out.file) {
            Ok(()) => out.read += 1,
            Err(e) => out.broken.push(FtnError::BundleEntry {
                name: entry.name,
                source: Box::new(e),
            }),
        }
    }
    Ok(out)
}

/// Where the central directory of a ZIP without ZIP64 records sits: (its start, its length,
/// the end record's offset). None when there is no such directory to read.
fn central_directory(bytes: &[u8]) -> Option<(usize, usize, usize)> {
    const END_LEN: usize = 22;
    // The end record is the last thing in the file but for a comment of up to 64 KiB.
    let from = bytes.len().saturating_sub(END_LEN + usize::from(u16::MAX));
    let end = (from..=bytes.len().checked_sub(END_LEN)?)
        .rev()
        .find(|&i| bytes.get(i..i + 4) == Some(b"PK\x05\x06"))?;
    let cd_len = le32(bytes, end + 12)?;
    if le16(bytes, end + 10)? == u16::MAX || cd_len == u32::MAX {
        return None; // ZIP64: not for a bundle of packets
    }
    let cd_len = usize::try_from(cd_len).ok()?;
    let start = end.checked_sub(cd_len)?;
    Some((start, cd_len, end))
}

fn le16(bytes: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(bytes.get(at..at + 2)?.try_into().ok()?))
}

fn le32(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

/// One central directory record: (its bytes whole, its name's offset in them, name length).
fn directory_records(bytes: &[u8]) -> Option<Vec<(&[u8], usize, usize)>> {
    let (start, len, _) = central_directory(bytes)?;
    let mut dir = bytes.get(start..start + len)?;
    let mut out = Vec::new();
    while !dir.is_empty() {
        if !dir.starts_with(b"PK\x01\x02") {
            return None;
        }
        let name_len = usize::from(le16(dir, 28)?);
        let total = 46 + name_len + usize::from(le16(dir, 30)?) + usize::from(le16(dir, 32)?);
        out.push((dir.get(..total)?, 46, name_len));
        dir = &dir[total..];
    }
    Some(out)
}

/// The raw names of a ZIP's entries, every one, in directory order (None: unreadable).
fn central_names(bytes: &[u8]) -> Option<Vec<Vec<u8>>> {
    Some(
        directory_records(bytes)?
            .into_iter()
            .map(|(record, at, len)| record[at..at + len].to_vec())
            .collect(),
    )
}

/// `bytes` with a new central directory in which entry `i` is named `i` (`i/` for a folder),
/// without the Info-ZIP Unicode path field (it would name it back) and without comments. The
/// entries' data and local headers stay where they are, so nothing else moves.
fn numbered_copy(bytes: &[u8]) -> Option<Vec<u8>> {
    let (start, _, end) = central_directory(bytes)?;
    let mut out = bytes.get(..start)?.to_vec();
    for (i, (record, at, len)) in directory_records(bytes)?.into_iter().enumerate() {
        let old_name = &record[at..at + len];
        let mut name = i.to_string().into_bytes();
        if old_name.ends_with(b"/") {
            name.push(b'/');
        }
        let extra_len = usize::from(le16(record, 30)?);
        let mut fields = record.get(at + len..at + len + extra_len)?;
        let mut extra = Vec::new();
        while fields.len() >= 4 {
            let field_len = 4 + usize::from(le16(fields, 2)?);
            let field = fields.get(..field_len)?;
            if le16(fields, 0)? != 0x7075 {
                extra.extend_from_slice(field);
            }
            fields = &fields[field_len..];
        }
        let mut header = record[..46].to_vec();
        header[28..30].copy_from_slice(&u16::try_from(name.len()).ok()?.to_le_bytes());
        header[30..32].copy_from_slice(&u16::try_from(extra.len()).ok()?.to_le_bytes());
        header[32..34].copy_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(&header);
        out.extend_from_slice(&name);
        out.extend_from_slice(&extra);
    }
    let cd_len = u32::try_from(out.len() - start).ok()?;
    let mut end_record = bytes.get(end..end + 22)?.to_vec();
    end_record[12..16].copy_from_slice(&cd_len.to_le_bytes());
    end_record[20..22].copy_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(&end_record);
    Some(out)
}

/// The last path component of an entry name, printable characters only.
fn safe_name(raw: &[u8]) -> String {
    let name = String::from_utf8_lossy(raw);
    let base = name.rsplit(['/', '\\']).next().unwrap_or_default();
    let cleaned: String = base.chars().filter(|c| !c.is_control()).take(64).collect();
    if cleaned.is_empty() || cleaned == "." || cleaned == ".." {
        "unnamed".into()
    } else {
        cleaned
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn zip_of(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        for (name, data) in files {
            w.start_file(*name, opts).unwrap();
            w.write_all(data).unwrap();
        }
        w.finish().unwrap().into_inner()
    }

    #[test]
    fn unpacks_with_limits() {
        let z = zip_of(&[("../../etc/0000ffff.pkt", b"abc"), ("b.pkt", &[0u8; 5000])]);
        assert!(is_zip(&z));
        let e = unpack(&z, Limits::default()).unwrap();
        assert_eq!(e[0].name, "0000ffff.pkt");
        assert_eq!(e[1].data.len(), 5000);
        let small = Limits {
            max_entries: 10,
            max_total_bytes: 4000,
        };
        assert!(matches!(unpack(&z, small), Err(FtnError::TooLarge { .. })));
        let few = Limits {
            max_entries: 1,
            max_total_bytes: 1 << 20,
        };
        assert!(matches!(
            unpack(&z, few),
            Err(FtnError::TooManyEntries { .. })
        ));
        assert!(unpack(b"PK\x03\x04garbage", Limits::default()).is_err());
        assert!(
            is_arcmail_name("0000FFFF.MO0")
                && is_arcmail_name("x.sua")
                && !is_arcmail_name("x.pkt")
        );
    }

    fn fixture(name: &str) -> Vec<u8> {
        std::fs::read(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/ftn")
                .join(name),
        )
        .unwrap()
    }

    /// A ZIP of `files`, after which every name `from` is renamed `to` (same length): the
    /// zip writer refuses to write two entries of one name, other tools do not.
    fn zip_renamed(files: &[(&str, &[u8])], from: &str, to: &str) -> Vec<u8> {
        assert_eq!(from.len(), to.len());
        let mut z = zip_of(files);
        let at: Vec<usize> = z
            .windows(from.len())
            .enumerate()
            .filter(|(_, w)| *w == from.as_bytes())
            .map(|(i, _)| i)
            .collect();
        // Once in its local header, once in the directory.
        assert_eq!(at.len(), 2);
        for i in at {
            z[i..i + to.len()].copy_from_slice(to.as_bytes());
        }
        z
    }

    #[test]
    fn every_entry_of_a_bundle_is_read_even_two_of_one_name() {
        let cs = Charsets::default();
        let (utf8, cp437, point) = (
            fixture("gateway-utf8.pkt"),
            fixture("gateway-cp437.pkt"),
            fixture("point-2plus.pkt"),
        );
        let stories_of = |bytes: &[u8]| {
            let z = zip_of(&[("x.pkt", bytes)]);
            read_each("one.we0", &z, &cs, Limits::default())
                .unwrap()
                .file
                .stories
        };
        let z = zip_renamed(
            &[("a.pkt", &utf8), ("b.pkt", &cp437), ("c.pkt", &point)],
            "b.pkt",
            "a.pkt",
        );
        let read = read_each("dup.we0", &z, &cs, Limits::default()).unwrap();
        assert_eq!(read.read, 3, "{:?}", read.broken);
        let mut want = stories_of(&utf8);
        want.extend(stories_of(&cp437));
        want.extend(stories_of(&point));
        assert_eq!(read.file.stories, want);
        // Labelled with their own names, the broken one of the two as well.
        let cut = fixture("broken-truncated.pkt");
        let z = zip_renamed(&[("a.pkt", &utf8), ("b.pkt", &cut)], "b.pkt", "a.pkt");
        let read = read_each("dup.we0", &z, &cs, Limits::default()).unwrap();
        assert_eq!((read.read, read.broken.len()), (1, 1));
        assert!(
            read.broken[0]
                .to_string()
                .starts_with("bundle entry a.pkt:"),
            "{}",
            read.broken[0]
        );
        let entries = unpack(
            &zip_renamed(&[("a.pkt", b"1"), ("b.pkt", b"2")], "b.pkt", "a.pkt"),
            Limits::default(),
        )
        .unwrap();
        let got: Vec<(&str, &[u8])> = entries
            .iter()
            .map(|e| (e.name.as_str(), e.data.as_slice()))
            .collect();
        assert_eq!(got, [("a.pkt", &b"1"[..]), ("a.pkt", &b"2"[..])]);
    }

    #[test]
    fn read_each_keeps_the_good_packets_of_a_bundle_with_a_broken_one() {
        let fixture = |name: &str| {
            std::fs::read(
                std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("tests/fixtures/ftn")
                    .join(name),
            )
            .unwrap()
        };
        let good = fixture("gateway-utf8.pkt");
        let cut = fixture("broken-truncated.pkt");
        let z = zip_of(&[
            ("0000aaaa.pkt", &good),
            ("0000bbbb.pkt", &cut),
            ("sub/../0000cccc.pkt", &good),
        ]);
        let cs = Charsets::default();
        let read = read_each("0000dddd.th3", &z, &cs, Limits::default()).unwrap();
        assert_eq!(read.read, 2);
        assert_eq!(read.file.stories.len(), 4);
        assert_eq!(read.broken.len(), 1);
        assert!(
            read.broken[0]
                .to_string()
                .starts_with("bundle entry 0000bbbb.pkt: truncated packet"),
            "{}",
            read.broken[0]
        );
        // The whole-file reader still refuses it, naming the same entry.
        assert!(matches!(
            super::super::read_file("0000dddd.th3", &z, &cs, Limits::default()),
            Err(FtnError::BundleEntry { name, .. }) if name == "0000bbbb.pkt"
        ));
        // Over the limits the bundle fails as a whole: nothing of a zip bomb is half read.
        let small = Limits {
            max_entries: 10,
            max_total_bytes: u64::try_from(good.len()).unwrap() + 10,
        };
        assert!(matches!(
            read_each("x.th3", &z, &cs, small),
            Err(FtnError::TooLarge { .. })
        ));
    }
}
