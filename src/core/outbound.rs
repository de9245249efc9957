//! Outbound-URL policy (SSRF guard): a station's base URL, its dialect prefixes, detection
//! probes and every relayed or panel request are checked before the gateway sends anything.
//! By default only `https` to a public name or address is allowed: no loopback, private,
//! link-local, CGNAT, metadata or other special-purpose address in any spelling (decimal, hex,
//! octal, short IPv4 forms, IPv4-mapped/compatible/NAT64 IPv6), no `localhost` / `.local`-style
//! or single-label names, no wildcard-DNS names that embed an address, and not the gateway's own
//! host. `ALLOW_PRIVATE_UPSTREAMS` lifts all of it for local development and the test suite.

use crate::core::error::GatewayError;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// What outbound requests may reach.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutboundPolicy {
    /// `ALLOW_PRIVATE_UPSTREAMS`: plain `http` and any host (development and tests only).
    pub allow_private: bool,
}

/// Name suffixes that never reach a public service (RFC 6761/6762/8375 and cloud internals).
const PRIVATE_SUFFIXES: [&str; 9] = [
    "localhost",
    "local",
    "localdomain",
    "internal",
    "intranet",
    "lan",
    "home.arpa",
    "corp",
    "private",
];
/// Public wildcard-DNS services that resolve a name to an address written in it (or always to
/// loopback): `127.0.0.1.nip.io`, `localtest.me`, …
const ADDRESS_IN_NAME: [&str; 7] = [
    "nip.io",
    "sslip.io",
    "xip.io",
    "localtest.me",
    "lvh.me",
    "vcap.me",
    "traefik.me",
];

fn refused(url: &str, why: &str) -> GatewayError {
    GatewayError::InvalidRequest(format!(
        "outbound URL `{url}` is not allowed: {why} (set ALLOW_PRIVATE_UPSTREAMS only for local development)"
    ))
}

impl OutboundPolicy {
    pub fn new(allow_private: bool) -> Self {
        Self { allow_private }
    }

    /// `Ok` when the gateway may send a request to `url`. `own_host` is the host the gateway is
    /// reached under, when known (a station there would make the gateway call itself).
    pub fn check(&self, url: &str, own_host: Option<&str>) -> Result<(), GatewayError> {
        if self.allow_private {
            return Ok(());
        }
        let rest = url
            .strip_prefix("https://")
            .ok_or_else(|| refused(url, "only https is allowed"))?;
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        if authority.contains(['@', '\\', '%']) {
            return Err(refused(url, "credentials or escapes in the host"));
        }
        let host = host_of(authority).ok_or_else(|| refused(url, "no valid host"))?;
        if own_host.is_some_and(|own| host_of(own).is_some_and(|o| o == host)) {
            return Err(refused(url, "it is the gateway's own host"));
        }
        if let Some(ip) = ip_literal(&host) {
            return if is_public(ip) {
                Ok(())
            } else {
                Err(refused(
                    url,
                    "a loopback, private or special-purpose address",
                ))
            };
        }
        check_name(&host).map_err(|why| refused(url, why))
    }
}

/// The lower-case host of `host[:port]` or `[v6]:port`, without a trailing dot.
fn host_of(authority: &str) -> Option<String> {
    let host = if let Some(v6) = authority.strip_prefix('[') {
        let (inner, after) = v6.split_once(']')?;
        if !(after.is_empty() || after.starts_with(':')) {
            return None;
        }
        format!("[{inner}]")
    } else {
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        };
        if port.is_some_and(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit())) {
            return None;
        }
        host.to_string()
    };
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    (!host.is_empty()).then_some(host)
}

/// The address a host names when it is an IP literal in any form a URL parser accepts.
fn ip_literal(host: &str) -> Option<IpAddr> {
    if let Some(v6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        // A zone id (`%25eth0`) was refused with the other escapes.
        return v6.parse::<Ipv6Addr>().ok().map(IpAddr::V6);
    }
    ipv4_loose(host).map(IpAddr::V4)
}

