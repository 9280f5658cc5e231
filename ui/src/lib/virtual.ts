// The arithmetic of a virtual list, kept apart so it can be tested.

/**
 * The rows to render: those whose span [offsets[i], offsets[i + 1]) meets
 * [from, to). `offsets` has one more entry than there are rows (the last
 * is the total height) and never decreases. `end` is exclusive.
 */
export function visibleRange(offsets: number[], from: number, to: number): { start: number; end: number } {
  const rows = offsets.length - 1;
  if (rows <= 0) return { start: 0, end: 0 };
  // The first row ending after `from`.
  let lo = 0;
  let hi = rows;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (offsets[mid + 1] <= from) lo = mid + 1;
    else hi = mid;
  }
  const start = Math.min(lo, rows - 1);
  // The first row starting at or after `to`.
  lo = start;
  hi = rows;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (offsets[mid] < to) lo = mid + 1;
    else hi = mid;
  }
  return { start, end: Math.max(lo, start + 1) };
}
