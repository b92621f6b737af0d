//! What an evidence photo looks like and when it was taken, so that a
//! photo used again (on another claim, by another customer) and a photo
//! older than the delivery it complains about can be told.
//!
//! - The look is a 64-bit difference hash (dHash): the picture in grey at
//!   9 × 8 pixels, one bit per neighbouring pair "is the left one
//!   brighter". Re-saving, resizing or recompressing a photo changes a few
//!   bits at most; a different photo differs in about half of them.
//! - The time is EXIF `DateTimeOriginal`, with `OffsetTimeOriginal` when
//!   the camera wrote one. Without an offset the local time could be
//!   anywhere from UTC−12 to UTC+14, so it is kept as the latest instant it
//!   can be: "taken before delivery" then never accuses a customer whose
//!   camera was in another time zone.
//!
//! Only JPEG and PNG are decoded (what phones send for photos; videos and
//! other types have no fingerprint). Decoding is bounded: images larger
//! than [`MAX_PIXELS`] are not decoded at all.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

/// Photos whose hashes differ in at most this many bits are the same
/// photo. With [`BANDS`] bands of 16 bits, two such hashes always share a
/// band exactly (pigeonhole), which is how they are found in the store.
pub const SAME_PHOTO_BITS: u32 = 3;
/// The hash is looked up by its four 16-bit quarters.
pub const BANDS: usize = 4;
/// Bigger pictures are not decoded: a phone's usual 12-megapixel photo
/// fits, and decoding stays well inside a 256 MB function.
pub const MAX_PIXELS: u64 = 16_000_000;

/// A photo's look and capture time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fingerprint {
    /// The difference hash, as 16 hex digits.
    #[serde(with = "hex_u64")]
    pub hash: u64,
    /// The latest instant the photo can have been taken, from EXIF.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub taken_by: Option<DateTime<Utc>>,
}

impl Fingerprint {
    /// The fingerprint of an image file, or None when it is not a JPEG or
    /// PNG that decodes (a video, a broken or oversized file).
    pub fn of(bytes: &[u8]) -> Option<Fingerprint> {
        Some(Fingerprint {
            hash: dhash(bytes)?,
            taken_by: taken_by(bytes),
        })
    }

    /// Whether two fingerprints are of the same photo. A flat picture (a
    /// dark or blank shot, a plain gradient) hashes to nearly all zeros or
    /// ones whatever it shows: it is never "the same photo".
    pub fn same_photo(&self, other: &Fingerprint) -> bool {
        self.distinctive()
            && other.distinctive()
            && (self.hash ^ other.hash).count_ones() <= SAME_PHOTO_BITS
    }

    /// Enough structure for the hash to tell photos apart.
    pub fn distinctive(&self) -> bool {
        (8..=56).contains(&self.hash.count_ones())
    }

    /// The hash's bands, each as `{index}{4 hex digits}`: the keys under
    /// which it is stored and looked up.
    pub fn bands(&self) -> [String; BANDS] {
        std::array::from_fn(|i| format!("{i}{:04x}", (self.hash >> (16 * i)) & 0xffff))
    }

    /// Taken before `at` for certain (see the module notes on time zones).
    pub fn taken_before(&self, at: DateTime<Utc>) -> bool {
        self.taken_by.is_some_and(|t| t < at)
    }
}

fn dhash(bytes: &[u8]) -> Option<u64> {
    use image::{imageops::FilterType, ImageFormat, ImageReader};
    let format = image::guess_format(bytes).ok()?;
    if !matches!(format, ImageFormat::Jpeg | ImageFormat::Png) {
        return None;
    }
    let mut reader = ImageReader::with_format(std::io::Cursor::new(bytes), format);
    let mut limits = image::Limits::default();
    limits.max_alloc = Some(MAX_PIXELS * 4);
    reader.limits(limits);
    let (w, h) = reader.into_dimensions().ok()?;
    if w == 0 || h == 0 || u64::from(w) * u64::from(h) > MAX_PIXELS {
        return None;
    }
    let mut reader = ImageReader::with_format(std::io::Cursor::new(bytes), format);
    let mut limits = image::Limits::default();
    limits.max_alloc = Some(MAX_PIXELS * 4);
    reader.limits(limits);
    let grey = reader.decode().ok()?.to_luma8();
    // A thumbnail first keeps the final filter cheap on big photos.
    let small = image::imageops::thumbnail(&grey, 64, 64);
    let tiny = image::imageops::resize(&small, 9, 8, FilterType::Triangle);
    let mut hash = 0u64;
    for y in 0..8 {
        for x in 0..8 {
            let left = tiny.get_pixel(x, y).0[0];
            let right = tiny.get_pixel(x + 1, y).0[0];
            hash = hash << 1 | u64::from(left > right);
        }
    }
    Some(hash)
}