/// IPv4 as `inet_aton` and the WHATWG URL parser read it: one to four dot-separated parts,
/// each decimal, `0x` hex or `0` octal; the last part fills the remaining bytes.
fn ipv4_loose(host: &str) -> Option<Ipv4Addr> {
    let parts: Vec<&str> = host.split('.').collect();
    if parts.is_empty() || parts.len() > 4 {
        return None;
    }
    let numbers: Vec<u64> = parts.iter().map(|p| parse_part(p)).collect::<Option<_>>()?;
    let (last, leading) = numbers.split_last()?;
    if leading.iter().any(|&n| n > 255) {
        return None;
    }
    let room = 8 * (4 - leading.len() as u32);
    if *last >= 1u64 << room {
        return None;
    }
    let value = leading
        .iter()
        .enumerate()
        .fold(*last, |acc, (i, &n)| acc | (n << (24 - 8 * i as u32)));
    u32::try_from(value).ok().map(Ipv4Addr::from)
}

fn parse_part(part: &str) -> Option<u64> {
    if part.is_empty() {
        return None;
    }
    let (digits, radix) =
        if let Some(hex) = part.strip_prefix("0x").or_else(|| part.strip_prefix("0X")) {
            (hex, 16)
        } else if part.len() > 1 && part.starts_with('0') {
            (&part[1..], 8)
        } else {
            (part, 10)
        };
    if digits.is_empty() {
        return (radix == 16).then_some(0);
    }
    u64::from_str_radix(digits, radix)
        .ok()
        .filter(|n| *n <= u64::from(u32::MAX))
}

/// Whether `ip` is a globally reachable unicast address.
fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => public_v4(v4),
        IpAddr::V6(v6) => public_v6(v6),
    }
}

fn public_v4(ip: Ipv4Addr) -> bool {
    let n = u32::from(ip);
    // (network, prefix length) of special-purpose ranges (RFC 6890 and friends).
    const BLOCKED: [(u32, u32); 15] = [
        (0x0000_0000, 8),  // 0.0.0.0/8 "this network"
        (0x0A00_0000, 8),  // 10/8 private
        (0x6440_0000, 10), // 100.64/10 CGNAT (incl. 100.100.100.200 metadata)
        (0x7F00_0000, 8),  // 127/8 loopback
        (0xA9FE_0000, 16), // 169.254/16 link-local (incl. 169.254.169.254 metadata)
        (0xAC10_0000, 12), // 172.16/12 private
        (0xC000_0000, 24), // 192.0.0/24 IETF protocol assignments
        (0xC000_0200, 24), // 192.0.2/24 documentation
        (0xC058_6300, 24), // 192.88.99/24 6to4 relay
        (0xC0A8_0000, 16), // 192.168/16 private
        (0xC612_0000, 15), // 198.18/15 benchmarking
        (0xC633_6400, 24), // 198.51.100/24 documentation
        (0xCB00_7100, 24), // 203.0.113/24 documentation
        (0xE000_0000, 4),  // 224/4 multicast
        (0xF000_0000, 4),  // 240/4 reserved and broadcast
    ];
    !BLOCKED
        .iter()
        .any(|&(net, bits)| (n >> (32 - bits)) == (net >> (32 - bits)))
}

fn public_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    // IPv4 inside IPv6: mapped ::ffff:a.b.c.d, compatible ::a.b.c.d, NAT64 64:ff9b::a.b.c.d.
    let embedded = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    let mapped = s[..5] == [0; 5] && s[5] == 0xffff;
    let compatible = s[..6] == [0; 6];
    let nat64 = s[..6] == [0x64, 0xff9b, 0, 0, 0, 0];
    if mapped || compatible || nat64 {
        return public_v4(embedded);
    }
    let first = s[0];
    !(ip.is_unspecified()
        || ip.is_loopback()
        || first & 0xfe00 == 0xfc00 // fc00::/7 unique local (incl. AWS fd00:ec2::254)
        || first & 0xffc0 == 0xfe80 // fe80::/10 link-local
        || first & 0xffc0 == 0xfec0 // fec0::/10 site-local (deprecated)
        || first & 0xff00 == 0xff00 // multicast
        || (first == 0x2001 && s[1] == 0x0db8) // documentation
        || first == 0x2002 // 6to4 (embeds any IPv4)
        || (first == 0x2001 && s[1] == 0)) // Teredo (embeds any IPv4)
}

