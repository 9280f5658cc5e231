import { describe, expect, it } from 'vitest';
import type { TimelineMessage } from './bindings/TimelineMessage';
import { timelineRows } from './threads';

function message(id: number, thread: number | null, subject = `s${id}`): TimelineMessage {
  return {
    id, date: `2026-11-0${id}T10:00:00Z`, from: null, subject, body: null, kind: 'normal',
    has_attachments: false, parse_error: null, thread_id: thread, deal_id: 'D-1', read: true,
    match_rule: null, match_reason: null, not_worthy_reason: null, push_state: null,
    warnings: [], has_quoted: false, attachments: [],
  };
}

describe('timelineRows', () => {
  it('groups by thread, the newest thread first, messages oldest first', () => {
    const rows = timelineRows([message(1, 7, 'Quote'), message(2, 9, 'PO'), message(3, 7), message(4, null, 'Lone')]);
    expect(rows.map((r) => r.key)).toEqual(['m4', '4', 't7', '1', '3', 't9', '2']);
    const quote = rows[2];
    expect(quote.kind === 'thread' && quote.count === 2 && quote.subject === 'Quote' && quote.firstId === 1).toBe(true);
    const firsts = rows.filter((r) => r.kind === 'message' && r.firstInThread).map((r) => r.key);
    expect(firsts).toEqual(['4', '1', '2']);
  });

  it('is empty for no mail', () => {
    expect(timelineRows([])).toEqual([]);
  });
});
