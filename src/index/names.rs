//! Countries and policies as analysts name them in queries. The index holds ISO 3166-1
//! alpha-2 codes and policy ids; `country:china` or `policy:entity` used to match nothing
//! and say nothing. A country's name is read as its code, and a value that is neither gets
//! an error naming the closest ones.

use std::collections::HashMap;
use std::sync::OnceLock;

/// A name as compared: lower case, words of letters and digits one space apart, without a
/// leading "the" (`The Netherlands`, `korea, republic of` → `netherlands`, `korea republic of`).
fn normalize(name: &str) -> String {
    let lower = name.to_lowercase();
    let words: Vec<&str> = lower
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    let words = match words.as_slice() {
        ["the", rest @ ..] if !rest.is_empty() => rest,
        all => all,
    };
    words.join(" ")
}

/// Each name keshvar has for each country, with the country's code.
fn each_country_name(mut f: impl FnMut(&str, &str)) {
    for c in keshvar::CountryIterator::new() {
        let code = c.alpha2().to_string();
        let alpha3 = c.alpha3().to_string();
        let mut all = vec![c.iso_short_name(), c.iso_long_name(), alpha3.as_str()];
        all.extend(c.unofficial_name_list().iter().copied());
        for name in all {
            f(name, &code);
        }
    }
}

/// Every name keshvar has for a country (ISO short and long names, unofficial names, some in
/// other languages and scripts, the alpha-3 code), normalized, with its code. No two
/// countries share a name there (a test checks), so the first to give one keeps it.
fn country_names() -> &'static HashMap<String, String> {
    static NAMES: OnceLock<HashMap<String, String>> = OnceLock::new();
    NAMES.get_or_init(|| {
        let mut names: HashMap<String, String> = HashMap::new();
        each_country_name(|name, code| {
            names
                .entry(normalize(name))
                .or_insert_with(|| code.to_string());
        });
        names.insert("european union".into(), "EU".into());
        names.remove("");
        names
    })
}

/// A country's display name for messages.
fn country_name(code: &str) -> String {
    if code == "EU" {
        return "European Union".into();
    }
    keshvar::Alpha2::try_from(code)
        .map(|a| a.to_country().iso_short_name().to_string())
        .unwrap_or_default()
}

/// The code `country:VALUE` means: an ISO 3166-1 alpha-2 code or `EU` (`UK` is `GB`, as for
/// tags), or a country's name read as its code. Anything else, `ZZ` too, would match nothing
/// and say nothing: `Err` is the message for the analyst, with the closest names.
pub(crate) fn country_code(value: &str) -> Result<String, String> {
    let upper = value.trim().to_uppercase();
    if upper == "UK" {
        return Ok("GB".into());
    }
    if upper == "EU" || keshvar::Alpha2::try_from(upper.as_str()).is_ok() {
        return Ok(upper);
    }
    let wanted = normalize(value);
    if let Some(code) = country_names().get(&wanted) {
        return Ok(code.clone());
    }
    let mut codes: Vec<&str> = Vec::new();
    for name in closest(&wanted, country_names().keys().map(String::as_str), 3) {
        if let Some(code) = country_names().get(name)
            && !codes.contains(&code.as_str())
        {
            codes.push(code);
        }
    }
    let hint = if codes.is_empty() {
        String::new()
    } else {
        let each: Vec<String> = codes
            .iter()
            .map(|c| format!("country:{c} ({})", country_name(c)))
            .collect();
        format!(" (closest: {})", each.join(", "))
    };
    Err(format!(
        "country:{value}: no country has that code or name; write its ISO code, as in country:CN, or its English name, as in country:china{hint}"
    ))
}

/// Up to `n` of `candidates` nearest to `wanted`: those that hold it or are held by it
/// first (`entity` → `entity-list`), then by edit distance, within a distance of a third of
/// its length (at least 2). Ties go to the shorter, then alphabetical.
pub(crate) fn closest<'a>(
    wanted: &str,
    candidates: impl Iterator<Item = &'a str>,
    n: usize,
) -> Vec<&'a str> {
    let wanted = wanted.to_lowercase();
    let limit = (wanted.chars().count() / 3).max(2);
    let mut scored: Vec<(usize, &str)> = candidates
        .filter(|c| !c.is_empty() && !wanted.is_empty())
        .filter_map(|c| {
            let lower = c.to_lowercase();
            let score = if lower.contains(&wanted) || wanted.contains(&lower) {
                0
            } else {
                edit_distance(&wanted, &lower)
            };
            (score <= limit).then_some((score, c))
        })
        .collect();
    scored.sort_by(|a, b| (a.0, a.1.len(), a.1).cmp(&(b.0, b.1.len(), b.1)));
    scored.dedup_by(|a, b| a.1 == b.1);
    scored.into_iter().take(n).map(|(_, c)| c).collect()
}

/// Levenshtein distance, by characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let substitute = diagonal + usize::from(ca != cb);
            diagonal = row[j + 1];
            row[j + 1] = substitute.min(row[j] + 1).min(diagonal + 1);
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn countries_by_code_or_name() {
        for (value, code) in [
            ("CN", "CN"),
            ("cn", "CN"),
            ("uk", "GB"),
            ("eu", "EU"),
            ("china", "CN"),
            ("China", "CN"),
            ("Germany", "DE"),
            ("germany", "DE"),
            ("the netherlands", "NL"),
            ("Netherlands", "NL"),
            ("united states", "US"),
            ("United-States", "US"),
            ("usa", "US"),
            ("CHN", "CN"),
            ("中国", "CN"),
            ("european union", "EU"),
            ("taiwan", "TW"),
        ] {
            assert_eq!(country_code(value).as_deref(), Ok(code), "{value}");
        }
    }

    #[test]
    fn unknown_countries_are_errors_that_suggest_the_code() {
        let err = country_code("germny").unwrap_err();
        assert!(err.contains("country:DE (Germany)"), "{err}");
        assert!(err.contains("country:CN"), "{err}");
        let err = country_code("chn1").unwrap_err();
        assert!(err.contains("ISO code"), "{err}");
        // Two letters are a code only when some country has it.
        assert_eq!(country_code("de").as_deref(), Ok("DE"));
        assert_eq!(country_code("eu").as_deref(), Ok("EU"));
        let err = country_code("zz").unwrap_err();
        assert!(err.contains("no country has that code or name"), "{err}");
        let err = country_code("atlantis").unwrap_err();
        assert!(err.contains("no country has that code or name"), "{err}");
        assert_eq!(country_code("congo").as_deref(), Ok("CG"));
    }

    #[test]
    fn no_two_countries_share_a_name() {
        let mut seen: HashMap<String, String> = HashMap::new();
        each_country_name(|name, code| {
            let other = seen
                .entry(normalize(name))
                .or_insert_with(|| code.to_string());
            assert_eq!(other, code, "{name:?}");
        });
    }

    #[test]
    fn closest_prefers_containing_then_near() {
        let ids = ["entity-list", "export-controls", "tariffs", "sanctions"];
        assert_eq!(closest("entity", ids.iter().copied(), 3), ["entity-list"]);
        assert_eq!(closest("tarifs", ids.iter().copied(), 3), ["tariffs"]);
        assert_eq!(
            closest("export", ids.iter().copied(), 3),
            ["export-controls"]
        );
        assert!(closest("zzzzzz", ids.iter().copied(), 3).is_empty());
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("镓锗", "镓"), 1);
    }
}
