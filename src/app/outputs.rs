//! Outputs of `read` and `live`: where the report and the flow records go.
//!
//! What I own: refusing outputs that would destroy an input or each other, before anything is
//! opened for writing (files are compared by device and inode, so `./v.pcap` and a hard link
//! are the same file as `v.pcap`); the report's temporary file (created exclusively under an
//! unpredictable name in the destination's directory, so a planted symlink is never followed,
//! given the old report's permissions, and renamed into place only once whole); and opening
//! flow files, FIFOs and stdout through [`crate::blocking`], so that a signal still ends a
//! write that waits on a stalled reader.
//!
//! What I must not do: render anything, or read inputs.

use crate::blocking::Sink;
use crate::interrupt::Interrupt;
use std::fs::{File, Permissions};
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Which file a path names: an existing file by device and inode, a file still to be made by
/// its directory's canonical path and its name.
#[derive(PartialEq, Eq, Debug)]
enum Identity {
    Node(u64, u64),
    ToBe(PathBuf),
}

impl Identity {
    /// `None` for what two users may share harmlessly: character devices (`/dev/null`), and
    /// paths that cannot be resolved (their open fails later with the OS's own message).
    fn of(path: &Path) -> Option<Self> {
        if let Ok(m) = std::fs::metadata(path) {
            return Self::of_meta(&m);
        }
        let name = path.file_name()?;
        let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        Some(Identity::ToBe(dir.canonicalize().ok()?.join(name)))
    }

    fn of_meta(m: &std::fs::Metadata) -> Option<Self> {
        (!m.file_type().is_char_device()).then(|| Identity::Node(m.dev(), m.ino()))
    }

    /// Stdin's file, when it was given a file (`flowtag read - < v.pcap`).
    fn of_stdin() -> Option<Self> {
        use std::os::fd::AsFd;
        let fd = io::stdin().as_fd().try_clone_to_owned().ok()?;
        Self::of_meta(&File::from(fd).metadata().ok()?)
    }
}

/// One output and the option that named it.
pub(super) struct Named<'a> {
    pub option: &'static str,
    pub path: &'a Path,
}

