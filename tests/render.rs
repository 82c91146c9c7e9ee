//! Pixel tests of the renderer, one behaviour each, through the public
//! snapshot API on crafted recordings.

mod common;

use common::{Rec, solid_image};
use image::ImageFormat;
use video_worker::playback::PlaybackError;
use video_worker::snapshot::{Snapshot, snapshot_files};

const RED: [u8; 4] = [255, 0, 0, 255];
const GREEN: [u8; 4] = [0, 255, 0, 255];
const BLUE: [u8; 4] = [0, 0, 255, 255];
const WHITE: [u8; 4] = [255, 255, 255, 255];

/// A 64x48 screen, black, with time starting at 1000.
fn screen() -> Rec {
    Rec::new().size(0, 64, 48).fill(0, 0, 0, 64, 48, [0, 0, 0, 255])
}

fn shot_at(rec: &Rec, at: i64) -> Snapshot {
    let dir = tempfile::tempdir().unwrap();
    let path = rec.write(dir.path(), "test.guac");
    snapshot_files(&[path], at).unwrap()
}

/// The picture after the whole recording.
fn shot(rec: &Rec) -> Snapshot {
    shot_at(rec, i64::MAX / 2)
}

fn px(s: &Snapshot, x: u32, y: u32) -> [u8; 3] {
    let p = s.picture.pixel(x, y);
    [(p >> 16) as u8, (p >> 8) as u8, p as u8]
}

fn rgb(c: [u8; 4]) -> [u8; 3] {
    [c[0], c[1], c[2]]
}

#[test]
fn rect_and_cfill_fill_exactly_the_rectangle() {
    let s = shot(&screen().fill(0, 10, 5, 4, 3, RED).sync(1000));
    assert_eq!(px(&s, 10, 5), rgb(RED));
    assert_eq!(px(&s, 13, 7), rgb(RED));
    assert_eq!(px(&s, 14, 7), [0, 0, 0]);
    assert_eq!(px(&s, 13, 8), [0, 0, 0]);
}

#[test]
fn several_rects_make_one_path_filled_once() {
    // Two overlapping rects, half-transparent white: the overlap is not darker/brighter.
    let s = shot(
        &screen().rect(0, 0, 0, 10, 10).rect(0, 5, 0, 10, 10).cfill(14, 0, [255, 255, 255, 128]).sync(1000),
    );
    assert_eq!(px(&s, 2, 2), px(&s, 7, 2));
    assert_eq!(px(&s, 7, 2), px(&s, 12, 2));
}

#[test]
fn copy_moves_pixels_and_handles_overlap_on_the_same_layer() {
    // A red column at x=0..2, then scroll the layer right by 1 onto itself.
    let s = shot(&screen().fill(0, 0, 0, 2, 10, RED).copy(0, 0, 0, 10, 10, 14, 0, 1, 0).sync(1000));
    assert_eq!(px(&s, 0, 0), rgb(RED));
    assert_eq!(px(&s, 2, 0), rgb(RED));
    assert_eq!(px(&s, 3, 0), [0, 0, 0]);
}

#[test]
fn copy_from_an_offscreen_buffer_which_grows_to_fit() {
    let s = shot(&screen().fill(-1, 20, 20, 5, 5, GREEN).copy(-1, 20, 20, 5, 5, 14, 0, 0, 0).sync(1000));
    assert_eq!(px(&s, 4, 4), rgb(GREEN));
    assert_eq!(px(&s, 20, 20), [0, 0, 0], "buffers are never visible");
}

#[test]
fn png_jpeg_and_webp_images_are_drawn() {
    for (format, mime) in [
        (ImageFormat::Png, "image/png"),
        (ImageFormat::Jpeg, "image/jpeg"),
        (ImageFormat::WebP, "image/webp"),
    ] {
        let data = solid_image(8, 8, BLUE, format);
        let s = shot(&screen().img(1, 14, 0, mime, 30, 20, &data).sync(1000));
        let p = px(&s, 33, 23);
        assert!(p[2] > 240 && p[0] < 10 && p[1] < 10, "{mime}: {p:?}");
        assert_eq!(px(&s, 29, 23), [0, 0, 0], "{mime}");
    }
}

#[test]
fn png_alpha_is_composited_premultiplied() {
    let data = solid_image(4, 4, [255, 255, 255, 128], ImageFormat::Png);
    let s = shot(&screen().fill(0, 0, 0, 64, 48, BLUE).img(1, 14, 0, "image/png", 0, 0, &data).sync(1000));
    let p = px(&s, 1, 1);
    assert!((i32::from(p[0]) - 128).abs() <= 1 && (i32::from(p[2]) - 255).abs() <= 1, "{p:?}");
}

