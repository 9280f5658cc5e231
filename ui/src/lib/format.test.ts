import { describe, expect, it } from 'vitest';
import { money, senderName, shortDate } from './format';

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
