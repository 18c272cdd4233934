//! A run's rows between the answer and the commit.
//!
//! Rows are spooled as the answer streams in: held in memory while they are few, and in an
//! unlinked temporary file once they pass [`MEMORY_LIMIT`], then read back in batches while the
//! store writes them inside the run's transaction. So a run's memory does not grow with its
//! answer, and eight 100,000-row hunts at once cost little more than one. The file has no name
//! on disk, so a killed process leaves nothing behind.

use std::collections::HashSet;
use std::fs::File;
use std::io::{self, BufReader, Read, Write as _};
use std::os::unix::fs::FileExt as _;
use std::path::{Path, PathBuf};

use serde_json::value::RawValue;
use sha2::{Digest as _, Sha256};

/// Rows up to this many bytes stay in memory; most answers never touch the disk.
pub const MEMORY_LIMIT: usize = 256 * 1024;

/// Bytes gathered before one write to the spool file.
const WRITE_BUFFER: usize = 64 * 1024;

/// Bytes read from the spool file at a time.
const READ_BUFFER: usize = 64 * 1024;

/// Rows being written: the answer's parser pushes each row as it is cut out of the body.
#[derive(Debug)]
pub struct RowSpool {
    dir: PathBuf,
    /// All rows while in memory; the bytes not yet written once on disk.
    buffer: Vec<u8>,
    file: Option<File>,
    file_len: u64,
    rows: usize,
    digest: Sha256,
}

impl RowSpool {
    /// An empty spool whose file, when it needs one, goes in `dir`.
    pub fn new(dir: &Path) -> Self {
        Self {
            dir: dir.to_path_buf(),
            buffer: Vec::new(),
            file: None,
            file_len: 0,
            rows: 0,
            digest: Sha256::new(),
        }
    }

    /// Appends one row.
    pub fn push(&mut self, row: &RawValue) -> io::Result<()> {
        self.frame(row)?;
        match &self.file {
            None if self.buffer.len() > MEMORY_LIMIT => {
                std::fs::create_dir_all(&self.dir)?;
                self.file = Some(tempfile::tempfile_in(&self.dir)?);
                self.flush()
            }
            Some(_) if self.buffer.len() >= WRITE_BUFFER => self.flush(),
            _ => Ok(()),
        }
    }

    /// Adds the row to the buffer and the digest.
    fn frame(&mut self, row: &RawValue) -> io::Result<()> {
        let text = row.get().as_bytes();
        let len = u32::try_from(text.len())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "a row over 4 GiB"))?;
        // Length-prefixed, so no two answers share a digest by where their rows split.
        self.digest.update(u64::from(len).to_le_bytes());
        self.digest.update(text);
        self.buffer.extend_from_slice(&len.to_le_bytes());
        self.buffer.extend_from_slice(text);
        self.rows += 1;
        Ok(())
    }

    /// Rows pushed so far.
    pub fn len(&self) -> usize {
        self.rows
    }

    /// Whether no row was pushed.
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Ends writing: the rows, ready to be read as often as needed.
    pub fn seal(mut self) -> io::Result<Rows> {
        self.flush()?;
        let backing = match self.file {
            Some(file) => Backing::File {
                file,
                len: self.file_len,
            },
            None => Backing::Memory(self.buffer),
        };
        Ok(Rows {
            backing,
            count: self.rows,
            digest: self.digest.finalize().into(),
        })
    }

    fn flush(&mut self) -> io::Result<()> {
        if let Some(file) = &mut self.file {
            file.write_all(&self.buffer)?;
            self.file_len += self.buffer.len() as u64;
            self.buffer.clear();
        }
        Ok(())
    }
}

/// Where sealed rows are.
#[derive(Debug)]
enum Backing {
    Memory(Vec<u8>),
    File { file: File, len: u64 },
}

/// One answer's rows, sealed: counted, digested and readable any number of times (a commit the
/// database refused is tried again from the first row).
#[derive(Debug)]
pub struct Rows {
    backing: Backing,
    count: usize,
    digest: [u8; 32],
}

impl Rows {
    /// Rows already in memory, kept in memory: for tests and callers without an answer.
    pub fn from_vec(rows: &[Box<RawValue>]) -> io::Result<Self> {
        let mut spool = RowSpool::new(Path::new("."));
        for row in rows {
            spool.frame(row)?;
        }
        spool.seal()
    }

