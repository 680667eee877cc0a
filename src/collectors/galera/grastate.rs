//! Galera's two state files in the data directory, read from disk so that they are known also
//! while mysqld is down: `grastate.dat` (the cluster state UUID, the saved seqno and
//! `safe_to_bootstrap`) and `gvwstate.dat` (this node's UUID and the last Primary view's members).
//!
//! What they mean, which is not what one would guess:
//! - `grastate.dat`'s `seqno` is `-1` while mysqld runs: Galera writes the real position there
//!   only on a clean shutdown. After a crash it stays `-1`, and the position must be recovered
//!   from InnoDB (`mysqld --wsrep-recover`). So a seqno >= 0 means "mysqld was shut down cleanly,
//!   and this is the last write-set it committed".
//! - `safe_to_bootstrap: 1` is written on the last node to leave a Primary component cleanly: the
//!   one a whole-cluster restart should start from. It is absent in files older than version 2.1.
//! - `gvwstate.dat` exists only while the node is (or, after a crash, last was) in a Primary
//!   view; a clean shutdown removes it. Its members are what pc.recovery uses to re-form the
//!   component after a full power loss.
//!
//! Both are parsed line by line, `key: value`, unknown keys ignored (newer Galera versions add
//! some), blank-padded as Galera writes them (it pads the file with spaces after the last line).
//! Any input gives a value or a typed error, never a panic. "Healthy" is not decided here: the
//! Galera verdict ([`crate::health::galera`]) words what these files say when mysqld is down.

use std::io::Read;
use std::path::Path;

use serde::Serialize;

/// Galera writes a few hundred bytes; anything larger is not one of its state files, and a
/// bounded read keeps a wrong path (a log, a device) from costing a poll more than this.
pub const MAX_STATE_FILE_BYTES: u64 = 64 * 1024;

pub const GRASTATE_FILE: &str = "grastate.dat";
pub const GVWSTATE_FILE: &str = "gvwstate.dat";

/// Why a state file gave no value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(tag = "kind", content = "detail", rename_all = "snake_case")]
pub enum StateFileError {
    /// The file does not exist (normal for gvwstate.dat after a clean shutdown).
    #[error("not found")]
    NotFound,
    /// Exists but cannot be read: usually the daemon's user lacks the read ACL (README).
    #[error("cannot read: {0}")]
    Unreadable(String),
    #[error("larger than {MAX_STATE_FILE_BYTES} bytes: not a Galera state file")]
    TooLarge,
    #[error("not UTF-8 text")]
    NotText,
    #[error("no `{0}:` line")]
    MissingKey(&'static str),
    #[error("`{key}: {value}` is not {expected}")]
    BadValue {
        key: &'static str,
        value: String,
        expected: &'static str,
    },
    #[error("`{0}:` appears twice")]
    Duplicate(&'static str),
    #[error("the view is not closed by `#vwend`")]
    UnclosedView,
}

/// grastate.dat: where this node's data stands in the cluster's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SavedState {
    /// The `version:` line (`2.1` today); `None` when absent.
    pub version: Option<String>,
    /// The cluster state UUID the data belongs to (all zeroes before the node ever joined).
    pub uuid: String,
    /// The last committed write-set, written on a clean shutdown; -1 while mysqld runs or after
    /// a crash.
    pub seqno: i64,
    /// Whether this node may bootstrap a new cluster (the last to leave cleanly); `None` in
    /// files older than version 2.1, which lack the line.
    pub safe_to_bootstrap: Option<bool>,
}

impl SavedState {
    /// The seqno is a real position only after a clean shutdown.
    pub fn clean_shutdown(&self) -> bool {
        self.seqno >= 0
    }
}

/// One member of the saved view: its UUID and its gmcast segment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ViewMember {
    pub uuid: String,
    pub segment: u8,
}

