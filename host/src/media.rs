//! The media store: bytes that arrive with a message (email attachments), kept by content
//! hash in a folder (`[media] dir`).
//!
//! A file is named by the SHA-256 of its bytes, so the same attachment sent twice (or a
//! redelivered mail) is kept once, and a name can never point at other bytes. Files are
//! written to a temporary name, synced and renamed into place before the message that names
//! them is stored, so a stored message never names a file that is not on disk. A file whose
//! message then fails to store stays behind unnamed; the provider's retry reuses it.
//!
//! Messages name a stored file as `media:<sha256>` in their attachment's `reference`;
//! [`rewrite_blobs`] turns a plugin's `blob:<id>` references into those, and anything it cannot
//! keep into `omitted:<why>`, so no stored reference dangles.

use crate::config::MediaConfig;
use crate::model::{Attachment, Event};
use crate::plugins::Blob;
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::PathBuf;

/// The prefix of a stored file's reference.
pub const MEDIA_PREFIX: &str = "media:";

#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    #[error("writing media file: {0}")]
    Io(#[from] std::io::Error),
    #[error("the media writer stopped: {0}")]
    Join(#[from] tokio::task::JoinError),
}

/// A folder of files named by their SHA-256.
#[derive(Debug, Clone)]
pub struct MediaStore {
    dir: PathBuf,
    max_file_bytes: usize,
}

impl MediaStore {
    pub fn new(config: &MediaConfig) -> Self {
        Self { dir: config.dir.clone(), max_file_bytes: config.max_file_bytes }
    }

    /// The size cap for a kept file (`media.max_file_bytes`).
    pub fn max_file_bytes(&self) -> usize {
        self.max_file_bytes
    }

    /// Whether a file is stored under `sha256`.
    pub async fn contains(&self, sha256: &str) -> bool {
        is_sha256(sha256) && tokio::fs::try_exists(self.path_of(sha256)).await.unwrap_or(false)
    }

    fn path_of(&self, sha256: &str) -> PathBuf {
        self.dir.join(&sha256[..2]).join(sha256)
    }

    /// Keep `data`; returns its SHA-256 (lowercase hex). Durable when this returns.
    pub async fn put(&self, data: impl Into<bytes::Bytes>) -> Result<String, MediaError> {
        // `Bytes` either way: a request body is kept without a copy, a plugin's `Vec` moves in.
        let data: bytes::Bytes = data.into();
        let sha256 = hex::encode(Sha256::digest(&data));
        let path = self.path_of(&sha256);
        // File system calls block: off the runtime's threads.
        tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            if path.exists() {
                return Ok(());
            }
            let folder = path.parent().map(PathBuf::from).unwrap_or_default();
            std::fs::create_dir_all(&folder)?;
            let mut temporary = tempfile_in(&folder)?;
            temporary.1.write_all(&data)?;
            temporary.1.sync_all()?;
            std::fs::rename(&temporary.0, &path)?;
            // The rename is durable once the folder is synced.
            std::fs::File::open(&folder)?.sync_all()?;
            Ok(())
        })
        .await??;
        Ok(sha256)
    }

    /// The bytes stored under `sha256`, or `None` when there are none (or the name is not a
    /// SHA-256 at all, so it cannot reach outside the folder).
    pub async fn get(&self, sha256: &str) -> Result<Option<Vec<u8>>, MediaError> {
        if !is_sha256(sha256) {
            return Ok(None);
        }
        match tokio::fs::read(self.path_of(sha256)).await {
            Ok(data) => Ok(Some(data)),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(error) => Err(error.into()),
        }
    }

    /// Store the blobs `events` name and rewrite every `blob:<id>` reference: to `media:<sha256>`
    /// for a kept file, `omitted:too_large` over the size cap, `omitted:missing` when the
    /// plugin named a blob it did not hand over.
    pub async fn rewrite_blobs(&self, events: &mut [Event], blobs: Vec<Blob>) -> Result<(), MediaError> {
        let mut stored: Vec<(String, Result<String, &'static str>)> = Vec::with_capacity(blobs.len());
        for blob in blobs {
            let kept = if blob.data.len() > self.max_file_bytes {
                tracing::warn!(bytes = blob.data.len(), cap = self.max_file_bytes, "attachment over media.max_file_bytes not kept");
                Err("too_large")
            } else {
                Ok(self.put(blob.data).await?)
            };
            stored.push((blob.id, kept));
        }
        for attachment in events.iter_mut().flat_map(attachments_of) {
            let Some(id) = attachment.reference.strip_prefix("blob:") else { continue };
            match stored.iter().find(|(blob, _)| blob == id).map(|(_, kept)| kept) {
                Some(Ok(sha256)) => {
                    attachment.reference = format!("{MEDIA_PREFIX}{sha256}");
                    attachment.sha256 = Some(sha256.clone());
                }
                Some(Err(why)) => attachment.reference = format!("omitted:{why}"),
                None => attachment.reference = "omitted:missing".into(),
            }
            attachment.url = None;
        }
        Ok(())
    }
}

