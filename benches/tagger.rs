//! Tagger throughput (issue 4: ≥ 50 MB/s on one core). The corpus is ~4 MB of news-like
//! stories assembled deterministically from sentences written for this benchmark: policy
//! stories, ordinary news, typographic quotes and dashes (the non-ASCII path), some CJK.
//! Run: `cargo bench --bench tagger`.
//!
//! Environment knobs (for instruction counts under valgrind, where criterion's sampling would
//! take hours): `TAGGER_BENCH_PASSES` (timed passes, default 9), `TAGGER_BENCH_KB` (corpus
//! size, default 4096) and `TAGGER_BENCH_NO_CRITERION=1` (only build the tagger and run the
//! timed passes). Instructions per pass = (run with N+1 passes) − (run with N passes).

use std::hint::black_box;
use std::time::Instant;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use echowatch::classify::Tagger;

const SENTENCES: &[&str] = &[
    "The Commerce Department said on Tuesday it would add 14 Chinese companies to the Entity List, citing support for military supercomputers.",
    "Officials in Beijing called the move \u{201c}economic bullying\u{201d} and promised to protect the rights of Chinese firms.",
    "Shares of the chip designer fell 3% in early trading after the company warned that new licence requirements would cut sales to China.",
    "The Dutch government said exports of certain immersion DUV lithography systems would need a licence from next month.",
    "Tokyo announced that 23 types of semiconductor manufacturing equipment would require approval before shipment to any destination.",
    "Analysts expect the rules to accelerate Beijing\u{2019}s push for self-sufficiency in advanced chips.",
    "The European Commission opened an investigation under the Digital Markets Act into whether the cloud services should be designated gatekeepers.",
    "Local weather: light rain in the morning, clearing by the afternoon, with highs near 18 degrees.",
    "The city council approved a new bike lane on Main Street after a two-hour debate.",
    "Farmers said the drought had cut wheat yields by a fifth, pushing up bread prices at supermarkets.",
    "The club confirmed that its captain would miss the next three matches through suspension.",
    "A federal grand jury indicted two men on charges of illegally exporting GPUs to a front company in Hong Kong.",
    "China\u{2019}s Ministry of Commerce said exports of gallium and germanium would require a licence to protect national security.",
    "The central bank left interest rates unchanged and signalled that it would wait for more data before cutting.",
    "Microsoft and OpenAI said the partnership had been restructured to give the start-up more freedom to raise money.",
    "Seoul and Washington agreed to continue talks on chip tariffs, a trade ministry official said.",
    "The AI Act obligations for general-purpose AI models apply from August, and the AI Office will supervise compliance.",
    "Researchers at the university published a study of sleep patterns in 2,000 teenagers.",
    "The retailer reported higher holiday sales, helped by strong demand for toys and small appliances.",
    "Under the proposed rule, cloud providers would have to verify the identity of foreign customers training large AI models.",
    "LET US KNOW IF YOUR NODE MISSES THE WEEKLY NODELIST \u{2014} THE HUB WILL RESEND IT.",
    "Britain\u{2019}s Competition and Markets Authority cleared the merger after the companies offered remedies.",
    "商务部新闻发言人表示，有关出口管制措施符合国际惯例。",
    "The museum\u{2019}s new exhibition of porcelain and fine china opens on Saturday with free entry for children.",
    "Prosecutors said the shipments of servers were routed through Malaysia and Singapore to disguise their destination.",
    "The regulator fined the airline for failing to refund passengers promptly after cancelled flights.",
    "Nvidia said it had not received any orders for the H20 since the government told firms to stop buying it.",
    "Georgia lawmakers in Atlanta passed a bill on data centre tax breaks after heated debate.",
    "The Pentagon added the battery maker to its list of Chinese military companies under Section 1260H.",
    "Brussels proposed a 19th sanctions package that would freeze the assets of refiners in third countries.",
    // Ordinary reporting that carries the facts around the policy terms.
    "The statement, posted late on Friday, gave few details about how the measures would be enforced or when they would be reviewed.",
    "Executives at several companies said they were still studying the text and would comment once their lawyers had read it.",
    "The announcement came after months of internal debate, according to two people familiar with the discussions who asked not to be named.",
    "Shares in the sector swung sharply during the session before closing little changed, as traders weighed the likely impact on earnings.",
    "A spokesperson declined to say how many licences had been granted so far this year, citing commercial confidentiality.",
    "The hearing was adjourned until next month to give both sides more time to prepare their arguments and submit documents.",
    "Industry groups have long argued that unclear guidance makes it difficult for smaller suppliers to plan investments.",
    "Critics said the decision would do little to address the underlying problem and urged a broader review of the rules.",
    "The company reported quarterly revenue of $4.2 billion, slightly ahead of analyst forecasts, and kept its outlook for the full year.",
    "Officials have repeatedly said the policy is narrowly targeted and is not intended to harm ordinary trade or research.",
    "Several universities said they had paused collaborations while they sought clarification on what the new requirements meant for visiting students.",
    "The report, which runs to more than 200 pages, recommends that the agency publish clearer criteria and shorten review times.",
    "In a letter to shareholders, the chief executive said the group would continue to comply with all applicable laws in every market it serves.",
    "Economists expect growth to slow modestly next year as higher borrowing costs weigh on business investment and consumer spending.",
    "The proposal is open for public comment for 60 days, after which the department will decide whether to finalise it.",
    "Train services were disrupted for most of the morning after a signal failure outside the main station.",
    "The festival drew a record crowd of 80,000 visitors over the weekend, organisers said, despite heavy rain on Sunday.",
    "A new study suggests that regular walking can lower the risk of heart disease, even for people who start later in life.",
    "The minister told reporters that talks with industry would continue and that no final decision had been taken.",
    "Logistics firms said delivery times had lengthened as carriers rerouted ships away from congested ports.",
    "The court ruled that the agency had acted within its powers but ordered it to reconsider part of the penalty.",
    "Analysts at the bank said demand for data centre equipment remained strong, though supply constraints could limit deliveries.",
    "The board approved a share buyback programme and raised the dividend for the third consecutive year.",
    "Engineers are still investigating the cause of the outage, which affected customers in several regions for about three hours.",
    "The museum\u{2019}s new exhibition of porcelain opens on Saturday, with free entry for children under twelve.",
    "Lawmakers from both parties have introduced competing bills, and it is unclear which, if any, will reach a vote before the recess.",
    "The regulator said it would publish its findings in the spring after consulting with affected businesses and consumer groups.",
    "Farm groups welcomed the announcement but said more support would be needed if dry weather continued into the summer.",
    "Prices for memory chips have risen for three straight quarters, according to market research firms that track contract prices.",
    "The city plans to add 40 electric buses to its fleet by 2027, funded partly by a national clean transport grant.",
];

