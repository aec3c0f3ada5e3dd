//! Any bytes as a feed document, read under an HTTP charset taken from the input's first
//! byte (none, or one of a few), so the transcoding paths are reached too. Must never panic.
#![no_main]

use echowatch_ftn::parse::feed;
use libfuzzer_sys::fuzz_target;

const CHARSETS: [Option<&str>; 6] = [
    None,
    Some("utf-8"),
    Some("iso-8859-2"),
    Some("koi8-r"),
    Some("utf-16le"),
    Some("x-unknown"),
];

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let charset = CHARSETS[usize::from(first) % CHARSETS.len()];
    let _ = feed::parse_with_charset(rest, Some("http://fuzz.test/feed"), charset);
});
