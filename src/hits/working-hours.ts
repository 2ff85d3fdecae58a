/**
 * Working hours, as a deployment writes them: `Mon-Fri 08:00-18:00 Europe/Berlin`, several
 * spans joined by `,` (`Mon-Fri 08:00-18:00 Europe/Berlin, Sat 09:00-13:00 Europe/Berlin`), days
 * as a range (`Mon-Fri`), a list (`Mon,Wed,Fri`) or `daily`; times in the named IANA zone (so
 * daylight saving moves with the office). A touch outside them is context that raises severity.
 */

const DAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const;

interface Span {
  days: Set<number>;
  from: number;
  to: number;
  zone: string;
  text: string;
}

export interface WorkingHours {
  /** True when `at` falls inside one of the spans, in its zone. */
  contains(at: Date): boolean;
  /** As written, for reasons: `Mon-Fri 08:00-18:00 Europe/Berlin`. */
  text: string;
  /** `at` as the office reads it, in the first span's zone: `Sun 02:14 Europe/Berlin`. */
  local(at: Date): string;
}

function minutes(hhmm: string): number | null {
  const m = /^(\d{1,2}):(\d{2})$/.exec(hhmm);
  if (!m) return null;
  const h = Number(m[1]);
  const min = Number(m[2]);
  if (h > 24 || min > 59 || (h === 24 && min > 0)) return null;
  return h * 60 + min;
}

function days(spec: string): Set<number> | null {
  const s = spec.toLowerCase();
  if (s === 'daily' || s === 'mon-sun') return new Set([0, 1, 2, 3, 4, 5, 6]);
  const out = new Set<number>();
  for (const part of s.split(',')) {
    const range = /^([a-z]{3})-([a-z]{3})$/.exec(part);
    if (range) {
      const a = DAYS.indexOf(range[1] as (typeof DAYS)[number]);
      const b = DAYS.indexOf(range[2] as (typeof DAYS)[number]);
      if (a < 0 || b < 0) return null;
      for (let d = a; ; d = (d + 1) % 7) {
        out.add(d);
        if (d === b) break;
      }
      continue;
    }
    const d = DAYS.indexOf(part as (typeof DAYS)[number]);
    if (d < 0) return null;
    out.add(d);
  }
  return out.size ? out : null;
}

function zoneOk(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

/** Parse a working-hours setting; throws an Error saying what is wrong. */
export function parseWorkingHours(spec: string): WorkingHours {
  // Spans are `days time zone` triples, separated by commas: `Mon-Fri 08:00-18:00 Europe/Berlin, Sat 09:00-13:00 Europe/Berlin`.
  const tokens = spec.trim().split(/\s+/).flatMap((t) => t.replace(/^,+|,+$/g, '')).filter(Boolean);
  if (tokens.length === 0 || tokens.length % 3 !== 0) throw new Error(`"${spec}" must read like "Mon-Fri 08:00-18:00 Europe/Berlin" (spans separated by commas)`);
  const spans: Span[] = [];
  for (let i = 0; i < tokens.length; i += 3) {
    const [d, range, zone] = tokens.slice(i, i + 3) as [string, string, string];
    const set = days(d);
    if (!set) throw new Error(`"${d}" is not a day range such as Mon-Fri, a list such as Mon,Wed or daily`);
    const [f, t] = range.split('-');
    const from = minutes(f ?? '');
    const to = minutes(t ?? '');
    if (from === null || to === null || to <= from) throw new Error(`"${range}" is not a time span such as 08:00-18:00`);
    if (!zoneOk(zone)) throw new Error(`"${zone}" is not a time zone such as Europe/Berlin or UTC`);
    spans.push({ days: set, from, to, zone, text: `${d} ${range} ${zone}` });
  }
  const formats = new Map(spans.map((s) => [s.zone, new Intl.DateTimeFormat('en-US', { timeZone: s.zone, weekday: 'short', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' })]));
  const first = spans[0] as Span;
  return {
    text: spans.map((s) => s.text).join(', '),
    local(at) {
      const parts = formats.get(first.zone)?.formatToParts(at) ?? [];
      const get = (type: string) => parts.find((p) => p.type === type)?.value ?? '';
      return `${get('weekday')} ${get('hour')}:${get('minute')} ${first.zone}`;
    },
    contains(at) {
      return spans.some((s) => {
        const parts = formats.get(s.zone)?.formatToParts(at) ?? [];
        const get = (type: string) => parts.find((p) => p.type === type)?.value ?? '';
        const day = DAYS.indexOf(get('weekday').toLowerCase() as (typeof DAYS)[number]);
        const m = Number(get('hour')) * 60 + Number(get('minute'));
        return s.days.has(day) && m >= s.from && m < s.to;
      });
    },
  };
}

/**
 * Per-segment working hours: `OT=daily 00:00-24:00 UTC; Finance=Mon-Fri 07:00-19:00 Europe/Berlin`
 * (segments as the asset map names them).
 */
export function parseSegmentHours(spec: string): Map<string, WorkingHours> {
  const out = new Map<string, WorkingHours>();
  for (const entry of spec.split(';').map((e) => e.trim()).filter(Boolean)) {
    const eq = entry.indexOf('=');
    if (eq <= 0) throw new Error(`"${entry}" must read like "Finance=Mon-Fri 07:00-19:00 Europe/Berlin"`);
    out.set(entry.slice(0, eq).trim().toLowerCase(), parseWorkingHours(entry.slice(eq + 1)));
  }
  return out;
}
