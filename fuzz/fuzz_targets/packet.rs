//! Any bytes as an inbound file: packet, bundle or text export. Must never panic, and a
//! packet that reads must survive the whole way to stories.
#![no_main]

use echowatch_ftn::ftn::{self, Charsets, EchoMessage, Limits};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = Limits {
        max_entries: 8,
        max_total_bytes: 1 << 20,
    };
    let _ = ftn::stories_from_file("fuzz.pkt", data, &Charsets::default(), limits);
    if let Ok(pkt) = ftn::read_packet(data) {
        for m in &pkt.messages {
            let msg = EchoMessage::from_packed(m, &Charsets::new(ftn::Charset::Cp866));
            let _ = ftn::to_story(&msg);
        }
    }
});
