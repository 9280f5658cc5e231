import { describe, expect, it } from 'vitest';
import { FRAME_SANDBOX, frameCsp, frameDocument } from './mailframe';

describe('the message frame', () => {
  it('allows no script, font, form or remote image by default', () => {
    const csp = frameCsp(false);
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain('img-src data:;');
    expect(csp).not.toContain('https:');
    expect(csp).not.toContain('script-src');
  });

  it('allows https images only when the rep loaded them', () => {
    expect(frameCsp(true)).toContain('img-src data: https:;');
    expect(frameCsp(true)).not.toContain('http:');
  });

  it('puts the policy before the body and withholds every sandbox permission', () => {
    const doc = frameDocument('<p>Hello</p>', false, false);
    expect(doc.indexOf('Content-Security-Policy')).toBeLessThan(doc.indexOf('<p>Hello</p>'));
    expect(FRAME_SANDBOX).toBe('');
  });
});
