import { describe, expect, it } from 'vitest';
import { visibleRange } from './virtual';

// Rows of 100, 50, 200, 100 pixels.
const offsets = [0, 100, 150, 350, 450];

describe('visibleRange', () => {
  it('takes every row the window touches', () => {
    expect(visibleRange(offsets, 0, 120)).toEqual({ start: 0, end: 2 });
    expect(visibleRange(offsets, 120, 160)).toEqual({ start: 1, end: 3 });
    expect(visibleRange(offsets, 150, 350)).toEqual({ start: 2, end: 3 });
  });

  it('clamps windows above and below the list', () => {
    expect(visibleRange(offsets, -800, 50)).toEqual({ start: 0, end: 1 });
    expect(visibleRange(offsets, -800, 5000)).toEqual({ start: 0, end: 4 });
    expect(visibleRange(offsets, 9000, 9800)).toEqual({ start: 3, end: 4 });
  });

  it('renders nothing for no rows', () => {
    expect(visibleRange([0], 0, 500)).toEqual({ start: 0, end: 0 });
  });

  it('stays small for a long list', () => {
    const many = Array.from({ length: 2001 }, (_, i) => i * 150);
    const { start, end } = visibleRange(many, 150_000 - 800, 150_000 + 800 + 800);
    expect(start).toBe(994);
    expect(end - start).toBeLessThan(20);
  });
});
