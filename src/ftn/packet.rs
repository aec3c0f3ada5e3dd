//! The packet layer: FTS-0001 type 2 ("stone age"), FSC-0039/FSC-0048 type 2+ and FSC-0045
//! type 2.2 headers, then packed messages until the 0x0000 terminator.
//!
//! Zero-copy: a [`PackedMessage`] borrows its strings from the input. Every read is bounds
//! checked; string fields have the FTS-0001 maximum lengths and a longer one fails the packet
//! (a tosser writing past them is broken, and the next field would be misread anyway).

use chrono::{NaiveDate, NaiveDateTime};

use super::FtnError;
use super::address::FtnAddress;

/// Size of every packet header variant.
pub const HEADER_LEN: usize = 58;
/// Size of the fixed part of a packed message (type word to cost).
const MSG_FIXED_LEN: usize = 14;
/// FTS-0001 maxima, counting the terminating NUL.
pub const MAX_DATE: usize = 20;
pub const MAX_NAME: usize = 36;
pub const MAX_SUBJECT: usize = 72;

/// Which header layout a packet uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PacketKind {
    /// FTS-0001 type 2 without a (valid) capability word.
    Stone,
    /// FSC-0039/FSC-0048 type 2+: capability word bit 0 set and confirmed by its byte-swapped copy.
    TwoPlus,
    /// FSC-0045 type 2.2: sub-version 2 where the baud rate was, with points and domains.
    TwoTwo,
}

/// A packet header, as read or to be written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PacketHeader {
    pub kind: PacketKind,
    /// Sender of the packet (not necessarily of its messages); point origins resolved.
    pub orig: FtnAddress,
    pub dest: FtnAddress,
    /// Creation time (not in type 2.2 headers, or `None` when the fields are nonsense).
    pub created: Option<NaiveDateTime>,
    pub baud: u16,
    /// Product code (FTSC-assigned; 0xFE for "none assigned").
    pub product_code: u16,
    pub revision: (u8, u8),
    /// Session password, up to 8 bytes, NUL padding removed.
    pub password: Vec<u8>,
    /// Capability word (type 2+ only, 0 otherwise).
    pub capability_word: u16,
    /// Domains (type 2.2 only), up to 8 bytes each.
    pub orig_domain: Vec<u8>,
    pub dest_domain: Vec<u8>,
}

impl PacketHeader {
    /// A type 2+ header with no password and the given creation time.
    pub fn new(orig: FtnAddress, dest: FtnAddress, created: NaiveDateTime) -> Self {
        PacketHeader {
            kind: PacketKind::TwoPlus,
            orig,
            dest,
            created: Some(created),
            baud: 0,
            product_code: 0xFE,
            revision: (0, 1),
            password: Vec::new(),
            capability_word: 1,
            orig_domain: Vec::new(),
            dest_domain: Vec::new(),
        }
    }

    /// The password as text (passwords are ASCII in practice).
    pub fn password_str(&self) -> String {
        String::from_utf8_lossy(&self.password).into_owned()
    }
}

/// One packed message, its strings borrowed from the packet bytes and still undecoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PackedMessage<'a> {
    /// Byte offset of the message in the packet (for error messages).
    pub offset: usize,
    pub orig_node: u16,
    pub dest_node: u16,
    pub orig_net: u16,
    pub dest_net: u16,
    pub attributes: u16,
    pub cost: u16,
    pub date_time: &'a [u8],
    pub to: &'a [u8],
    pub from: &'a [u8],
    pub subject: &'a [u8],
    /// The message text: AREA line, kludges, body, tear line, origin, SEEN-BY, PATH.
    pub text: &'a [u8],
}

/// A whole packet read into memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet<'a> {
    pub header: PacketHeader,
    pub messages: Vec<PackedMessage<'a>>,
    /// Tolerated oddities, e.g. bytes after the terminator.
    pub warnings: Vec<String>,
    /// Byte offset of the 0x0000 terminator (where more messages could be appended).
    pub terminator_offset: usize,
}

/// Reads a packet: header, every message, terminator. Errors name the byte offset.
pub fn read_packet(bytes: &[u8]) -> Result<Packet<'_>, FtnError> {
    let mut reader = PacketReader::new(bytes)?;
    let mut messages = Vec::new();
    for msg in reader.by_ref() {
        messages.push(msg?);
    }
    Ok(Packet {
        header: reader.header,
        messages,
        warnings: reader.warnings,
        terminator_offset: reader.pos,
    })
}

/// Streaming reader: the header up front, then messages one at a time (an iterator of
/// results; iteration stops after the first error or the terminator).
#[derive(Debug)]
pub struct PacketReader<'a> {
    bytes: &'a [u8],
    pos: usize,
    done: bool,
    header: PacketHeader,
    warnings: Vec<String>,
}

