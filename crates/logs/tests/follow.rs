//! The file follower on real files: rotation by rename and by copytruncate during a
//! stream of lines, a restart from a saved position across a rotation, and hostile input
//! (a 10 MB line, invalid UTF-8) bounded. Every line is numbered; each test checks that
//! the numbers seen are exactly 0..N in order: nothing lost, nothing twice.
//!
//! Files live in a temp dir of the test's own. Loops are bounded in count and time.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rampart_logs::{Follower, Line, Position, Source, Start};

const PATIENCE: Duration = Duration::from_secs(60);

struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let d = std::env::temp_dir().join(format!("rampart-logs-{}-{tag}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        TempDir(d)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// Line `i`: an sshd failure from an address derived from `i`, the number in the user
/// name (so it can be read back).
fn line(i: usize) -> String {
    format!(
        "Dec  6 18:00:00 web1 sshd[{}]: Invalid user u{i:06} from 192.0.2.{} port {}\n",
        1000 + i % 100,
        1 + i % 250,
        1024 + i % 60000
    )
}

/// The number in a line written by [`line`], checked against its address.
fn number(l: Line<'_>) -> usize {
    let Line::Text(t) = l else {
        panic!("unexpected {l:?}")
    };
    let e = Source::Sshd.parse(t).event().cloned().expect("an event");
    let u = std::str::from_utf8(e.user.unwrap()).unwrap();
    let i: usize = u[1..].parse().unwrap();
    assert_eq!(
        e.addr().unwrap().to_string(),
        format!("192.0.2.{}", 1 + i % 250)
    );
    i
}

fn append(path: &Path) -> File {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap()
}

#[derive(Clone, Copy, PartialEq)]
enum Rotation {
    Rename,
    CopyTruncate,
}

fn stream_through_rotations(how: Rotation, tag: &str) {
    let dir = TempDir::new(tag);
    let path = dir.0.join("auth.log");
    File::create(&path).unwrap();
    let mut follower = Follower::open(&path, None, Start::Beginning).unwrap();
    // Lines i+1 and i+2 of each rotation are written by the rotation itself; make the
    // writer's numbering skip them.
    let (n, every) = (20_000, 3_000);
    let seen = Arc::new(AtomicUsize::new(0));
    let w = {
        let (path, seen) = (path.clone(), seen.clone());
        std::thread::spawn(move || writer_numbered(path, n, every, how, seen))
    };
    let mut got = Vec::with_capacity(n);
    let start = Instant::now();
    let mut polls = 0;
    while got.len() < n {
        assert!(
            start.elapsed() < PATIENCE,
            "{} of {n} lines after {polls} polls",
            got.len()
        );
        let p = follower.poll(|l| got.push(number(l))).unwrap();
        if p.renamed || p.truncated {
            seen.fetch_add(1, Ordering::SeqCst);
        }
        polls += 1;
        std::thread::sleep(Duration::from_millis(3));
    }
    w.join().unwrap();
    follower.poll(|l| got.push(number(l))).unwrap();
    let rotations = seen.load(Ordering::SeqCst);
    assert_eq!(rotations, (n - 1) / every, "rotations seen");
    assert!(
        got.iter().copied().eq(0..n),
        "lines lost, repeated or reordered: {} seen",
        got.len()
    );
}

/// Writes lines 0..n, rotating after every `every` lines; before each rotation after the
/// first it waits for the follower to have seen the last one (rotations are hours apart
/// in real life, polls a fraction of a second). Each rotation writes two lines of the
/// stream itself: with a rename, to the old file after the new one exists (the daemon not
/// yet told to reopen); with copytruncate, right after the truncation.
fn writer_numbered(path: PathBuf, n: usize, every: usize, how: Rotation, seen: Arc<AtomicUsize>) {
    let mut f = append(&path);
    let mut rotations = 0;
    let mut i = 0;
    while i < n {
        f.write_all(line(i).as_bytes()).unwrap();
        if i % 97 == 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
        i += 1;
        if i % every == 0 && i + 2 < n {
            let start = Instant::now();
            while seen.load(Ordering::SeqCst) < rotations {
                assert!(
                    start.elapsed() < PATIENCE,
                    "follower did not see rotation {rotations}"
                );
                std::thread::sleep(Duration::from_millis(2));
            }
            let rotated = path.with_extension("log.1");
            match how {
                Rotation::Rename => {
                    fs::rename(&path, &rotated).unwrap();
                    File::create(&path).unwrap();
                    // The daemon writes on to the old file until told to reopen.
                    f.write_all(line(i).as_bytes()).unwrap();
                    f.write_all(line(i + 1).as_bytes()).unwrap();
                    f = append(&path);
                }
                Rotation::CopyTruncate => {
                    fs::copy(&path, &rotated).unwrap();
                    OpenOptions::new()
                        .write(true)
                        .open(&path)
                        .unwrap()
                        .set_len(0)
                        .unwrap();
                    f.write_all(line(i).as_bytes()).unwrap();
                    f.write_all(line(i + 1).as_bytes()).unwrap();
                }
            }
            i += 2;
            rotations += 1;
        }
    }
}

#[test]
fn rename_rotation_during_a_stream_loses_and_repeats_nothing() {
    stream_through_rotations(Rotation::Rename, "rename");
}

#[test]
fn copytruncate_during_a_stream_loses_and_repeats_nothing() {
    stream_through_rotations(Rotation::CopyTruncate, "copytruncate");
}

fn write_lines(path: &Path, r: std::ops::Range<usize>) {
    let mut f = append(path);
    for i in r {
        f.write_all(line(i).as_bytes()).unwrap();
    }
}

/// Reads what is there now, saves the position, and returns the numbers read.
fn read_and_save(path: &Path, state: &Path, partial_tail: bool) -> Vec<usize> {
    let saved = Position::load(state).unwrap();
    let mut f = Follower::open(path, saved.as_ref(), Start::Beginning).unwrap();
    let mut got = Vec::new();
    f.poll(|l| got.push(number(l))).unwrap();
    if partial_tail {
        // A line being written when we stopped is not counted yet.
        append(path).write_all(&line(100).as_bytes()[..45]).unwrap();
        f.poll(|l| got.push(number(l))).unwrap();
    }
    f.position().unwrap().save(state).unwrap();
    got
}

#[test]
fn a_restart_continues_where_it_stopped_across_rotations() {
    let dir = TempDir::new("restart");
    let path = dir.0.join("auth.log");
    let state = dir.0.join("auth.log.pos");
    let rotated = dir.0.join("auth.log.1");
    let mut all = Vec::new();

    // Run 1 reads 0..100 and stops in the middle of line 100.
    write_lines(&path, 0..100);
    all.extend(read_and_save(&path, &state, true));
    // While down: line 100 is finished, more lines, then rotation by rename.
    append(&path)
        .write_all(&line(100).as_bytes()[45..])
        .unwrap();
    write_lines(&path, 101..150);
    fs::rename(&path, &rotated).unwrap();
    write_lines(&path, 150..200);
    // Run 2 finishes the rotated file from the saved position, then the new one.
    all.extend(read_and_save(&path, &state, false));
    // Same file, more lines, run 3.
    write_lines(&path, 200..250);
    all.extend(read_and_save(&path, &state, false));
    // While down: copytruncate.
    write_lines(&path, 250..300);
    fs::copy(&path, &rotated).unwrap();
    OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(0)
        .unwrap();
    write_lines(&path, 300..320);
    all.extend(read_and_save(&path, &state, false));
    // A run with nothing new reads nothing.
    all.extend(read_and_save(&path, &state, false));
    assert!(all.iter().copied().eq(0..320), "{all:?}");

    // A corrupt position file is an error that says how to recover.
    fs::write(&state, "garbage").unwrap();
    let e = Position::load(&state).unwrap_err().to_string();
    assert!(
        e.contains("delete it to read the log from its start"),
        "{e}"
    );
}

#[test]
fn hostile_lines_are_bounded_and_never_give_a_wrong_address() {
    let dir = TempDir::new("hostile");
    let path = dir.0.join("auth.log");
    let mut f = append(&path);
    f.write_all(line(0).as_bytes()).unwrap();
    // 10 MB without a newline that looks like an sshd line at both ends.
    let mut big = b"Dec  6 18:00:00 web1 sshd[1]: Invalid user ".to_vec();
    big.resize(10 << 20, b'x');
    big.extend_from_slice(b" from 203.0.113.66 port 1\n");
    f.write_all(&big).unwrap();
    f.write_all(line(1).as_bytes()).unwrap();
    // Invalid UTF-8 in the user name.
    f.write_all(
        b"Dec  6 18:00:00 web1 sshd[1]: Invalid user \xff\xfe\xc0 from 192.0.2.77 port 9\n",
    )
    .unwrap();
    // The last line has no newline yet: not given until it has one.
    f.write_all(line(2).trim_end().as_bytes()).unwrap();
    let mut follower = Follower::open(&path, None, Start::Beginning).unwrap();
    let mut lines = Vec::new();
    follower
        .poll(|l| {
            lines.push(match l {
                Line::Text(t) => Source::Sshd
                    .parse(t)
                    .event()
                    .and_then(|e| e.addr())
                    .map(|a| a.to_string()),
                Line::Overlong(n) => Some(format!("overlong {n}")),
            })
        })
        .unwrap();
    let want = [
        Some("192.0.2.1".to_string()),
        Some(format!("overlong {}", big.len())),
        Some("192.0.2.2".into()),
        Some("192.0.2.77".into()),
    ];
    assert_eq!(lines, want);
    f.write_all(b"\n").unwrap();
    let mut last = Vec::new();
    follower.poll(|l| last.push(number(l))).unwrap();
    assert_eq!(last, [2]);
    assert_eq!(
        follower.position().unwrap().offset,
        fs::metadata(&path).unwrap().len()
    );
}