    /// How many rows.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// A digest of every row in order: two answers with equal digests returned the same rows.
    pub fn digest(&self) -> [u8; 32] {
        self.digest
    }

    /// Whether the rows went to a file rather than staying in memory.
    pub fn on_disk(&self) -> bool {
        matches!(self.backing, Backing::File { .. })
    }

    /// The rows in order, from the first.
    pub fn iter(&self) -> RowIter<'_> {
        let source = match &self.backing {
            Backing::Memory(bytes) => Source::Memory(bytes.as_slice()),
            Backing::File { file, len } => Source::File(FileAt {
                file,
                pos: 0,
                len: *len,
            }),
        };
        RowIter {
            reader: BufReader::with_capacity(READ_BUFFER, source),
            left: self.count,
        }
    }

    /// Every row in memory: for callers that print an answer, not for a run's commit.
    pub fn to_vec(&self) -> io::Result<Vec<Box<RawValue>>> {
        self.iter().collect()
    }
}

impl<'a> IntoIterator for &'a Rows {
    type Item = io::Result<Box<RawValue>>;
    type IntoIter = RowIter<'a>;

    fn into_iter(self) -> RowIter<'a> {
        self.iter()
    }
}

/// Where a [`RowIter`] reads from.
#[derive(Debug)]
enum Source<'a> {
    Memory(&'a [u8]),
    File(FileAt<'a>),
}

impl Read for Source<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Self::Memory(bytes) => bytes.read(buf),
            Self::File(file) => file.read(buf),
        }
    }
}

/// Reads a file by position, so readers need no `&mut` and never move a shared cursor.
#[derive(Debug)]
struct FileAt<'a> {
    file: &'a File,
    pos: u64,
    len: u64,
}

impl Read for FileAt<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = usize::try_from(self.len - self.pos).unwrap_or(usize::MAX);
        let want = buf.len().min(left);
        let n = self.file.read_at(&mut buf[..want], self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

/// The rows of a [`Rows`], in order.
#[derive(Debug)]
pub struct RowIter<'a> {
    reader: BufReader<Source<'a>>,
    left: usize,
}

impl Iterator for RowIter<'_> {
    type Item = io::Result<Box<RawValue>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        Some(read_row(&mut self.reader))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

fn read_row(reader: &mut impl Read) -> io::Result<Box<RawValue>> {
    let mut len = [0u8; 4];
    reader.read_exact(&mut len)?;
    let mut text = vec![0u8; u32::from_le_bytes(len) as usize];
    reader.read_exact(&mut text)?;
    let text =
        String::from_utf8(text).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    // The row was valid JSON when spooled; checking again costs little and catches a bad disk.
    RawValue::from_string(text).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// One part of a run: an answer's rows, and whether they may repeat rows of earlier parts.
#[derive(Debug)]
struct Part {
    rows: Rows,
    /// The part is one of the halves a truncated window was split into, whose `between`s share
    /// their ends: a row another part already returned is left out.
    split: bool,
}

/// Every row a run commits: its answers' rows in window order, each row once.
#[derive(Debug, Default)]
pub struct RunRows {
    parts: Vec<Part>,
}

impl RunRows {
    /// A run of one answer.
    pub fn single(rows: Rows) -> Self {
        Self {
            parts: vec![Part { rows, split: false }],
        }
    }

    /// Adds the next answer's rows; `split` when it answered a half of a split window.
    pub fn push(&mut self, rows: Rows, split: bool) {
        self.parts.push(Part { rows, split });
    }

    /// Rows received, before repeats across split parts are left out: the most a commit writes.
    pub fn received(&self) -> usize {
        self.parts.iter().map(|p| p.rows.len()).sum()
    }

    /// The rows to store, in order, from the first: a row of a split part that any part before
    /// it returned is skipped (rows repeated inside one answer are the answer's own and stay).
    pub fn iter(&self) -> RunRowIter<'_> {
        RunRowIter {
            parts: self.parts.iter(),
            current: None,
            track: self.parts.len() > 1,
            seen: HashSet::new(),
            added: Vec::new(),
        }
    }
}

impl<'a> IntoIterator for &'a RunRows {
    type Item = io::Result<Box<RawValue>>;
    type IntoIter = RunRowIter<'a>;

    fn into_iter(self) -> RunRowIter<'a> {
        self.iter()
    }
}

