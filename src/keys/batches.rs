//! Key events to text batches, as Guacamole 1.6's recording player shows
//! them beside the video (its `keyEventDisplayService`, itself after
//! `guaclog`): typed characters as they are, other keys as `<Name>`,
//! Return as `<Return>` and a new line, chords with Ctrl, Alt, Meta, Super
//! or Hyper held as `<Ctrl+c>`; a new batch when 5 s passed without a key.
//!
//! One deliberate difference from the 1.6.0 release: a key is written when
//! it is pressed, not when it is released. 1.6.0 wrote it at release, which
//! shuffles fast typing (a key released after the next one is pressed);
//! upstream fixed it since (GUACAMOLE-2147) and so does this.

use std::collections::BTreeMap;

use super::events::KeyEvent;
use super::keysym::definition;

/// The player's batch separation.
pub const BATCH_GAP_MS: i64 = 5000;

/// Keys whose state is tracked instead of being written.
const MODIFIERS: &[i64] =
    &[0xFE03, 0xFFE1, 0xFFE2, 0xFFE3, 0xFFE4, 0xFFE7, 0xFFE8, 0xFFE9, 0xFFEA, 0xFFEB, 0xFFEC, 0xFFED, 0xFFEE];

/// Modifiers that make a chord of the next key (Shift only changes it).
const SHORTCUTS: &[i64] = &[0xFFE3, 0xFFE4, 0xFFE7, 0xFFE8, 0xFFE9, 0xFFEA, 0xFFEB, 0xFFEC, 0xFFED, 0xFFEE];

/// Keys written by name and by what they type (`<Return>` then a new line).
const NAME_TOO: &[i64] = &[0xFF09, 0xFF0D, 0xFF8D];

/// What was typed from one pause to the next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    /// Time of its first written key, ms on the video's time line.
    pub start_ms: i64,
    /// Time of its last key event of any kind.
    pub last_ms: i64,
    pub text: String,
}

/// The text batches of `events` (in the order they happened).
pub fn batches(events: &[KeyEvent]) -> Vec<Batch> {
    let mut events = events.to_vec();
    // Input stamped a little out of order is shown in time order.
    events.sort_by_key(|e| e.t_ms);
    let mut held: BTreeMap<i64, String> = BTreeMap::new();
    let mut out: Vec<Batch> = Vec::new();
    let mut open: Option<Batch> = None;
    let mut last = 0i64;
    for e in &events {
        if e.t_ms - last >= BATCH_GAP_MS
            && let Some(done) = open.take()
        {
            out.push(done);
        }
        last = e.t_ms;
        let def = definition(e.keysym);
        if let Some(batch) = open.as_mut() {
            batch.last_ms = e.t_ms;
        }
        if MODIFIERS.contains(&e.keysym) {
            if e.pressed {
                held.insert(e.keysym, def.name);
            } else {
                held.remove(&e.keysym);
            }
            continue;
        }
        if !e.pressed {
            continue;
        }
        let text = if held.keys().any(|k| SHORTCUTS.contains(k)) {
            // Held keys in keysym order, as the browser walks them.
            let chord: Vec<&str> = held.values().map(String::as_str).collect();
            format!("<{}+{}>", chord.join("+"), def.name)
        } else {
            match &def.value {
                Some(v) if NAME_TOO.contains(&e.keysym) => format!("<{}>{v}", def.name),
                Some(v) => v.clone(),
                None => format!("<{}>", def.name),
            }
        };
        let batch =
            open.get_or_insert_with(|| Batch { start_ms: e.t_ms, last_ms: e.t_ms, text: String::new() });
        batch.text.push_str(&text);
    }
    out.extend(open);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn press(t: i64, k: i64) -> [KeyEvent; 2] {
        [KeyEvent { t_ms: t, keysym: k, pressed: true }, KeyEvent { t_ms: t + 20, keysym: k, pressed: false }]
    }

    fn down(t: i64, k: i64, pressed: bool) -> KeyEvent {
        KeyEvent { t_ms: t, keysym: k, pressed }
    }

    #[test]
    fn typing_named_keys_and_return() {
        let mut e = Vec::new();
        for (i, k) in [0x6C, 0x73, 0xFF09, 0xFF08, 0xFF0D].into_iter().enumerate() {
            e.extend(press(100 * i as i64, k));
        }
        assert_eq!(
            batches(&e),
            [Batch { start_ms: 0, last_ms: 420, text: "ls<Tab><Backspace><Return>\n".into() }]
        );
    }

    #[test]
    fn chords_list_the_held_modifiers_in_keysym_order() {
        let e = [
            down(0, 0xFFE3, true),
            down(10, 0xFFE1, true),
            down(20, 0x54, true),
            down(30, 0x54, false),
            down(40, 0xFFE1, false),
            down(50, 0x63, true),
            down(60, 0xFFE3, false),
            // Shift alone changes the letter, it makes no chord.
            down(70, 0xFFE1, true),
            down(80, 0x41, true),
        ];
        assert_eq!(batches(&e)[0].text, "<Shift+Ctrl+T><Ctrl+c>A");
    }

    #[test]
    fn a_pause_of_five_seconds_starts_a_new_batch() {
        let mut e = Vec::new();
        e.extend(press(6000, 0x61));
        e.extend(press(10_000, 0x62));
        e.extend(press(15_020, 0x63));
        // Modifiers alone make no batch.
        e.push(down(30_000, 0xFFE1, true));
        let got = batches(&e);
        assert_eq!(got.len(), 2, "{got:?}");
        assert_eq!((got[0].start_ms, got[0].last_ms, got[0].text.as_str()), (6000, 10_020, "ab"));
        assert_eq!((got[1].start_ms, got[1].text.as_str()), (15_020, "c"));
    }
}
