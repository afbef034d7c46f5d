//! A recording's bytes in an S3-compatible object store ([`object_store`]).
//!
//! Under the configured prefix, per recording `ID`:
//! - `ID.ghrec`, `ID.ghidx`, `ID.ghkf`: the whole files, once the proxy that wrote the
//!   session uploaded them at its end (the same names as in a local folder);
//! - `ID.parts/ghrec/OFFSET` (and `ghidx`, `ghkf`): chunks uploaded while the session
//!   runs, each the bytes of the file from `OFFSET` (16 hex digits) to the next chunk's.
//!   S3 multipart parts must be at least 5 MiB, so a slow session could not stay
//!   uploaded part by part; small objects can. Every chunk ends on a whole record (it
//!   is cut where the writer flushed), so what is stored always plays. The writer
//!   deletes the chunks once the whole files are up; a recording finished by the upload
//!   completer keeps them, and plays from them.
//!
//! Which objects make up a part, and which of them a byte range touches, is decided by
//! [`Layout`] and [`plan`] without I/O.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::{Arc, Mutex};

use futures_util::StreamExt;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload, WriteMultipart};

use super::part::Part;

/// Whole files up to this size are one PUT; larger ones a multipart upload of parts
/// this size (S3's minimum part is 5 MiB).
const PART_SIZE: usize = 8 << 20;
/// Layouts of finished recordings kept in memory (a player reads one many times).
const LAYOUT_CACHE: usize = 512;

/// One uploaded chunk of a part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    pub start: u64,
    pub len: u64,
}

/// Where a part's bytes are in the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Layout {
    Whole {
        len: u64,
    },
    /// Contiguous from byte 0, in order.
    Chunks(Vec<Chunk>),
}

impl Layout {
    pub fn len(&self) -> u64 {
        match self {
            Layout::Whole { len } => *len,
            Layout::Chunks(chunks) => chunks.last().map_or(0, |c| c.start + c.len),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The chunks listed (in any order, by start offset and size), as far as they run on
    /// from byte 0 without a gap: a chunk after a gap (an upload that failed and was
    /// never retried) cannot be placed in the file, so the part ends at the gap.
    pub fn from_listing(mut listed: Vec<Chunk>) -> Layout {
        listed.sort_by_key(|c| c.start);
        let mut chunks: Vec<Chunk> = Vec::with_capacity(listed.len());
        let mut next = 0;
        for chunk in listed {
            if chunk.start != next || chunk.len == 0 {
                if chunk.start < next {
                    continue; // the same bytes twice (a retried upload): keep the first
                }
                break;
            }
            next = chunk.start + chunk.len;
            chunks.push(chunk);
        }
        Layout::Chunks(chunks)
    }
}

/// Which pieces of which objects make the bytes `range` of a part laid out as `layout`:
/// `(chunk index, range inside that chunk)`, in order; `None` for the chunk index of a
/// whole file. The range is cut at the part's end.
pub fn plan(layout: &Layout, range: Range<u64>) -> Vec<(Option<usize>, Range<u64>)> {
    let end = range.end.min(layout.len());
    if range.start >= end {
        return Vec::new();
    }
    match layout {
        Layout::Whole { .. } => vec![(None, range.start..end)],
        Layout::Chunks(chunks) => chunks
            .iter()
            .enumerate()
            .filter(|(_, c)| c.start < end && c.start + c.len > range.start)
            .map(|(i, c)| {
                let from = range.start.max(c.start) - c.start;
                let to = end.min(c.start + c.len) - c.start;
                (Some(i), from..to)
            })
            .collect(),
    }
}

/// A chunk's name inside a part's folder: its start offset, 16 hex digits, so names
/// sort as offsets do.
pub fn chunk_name(start: u64) -> String {
    format!("{start:016x}")
}

fn parse_chunk_name(name: &str) -> Option<u64> {
    (name.len() == 16).then(|| u64::from_str_radix(name, 16).ok()).flatten()
}

fn store_error(what: &str, err: object_store::Error) -> std::io::Error {
    let kind = match err {
        object_store::Error::NotFound { .. } => std::io::ErrorKind::NotFound,
        _ => std::io::ErrorKind::Other,
    };
    std::io::Error::new(kind, format!("the object store could not {what}: {err}"))
}

/// The recordings' objects under one prefix of one store.
pub struct Objects {
    store: Arc<dyn ObjectStore>,
    prefix: ObjectPath,
    /// What the store shows to the world, for messages (`s3://bucket/prefix`).
    name: String,
    layouts: Mutex<HashMap<(String, Part), Layout>>,
}

impl std::fmt::Debug for Objects {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name)
    }
}