const TITLES: &[&str] = &[
    "US adds Chinese AI chip firms to Entity List",
    "Dutch widen lithography export curbs",
    "Local council approves bike lane",
    "Rates on hold as inflation cools",
    "Brussels opens DMA probe into cloud services",
    "Two charged with smuggling GPUs through Hong Kong",
    "Club captain banned for three matches",
    "China tightens gallium and germanium exports",
];

/// About `target` bytes of stories (title, body), assembled with a fixed-seed generator.
fn corpus(target: usize) -> Vec<(String, String)> {
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = |n: usize| {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((seed >> 33) as usize) % n
    };
    let mut out = Vec::new();
    let mut size = 0;
    while size < target {
        let title = TITLES[next(TITLES.len())].to_string();
        let mut body = String::new();
        let paragraphs = 2 + next(5);
        for p in 0..paragraphs {
            if p > 0 {
                body.push_str("\n\n");
            }
            for s in 0..(2 + next(4)) {
                if s > 0 {
                    body.push(' ');
                }
                body.push_str(SENTENCES[next(SENTENCES.len())]);
            }
        }
        size += title.len() + body.len();
        out.push((title, body));
    }
    out
}

/// Nanoseconds this thread has run on a CPU (Linux), for throughput under contention.
fn thread_cpu_ns() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    s.split_whitespace().next()?.parse().ok()
}

/// A number from the environment, or `default` when unset or unreadable.
fn knob(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

fn bench(c: &mut Criterion) {
    let tagger = Tagger::builtin();
    let stories = corpus(knob("TAGGER_BENCH_KB", 4096) << 10);
    let bytes: usize = stories.iter().map(|(t, b)| t.len() + b.len()).sum();

    // Plain timing passes printed in MB/s, the figure the issue asks for: wall clock, and the
    // thread's own CPU time (Linux schedstat), which stays honest on a loaded machine. Each
    // pass is timed on its own; the median and best pass are printed.
    let passes = knob("TAGGER_BENCH_PASSES", 9);
    let mut wall = Vec::new();
    let mut cpu = Vec::new();
    let mut tags = 0;
    for _ in 0..passes {
        let cpu0 = thread_cpu_ns();
        let start = Instant::now();
        tags = 0;
        for (t, b) in &stories {
            tags += tagger.tag(black_box(t), black_box(b)).len();
        }
        wall.push(bytes as f64 / 1e6 / start.elapsed().as_secs_f64());
        if let (Some(a), Some(b)) = (cpu0, thread_cpu_ns())
            && b > a
        {
            cpu.push(bytes as f64 / 1e6 / ((b - a) as f64 / 1e9));
        }
    }
    let summary = |v: &mut Vec<f64>| {
        if v.is_empty() {
            return "unavailable".to_string();
        }
        v.sort_by(f64::total_cmp);
        format!(
            "median {:.1} MB/s, best {:.1} MB/s",
            v[v.len() / 2],
            v[v.len() - 1]
        )
    };
    println!(
        "tagger: {} stories, {:.2} MB, {tags} tags/pass, {passes} passes: wall {}; per CPU-second {}",
        stories.len(),
        bytes as f64 / 1e6,
        summary(&mut wall),
        summary(&mut cpu),
    );

    if knob("TAGGER_BENCH_NO_CRITERION", 0) != 0 {
        return;
    }
    let mut group = c.benchmark_group("tagger");
    group.throughput(Throughput::Bytes(bytes as u64));
    group.sample_size(10);
    group.bench_function("tag_corpus_4MB", |bench| {
        bench.iter(|| {
            let mut n = 0;
            for (t, b) in &stories {
                n += tagger.tag(black_box(t), black_box(b)).len();
            }
            n
        })
    });
    group.finish();

    c.bench_function("tagger_build", |bench| bench.iter(Tagger::builtin));
}

criterion_group!(benches, bench);
criterion_main!(benches);
