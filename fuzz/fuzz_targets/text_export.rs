//! Any bytes as a BBS reader text export. Must never panic.
#![no_main]

use echowatch_ftn::ftn;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = ftn::read_text_export(data);
});