/// gvwstate.dat: the last Primary view this node was in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ViewState {
    /// This node's UUID in the group (changes at each mysqld start).
    pub my_uuid: String,
    /// `view_id: <type> <uuid> <seq>`, e.g. `3 0afd1a77-... 47`, kept as written.
    pub view_id: Option<String>,
    /// `bootstrap: 0|1`; `None` when absent.
    pub bootstrap: Option<bool>,
    pub members: Vec<ViewMember>,
}

/// What the data directory said at one poll: each file parsed, or why not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StateFiles {
    pub grastate: Result<SavedState, StateFileError>,
    /// `Ok(None)` when the file does not exist: no Primary view is saved (after a clean stop).
    pub gvwstate: Result<Option<ViewState>, StateFileError>,
}

/// Read both files from `data_dir`. Blocking but cheap (two reads of at most
/// [`MAX_STATE_FILE_BYTES`]); the poller runs it off the async threads, under its timeout.
pub fn read_dir(data_dir: &Path) -> StateFiles {
    let grastate = read_bounded(&data_dir.join(GRASTATE_FILE)).and_then(|t| parse_grastate(&t));
    let gvwstate = match read_bounded(&data_dir.join(GVWSTATE_FILE)) {
        Ok(text) => parse_gvwstate(&text).map(Some),
        Err(StateFileError::NotFound) => Ok(None),
        Err(error) => Err(error),
    };
    StateFiles { grastate, gvwstate }
}

/// The file as text, refusing more than [`MAX_STATE_FILE_BYTES`].
pub fn read_bounded(path: &Path) -> Result<String, StateFileError> {
    let file = std::fs::File::open(path).map_err(io_error)?;
    let mut bytes = Vec::new();
    file.take(MAX_STATE_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(io_error)?;
    if bytes.len() as u64 > MAX_STATE_FILE_BYTES {
        return Err(StateFileError::TooLarge);
    }
    String::from_utf8(bytes).map_err(|_| StateFileError::NotText)
}

fn io_error(error: std::io::Error) -> StateFileError {
    match error.kind() {
        std::io::ErrorKind::NotFound => StateFileError::NotFound,
        _ => StateFileError::Unreadable(error.to_string()),
    }
}

/// `key: value` lines, trimmed; comments (`#...`) and lines without a colon are skipped.
fn entries(text: &str) -> impl Iterator<Item = (&str, &str)> {
    text.lines().filter_map(|line| {
        let line = line.trim();
        if line.starts_with('#') {
            return None;
        }
        let (key, value) = line.split_once(':')?;
        Some((key.trim(), value.trim()))
    })
}

/// Set `slot` once; a second value for the same key is an error (which one would Galera use?).
fn once<'a>(
    slot: &mut Option<&'a str>,
    key: &'static str,
    value: &'a str,
) -> Result<(), StateFileError> {
    match slot.replace(value) {
        Some(_) => Err(StateFileError::Duplicate(key)),
        None => Ok(()),
    }
}

fn bad(key: &'static str, value: &str, expected: &'static str) -> StateFileError {
    // Bounded, so a garbage line cannot blow up /status.
    let value: String = value.chars().take(64).collect();
    StateFileError::BadValue {
        key,
        value,
        expected,
    }
}

/// A Galera UUID: 8-4-4-4-12 hexadecimal digits.
fn uuid(key: &'static str, value: &str) -> Result<String, StateFileError> {
    let groups: Vec<&str> = value.split('-').collect();
    let lengths = [8, 4, 4, 4, 12];
    let ok = groups.len() == lengths.len()
        && groups
            .iter()
            .zip(lengths)
            .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()));
    if ok {
        Ok(value.to_ascii_lowercase())
    } else {
        Err(bad(key, value, "a UUID"))
    }
}

fn flag(key: &'static str, value: &str) -> Result<bool, StateFileError> {
    match value {
        "0" => Ok(false),
        "1" => Ok(true),
        _ => Err(bad(key, value, "0 or 1")),
    }
}

