// The rep's corrections as the whole window shares them: the last one made
// (for the undo toast) and a counter every view that shows matches watches,
// so a correction in one place refreshes the others.
import { api, type Applied } from './api';

export const corrections = $state<{ last: Applied | null; version: number; error: string | null }>({
  last: null,
  version: 0,
  error: null,
});

/** Runs a correction; on success offers its undo and refreshes the views. */
export async function correct(action: () => Promise<Applied>): Promise<Applied | null> {
  try {
    const applied = await action();
    corrections.last = applied;
    corrections.error = null;
    corrections.version += 1;
    return applied;
  } catch (e) {
    corrections.error = (e as { message?: string }).message ?? String(e);
    return null;
  }
}

/** Undoes the last correction offered by the toast. */
export async function undoLast(): Promise<void> {
  const last = corrections.last;
  if (!last) return;
  try {
    await api.undoCorrection(last.correction_id);
    corrections.last = null;
    corrections.error = null;
    corrections.version += 1;
  } catch (e) {
    corrections.error = (e as { message?: string }).message ?? String(e);
  }
}

/** What a suggestion or entity is, for people: "Deal D-1001". */
export function entityLabel(kind: string, id: string, name?: string | null): string {
  const noun = kind === 'deal' ? 'Deal' : kind === 'contact' ? 'Contact' : 'Company';
  return name ? `${name} (${noun.toLowerCase()} ${id})` : `${noun} ${id}`;
}