/// Refuses an output that is one of the inputs, or the same file as another output: one line
/// naming both, for exit 2. Nothing has been opened for writing yet.
pub(super) fn refuse_clashes(inputs: &[&Path], outputs: &[Named<'_>]) -> Result<(), String> {
    let inputs: Vec<(&Path, Identity)> = inputs
        .iter()
        .filter_map(|p| {
            let id = if p.as_os_str() == "-" { Identity::of_stdin() } else { Identity::of(p) };
            id.map(|id| (*p, id))
        })
        .collect();
    let mut seen: Vec<(&Named<'_>, Identity)> = Vec::new();
    for out in outputs {
        let Some(id) = Identity::of(out.path) else { continue };
        if let Some((input, _)) = inputs.iter().find(|(_, i)| *i == id) {
            let shown = if input.as_os_str() == "-" { "stdin".into() } else { input.display().to_string() };
            return Err(format!(
                "{} {} is the same file as the input {shown}: writing it would destroy the capture; choose another path",
                out.option,
                out.path.display()
            ));
        }
        if let Some((other, _)) = seen.iter().find(|(_, i)| *i == id) {
            return Err(format!(
                "{} {} and {} {} are the same file: one would overwrite the other; give each its own path",
                other.option,
                other.path.display(),
                out.option,
                out.path.display()
            ));
        }
        seen.push((out, id));
    }
    Ok(())
}

/// Where the report goes: stdout, a file written through a temporary one and renamed into
/// place (so an earlier report is never half-overwritten), or a special file (a device, a
/// FIFO) written directly.
pub(super) enum ReportOut {
    Stdout,
    File { path: PathBuf, tmp: tempfile::NamedTempFile },
    Special { path: PathBuf, sink: Sink },
}

impl ReportOut {
    /// Opens the destination before any input is read, so an unusable path fails at once.
    pub(super) fn open(path: Option<&Path>, stop: &Interrupt) -> io::Result<Self> {
        let Some(path) = path else {
            return Ok(ReportOut::Stdout);
        };
        match std::fs::metadata(path) {
            Ok(m) if m.is_dir() => Err(io::Error::new(io::ErrorKind::IsADirectory, "is a directory")),
            Ok(m) if !m.is_file() => {
                Ok(ReportOut::Special { path: path.to_owned(), sink: Sink::open_special(path, stop)? })
            }
            existing => {
                let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
                // O_EXCL under a random name: nothing planted in a shared directory is opened.
                let tmp = tempfile::Builder::new()
                    .prefix(&format!(".{name}.flowtag-"))
                    .suffix(".tmp")
                    .tempfile_in(dir)?;
                // The report keeps the permissions of the one it replaces (a 0600 report stays
                // private); a new one gets what a plain create would have given it.
                let mode = match existing {
                    Ok(m) => m.permissions().mode() & 0o7777,
                    Err(_) => 0o666 & !umask(),
                };
                tmp.as_file().set_permissions(Permissions::from_mode(mode))?;
                Ok(ReportOut::File { path: path.to_owned(), tmp })
            }
        }
    }

    pub(super) fn name(&self) -> String {
        match self {
            ReportOut::Stdout => "stdout".into(),
            ReportOut::File { path, .. } | ReportOut::Special { path, .. } => path.display().to_string(),
        }
    }

    /// Renders the report into its destination. A file appears only whole; on failure its
    /// temporary file is removed.
    pub(super) fn write(
        self,
        stop: &Interrupt,
        render: impl FnOnce(&mut dyn Write) -> io::Result<()>,
    ) -> io::Result<()> {
        match self {
            ReportOut::Stdout => {
                let mut w = BufWriter::new(Sink::stdout(stop)?);
                render(&mut w)?;
                w.flush()
            }
            ReportOut::Special { sink, .. } => {
                let mut w = BufWriter::new(sink);
                render(&mut w)?;
                w.flush()
            }
            ReportOut::File { path, mut tmp } => {
                let mut w = BufWriter::new(tmp.as_file_mut());
                render(&mut w)?;
                w.flush()?;
                drop(w);
                // Dropping the temporary file on an error removes it.
                tmp.persist(&path).map(drop).map_err(|e| e.error)
            }
        }
    }
}

/// Opens the flow records' file: a FIFO or device as it is (waiting for a FIFO's reader until
/// a signal comes), anything else created or truncated.
pub(super) fn open_flows(path: &Path, stop: &Interrupt) -> io::Result<BufWriter<Sink>> {
    let sink = match std::fs::metadata(path) {
        Ok(m) if !m.is_file() && !m.is_dir() => Sink::open_special(path, stop)?,
        _ => Sink::Direct(File::create(path)?),
    };
    Ok(BufWriter::with_capacity(1 << 16, sink))
}

/// The process's umask, read without changing it (`/proc/self/status`, Linux 4.7 and later);
/// the usual 022 where it cannot be read.
fn umask() -> u32 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            let line = s.lines().find(|l| l.starts_with("Umask:"))?;
            u32::from_str_radix(line.trim_start_matches("Umask:").trim(), 8).ok()
        })
        .unwrap_or(0o022)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clashes_are_found_by_inode_not_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let cap = dir.path().join("v.pcap");
        std::fs::write(&cap, b"x").unwrap();
        let link = dir.path().join("hard.pcap");
        std::fs::hard_link(&cap, &link).unwrap();
        let dotted = dir.path().join(".").join("v.pcap");
        let out = |path| Named { option: "-o", path };
        assert!(refuse_clashes(&[&cap], &[out(&link)]).is_err());
        assert!(refuse_clashes(&[&link], &[out(&dotted)]).is_err());
        let fresh = dir.path().join("new.json");
        assert!(refuse_clashes(&[&cap], &[out(&fresh)]).is_ok());
        let fresh2 = dir.path().join(".").join("new.json");
        let two = [Named { option: "-o", path: &fresh }, Named { option: "--flows", path: &fresh2 }];
        let e = refuse_clashes(&[&cap], &two).unwrap_err();
        assert!(e.contains("are the same file"), "{e}");
        let null = Path::new("/dev/null");
        let sinks = [Named { option: "-o", path: null }, Named { option: "--flows", path: null }];
        assert!(refuse_clashes(&[&cap], &sinks).is_ok(), "/dev/null takes any number of outputs");
    }
}
