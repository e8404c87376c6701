//! The live view: what a terminal shows of a running capture, redrawn every interval, and the
//! one plain line per interval that a dumb terminal gets. Plain lines only: the caller owns the
//! screen (cursor moves, clearing), so this stays a renderer of the data it is given.

use super::table::{Align, columns, cut, ports, unknown_port};
use super::units::{bits_per_s, bytes, per_s, thousands, utc};
use crate::capture::Linktype;
use crate::report::{IntervalReport, Report};
use std::fmt::Write as _;

/// The mark of a row that appeared in this interval.
pub const NEW_MARK: &str = "*";

/// What the view shows besides the report.
#[derive(Clone, Copy, Debug)]
pub struct ViewContext<'a> {
    pub interface: &'a str,
    pub linktype: Linktype,
    /// Seconds since the capture started.
    pub running: f64,
    /// The refresh interval, in seconds.
    pub refresh: f64,
    /// The screen size, in characters.
    pub width: usize,
    pub height: usize,
    /// Unknown ports to show.
    pub top_unknown: usize,
    /// Something the user must see now (the interface went down), or `None`.
    pub notice: Option<&'a str>,
}

/// `3725.2` → `1:02:05`.
#[must_use]
pub fn clock(secs: f64) -> String {
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "display of a finite duration"
    )]
    let s = if secs.is_finite() && secs > 0.0 { secs as u64 } else { 0 };
    format!("{}:{:02}:{:02}", s / 3600, (s % 3600) / 60, s % 60)
}

fn refresh(secs: f64) -> String {
    if (secs - secs.round()).abs() < 1e-9 { format!("{secs:.0} s") } else { format!("{secs} s") }
}

#[expect(clippy::cast_precision_loss, reason = "percentages for display")]
fn percent(part: u64, whole: u64) -> String {
    if whole == 0 { "-".into() } else { format!("{:.2}%", part as f64 * 100.0 / whole as f64) }
}

/// Narrowest a service name is cut to on a narrow screen.
const MIN_NAME: usize = 16;

/// Cuts a name to `width` characters, the last one an ellipsis.
fn shorten(name: &str, width: usize) -> String {
    if name.chars().count() <= width {
        return name.to_owned();
    }
    let mut s: String = name.chars().take(width.saturating_sub(1)).collect();
    s.push('…');
    s
}

/// Cuts a line to `width` characters.
fn fit(mut line: String, width: usize) -> String {
    if let Some((at, _)) = line.char_indices().nth(width) {
        line.truncate(at);
    }
    line
}

/// The drop warning, when anything was lost; `None` when nothing was.
#[must_use]
pub fn drop_warning(r: &Report) -> Option<String> {
    let c = r.capture?;
    (c.lost() > 0).then(|| {
        format!(
            "WARNING: {} packets dropped ({} by the kernel, {} by the interface; {} of received): the figures are incomplete",
            thousands(c.lost()),
            thousands(c.dropped),
            thousands(c.if_dropped),
            percent(c.lost(), c.received),
        )
    })
}

fn aligned(indent: &str, align: &[Align], rows: &[Vec<String>]) -> Vec<String> {
    let mut buf = Vec::new();
    // Writing to a Vec cannot fail.
    let _ = columns(&mut buf, indent, align, rows);
    String::from_utf8_lossy(&buf).lines().map(str::to_owned).collect()
}

