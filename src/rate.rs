//! Bandwidth caps: `--backup-rate-limit 300k` parsed, and the token bucket
//! that paces an upload to it (the S3 bucket sends a body in chunks, each
//! after the wait [`TokenBucket::take`] computes).

use std::time::{Duration, Instant};

/// Bytes per second from `300k`, `2M`, `1.5m`, `64KiB`, `1g/s` or a plain
/// number of bytes. Units are binary (k = 1024 bytes), as rsync's and
/// curl's limits are; the value must be at least one byte per second.
pub fn parse_rate(text: &str) -> Result<u64, String> {
    let bad = || format!("{text:?}: not a rate (bytes per second, e.g. 300k, 2M, 1.5G)");
    let t = text.trim();
    let t = t.strip_suffix("/s").unwrap_or(t);
    let digits = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(digits);
    if number.is_empty() || number.starts_with('.') || number.ends_with('.') {
        return Err(bad());
    }
    let value: f64 = number.parse().map_err(|_| bad())?;
    let scale: u64 = match unit {
        "" | "B" => 1,
        "k" | "K" | "kB" | "KB" | "KiB" => 1 << 10,
        "m" | "M" | "MB" | "MiB" => 1 << 20,
        "g" | "G" | "GB" | "GiB" => 1 << 30,
        _ => return Err(bad()),
    };
    let bytes = value * scale as f64;
    if !bytes.is_finite() || bytes >= u64::MAX as f64 {
        return Err(bad());
    }
    if bytes < 1.0 {
        return Err(format!("{text:?}: at least one byte per second"));
    }
    Ok(bytes as u64)
}

/// The size of the pieces a paced upload sends: an eighth of a second's
/// worth, at least 1 KiB and at most 64 KiB.
pub fn chunk_size(rate: u64) -> usize {
    (rate / 8).clamp(1024, 64 * 1024) as usize
}

/// A token bucket of `rate` bytes per second holding at most one chunk:
/// after a pause the upload may send one chunk at once, never catch up
/// more, so no second is ever much over the cap.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    rate: f64,
    capacity: f64,
    tokens: f64,
    last: Option<Instant>,
}

impl TokenBucket {
    pub fn new(rate: u64) -> TokenBucket {
        let capacity = chunk_size(rate) as f64;
        TokenBucket {
            rate: rate.max(1) as f64,
            capacity,
            tokens: capacity,
            last: None,
        }
    }

    /// Takes `n` bytes at `now`: how long to wait before sending them.
    /// The bytes are owed at once (the bucket may go into debt), so the
    /// next caller waits for them too.
    pub fn take(&mut self, n: u64, now: Instant) -> Duration {
        if let Some(last) = self.last {
            let earned = now.saturating_duration_since(last).as_secs_f64() * self.rate;
            self.tokens = (self.tokens + earned).min(self.capacity);
        }
        self.last = Some(now);
        self.tokens -= n as f64;
        if self.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-self.tokens / self.rate)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_parse_with_binary_units_and_garbage_is_refused() {
        for (text, want) in [
            ("300k", 300 * 1024),
            ("300K", 300 * 1024),
            ("2M", 2 << 20),
            ("1.5m", 3 << 19),
            ("64KiB", 64 << 10),
            ("1g/s", 1 << 30),
            ("12345", 12345),
            ("100B", 100),
            (" 8k ", 8192),
        ] {
            assert_eq!(parse_rate(text), Ok(want), "{text}");
        }
        for bad in [
            "",
            "k",
            "fast",
            "10x",
            "-5k",
            "1..2M",
            ".5M",
            "5.M",
            "1e3",
            "0",
            "0k",
            "0.1",
            "10 k",
            "2MM",
            "99999999999999999999G",
        ] {
            assert!(parse_rate(bad).is_err(), "{bad:?} was accepted");
        }
        assert!(parse_rate("nope").unwrap_err().contains("\"nope\""));
    }

    /// Sends `total` bytes in chunks through the bucket, the clock moved
    /// on by exactly each computed wait: the time it takes.
    fn paced(rate: u64, total: u64) -> Duration {
        let mut bucket = TokenBucket::new(rate);
        let chunk = chunk_size(rate) as u64;
        let mut now = Instant::now();
        let start = now;
        let mut sent = 0;
        while sent < total {
            let n = chunk.min(total - sent);
            now += bucket.take(n, now);
            sent += n;
        }
        now - start
    }

    #[test]
    fn an_upload_is_paced_to_the_rate_after_one_chunk() {
        for (rate, total) in [
            (300 * 1024, 3 * 1024 * 1024),
            (10_000, 100_000),
            (2 << 20, 50 << 20),
            (1000, 10_000),
        ] {
            let chunk = chunk_size(rate) as f64;
            let want = (total as f64 - chunk) / rate as f64;
            let took = paced(rate, total).as_secs_f64();
            assert!(
                (took - want).abs() < 1e-6,
                "{total} bytes at {rate}/s took {took}s, want {want}s"
            );
        }
    }

    #[test]
    fn a_pause_earns_at_most_one_chunk() {
        let rate = 10_000;
        let chunk = chunk_size(rate) as u64;
        let mut bucket = TokenBucket::new(rate);
        let t0 = Instant::now();
        assert_eq!(bucket.take(chunk, t0), Duration::ZERO);
        // A minute idle: one chunk goes at once, the next waits its share.
        let t1 = t0 + Duration::from_secs(60);
        assert_eq!(bucket.take(chunk, t1), Duration::ZERO);
        let wait = bucket.take(chunk, t1);
        let want = chunk as f64 / rate as f64;
        assert!((wait.as_secs_f64() - want).abs() < 1e-9, "{wait:?}");
    }
}
