//! The ACL token of each request: from a file when one is configured (re-read when its
//! modification time or size changes, so a rotated token is used without a restart; checking
//! costs one `stat` per request), else the static token.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use super::config::AclToken;
use super::error::ConsulError;

#[derive(Debug)]
pub(crate) struct TokenSource {
    static_token: Option<AclToken>,
    file: Option<TokenFile>,
}

#[derive(Debug)]
struct TokenFile {
    path: PathBuf,
    cache: Mutex<Cached>,
}

/// What identifies a version of the file: modification time and size.
type Stamp = (Option<SystemTime>, u64);

#[derive(Debug)]
struct Cached {
    stamp: Stamp,
    token: Option<AclToken>,
}

impl TokenSource {
    /// Reads the token file once now, so that a missing file is a configuration error (the
    /// Go client's `Error loading token file: ...`).
    pub(crate) fn new(
        static_token: Option<AclToken>,
        file: Option<PathBuf>,
    ) -> Result<Self, ConsulError> {
        let file = match file {
            Some(path) => {
                let (stamp, token) = read(&path).map_err(|err| {
                    ConsulError::InvalidConfig(format!("Error loading token file: {err}"))
                })?;
                Some(TokenFile {
                    path,
                    cache: Mutex::new(Cached { stamp, token }),
                })
            }
            None => None,
        };
        Ok(Self { static_token, file })
    }

    /// The token for the next request.
    pub(crate) fn current(&self) -> Option<AclToken> {
        let from_file = self.file.as_ref().and_then(TokenFile::current);
        from_file.or_else(|| self.static_token.clone())
    }
}

impl TokenFile {
    fn current(&self) -> Option<AclToken> {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        match stamp(&self.path) {
            Ok(stamp) if stamp == cache.stamp => {}
            Ok(_) => match read(&self.path) {
                Ok((stamp, token)) => {
                    tracing::info!(path = %self.path.display(), "Consul ACL token file changed; using the new token");
                    *cache = Cached { stamp, token };
                }
                Err(err) => {
                    tracing::warn!(%err, "cannot re-read the Consul ACL token file; keeping the last token read");
                }
            },
            Err(err) => {
                tracing::warn!(%err, "cannot stat the Consul ACL token file; keeping the last token read");
            }
        }
        cache.token.clone()
    }
}

fn stamp(path: &Path) -> Result<Stamp, String> {
    let metadata = fs::metadata(path).map_err(|err| go_io_error("open", path, &err))?;
    Ok((metadata.modified().ok(), metadata.len()))
}

/// The stamp and the trimmed content; an empty file means "no token from the file". The stamp
/// is taken first, so a change racing with the read shows up as a change next time.
fn read(path: &Path) -> Result<(Stamp, Option<AclToken>), String> {
    let before = stamp(path)?;
    let content = fs::read_to_string(path).map_err(|err| go_io_error("open", path, &err))?;
    let token = content.trim();
    Ok((before, (!token.is_empty()).then(|| AclToken::new(token))))
}

/// An I/O error worded like Go's `*PathError` (`open /x: no such file or directory`).
pub(crate) fn go_io_error(op: &str, path: &Path, err: &std::io::Error) -> String {
    let text = match err.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".to_owned(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_owned(),
        std::io::ErrorKind::IsADirectory => "is a directory".to_owned(),
        _ => err.to_string(),
    };
    format!("{op} {}: {text}", path.display())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_file(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("cpo-token-source-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        dir.join(name)
    }

    #[test]
    fn file_wins_and_is_reread_when_it_changes() {
        let path = temp_file("rotating");
        fs::write(&path, "first-token\n").unwrap();
        let source = TokenSource::new(Some(AclToken::new("static")), Some(path.clone())).unwrap();
        assert_eq!(source.current(), Some(AclToken::new("first-token")));
        // A different size is a change even within the file system's timestamp granularity.
        fs::write(&path, "second-token-longer").unwrap();
        assert_eq!(source.current(), Some(AclToken::new("second-token-longer")));
        // An empty file falls back to the static token, as Consul's client does.
        fs::write(&path, "  \n").unwrap();
        assert_eq!(source.current(), Some(AclToken::new("static")));
        // A vanished file keeps the last token read.
        fs::write(&path, "third").unwrap();
        assert_eq!(source.current(), Some(AclToken::new("third")));
        fs::remove_file(&path).unwrap();
        assert_eq!(source.current(), Some(AclToken::new("third")));
    }

    #[test]
    fn a_missing_file_is_a_configuration_error() {
        let path = temp_file("missing");
        let err = TokenSource::new(None, Some(path.clone())).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "Error loading token file: open {}: no such file or directory",
                path.display()
            )
        );
        assert_eq!(TokenSource::new(None, None).unwrap().current(), None);
    }
}
