//! TLS for the client: a verifying connector (STARTTLS required, implicit TLS) and the
//! non-verifying one opportunistic STARTTLS uses.
//!
//! Why not verify opportunistically: MX certificates are commonly self-signed or name the
//! wrong host, and a sender that insisted would fall back to plaintext (worse) or not deliver.
//! RFC 7435 §1.3: opportunistic security protects against passive monitoring; MTA-STS/DANE
//! are how a domain asks for more. The handshake signatures are still checked against the
//! certificate's key, so the session is bound to *some* key; only the chain is not.

use std::path::Path;
use std::sync::{Arc, OnceLock};

use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use tokio_rustls::rustls::client::danger::{
    HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier,
};
use tokio_rustls::rustls::crypto::{
    ring, verify_tls12_signature, verify_tls13_signature, WebPkiSupportedAlgorithms,
};
use tokio_rustls::rustls::{self, DigitallySignedStruct, SignatureScheme};
use tokio_rustls::TlsConnector;

use super::error::ClientError;

/// A connector verifying the server's certificate against `trust_roots` (PEM; `None`: the
/// system store).
pub fn verifying_connector(trust_roots: Option<&Path>) -> Result<TlsConnector, ClientError> {
    torsion_core::tls::connector(trust_roots).map_err(|e| ClientError::Tls(e.to_string()))
}

/// A connector that accepts any certificate (opportunistic STARTTLS). Built once.
pub fn opportunistic_connector() -> Result<TlsConnector, ClientError> {
    static CONFIG: OnceLock<Result<Arc<rustls::ClientConfig>, String>> = OnceLock::new();
    let config = CONFIG.get_or_init(|| {
        let provider = Arc::new(ring::default_provider());
        let verifier = AnyCertificate {
            algorithms: provider.signature_verification_algorithms,
        };
        rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map(|builder| {
                Arc::new(
                    builder
                        .dangerous()
                        .with_custom_certificate_verifier(Arc::new(verifier))
                        .with_no_client_auth(),
                )
            })
            .map_err(|e| e.to_string())
    });
    match config {
        Ok(config) => Ok(TlsConnector::from(config.clone())),
        Err(e) => Err(ClientError::Tls(e.clone())),
    }
}

/// The TLS name for `host` (a DNS name or an IP address).
pub fn server_name(host: &str) -> Result<ServerName<'static>, ClientError> {
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    ServerName::try_from(host.to_owned())
        .map_err(|e| ClientError::Tls(format!("{host:?} is not a TLS server name: {e}")))
}

/// Accepts every certificate chain; still verifies handshake signatures.
#[derive(Debug)]
struct AnyCertificate {
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}