impl<'a> PacketReader<'a> {
    pub fn new(bytes: &'a [u8]) -> Result<Self, FtnError> {
        let header = parse_header(bytes)?;
        Ok(PacketReader {
            bytes,
            pos: HEADER_LEN,
            done: false,
            header,
            warnings: Vec::new(),
        })
    }

    pub fn header(&self) -> &PacketHeader {
        &self.header
    }

    /// Warnings so far (complete once the iterator returned `None`).
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    fn next_message(&mut self) -> Result<Option<PackedMessage<'a>>, FtnError> {
        let start = self.pos;
        let kind = le16(self.bytes, start).ok_or(FtnError::Truncated {
            offset: start,
            what: "packet ends without the 0x0000 terminator",
        })?;
        if kind == 0 {
            let trailing = self.bytes.len().saturating_sub(start + 2);
            if trailing > 0 {
                let rest = self.bytes.get(start + 2..).unwrap_or_default();
                let what = if rest.iter().all(|b| *b == 0) {
                    "NUL bytes"
                } else {
                    "bytes"
                };
                self.warnings.push(format!(
                    "{trailing} trailing {what} after the packet terminator"
                ));
            }
            return Ok(None);
        }
        if kind != 2 {
            return Err(FtnError::BadMessageType {
                offset: start,
                value: kind,
            });
        }
        let fixed = self
            .bytes
            .get(start..start + MSG_FIXED_LEN)
            .ok_or(FtnError::Truncated {
                offset: start,
                what: "message header cut short",
            })?;
        let w = |i: usize| le16(fixed, i).unwrap_or(0);
        let mut pos = start + MSG_FIXED_LEN;
        let date_time = self.date_field(&mut pos)?;
        let to = self.cstr(&mut pos, MAX_NAME, "toUserName")?;
        let from = self.cstr(&mut pos, MAX_NAME, "fromUserName")?;
        let subject = self.cstr(&mut pos, MAX_SUBJECT, "subject")?;
        let text = self.cstr(&mut pos, usize::MAX, "message text")?;
        self.pos = pos;
        Ok(Some(PackedMessage {
            offset: start,
            orig_node: w(2),
            dest_node: w(4),
            orig_net: w(6),
            dest_net: w(8),
            attributes: w(10),
            cost: w(12),
            date_time,
            to,
            from,
            subject,
            text,
        }))
    }

    /// The DateTime field is "20 bytes" in FTS-0001, but much software writes it as a
    /// NUL-terminated string instead. When the NUL comes early and the rest of the 20 bytes
    /// are NULs too, it is the padded fixed form; otherwise the string form.
    fn date_field(&self, pos: &mut usize) -> Result<&'a [u8], FtnError> {
        let start = *pos;
        let rest = self.bytes.get(start..).unwrap_or_default();
        let window = rest.get(..MAX_DATE.min(rest.len())).unwrap_or_default();
        let nul = window
            .iter()
            .position(|b| *b == 0)
            .ok_or(if rest.len() < MAX_DATE {
                FtnError::Truncated {
                    offset: start,
                    what: "message date cut short",
                }
            } else {
                FtnError::FieldTooLong {
                    field: "date",
                    offset: start,
                    max: MAX_DATE - 1,
                }
            })?;
        let value = window.get(..nul).unwrap_or_default();
        let padded = window.len() == MAX_DATE && window.iter().skip(nul).all(|b| *b == 0);
        *pos = start + if padded { MAX_DATE } else { nul + 1 };
        Ok(value)
    }

    /// A NUL-terminated string of at most `max` bytes including the NUL.
    fn cstr(&self, pos: &mut usize, max: usize, field: &'static str) -> Result<&'a [u8], FtnError> {
        let start = *pos;
        let rest = self.bytes.get(start..).unwrap_or_default();
        let limit = rest.len().min(max);
        let window = rest.get(..limit).unwrap_or_default();
        match find_nul(window) {
            Some(nul) => {
                *pos = start + nul + 1;
                Ok(window.get(..nul).unwrap_or_default())
            }
            None if limit == rest.len() => Err(FtnError::Truncated {
                offset: start,
                what: truncated_what(field),
            }),
            None => Err(FtnError::FieldTooLong {
                field,
                offset: start,
                max: max - 1,
            }),
        }
    }
}

/// Position of the first NUL. `CStr::from_bytes_until_nul` is std's memchr: message texts
/// are long, and a byte loop here was a tenth of all parsing time.
fn find_nul(bytes: &[u8]) -> Option<usize> {
    std::ffi::CStr::from_bytes_until_nul(bytes)
        .ok()
        .map(|c| c.to_bytes().len())
}

