//! The TLS client configuration for HTTPS Consul: CA bundle (replacing the system roots, as
//! Consul's client does), client certificate, verification against a configured server name,
//! and the ring provider chosen explicitly (kube and reqwest both bring rustls providers).

use std::fs;
use std::path::Path;
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

use super::config::ConsulConfig;
use super::error::ConsulError;
use super::token_source::go_io_error;

fn invalid(message: String) -> ConsulError {
    ConsulError::InvalidConfig(message)
}

/// The rustls configuration. Built for `http://` Consuls too (without the system roots), as
/// Consul's client does: the certificate files are checked either way, and reqwest needs a
/// configuration whose provider is chosen here rather than a process-wide default.
pub(crate) fn client_config(
    config: &ConsulConfig,
    https: bool,
) -> Result<ClientConfig, ConsulError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let roots = if config.tls_skip_verify {
        RootCertStore::empty()
    } else {
        root_store(config, https)?
    };
    let verifier: Arc<dyn ServerCertVerifier> = if config.tls_skip_verify {
        Arc::new(AnyCertificate {
            provider: provider.clone(),
            accept: true,
        })
    } else if roots.is_empty() {
        // An http:// Consul, or a system without CA certificates: any TLS is refused.
        Arc::new(AnyCertificate {
            provider: provider.clone(),
            accept: false,
        })
    } else {
        let roots = Arc::new(roots);
        let webpki = WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
            .build()
            .map_err(|err| invalid(format!("TLS verifier: {err}")))?;
        match config.verify_name() {
            Some(name) => {
                let name = ServerName::try_from(name.to_owned())
                    .map_err(|err| invalid(format!("invalid TLS server name {name:?}: {err}")))?;
                Arc::new(VerifyAs {
                    inner: webpki,
                    name,
                })
            }
            None => webpki,
        }
    };
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|err| invalid(format!("TLS versions: {err}")))?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let mut tls = match (&config.client_cert, &config.client_key) {
        (Some(cert), Some(key)) => {
            let chain = certificates(cert)?;
            let key = private_key(key)?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|err| invalid(format!("client certificate: {err}")))?
        }
        (None, None) => builder.with_no_client_auth(),
        _ => {
            return Err(invalid(
                "both client cert and client key must be provided".into(),
            ));
        }
    };
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(tls)
}

/// The CAs from `ca_file` and `ca_path`; the system roots when neither is set (and they can be
/// needed).
fn root_store(config: &ConsulConfig, https: bool) -> Result<RootCertStore, ConsulError> {
    let mut certs = vec![];
    if let Some(file) = &config.ca_file {
        certs.extend(
            certificates(file).map_err(|e| invalid(format!("Error loading CA File: {e}")))?,
        );
    }
    if let Some(dir) = &config.ca_path {
        let entries = fs::read_dir(dir).map_err(|err| {
            invalid(format!(
                "Error loading CA Path: {}",
                go_io_error("open", dir, &err)
            ))
        })?;
        for entry in entries.flatten() {
            if entry.path().is_file() {
                certs.extend(
                    certificates(&entry.path())
                        .map_err(|e| invalid(format!("Error loading CA Path: {e}")))?,
                );
            }
        }
    }
    let mut store = RootCertStore::empty();
    if config.ca_file.is_none() && config.ca_path.is_none() {
        if !https {
            return Ok(store);
        }
        let native = rustls_native_certs::load_native_certs();
        store.add_parsable_certificates(native.certs);
        return Ok(store);
    }
    for cert in certs {
        store
            .add(cert)
            .map_err(|err| invalid(format!("invalid CA certificate: {err}")))?;
    }
    Ok(store)
}

/// Every certificate of a PEM file; a file without any is an error.
fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, ConsulError> {
    let pem = fs::read(path).map_err(|err| invalid(go_io_error("open", path, &err)))?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| invalid(format!("{}: {err}", path.display())))?;
    if certs.is_empty() {
        return Err(invalid(format!(
            "{}: no PEM certificates found",
            path.display()
        )));
    }
    Ok(certs)
}

fn private_key(path: &Path) -> Result<PrivateKeyDer<'static>, ConsulError> {
    let pem = fs::read(path).map_err(|err| invalid(go_io_error("open", path, &err)))?;
    // The parser's errors name the PEM section, never the key material.
    PrivateKeyDer::from_pem_slice(&pem).map_err(|err| invalid(format!("{}: {err}", path.display())))
}

/// Verifies the server certificate against a fixed name instead of the URL's host
/// (`CONSUL_TLS_SERVER_NAME`), e.g. when Consul is addressed by IP.
#[derive(Debug)]
struct VerifyAs {
    inner: Arc<WebPkiServerVerifier>,
    name: ServerName<'static>,
}

impl ServerCertVerifier for VerifyAs {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _url_host: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.inner
            .verify_server_cert(end_entity, intermediates, &self.name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// Every certificate accepted (`CONSUL_HTTP_SSL_VERIFY=false`; handshake signatures are still
/// checked) or every certificate refused (no trust anchors at all).
#[derive(Debug)]
struct AnyCertificate {
    provider: Arc<CryptoProvider>,
    accept: bool,
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
        if self.accept {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::UnknownIssuer,
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.provider.signature_verification_algorithms;
        verify_tls12_signature(message, cert, dss, algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.provider.signature_verification_algorithms;
        verify_tls13_signature(message, cert, dss, algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
