//! Numbers for people: thousands separators, SI byte units, UTC dates, durations.

/// `1234567` → `1,234,567`.
#[must_use]
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Bytes in SI units (kB = 1000 B, as capinfos and most network tools print them).
#[must_use]
#[expect(clippy::cast_precision_loss, reason = "display only")]
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 6] = ["kB", "MB", "GB", "TB", "PB", "EB"];
    if n < 1000 {
        return format!("{n} B");
    }
    scaled(n as f64, &UNITS)
}

/// `v` (at least 1000) divided by 1000 until it is below 1000 with one decimal, and the unit
/// that names that many thousands (`units[0]` for one thousand).
fn scaled(v: f64, units: &[&str]) -> String {
    let mut v = v / 1000.0;
    let mut unit = 0;
    while v >= 999.95 && unit + 1 < units.len() {
        v /= 1000.0;
        unit += 1;
    }
    format!("{v:.1} {}", units[unit])
}

/// A bit rate in SI units: `0 bit/s`, `950 bit/s`, `12.3 kbit/s`, `1.2 Gbit/s`.
#[must_use]
pub fn bits_per_s(bps: f64) -> String {
    const UNITS: [&str; 4] = ["kbit/s", "Mbit/s", "Gbit/s", "Tbit/s"];
    if !bps.is_finite() || bps < 999.5 {
        return format!("{:.0} bit/s", bps.max(0.0));
    }
    scaled(bps, &UNITS)
}

/// A rate rounded to a whole number with thousands separators (`1,234`).
#[must_use]
pub fn per_s(rate: f64) -> String {
    #[expect(clippy::cast_possible_truncation, clippy::cast_sign_loss, reason = "display of a finite rate")]
    let n = if rate.is_finite() && rate > 0.0 { rate.round() as u64 } else { 0 };
    thousands(n)
}

/// A duration in seconds as `1h 2m`, `3m 4s`, `5.2 s`, `12 ms`.
#[must_use]
pub fn duration_s(secs: f64) -> String {
    if !secs.is_finite() || secs < 0.0 {
        return "-".into();
    }
    if secs < 1.0 {
        return format!("{:.0} ms", secs * 1000.0);
    }
    if secs < 60.0 {
        return format!("{secs:.1} s");
    }
    #[expect(clippy::cast_possible_truncation, clippy::cast_sign_loss, reason = "positive, finite")]
    let s = secs.round() as u64;
    if s < 3600 {
        format!("{}m {}s", s / 60, s % 60)
    } else if s < 86_400 {
        format!("{}h {}m", s / 3600, (s % 3600) / 60)
    } else {
        format!("{}d {}h", s / 86_400, (s % 86_400) / 3600)
    }
}

/// A duration in milliseconds, compactly: `0.31 ms`, `45 ms`, `2.1 s`, `5m 3s`.
#[must_use]
pub fn millis(ms: f64) -> String {
    if ms <= 0.0 {
        "0".into()
    } else if ms < 1.0 {
        format!("{ms:.2} ms")
    } else if ms < 1000.0 {
        format!("{ms:.0} ms")
    } else {
        duration_s(ms / 1000.0)
    }
}

/// Epoch seconds as `YYYY-MM-DD HH:MM:SS` in UTC (proleptic Gregorian; no time zone database).
#[must_use]
pub fn utc(epoch: f64) -> String {
    if !epoch.is_finite() || epoch < 0.0 {
        return "-".into();
    }
    #[expect(clippy::cast_possible_truncation, clippy::cast_sign_loss, reason = "positive, finite")]
    let secs = epoch.floor() as u64;
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}", rem / 3600, (rem % 3600) / 60, rem % 60)
}

/// Days since 1970-01-01 to a civil date (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(1234), "1,234");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(bytes(999), "999 B");
        assert_eq!(bytes(1500), "1.5 kB");
        assert_eq!(bytes(4_587_450_000), "4.6 GB");
        assert_eq!(utc(1_041_379_200.5), "2003-01-01 00:00:00");
        assert_eq!(utc(951_782_400.0), "2000-02-29 00:00:00");
        assert_eq!(utc(4_294_967_295.0), "2106-02-07 06:28:15");
        assert_eq!(duration_s(3725.0), "1h 2m");
        assert_eq!(millis(0.314), "0.31 ms");
        assert_eq!(bits_per_s(0.0), "0 bit/s");
        assert_eq!(bits_per_s(999.0), "999 bit/s");
        assert_eq!(bits_per_s(12_345.0), "12.3 kbit/s");
        assert_eq!(bits_per_s(1_000_000_000.0), "1.0 Gbit/s");
        assert_eq!(per_s(1234.4), "1,234");
        assert_eq!(per_s(f64::NAN), "0");
    }
}
