"""HTML report: one self-contained HTML5 page for IT staff (open it from disk or mail it).

Self-contained and inert: inline CSS, a few lines of inline JavaScript that only sort tables when a column
header is clicked (the page reads completely without it), no external asset, font, image or link that loads
anything. A Content-Security-Policy meta tag (``default-src 'none'``) backs that up: the one script is allowed
by its SHA-256 hash, so even a device string that slipped past escaping could not run as a script.

Every string that came from a device (or from data files) passes through :func:`camscan.report.text.escape`
(control and bidi characters shown as visible escapes) and then :func:`html.escape` with ``quote=True``, in
text and in attributes alike. Element ids are generated (``dev-3``, ``list-2``), never taken from device
strings. Citation URLs (from the policy data, never from a device) are links when they are http(s) URLs; a
link only navigates when clicked (the CSP loads nothing).

Order, what a reader needs first: a table of contents; the summary (counts per verdict, a small inline SVG
chart of flagged/total devices over the stored scans, scan time, targets); changes since the previous scan
with newly flagged devices first; the inventory (all devices grouped by verdict; why each unknown device is
unknown); the findings of flagged devices (sanctioned red, review amber): entity, the lists by name linked to
the appendix, evidence (rule note and ``source:field=value``), what to check; KEV risks; warnings; skips;
coverage; notes; the appendix with each cited list once (date, citation, link, scope) and the legal note.
"""

from __future__ import annotations

import base64
import hashlib
import html
import ipaddress

from camscan.models import Change, Device, Finding, ListCitation, ScanResult, Verdict
from camscan.report import sites
from camscan.report.common import (
    VERDICT_ORDER,
    behind_recorders,
    by_verdict,
    change_label,
    cited_lists,
    counts,
    describe_match,
    device_label,
    first_scan_note,
    has_changes,
    list_dates,
    newly_flagged,
    ordered_changes,
    place,
    risk_count,
    risk_summary,
    stored_time,
    unknown_reason,
)
from camscan.report.text import escape

_LIMIT = 1000  # longest device string shown; the JSON report keeps values whole

_TITLES = {Verdict.SANCTIONED: "Sanctioned", Verdict.REVIEW: "Review", Verdict.CLEAR: "Clear",
           Verdict.UNKNOWN: "Unknown"}
_MEANING = {
    Verdict.SANCTIONED: "firmware-level evidence that a listed maker built it",
    Verdict.REVIEW: "weak or conflicting hints point at a listed maker: a person should check",
    Verdict.CLEAR: "identified as a maker on no enabled list",
    Verdict.UNKNOWN: "not enough evidence to say who made it",
}
_CHANGE_WORDS = {"new": "new device", "gone": "gone", "ip": "IP address", "firmware": "firmware",
                 "verdict": "verdict", "manufacturer": "manufacturer", "model": "model (behind a recorder)"}

# (header, width in percent) of the fixed-layout tables, so every verdict group lines up with the others
_DEVICE_COLUMNS = (("IP", 9), ("MAC", 11), ("Class", 6), ("Manufacturer", 10), ("Brand", 8), ("Model", 10),
                   ("Firmware", 9), ("Serial", 8), ("Conf.", 4), ("Seen by", 7), ("KEV", 8), ("Change", 10))
_SITE_COLUMNS = (("Site", 24), ("Devices", 12), ("Flagged", 12), ("New flagged", 12), ("Last scan", 12),
                 ("Started", 28))
_RISK_COLUMNS = (("CVE", 14), ("Match", 8), ("In KEV since", 10), ("Advisory", 24), ("Why", 44))
_CHANGE_COLUMNS = (("Change", 9), ("IP", 10), ("Device", 27), ("Before", 17), ("After", 17), ("Key", 20))
_LIST_COLUMNS = (("List", 30), ("Since", 10), ("Citation", 36), ("Scope", 24))
_SKIP_COLUMNS = (("IP", 14), ("Stage", 10), ("Reason", 76))
_COVERAGE_COLUMNS = (("Subnet", 14), ("Method", 10), ("Status", 9), ("Tried", 7), ("Answered", 8),
                     ("Note", 52))

