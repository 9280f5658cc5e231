import { describe, expect, it } from 'vitest';
import { ago, bytes, duration, money, senderName, shortDate } from './format';

describe('senderName', () => {
  it('prefers the display name and falls back to the address', () => {
    expect(senderName({ name: 'Dana Reyes', address: 'dana@x.test' })).toBe('Dana Reyes');
    expect(senderName({ name: '  ', address: 'dana@x.test' })).toBe('dana@x.test');
    expect(senderName(null)).toBe('Unknown sender');
  });
});

describe('shortDate', () => {
  it('keeps the sender’s wall-clock time and names the weekday', () => {
    expect(shortDate('2026-11-10T14:03:27-05:00')).toBe('Tue 10 Nov 2026, 14:03');
  });
  it('says so when there is no date, and shows odd strings as they are', () => {
    expect(shortDate(null)).toBe('No date');
    expect(shortDate('yesterday')).toBe('yesterday');
  });
});

describe('money', () => {
  it('formats whole dollars and hides missing amounts', () => {
    expect(money(48000)).toBe('$48,000');
    expect(money(null)).toBe('');
  });
});

describe('bytes', () => {
  it('scales to KB and MB', () => {
    expect(bytes(512)).toBe('512 B');
    expect(bytes(48_200)).toBe('48 KB');
    expect(bytes(2_400_000)).toBe('2.4 MB');
  });
});

describe('ago', () => {
  const now = 1_800_000_000_000;
  it('says how long ago, coarsely', () => {
    expect(ago(null, now)).toBe('never');
    expect(ago(now / 1000 - 20, now)).toBe('just now');
    expect(ago(now / 1000 - 180, now)).toBe('3 min ago');
    expect(ago(now / 1000 - 7200, now)).toBe('2 h ago');
    expect(ago(now / 1000 - 3 * 86400, now)).toBe('3 d ago');
  });
});

describe('duration', () => {
  it('keeps two units at most', () => {
    expect(duration(4)).toBe('4 s');
    expect(duration(125)).toBe('2 min 5 s');
    expect(duration(120)).toBe('2 min');
    expect(duration(3 * 3600 + 600 + 7)).toBe('3 h 10 min');
    expect(duration(2 * 86400 + 4 * 3600)).toBe('2 d 4 h');
    expect(duration(-3)).toBe('0 s');
  });
});
