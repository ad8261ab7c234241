//! The SSRF guard on every outbound request the host makes for a tenant: webhook deliveries
//! (checked at registration and again at every delivery) and AI provider calls.
//!
//! - The URL: https only (http with `--webhook-allow-http`, `--ai-allow-http`), no credentials in it, port 80, 443
//!   or 1024–65535, no metadata host names or `*.internal`. `url` parsing normalises the odd
//!   spellings of IPv4 (`2130706433`, `0x7f.1`, `0177.0.0.1`, `127.1` are all 127.0.0.1).
//! - Every address: refused if loopback, private (RFC 1918), link-local, CGNAT, `0.0.0.0/8`,
//!   multicast, broadcast, reserved or documentation ranges, IPv6 loopback/ULA/link-local, or an
//!   IPv6 form that embeds a refused IPv4 (mapped, compatible, NAT64, 6to4); unless it falls in a
//!   `--webhook-allow-cidr` (or `--ai-allow-cidr`) range: development, tests, a local model server.
//! - Names are resolved once per connection by [`Guard`], which is the HTTP client's resolver:
//!   every address must pass, and the client connects only to the addresses that passed. There is
//!   no second lookup, so no DNS-rebinding window. Redirects are never followed.

use std::fmt;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;

use ipnet::IpNet;
use reqwest::Url;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// What the guard allows beyond the production rules.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    pub allow_http: bool,
    pub allow_cidrs: Vec<IpNet>,
}

/// Why a URL or an address is refused; shown to the API client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    Invalid(String),
    Scheme(String),
    Credentials,
    Port(u16),
    Name(String),
    Address(IpAddr, &'static str),
    Unresolvable(String),
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::Invalid(why) => write!(f, "not a valid URL: {why}"),
            Refusal::Scheme(s) => write!(f, "scheme `{s}` is not allowed: URLs must use https"),
            Refusal::Credentials => write!(f, "URLs with a user name or password are not allowed"),
            Refusal::Port(p) => write!(f, "port {p} is not allowed: use 443, 80 or 1024-65535"),
            Refusal::Name(host) => write!(f, "host `{host}` is an internal or metadata name"),
            Refusal::Address(ip, why) => write!(f, "address {ip} is {why}"),
            Refusal::Unresolvable(host) => write!(f, "host `{host}` does not resolve"),
        }
    }
}

impl std::error::Error for Refusal {}

/// Checks what can be checked without DNS. Returns the parsed URL.
pub fn check_url(raw: &str, policy: &Policy) -> Result<Url, Refusal> {
    let url = Url::parse(raw).map_err(|e| Refusal::Invalid(e.to_string()))?;
    match url.scheme() {
        "https" => {}
        "http" if policy.allow_http => {}
        other => return Err(Refusal::Scheme(other.to_owned())),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Refusal::Credentials);
    }
    if let Some(port) = url.port()
        && port < 1024
        && port != 80
        && port != 443
    {
        return Err(Refusal::Port(port));
    }
    match url.host() {
        None => return Err(Refusal::Invalid("no host".into())),
        Some(url::Host::Ipv4(ip)) => check_ip(IpAddr::V4(ip), policy)?,
        Some(url::Host::Ipv6(ip)) => check_ip(IpAddr::V6(ip), policy)?,
        Some(url::Host::Domain(name)) => check_name(name, policy)?,
    }
    Ok(url)
}

fn check_name(name: &str, policy: &Policy) -> Result<(), Refusal> {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    const METADATA: &[&str] = &[
        "metadata.google.internal",
        "metadata.goog",
        "metadata",
        "instance-data",
    ];
    if METADATA.contains(&name.as_str()) || name.ends_with(".internal") {
        return Err(Refusal::Name(name));
    }
    for ip in reserved_name_addresses(&name) {
        check_ip(ip, policy)?;
    }
    Ok(())
}