#[test]
fn webp_cursor_with_alpha_has_no_box() {
    // A cursor image: white dot in a transparent 8x8 WebP, as RDP sends it.
    let mut img = image::RgbaImage::from_pixel(8, 8, image::Rgba([0, 0, 0, 0]));
    img.put_pixel(0, 0, image::Rgba(WHITE));
    let data = common::encode(image::DynamicImage::ImageRgba8(img), ImageFormat::WebP);
    let rec = screen()
        .fill(0, 0, 0, 64, 48, BLUE)
        .size(-2, 8, 8)
        .img(1, 14, -2, "image/webp", 0, 0, &data)
        .op("cursor", &[&0, &0, &-2, &0, &0, &8, &8])
        .mouse(20, 20, 1000)
        .sync(1000);
    let s = shot(&rec);
    assert_eq!(px(&s, 20, 20), [255, 255, 255]);
    assert_eq!(px(&s, 21, 21), rgb(BLUE), "transparent cursor pixels must not hide the screen");
}

#[test]
fn cursor_is_drawn_at_mouse_minus_hotspot_once_the_mouse_is_known() {
    let base =
        screen().size(-3, 2, 2).fill(-3, 0, 0, 2, 2, GREEN).op("cursor", &[&1, &1, &-3, &0, &0, &2, &2]);
    let hidden = shot(&base.clone().sync(1000));
    assert!((0..48).all(|y| (0..64).all(|x| px(&hidden, x, y) == [0, 0, 0])), "no mouse yet: no cursor");
    let s = shot(&base.mouse(10, 10, 1000).sync(1000));
    assert_eq!(px(&s, 9, 9), rgb(GREEN));
    assert_eq!(px(&s, 10, 10), rgb(GREEN));
    assert_eq!(px(&s, 11, 11), [0, 0, 0]);
}

#[test]
fn cursor_is_not_clipped_by_child_layers() {
    // guacenc clips the cursor to the last child layer; the browser does not.
    let rec = screen()
        .size(1, 4, 4)
        .fill(1, 0, 0, 4, 4, RED)
        .op("move", &[&1, &0, &0, &0, &0])
        .size(-3, 2, 2)
        .fill(-3, 0, 0, 2, 2, GREEN)
        .op("cursor", &[&0, &0, &-3, &0, &0, &2, &2])
        .mouse(30, 30, 1000)
        .sync(1000);
    let s = shot(&rec);
    assert_eq!(px(&s, 30, 30), rgb(GREEN));
    assert_eq!(px(&s, 1, 1), rgb(RED));
}

#[test]
fn higher_z_siblings_are_on_top_like_the_browser() {
    let rec = screen()
        .size(1, 10, 10)
        .fill(1, 0, 0, 10, 10, RED)
        .size(2, 10, 10)
        .fill(2, 0, 0, 10, 10, GREEN)
        .op("move", &[&1, &0, &0, &0, &5])
        .op("move", &[&2, &0, &5, &0, &1])
        .sync(1000);
    let s = shot(&rec);
    assert_eq!(px(&s, 7, 5), rgb(RED), "z=5 is above z=1 where they overlap");
    assert_eq!(px(&s, 12, 5), rgb(GREEN));
}

#[test]
fn child_layers_are_positioned_relative_to_their_parent_with_opacity() {
    let rec = screen()
        .size(1, 20, 20)
        .fill(1, 0, 0, 20, 20, BLUE)
        .op("move", &[&1, &0, &10, &10, &0])
        .size(2, 4, 4)
        .fill(2, 0, 0, 4, 4, WHITE)
        .op("move", &[&2, &1, &5, &5, &0])
        .op("shade", &[&2, &128])
        .sync(1000);
    let s = shot(&rec);
    assert_eq!(px(&s, 10, 10), rgb(BLUE));
    let p = px(&s, 16, 16);
    assert!((i32::from(p[0]) - 128).abs() <= 1 && p[2] == 255, "half-transparent white over blue: {p:?}");
}

#[test]
fn disposed_layer_and_its_children_disappear() {
    let rec = screen()
        .size(1, 10, 10)
        .fill(1, 0, 0, 10, 10, RED)
        .size(2, 2, 2)
        .fill(2, 0, 0, 2, 2, GREEN)
        .op("move", &[&2, &1, &20, &20, &0])
        .op("dispose", &[&1])
        .size(1, 10, 10)
        .sync(1000);
    let s = shot(&rec);
    assert_eq!(px(&s, 1, 1), [0, 0, 0]);
    assert_eq!(px(&s, 20, 20), [0, 0, 0], "the child of a disposed layer stays detached");
}

