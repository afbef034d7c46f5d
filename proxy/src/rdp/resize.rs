//! Live resize over the display control channel (MS-RDPEDISP), without I/O: which sizes
//! a browser may ask for, what a desktop is asked to take, and when a request goes out.
//!
//! The page already waits for its resizing to settle; here one request is in flight at
//! a time (the desktop answers a monitor layout by deactivating and activating again at
//! the new size), and what the browser asks for meanwhile is kept, the latest winning.

use std::time::{Duration, Instant};

/// The most pixels a session may have (4K UHD): the recorder keeps a decoded screen per
/// session, and a keyframe compresses a whole one.
pub const MAX_PIXELS: u64 = 3840 * 2160;

/// A side the spec allows in a monitor layout (MS-RDPEDISP 2.2.2.2.1).
pub const MIN_SIDE: u32 = 200;
pub const MAX_SIDE: u32 = 8192;

/// A side longer than this is no screen: the browser that asks for it is refused.
const ABSURD_SIDE: u32 = 16384;

/// How long a request may wait for the desktop's new activation before another may go:
/// a desktop that took the layout but did not change (or ignored it) does not block
/// the next one for ever.
pub const ANSWER_WITHIN: Duration = Duration::from_secs(5);

/// A width and height in desktop pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Size {
    pub width: u32,
    pub height: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the browser asked for a desktop of {width}×{height} pixels, which no screen is")]
pub struct AbsurdSize {
    pub width: u32,
    pub height: u32,
}

/// The size a browser asked for, made one the desktop may be asked for: each side within
/// 200..=8192, the width even, the area within both `max_area` (what the desktop said it
/// takes) and [`MAX_PIXELS`], scaled down keeping the shape. A zero or absurd side is
/// refused.
pub fn fit(width: u32, height: u32, max_area: u64) -> Result<Size, AbsurdSize> {
    if width == 0 || height == 0 || width > ABSURD_SIDE || height > ABSURD_SIDE {
        return Err(AbsurdSize { width, height });
    }
    let (mut w, mut h) = (width.clamp(MIN_SIDE, MAX_SIDE), height.clamp(MIN_SIDE, MAX_SIDE));
    // The smallest area the sides allow is always allowed.
    let limit = max_area.min(MAX_PIXELS).max(u64::from(MIN_SIDE) * u64::from(MIN_SIDE));
    if u64::from(w) * u64::from(h) > limit {
        let scale = (limit as f64 / (f64::from(w) * f64::from(h))).sqrt();
        w = (f64::from(w) * scale) as u32;
        h = (f64::from(h) * scale) as u32;
        // A side below the smallest takes it, and the other gives up what that costs.
        let rest = || u32::try_from(limit / u64::from(MIN_SIDE)).unwrap_or(MAX_SIDE).min(MAX_SIDE);
        if w < MIN_SIDE {
            (w, h) = (MIN_SIDE, h.min(rest()));
        }
        if h < MIN_SIDE {
            (w, h) = (w.min(rest()), MIN_SIDE);
        }
    }
    Ok(Size { width: w & !1, height: h })
}

/// When a monitor layout goes to the desktop.
#[derive(Debug)]
pub struct Resizer {
    /// The desktop's size now.
    current: Size,
    /// The size asked for and when, until the desktop activates again.
    in_flight: Option<(Size, Instant)>,
    /// What the browser asked for while one was in flight.
    pending: Option<Size>,
}

impl Resizer {
    pub fn new(current: Size) -> Resizer {
        Resizer { current, in_flight: None, pending: None }
    }

    /// The browser asked for `size` (already [`fit`]) at `now`: the size to ask the
    /// desktop for now, or `None` (it is the size already, or one is in flight: kept).
    pub fn request(&mut self, size: Size, now: Instant) -> Option<Size> {
        match self.in_flight {
            Some((asked, since)) if now.duration_since(since) < ANSWER_WITHIN => {
                self.pending = (size != asked).then_some(size);
                None
            }
            _ => {
                self.pending = None;
                if size == self.current {
                    self.in_flight = None;
                    return None;
                }
                self.in_flight = Some((size, now));
                Some(size)
            }
        }
    }

