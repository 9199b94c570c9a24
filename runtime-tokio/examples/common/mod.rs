//! What the tokio examples share: their command-line options.

use netcluster_tokio::Builder;

/// `--bind IP` (bind the link port and beacons to one address) and
/// `--no-beacons` (find peers through the seeds only), anywhere on the line.
pub struct Opts {
    bind: Option<String>,
    no_beacons: bool,
}

impl Opts {
    pub fn parse() -> Result<(Opts, std::vec::IntoIter<String>), String> {
        let mut opts = Opts { bind: None, no_beacons: false };
        let mut rest = Vec::new();
        let mut args = std::env::args().skip(1);
        while let Some(a) = args.next() {
            match a.as_str() {
                "--bind" => opts.bind = Some(args.next().ok_or("--bind needs an IP address")?),
                "--no-beacons" => opts.no_beacons = true,
                _ => rest.push(a),
            }
        }
        Ok((opts, rest.into_iter()))
    }

    pub fn apply(&self, mut b: Builder) -> Result<Builder, Box<dyn std::error::Error>> {
        if let Some(ip) = &self.bind {
            let ip: std::net::IpAddr =
                ip.parse().map_err(|e| format!("bad --bind address {ip:?}: {e}"))?;
            b = b.bind_ip(ip).interface(ip);
        }
        if self.no_beacons {
            b = b.beacons(netcluster_tokio::BeaconMode::Off);
        }
        Ok(b)
    }
}