#[test]
fn composite_modes_follow_the_canvas() {
    // ROUT (2) clears a rectangle; RATOP (9) and SRC (12) clear everything outside the shape.
    let s = shot(&screen().fill(0, 0, 0, 64, 48, RED).rect(0, 0, 0, 4, 4).cfill(2, 0, WHITE).sync(1000));
    assert_eq!(px(&s, 1, 1), [0, 0, 0]);
    assert_eq!(px(&s, 5, 5), rgb(RED));
    let s = shot(&screen().fill(0, 0, 0, 64, 48, RED).rect(0, 0, 0, 4, 4).cfill(12, 0, GREEN).sync(1000));
    assert_eq!(px(&s, 1, 1), rgb(GREEN));
    assert_eq!(px(&s, 5, 5), [0, 0, 0], "copy is unbounded on a canvas");
    let s =
        shot(&screen().fill(0, 0, 0, 64, 48, RED).rect(0, 0, 0, 4, 4).cfill(9, 0, [0, 0, 0, 0]).sync(1000));
    assert_eq!(px(&s, 1, 1), [0, 0, 0]);
    assert_eq!(px(&s, 5, 5), [0, 0, 0]);
    let s = shot(&screen().fill(0, 0, 0, 64, 48, RED).rect(0, 0, 0, 4, 4).cfill(11, 0, GREEN).sync(1000));
    assert_eq!(px(&s, 1, 1), rgb(RED), "destination-over keeps the opaque destination");
}

#[test]
fn transfer_applies_raster_operations() {
    let rec = screen()
        .fill(0, 0, 0, 10, 10, [0xF0, 0x0F, 0xFF, 255])
        .fill(-1, 0, 0, 10, 10, [0xFF, 0xFF, 0x00, 255])
        .op("transfer", &[&-1, &0, &0, &10, &10, &6, &0, &0, &0])
        .sync(1000);
    assert_eq!(px(&shot(&rec), 5, 5), [0x0F, 0xF0, 0xFF]);
}

#[test]
fn mid_session_resize_grows_the_canvas_and_keeps_content() {
    let rec = screen()
        .fill(0, 0, 0, 4, 4, RED)
        .sync(1000)
        .size(0, 128, 64)
        .fill(0, 100, 50, 4, 4, GREEN)
        .sync(2000);
    let early = shot_at(&rec, 0);
    assert_eq!((early.picture.width(), early.picture.height()), (128, 64), "canvas = largest screen");
    assert_eq!(px(&early, 1, 1), rgb(RED));
    assert_eq!(px(&early, 101, 51), [0, 0, 0], "not drawn yet");
    let late = shot_at(&rec, 1000);
    assert_eq!(px(&late, 1, 1), rgb(RED), "content survives the resize");
    assert_eq!(px(&late, 101, 51), rgb(GREEN));
}

#[test]
fn a_stream_is_forgotten_at_its_end() {
    // guacenc redraws the old image when a clipboard stream reuses the index.
    let png = solid_image(4, 4, RED, ImageFormat::Png);
    let rec = screen()
        .img(1, 14, 0, "image/png", 0, 0, &png)
        .sync(1000)
        .fill(0, 0, 0, 64, 48, BLUE)
        .op("clipboard", &[&1, &"text/plain"])
        .op("blob", &[&1, &common::b64(b"hello")])
        .op("end", &[&1])
        .sync(2000);
    assert_eq!(px(&shot(&rec), 1, 1), rgb(BLUE));
}

#[test]
fn snapshot_time_counts_from_the_first_sync() {
    let rec = screen().sync(5000).fill(0, 0, 0, 4, 4, RED).sync(6000).fill(0, 0, 0, 4, 4, GREEN).sync(7000);
    assert_eq!(px(&shot_at(&rec, 999), 1, 1), [0, 0, 0]);
    assert_eq!(px(&shot_at(&rec, 1000), 1, 1), rgb(RED));
    assert_eq!(px(&shot_at(&rec, 1999), 1, 1), rgb(RED));
    assert_eq!(px(&shot_at(&rec, 2000), 1, 1), rgb(GREEN));
}

#[test]
fn half_drawn_frames_are_never_shown() {
    // A mouse event between drawing and its sync must not show the drawing early.
    let rec = screen().sync(1000).fill(0, 0, 0, 4, 4, RED).mouse(30, 30, 1500).sync(2000);
    // Session time: the mouse is at 500 ms, the frame's sync at 1000 ms.
    let mid = shot_at(&rec, 600);
    assert_eq!(px(&mid, 1, 1), [0, 0, 0]);
    assert_eq!(px(&shot_at(&rec, 1000), 1, 1), rgb(RED));
}

#[test]
fn timestamps_going_backwards_keep_their_drawing() {
    let rec = screen()
        .sync(1000)
        .fill(0, 0, 0, 4, 4, RED)
        .sync(3000)
        .fill(0, 0, 0, 4, 4, GREEN)
        .sync(2500) // older than the previous sync: clamped, not dropped
        .fill(10, 10, 4, 4, 4, BLUE)
        .sync(4000);
    let s = shot_at(&rec, 2000);
    assert_eq!(px(&s, 1, 1), rgb(GREEN));
    assert_eq!(s.report.backwards_timestamps, 1);
}

