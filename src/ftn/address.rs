//! FidoNet addresses: `zone:net/node[.point][@domain]` (FRL-1002 style, 4D plus an optional domain).

use std::fmt;
use std::str::FromStr;

/// A 4D FidoNet address. Zone 0 means "unknown" (stone-age packets carry no zone).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct FtnAddress {
    pub zone: u16,
    pub net: u16,
    pub node: u16,
    pub point: u16,
}

impl FtnAddress {
    pub const fn new(zone: u16, net: u16, node: u16, point: u16) -> Self {
        FtnAddress {
            zone,
            net,
            node,
            point,
        }
    }

    /// `net/node`, the form SEEN-BY and PATH lines use.
    pub fn net_node(&self) -> String {
        format!("{}/{}", self.net, self.node)
    }
}

impl fmt::Display for FtnAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}/{}", self.zone, self.net, self.node)?;
        if self.point != 0 {
            write!(f, ".{}", self.point)?;
        }
        Ok(())
    }
}

/// Why an address did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid FTN address {0:?}: expected zone:net/node[.point][@domain]")]
pub struct AddressError(pub String);

impl FromStr for FtnAddress {
    type Err = AddressError;

    /// Accepts `Z:N/F`, `Z:N/F.P`, either with an `@domain` suffix (dropped).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || AddressError(s.chars().take(64).collect());
        let core = s.trim();
        let core = core.split_once('@').map_or(core, |(a, _domain)| a);
        let (zone, rest) = core.split_once(':').ok_or_else(bad)?;
        let (net, rest) = rest.split_once('/').ok_or_else(bad)?;
        let (node, point) = match rest.split_once('.') {
            Some((n, p)) => (n, p),
            None => (rest, "0"),
        };
        let num = |t: &str| -> Result<u16, AddressError> {
            if t.is_empty() || t.len() > 5 || !t.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            t.parse::<u16>().map_err(|_| bad())
        };
        Ok(FtnAddress {
            zone: num(zone)?,
            net: num(net)?,
            node: num(node)?,
            point: num(point)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints() {
        let a: FtnAddress = "1337:1/100.5@tqwnet".parse().unwrap();
        assert_eq!(a, FtnAddress::new(1337, 1, 100, 5));
        assert_eq!(a.to_string(), "1337:1/100.5");
        assert_eq!(
            "2:5020/1".parse::<FtnAddress>().unwrap().to_string(),
            "2:5020/1"
        );
        for bad in ["", "1/100", "1:1", "1:1/x", "1:1/1.", "99999:1/1", "1:+1/1"] {
            assert!(bad.parse::<FtnAddress>().is_err(), "{bad}");
        }
    }
}
