//! What the async-io examples share: their command-line options and
//! Ctrl-C.

use netcluster_async_std::Builder;

/// `--bind IP` (bind the link port and beacons to one address) and
/// `--no-beacons` (find peers through the seeds only), anywhere on the line.
pub struct Opts {
    bind: Option<String>,
    no_beacons: bool,
}

impl Opts {
    pub fn parse() -> (Opts, std::vec::IntoIter<String>) {
        let mut opts = Opts { bind: None, no_beacons: false };
        let mut rest = Vec::new();
        let mut args = std::env::args().skip(1);
        while let Some(a) = args.next() {
            match a.as_str() {
                "--bind" => opts.bind = args.next(),
                "--no-beacons" => opts.no_beacons = true,
                _ => rest.push(a),
            }
        }
        (opts, rest.into_iter())
    }

    pub fn apply(&self, mut b: Builder) -> Result<Builder, Box<dyn std::error::Error>> {
        if let Some(ip) = &self.bind {
            let ip: std::net::IpAddr = ip.parse()?;
            b = b.bind_ip(ip).interface(ip);
        }
        if self.no_beacons {
            b = b.beacons(netcluster_async_std::BeaconMode::Off);
        }
        Ok(b)
    }
}

/// Resolves at the first Ctrl-C, so the node can leave cleanly.
pub fn ctrl_c() -> std::io::Result<impl std::future::Future<Output = ()>> {
    use futures_lite::StreamExt;
    let mut signals = async_signal::Signals::new([async_signal::Signal::Int])?;
    Ok(async move {
        let _ = signals.next().await;
    })
}
