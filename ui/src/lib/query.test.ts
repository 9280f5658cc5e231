import { describe, expect, it } from 'vitest';
import { parseQuery } from './query';

describe('the palette query', () => {
  it('keeps plain words as full text', () => {
    expect(parseQuery('renewal quo').text).toBe('renewal quo');
  });

  it('reads inline filters and leaves the rest as text', () => {
    const q = parseQuery('PO from:dana deal:D-1001 has:attachment after:2026-11-01 before:2026-12-01');
    expect(q.text).toBe('PO');
    expect(q.from).toBe('dana');
    expect(q.deal_id).toBe('D-1001');
    expect(q.has_attachment).toBe(true);
    expect(q.after).toBe(Date.UTC(2026, 10, 1) / 1000);
    expect(q.before).toBe(Date.UTC(2026, 11, 1) / 1000);
  });

  it('treats a malformed filter as a word', () => {
    expect(parseQuery('after:soon').text).toBe('after:soon');
    expect(parseQuery('after:soon').after).toBeNull();
  });
});
