//! TLS for libpq's `sslmode` through rustls: which checks each mode makes,
//! the root certificates, and the two verifiers libpq's modes need beyond
//! rustls' own (no checks; the chain without the name).

use std::path::PathBuf;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

use super::SslMode;
use crate::error::{Error, Result};

/// The rustls configuration for `mode`, with `root_cert` (a PEM file, or
/// `system`) for the modes that check the chain.
///
/// # Errors
/// [`Error::Config`]: the root certificates cannot be read or hold none.
pub fn client_config(mode: SslMode, root_cert: Option<&str>) -> Result<ClientConfig> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Config(format!("TLS setup: {e}")))?;
    let verify = match mode {
        SslMode::VerifyFull => Some(true),
        SslMode::VerifyCa => Some(false),
        SslMode::Require if root_cert.is_some() => Some(false),
        _ => None,
    };
    let config = match verify {
        None => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCert(provider)))
            .with_no_client_auth(),
        Some(check_name) => {
            let roots = Arc::new(root_store(root_cert)?);
            let webpki = WebPkiServerVerifier::builder_with_provider(roots, provider)
                .build()
                .map_err(|e| Error::Config(format!("TLS root certificates: {e}")))?;
            if check_name {
                builder.with_webpki_verifier(webpki).with_no_client_auth()
            } else {
                builder
                    .dangerous()
                    .with_custom_certificate_verifier(Arc::new(ChainOnly(webpki)))
                    .with_no_client_auth()
            }
        }
    };
    Ok(config)
}

fn root_store(root_cert: Option<&str>) -> Result<RootCertStore> {
    let mut store = RootCertStore::empty();
    match root_cert {
        None | Some("system") => {
            let found = rustls_native_certs::load_native_certs();
            for cert in found.certs {
                let _ = store.add(cert);
            }
        }
        Some(path) => {
            let path = PathBuf::from(path);
            let pem = std::fs::read(&path)
                .map_err(|e| Error::Config(format!("sslrootcert {}: {e}", path.display())))?;
            let mut reader = std::io::BufReader::new(&pem[..]);
            for cert in rustls_pemfile::certs(&mut reader) {
                let cert = cert
                    .map_err(|e| Error::Config(format!("sslrootcert {}: {e}", path.display())))?;
                store
                    .add(cert)
                    .map_err(|e| Error::Config(format!("sslrootcert {}: {e}", path.display())))?;
            }
        }
    }
    if store.is_empty() {
        return Err(Error::Config(
            "sslrootcert: no CA certificates found to verify the server with".into(),
        ));
    }
    Ok(store)
}

/// `require` and `prefer` without a root certificate: encrypted, but the
/// server's identity is not checked (libpq's behaviour). Handshake
/// signatures are still verified, so the session key belongs to whoever
/// holds the presented certificate.
#[derive(Debug)]
struct AcceptAnyCert(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        unparsed_is_unchecked(rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        ))
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        unparsed_is_unchecked(rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        ))
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// In the modes that check no certificate (`prefer`, `require`), one that
/// webpki cannot read (an X.509 v1 certificate, which Citus makes for
/// itself; an odd encoding) is not a reason to refuse: libpq accepts it
/// there, and nothing would be checked against it anyway. A signature that
/// does not match a readable certificate is still refused.
fn unparsed_is_unchecked(
    checked: std::result::Result<HandshakeSignatureValid, rustls::Error>,
) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
    match checked {
        Err(rustls::Error::InvalidCertificate(
            rustls::CertificateError::BadEncoding | rustls::CertificateError::Other(_),
        )) => Ok(HandshakeSignatureValid::assertion()),
        other => other,
    }
}

/// `verify-ca`: the chain must lead to a trusted root; the name may differ.
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::NotValidForName
                | rustls::CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}