/// Names: at least two labels of letters, digits and hyphens, not a private suffix, not a
/// wildcard-DNS service, and not ending in a numeric label (an address a parser would read).
fn check_name(host: &str) -> Result<(), &'static str> {
    let labels: Vec<&str> = host.split('.').collect();
    let valid = labels.iter().all(|l| {
        !l.is_empty()
            && l.len() <= 63
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    });
    if !valid {
        return Err("not a valid host name");
    }
    if labels.len() < 2 {
        return Err("a single-label name resolves only on a private network");
    }
    if labels
        .last()
        .is_some_and(|l| l.bytes().all(|b| b.is_ascii_digit()) || parse_part(l).is_some())
    {
        return Err("a malformed address");
    }
    let under = |suffix: &str| host == suffix || host.ends_with(&format!(".{suffix}"));
    if PRIVATE_SUFFIXES.iter().any(|s| under(s)) {
        return Err("a local or internal name");
    }
    if ADDRESS_IN_NAME.iter().any(|s| under(s)) || labels[0] == "localhost" {
        return Err("a name that resolves to an address written in it");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strict() -> OutboundPolicy {
        OutboundPolicy::new(false)
    }

    #[test]
    fn public_https_names_and_addresses_pass() {
        for url in [
            "https://api.openai.com/v1/chat/completions",
            "https://relay.example.com:8443",
            "https://8.8.8.8/x",
            "https://[2606:4700:4700::1111]/",
            "https://xn--bcher-kva.example/",
        ] {
            assert!(strict().check(url, None).is_ok(), "{url}");
        }
    }

    #[test]
    fn private_addresses_in_every_spelling_are_refused() {
        for url in [
            "https://127.0.0.1",
            "https://127.1",
            "https://2130706433",
            "https://0x7f000001",
            "https://0177.0.0.1",
            "https://0x7f.1",
            "https://[::1]",
            "https://[::ffff:127.0.0.1]",
            "https://[::ffff:7f00:1]",
            "https://[::127.0.0.1]",
            "https://[64:ff9b::a00:1]",
            "https://169.254.169.254/latest/meta-data",
            "https://[fd00:ec2::254]",
            "https://[fe80::1]",
            "https://10.0.0.1",
            "https://172.31.255.255",
            "https://192.168.1.1:8080",
            "https://100.100.100.200",
            "https://0.0.0.0",
            "https://0",
            "https://255.255.255.255",
        ] {
            let err = strict().check(url, None).unwrap_err();
            assert_eq!(err.status(), 400, "{url}");
            assert!(
                err.message().contains("not allowed"),
                "{url}: {}",
                err.message()
            );
        }
    }

    #[test]
    fn local_names_plain_http_and_tricks_are_refused() {
        for url in [
            "http://api.example.com",
            "ftp://api.example.com",
            "https://localhost",
            "https://LOCALHOST.",
            "https://foo.localhost:8080",
            "https://printer.local",
            "https://metadata.google.internal/computeMetadata/v1",
            "https://intranet",
            "https://127.0.0.1.nip.io",
            "https://app.localtest.me",
            "https://localtest.me",
            "https://user@example.com",
            "https://example.com%2f@127.0.0.1",
            "https://example.com:",
            "https://1.2.3.256",
            "https://",
            "https://[::1",
        ] {
            assert!(strict().check(url, None).is_err(), "{url}");
        }
    }

    #[test]
    fn the_gateway_itself_is_refused_and_the_dev_var_lifts_everything() {
        let err = strict()
            .check("https://gw.example.com/v1", Some("GW.example.com:443"))
            .unwrap_err();
        assert!(err.message().contains("own host"));
        assert!(strict()
            .check("https://other.example.com", Some("gw.example.com"))
            .is_ok());
        let dev = OutboundPolicy::new(true);
        assert!(dev.check("http://127.0.0.1:8080", None).is_ok());
    }

    #[test]
    fn loose_ipv4_parsing_matches_url_parsers() {
        assert_eq!(ipv4_loose("127.1"), Some(Ipv4Addr::new(127, 0, 0, 1)));
        assert_eq!(ipv4_loose("2130706433"), Some(Ipv4Addr::new(127, 0, 0, 1)));
        assert_eq!(ipv4_loose("0x7f.0.0.1"), Some(Ipv4Addr::new(127, 0, 0, 1)));
        assert_eq!(ipv4_loose("010.0.0.1"), Some(Ipv4Addr::new(8, 0, 0, 1)));
        assert_eq!(ipv4_loose("1.2.3.4.5"), None);
        assert_eq!(ipv4_loose("example.com"), None);
        assert_eq!(ipv4_loose("256.1.1.1"), None);
    }
}
