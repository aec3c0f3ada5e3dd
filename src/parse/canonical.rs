//! Canonical links: the key that recognises one story arriving from several sources.
//! Scheme, a leading `www.`, a trailing slash, the fragment and tracking parameters are
//! ignored; everything else (path case, the remaining query in order) is kept.

/// Query parameters that only track the reader, never select content.
const TRACKING_PARAMS: &[&str] = &[
    "fbclid",
    "gclid",
    "dclid",
    "msclkid",
    "mc_cid",
    "mc_eid",
    "igshid",
    "ref_src",
    "ref_url",
    "cmpid",
    "ncid",
    "guccounter",
    "guce_referrer",
    "guce_referrer_sig",
    "_hsenc",
    "_hsmi",
    "mkt_tok",
    "yclid",
    "ocid",
    "s_cid",
    "at_medium",
    "at_campaign",
    "spm",
    "ito",
    "cid_source",
];

fn is_tracking(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    k.starts_with("utm_") || TRACKING_PARAMS.contains(&k.as_str())
}

/// `None` for anything that is not an absolute http(s) URL.
pub fn canonical_link(link: &str) -> Option<String> {
    let url = url::Url::parse(link.trim()).ok()?;
    if !matches!(url.scheme(), "http" | "https") {
        return None;
    }
    let host = url.host_str()?.to_ascii_lowercase();
    let host = host.strip_prefix("www.").unwrap_or(&host);
    let mut out = String::with_capacity(link.len());
    out.push_str(host);
    if let Some(port) = url.port() {
        out.push(':');
        out.push_str(&port.to_string());
    }
    out.push_str(url.path().trim_end_matches('/'));
    let kept: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| !is_tracking(k))
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    if !kept.is_empty() {
        let query = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(kept)
            .finish();
        out.push('?');
        out.push_str(&query);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variants_of_one_link_agree() {
        let want = canonical_link("https://example.com/news/story-1").unwrap();
        for variant in [
            "http://www.example.com/news/story-1/",
            "https://WWW.Example.com/news/story-1#comments",
            "https://example.com/news/story-1?utm_source=rss&utm_medium=feed",
            "https://example.com/news/story-1/?fbclid=abc",
        ] {
            assert_eq!(canonical_link(variant).unwrap(), want, "{variant}");
        }
        assert_eq!(want, "example.com/news/story-1");
        assert_eq!(
            canonical_link("https://x.test/a?id=3&utm_campaign=z").unwrap(),
            "x.test/a?id=3"
        );
        assert_ne!(
            canonical_link("https://x.test/a?id=3"),
            canonical_link("https://x.test/a?id=4")
        );
        assert_eq!(canonical_link("ftp://x.test/a"), None);
        assert_eq!(canonical_link("not a url"), None);
    }
}