fn attachments_of(event: &mut Event) -> &mut [Attachment] {
    match event {
        Event::Message(message) => &mut message.attachments,
        _ => &mut [],
    }
}

/// A new file with a unique name in `folder`, and its path.
fn tempfile_in(folder: &std::path::Path) -> std::io::Result<(PathBuf, std::fs::File)> {
    let mut suffix = [0u8; 8];
    getrandom::getrandom(&mut suffix).map_err(std::io::Error::other)?;
    let path = folder.join(format!(".incoming-{}", hex::encode(suffix)));
    let file = std::fs::OpenOptions::new().write(true).create_new(true).open(&path)?;
    Ok((path, file))
}

/// Whether `name` is 64 lowercase hex digits.
pub fn is_sha256(name: &str) -> bool {
    name.len() == 64 && name.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{InboundMessage, MediaKind, MessageKind, Party};

    fn message(references: &[&str]) -> Event {
        Event::Message(InboundMessage {
            external_id: "m1".into(),
            sender: Party { id: "ann@example.org".into(), ..Party::default() },
            recipient: None,
            kind: MessageKind::Document,
            text: None,
            attachments: references
                .iter()
                .map(|r| Attachment {
                    kind: MediaKind::Document,
                    reference: r.to_string(),
                    url: None,
                    mime_type: None,
                    filename: None,
                    caption: None,
                    sha256: None,
                })
                .collect(),
            reply_to: None,
            timestamp_ms: 0,
            echo: false,
            extra: None,
        })
    }

    #[tokio::test]
    async fn blobs_are_kept_by_hash_and_no_reference_dangles() {
        let dir = tempfile::tempdir().unwrap();
        let media = MediaStore::new(&MediaConfig { dir: dir.path().into(), max_file_bytes: 10 });
        let mut events = vec![message(&["blob:0", "blob:1", "blob:9", "wamid-media-id"])];
        let blobs = vec![
            Blob { id: "0".into(), mime_type: "text/plain".into(), data: b"hello".to_vec() },
            Blob { id: "1".into(), mime_type: "text/plain".into(), data: vec![0; 11] },
        ];
        media.rewrite_blobs(&mut events, blobs).await.unwrap();
        let Event::Message(stored) = &events[0] else { unreachable!() };
        let hello = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";
        assert_eq!(stored.attachments[0].reference, format!("media:{hello}"));
        assert_eq!(stored.attachments[0].sha256.as_deref(), Some(hello));
        assert_eq!(stored.attachments[1].reference, "omitted:too_large");
        assert_eq!(stored.attachments[2].reference, "omitted:missing");
        assert_eq!(stored.attachments[3].reference, "wamid-media-id", "provider references are left alone");
        assert_eq!(media.get(hello).await.unwrap().as_deref(), Some(&b"hello"[..]));
        // The same bytes again: one file, same name.
        assert_eq!(media.put(b"hello".to_vec()).await.unwrap(), hello);
        assert_eq!(std::fs::read_dir(dir.path().join("2c")).unwrap().count(), 1, "no temporary files left behind");
        assert_eq!(media.get("../../etc/passwd").await.unwrap(), None);
        assert_eq!(media.get(&"0".repeat(64)).await.unwrap(), None);
    }
}
