//! Loading and reloading the zone files named by `--zone [ORIGIN=]FILE`.

use std::path::PathBuf;
use std::str::FromStr;

use hickory_proto::rr::{Name, RData};
use tracing::{error, info};

use super::handler::Catalog;
use crate::zone::parser::{parse_zone_file, ParsedZone};
use crate::zone::Zone;

/// One `--zone` argument: a file, optionally with its origin (`example.com=example.com.zone`).
/// Without an origin the file must say it (`$ORIGIN`, or an absolute SOA owner).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoneSpec {
    /// The origin given on the command line.
    pub origin: Option<Name>,
    /// The master file.
    pub path: PathBuf,
}

impl FromStr for ZoneSpec {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.split_once('=') {
            Some((origin, path)) if !origin.is_empty() && !path.is_empty() => {
                let mut origin =
                    Name::from_ascii(origin).map_err(|e| format!("zone origin {origin:?}: {e}"))?;
                origin.set_fqdn(true);
                Ok(ZoneSpec {
                    origin: Some(origin),
                    path: path.into(),
                })
            }
            Some(_) => Err(format!("{s:?}: write ORIGIN=FILE or FILE")),
            None if s.is_empty() => Err("empty zone file name".into()),
            None => Ok(ZoneSpec {
                origin: None,
                path: s.into(),
            }),
        }
    }
}

impl ZoneSpec {
    /// Parse and check the zone. Errors read `file:line: reason` (syntax) or `file: reason`.
    pub fn load(&self) -> Result<Zone, String> {
        let file = self.path.display().to_string();
        let parsed: ParsedZone = match &self.origin {
            Some(origin) => parse_zone_file(&self.path, origin).map_err(|e| e.to_string())?,
            None => {
                // Find the origin from the file itself, then read it again relative to it.
                let first =
                    parse_zone_file(&self.path, &Name::root()).map_err(|e| e.to_string())?;
                let origin = first
                    .records
                    .iter()
                    .find(|r| matches!(r.data, RData::SOA(_)))
                    .map(|r| r.name.clone())
                    .filter(|name| !name.is_root())
                    .ok_or_else(|| format!("{file}: cannot tell the zone's origin: add $ORIGIN to the file or pass --zone ORIGIN={file}"))?;
                parse_zone_file(&self.path, &origin).map_err(|e| e.to_string())?
            }
        };
        Zone::from_records(parsed.origin, parsed.records).map_err(|e| format!("{file}: {e}"))
    }
}

/// The `--zone` arguments and the origin each had when it last loaded (so a file that breaks
/// on reload can keep serving its previous version even when its origin came from the file).
#[derive(Debug, Default)]
pub struct ZoneSet {
    specs: Vec<ZoneSpec>,
    origins: std::sync::Mutex<Vec<Option<Name>>>,
}

impl ZoneSet {
    /// The zones named on the command line.
    pub fn new(specs: Vec<ZoneSpec>) -> Self {
        let origins = std::sync::Mutex::new(specs.iter().map(|s| s.origin.clone()).collect());
        ZoneSet { specs, origins }
    }

    /// Whether no zone was named.
    pub fn is_empty(&self) -> bool {
        self.specs.is_empty()
    }

    /// Load every zone; the first error fails (at start-up: exit 2 with that line).
    pub fn load(&self) -> Result<Catalog, String> {
        let mut zones = Vec::with_capacity(self.specs.len());
        let mut origins = Vec::with_capacity(self.specs.len());
        for spec in &self.specs {
            let zone = spec.load()?;
            info!(
                "loaded zone {} (serial {}, {} records) from {}",
                zone.origin(),
                zone.serial(),
                zone.len(),
                spec.path.display()
            );
            origins.push(Some(zone.origin().clone()));
            zones.push(zone);
        }
        *self.origins.lock().unwrap_or_else(|p| p.into_inner()) = origins;
        Ok(Catalog::new(zones))
    }

    /// Reload (SIGHUP): a zone whose file is now broken keeps serving its previous version,
    /// and the error is logged as `file:line: reason`.
    pub fn reload(&self, previous: &Catalog) -> Catalog {
        let mut origins = self.origins.lock().unwrap_or_else(|p| p.into_inner());
        let mut zones = Vec::with_capacity(self.specs.len());
        for (i, spec) in self.specs.iter().enumerate() {
            match spec.load() {
                Ok(zone) => {
                    info!("reloaded zone {} (serial {})", zone.origin(), zone.serial());
                    if let Some(slot) = origins.get_mut(i) {
                        *slot = Some(zone.origin().clone());
                    }
                    zones.push(zone);
                }
                Err(e) => {
                    error!("{e}; keeping the previous version");
                    let known = origins.get(i).cloned().flatten();
                    if let Some(old) = previous
                        .zones()
                        .iter()
                        .find(|z| Some(z.origin()) == known.as_ref())
                    {
                        zones.push(Zone::clone(old));
                    }
                }
            }
        }
        Catalog::new(zones)
    }
}
