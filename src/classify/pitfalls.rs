//! One test per pitfall of taxonomy.md §2.3 (and the policy pitfalls of the taxonomy table),
//! with sentences written for these tests.

use std::sync::LazyLock;

use proptest::prelude::*;

use super::Tagger;
use crate::model::{TagKind, TextField};

static TAGGER: LazyLock<Tagger> = LazyLock::new(Tagger::builtin);

fn tags(title: &str, body: &str) -> Vec<String> {
    TAGGER
        .tag(title, body)
        .iter()
        .map(|t| t.tag.to_string())
        .collect()
}

fn countries(title: &str, body: &str) -> Vec<String> {
    TAGGER
        .tag(title, body)
        .iter()
        .filter(|t| t.tag.kind == TagKind::Country)
        .map(|t| t.tag.value.clone())
        .collect()
}

fn policies(title: &str, body: &str) -> Vec<String> {
    TAGGER
        .tag(title, body)
        .iter()
        .filter(|t| t.tag.kind == TagKind::Policy)
        .map(|t| t.tag.value.clone())
        .collect()
}

#[test]
fn us_only_in_capitals_or_dotted() {
    assert!(
        countries(
            "Tell us what you think of the new release",
            "Send us your notes."
        )
        .is_empty()
    );
    assert_eq!(countries("US tightens rules on chip exports", ""), ["US"]);
    assert_eq!(
        countries(
            "",
            "U.S. officials met on Tuesday. The U.S.A. delegation left."
        ),
        ["US"]
    );
}

#[test]
fn all_caps_segments_accept_only_dotted_or_multiword_forms() {
    assert!(countries("PLEASE LET US KNOW IF THE NODELIST IS LATE", "").is_empty());
    assert!(countries("JOIN US FOR THE ANNUAL SYSOP MEETING", "").is_empty());
    assert_eq!(countries("U.S. WIDENS CURBS ON CHIP TOOLS", ""), ["US"]);
    assert_eq!(
        countries("UNITED STATES AND CHINA RESUME TALKS", "").len(),
        2
    );
    // Case still matters outside the capitalised line.
    assert_eq!(
        countries("PLEASE LET US KNOW", "The US reply came later."),
        ["US"]
    );
}

#[test]
fn two_letter_codes_in_prose_are_not_countries() {
    assert!(
        countries(
            "IT teams say NO to new AI tools",
            "Staff IN the ID office BE TO SO AM"
        )
        .is_empty()
    );
    assert_eq!(countries("UK watchdog opens review", ""), ["GB"]);
    assert_eq!(countries("UAE signs chip deal", ""), ["AE"]);
    assert_eq!(countries("PRC responds to new rules", ""), ["CN"]);
}

#[test]
fn georgia_state_or_country_by_context() {
    let us = countries(
        "Georgia senators back data centre tax break",
        "The vote in Atlanta was close.",
    );
    assert_eq!(us, ["US"]);
    let ge = countries(
        "Georgia drafts new telecom law",
        "The Georgian government in Tbilisi published it.",
    );
    assert_eq!(ge, ["GE"]);
    assert!(countries("Georgia weighs options", "").is_empty());
}

#[test]
fn turkey_bird_or_country() {
    assert!(
        countries(
            "Turkey sales climb before Thanksgiving",
            "Shoppers bought turkey early."
        )
        .is_empty()
    );
    assert!(countries("Farmers raise turkey flocks", "").is_empty());
    assert_eq!(
        countries("Sanctions relief for Turkey discussed", ""),
        ["TR"]
    );
    assert!(countries("Turkey weighs options", "").is_empty());
    assert_eq!(
        countries("Turkey weighs options", "Ankara did not comment."),
        ["TR"]
    );
}

#[test]
fn given_names_are_not_countries() {
    assert!(countries("Jordan Halvorsen joins chip policy think tank", "").is_empty());
    assert!(countries("Interview with Chad Morrison on export rules", "").is_empty());
    assert!(countries("", "Analyst Israel Ortega said the rule was narrow.").is_empty());
    assert_eq!(countries("Exports to Jordan rose sharply", ""), ["JO"]);
}