/// Parse grastate.dat.
pub fn parse_grastate(text: &str) -> Result<SavedState, StateFileError> {
    let (mut version, mut uuid_text, mut seqno, mut safe) = (None, None, None, None);
    for (key, value) in entries(text) {
        match key {
            "version" => once(&mut version, "version", value)?,
            "uuid" => once(&mut uuid_text, "uuid", value)?,
            "seqno" => once(&mut seqno, "seqno", value)?,
            "safe_to_bootstrap" => once(&mut safe, "safe_to_bootstrap", value)?,
            _ => {}
        }
    }
    let uuid_text = uuid_text.ok_or(StateFileError::MissingKey("uuid"))?;
    let seqno_text = seqno.ok_or(StateFileError::MissingKey("seqno"))?;
    let seqno = seqno_text
        .parse::<i64>()
        .ok()
        .filter(|s| *s >= -1)
        .ok_or_else(|| bad("seqno", seqno_text, "a seqno (-1 or more)"))?;
    Ok(SavedState {
        version: version.map(str::to_owned),
        uuid: uuid("uuid", uuid_text)?,
        seqno,
        safe_to_bootstrap: safe.map(|v| flag("safe_to_bootstrap", v)).transpose()?,
    })
}

/// Parse gvwstate.dat: `my_uuid:` first, then one view between `#vwbeg` and `#vwend`.
pub fn parse_gvwstate(text: &str) -> Result<ViewState, StateFileError> {
    let (mut my_uuid, mut view_id, mut bootstrap) = (None, None, None);
    let mut members = Vec::new();
    // Inside `#vwbeg` .. `#vwend`; `None` before the view begins, `Some(false)` after it ends.
    let mut in_view: Option<bool> = None;
    for line in text.lines() {
        match line.trim() {
            "#vwbeg" => in_view = Some(true),
            "#vwend" => in_view = Some(false),
            _ => {}
        }
    }
    if in_view == Some(true) {
        return Err(StateFileError::UnclosedView);
    }
    for (key, value) in entries(text) {
        match key {
            "my_uuid" => once(&mut my_uuid, "my_uuid", value)?,
            "view_id" => once(&mut view_id, "view_id", value)?,
            "bootstrap" => once(&mut bootstrap, "bootstrap", value)?,
            "member" => {
                let mut words = value.split_whitespace();
                let (Some(id), Some(segment), None) = (words.next(), words.next(), words.next())
                else {
                    return Err(bad("member", value, "`<uuid> <segment>`"));
                };
                members.push(ViewMember {
                    uuid: uuid("member", id)?,
                    segment: segment
                        .parse()
                        .map_err(|_| bad("member", value, "`<uuid> <segment 0-255>`"))?,
                });
            }
            _ => {}
        }
    }
    let my_uuid = uuid(
        "my_uuid",
        my_uuid.ok_or(StateFileError::MissingKey("my_uuid"))?,
    )?;
    if let Some(id) = view_id {
        // `<type> <uuid> <seq>`: checked so a torn file is not shown as a view.
        let words: Vec<&str> = id.split_whitespace().collect();
        let ok = words.len() == 3
            && words[0].parse::<u8>().is_ok()
            && uuid("view_id", words[1]).is_ok()
            && words[2].parse::<u64>().is_ok();
        if !ok {
            return Err(bad("view_id", id, "`<type> <uuid> <seq>`"));
        }
    }
    Ok(ViewState {
        my_uuid,
        view_id: view_id.map(|v| v.split_whitespace().collect::<Vec<_>>().join(" ")),
        bootstrap: bootstrap.map(|v| flag("bootstrap", v)).transpose()?,
        members,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Copied from sandbox node1 while it ran Synced (Galera 26.4.23, MariaDB 10.11): seqno -1,
    /// and the blank padding Galera leaves after the last line.
    const RUNNING: &str = include_str!("../../../tests/fixtures/galera-state/grastate-running.dat");
    /// Copied from sandbox node3 right after `scripts/sandbox.sh galera stop 3` (SIGTERM, clean):
    /// the peer's wsrep_last_committed just before the stop was 1082.
    const CLEAN_STOP: &str =
        include_str!("../../../tests/fixtures/galera-state/grastate-clean-stop.dat");
    /// Copied from sandbox node1 while the three nodes were Synced in one Primary view.
    const VIEW: &str = include_str!("../../../tests/fixtures/galera-state/gvwstate-primary.dat");

    const UUID: &str = "6090457d-ee1e-11f1-ac65-6e48af6895c7";

    #[test]
    fn running_node_has_no_saved_seqno() {
        let state = parse_grastate(RUNNING).unwrap();
        assert!(RUNNING.ends_with(' '), "the fixture keeps Galera's padding");
        assert_eq!(
            state,
            SavedState {
                version: Some("2.1".into()),
                uuid: UUID.into(),
                seqno: -1,
                safe_to_bootstrap: Some(false),
            }
        );
        assert!(!state.clean_shutdown());
    }

    #[test]
    fn clean_stop_saves_the_last_committed_seqno() {
        let state = parse_grastate(CLEAN_STOP).unwrap();
        assert_eq!(state.seqno, 1082);
        assert_eq!(state.uuid, UUID);
        assert_eq!(state.safe_to_bootstrap, Some(false));
        assert!(state.clean_shutdown());
    }

    #[test]
    fn primary_view_lists_three_members() {
        let view = parse_gvwstate(VIEW).unwrap();
        assert_eq!(view.my_uuid, "0afd1a77-ee22-11f1-a8ab-6a30d23cc1b0");
        assert_eq!(
            view.view_id.as_deref(),
            Some("3 0afd1a77-ee22-11f1-a8ab-6a30d23cc1b0 47")
        );
        assert_eq!(view.bootstrap, Some(false));
        assert_eq!(view.members.len(), 3);
        assert!(view.members.iter().any(|m| m.uuid == view.my_uuid));
        assert!(view.members.iter().all(|m| m.segment == 0));
    }

    #[test]
    fn safe_to_bootstrap_one_and_old_versions_without_it() {
        let text = CLEAN_STOP.replace("safe_to_bootstrap: 0", "safe_to_bootstrap: 1");
        assert_eq!(parse_grastate(&text).unwrap().safe_to_bootstrap, Some(true));
        // Galera before 3.19 wrote version 2.0 and no safe_to_bootstrap line.
        let old =
            format!("# GALERA saved state\nversion: 2.0\nuuid: {UUID}\nseqno: 7\ncert_index:\n");
        let state = parse_grastate(&old).unwrap();
        assert_eq!((state.seqno, state.safe_to_bootstrap), (7, None));
        // CRLF line ends and no header still parse.
        let crlf = format!("uuid: {UUID}\r\nseqno: 3\r\nsafe_to_bootstrap: 1\r\n");
        assert_eq!(parse_grastate(&crlf).unwrap().seqno, 3);
    }

    #[test]
    fn malformed_grastate_is_a_typed_error() {
        let cases: &[(&str, StateFileError)] = &[
            ("", StateFileError::MissingKey("uuid")),
            (
                "# GALERA saved state\nversion: 2.1\n",
                StateFileError::MissingKey("uuid"),
            ),
            (
                &format!("uuid: {UUID}\n"),
                StateFileError::MissingKey("seqno"),
            ),
            (
                &format!("uuid: {UUID}\nseqno: -2\n"),
                bad("seqno", "-2", "a seqno (-1 or more)"),
            ),
            (
                &format!("uuid: {UUID}\nseqno: 99999999999999999999999\n"),
                bad("seqno", "99999999999999999999999", "a seqno (-1 or more)"),
            ),
            (
                "uuid: not-a-uuid\nseqno: 1\n",
                bad("uuid", "not-a-uuid", "a UUID"),
            ),
            (
                &format!("uuid: {UUID}\nseqno: 1\nsafe_to_bootstrap: yes\n"),
                bad("safe_to_bootstrap", "yes", "0 or 1"),
            ),
            (
                &format!("uuid: {UUID}\nseqno: 1\nseqno: 2\n"),
                StateFileError::Duplicate("seqno"),
            ),
        ];
        for (text, want) in cases {
            assert_eq!(parse_grastate(text).as_ref(), Err(want), "{text:?}");
        }
        // A torn write (the file cut mid-line) is an error, not a wrong seqno.
        let torn = &CLEAN_STOP[..CLEAN_STOP.find("seqno").unwrap_or(0) + 3];
        assert!(parse_grastate(torn).is_err());
    }

    #[test]
    fn malformed_gvwstate_is_a_typed_error() {
        assert_eq!(
            parse_gvwstate(&VIEW.replace("#vwend", "")),
            Err(StateFileError::UnclosedView)
        );
        assert_eq!(
            parse_gvwstate(&VIEW.replace("my_uuid", "your_uuid")),
            Err(StateFileError::MissingKey("my_uuid"))
        );
        let bad_member = VIEW.replacen(" 0\n#vwend", " 0 extra\n#vwend", 1);
        assert!(matches!(
            parse_gvwstate(&bad_member),
            Err(StateFileError::BadValue { key: "member", .. })
        ));
        let bad_segment = VIEW.replacen(" 0\n#vwend", " 256\n#vwend", 1);
        assert!(matches!(
            parse_gvwstate(&bad_segment),
            Err(StateFileError::BadValue { key: "member", .. })
        ));
        let bad_view = VIEW.replace(" 47\n", " x\n");
        assert!(matches!(
            parse_gvwstate(&bad_view),
            Err(StateFileError::BadValue { key: "view_id", .. })
        ));
    }

    #[test]
    fn garbage_never_panics() {
        for text in [
            "\u{0}\u{ffff}::::",
            ":",
            "uuid:",
            "member:",
            "#vwbeg\n#vwbeg\n#vwend",
            "uuid: é-é-é-é-é\nseqno: 1",
            "my_uuid: 0afd1a77-ee22-11f1-a8ab-6a30d23cc1b0\nview_id: 3 é 1",
        ] {
            let _ = parse_grastate(text);
            let _ = parse_gvwstate(text);
        }
        let long = "x".repeat(10_000);
        let StateFileError::BadValue { value, .. } =
            parse_grastate(&format!("uuid: {long}\nseqno: 1")).unwrap_err()
        else {
            panic!("expected BadValue")
        };
        assert_eq!(value.len(), 64, "error values are bounded");
    }

    #[test]
    fn reading_a_directory() {
        let dir = tempfile::tempdir().unwrap();
        // Empty directory: grastate missing is an error, gvwstate missing is normal.
        let files = read_dir(dir.path());
        assert_eq!(files.grastate, Err(StateFileError::NotFound));
        assert_eq!(files.gvwstate, Ok(None));

        std::fs::write(dir.path().join(GRASTATE_FILE), CLEAN_STOP).unwrap();
        std::fs::write(dir.path().join(GVWSTATE_FILE), VIEW).unwrap();
        let files = read_dir(dir.path());
        assert_eq!(files.grastate.unwrap().seqno, 1082);
        assert_eq!(files.gvwstate.unwrap().unwrap().members.len(), 3);

        // Oversized and binary files are refused before parsing.
        let big = vec![b' '; MAX_STATE_FILE_BYTES as usize + 1];
        std::fs::write(dir.path().join(GRASTATE_FILE), big).unwrap();
        assert_eq!(read_dir(dir.path()).grastate, Err(StateFileError::TooLarge));
        std::fs::write(dir.path().join(GRASTATE_FILE), [0xff, 0xfe, b'\n']).unwrap();
        assert_eq!(read_dir(dir.path()).grastate, Err(StateFileError::NotText));
        // A directory where the file should be: unreadable, not a panic.
        std::fs::remove_file(dir.path().join(GVWSTATE_FILE)).unwrap();
        std::fs::create_dir(dir.path().join(GVWSTATE_FILE)).unwrap();
        assert!(matches!(
            read_dir(dir.path()).gvwstate,
            Err(StateFileError::Unreadable(_))
        ));
    }
}