    /// The desktop activated again at `size` (its answer, or a change of its own): the
    /// size to ask for next, if the browser asked for another meanwhile.
    pub fn activated(&mut self, size: Size, now: Instant) -> Option<Size> {
        self.current = size;
        self.in_flight = None;
        let pending = self.pending.take()?;
        self.request(pending, now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn size(width: u32, height: u32) -> Size {
        Size { width, height }
    }

    #[test]
    fn sizes_are_clamped_to_what_the_spec_and_the_desktop_allow() {
        let any = u64::MAX;
        assert_eq!(fit(1920, 1080, any), Ok(size(1920, 1080)));
        assert_eq!(fit(1281, 721, any), Ok(size(1280, 721)), "the width is even, the height need not be");
        assert_eq!(fit(10, 150, any), Ok(size(200, 200)));
        let huge = fit(8192, 8192, any).unwrap();
        assert!(u64::from(huge.width) * u64::from(huge.height) <= MAX_PIXELS);
        assert_eq!(huge.width, huge.height, "the shape is kept");
        // The desktop said it takes at most 1024×768 worth of pixels.
        let small = fit(1600, 1200, 1024 * 768).unwrap();
        assert!(u64::from(small.width) * u64::from(small.height) <= 1024 * 768);
        assert_eq!(small.width % 2, 0);
        assert!((f64::from(small.width) / f64::from(small.height) - 4.0 / 3.0).abs() < 0.01);
        // A desktop that claims no area at all still gets the smallest screen.
        assert_eq!(fit(800, 600, 0), Ok(size(200, 200)));
        // A long thin window within a small area: the short side at its smallest.
        let thin = fit(3000, 300, 400 * 300).unwrap();
        assert_eq!(thin.height, 200);
        assert!(u64::from(thin.width) * 200 <= 400 * 300, "{thin:?}");
    }

    #[test]
    fn a_zero_or_absurd_size_is_refused() {
        assert_eq!(fit(0, 600, u64::MAX), Err(AbsurdSize { width: 0, height: 600 }));
        assert!(fit(800, 0, u64::MAX).is_err());
        assert!(fit(100_000, 600, u64::MAX).is_err());
        assert!(fit(16384, 16384, u64::MAX).is_ok(), "large, but a screen: scaled down");
    }

    #[test]
    fn one_request_is_in_flight_and_the_latest_asked_meanwhile_goes_next() {
        let t0 = Instant::now();
        let ms = |n: u64| t0 + Duration::from_millis(n);
        let mut resizer = Resizer::new(size(1024, 768));
        assert_eq!(resizer.request(size(1024, 768), ms(0)), None, "the size it is already");
        assert_eq!(resizer.request(size(1280, 800), ms(0)), Some(size(1280, 800)));
        assert_eq!(resizer.request(size(1300, 800), ms(100)), None, "waits for the answer");
        assert_eq!(resizer.request(size(1400, 900), ms(200)), None);
        // The desktop took the first: the latest asked for goes now.
        assert_eq!(resizer.activated(size(1280, 800), ms(900)), Some(size(1400, 900)));
        assert_eq!(resizer.activated(size(1400, 900), ms(1500)), None);
        assert_eq!(resizer.request(size(1400, 900), ms(1600)), None);
    }

    #[test]
    fn asking_again_for_the_size_in_flight_sends_nothing_more() {
        let t0 = Instant::now();
        let mut resizer = Resizer::new(size(1024, 768));
        assert_eq!(resizer.request(size(1280, 800), t0), Some(size(1280, 800)));
        assert_eq!(resizer.request(size(1300, 800), t0), None);
        assert_eq!(resizer.request(size(1280, 800), t0), None, "back to the size asked: nothing pending");
        assert_eq!(resizer.activated(size(1280, 800), t0), None);
    }

    #[test]
    fn a_desktop_that_never_answers_does_not_block_the_next_request() {
        let t0 = Instant::now();
        let mut resizer = Resizer::new(size(1024, 768));
        assert_eq!(resizer.request(size(1280, 800), t0), Some(size(1280, 800)));
        assert_eq!(resizer.request(size(1300, 800), t0 + Duration::from_secs(1)), None);
        assert_eq!(resizer.request(size(1300, 800), t0 + ANSWER_WITHIN), Some(size(1300, 800)));
    }

    #[test]
    fn a_desktop_that_changes_size_by_itself_is_followed() {
        let t0 = Instant::now();
        let mut resizer = Resizer::new(size(1024, 768));
        assert_eq!(resizer.activated(size(800, 600), t0), None);
        assert_eq!(resizer.request(size(1024, 768), t0), Some(size(1024, 768)));
    }
}