#[test]
fn jersey_is_not_new_jersey() {
    assert_eq!(countries("New Jersey approves AI hiring rules", ""), ["US"]);
    assert!(countries("Lost jersey returned to fan", "").is_empty());
    assert_eq!(
        countries(
            "Jersey tightens company registry",
            "The Channel Islands authority acted."
        ),
        ["JE"]
    );
}

#[test]
fn niger_is_not_nigeria() {
    assert_eq!(countries("Nigeria's central bank raises rates", ""), ["NG"]);
    assert_eq!(
        countries("Niger's government suspends mining permits", ""),
        ["NE"]
    );
}

#[test]
fn guinea_variants_by_longest_match() {
    assert_eq!(countries("Papua New Guinea signs cable deal", ""), ["PG"]);
    assert_eq!(countries("Guinea's ministers approve budget", ""), ["GN"]);
    assert_eq!(countries("Equatorial Guinea holds vote", ""), ["GQ"]);
    assert!(countries("Guinea pig study published", "").is_empty());
}

#[test]
fn dominica_is_not_the_dominican_republic() {
    assert_eq!(
        countries("Dominican Republic expands free-trade zones", ""),
        ["DO"]
    );
    assert_eq!(
        countries("Dominica launches citizenship review", ""),
        ["DM"]
    );
}

#[test]
fn sudan_and_south_sudan() {
    assert_eq!(countries("South Sudan closes border crossing", ""), ["SS"]);
    assert_eq!(countries("Sudan closes border crossing", ""), ["SD"]);
}

#[test]
fn congo_needs_disambiguation() {
    assert!(countries("Congo basin forest report released", "").is_empty());
    assert_eq!(countries("DRC bans cobalt exports", ""), ["CD"]);
    assert_eq!(
        countries("Republic of the Congo signs oil deal", ""),
        ["CG"]
    );
    assert_eq!(
        countries(
            "Congo signs cobalt deal",
            "Officials in Kinshasa confirmed it."
        ),
        ["CD"]
    );
}

#[test]
fn china_inside_names_and_regions() {
    assert!(
        countries(
            "Chip startup raises funds, South China Morning Post says",
            ""
        )
        .is_empty()
    );
    assert!(countries("Naval drills in the South China Sea", "").is_empty());
    assert!(countries("Museum shows fine china from Indochina", "").is_empty());
    assert_eq!(
        countries("Air China and China Mobile report earnings", ""),
        ["CN"]
    );
}

#[test]
fn korea_alone_is_ambiguous() {
    assert!(countries("Korea weighs chip subsidies", "").is_empty());
    assert_eq!(
        countries("Korea's missile test", "Pyongyang fired two missiles."),
        ["KP"]
    );
    assert_eq!(
        countries("Korea's chipmakers gain", "Samsung led the gains."),
        ["KR"]
    );
    assert_eq!(
        countries("North Korean hackers target exchanges", ""),
        ["KP"]
    );
}

#[test]
fn america_inside_other_names() {
    for t in [
        "Latin America trade bloc meets",
        "Bank of America raises forecast",
        "South America drought hits crops",
        "African American entrepreneurs fund opens",
    ] {
        assert!(countries(t, "").is_empty(), "{t}");
    }
    assert_eq!(countries("American Samoa holds election", ""), ["AS"]);
}

#[test]
fn washington_post_and_other_washingtons() {
    assert!(countries("Chip prices rise, the Washington Post reports", "").is_empty());
    assert!(countries("University of Washington lab releases robot", "").is_empty());
    assert_eq!(countries("Washington imposes new chip tariffs", ""), ["US"]);
}

#[test]
fn brussels_is_eu_unless_local() {
    assert_eq!(countries("Brussels proposes delay to AI rules", ""), ["EU"]);
    assert_eq!(
        countries("Brussels Airport reopens after strike", ""),
        ["BE"]
    );
}