_CSS = """
:root { --red: #b42318; --red-bg: #fef3f2; --amber: #b54708; --amber-bg: #fffaeb; --green: #067647;
  --green-bg: #ecfdf3; --grey: #475467; --grey-bg: #f2f4f7; --line: #d0d5dd; --ink: #101828; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif;
  color: var(--ink); background: #fff; }
main { max-width: 1320px; margin: 0 auto; padding: 20px 28px 40px; }
h1 { font-size: 24px; margin: 0 0 2px; }
h2 { font-size: 18px; margin: 28px 0 10px; padding-bottom: 4px; border-bottom: 2px solid var(--line); }
h3 { font-size: 15px; margin: 18px 0 8px; }
h4 { font-size: 14px; margin: 12px 0 4px; }
p { margin: 6px 0; }
code, .mono { font-family: ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 12.5px; }
.sub { color: var(--grey); margin: 0 0 14px; }
.muted { color: var(--grey); }
.cards { display: grid; grid-template-columns: repeat(6, minmax(0, 1fr)); gap: 10px; margin: 12px 0; }
.card { border: 1px solid var(--line); border-radius: 8px; padding: 10px 14px; background: var(--grey-bg); }
.card b { display: block; font-size: 26px; line-height: 1.15; }
.card span { color: var(--grey); }
.card.sanctioned { background: var(--red-bg); border-color: var(--red); }
.card.sanctioned b { color: var(--red); }
.card.review { background: var(--amber-bg); border-color: var(--amber); }
.card.review b { color: var(--amber); }
.card.clear b { color: var(--green); }
.banner { border-radius: 8px; padding: 10px 14px; margin: 12px 0; font-weight: 600; }
.banner a { color: inherit; }
.banner.sanctioned { background: var(--red); color: #fff; }
.banner.review { background: var(--amber-bg); color: var(--amber); border: 1px solid var(--amber); }
.banner.ok { background: var(--green-bg); color: var(--green); border: 1px solid var(--green); }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 3px 16px; margin: 8px 0; }
dl.facts dt { color: var(--grey); }
dl.facts dd { margin: 0; overflow-wrap: anywhere; }
table { border-collapse: collapse; width: 100%; margin: 6px 0 12px; }
th, td { text-align: left; vertical-align: top; padding: 5px 8px; border-bottom: 1px solid var(--line);
  overflow-wrap: break-word; }
table.fixed { table-layout: auto; }
.scroll { overflow-x: auto; max-width: 100%; }
th { background: var(--grey-bg); font-weight: 600; white-space: nowrap; }
td.nw { white-space: nowrap; }
table.sortable th { cursor: pointer; }
table.sortable th[aria-sort="ascending"]::after { content: " \\25B2"; }
table.sortable th[aria-sort="descending"]::after { content: " \\25BC"; }
tr.sanctioned td:first-child { box-shadow: inset 4px 0 var(--red); }
tr.review td:first-child { box-shadow: inset 4px 0 var(--amber); }
tr.sanctioned { background: var(--red-bg); }
tr.review { background: var(--amber-bg); }
.badge { display: inline-block; border-radius: 4px; padding: 0 6px; font-size: 12px; font-weight: 700;
  letter-spacing: .02em; text-transform: uppercase; vertical-align: 1px; }
.badge.sanctioned { background: var(--red); color: #fff; }
.badge.review { background: var(--amber); color: #fff; }
.badge.clear { background: var(--green-bg); color: var(--green); }
.badge.unknown { background: var(--grey-bg); color: var(--grey); }
.badge.new { background: var(--ink); color: #fff; }
article.device { border: 1px solid var(--line); border-left-width: 6px; border-radius: 8px;
  padding: 10px 16px; margin: 12px 0; }
article.device.sanctioned { border-color: var(--red); background: var(--red-bg); }
article.device.review { border-color: var(--amber); background: var(--amber-bg); }
article.device h3 { margin: 4px 0 6px; font-size: 16px; }
article.device table { background: #fff; }
article.device dl.facts { grid-template-columns: max-content 1fr max-content 1fr; }
.finding { border-top: 1px dashed var(--line); margin-top: 10px; padding-top: 4px; }
.check { background: #fff; border: 1px solid var(--amber); border-radius: 6px; padding: 6px 10px;
  margin: 8px 0; }
ul.evidence { margin: 4px 0; padding-left: 20px; }
ul.evidence li { margin: 2px 0; }
.url { color: var(--grey); overflow-wrap: anywhere; }
nav.toc { border: 1px solid var(--line); border-radius: 8px; padding: 6px 14px; margin: 10px 0;
  background: var(--grey-bg); }
nav.toc ol { margin: 0; padding: 0; list-style: none; display: flex; flex-wrap: wrap; gap: 4px 18px; }
nav.toc a, a.list { color: var(--ink); }
.trend { display: flex; align-items: center; gap: 14px; margin: 6px 0; }
.trend svg { border: 1px solid var(--line); border-radius: 6px; background: #fff; }
.hint { color: var(--amber); font-style: italic; }
ul.why { margin: 4px 0 12px; padding-left: 20px; color: var(--grey); }
footer { margin-top: 32px; padding: 12px 16px; border-radius: 8px; background: var(--grey-bg); }
@media print { main { max-width: none; } article.device { break-inside: avoid; } }
"""

