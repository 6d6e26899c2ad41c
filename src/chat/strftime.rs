//! `strftime_now(format)`, which HF passes to every chat template (Llama 3.1's writes
//! `strftime_now("%d %b %Y")` into its system prompt).
//!
//! HF formats the machine's local time with Python's `datetime.strftime`. A browser tab has no
//! time zone we could trust to match, so this is the current UTC time; the formatting itself is
//! Python's (C locale), checked against `time.strftime` in tests/suite/templates.rs.

/// The seconds since the Unix epoch, now (std's clock panics on wasm32).
pub fn unix_now() -> i64 {
    #[cfg(target_arch = "wasm32")]
    {
        (js_sys::Date::now() / 1000.0).floor() as i64
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        use std::time::{SystemTime, UNIX_EPOCH};
        match SystemTime::now().duration_since(UNIX_EPOCH) {
            Ok(d) => d.as_secs() as i64,
            Err(e) => -(e.duration().as_secs_f64().ceil() as i64),
        }
    }
}

const DAYS: [&str; 7] = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];
const MONTHS: [&str; 12] =
    ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"];

/// `format` as Python's `time.strftime(format, time.gmtime(unix))` writes it in the C locale.
/// Directives other than the portable ones below are kept as written (what glibc does with
/// one it does not know).
pub fn strftime(format: &str, unix: i64) -> String {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    let (hour, minute, second) = (secs / 3600, secs / 60 % 60, secs % 60);
    // 1970-01-01 was a Thursday (index 3 from Monday).
    let weekday = (days + 3).rem_euclid(7) as usize;
    let yday = days - days_from_civil(year, 1, 1) + 1;
    let mut out = String::new();
    let mut chars = format.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let Some(d) = chars.next() else {
            out.push('%');
            break;
        };
        match d {
            'Y' => out += &year.to_string(),
            'y' => out += &format!("{:02}", year.rem_euclid(100)),
            'm' => out += &format!("{month:02}"),
            'd' => out += &format!("{day:02}"),
            'e' => out += &format!("{day:2}"),
            'j' => out += &format!("{yday:03}"),
            'H' => out += &format!("{hour:02}"),
            'I' => out += &format!("{:02}", (hour + 11) % 12 + 1),
            'M' => out += &format!("{minute:02}"),
            'S' => out += &format!("{second:02}"),
            'p' => out += if hour < 12 { "AM" } else { "PM" },
            'a' => out += &DAYS[weekday][..3],
            'A' => out += DAYS[weekday],
            'b' | 'h' => out += &MONTHS[month as usize - 1][..3],
            'B' => out += MONTHS[month as usize - 1],
            'u' => out += &(weekday + 1).to_string(),
            'w' => out += &((weekday + 1) % 7).to_string(),
            'F' => out += &format!("{year}-{month:02}-{day:02}"),
            'T' => out += &format!("{hour:02}:{minute:02}:{second:02}"),
            'R' => out += &format!("{hour:02}:{minute:02}"),
            'D' => out += &format!("{month:02}/{day:02}/{:02}", year.rem_euclid(100)),
            'n' => out.push('\n'),
            't' => out.push('\t'),
            '%' => out.push('%'),
            other => {
                out.push('%');
                out.push(other);
            }
        }
    }
    out
}

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// (year, month, day) → days since 1970-01-01, the inverse of [`civil_from_days`].
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}
