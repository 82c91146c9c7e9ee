//! A minimal Matroska writer for raw video frames with millisecond
//! timestamps, the cheapest way to hand variable-rate video to ffmpeg over
//! a pipe: changed frames only, exact times, no temporary files.
//!
//! Layout: EBML header, a Segment of unknown size (so it can be streamed),
//! Info with a 1 ms timecode scale, one uncompressed video track, then one
//! Cluster per frame holding a single keyframe SimpleBlock.

use std::io::{self, Write};

/// EBML element sizes are written in the 8-byte form: simple and always valid.
fn size8(n: u64) -> [u8; 8] {
    let mut b = n.to_be_bytes();
    b[0] = 0x01;
    b
}

fn element(id: &[u8], payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(id.len() + 8 + payload.len());
    out.extend_from_slice(id);
    out.extend_from_slice(&size8(payload.len() as u64));
    out.extend_from_slice(payload);
    out
}

fn uint(v: u64) -> Vec<u8> {
    let bytes = v.to_be_bytes();
    let skip = bytes.iter().take(7).take_while(|&&b| b == 0).count();
    bytes[skip..].to_vec()
}

/// Writes the stream header: EBML header, Segment start, Info and Tracks.
/// `fourcc` names the raw pixel layout (`I420`, `BGRA`).
pub fn write_header(out: &mut impl Write, width: u32, height: u32, fourcc: &[u8; 4]) -> io::Result<()> {
    let ebml = [
        element(&[0x42, 0x86], &uint(1)),    // EBMLVersion
        element(&[0x42, 0xF7], &uint(1)),    // EBMLReadVersion
        element(&[0x42, 0xF2], &uint(4)),    // EBMLMaxIDLength
        element(&[0x42, 0xF3], &uint(8)),    // EBMLMaxSizeLength
        element(&[0x42, 0x82], b"matroska"), // DocType
        element(&[0x42, 0x87], &uint(4)),    // DocTypeVersion
        element(&[0x42, 0x85], &uint(2)),    // DocTypeReadVersion
    ]
    .concat();
    out.write_all(&element(&[0x1A, 0x45, 0xDF, 0xA3], &ebml))?;
    // Segment of unknown size: the stream ends when the pipe closes.
    out.write_all(&[0x18, 0x53, 0x80, 0x67, 0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF])?;
    let info = [
        element(&[0x2A, 0xD7, 0xB1], &uint(1_000_000)), // TimecodeScale: 1 ms
        element(&[0x4D, 0x80], b"video-worker"),        // MuxingApp
        element(&[0x57, 0x41], b"video-worker"),        // WritingApp
    ]
    .concat();
    out.write_all(&element(&[0x15, 0x49, 0xA9, 0x66], &info))?;
    let video = [
        element(&[0xB0], &uint(width.into())),  // PixelWidth
        element(&[0xBA], &uint(height.into())), // PixelHeight
        element(&[0x2E, 0xB5, 0x24], fourcc),   // ColourSpace (FourCC)
    ]
    .concat();
    let track = [
        element(&[0xD7], &uint(1)),          // TrackNumber
        element(&[0x73, 0xC5], &uint(1)),    // TrackUID
        element(&[0x83], &uint(1)),          // TrackType: video
        element(&[0x86], b"V_UNCOMPRESSED"), // CodecID
        element(&[0xE0], &video),
    ]
    .concat();
    let tracks = element(&[0xAE], &track); // TrackEntry
    out.write_all(&element(&[0x16, 0x54, 0xAE, 0x6B], &tracks))
}

/// Writes one frame (raw bytes) shown from `ms` on.
pub fn write_frame(out: &mut impl Write, ms: u64, data: &[u8]) -> io::Result<()> {
    let timecode = element(&[0xE7], &uint(ms));
    // SimpleBlock header: track 1, relative timecode 0, keyframe flag.
    let block_header = [0x81, 0x00, 0x00, 0x80];
    let block_len = (block_header.len() + data.len()) as u64;
    let block_size = 1 + 8 + block_len;
    let cluster_len = timecode.len() as u64 + block_size;
    out.write_all(&[0x1F, 0x43, 0xB6, 0x75])?;
    out.write_all(&size8(cluster_len))?;
    out.write_all(&timecode)?;
    out.write_all(&[0xA3])?;
    out.write_all(&size8(block_len))?;
    out.write_all(&block_header)?;
    out.write_all(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uint_uses_the_fewest_bytes() {
        assert_eq!(uint(0), [0]);
        assert_eq!(uint(1), [1]);
        assert_eq!(uint(1_000_000), [0x0F, 0x42, 0x40]);
    }

    #[test]
    fn frame_cluster_sizes_add_up() {
        let mut out = Vec::new();
        write_frame(&mut out, 40, &[1, 2, 3, 4]).unwrap();
        // 4 id + 8 size, then the declared payload exactly.
        let declared = u64::from_be_bytes({
            let mut b = [0u8; 8];
            b.copy_from_slice(&out[4..12]);
            b[0] = 0;
            b
        });
        assert_eq!(declared as usize, out.len() - 12);
        assert!(out.ends_with(&[0x81, 0, 0, 0x80, 1, 2, 3, 4]));
    }
}