_JS = """
(function () {
  function key(row, i) {
    var c = row.cells[i];
    return c ? (c.getAttribute("data-sort") || c.textContent) : "";
  }
  function sortBy(table, i, th) {
    var asc = th.getAttribute("aria-sort") !== "ascending";
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (h) { h.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", asc ? "ascending" : "descending");
    var body = table.tBodies[0], rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var r = key(a, i).localeCompare(key(b, i), undefined, {numeric: true});
      return asc ? r : -r;
    });
    rows.forEach(function (r) { body.appendChild(r); });
  }
  document.querySelectorAll("table.sortable").forEach(function (table) {
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, i) {
      th.tabIndex = 0;
      th.title = "Sort by this column";
      th.addEventListener("click", function () { sortBy(table, i, th); });
      th.addEventListener("keydown", function (e) {
        if (e.key === "Enter" || e.key === " ") { e.preventDefault(); sortBy(table, i, th); }
      });
    });
  });
})();
"""

_SCRIPT_HASH = base64.b64encode(hashlib.sha256(_JS.encode("utf-8")).digest()).decode("ascii")

#: The page's Content-Security-Policy: nothing may load; inline styles, and only our own script by its hash.
CSP = (f"default-src 'none'; style-src 'unsafe-inline'; script-src 'sha256-{_SCRIPT_HASH}'; "
       "img-src 'none'; base-uri 'none'; form-action 'none'")


def _e(value: object, limit: int = _LIMIT) -> str:
    """Escaped text for HTML content or a quoted attribute value."""
    return html.escape(escape(value, limit), quote=True)


def _or_dash(value: object, limit: int = _LIMIT) -> str:
    return _e(value, limit) if value not in (None, "") else '<span class="muted">&mdash;</span>'


def _mono(value: object, sort: str = "", anchor: str = "") -> str:
    """A table cell holding an address or key in monospace, kept on one line when it is short; ``sort`` is
    its sort key, ``anchor`` a generated element id to link to."""
    text = escape(value, _LIMIT)
    nw = ' class="nw"' if len(text) <= 40 else ""
    key = f' data-sort="{sort}"' if sort else ""
    body = f"<code>{html.escape(text, quote=True)}</code>" if text else '<span class="muted">&mdash;</span>'
    if anchor:
        body = f'<a href="#{anchor}">{body}</a>'
    return f"<td{nw}{key}>{body}</td>"


def _ip_sort(ip: str | None) -> str:
    """A sort key that orders IPv4/IPv6 addresses numerically (the JS compares strings)."""
    try:
        addr = ipaddress.ip_address(ip or "")
    except ValueError:
        return _e(ip, 100)
    return f"{addr.version}-{int(addr):039d}"


def _ts(result_time) -> str:
    return result_time.strftime("%Y-%m-%d %H:%M:%S %Z").rstrip()


def _table_head(columns: tuple[tuple[str, int], ...], sortable: bool = True) -> str:
    """Opening of a table (in a ``scroll`` box: a table wider than a narrow screen scrolls sideways instead of
    overlapping; automatic layout, so short fields never break mid-word; the column widths are hints) up to
    its ``<tbody>``."""
    cls = "sortable fixed" if sortable else "fixed"
    cols = "".join(f'<col style="width: {width}%">' for _, width in columns)
    heads = "".join(f"<th>{name}</th>" for name, _ in columns)
    return (f'<div class="scroll"><table class="{cls}"><colgroup>{cols}</colgroup><thead><tr>{heads}</tr>'
            "</thead><tbody>")