#[test]
fn hyphens_possessives_unicode() {
    assert_eq!(countries("US-China chip talks resume", "").len(), 2);
    assert_eq!(countries("Sino-US ties thaw", "").len(), 2);
    assert_eq!(countries("China\u{2019}s regulator acts", ""), ["CN"]);
    assert_eq!(
        countries("People\u{2019}s Republic of China issues list", ""),
        ["CN"]
    );
    assert_eq!(countries("United\u{a0}States files case", ""), ["US"]);
    assert_eq!(countries("\u{ff35}\u{ff33} adds rules", ""), ["US"]);
    // Evidence points into the original text, not the normalised copy.
    let title = "\u{201c}Japan\u{2019}s\u{201d} tool rule";
    let t = TAGGER.tag(title, "");
    let jp = t.iter().find(|t| t.tag.value == "JP").unwrap();
    let e = &jp.evidence[0];
    assert_eq!(&title[e.start..e.end], "Japan");
    assert_eq!(e.phrase, "Japan");
    assert_eq!(e.field, TextField::Title);
}

#[test]
fn ambiguous_acronyms_need_anchors() {
    // BIS = Bank for International Settlements.
    assert!(
        policies(
            "BIS warns on bank leverage",
            "The BIS annual report covers interest rates."
        )
        .is_empty()
    );
    assert!(policies("", "The Bank for International Settlements in Basel met.").is_empty());
    assert!(
        tags("BIS adds AI chip designers to its rules", "")
            .contains(&"policy:export-controls".to_string())
    );
    // CAC 40 = French stock index.
    assert!(policies("CAC 40 ends higher", "The CAC closed up 0.4%.").is_empty());
    // MSS = managed security services.
    assert!(
        policies(
            "Telecom firm grows MSS revenue",
            "Its MSS unit serves banks."
        )
        .is_empty()
    );
    // CMA = other authorities/meanings without tech context.
    assert!(policies("CMA approves hospital merger plan", "").is_empty());
    // SME = small and medium-sized enterprises.
    assert!(
        policies(
            "EU fund backs SME exporters",
            "Loans for small and medium-sized enterprises."
        )
        .is_empty()
    );
    assert!(
        policies(
            "Chinese fabs stockpile SME before curbs",
            "Chipmakers rushed orders."
        )
        .contains(&"equipment-controls".to_string())
    );
    // DMA = direct memory access.
    assert!(policies("Driver fixes DMA controller bug in chip firmware", "").is_empty());
    // TPP = Trans-Pacific Partnership.
    assert!(policies("Farm groups revisit TPP", "The TPP talks covered dairy.").is_empty());
    assert!(
        policies("", "The rule sets a TPP threshold for GPU exports.")
            .contains(&"ai-chip-controls".to_string())
    );
}

#[test]
fn company_is_not_jurisdiction() {
    let c = countries("Nvidia sells more chips in China", "");
    assert_eq!(
        c,
        ["CN"],
        "one company mention does not make its home country a subject"
    );
    let t = TAGGER.tag("TSMC Arizona hires engineers", "");
    assert!(t.iter().all(|t| t.tag.value != "TW"), "{t:?}");
}

#[test]
fn cjk_substrings() {
    let c = countries("商务部公告：对美国实施出口管制", "");
    assert!(
        c.contains(&"CN".to_string()) && c.contains(&"US".to_string()),
        "{c:?}"
    );
    assert_eq!(countries("中国台湾地区的企业", ""), ["TW"]);
    assert_eq!(countries("中国香港的银行", ""), ["HK"]);
}

#[test]
fn chinese_export_control_term_tags_export_controls() {
    // 出口管制 is the legal term (strong in taxonomy.md); Chinese text has no English anchor.
    assert_eq!(policies("商务部：出口管制", ""), ["export-controls"]);
    let p = policies("中国商务部宣布对镓锗相关物项实施出口管制", "");
    assert!(
        p.contains(&"export-controls".to_string()) && p.contains(&"critical-minerals".to_string()),
        "{p:?}"
    );
}

#[test]
fn latin_names_inside_cjk_text_are_bounded_by_cjk_characters() {
    // No spaces between words in Chinese: a CJK character ends the Latin word.
    assert_eq!(countries("EU宣布新规", ""), ["EU"]);
    assert_eq!(
        policies("美方回应：对Entity List的调整", ""),
        ["entity-list"]
    );
    // Acronyms in a Chinese line are not an ALL-CAPS line.
    let c = countries("美国BIS与EU和USTR宣布对华为实施出口管制", "");
    assert!(
        c.contains(&"US".to_string()) && c.contains(&"EU".to_string()),
        "{c:?}"
    );
    // Latin letters still join words: no "China" in "Chinas", no "EU" in "EUR".
    assert!(countries("Chinas and EURO 宣布", "").is_empty());
}