/// `localhost` and `*.localhost` always mean loopback (RFC 6761), whatever DNS says.
fn reserved_name_addresses(name: &str) -> Vec<IpAddr> {
    if name == "localhost" || name.ends_with(".localhost") {
        vec![
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(Ipv6Addr::LOCALHOST),
        ]
    } else {
        vec![]
    }
}

pub fn check_ip(ip: IpAddr, policy: &Policy) -> Result<(), Refusal> {
    if policy.allow_cidrs.iter().any(|net| net.contains(&ip)) {
        return Ok(());
    }
    match forbidden(ip) {
        Some(why) => Err(Refusal::Address(ip, why)),
        None => Ok(()),
    }
}

/// Why an address may not be reached, if it may not.
pub fn forbidden(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => forbidden_v6(v6),
    }
}

fn forbidden_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    Some(match (a, b, c) {
        _ if ip == Ipv4Addr::new(169, 254, 169, 254) => "a cloud metadata address",
        (0, ..) => "in 0.0.0.0/8 (this network)",
        (10, ..) => "private (10.0.0.0/8)",
        (100, 64..=127, _) => "shared address space (CGNAT, 100.64.0.0/10)",
        (127, ..) => "loopback",
        (169, 254, _) => "link-local",
        (172, 16..=31, _) => "private (172.16.0.0/12)",
        (192, 0, 0) => "reserved for protocol assignments (192.0.0.0/24)",
        (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => "reserved for documentation",
        (192, 168, _) => "private (192.168.0.0/16)",
        (198, 18..=19, _) => "reserved for benchmarking (198.18.0.0/15)",
        (224..=239, ..) => "multicast",
        (240..=255, ..) => "reserved or broadcast",
        _ => return None,
    })
}

fn forbidden_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let s = ip.segments();
    if ip == Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254) {
        return Some("a cloud metadata address");
    }
    if ip.is_unspecified() {
        return Some("unspecified");
    }
    if ip.is_loopback() {
        return Some("loopback");
    }
    if let Some(v4) = ip.to_ipv4_mapped() {
        return forbidden_v4(v4).map(|_| "an IPv4-mapped form of a refused address");
    }
    let embedded = |hi: u16, lo: u16| Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo));
    Some(match s {
        // ::a.b.c.d, the deprecated IPv4-compatible form.
        [0, 0, 0, 0, 0, 0, hi, lo] => {
            return forbidden_v4(embedded(hi, lo))
                .map(|_| "an IPv4-compatible form of a refused address");
        }
        [0x64, 0xff9b, 0, 0, 0, 0, hi, lo] => {
            return forbidden_v4(embedded(hi, lo)).map(|_| "a NAT64 form of a refused address");
        }
        [0x64, 0xff9b, 1, ..] => "local-use NAT64 (64:ff9b:1::/48)",
        [0x2002, hi, lo, ..] => {
            return forbidden_v4(embedded(hi, lo)).map(|_| "a 6to4 form of a refused address");
        }
        [0x2001, 0, ..] => "Teredo (2001::/32)",
        [0x2001, 0xdb8, ..] => "reserved for documentation",
        [0x100, 0, 0, 0, ..] => "a discard address (100::/64)",
        [first, ..] if first & 0xfe00 == 0xfc00 => "unique-local (fc00::/7)",
        [first, ..] if first & 0xffc0 == 0xfe80 => "link-local (fe80::/10)",
        [first, ..] if first & 0xffc0 == 0xfec0 => "site-local (fec0::/10)",
        [first, ..] if first & 0xff00 == 0xff00 => "multicast",
        _ => return None,
    })
}

/// Name resolution, swappable so tests can play a DNS server that changes its answers.
pub trait Lookup: Send + Sync + 'static {
    fn lookup(
        &self,
        host: &str,
    ) -> Pin<Box<dyn Future<Output = std::io::Result<Vec<IpAddr>>> + Send>>;
}

/// The system resolver.
pub struct SystemLookup;

impl Lookup for SystemLookup {
    fn lookup(
        &self,
        host: &str,
    ) -> Pin<Box<dyn Future<Output = std::io::Result<Vec<IpAddr>>> + Send>> {
        let host = host.to_owned();
        Box::pin(async move {
            Ok(tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .map(|a| a.ip())
                .collect())
        })
    }
}

