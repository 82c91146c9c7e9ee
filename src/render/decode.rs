//! Decoding the images of `img` streams (PNG, JPEG, WebP) into premultiplied
//! surfaces. Decoding is pure and thread-safe, so the pipeline runs it on a
//! pool while the renderer keeps drawing.

use image::{ImageFormat, ImageReader, Limits};

use super::composite::premultiply;
use super::surface::Surface;

/// Largest width or height accepted for one image.
pub const MAX_IMAGE_SIDE: u32 = 16_384;
/// Most memory the decoder may allocate for one image.
const MAX_IMAGE_ALLOC: u64 = 512 * 1024 * 1024;

/// Image formats guacd sends; anything else is reported and not drawn.
pub fn format_for_mimetype(mimetype: &str) -> Option<ImageFormat> {
    match mimetype {
        "image/png" => Some(ImageFormat::Png),
        "image/jpeg" => Some(ImageFormat::Jpeg),
        "image/webp" => Some(ImageFormat::WebP),
        _ => None,
    }
}

/// Decodes an image into a premultiplied surface, or says why it cannot.
pub fn decode_image(bytes: &[u8], format: ImageFormat) -> Result<Surface, String> {
    if bytes.is_empty() {
        return Err("the image stream carried no data".into());
    }
    let mut reader = ImageReader::with_format(std::io::Cursor::new(bytes), format);
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_IMAGE_SIDE);
    limits.max_image_height = Some(MAX_IMAGE_SIDE);
    limits.max_alloc = Some(MAX_IMAGE_ALLOC);
    reader.limits(limits);
    let image = reader.decode().map_err(|e| format!("cannot decode {format:?} image: {e}"))?;
    let rgba = image.into_rgba8();
    let (w, h) = rgba.dimensions();
    let pixels = rgba.pixels().map(|p| premultiply(p[0], p[1], p[2], p[3])).collect();
    Ok(Surface::from_pixels(w, h, pixels))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(img: &image::RgbaImage, format: ImageFormat) -> Vec<u8> {
        let mut out = std::io::Cursor::new(Vec::new());
        img.write_to(&mut out, format).unwrap();
        out.into_inner()
    }

    #[test]
    fn png_alpha_is_premultiplied() {
        let img = image::RgbaImage::from_pixel(2, 1, image::Rgba([255, 0, 0, 128]));
        let s = decode_image(&encode(&img, ImageFormat::Png), ImageFormat::Png).unwrap();
        assert_eq!(s.pixel(0, 0), 0x80800000);
    }

    #[test]
    fn webp_alpha_is_premultiplied_not_boxed() {
        let mut img = image::RgbaImage::from_pixel(4, 4, image::Rgba([0, 0, 0, 0]));
        img.put_pixel(1, 1, image::Rgba([255, 255, 255, 255]));
        let s = decode_image(&encode(&img, ImageFormat::WebP), ImageFormat::WebP).unwrap();
        assert_eq!(s.pixel(0, 0), 0, "transparent pixels must stay transparent");
        assert_eq!(s.pixel(1, 1), 0xFFFFFFFF);
    }

    #[test]
    fn corrupt_and_truncated_images_are_errors() {
        let img = image::RgbImage::from_pixel(16, 16, image::Rgb([10, 20, 30]));
        let mut jpeg = std::io::Cursor::new(Vec::new());
        img.write_to(&mut jpeg, ImageFormat::Jpeg).unwrap();
        let jpeg = jpeg.into_inner();
        assert!(decode_image(&jpeg[..jpeg.len() / 3], ImageFormat::Jpeg).is_err());
        assert!(decode_image(b"not an image", ImageFormat::Png).is_err());
        assert!(decode_image(b"", ImageFormat::WebP).is_err());
    }
}