#[test]
fn demonym_of_a_state_body_counts_as_an_agency() {
    // QA miss: in the body, "Chinese" alone (0.8) stays under the threshold; "Chinese
    // regulators" is the acting state, as strong as naming the agency.
    let c = countries(
        "Nvidia H20 orders halted",
        "Chinese regulators told firms to stop buying Nvidia H20.",
    );
    assert!(c.contains(&"CN".to_string()), "{c:?}");
    assert_eq!(
        countries("", "The Japanese trade ministry published the list."),
        ["JP"]
    );
    // A demonym of people or firms is still weak evidence alone.
    assert!(countries("", "Two Chinese nationals were named.").is_empty());
    assert!(countries("", "A Chinese AI start-up raised money.").is_empty());
}

#[test]
fn policy_pitfalls_of_the_taxonomy_table() {
    assert!(policies("Striker given three-match ban", "The panel upheld the ban.").is_empty());
    assert!(policies("Blue-chip stocks rally", "Chipmakers and banks led.").is_empty());
    assert!(policies("Chocolate chips cost more", "Bakers pay more for chips.").is_empty());
    assert!(
        policies(
            "Regulator trims feed-in tariff for solar",
            "Electricity tariff falls."
        )
        .is_empty()
    );
    assert!(
        policies(
            "Board sanctioned new campus",
            "The board sanctioned spending."
        )
        .is_empty()
    );
    assert!(policies("App lets users export to CSV", "").is_empty());
    assert!(
        policies(
            "Game engine adds entity list panel",
            "Each entity list row is editable."
        )
        .is_empty()
    );
    assert!(policies("Chatbots act as tutors", "Will AI act as a teacher?").is_empty());
    assert!(
        policies(
            "Man pleads guilty to smuggling cocaine",
            "Prosecutors said shipments were hidden."
        )
        .is_empty()
    );
    assert_eq!(
        policies("EU AI Act obligations start", ""),
        ["ai-regulation"]
    );
}

/// QA7 q302: news prose writes "entity list" in lower case; it counts beside trade-list words
/// (blacklist, Commerce, export controls), not in programming docs, and the capitalised list
/// stays strong alone.
#[test]
fn lower_case_entity_list_counts_in_a_trade_context() {
    assert!(
        policies(
            "U.S. Commerce adds dozens of Chinese AI firms to trade blacklist",
            "The companies were placed on the entity list for helping the military."
        )
        .contains(&"entity-list".to_string())
    );
    assert!(
        policies(
            "",
            "The Commerce Department placed the firm on the entity list on Tuesday."
        )
        .contains(&"entity-list".to_string())
    );
    // The pitfall: an entity list in a game engine or database tool, even with a tech anchor.
    assert!(
        policies(
            "Open-source game engine adds searchable entity list",
            "The scene debugger shows the entity list of every GPU-rendered level."
        )
        .is_empty()
    );
    assert_eq!(
        policies("", "The firm was added to the Entity List."),
        ["entity-list"]
    );
}

/// QA7 q311: a named foreign maker on the FCC Covered List may get no new equipment
/// authorisations, a ban on its devices (foreign-tech-bans) besides the list itself.
#[test]
fn covered_list_with_a_named_foreign_maker_is_a_foreign_tech_ban() {
    let p = policies(
        "FCC adds Chinese drone maker DJI to Covered List",
        "The Federal Communications Commission said new DJI models cannot receive equipment authorisations.",
    );
    assert!(
        p.contains(&"entity-list".to_string()) && p.contains(&"foreign-tech-bans".to_string()),
        "{p:?}"
    );
    // No named foreign product: the list alone.
    assert_eq!(
        policies("", "The FCC updated its Covered List on Friday."),
        ["entity-list"]
    );
}

