// The CSP refuses <style> elements (style-src 'self', no 'unsafe-inline').
// xterm.js writes its theme and dimension rules into such elements; this
// copies their text into constructed style sheets, which the CSP allows,
// and keeps the copies current as xterm rewrites them.
export function adoptStyles(root) {
  const sheets = new Map();
  const sync = () => {
    const seen = new Set();
    for (const el of root.querySelectorAll('style')) {
      seen.add(el);
      let s = sheets.get(el);
      if (!s) { s = { sheet: new CSSStyleSheet(), text: null }; sheets.set(el, s); document.adoptedStyleSheets = [...document.adoptedStyleSheets, s.sheet]; }
      if (s.text !== el.textContent) { s.text = el.textContent; s.sheet.replaceSync(s.text); }
    }
    for (const [el, s] of sheets) if (!seen.has(el)) { sheets.delete(el); document.adoptedStyleSheets = document.adoptedStyleSheets.filter((x) => x !== s.sheet); }
  };
  const mo = new MutationObserver(sync);
  mo.observe(root, { subtree: true, childList: true, characterData: true });
  sync();
  return () => { mo.disconnect(); for (const s of sheets.values()) document.adoptedStyleSheets = document.adoptedStyleSheets.filter((x) => x !== s.sheet); sheets.clear(); };
}
