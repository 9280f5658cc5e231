// A deal's timeline as the screen lays it out: its messages (oldest first,
// as the store sends them) grouped by thread, the thread with the newest
// message first, then flattened into rows for the virtual list.
import type { TimelineMessage } from './bindings/TimelineMessage';

export type TimelineRow =
  | { kind: 'thread'; key: string; threadId: number | null; subject: string | null; count: number; last: string | null; firstId: number }
  | { kind: 'message'; key: string; message: TimelineMessage; firstInThread: boolean };

export function timelineRows(messages: TimelineMessage[]): TimelineRow[] {
  const groups = new Map<string, { messages: TimelineMessage[]; newest: number }>();
  messages.forEach((message, index) => {
    const id = message.thread_id === null ? `m${message.id}` : `t${message.thread_id}`;
    const group = groups.get(id) ?? { messages: [], newest: index };
    group.messages.push(message);
    group.newest = index;
    groups.set(id, group);
  });
  const rows: TimelineRow[] = [];
  for (const [id, group] of [...groups].sort((a, b) => b[1].newest - a[1].newest)) {
    const first = group.messages[0];
    const last = group.messages[group.messages.length - 1];
    rows.push({
      kind: 'thread',
      key: id,
      threadId: first.thread_id,
      subject: first.subject,
      count: group.messages.length,
      last: last.date,
      firstId: first.id,
    });
    group.messages.forEach((message, i) =>
      rows.push({ kind: 'message', key: `${message.id}`, message, firstInThread: i === 0 }),
    );
  }
  return rows;
}