/// Resolves a name once and checks every address; the HTTP client's resolver.
#[derive(Clone)]
pub struct Guard {
    policy: Arc<Policy>,
    lookup: Arc<dyn Lookup>,
}

impl Guard {
    pub fn new(policy: Policy, lookup: Arc<dyn Lookup>) -> Self {
        Guard {
            policy: Arc::new(policy),
            lookup,
        }
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// The addresses of `host`, all of which passed; refused if any did not.
    pub async fn resolve(&self, host: &str) -> Result<Vec<IpAddr>, Refusal> {
        check_name(host, &self.policy)?;
        let name = host.trim_end_matches('.').to_ascii_lowercase();
        let reserved = reserved_name_addresses(&name);
        let addrs = if reserved.is_empty() {
            self.lookup
                .lookup(&name)
                .await
                .map_err(|_| Refusal::Unresolvable(name.clone()))?
        } else {
            reserved
        };
        if addrs.is_empty() {
            return Err(Refusal::Unresolvable(name));
        }
        for ip in &addrs {
            check_ip(*ip, &self.policy)?;
        }
        Ok(addrs)
    }

    /// The full check, as at registration: the URL, then (for a name) every address it has now.
    pub async fn check(&self, raw: &str) -> Result<Url, Refusal> {
        let url = check_url(raw, &self.policy)?;
        if let Some(url::Host::Domain(name)) = url.host() {
            self.resolve(name).await?;
        }
        Ok(url)
    }
}

impl Resolve for Guard {
    fn resolve(&self, name: Name) -> Resolving {
        let guard = self.clone();
        Box::pin(async move {
            let addrs = Guard::resolve(&guard, name.as_str()).await?;
            let addrs: Addrs = Box::new(addrs.into_iter().map(|ip| SocketAddr::new(ip, 0)));
            Ok(addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    fn refused(url: &str) -> Refusal {
        check_url(url, &Policy::default()).expect_err(url)
    }

    #[test]
    fn the_matrix() {
        for url in [
            "https://127.0.0.1/",
            "https://127.1/",
            "https://2130706433/",
            "https://0x7f.1/",
            "https://0177.0.0.1/",
            "https://0x7f000001/",
            "https://10.1.2.3/",
            "https://172.16.0.1/",
            "https://172.31.255.255/",
            "https://192.168.1.1/",
            "https://169.254.169.254/latest/meta-data",
            "https://169.254.1.1/",
            "https://100.64.0.1/",
            "https://100.127.255.255/",
            "https://0.0.0.0/",
            "https://0.1.2.3/",
            "https://224.0.0.1/",
            "https://239.255.255.250/",
            "https://255.255.255.255/",
            "https://[::1]/",
            "https://[::]/",
            "https://[fc00::1]/",
            "https://[fd12:3456::1]/",
            "https://[fe80::1]/",
            "https://[fd00:ec2::254]/",
            "https://[::ffff:127.0.0.1]/",
            "https://[::ffff:10.0.0.1]/",
            "https://[::ffff:169.254.169.254]/",
            "https://[::127.0.0.1]/",
            "https://[64:ff9b::127.0.0.1]/",
            "https://[64:ff9b::a9fe:a9fe]/",
            "https://[2002:7f00:1::]/",
            "https://[ff02::1]/",
            "https://metadata.google.internal/",
            "https://METADATA.GOOGLE.INTERNAL./",
            "https://db.internal/",
            "https://localhost/",
            "https://api.localhost/",
        ] {
            let r = refused(url);
            assert!(
                matches!(r, Refusal::Address(..) | Refusal::Name(_)),
                "{url}: {r}"
            );
        }
        assert!(matches!(
            refused("http://hooks.example.com/"),
            Refusal::Scheme(_)
        ));
        assert!(matches!(
            refused("ftp://hooks.example.com/"),
            Refusal::Scheme(_)
        ));
        assert!(matches!(refused("file:///etc/passwd"), Refusal::Scheme(_)));
        assert!(matches!(
            refused("https://user:pw@hooks.example.com/"),
            Refusal::Credentials
        ));
        assert!(matches!(
            refused("https://user@hooks.example.com/"),
            Refusal::Credentials
        ));
        assert!(matches!(
            refused("https://hooks.example.com:22/"),
            Refusal::Port(22)
        ));
        assert!(matches!(
            refused("https://hooks.example.com:25/"),
            Refusal::Port(25)
        ));
        assert!(matches!(refused("not a url"), Refusal::Invalid(_)));
        for ok in [
            "https://hooks.example.com/in",
            "https://hooks.example.com:8443/in",
            "https://93.184.216.34/",
            "https://[2606:2800:220:1:248:1893:25c8:1946]/",
            "https://hooks.example.com:80/",
        ] {
            assert!(check_url(ok, &Policy::default()).is_ok(), "{ok}");
        }
    }

    #[test]
    fn the_development_allowances_are_narrow() {
        let policy = Policy {
            allow_http: true,
            allow_cidrs: vec!["127.0.0.0/8".parse().unwrap()],
        };
        assert!(check_url("http://127.0.0.1:9000/hook", &policy).is_ok());
        assert!(
            check_url("http://localhost:9000/hook", &policy).is_err(),
            "::1 is not allowed"
        );
        assert!(check_url("http://10.0.0.1/hook", &policy).is_err());
        assert!(check_url("http://169.254.169.254/", &policy).is_err());
    }

    /// A DNS server we control: answers from a script, one answer per query.
    struct Scripted(Mutex<Vec<Vec<IpAddr>>>);

    impl Lookup for Scripted {
        fn lookup(
            &self,
            _: &str,
        ) -> Pin<Box<dyn Future<Output = std::io::Result<Vec<IpAddr>>> + Send>> {
            let next = self.0.lock().unwrap().remove(0);
            Box::pin(async move { Ok(next) })
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[tokio::test]
    async fn every_address_must_pass() {
        let lookup = Arc::new(Scripted(Mutex::new(vec![
            vec![ip("93.184.216.34")],
            vec![ip("93.184.216.34"), ip("10.0.0.5")],
            vec![],
        ])));
        let guard = Guard::new(Policy::default(), lookup);
        assert!(guard.check("https://hooks.example.com/").await.is_ok());
        assert_eq!(
            guard.check("https://hooks.example.com/").await.unwrap_err(),
            Refusal::Address(ip("10.0.0.5"), "private (10.0.0.0/8)")
        );
        assert!(matches!(
            guard.check("https://hooks.example.com/").await,
            Err(Refusal::Unresolvable(_))
        ));
    }

    /// DNS rebinding: the name passes at registration, then resolves to loopback at delivery.
    /// The client asks the guard (its resolver) once per connection and never connects.
    #[tokio::test]
    async fn rebinding_is_refused_at_delivery_and_nothing_connects() {
        let receiver = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = receiver.local_addr().unwrap().port();
        let lookup = Arc::new(Scripted(Mutex::new(vec![
            vec![ip("93.184.216.34")],
            vec![ip("127.0.0.1")],
        ])));
        let guard = Guard::new(
            Policy {
                allow_http: true,
                allow_cidrs: vec![],
            },
            lookup,
        );
        let url = format!("http://rebind.example.com:{port}/hook");
        assert!(
            guard.check(&url).await.is_ok(),
            "registration sees a public address"
        );
        let client = reqwest::Client::builder()
            .dns_resolver(Arc::new(guard))
            .build()
            .unwrap();
        let err = client.post(&url).body("{}").send().await.unwrap_err();
        let chain = format!("{:?}", std::error::Error::source(&err));
        assert!(chain.contains("loopback"), "{chain}");
        let accepted =
            tokio::time::timeout(std::time::Duration::from_millis(200), receiver.accept()).await;
        assert!(accepted.is_err(), "the receiver on loopback was reached");
    }
}
