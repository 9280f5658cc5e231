// Pure display helpers, unit-tested without a window.
import type { Mailbox } from './bindings/Mailbox';

/** "Dana Reyes" for a named mailbox, the address otherwise. */
export function senderName(from: Mailbox | null): string {
  if (!from) return 'Unknown sender';
  return from.name?.trim() || from.address;
}

/** A short, unambiguous date: "Tue 10 Nov 2026, 14:03" in the sender's own offset. */
export function shortDate(rfc3339: string | null): string {
  if (!rfc3339) return 'No date';
  const match = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})/.exec(rfc3339);
  if (!match) return rfc3339;
  const [, y, m, d, hh, mm] = match;
  const date = new Date(Date.UTC(Number(y), Number(m) - 1, Number(d)));
  const weekday = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'][date.getUTCDay()];
  const month = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'][
    Number(m) - 1
  ];
  return `${weekday} ${Number(d)} ${month} ${y}, ${hh}:${mm}`;
}

/** "$48,000" from 48000; nothing when the CRM gave no amount. */
export function money(amount: number | null): string {
  if (amount === null || !Number.isFinite(amount)) return '';
  return new Intl.NumberFormat('en-US', {
    style: 'currency',
    currency: 'USD',
    maximumFractionDigits: 0,
  }).format(amount);
}

/** "2.4 MB" from a byte count. */
export function bytes(count: number): string {
  if (count < 1000) return `${count} B`;
  if (count < 1_000_000) return `${(count / 1000).toFixed(0)} KB`;
  return `${(count / 1_000_000).toFixed(1)} MB`;
}

/** "3 min ago" from Unix seconds, against `now` (milliseconds, for tests). */
export function ago(unixSeconds: number | null, now: number = Date.now()): string {
  if (unixSeconds === null) return 'never';
  const seconds = Math.max(0, Math.round(now / 1000 - unixSeconds));
  if (seconds < 60) return 'just now';
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ago`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)} h ago`;
  return `${Math.floor(seconds / 86400)} d ago`;
}

/** A span of seconds in the largest unit that keeps it readable: "4 s", "2 min 5 s", "3 h 10 min", "2 d 4 h". */
export function duration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) return s % 60 ? `${Math.floor(s / 60)} min ${s % 60} s` : `${s / 60} min`;
  if (s < 86400) {
    const minutes = Math.floor((s % 3600) / 60);
    return minutes ? `${Math.floor(s / 3600)} h ${minutes} min` : `${Math.floor(s / 3600)} h`;
  }
  const hours = Math.floor((s % 86400) / 3600);
  return hours ? `${Math.floor(s / 86400)} d ${hours} h` : `${Math.floor(s / 86400)} d`;
}