fn truncated_what(field: &'static str) -> &'static str {
    match field {
        "toUserName" => "toUserName has no terminating NUL before the end of the packet",
        "fromUserName" => "fromUserName has no terminating NUL before the end of the packet",
        "subject" => "subject has no terminating NUL before the end of the packet",
        _ => "message text has no terminating NUL before the end of the packet",
    }
}

impl<'a> Iterator for PacketReader<'a> {
    type Item = Result<PackedMessage<'a>, FtnError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.next_message() {
            Ok(Some(m)) => Some(Ok(m)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

fn le16(b: &[u8], at: usize) -> Option<u16> {
    let s = b.get(at..at.checked_add(2)?)?;
    Some(u16::from_le_bytes([*s.first()?, *s.get(1)?]))
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    le16(b, at).map(u16::swap_bytes)
}

fn nul_trimmed(b: &[u8]) -> Vec<u8> {
    let end = b.iter().position(|c| *c == 0).unwrap_or(b.len());
    b.get(..end).unwrap_or_default().to_vec()
}

/// True when `bytes` starts like a type 2 packet (used for content sniffing).
pub fn looks_like_packet(bytes: &[u8]) -> bool {
    bytes.len() >= HEADER_LEN + 2
        && le16(bytes, 18) == Some(2)
        && matches!(le16(bytes, HEADER_LEN), Some(0) | Some(2))
}

fn parse_header(b: &[u8]) -> Result<PacketHeader, FtnError> {
    let h = b
        .get(..HEADER_LEN)
        .ok_or(FtnError::TooShort { len: b.len() })?;
    let w = |i: usize| le16(h, i).unwrap_or(0);
    let version = w(18);
    if version != 2 {
        return Err(FtnError::UnsupportedVersion { version });
    }
    let (orig_node, dest_node, orig_net, dest_net) = (w(0), w(2), w(20), w(22));
    let prod_lo = h.get(24).copied().unwrap_or(0);
    let rev_major = h.get(25).copied().unwrap_or(0);
    let password = nul_trimmed(h.get(26..34).unwrap_or_default());
    let baud = w(16);
    if baud == 2 {
        // FSC-0045 type 2.2: no date; points and domains instead.
        return Ok(PacketHeader {
            kind: PacketKind::TwoTwo,
            orig: FtnAddress::new(w(34), orig_net, orig_node, w(4)),
            dest: FtnAddress::new(w(36), dest_net, dest_node, w(6)),
            created: None,
            baud,
            product_code: u16::from(prod_lo),
            revision: (rev_major, 0),
            password,
            capability_word: 0,
            orig_domain: nul_trimmed(h.get(38..46).unwrap_or_default()),
            dest_domain: nul_trimmed(h.get(46..54).unwrap_or_default()),
        });
    }
    let created = NaiveDate::from_ymd_opt(i32::from(w(4)), u32::from(w(6)) + 1, u32::from(w(8)))
        .and_then(|d| d.and_hms_opt(u32::from(w(10)), u32::from(w(12)), u32::from(w(14))));
    let cw = w(44);
    let cw_copy = be16(h, 40).unwrap_or(0);
    let (q_orig_zone, q_dest_zone) = (w(34), w(36));
    if cw == cw_copy && cw & 1 == 1 {
        let pick = |plus: u16, qmail: u16| if plus != 0 { plus } else { qmail };
        let aux_net = w(38);
        let orig_point = w(50);
        // FSC-0048: a point sets origNet to -1 and puts its boss's net in auxNet.
        let net = if orig_net == 0xFFFF && aux_net != 0 {
            aux_net
        } else {
            orig_net
        };
        return Ok(PacketHeader {
            kind: PacketKind::TwoPlus,
            orig: FtnAddress::new(pick(w(46), q_orig_zone), net, orig_node, orig_point),
            dest: FtnAddress::new(pick(w(48), q_dest_zone), dest_net, dest_node, w(52)),
            created,
            baud,
            product_code: u16::from(prod_lo) | (u16::from(h.get(42).copied().unwrap_or(0)) << 8),
            revision: (rev_major, h.get(43).copied().unwrap_or(0)),
            password,
            capability_word: cw,
            orig_domain: Vec::new(),
            dest_domain: Vec::new(),
        });
    }
    Ok(PacketHeader {
        kind: PacketKind::Stone,
        orig: FtnAddress::new(q_orig_zone, orig_net, orig_node, 0),
        dest: FtnAddress::new(q_dest_zone, dest_net, dest_node, 0),
        created,
        baud,
        product_code: u16::from(prod_lo),
        revision: (rev_major, 0),
        password,
        capability_word: 0,
        orig_domain: Vec::new(),
        dest_domain: Vec::new(),
    })
}
