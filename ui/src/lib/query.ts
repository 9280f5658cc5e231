// The palette's words into a search: plain words go to full text; a few
// filters are written inline, as in a mail client.
//   from:dana   deal:D-1001   has:attachment   after:2026-11-01   before:2026-12-01
import type { SearchQuery } from './bindings/SearchQuery';

function day(text: string): number | null {
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text);
  if (!match) return null;
  const [, y, m, d] = match;
  const ms = Date.UTC(Number(y), Number(m) - 1, Number(d));
  return Number.isFinite(ms) ? Math.floor(ms / 1000) : null;
}

export function parseQuery(input: string, limit = 20): SearchQuery {
  const query: SearchQuery = {
    text: '',
    deal_id: null,
    from: null,
    after: null,
    before: null,
    has_attachment: null,
    kind: null,
    limit,
  };
  const words: string[] = [];
  for (const token of input.split(/\s+/).filter(Boolean)) {
    const [key, ...rest] = token.split(':');
    const value = rest.join(':');
    if (value && key === 'from') query.from = value;
    else if (value && key === 'deal') query.deal_id = value;
    else if (key === 'has' && value === 'attachment') query.has_attachment = true;
    else if (value && key === 'after' && day(value) !== null) query.after = day(value);
    else if (value && key === 'before' && day(value) !== null) query.before = day(value);
    else words.push(token);
  }
  // A trailing space ends the last word: it is then not a prefix.
  query.text = words.join(' ') + (input.endsWith(' ') && words.length ? ' ' : '');
  return query;
}