/// The rows of a [`RunRows`], each once.
#[derive(Debug)]
pub struct RunRowIter<'a> {
    parts: std::slice::Iter<'a, Part>,
    current: Option<(RowIter<'a>, bool)>,
    /// Whether keys are kept at all: a run of one answer has nothing to compare.
    track: bool,
    /// Keys of every row of the parts already read.
    seen: HashSet<u128>,
    /// Keys of the current part's rows, added to `seen` when it ends.
    added: Vec<u128>,
}

impl Iterator for RunRowIter<'_> {
    type Item = io::Result<Box<RawValue>>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some((rows, split)) = &mut self.current {
                match rows.next() {
                    Some(Ok(row)) => {
                        if self.track {
                            let key = row_key(&row);
                            if *split && self.seen.contains(&key) {
                                continue;
                            }
                            self.added.push(key);
                        }
                        return Some(Ok(row));
                    }
                    Some(Err(e)) => return Some(Err(e)),
                    None => {
                        self.seen.extend(self.added.drain(..));
                        self.current = None;
                    }
                }
            }
            let part = self.parts.next()?;
            self.current = Some((part.rows.iter(), part.split));
        }
    }
}

/// Half a SHA-256 of the row's text: collisions need about 2^64 rows.
fn row_key(row: &RawValue) -> u128 {
    let digest = Sha256::digest(row.get().as_bytes());
    let mut half = [0u8; 16];
    half.copy_from_slice(&digest[..16]);
    u128::from_le_bytes(half)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(text: &str) -> Box<RawValue> {
        RawValue::from_string(text.to_string()).expect("test row is JSON")
    }

    fn texts(rows: &RunRows) -> Vec<String> {
        rows.iter()
            .map(|r| r.expect("read back").get().to_string())
            .collect()
    }

    #[test]
    fn rows_past_the_memory_limit_go_to_an_unnamed_file_and_read_back_in_order_twice() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut spool = RowSpool::new(dir.path());
        let filler = "y".repeat(900);
        let count = MEMORY_LIMIT / 900 + 100;
        for i in 0..count {
            spool
                .push(&raw(&format!(r#"{{"i":{i},"f":"{filler}"}}"#)))
                .expect("spooled");
        }
        let rows = spool.seal().expect("sealed");
        assert!(rows.on_disk());
        assert_eq!(rows.len(), count);
        // The file has no name: nothing is left in the folder, even while it is open.
        assert_eq!(std::fs::read_dir(dir.path()).expect("dir").count(), 0);
        for _ in 0..2 {
            let mut n = 0;
            for (i, row) in rows.iter().enumerate() {
                assert!(
                    row.expect("read")
                        .get()
                        .starts_with(&format!(r#"{{"i":{i},"#))
                );
                n += 1;
            }
            assert_eq!(n, count);
        }
    }

    #[test]
    fn few_rows_stay_in_memory_and_equal_answers_share_a_digest() {
        let rows = [raw(r#"{"a":1}"#), raw(r#"{"a":2}"#)];
        let first = Rows::from_vec(&rows).expect("in memory");
        let mut spool = RowSpool::new(Path::new("/nonexistent"));
        for row in &rows {
            spool.push(row).expect("memory only");
        }
        let second = spool.seal().expect("sealed");
        assert!(!second.on_disk());
        assert_eq!(first.digest(), second.digest());
        let other = Rows::from_vec(&[raw(r#"{"a":1}"#)]).expect("in memory");
        assert_ne!(first.digest(), other.digest());
    }

    #[test]
    fn split_parts_leave_out_rows_an_earlier_part_returned_but_keep_an_answers_own_repeats() {
        let part = |texts: &[&str]| {
            Rows::from_vec(&texts.iter().map(|t| raw(t)).collect::<Vec<_>>()).expect("memory")
        };
        let mut run = RunRows::default();
        run.push(part(&[r#"{"a":1}"#, r#"{"a":2}"#, r#"{"a":2}"#]), true);
        run.push(part(&[r#"{"a":2}"#, r#"{"a":3}"#, r#"{"a":3}"#]), true);
        assert_eq!(run.received(), 6);
        assert_eq!(
            texts(&run),
            [
                r#"{"a":1}"#,
                r#"{"a":2}"#,
                r#"{"a":2}"#,
                r#"{"a":3}"#,
                r#"{"a":3}"#
            ]
        );
        let single = RunRows::single(part(&[r#"{"a":1}"#, r#"{"a":1}"#]));
        assert_eq!(texts(&single), [r#"{"a":1}"#, r#"{"a":1}"#]);
    }
}
