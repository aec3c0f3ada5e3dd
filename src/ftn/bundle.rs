//! ArcMail bundles (`*.mo0` … `*.su9` and friends): ZIP archives of packets, unpacked in
//! memory. Limits are enforced on what inflating actually produces, not on the sizes the
//! archive claims, and entry names are only labels, never paths.

use std::io::{Cursor, Read};

use super::FtnError;

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

/// Unpacks every file entry (directories skipped) within `limits`.
pub fn unpack(bytes: &[u8], limits: Limits) -> Result<Vec<BundleEntry>, FtnError> {
    let mut archive =
        zip::ZipArchive::new(Cursor::new(bytes)).map_err(|e| FtnError::Zip(e.to_string()))?;
    if archive.len() > limits.max_entries {
        return Err(FtnError::TooManyEntries {
            count: archive.len(),
            max: limits.max_entries,
        });
    }
    let mut remaining = limits.max_total_bytes;
    let mut out = Vec::with_capacity(archive.len());
    for i in 0..archive.len() {
        let entry = archive
            .by_index(i)
            .map_err(|e| FtnError::Zip(format!("entry {i}: {e}")))?;
        if entry.is_dir() {
            continue;
        }
        let name = safe_name(entry.name_raw());
        // Read one byte past the budget through `take`: the declared size is not trusted.
        let mut data = Vec::with_capacity(
            usize::try_from(entry.size().min(remaining).min(1 << 24)).unwrap_or(0),
        );
        let mut limited = entry.take(remaining.saturating_add(1));
        limited
            .read_to_end(&mut data)
            .map_err(|e| FtnError::Zip(format!("entry {name}: {e}")))?;
        let got = u64::try_from(data.len()).unwrap_or(u64::MAX);
        if got > remaining {
            return Err(FtnError::TooLarge {
                max: limits.max_total_bytes,
            });
        }
        remaining -= got;
        out.push(BundleEntry { name, data });
    }
    Ok(out)
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
}
