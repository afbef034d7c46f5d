//! The playback clock: the position in a recording, moved on by wall time times the
//! speed while playing. Time is an argument (the page's animation frames, the worker's
//! timer), never read here. The player asks it where playback should be, plays the
//! events up to there, and tells it when it could not get that far.

/// The speeds the players offer.
pub const SPEEDS: [f64; 7] = [0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0];
/// Pauses longer than this are shortened to it, until the person chooses otherwise.
pub const DEFAULT_IDLE_LIMIT_MS: u64 = 2000;
const SLOWEST: f64 = 0.1;
const FASTEST: f64 = 64.0;

#[derive(Debug, Clone, PartialEq)]
pub struct Clock {
    position_ms: f64,
    speed: f64,
    playing: bool,
    /// Wall time when the clock last looked.
    last_wall_ms: f64,
    /// The most one step may count for.
    longest_step_ms: f64,
    /// Gaps between events longer than this are shortened to it; 0 plays them whole.
    idle_limit_ms: u64,
}

impl Default for Clock {
    fn default() -> Clock {
        Clock::new()
    }
}

impl Clock {
    /// Paused at the start, at normal speed, idle gaps played whole.
    pub fn new() -> Clock {
        Clock {
            position_ms: 0.0,
            speed: 1.0,
            playing: false,
            last_wall_ms: 0.0,
            longest_step_ms: f64::INFINITY,
            idle_limit_ms: 0,
        }
    }

    /// A clock whose steps count for at most `ms`: a page's animation frames stop while
    /// its tab is hidden, and coming back must not jump ahead by the time away.
    pub fn with_longest_step(self, ms: f64) -> Clock {
        Clock { longest_step_ms: ms.max(0.0), ..self }
    }

    pub fn position_ms(&self) -> u64 {
        self.position_ms as u64
    }

    pub fn playing(&self) -> bool {
        self.playing
    }

    pub fn speed(&self) -> f64 {
        self.speed
    }

    /// Kept between 0.1× and 64×.
    pub fn set_speed(&mut self, speed: f64) {
        self.speed = if speed.is_finite() { speed.clamp(SLOWEST, FASTEST) } else { 1.0 };
    }

    /// Shortens pauses between events to `ms` (0: play them as they were).
    pub fn set_idle_limit(&mut self, ms: u64) {
        self.idle_limit_ms = ms;
    }

    /// Plays on from the position, counting from `now_ms`.
    pub fn play(&mut self, now_ms: f64) {
        self.playing = true;
        self.last_wall_ms = now_ms;
    }

    pub fn pause(&mut self) {
        self.playing = false;
    }

    /// Jumps to `ms`, playing or not.
    pub fn seek(&mut self, ms: u64) {
        self.position_ms = ms as f64;
    }

    /// Time passed that does not count: playback waits for bytes, or a seek is still
    /// fetching.
    pub fn wait(&mut self, now_ms: f64) {
        self.last_wall_ms = now_ms;
    }

    /// Where playback should be at wall time `now_ms`: moved on by the time since the
    /// clock last looked, times the speed, while playing. With an idle limit, a next
    /// event further ahead than the limit (`next_event_ms`) is brought that close.
    pub fn tick(&mut self, now_ms: f64, next_event_ms: Option<u64>) -> u64 {
        // Not `clamp`: with a bound known only at run time it keeps a panic that formats
        // floats, which costs the desktop worker's bundle 15 KB.
        let elapsed = (now_ms - self.last_wall_ms).max(0.0).min(self.longest_step_ms);
        self.last_wall_ms = now_ms;
        if !self.playing {
            return self.position_ms();
        }
        let mut target = self.position_ms + elapsed * self.speed;
        let limit = self.idle_limit_ms as f64;
        if limit > 0.0
            && let Some(next) = next_event_ms.map(|ms| ms as f64)
            && next > target + limit
        {
            target = next - limit;
        }
        self.position_ms = target;
        self.position_ms()
    }

    /// Playback got only as far as `ms` (the bytes after it have not arrived): the
    /// clock goes on from there, so nothing is skipped.
    pub fn hold_at(&mut self, ms: u64) {
        self.position_ms = self.position_ms.min(ms as f64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn playing_moves_with_wall_time_times_the_speed() {
        let mut clock = Clock::new();
        clock.play(1000.0);
        assert_eq!(clock.tick(1500.0, None), 500);
        clock.set_speed(4.0);
        assert_eq!(clock.tick(1600.0, None), 900);
        clock.set_speed(0.25);
        // Quarter speed over sixty 10 ms frames: the half milliseconds add up.
        let mut now = 1600.0;
        for _ in 0..60 {
            now += 10.0;
            clock.tick(now, None);
        }
        assert_eq!(clock.position_ms(), 900 + 150);
    }

    #[test]
    fn paused_or_waiting_time_does_not_count() {
        let mut clock = Clock::new();
        assert_eq!(clock.tick(5000.0, None), 0, "a new clock is paused");
        clock.play(5000.0);
        clock.tick(5100.0, None);
        clock.pause();
        assert_eq!(clock.tick(9000.0, None), 100);
        clock.play(10_000.0);
        assert_eq!(clock.tick(10_050.0, None), 150);
        clock.wait(20_000.0);
        assert_eq!(clock.tick(20_010.0, None), 160, "only the time since the wait counts");
    }

    #[test]
    fn a_long_step_counts_only_as_far_as_the_longest() {
        let mut clock = Clock::new().with_longest_step(250.0);
        clock.play(0.0);
        assert_eq!(clock.tick(60_000.0, None), 250, "back to a hidden tab");
        let mut unlimited = Clock::new();
        unlimited.play(0.0);
        assert_eq!(unlimited.tick(60_000.0, None), 60_000);
    }

    #[test]
    fn idle_gaps_longer_than_the_limit_are_shortened_to_it() {
        let mut clock = Clock::new();
        clock.set_idle_limit(2000);
        clock.play(0.0);
        assert_eq!(clock.tick(16.0, Some(30_000)), 28_000, "the next event two seconds away");
        assert_eq!(clock.tick(32.0, Some(29_000)), 28_016, "a gap within the limit plays");
        clock.set_idle_limit(0);
        assert_eq!(clock.tick(48.0, Some(90_000)), 28_032);
    }

    #[test]
    fn a_seek_moves_the_position_and_playing_goes_on_from_there() {
        let mut clock = Clock::new();
        clock.play(0.0);
        clock.tick(1000.0, None);
        clock.seek(42_000);
        assert_eq!(clock.position_ms(), 42_000);
        assert_eq!(clock.tick(1100.0, None), 42_100);
        assert!(clock.playing());
    }

    #[test]
    fn playback_that_falls_short_holds_the_clock_where_it_got() {
        let mut clock = Clock::new();
        clock.play(0.0);
        assert_eq!(clock.tick(3000.0, None), 3000);
        clock.hold_at(1200);
        assert_eq!(clock.position_ms(), 1200);
        clock.hold_at(5000);
        assert_eq!(clock.position_ms(), 1200, "never moved forward by it");
        assert_eq!(clock.tick(3100.0, None), 1300);
    }

    #[test]
    fn the_speed_stays_within_what_a_player_offers() {
        let mut clock = Clock::new();
        for speed in SPEEDS {
            clock.set_speed(speed);
            assert_eq!(clock.speed(), speed);
        }
        clock.set_speed(1000.0);
        assert_eq!(clock.speed(), 64.0);
        clock.set_speed(0.0);
        assert_eq!(clock.speed(), 0.1);
        clock.set_speed(f64::NAN);
        assert_eq!(clock.speed(), 1.0);
    }
}