/// QA7 q204: "duty" is a tariffs word as "duties" is (taxonomy.md: "duty/duties"), weak: it
/// counts beside another tariffs word, not alone as the obligation.
#[test]
fn duty_agrees_with_tariff_but_not_alone() {
    assert!(
        policies(
            "Turkey imposes 40% tariff on Chinese electric vehicles",
            "Ankara said the additional duty protects domestic car makers."
        )
        .contains(&"tariffs".to_string())
    );
    assert!(
        policies(
            "Ministers stress their duty to protect consumers",
            "Officials said the duty applies to every regulator."
        )
        .is_empty()
    );
}

/// QA7 q014: "revenue-share licence (15%)" (taxonomy.md, strong) is the share of sales of the
/// chips made for China that licences them; other revenue sharing is not a chip control.
#[test]
fn revenue_share_beside_a_licensed_china_chip_is_an_ai_chip_control() {
    assert!(
        policies(
            "Nvidia agrees to give US government 15% of China H20 revenue",
            "The unusual revenue-share arrangement lets Nvidia resume some sales of AI chips to China."
        )
        .contains(&"ai-chip-controls".to_string())
    );
    assert!(
        policies(
            "App store cuts its revenue-share for small developers",
            "The revenue-share license now leaves 85% to developers of AI apps."
        )
        .is_empty()
    );
}

/// QA7 q305: "AI chip(s) + export" (taxonomy.md, strong): AI chips where the sentence or the
/// title names export controls weigh as a strong trigger; with other control words they stay
/// weak.
#[test]
fn ai_chips_with_export_controls_is_strong() {
    assert!(
        policies(
            "BIS says using Huawei Ascend chips anywhere may violate US export controls",
            "The guidance warns companies worldwide against using the Chinese AI chips."
        )
        .contains(&"ai-chip-controls".to_string())
    );
    assert!(
        policies(
            "",
            "Officials said the new export controls cover AI chips sold to the region."
        )
        .contains(&"ai-chip-controls".to_string())
    );
    // Weak, as before, with other control words: one weak trigger does not fire.
    assert!(
        !policies(
            "",
            "The startup restricts access to its AI chips for rivals."
        )
        .contains(&"ai-chip-controls".to_string())
    );
}

#[test]
fn every_tag_keeps_evidence() {
    let t = TAGGER.tag(
        "US adds Chinese AI chip firms to Entity List",
        "The Commerce Department said the firms supplied the People's Liberation Army.",
    );
    assert!(!t.is_empty());
    for tag in &t {
        assert!(!tag.evidence.is_empty(), "{tag:?}");
        assert!(tag.score > 0.0);
    }
    assert!(tags("", "x").is_empty());
}

fn check_spans(title: &str, body: &str) {
    for t in TAGGER.tag(title, body) {
        for e in &t.evidence {
            let field = if e.field == TextField::Title {
                title
            } else {
                body
            };
            assert!(e.start <= e.end && e.end <= field.len(), "{e:?}");
            assert!(
                field.is_char_boundary(e.start) && field.is_char_boundary(e.end),
                "{e:?}"
            );
            assert_eq!(field.get(e.start..e.end), Some(e.phrase.as_str()));
        }
    }
}

/// Text pieces that reach every code path: names, triggers, Unicode that normalises.
fn piece() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        Just("US ".to_string()),
        Just("People\u{2019}s Republic of China".to_string()),
        Just("Ｃｈｉｎａ".to_string()),
        Just("\u{fb01}\u{301}e\u{301} ".to_string()),
        Just("Georgia Jordan Turkey Korea ".to_string()),
        Just("中国台湾商务部".to_string()),
        Just("Entity List export controls AI chips ".to_string()),
        Just("\u{a0}\u{2011}\u{ad}".to_string()),
        "[A-Za-z .,'\\-]{0,40}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn never_panics_on_any_text(title in any::<String>(), body in any::<String>()) {
        check_spans(&title, &body);
    }

    #[test]
    fn evidence_spans_are_valid(parts in prop::collection::vec(piece(), 0..8), split in 0usize..8) {
        let title: String = parts.iter().take(split).cloned().collect();
        let body: String = parts.iter().skip(split).cloned().collect::<Vec<_>>().join(" ");
        check_spans(&title, &body);
    }
}