impl Objects {
    pub fn new(store: Arc<dyn ObjectStore>, prefix: &str, name: String) -> Objects {
        Objects { store, prefix: ObjectPath::from(prefix), name, layouts: Mutex::new(HashMap::new()) }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    fn whole(&self, id: &str, part: Part) -> ObjectPath {
        self.prefix.clone().join(format!("{id}.{}", part.extension()))
    }

    fn chunks_folder(&self, id: &str, part: Part) -> ObjectPath {
        self.prefix.clone().join(format!("{id}.parts")).join(part.extension())
    }

    fn all_chunks(&self, id: &str) -> ObjectPath {
        self.prefix.clone().join(format!("{id}.parts"))
    }

    /// Uploads the bytes of `part` from `start` as one chunk.
    pub async fn put_chunk(&self, id: &str, part: Part, start: u64, bytes: Vec<u8>) -> std::io::Result<()> {
        let path = self.chunks_folder(id, part).join(chunk_name(start));
        self.store.put(&path, PutPayload::from(bytes)).await.map_err(|e| store_error("store a recording chunk", e))?;
        Ok(())
    }

    /// Stores `bytes` as the whole part, in place of what was there (a search file
    /// written again).
    pub async fn put_bytes(&self, id: &str, part: Part, bytes: Vec<u8>) -> std::io::Result<()> {
        self.store
            .put(&self.whole(id, part), PutPayload::from(bytes))
            .await
            .map_err(|e| store_error("store a recording's search file", e))?;
        self.forget(id, part);
        Ok(())
    }

    /// Forgets the remembered layout of a part that was replaced.
    fn forget(&self, id: &str, part: Part) {
        self.layouts.lock().unwrap_or_else(|p| p.into_inner()).remove(&(id.to_string(), part));
    }

    /// Uploads a whole file as the part (in 8 MiB parts when it is larger than that).
    pub async fn put_whole(&self, id: &str, part: Part, file: &std::path::Path) -> std::io::Result<u64> {
        use tokio::io::AsyncReadExt;
        let path = self.whole(id, part);
        let mut input = tokio::fs::File::open(file).await?;
        let len = input.metadata().await?.len();
        if len <= PART_SIZE as u64 {
            let mut bytes = Vec::with_capacity(len as usize);
            input.read_to_end(&mut bytes).await?;
            self.store.put(&path, PutPayload::from(bytes)).await.map_err(|e| store_error("store a recording", e))?;
            self.forget(id, part);
            return Ok(len);
        }
        let upload = self.store.put_multipart(&path).await.map_err(|e| store_error("start an upload", e))?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, PART_SIZE);
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = input.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            writer.wait_for_capacity(2).await.map_err(|e| store_error("upload a recording", e))?;
            writer.write(&buf[..n]);
        }
        writer.finish().await.map_err(|e| store_error("finish uploading a recording", e))?;
        self.forget(id, part);
        Ok(len)
    }

    /// Deletes the chunks of every part (after the whole files are up).
    pub async fn delete_chunks(&self, id: &str) -> std::io::Result<()> {
        let prefix = self.all_chunks(id);
        let mut listed = self.store.list(Some(&prefix));
        let mut paths = Vec::new();
        while let Some(meta) = listed.next().await {
            paths.push(meta.map_err(|e| store_error("list a recording's chunks", e))?.location);
        }
        for path in paths {
            match self.store.delete(&path).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(err) => return Err(store_error("delete a recording chunk", err)),
            }
        }
        Ok(())
    }

    /// Where `part` of recording `id` is, or `None` when the store has none of it. A
    /// finished recording's layout never changes, so it is remembered.
    pub async fn layout(&self, id: &str, part: Part, finished: bool) -> std::io::Result<Option<Layout>> {
        let key = (id.to_string(), part);
        if finished && let Some(layout) = self.layouts.lock().unwrap_or_else(|p| p.into_inner()).get(&key) {
            return Ok(Some(layout.clone()));
        }
        let layout = match self.store.head(&self.whole(id, part)).await {
            Ok(meta) => Some(Layout::Whole { len: meta.size }),
            Err(object_store::Error::NotFound { .. }) => {
                let folder = self.chunks_folder(id, part);
                let mut listed = self.store.list(Some(&folder));
                let mut chunks = Vec::new();
                while let Some(meta) = listed.next().await {
                    let meta = meta.map_err(|e| store_error("list a recording's chunks", e))?;
                    if let Some(start) = meta.location.filename().and_then(parse_chunk_name) {
                        chunks.push(Chunk { start, len: meta.size });
                    }
                }
                (!chunks.is_empty()).then(|| Layout::from_listing(chunks))
            }
            Err(err) => return Err(store_error("look up a recording", err)),
        };
        if finished && let Some(layout) = &layout {
            let mut cache = self.layouts.lock().unwrap_or_else(|p| p.into_inner());
            if cache.len() >= LAYOUT_CACHE {
                cache.clear();
            }
            cache.insert(key, layout.clone());
        }
        Ok(layout)
    }

    /// The bytes `range` of a part laid out as `layout` (cut at its end), with one
    /// ranged GET per object it touches.
    pub async fn read(&self, id: &str, part: Part, layout: &Layout, range: Range<u64>) -> std::io::Result<Vec<u8>> {
        let mut out = Vec::new();
        for (chunk, within) in plan(layout, range) {
            let path = match (chunk, layout) {
                (Some(i), Layout::Chunks(chunks)) => self.chunks_folder(id, part).join(chunk_name(chunks[i].start)),
                _ => self.whole(id, part),
            };
            let bytes = self.store.get_range(&path, within).await.map_err(|e| store_error("read a recording", e))?;
            out.extend_from_slice(&bytes);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunks(spec: &[(u64, u64)]) -> Vec<Chunk> {
        spec.iter().map(|&(start, len)| Chunk { start, len }).collect()
    }

    #[test]
    fn chunks_make_a_part_as_far_as_they_run_without_a_gap() {
        let layout = Layout::from_listing(chunks(&[(10, 5), (0, 10), (15, 1)]));
        assert_eq!(layout, Layout::Chunks(chunks(&[(0, 10), (10, 5), (15, 1)])));
        assert_eq!(layout.len(), 16);
        // A chunk that could not be placed ends the part where the gap is.
        assert_eq!(Layout::from_listing(chunks(&[(0, 10), (12, 5)])).len(), 10);
        assert_eq!(Layout::from_listing(chunks(&[(3, 10)])).len(), 0);
        // The same start twice (an upload retried): one of them.
        assert_eq!(Layout::from_listing(chunks(&[(0, 4), (0, 4), (4, 2)])).len(), 6);
    }

    #[test]
    fn a_range_reads_just_the_chunks_it_touches() {
        let layout = Layout::Chunks(chunks(&[(0, 10), (10, 5), (15, 100)]));
        assert_eq!(plan(&layout, 0..8), vec![(Some(0), 0..8)]);
        assert_eq!(plan(&layout, 8..12), vec![(Some(0), 8..10), (Some(1), 0..2)]);
        assert_eq!(plan(&layout, 10..15), vec![(Some(1), 0..5)]);
        assert_eq!(plan(&layout, 5..1000), vec![(Some(0), 5..10), (Some(1), 0..5), (Some(2), 0..100)]);
        assert_eq!(plan(&layout, 115..200), vec![]);
        assert_eq!(plan(&Layout::Whole { len: 50 }, 40..60), vec![(None, 40..50)]);
        assert_eq!(plan(&Layout::Whole { len: 50 }, 7..7), vec![]);
    }

    #[test]
    fn chunk_names_sort_as_their_offsets() {
        assert_eq!(chunk_name(0), "0000000000000000");
        assert!(chunk_name(9) < chunk_name(10) && chunk_name(0xfff) < chunk_name(0x1000));
        assert_eq!(parse_chunk_name(&chunk_name(123_456)), Some(123_456));
        assert_eq!(parse_chunk_name("12"), None);
        assert_eq!(parse_chunk_name("zzzzzzzzzzzzzzzz"), None);
    }

    #[tokio::test]
    async fn chunks_then_whole_files_read_the_same_bytes() {
        let store: Arc<dyn ObjectStore> = Arc::new(object_store::memory::InMemory::new());
        let objects = Objects::new(store, "rec/team", "memory".into());
        let text: Vec<u8> = (0..=255u8).cycle().take(3000).collect();
        assert_eq!(objects.layout("a", Part::Recording, false).await.unwrap(), None);
        for (start, end) in [(0, 1000), (1000, 1001), (1001, 3000)] {
            objects.put_chunk("a", Part::Recording, start, text[start as usize..end as usize].to_vec()).await.unwrap();
        }
        let layout = objects.layout("a", Part::Recording, false).await.unwrap().unwrap();
        assert_eq!(layout.len(), 3000);
        assert_eq!(objects.read("a", Part::Recording, &layout, 990..1500).await.unwrap(), &text[990..1500]);
        let dir = std::env::temp_dir().join(format!("gh-objects-{}", super::super::archive::new_id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("a.ghrec"), &text).unwrap();
        assert_eq!(objects.put_whole("a", Part::Recording, &dir.join("a.ghrec")).await.unwrap(), 3000);
        objects.delete_chunks("a").await.unwrap();
        let layout = objects.layout("a", Part::Recording, true).await.unwrap().unwrap();
        assert_eq!(layout, Layout::Whole { len: 3000 });
        assert_eq!(objects.read("a", Part::Recording, &layout, 2990..4000).await.unwrap(), &text[2990..]);
        assert_eq!(objects.layout("a", Part::Index, true).await.unwrap(), None, "another part is not there");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
