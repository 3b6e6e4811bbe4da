//! TLS configuration from PEM files (rustls with the *ring* provider), and a reloadable server
//! configuration so SIGHUP can swap certificates without dropping connections.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use rustls::{ClientConfig, RootCertStore, ServerConfig};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::{TlsAcceptor, TlsConnector};

/// Where Debian (and most Linux distributions) keep the system trust store.
pub const SYSTEM_CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// A problem loading TLS material; the message names the file.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The file could not be read or held no usable PEM item.
    #[error("{path}: {reason}")]
    Pem {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        reason: String,
    },
    /// rustls rejected the material (e.g. key does not match certificate).
    #[error("{0}")]
    Rustls(#[from] rustls::Error),
}

fn pem_err(path: &Path, reason: impl ToString) -> TlsError {
    TlsError::Pem {
        path: path.to_owned(),
        reason: reason.to_string(),
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Load a certificate chain (first the leaf) from a PEM file.
pub fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| pem_err(path, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_err(path, e))?;
    if certs.is_empty() {
        return Err(pem_err(path, "no CERTIFICATE found"));
    }
    Ok(certs)
}

/// Load a private key (PKCS#8, PKCS#1 or SEC1) from a PEM file.
pub fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_file(path)
        .map_err(|e| pem_err(path, format!("no usable private key: {e}")))
}

/// A server configuration from a key file and a certificate file (they may be the same file,
/// as Twisted's `certKey` defaults to `privateKey`).
pub fn server_config(key: &Path, cert: &Path) -> Result<Arc<ServerConfig>, TlsError> {
    let certs = load_certs(cert)?;
    let key = load_key(key)?;
    let config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    Ok(Arc::new(config))
}

/// A client configuration trusting the CA certificates in `trust_roots`, or the system bundle
/// (`SSL_CERT_FILE` if set, else [`SYSTEM_CA_BUNDLE`]) when `None`.
pub fn client_config(trust_roots: Option<&Path>) -> Result<Arc<ClientConfig>, TlsError> {
    let env_path;
    let path = match trust_roots {
        Some(p) => p,
        None => {
            env_path = std::env::var_os("SSL_CERT_FILE")
                .map_or_else(|| PathBuf::from(SYSTEM_CA_BUNDLE), PathBuf::from);
            &env_path
        }
    };
    let mut roots = RootCertStore::empty();
    for cert in load_certs(path)? {
        roots.add(cert).map_err(|e| pem_err(path, e))?;
    }
    client_config_with_roots(roots)
}

/// A client configuration trusting exactly `roots`.
pub fn client_config_with_roots(roots: RootCertStore) -> Result<Arc<ClientConfig>, TlsError> {
    let config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// A connector for `trust_roots` (see [`client_config`]).
pub fn connector(trust_roots: Option<&Path>) -> Result<TlsConnector, TlsError> {
    Ok(TlsConnector::from(client_config(trust_roots)?))
}

/// Why a client could not set up TLS towards a server (for the protocol's `Tls` error).
#[derive(Debug, thiserror::Error)]
pub enum ClientTlsError {
    /// The trust roots could not be loaded.
    #[error("{0}")]
    Config(#[from] TlsError),
    /// The host is not something a certificate can name.
    #[error("{host:?}: {reason}")]
    Name {
        /// The host as given.
        host: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The handshake or the certificate check failed.
    #[error("handshake with {host}: {source}")]
    Handshake {
        /// The host.
        host: String,
        /// What failed.
        source: std::io::Error,
    },
}

/// The name a server certificate must carry for `host` (a name or an address; an IPv6
/// literal may keep its brackets, as in `[::1]:993`).
pub fn server_name(host: &str) -> Result<rustls_pki_types::ServerName<'static>, ClientTlsError> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    rustls_pki_types::ServerName::try_from(bare.to_owned()).map_err(|e| ClientTlsError::Name {
        host: bare.to_owned(),
        reason: e.to_string(),
    })
}

/// A server TLS configuration that can be reloaded from its files (SIGHUP). Connections keep
/// the configuration they started with; new handshakes use the newest.
#[derive(Debug, Clone)]
pub struct ReloadableServerConfig {
    key: PathBuf,
    cert: PathBuf,
    current: Arc<RwLock<Arc<ServerConfig>>>,
}

impl ReloadableServerConfig {
    /// Load the files now.
    pub fn load(key: &Path, cert: &Path) -> Result<Self, TlsError> {
        let config = server_config(key, cert)?;
        Ok(ReloadableServerConfig {
            key: key.to_owned(),
            cert: cert.to_owned(),
            current: Arc::new(RwLock::new(config)),
        })
    }

    /// Re-read the files. On error the previous configuration stays in force.
    pub fn reload(&self) -> Result<(), TlsError> {
        let config = server_config(&self.key, &self.cert)?;
        match self.current.write() {
            Ok(mut guard) => *guard = config,
            Err(poisoned) => *poisoned.into_inner() = config,
        }
        Ok(())
    }

    /// The configuration in force.
    pub fn config(&self) -> Arc<ServerConfig> {
        match self.current.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// An acceptor for the configuration in force.
    pub fn acceptor(&self) -> TlsAcceptor {
        TlsAcceptor::from(self.config())
    }

    /// The certificate file.
    pub fn cert_path(&self) -> &Path {
        &self.cert
    }
}