#[test]
fn corrupt_images_are_skipped_with_a_warning_naming_the_offset() {
    let mut jpeg = solid_image(16, 16, RED, ImageFormat::Jpeg);
    jpeg.truncate(jpeg.len() / 3);
    let rec = screen().img(1, 14, 0, "image/jpeg", 0, 0, &jpeg).fill(0, 20, 20, 4, 4, GREEN).sync(1000);
    let s = shot(&rec);
    assert_eq!(px(&s, 21, 21), rgb(GREEN), "drawing goes on after a bad image");
    assert_eq!(s.report.bad_images, 1);
    let offset = screen().text().len();
    assert!(
        s.report
            .warnings
            .iter()
            .any(|w| w.contains(&format!("opened at byte {offset}")) && w.contains("jpeg")),
        "{:?}",
        s.report.warnings
    );
}

#[test]
fn bad_base64_characters_are_reported_and_skipped() {
    let png = solid_image(2, 2, RED, ImageFormat::Png);
    let mut b64 = common::b64(&png);
    b64.insert(4, '*');
    let rec = screen()
        .op("img", &[&1, &14, &0, &"image/png", &0, &0])
        .op("blob", &[&1, &b64])
        .op("end", &[&1])
        .sync(1000);
    let s = shot(&rec);
    assert_eq!(px(&s, 0, 0), rgb(RED));
    assert!(s.report.warnings.iter().any(|w| w.contains("not base64")), "{:?}", s.report.warnings);
}

#[test]
fn out_of_range_indices_are_warnings_not_crashes() {
    let rec = screen()
        .fill(5000, 0, 0, 4, 4, RED)
        .fill(-99999, 0, 0, 4, 4, RED)
        .op("img", &[&99999, &14, &0, &"image/png", &0, &0])
        .fill(0, 0, 0, 2, 2, GREEN)
        .sync(1000);
    let s = shot(&rec);
    assert_eq!(px(&s, 0, 0), rgb(GREEN));
    assert!(s.report.warnings.len() >= 3, "{:?}", s.report.warnings);
}

#[test]
fn unknown_opcodes_are_skipped_and_counted() {
    let rec = screen().op("frobnicate", &[&1]).op("arc", &[&0, &1, &2]).op("frobnicate", &[]).sync(1000);
    let s = shot(&rec);
    assert_eq!(s.report.unknown_opcodes.get("frobnicate"), Some(&2));
    assert_eq!(s.report.unknown_opcodes.get("arc"), Some(&1));
}

#[test]
fn truncated_recording_renders_what_came_before() {
    let mut text = screen().fill(0, 0, 0, 4, 4, RED).sync(1000).fill(0, 0, 0, 4, 4, GREEN).text().to_string();
    text.push_str("4.sync,4.20");
    let s = shot(&Rec::new().raw(&text));
    assert_eq!(px(&s, 1, 1), rgb(GREEN), "the drawing before the cut is shown at the end");
    assert_eq!(s.report.truncated.len(), 1);
}

#[test]
fn absurd_sizes_fail_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let rec = screen().sync(1000).rect(-7, 0, 0, 20000, 20000).cfill(14, -7, RED).sync(2000);
    let path = rec.write(dir.path(), "huge.guac");
    let err = snapshot_files(&[path], 5000).err().expect("must fail");
    assert!(matches!(err, PlaybackError::TooLarge { .. }), "{err}");
    assert!(err.to_string().contains("huge.guac") && err.to_string().contains("byte"), "{err}");
}

#[test]
fn a_recording_without_a_screen_size_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = Rec::new().sync(1000).write(dir.path(), "nosize.guac");
    let err = snapshot_files(&[path], 0).err().expect("must fail");
    assert!(err.to_string().contains("screen size"), "{err}");
}

#[test]
fn several_parts_play_as_one_session() {
    let dir = tempfile::tempdir().unwrap();
    let one = screen().fill(0, 0, 0, 4, 4, RED).sync(1000).write(dir.path(), "part1.guac");
    let two = Rec::new().fill(0, 10, 10, 4, 4, GREEN).sync(3000).write(dir.path(), "part2.guac");
    let s = snapshot_files(&[one.clone(), two.clone()], 2000).unwrap();
    assert_eq!(px(&s, 1, 1), rgb(RED));
    assert_eq!(px(&s, 11, 11), rgb(GREEN), "part 2 draws on part 1's screen at its own time");
    let before = snapshot_files(&[one, two], 1999).unwrap();
    assert_eq!(px(&before, 11, 11), [0, 0, 0]);
}
