//! What the Kubernetes API emulator and the Consul emulator share: a private certificate
//! authority for their HTTPS listeners, one accept loop that serves an axum router over
//! plain HTTP or TLS (HTTP/1.1 and HTTP/2), and Go's JSON and `fmt` output ([`gojson`],
//! [`gofmt`]) so that both answer with the bytes their Go originals send.
//!
//! This crate belongs to the test world; the production operator never links it.

pub mod gofmt;
pub mod gojson;

use std::future::Future;
use std::net::IpAddr;
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use rustls::ServerConfig;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};
use tokio::net::TcpListener;

/// Installs rustls' ring crypto provider for the process. Idempotent; call it before any TLS
/// configuration is built (kube and reqwest both pull in rustls and would otherwise panic on an
/// ambiguous provider).
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A PEM certificate and its PEM private key.
#[derive(Clone)]
pub struct CertifiedKey {
    pub cert_pem: String,
    pub key_pem: String,
}

impl std::fmt::Debug for CertifiedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertifiedKey")
            .field("cert_pem", &self.cert_pem)
            .field("key_pem", &"<redacted>")
            .finish()
    }
}

/// A self-signed certificate authority that issues server and client certificates.
pub struct Pki {
    ca_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl Pki {
    /// A new CA whose subject common name is `common_name`.
    pub fn new(common_name: &str) -> Self {
        let mut params = CertificateParams::default();
        params.distinguished_name = distinguished_name(common_name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let key = KeyPair::generate().expect("ring generates ECDSA P-256 keys");
        let cert = params
            .self_signed(&key)
            .expect("a CA built from constant parameters signs itself");
        Pki {
            ca_pem: cert.pem(),
            issuer: Issuer::new(params, key),
        }
    }

    /// The CA certificate in PEM form (ends with a newline).
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// A server certificate for the given DNS names and IP addresses (`"127.0.0.1"`,
    /// `"localhost"`, `"server.dc1.peering.<domain>"`, ...).
    pub fn issue_server(&self, subject_alt_names: &[&str]) -> CertifiedKey {
        let common_name = subject_alt_names.first().copied().unwrap_or("server");
        self.issue(
            common_name,
            subject_alt_names,
            ExtendedKeyUsagePurpose::ServerAuth,
        )
    }

    /// A client certificate whose subject common name is `common_name` (Kubernetes reads the
    /// user name from it).
    pub fn issue_client(&self, common_name: &str) -> CertifiedKey {
        self.issue(common_name, &[], ExtendedKeyUsagePurpose::ClientAuth)
    }

    fn issue(
        &self,
        common_name: &str,
        subject_alt_names: &[&str],
        usage: ExtendedKeyUsagePurpose,
    ) -> CertifiedKey {
        let names: Vec<String> = subject_alt_names.iter().map(|s| s.to_string()).collect();
        let mut params = CertificateParams::new(names).unwrap_or_else(|e| {
            panic!("invalid subject alternative name in {subject_alt_names:?}: {e}")
        });
        params.distinguished_name = distinguished_name(common_name);
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![usage];
        params.use_authority_key_identifier_extension = true;
        let key = KeyPair::generate().expect("ring generates ECDSA P-256 keys");
        let cert = params
            .signed_by(&key, &self.issuer)
            .expect("the CA signs a leaf certificate");
        CertifiedKey {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        }
    }
}

fn distinguished_name(common_name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common_name);
    dn
}

/// A rustls server configuration for `server` that offers HTTP/2 and HTTP/1.1. With
/// `client_ca_pem`, clients must present a certificate signed by that CA.
pub fn server_config(server: &CertifiedKey, client_ca_pem: Option<&str>) -> Arc<ServerConfig> {
    install_crypto_provider();
    let certs: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(server.cert_pem.as_bytes())
            .collect::<Result<_, _>>()
            .expect("issued certificate is valid PEM");
    let key =
        PrivateKeyDer::from_pem_slice(server.key_pem.as_bytes()).expect("issued key is valid PEM");
    let builder = ServerConfig::builder();
    let builder = match client_ca_pem {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            for cert in CertificateDer::pem_slice_iter(ca.as_bytes()) {
                roots
                    .add(cert.expect("client CA is valid PEM"))
                    .expect("client CA is a valid certificate");
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder(Arc::new(roots))
                .build()
                .expect("client verifier from a non-empty root store");
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder
        .with_single_cert(certs, key)
        .expect("issued certificate matches its key");
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Arc::new(config)
}

/// Serves `app` on `listener` until `shutdown` completes, over TLS when `tls` is given.
/// Each connection runs in its own task; open connections (and long-running watches) end when
/// `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    app: axum::Router,
    tls: Option<Arc<ServerConfig>>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    use hyper_util::rt::{TokioExecutor, TokioIo};
    use hyper_util::server::conn::auto::Builder;
    use hyper_util::service::TowerToHyperService;

    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    tracing::debug!(error = %e, "accept failed");
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(app.clone());
        let acceptor = acceptor.clone();
        let mut stop = stop_rx.clone();
        tokio::spawn(async move {
            let builder = Builder::new(TokioExecutor::new());
            let result = match acceptor {
                None => {
                    let conn =
                        builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
                    tokio::pin!(conn);
                    tokio::select! {
                        r = conn.as_mut() => r,
                        _ = stop.changed() => return,
                    }
                }
                Some(acceptor) => {
                    let tls = match acceptor.accept(stream).await {
                        Ok(tls) => tls,
                        Err(e) => {
                            tracing::debug!(%peer, error = %e, "TLS handshake failed");
                            return;
                        }
                    };
                    let conn = builder.serve_connection_with_upgrades(TokioIo::new(tls), service);
                    tokio::pin!(conn);
                    tokio::select! {
                        r = conn.as_mut() => r,
                        _ = stop.changed() => return,
                    }
                }
            };
            if let Err(e) = result {
                tracing::trace!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
    let _ = stop_tx.send(true);
}

/// The IP address of the loopback interface, where every emulator listens.
pub const LOOPBACK: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn serves_https_with_issued_certificate_and_requires_client_cert_when_asked() {
        install_crypto_provider();
        let pki = Pki::new("test-ca");
        let server = pki.issue_server(&["127.0.0.1", "localhost"]);
        let app = axum::Router::new().route("/", axum::routing::get(|| async { "hello" }));
        let listener = TcpListener::bind((LOOPBACK, 0)).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(serve(
            listener,
            app,
            Some(server_config(&server, Some(pki.ca_pem()))),
            async {
                let _ = rx.await;
            },
        ));

        // A client without a certificate is refused during the handshake.
        let roots = {
            let mut r = rustls::RootCertStore::empty();
            for c in CertificateDer::pem_slice_iter(pki.ca_pem().as_bytes()) {
                r.add(c.unwrap()).unwrap();
            }
            Arc::new(r)
        };
        let no_cert = rustls::ClientConfig::builder()
            .with_root_certificates(roots.clone())
            .with_no_client_auth();
        assert!(get(no_cert, addr).await.is_err());

        let client = pki.issue_client("alice");
        let with_cert = rustls::ClientConfig::builder()
            .with_root_certificates(roots)
            .with_client_auth_cert(
                CertificateDer::pem_slice_iter(client.cert_pem.as_bytes())
                    .collect::<Result<Vec<_>, _>>()
                    .unwrap(),
                PrivateKeyDer::from_pem_slice(client.key_pem.as_bytes()).unwrap(),
            )
            .unwrap();
        let body = get(with_cert, addr).await.unwrap();
        assert!(body.ends_with("hello"), "{body}");
        tx.send(()).unwrap();
        task.await.unwrap();
    }

    async fn get(
        config: rustls::ClientConfig,
        addr: std::net::SocketAddr,
    ) -> std::io::Result<String> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
        let tcp = tokio::net::TcpStream::connect(addr).await?;
        let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
        let mut tls = connector.connect(name, tcp).await?;
        tls.write_all(b"GET / HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n")
            .await?;
        let mut out = String::new();
        tls.read_to_string(&mut out).await?;
        Ok(out)
    }
}