_TABLE_END = "</tbody></table></div>"  # closes what _table_head opened


def _badge(verdict: Verdict) -> str:
    v = str(verdict)
    return f'<span class="badge {v}">{_e(v)}</span>'


class _Page:
    """Builds the page from one result; ``ids`` maps each device to a generated element id."""

    def __init__(self, result: ScanResult, note: str) -> None:
        self.result = result
        self.note = note
        self.ids = {id(d): f"dev-{i}" for i, d in enumerate(result.devices)}
        self.fresh = {d.key for d in newly_flagged(result)}
        self.children = behind_recorders(result.devices)  # recorder key -> cameras it lists, channel order
        self.list_ids = {c.list_id: f"list-{i}" for i, c in enumerate(cited_lists(result))}
        self.out: list[str] = []

    def add(self, *parts: str) -> None:
        self.out.extend(parts)

    # ------------------------------------------------------------------------------------------- sections
    def head(self) -> None:
        r = self.result
        scan = f"scan #{r.scan_id}, " if r.scan_id is not None else ""
        title = f"camscan camera inventory - {_ts(r.started)}"
        self.add(
            "<!DOCTYPE html>",
            '<html lang="en">',
            "<head>",
            '<meta charset="utf-8">',
            f'<meta http-equiv="Content-Security-Policy" content="{html.escape(CSP, quote=True)}">',
            '<meta name="referrer" content="no-referrer">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{_e(title)}</title>",
            f"<style>{_CSS}</style>",
            "</head>",
            "<body>",
            "<main>",
            "<header>",
            "<h1>Camera inventory</h1>",
            f'<p class="sub">camscan report, {_e(scan)}started {_e(_ts(r.started))}</p>',
            "</header>",
        )

    def sites(self) -> None:
        """A report covering several sites leads with each site's latest scan."""
        if not self.result.sites:
            return
        n, devices, flagged = sites.totals(self.result)
        self.add('<section id="sites">', "<h2>Sites</h2>",
                 f"<p>{n} sites, {devices} device(s), {flagged} flagged: each site's latest scan. Changes, skips "
                 "and coverage per site: <code>camscan report --site NAME</code>.</p>",
                 _table_head(_SITE_COLUMNS))
        for row in sites.rows(self.result):
            self.add("<tr>" + "".join(f"<td>{_e(v)}</td>" for v in row) + "</tr>")
        self.add(_TABLE_END, "</section>")

    def summary(self) -> None:
        r = self.result
        n = counts(r)
        self.add('<section id="summary">', "<h2>Summary</h2>")
        fresh = newly_flagged(r)
        if fresh:
            worst = "sanctioned" if any(d.verdict is Verdict.SANCTIONED for d in fresh) else "review"
            self.add(f'<p class="banner {worst}">{len(fresh)} device(s) newly flagged since the previous '
                     'scan: see <a href="#changes">Changes since the previous scan</a>.</p>')
        elif r.flagged:
            self.add(f'<p class="banner review">{len(r.flagged)} flagged device(s), none new since the '
                     'previous scan.</p>' if r.diff is not None and r.diff.previous_scan is not None else
                     f'<p class="banner review">{len(r.flagged)} flagged device(s): see '
                     '<a href="#flagged">Flagged devices</a>.</p>')
        else:
            self.add('<p class="banner ok">No device is flagged.</p>')
        self.add('<div class="cards">')
        for v in VERDICT_ORDER:
            self.add(f'<div class="card {v}" title="{_e(_MEANING[v])}"><b>{n[v]}</b><span>{_TITLES[v]}</span>'
                     "</div>")
        self.add(f'<div class="card"><b>{len(r.devices)}</b><span>Devices</span></div>',
                 f'<div class="card" title="devices whose maker, model and firmware fall under a CISA Known '
                 f'Exploited Vulnerability (exact or possible)"><b>{risk_count(r)}</b><span>KEV risks</span></div>',
                 f'<div class="card"><b>{len(r.skips)}</b><span>Skips</span></div>', "</div>")
        took = "" if r.sites else f" ({(r.finished - r.started).total_seconds():.1f} s)"  # several scans: none
        rows = [
            ("Scan time", f"{_e(_ts(r.started))} to {_e(_ts(r.finished))}{took}"),
            ("Scan id", _e(r.scan_id) if r.scan_id is not None else
             "each site's latest (see Sites)" if r.sites else "not stored"),
            ("Targets", _e(", ".join(r.targets)) or "attached subnets"),
            ("Interfaces", _e(", ".join(r.interfaces)) or "none (unicast only)"),
            ("Methods", _e(", ".join(r.methods)) or "&mdash;"),
        ]
        self.add('<dl class="facts">', *(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in rows), "</dl>")
        self.trend()
        self.add("</section>")

    def toc(self) -> None:
        r = self.result
        entries = [("summary", "Summary"), ("changes", "Changes") if r.diff is not None else None,
                   ("devices", f"Inventory ({len(r.devices)})"), ("flagged", f"Findings ({len(r.flagged)})"),
                   ("kev", "KEV risks") if any(d.risks and not d.verdict.flagged for d in r.devices) else None,
                   ("warnings", "Warnings") if any(d.warnings for d in r.devices) else None,
                   ("skips", f"Skips ({len(r.skips)})") if r.skips else None,
                   ("coverage", "Coverage") if r.coverage else None, ("notes", "Notes") if r.notes else None,
                   ("lists", "Lists cited") if cited_lists(r) else None, ("legal", "About these lists")]
        self.add('<nav class="toc" aria-label="Contents"><ol>',
                 *(f'<li><a href="#{a}">{t}</a></li>' for a, t in filter(None, entries)), "</ol></nav>")

    def trend(self) -> None:
        """A small inline SVG of flagged and total devices over the stored scans (no script, no resource)."""
        scans = self.result.history.scans if self.result.history else ()
        if len(scans) < 2:
            return
        w, h, pad = 360, 90, 6
        top = max(max(s.devices for s in scans), 1)
        step = (w - 2 * pad) / (len(scans) - 1)

        def points(values: list[int]) -> str:
            return " ".join(f"{pad + i * step:.1f},{h - pad - v * (h - 2 * pad) / top:.1f}"
                            for i, v in enumerate(values))
        total, flagged = [s.devices for s in scans], [s.flagged for s in scans]
        label = (f"Devices over the last {len(scans)} stored scans: total from {total[0]} to {total[-1]}, "
                 f"flagged from {flagged[0]} to {flagged[-1]}")
        self.add('<div class="trend">',
                 f'<svg role="img" aria-label="{_e(label)}" width="{w}" height="{h}" viewBox="0 0 {w} {h}">',
                 f"<title>{_e(label)}</title>",
                 f'<polyline fill="none" stroke="#475467" stroke-width="2" points="{points(total)}"/>',
                 f'<polyline fill="none" stroke="#b42318" stroke-width="2" points="{points(flagged)}"/>',
                 "</svg>",
                 f'<p class="muted"><span style="color:#475467">&#9644; total</span> '
                 f'<span style="color:#b42318">&#9644; flagged</span><br>scans #{scans[0].scan_id} to '
                 f"#{scans[-1].scan_id}: {flagged[-1]} of {total[-1]} flagged now</p>", "</div>")

    def changes(self) -> None:
        diff = self.result.diff
        if diff is None:
            return
        self.add('<section id="changes">', "<h2>Changes since the previous scan</h2>")
        if diff.previous_scan is None:
            self.add(f"<p>{_e(first_scan_note(self.result))}</p>", "</section>")
            return
        when = f" ({_e(stored_time(diff.previous_started))})" if diff.previous_started else ""
        self.add(f'<p class="muted">Compared with scan #{_e(diff.previous_scan)}{when}.</p>')
        if not has_changes(diff):
            self.add("<p>Nothing changed.</p>", "</section>")
            return
        fresh = newly_flagged(self.result)
        if fresh:
            self.add("<h3>Newly flagged</h3>", "<ul>")
            for d in fresh:
                who = "; ".join(dict.fromkeys(f.entity_name for f in d.findings))
                self.add(f'<li>{_badge(d.verdict)} <a href="#{self.ids[id(d)]}"><code>{_e(place(d))}</code> '
                         f"{_e(device_label(d))}</a> &mdash; {_e(who)}</li>")
            self.add("</ul>")
        changes = ordered_changes(diff)
        if changes:
            self.add("<h3>All changes</h3>", _table_head(_CHANGE_COLUMNS))
            for c in changes:
                self.add(self._change_row(c))
            self.add(_TABLE_END)
        self.add("</section>")

    def _change_row(self, c: Change) -> str:
        kind = _CHANGE_WORDS.get(c.kind, c.kind)
        cls = ' class="sanctioned"' if c.kind == "verdict" and c.after == Verdict.SANCTIONED else ""
        return (f"<tr{cls}><td>{_e(kind)}</td>{_mono(c.ip, _ip_sort(c.ip))}<td>{_or_dash(c.device)}</td>"
                f"<td>{_or_dash(c.before)}</td><td>{_or_dash(c.after)}</td>{_mono(c.key)}</tr>")

    def flagged(self) -> None:
        flagged = sorted(self.result.flagged, key=lambda d: VERDICT_ORDER.index(d.verdict))
        self.add('<section id="flagged">', "<h2>Findings: flagged devices</h2>")
        if not flagged:
            self.add("<p>No device is flagged.</p>", "</section>")
            return
        for d in flagged:
            self._device_article(d)
        self.add("</section>")

    def _device_article(self, d: Device) -> None:
        new = ' <span class="badge new">new</span>' if d.key in self.fresh else ""
        self.add(f'<article class="device {d.verdict}" id="{self.ids[id(d)]}">',
                 f"<h3>{_badge(d.verdict)}{new} <code>{_e(d.ip)}</code> {_e(device_label(d))}</h3>")
        facts = [("Class", d.device_class), ("Manufacturer", d.manufacturer), ("Brand", d.brand), ("Model", d.model),
                 ("Firmware", d.firmware), ("Serial", d.serial), ("MAC", d.mac),
                 ("Hardware id", d.hardware_id), ("Hostname", d.hostname),
                 ("Confidence", f"{d.confidence:.2f}"), ("Seen by", ", ".join(d.seen_by)), ("Key", d.key),
                 ("Change", change_label(d, self.result.diff)), ("Behind recorder", _via_text(d))]
        self.add('<dl class="facts">', *(f"<dt>{k}</dt><dd>{_or_dash(v)}</dd>" for k, v in facts), "</dl>")
        for f in d.findings:
            self._finding(f)
        self._risks(d)
        self.add("</article>")

    def _risks(self, d: Device) -> None:
        if not d.risks:
            return
        self.add('<div class="finding"><h4>Known-exploited vulnerabilities (CISA KEV)</h4>',
                 '<p class="muted">Information next to the verdict: it does not change it.</p>',
                 _table_head(_RISK_COLUMNS, sortable=False))
        for r in d.risks:
            self.add(f"<tr><td><code>{_e(r.cve)}</code><br>{_e(r.title)}</td><td>{_e(r.match)}</td>"
                     f"<td>{_e(r.kev_date_added)}</td><td>{_e(r.advisory)}<br>"
                     f'<span class="url">{_e(r.advisory_url)}</span></td><td>{_e(r.why)}</td></tr>')
        self.add(_TABLE_END, "</div>")

    def risks(self) -> None:
        """Devices with KEV risks that are not flagged (flagged ones show theirs in their article)."""
        quiet = [d for d in self.result.devices if d.risks and not d.verdict.flagged]
        if not quiet:
            return
        self.add('<section id="kev">', "<h2>Known-exploited firmware on devices not flagged</h2>")
        for d in quiet:
            self.add(f'<article class="device {d.verdict}"><h3>{_badge(d.verdict)} <code>{_e(place(d))}</code> '
                     f"{_e(device_label(d))}</h3>")
            self._risks(d)
            self.add("</article>")
        self.add("</section>")

    def _finding(self, f: Finding) -> None:
        self.add('<div class="finding">',
                 f"<h4>{_badge(f.verdict)} {_e(f.entity_name)}</h4>",
                 f"<p>{_e(f.summary)}</p>")
        if f.lists:
            once = {c.list_id: c for c in f.lists}.values()
            named = ", ".join(f'<a class="list" href="#{self.list_ids[c.list_id]}">{_e(c.name)}</a> '
                              f"(since {_e(c.date)})" for c in once)
            self.add(f"<p><b>On:</b> {named}</p>")
        if f.evidence:
            self.add("<p><b>Evidence</b></p>", '<ul class="evidence">')
            for m in f.evidence:
                what, where = describe_match(m)
                self.add(f"<li>{_e(what)} <code>{_e(where)}</code> <span class=\"muted\">({_e(m.strength)}"
                         "</span>)</li>")
            self.add("</ul>")
        if f.check:
            self.add(f'<p class="check"><b>What to check:</b> {_e(f.check)}</p>')
        if f.context:
            names = "; ".join(f"{c.name} ({c.date})" for c in f.context)
            self.add(f'<p class="muted">Also on lists this site has not enabled: {_e(names)}</p>')
        self.add("</div>")

    def _citation_row(self, c: ListCitation) -> str:
        url = f"<br>{_link(c.url)}" if c.url else ""
        date = self.list_dates.get(c.list_id, c.date)
        return (f'<tr id="{self.list_ids[c.list_id]}"><td>{_e(c.name)}</td><td>{_or_dash(date)}</td>'
                f"<td>{_or_dash(c.citation)}{url}</td><td>{_or_dash(c.scope)}</td></tr>")

    def lists(self) -> None:
        """The appendix: every cited list once; findings link here."""
        cited = cited_lists(self.result)
        self.list_dates = list_dates(self.result)
        if not cited:
            return
        self.add('<section id="lists">', "<h2>Lists cited</h2>",
                 '<p class="muted">Each list the findings above name, once: since when the maker is on it, the '
                 "legal citation and where to read it.</p>", _table_head(_LIST_COLUMNS, sortable=False),
                 *(self._citation_row(c) for c in cited), _TABLE_END, "</section>")

    def devices(self) -> None:
        self.add('<section id="devices">', "<h2>Inventory: all devices</h2>")
        groups = by_verdict(self.result)
        if not groups:
            self.add("<p>No devices found.</p>")
        else:
            self.add('<p class="muted">Grouped by verdict. Click a column header to sort a group.</p>')
        for verdict, devices in groups:
            self.add(f"<h3>{_TITLES[verdict]} ({len(devices)}) "
                     f'<span class="muted">&mdash; {_e(_MEANING[verdict])}</span></h3>',
                     _table_head(((("Site", 7),) if self.result.sites else ()) + _DEVICE_COLUMNS))
            # a camera seen behind a recorder is listed right under its recorder, whatever its own verdict
            for d in devices:
                if d.via is not None and d.via.recorder_key in self.children:
                    continue
                self.add(self._device_row(d, d.via is not None))
                for c in self.children.get(d.key, []):
                    self.add(self._device_row(c, True))
            self.add(_TABLE_END)
            if verdict is Verdict.UNKNOWN:
                self.add('<p class="muted">Why these are unknown:</p>', '<ul class="why">',
                         *(f"<li><code>{_e(place(d))}</code> {_e(device_label(d))}: "
                           f"{_e(unknown_reason(d, self.result))}</li>" for d in devices), "</ul>")
        self.add("</section>")

    def _device_row(self, d: Device, child: bool = False) -> str:
        anchor = self.ids[id(d)] if d.verdict.flagged else ""  # flagged: link the address to its findings
        cells = [_mono(d.ip, _ip_sort(d.ip), anchor), _mono(d.mac), f'<td class="nw">{_or_dash(d.device_class)}</td>']
        if child and d.via is not None:  # behind a recorder: say so in the first cell, and its own verdict
            cells[0] = (f'<td class="mono via" data-sort="{_e(_ip_sort(d.via.recorder_ip))}">&#8627; channel '
                        f"{_e(d.via.channel)} {_badge(d.verdict)}<br>{_e(d.ip)}</td>")
        cells.append(self._maker_cell(d))
        cells += [f"<td>{_or_dash(v)}</td>" for v in (d.brand, d.model, d.firmware, d.serial)]
        cells += [f"<td>{d.confidence:.2f}</td>", f"<td>{_or_dash(', '.join(d.seen_by))}</td>",
                  f"<td>{_or_dash(risk_summary(d))}</td>",
                  f"<td>{_or_dash(change_label(d, self.result.diff))}</td>"]
        if self.result.sites:  # a report covering several sites: which one the device is on
            cells.insert(0, f"<td>{_or_dash(d.site)}</td>")
        return f'<tr class="{d.verdict}{" via" if child else ""}">{"".join(cells)}</tr>'

    @staticmethod
    def _maker_cell(d: Device) -> str:
        basis = d.manufacturer_basis
        if basis == "hint" and d.matches:  # a weak hint is not the manufacturer: say so
            return (f'<td class="hint" title="only weak hints (an OUI, an OEM brand) point at this maker">'
                    f"hint: {_e(d.manufacturer)}?</td>")
        title = f' title="{_e(basis)} evidence"' if basis else ""
        return f"<td{title}>{_or_dash(d.manufacturer)}</td>"

    def warnings(self) -> None:
        warned = [d for d in self.result.devices if d.warnings]
        if not warned:
            return
        self.add('<section id="warnings">', "<h2>Warnings</h2>", "<ul>",
                 *(f"<li><code>{_e(place(d))}</code> {_e(d.brand or d.manufacturer or '')} {_e(d.model or '')}: "
                   f"{_e(w)}</li>" for d in warned for w in d.warnings), "</ul>", "</section>")

    def skips(self) -> None:
        r = self.result
        if not r.skips:
            return
        self.add('<section id="skips">', f"<h2>Skips ({len(r.skips)})</h2>",
                 '<p class="muted">What could not be checked, and why: a device here may be missing from the '
                 "inventory.</p>",
                 _table_head(_SKIP_COLUMNS))
        for s in r.skips:
            self.add(f"<tr>{_mono(s.ip, _ip_sort(s.ip))}<td>{_e(s.stage)}</td><td>{_e(s.reason)}</td></tr>")
        self.add(_TABLE_END, "</section>")

    def coverage(self) -> None:
        r = self.result
        if not r.coverage:
            return
        self.add('<section id="coverage">', "<h2>Coverage</h2>",
                 '<p class="muted">What each method tried on each subnet: "nothing found" differs from '
                 '"not looked".</p>',
                 _table_head(_COVERAGE_COLUMNS))
        for c in r.coverage:
            self.add(f"<tr>{_mono(c.subnet)}<td>{_e(c.method)}</td><td>{_e(c.status)}</td>"
                     f"<td>{int(c.tried)}</td><td>{int(c.answered)}</td><td>{_or_dash(c.note)}</td></tr>")
        self.add(_TABLE_END, "</section>")

    def tail(self) -> None:
        r = self.result
        if r.notes:
            self.add('<section id="notes">', "<h2>Notes</h2>", "<ul>",
                     *(f"<li>{_e(n)}</li>" for n in r.notes), "</ul>", "</section>")
        self.lists()
        self.add('<footer id="legal">', f"<p><b>About these lists.</b> {_e(self.note)}</p>",
                 '<p class="muted">Generated by camscan. Every device string is shown as the device sent it; '
                 "control characters appear as escapes such as <code>\\x1b</code>.</p>",
                 "</footer>", "</main>", f"<script>{_JS}</script>", "</body>", "</html>")


def _link(url: str) -> str:
    """A citation URL as a link when it is http(s) (policy data, not device data), else as text."""
    text = _e(url)
    if url.lower().startswith(("https://", "http://")):
        return f'<a class="url" href="{text}" rel="noopener noreferrer">{text}</a>'
    return f'<span class="url">{text}</span>'


def _via_text(d: Device) -> str:
    v = d.via
    if v is None:
        return ""
    return (f"{v.recorder_ip} ({v.recorder_key}), channel {v.channel}, address {v.address or 'not reported'}"
            f"{', ' + v.protocol if v.protocol else ''} (listed by the recorder; never contacted)")


def render(result: ScanResult, note: str = "") -> str:
    """The HTML page. An empty ``note`` falls back to camscan's standard legal note: the page always says
    that these lists restrict procurement and trade, not the operation of a camera."""
    from camscan.report import NOTE

    page = _Page(result, note or NOTE)
    page.head()
    page.toc()
    page.sites()
    page.summary()
    page.changes()
    page.devices()
    page.flagged()
    page.risks()
    page.warnings()
    page.skips()
    page.coverage()
    page.tail()
    return "\n".join(page.out) + "\n"