/// QA7: terms whose other meaning the story spells out count for nothing in it, even where
/// the bare term stands apart from the spelled-out form.
#[test]
fn a_term_whose_other_meaning_is_spelled_out_counts_for_nothing() {
    let bank = (
        "BIS annual report warns AI boom could strain financial stability",
        "The Bank for International Settlements said central banks should watch AI lending.",
    );
    assert!(
        tags(bank.0, bank.1).is_empty(),
        "{:?}",
        tags(bank.0, bank.1)
    );
    // The agency still counts where nothing says otherwise.
    assert!(
        policies("BIS tightens chip export licence rules", "").contains(&"export-controls".into())
    );

    let smes = (
        "EU unveils support scheme to help SMEs adopt artificial intelligence",
        "The programme offers vouchers for small firms buying cloud and AI services.",
    );
    assert!(!policies(smes.0, smes.1).contains(&"equipment-controls".into()));
    let dma = (
        "Linux 6.12 fixes DMA bug in GPU driver",
        "The patch corrects direct memory access mapping on some graphics cards.",
    );
    assert!(policies(dma.0, dma.1).is_empty());
    let mss = (
        "Managed security services (MSS) market grows as AI threats rise",
        "Providers of MSS say demand from midsize firms doubled.",
    );
    assert!(countries(mss.0, mss.1).is_empty());
    let graphite = (
        "Grafana adds Graphite and InfluxDB data sources",
        "The dashboard tool can now query Graphite metrics directly.",
    );
    assert!(policies(graphite.0, graphite.1).is_empty());
    assert!(
        policies(
            "China curbs graphite exports",
            "Beijing requires licences for graphite."
        )
        .contains(&"critical-minerals".into())
    );
}

/// QA7: Japanese loanwords that begin with タイ (Thailand) are not Thailand.
#[test]
fn katakana_loanwords_starting_with_tai_are_not_thailand() {
    assert!(countries("記事1のタイトル", "タイプとタイミング").is_empty());
    assert_eq!(countries("タイの輸出規制", ""), ["TH"]);
}

/// QA7: generic removal words agreeing are not a ban on a foreign product, and a private
/// fund's stake is not state support.
#[test]
fn generic_bans_and_private_stakes_are_not_policy() {
    assert!(
        policies(
            "How to remove and delete unused branches in Git",
            "Block merges first."
        )
        .is_empty()
    );
    assert!(
        policies(
            "Facebook bans cryptocurrency adverts because so many are scams",
            "The company blocks ads that promote prohibited products."
        )
        .is_empty()
    );
    assert!(policies("Englander's fund buys stake in chip designer", "").is_empty());
    assert!(
        policies(
            "Privacy-preserving compromised credential checking",
            "The protocol keeps user data private while it checks passwords."
        )
        .is_empty()
    );
    assert!(
        policies(
            "Government takes stake in chipmaker",
            "The ministry said the fund will hold 10%."
        )
        .contains(&"industrial-policy".into())
    );
}

/// QA7: the wires' wording of "AI chip(s) + export" is the strong trigger of ai-chip-controls,
/// and chip tariffs and sanctions read as they are written.
#[test]
fn export_curbs_on_ai_chips_chip_tariffs_and_chip_sanctions() {
    assert!(
        policies("US tightens export curbs on AI chips to China", "")
            .contains(&"ai-chip-controls".into())
    );
    assert!(
        policies(
            "Russia announces a 25% tariff on imported semiconductors",
            ""
        )
        .contains(&"tariffs".into())
    );
    assert!(
        policies("Kremlin says Western chip sanctions have failed", "")
            .contains(&"sanctions".into())
    );
    assert!(
        policies(
            "Seoul announces mandatory safety testing of large AI models",
            ""
        )
        .contains(&"ai-regulation".into())
    );
    assert!(
        policies(
            "Abu Dhabi sets rules on personal data leaving the country",
            ""
        )
        .contains(&"data-security".into())
    );
    assert!(
        policies(
            "Tokyo announces a ban on foreign AI chatbots in government agencies",
            ""
        )
        .contains(&"foreign-tech-bans".into())
    );
    // A smuggling case still yields: "illegal AI chip exports" is enforcement.
    let smuggling = policies(
        "Two nationals charged over illegal AI chip exports",
        "Prosecutors said they shipped GPUs through a front company.",
    );
    assert!(
        !smuggling.contains(&"ai-chip-controls".into()),
        "{smuggling:?}"
    );
}