/// The screen: every line to draw, each at most `cx.width` characters, at most `cx.height`
/// lines.
#[must_use]
#[expect(clippy::too_many_lines, reason = "one section after another, as on the screen")]
pub fn view(r: &Report, iv: &IntervalReport, cx: &ViewContext<'_>) -> Vec<String> {
    use Align::{Left as L, Right as R};
    let t = &r.totals;
    let mut head = vec![
        format!(
            "{} live on {} ({})   running {}   refresh {}   {} UTC",
            r.generator,
            cx.interface,
            cx.linktype.name().unwrap_or("?"),
            clock(cx.running),
            refresh(cx.refresh),
            utc(iv.end),
        ),
        format!(
            "Now:     {} pkt/s   {}   flows: {} started, {} live",
            per_s(iv.packets_per_s),
            bits_per_s(iv.bits_per_s),
            thousands(iv.flows_started),
            thousands(iv.flows_live),
        ),
        format!(
            "Total:   {} packets   {}   {} flows",
            thousands(t.packets),
            bytes(t.bytes),
            thousands(t.flows)
        ),
    ];
    if let Some(c) = r.capture {
        head.push(format!(
            "Capture: {} received, {} dropped by the kernel, {} by the interface",
            thousands(c.received),
            thousands(c.dropped),
            thousands(c.if_dropped),
        ));
    }
    head.extend(drop_warning(r));
    if let Some(n) = cx.notice {
        head.push(format!("NOTE: {n}"));
    }
    head.push(String::new());

    // Unknown ports of this interval.
    let unknown_shown: Vec<_> = iv.unknown.iter().take(cx.top_unknown).collect();
    let mut tail = Vec::new();
    tail.push(String::new());
    if unknown_shown.is_empty() {
        tail.push(format!(
            "Unknown server ports: none in this interval ({} so far)",
            thousands(r.unknown.len() as u64)
        ));
    } else {
        tail.push(format!(
            "Unknown server ports now, top {} by bytes ({} so far)",
            unknown_shown.len(),
            thousands(r.unknown.len() as u64 + r.unknown_other.map_or(0, |o| o.ports))
        ));
        let mut rows =
            vec![["", "port (IANA name)", "pkt/s", "bit/s", "packets", "bytes"].map(String::from).to_vec()];
        for u in &unknown_shown {
            rows.push(vec![
                if u.new { NEW_MARK.into() } else { String::new() },
                unknown_port(u.transport, u.port, u.name),
                per_s(u.packets_per_s),
                bits_per_s(u.bits_per_s),
                thousands(u.packets),
                bytes(u.bytes),
            ]);
        }
        tail.extend(aligned(" ", &[L, L, R, R, R, R], &rows));
    }
    tail.push(String::new());
    let service_packets: u64 = r.services.iter().map(|s| s.packets).sum();
    let unknown_packets: u64 =
        r.unknown.iter().map(|u| u.packets).sum::<u64>() + r.unknown_other.map_or(0, |o| o.packets);
    tail.push(format!(
        "Packets: {} = services {} + unknown ports {} + other IP {} + non-IP {} + skipped {}",
        thousands(t.packets),
        thousands(service_packets),
        thousands(unknown_packets),
        thousands(t.other_ip_packets),
        thousands(t.non_ip_packets),
        thousands(t.skipped_packets),
    ));
    tail.push(format!("{NEW_MARK} new in this interval.  Ctrl-C stops and prints the summary."));

    // Services: running totals beside this interval's rates, busiest now first.
    let mut rows: Vec<(u64, Vec<String>)> = r
        .services
        .iter()
        .map(|s| {
            let now = iv.services.iter().find(|n| n.service == s.service && n.transport == s.transport);
            let cells = vec![
                if now.is_some_and(|n| n.new) { NEW_MARK.into() } else { String::new() },
                cut(&s.service),
                s.transport.as_str().into(),
                ports(&s.ports),
                per_s(now.map_or(0.0, |n| n.packets_per_s)),
                bits_per_s(now.map_or(0.0, |n| n.bits_per_s)),
                thousands(s.packets),
                bytes(s.bytes),
                thousands(s.flows),
            ];
            (now.map_or(0, |n| n.bytes), cells)
        })
        .collect();
    // Stable: equal rates keep the report's order (total bytes).
    rows.sort_by_key(|r| std::cmp::Reverse(r.0));
    let room = cx.height.saturating_sub(head.len() + tail.len() + 1).max(2);
    let mut middle = Vec::new();
    if rows.is_empty() {
        middle.push("  (no service traffic yet)".to_owned());
    } else {
        let shown = if rows.len() > room { room - 1 } else { rows.len() };
        let mut table = vec![
            ["", "service", "proto", "ports", "pkt/s", "bit/s", "packets", "bytes", "flows"]
                .map(String::from)
                .to_vec(),
        ];
        table.extend(rows.iter().take(shown).map(|(_, c)| c.clone()));
        let align = [L, L, L, L, R, R, R, R, R];
        let mut lines = aligned(" ", &align, &table);
        // On a narrow screen the names give way, so the figures stay in view.
        let widest = lines.iter().map(|l| l.chars().count()).max().unwrap_or(0);
        if widest > cx.width {
            let name_width = table.iter().map(|r| r[1].chars().count()).max().unwrap_or(0);
            let keep = name_width.saturating_sub(widest - cx.width).max(MIN_NAME);
            for row in table.iter_mut().skip(1) {
                row[1] = shorten(&row[1], keep);
            }
            lines = aligned(" ", &align, &table);
        }
        middle.extend(lines);
        if rows.len() > shown {
            middle.push(format!("  … {} more services", rows.len() - shown));
        }
    }

    let mut lines = head;
    lines.extend(middle);
    lines.extend(tail);
    lines.truncate(cx.height.max(1));
    // Escaped before fitting: the interface and service names are not flowtag's own.
    lines.into_iter().map(|l| fit(super::escape::visible(&l).into_owned(), cx.width)).collect()
}