/// EXIF capture time, as the latest UTC instant it can be.
fn taken_by(bytes: &[u8]) -> Option<DateTime<Utc>> {
    use exif::{In, Tag, Value};
    let exif = exif::Reader::new()
        .read_from_container(&mut std::io::Cursor::new(bytes))
        .ok()?;
    let ascii = |tag| match exif.get_field(tag, In::PRIMARY).map(|f| &f.value) {
        Some(Value::Ascii(v)) => v.first().cloned(),
        _ => None,
    };
    let mut dt = exif::DateTime::from_ascii(&ascii(Tag::DateTimeOriginal)?).ok()?;
    if let Some(offset) = ascii(Tag::OffsetTimeOriginal) {
        // A malformed offset is as good as none.
        let _ = dt.parse_offset(&offset);
    }
    let local = NaiveDate::from_ymd_opt(dt.year.into(), dt.month.into(), dt.day.into())?
        .and_hms_opt(dt.hour.into(), dt.minute.into(), dt.second.into())?;
    // UTC = local − offset; unknown offset: the earliest zone, UTC−12.
    let offset_minutes = dt.offset.map_or(-12 * 60, i64::from);
    Some((local - chrono::Duration::minutes(offset_minutes)).and_utc())
}

mod hex_u64 {
    use serde::{de::Error, Deserialize, Deserializer, Serializer};
    pub fn serialize<S: Serializer>(v: &u64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("{v:016x}"))
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        let s = String::deserialize(d)?;
        u64::from_str_radix(&s, 16).map_err(D::Error::custom)
    }
}

/// Photos for tests: a JPEG of a pattern drawn from `seed`, optionally
/// with an EXIF capture time, so tests upload real files.
pub mod sample {
    use image::{ImageBuffer, Luma};

