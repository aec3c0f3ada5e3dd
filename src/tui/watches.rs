//! Saved searches (watchlists): those of the config plus those created in the interface,
//! which are kept in `<data>/watches.json` (the config file is the user's; we never rewrite it).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::config::Watch;

#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    #[error("saved searches {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("saved searches {path}: {source}")]
    Json {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Saved {
    name: String,
    query: String,
}

/// A watch as the sidebar shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchEntry {
    pub name: String,
    pub query: String,
    /// Defined in the config (cannot be deleted from the interface).
    pub from_config: bool,
    /// Stories first seen since the watch was last viewed (`None` until counted).
    pub new: Option<usize>,
    /// Every story the watch matches (`None` until counted).
    pub total: Option<usize>,
}

pub fn file(data_dir: &Path) -> PathBuf {
    data_dir.join("watches.json")
}

/// The watches created in the interface. A missing file is no watches; a broken one is an error
/// the status line shows (and the file is left alone).
fn load_saved(data_dir: &Path) -> Result<Vec<Saved>, WatchError> {
    let path = file(data_dir);
    match std::fs::read_to_string(&path) {
        Ok(text) => serde_json::from_str(&text).map_err(|source| WatchError::Json { path, source }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(source) => Err(WatchError::Io { path, source }),
    }
}

/// Config watches first, then saved ones (a saved watch with a config watch's name is hidden).
pub fn load(config: &[Watch], data_dir: &Path) -> (Vec<WatchEntry>, Option<WatchError>) {
    let mut out: Vec<WatchEntry> = config
        .iter()
        .map(|w| WatchEntry {
            name: w.name.clone(),
            query: w.query.clone(),
            from_config: true,
            new: None,
            total: None,
        })
        .collect();
    let (saved, err) = match load_saved(data_dir) {
        Ok(s) => (s, None),
        Err(e) => (Vec::new(), Some(e)),
    };
    for s in saved {
        if !out.iter().any(|w| w.name == s.name) {
            out.push(WatchEntry {
                name: s.name,
                query: s.query,
                from_config: false,
                new: None,
                total: None,
            });
        }
    }
    (out, err)
}

/// Write the interface's watches (atomically: temp file then rename).
pub fn save(entries: &[WatchEntry], data_dir: &Path) -> Result<(), WatchError> {
    let path = file(data_dir);
    let saved: Vec<Saved> = entries
        .iter()
        .filter(|w| !w.from_config)
        .map(|w| Saved {
            name: w.name.clone(),
            query: w.query.clone(),
        })
        .collect();
    let text = serde_json::to_string_pretty(&saved).map_err(|source| WatchError::Json {
        path: path.clone(),
        source,
    })?;
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, text).map_err(|source| WatchError::Io {
        path: tmp.clone(),
        source,
    })?;
    std::fs::rename(&tmp, &path).map_err(|source| WatchError::Io {
        path: path.clone(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saved_watches_round_trip_and_config_wins() {
        let dir = tempfile::tempdir().unwrap();
        let config = vec![Watch {
            name: "litho".into(),
            query: "lithography".into(),
        }];
        let (mut w, err) = load(&config, dir.path());
        assert!(err.is_none());
        assert_eq!(w.len(), 1);
        w.push(WatchEntry {
            name: "gallium".into(),
            query: "gallium country:cn".into(),
            from_config: false,
            new: None,
            total: None,
        });
        w.push(WatchEntry {
            name: "litho".into(),
            query: "other".into(),
            from_config: false,
            new: None,
            total: None,
        });
        save(&w, dir.path()).unwrap();
        let (w, err) = load(&config, dir.path());
        assert!(err.is_none());
        let names: Vec<_> = w
            .iter()
            .map(|e| (e.name.as_str(), e.query.as_str(), e.from_config))
            .collect();
        assert_eq!(
            names,
            [
                ("litho", "lithography", true),
                ("gallium", "gallium country:cn", false)
            ]
        );

        std::fs::write(file(dir.path()), "{broken").unwrap();
        let (w, err) = load(&config, dir.path());
        assert_eq!(w.len(), 1);
        assert!(err.unwrap().to_string().contains("watches.json"));
    }
}
