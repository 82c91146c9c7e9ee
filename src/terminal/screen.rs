//! The terminal's screen, kept by asciinema's own emulator (`avt`): cursor
//! movement, scroll regions, the alternate screen, erase, insert/delete,
//! wide characters and line wrap. This wrapper only adds which rows changed
//! since the picture was last drawn.

use avt::observer::DirtyRows;

pub use avt::{Cell, Color, Line, Pen};

pub struct Screen {
    vt: avt::Terminal,
    observer: DirtyRows,
    /// Rows to redraw; all of them after a resize.
    dirty: Vec<bool>,
    /// Where the cursor was drawn last (its row needs a redraw when it moves).
    drawn_cursor: Option<(usize, usize)>,
}

impl Screen {
    /// A blank screen; sizes are at least 1x1.
    pub fn new(cols: u16, rows: u16) -> Screen {
        let (cols, rows) = (usize::from(cols.max(1)), usize::from(rows.max(1)));
        let vt = avt::Terminal::new(cols, rows).expect("a positive size");
        Screen { vt, observer: DirtyRows::new(), dirty: vec![true; rows], drawn_cursor: None }
    }

    pub fn size(&self) -> (usize, usize) {
        self.vt.size()
    }

    /// Interprets terminal output.
    pub fn feed(&mut self, text: &str) {
        let before = self.vt.size();
        let rows = self.vt.feed_with(text, &mut self.observer);
        if self.vt.size() != before {
            self.all_dirty();
            return;
        }
        for row in rows {
            if let Some(d) = self.dirty.get_mut(row) {
                *d = true;
            }
        }
    }

    pub fn resize(&mut self, cols: u16, rows: u16) {
        let (cols, rows) = (usize::from(cols.max(1)), usize::from(rows.max(1)));
        if (cols, rows) != self.vt.size() {
            self.vt.resize_with(cols, rows, &mut self.observer);
            self.all_dirty();
        }
    }

    fn all_dirty(&mut self) {
        self.dirty = vec![true; self.vt.size().1];
    }

    /// The cursor's cell when the terminal shows it.
    pub fn cursor(&self) -> Option<(usize, usize)> {
        self.vt.cursor().position()
    }

    /// Rows to redraw since the last call, in order: changed rows and the
    /// rows the cursor left and entered.
    pub fn take_dirty(&mut self) -> Vec<usize> {
        let cursor = self.cursor();
        if cursor != self.drawn_cursor {
            for (_, row) in [self.drawn_cursor, cursor].into_iter().flatten() {
                if let Some(d) = self.dirty.get_mut(row) {
                    *d = true;
                }
            }
            self.drawn_cursor = cursor;
        }
        let rows = self.dirty.iter().enumerate().filter_map(|(i, &d)| d.then_some(i)).collect();
        self.dirty.iter_mut().for_each(|d| *d = false);
        rows
    }

    pub fn line(&self, row: usize) -> Option<&Line> {
        self.vt.screen().line(row)
    }

    /// The visible text, one string a row, each wide character once,
    /// trailing blanks trimmed: what an independent emulator is compared on.
    pub fn text(&self) -> Vec<String> {
        self.vt
            .screen()
            .visible_lines()
            .map(|line| {
                let row: String = line.cells().iter().filter(|c| c.width() > 0).map(|c| c.char()).collect();
                row.trim_end().to_string()
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wide_characters_take_two_cells() {
        let mut s = Screen::new(10, 2);
        s.feed("中文ab");
        let line = s.line(0).unwrap();
        let widths: Vec<u8> = line.cells().iter().take(6).map(|c| c.width()).collect();
        assert_eq!(widths, vec![2, 0, 2, 0, 1, 1]);
        assert_eq!(s.text()[0], "中文ab");
    }

    #[test]
    fn the_alternate_screen_comes_and_goes() {
        let mut s = Screen::new(20, 3);
        s.feed("shell$ ");
        s.feed("\x1b[?1049h\x1b[2J\x1b[Hfull screen");
        assert_eq!(s.text()[0], "full screen");
        s.feed("\x1b[?1049l");
        assert_eq!(s.text()[0], "shell$");
    }

    #[test]
    fn dirty_rows_follow_changes_and_the_cursor() {
        let mut s = Screen::new(10, 4);
        s.feed("a");
        assert_eq!(s.take_dirty().len(), 4, "the first picture is drawn whole");
        s.feed("\x1b[3;1Hx");
        let d = s.take_dirty();
        assert!(d.contains(&2), "{d:?}");
        assert!(!d.contains(&1), "{d:?}");
        assert!(s.take_dirty().is_empty());
    }
}
