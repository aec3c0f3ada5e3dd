//! FTN parse throughput on a generated packet set (~8 MB, 4 packets of gateway posts in
//! UTF-8 and CP437). Three levels: packet framing only, framing + echomail decoding
//! (kludges, charset, control lines), and the whole way to sanitised stories.
//! Run: `cargo bench --bench ftn` (criterion prints MiB/s per level).

use chrono::{DateTime, Duration, FixedOffset};
use criterion::{Criterion, Throughput, black_box, criterion_group};
use echowatch::ftn::writer::{self, GatewayConfig, GatewayPost, OutCharset};
use echowatch::ftn::{self, Charsets, EchoMessage, Limits};

const WORDS: &[&str] = &[
    "export",
    "controls",
    "on",
    "advanced",
    "AI",
    "chips",
    "the",
    "Commerce",
    "Department",
    "said",
    "licence",
    "requirements",
    "Entity",
    "List",
    "lithography",
    "Beijing",
    "Washington",
    "gallium",
    "tariff",
    "Zürich",
    "semiconductor",
    "“rules”",
    "ministry",
    "of",
    "trade",
    "—",
    "would",
    "review",
    "shipments",
    "café",
];

fn packet_set() -> Vec<Vec<u8>> {
    let base: DateTime<FixedOffset> =
        DateTime::parse_from_rfc3339("2026-06-12T09:30:00+02:00").unwrap_or_default();
    let mut seed = 0x2545_f491_u32;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        seed as usize
    };
    let mut packets = Vec::new();
    for p in 0..4 {
        let mut cfg = GatewayConfig::new(
            "TQW_TECHNOLOGY",
            "1337:1/100".parse().unwrap_or_default(),
            "1337:1/101".parse().unwrap_or_default(),
        );
        cfg.charset = if p % 2 == 0 {
            OutCharset::Utf8
        } else {
            OutCharset::Cp437
        };
        let mut msgs = Vec::new();
        for i in 0..1500 {
            let mut text = |n: usize| {
                (0..n)
                    .map(|_| WORDS[next() % WORDS.len()])
                    .collect::<Vec<_>>()
                    .join(" ")
            };
            let title = text(12);
            let paragraphs: Vec<String> = (0..4).map(|_| text(60)).collect();
            let post = GatewayPost {
                serial: p * 10_000 + i,
                title,
                published: Some(base.to_utc() - Duration::minutes(i64::from(i))),
                description: paragraphs.join("\n\n"),
                link: Some(format!(
                    "https://news.example.net/{p}/{i}/{}",
                    next() % 100_000
                )),
            };
            msgs.push(post.to_message(&cfg, base));
        }
        packets.push(
            ftn::write_packet(&writer::gateway_header(&cfg, base, None), &msgs).unwrap_or_default(),
        );
    }
    packets
}

fn bench(c: &mut Criterion) {
    let packets = packet_set();
    let total: usize = packets.iter().map(Vec::len).sum();
    let charsets = Charsets::default();
    let mut g = c.benchmark_group("ftn_parse");
    g.throughput(Throughput::Bytes(total as u64));
    g.sample_size(20);
    g.bench_function("framing", |b| {
        b.iter(|| {
            let mut n = 0;
            for p in &packets {
                n += ftn::read_packet(black_box(p))
                    .map(|p| p.messages.len())
                    .unwrap_or(0);
            }
            n
        })
    });
    g.bench_function("echomail", |b| {
        b.iter(|| {
            let mut n = 0;
            for p in &packets {
                if let Ok(pkt) = ftn::read_packet(black_box(p)) {
                    for m in &pkt.messages {
                        n += EchoMessage::from_packed(m, &charsets).body.len();
                    }
                }
            }
            n
        })
    });
    g.bench_function("stories", |b| {
        b.iter(|| {
            let mut n = 0;
            for p in &packets {
                n += ftn::stories_from_file("x.pkt", black_box(p), &charsets, Limits::default())
                    .map(|(s, _)| s.len())
                    .unwrap_or(0);
            }
            n
        })
    });
    g.finish();
}

/// Process CPU seconds (user + system) from /proc/self/stat, Linux only. The machine this
/// runs on is often shared, so wall-clock throughput undercounts; CPU time does not.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let after = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0) // USER_HZ is 100 on Linux
}

/// Prints MB/s per CPU second for parsing to EchoMessage and to stories, then runs criterion.
fn cpu_throughput() {
    let packets = packet_set();
    let total: usize = packets.iter().map(Vec::len).sum();
    let charsets = Charsets::default();
    let rounds = 30;
    let measure = |name: &str, f: &dyn Fn(&[u8]) -> usize| {
        let (Some(start), wall) = (cpu_seconds(), std::time::Instant::now()) else {
            return;
        };
        let mut n = 0;
        for _ in 0..rounds {
            for p in &packets {
                n += f(black_box(p));
            }
        }
        let cpu = cpu_seconds().unwrap_or(start) - start;
        let mb = (total * rounds) as f64 / 1e6;
        println!(
            "ftn cpu-time {name}: {mb:.0} MB in {cpu:.2} s CPU ({:.0} MB/s per CPU second; wall {:.2} s; {n} items)",
            mb / cpu.max(0.01),
            wall.elapsed().as_secs_f64()
        );
    };
    measure("echomail", &|p| {
        ftn::read_packet(p)
            .map(|pkt| {
                pkt.messages
                    .iter()
                    .map(|m| EchoMessage::from_packed(m, &charsets).body.len())
                    .sum()
            })
            .unwrap_or(0)
    });
    measure("stories", &|p| {
        ftn::stories_from_file("x.pkt", p, &charsets, Limits::default())
            .map(|(s, _)| s.len())
            .unwrap_or(0)
    });
}

criterion_group!(benches, bench);

fn main() {
    cpu_throughput();
    benches();
    Criterion::default().configure_from_args().final_summary();
}