/// One plain line per interval, for a terminal that cannot move its cursor (`TERM=dumb`).
#[must_use]
pub fn status_line(r: &Report, iv: &IntervalReport, cx: &ViewContext<'_>) -> String {
    let t = &r.totals;
    let mut line = format!(
        "{} {}: {} pkt/s, {}, {} flows live; total {} packets, {}, {} flows",
        utc(iv.end),
        cx.interface,
        per_s(iv.packets_per_s),
        bits_per_s(iv.bits_per_s),
        thousands(iv.flows_live),
        thousands(t.packets),
        bytes(t.bytes),
        thousands(t.flows),
    );
    let busiest: Vec<String> = iv
        .services
        .iter()
        .filter(|s| s.packets > 0)
        .take(3)
        .map(|s| format!("{}{} {}", if s.new { NEW_MARK } else { "" }, s.service, bits_per_s(s.bits_per_s)))
        .collect();
    if !busiest.is_empty() {
        line.push_str("; now: ");
        line.push_str(&busiest.join(", "));
    }
    if let Some(c) = r.capture {
        let _ = write!(line, "; dropped {} by the kernel, {} by the interface", c.dropped, c.if_dropped);
    }
    super::escape::visible(&line).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_helpers() {
        assert_eq!(clock(3725.2), "1:02:05");
        assert_eq!(clock(-1.0), "0:00:00");
        assert_eq!(refresh(1.0), "1 s");
        assert_eq!(refresh(0.5), "0.5 s");
        assert_eq!(fit("abcdef".into(), 3), "abc");
        assert_eq!(fit("ab…d".into(), 3), "ab…");
        assert_eq!(fit("ab".into(), 3), "ab");
        assert_eq!(shorten("Common Internet File System", 10), "Common In…");
        assert_eq!(shorten("CIFS", 10), "CIFS");
    }

    #[test]
    fn unknown_ports_show_iana_names_as_hints() {
        let (r, iv) = super::super::unknown_ports_report();
        let cx = ViewContext {
            interface: "eth0",
            linktype: Linktype::ETHERNET,
            running: 1.0,
            refresh: 1.0,
            width: 120,
            height: 40,
            top_unknown: 10,
            notice: None,
        };
        let lines = view(&r, &iv, &cx);
        let at = lines.iter().position(|l| l.starts_with("Unknown server ports now")).unwrap();
        assert_eq!(
            lines[at + 1..at + 4],
            [
                "    port (IANA name)  pkt/s       bit/s  packets  bytes",
                " *  udp/5355 (llmnr)      1  1.6 kbit/s        1  200 B",
                " *  udp/40124             1   800 bit/s        1  100 B",
            ],
            "{lines:#?}"
        );
    }
}