    /// A `w` × `h` JPEG whose content depends on `seed` (different seeds
    /// give different photos; the same seed at another size is the same
    /// photo resized).
    pub fn jpeg(seed: u32, w: u32, h: u32, taken: Option<(&str, Option<&str>)>) -> Vec<u8> {
        let img = ImageBuffer::from_fn(w, h, |x, y| {
            // Smooth blobs whose places depend on the seed: a photo-like
            // picture that survives resizing.
            let fx = x as f32 / w as f32;
            let fy = y as f32 / h as f32;
            let s = seed as f32;
            let v =
                ((fx * (3.0 + s % 5.0) + s).sin() * (fy * (2.0 + s % 7.0) - s).cos() + 1.0) * 127.0;
            Luma([v as u8])
        });
        let mut out = Vec::new();
        let encoder = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 85);
        img.write_with_encoder(encoder)
            .unwrap_or_else(|e| unreachable!("encoding to memory: {e}"));
        match taken {
            None => out,
            Some((datetime, offset)) => with_exif(&out, datetime, offset),
        }
    }

    /// `jpeg` with an APP1 EXIF segment carrying DateTimeOriginal
    /// ("YYYY:MM:DD HH:MM:SS") and OffsetTimeOriginal ("+08:00").
    fn with_exif(jpeg: &[u8], datetime: &str, offset: Option<&str>) -> Vec<u8> {
        use exif::experimental::Writer;
        use exif::{Field, In, Tag, Value};
        let mut fields = vec![Field {
            tag: Tag::DateTimeOriginal,
            ifd_num: In::PRIMARY,
            value: Value::Ascii(vec![datetime.as_bytes().to_vec()]),
        }];
        if let Some(o) = offset {
            fields.push(Field {
                tag: Tag::OffsetTimeOriginal,
                ifd_num: In::PRIMARY,
                value: Value::Ascii(vec![o.as_bytes().to_vec()]),
            });
        }
        let mut w = Writer::new();
        for f in &fields {
            w.push_field(f);
        }
        let mut tiff = std::io::Cursor::new(Vec::new());
        w.write(&mut tiff, false)
            .unwrap_or_else(|e| unreachable!("writing EXIF to memory: {e}"));
        let tiff = tiff.into_inner();
        let len = u16::try_from(2 + 6 + tiff.len()).unwrap_or(u16::MAX);
        let mut out = Vec::with_capacity(jpeg.len() + tiff.len() + 10);
        out.extend_from_slice(&jpeg[..2]);
        out.extend_from_slice(&[0xff, 0xe1]);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(b"Exif\0\0");
        out.extend_from_slice(&tiff);
        out.extend_from_slice(&jpeg[2..]);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::sample::jpeg;
    use super::*;

    #[test]
    fn the_same_photo_resized_and_recompressed_is_the_same() {
        let a = Fingerprint::of(&jpeg(7, 640, 480, None)).expect("a jpeg");
        let b = Fingerprint::of(&jpeg(7, 320, 240, None)).expect("a jpeg");
        assert!(a.same_photo(&b), "{:016x} vs {:016x}", a.hash, b.hash);
        assert!(
            a.bands().iter().any(|x| b.bands().contains(x)),
            "shares a band"
        );
        for other in [1, 2, 3, 11, 12] {
            let c = Fingerprint::of(&jpeg(other, 640, 480, None)).expect("a jpeg");
            assert!(!a.same_photo(&c), "seed {other} is another photo");
        }
    }

    #[test]
    fn capture_time_with_and_without_an_offset() {
        let with = Fingerprint::of(&jpeg(
            3,
            64,
            64,
            Some(("2026:05:01 10:00:00", Some("+08:00"))),
        ))
        .expect("a jpeg");
        assert_eq!(
            with.taken_by.map(|t| t.to_rfc3339()),
            Some("2026-05-01T02:00:00+00:00".into())
        );
        let without =
            Fingerprint::of(&jpeg(3, 64, 64, Some(("2026:05:01 10:00:00", None)))).expect("a jpeg");
        // Unknown zone: as late as it can be (UTC−12).
        assert_eq!(
            without.taken_by.map(|t| t.to_rfc3339()),
            Some("2026-05-01T22:00:00+00:00".into())
        );
        let delivered = "2026-05-01T21:00:00Z".parse::<DateTime<Utc>>().unwrap();
        assert!(with.taken_before(delivered));
        assert!(
            !without.taken_before(delivered),
            "could be after, in UTC-12"
        );
        assert!(!Fingerprint::of(&jpeg(3, 64, 64, None))
            .unwrap()
            .taken_before(delivered));
    }

    #[test]
    fn what_is_not_a_photo_has_no_fingerprint() {
        assert_eq!(Fingerprint::of(b"not an image"), None);
        assert_eq!(Fingerprint::of(&[]), None);
        let mut truncated = jpeg(5, 64, 64, None);
        truncated.truncate(40);
        assert_eq!(Fingerprint::of(&truncated), None);
        // An MP4 header.
        assert_eq!(Fingerprint::of(b"\0\0\0\x18ftypmp42\0\0\0\0mp42isom"), None);
    }

    #[test]
    fn serialises_the_hash_as_hex() {
        let f = Fingerprint {
            hash: 0x0123_4567_89ab_cdef,
            taken_by: None,
        };
        let v = serde_json::to_value(f).unwrap();
        assert_eq!(v, serde_json::json!({"hash": "0123456789abcdef"}));
        assert_eq!(serde_json::from_value::<Fingerprint>(v).unwrap(), f);
        assert_eq!(f.bands()[0], "0cdef");
        assert_eq!(f.bands()[3], "30123");
    }
}
