// The document a message's sanitized HTML is shown in: a sandboxed frame
// (no scripts, no same-origin, no forms, no popups) under its own Content
// Security Policy, so even HTML the sanitizer missed can neither run nor
// fetch. Remote images are allowed only when the rep asked (https only).

/** The frame's Content-Security-Policy. */
export function frameCsp(imagesLoaded: boolean): string {
  return [
    "default-src 'none'",
    `img-src data:${imagesLoaded ? ' https:' : ''}`,
    "style-src 'unsafe-inline'",
    "font-src 'none'",
    "form-action 'none'",
    "base-uri 'none'",
  ].join('; ');
}

/** A complete HTML document around the message's sanitized body. */
export function frameDocument(sanitizedHtml: string, imagesLoaded: boolean, dark: boolean): string {
  const colors = dark ? 'color:#e6e9ee;background:#1d2128' : 'color:#1d2430;background:#ffffff';
  return (
    '<!doctype html><html><head><meta charset="utf-8">' +
    `<meta http-equiv="Content-Security-Policy" content="${frameCsp(imagesLoaded)}">` +
    '<meta name="referrer" content="no-referrer">' +
    `<style>body{font-family:'DejaVu Sans',system-ui,sans-serif;font-size:14px;${colors};margin:12px;overflow-wrap:anywhere}` +
    'img{max-width:100%;height:auto}table{max-width:100%}</style>' +
    `</head><body>${sanitizedHtml}</body></html>`
  );
}

/** The sandbox attribute: every permission withheld. */
export const FRAME_SANDBOX = '';
