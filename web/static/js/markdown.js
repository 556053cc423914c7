// A small CommonMark subset for the descriptions in the OpenAPI document: headings,
// paragraphs, fenced code, pipe tables, lists, and inline code, bold, emphasis and links.
// It builds DOM nodes (never HTML strings), so a description can't inject markup.

import { h } from './dom.js';

const FENCE = /^\s*(`{3,}|~{3,})/;
const HEADING = /^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$/;
const LIST_ITEM = /^\s{0,3}([-*+]|\d{1,9}[.)])\s+(.*)$/;
const TABLE_SEP = /^\s*\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*$/;

function startsBlock(line, next) {
  return FENCE.test(line) || HEADING.test(line) || LIST_ITEM.test(line) ||
    (/^\s*\|/.test(line) && next !== undefined && TABLE_SEP.test(next));
}

function splitRow(line) {
  let s = line.trim();
  if (s.startsWith('|')) s = s.slice(1);
  if (s.endsWith('|') && !s.endsWith('\\|')) s = s.slice(0, -1);
  const cells = [];
  let cur = '';
  let inCode = false;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === '\\' && s[i + 1] === '|') {
      cur += '|';
      i++;
    } else if (c === '`') {
      inCode = !inCode;
      cur += c;
    } else if (c === '|' && !inCode) {
      cells.push(cur.trim());
      cur = '';
    } else {
      cur += c;
    }
  }
  cells.push(cur.trim());
  return cells;
}

function safeHref(url) {
  if (/^(https?:|mailto:)/i.test(url) || url.startsWith('/') || url.startsWith('#') || url.startsWith('./')) return url;
  return null;
}

const INLINE = /`([^`]+)`|\*\*(.+?)\*\*|\[([^\]]+)\]\(([^)\s]+)\)|\*([^*\s](?:[^*]*[^*\s])?)\*/g;

/** inline renders one line of inline Markdown as an array of nodes. */
export function inline(text) {
  const out = [];
  let last = 0;
  const s = String(text);
  for (const m of s.matchAll(INLINE)) {
    if (m.index > last) out.push(s.slice(last, m.index));
    if (m[1] !== undefined) out.push(h('code', {}, m[1]));
    else if (m[2] !== undefined) out.push(h('strong', {}, inline(m[2])));
    else if (m[3] !== undefined) {
      const href = safeHref(m[4]);
      out.push(href ? h('a', { href, rel: 'noopener noreferrer' }, inline(m[3])) : m[3]);
    } else if (m[5] !== undefined) out.push(h('em', {}, inline(m[5])));
    last = m.index + m[0].length;
  }
  if (last < s.length) out.push(s.slice(last));
  return out;
}

/**
 * markdown renders text as a div.prose. headingLevel is the HTML level given to a "#" heading
 * (deeper ones follow, up to h6), so a description fits under the page's own headings.
 */
export function markdown(text, { headingLevel = 3 } = {}) {
  const root = h('div', { class: 'prose' });
  if (!text) return root;
  const lines = String(text).replace(/\r\n?/g, '\n').split('\n');
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    if (line.trim() === '') {
      i++;
      continue;
    }
    let m;
    if ((m = FENCE.exec(line))) {
      const fence = m[1];
      const body = [];
      i++;
      while (i < lines.length && !lines[i].trim().startsWith(fence)) body.push(lines[i++]);
      i++;
      root.append(h('pre', { class: 'example' }, h('code', {}, body.join('\n'))));
    } else if ((m = HEADING.exec(line))) {
      const level = Math.min(6, headingLevel + m[1].length - 1);
      root.append(h(`h${level}`, { class: 'md-heading' }, inline(m[2])));
      i++;
    } else if (/^\s*\|/.test(line) && i + 1 < lines.length && TABLE_SEP.test(lines[i + 1])) {
      const head = splitRow(line);
      i += 2;
      const rows = [];
      while (i < lines.length && /^\s*\|/.test(lines[i])) rows.push(splitRow(lines[i++]));
      root.append(h('div', { class: 'table-wrap' }, h('table', { class: 'md-table' },
        h('thead', {}, h('tr', {}, head.map((c) => h('th', { scope: 'col' }, inline(c))))),
        h('tbody', {}, rows.map((r) => h('tr', {}, head.map((_, j) => h('td', {}, inline(r[j] || '')))))))));
    } else if ((m = LIST_ITEM.exec(line))) {
      const ordered = /\d/.test(m[1]);
      const items = [];
      while (i < lines.length) {
        const lm = LIST_ITEM.exec(lines[i]);
        if (lm) {
          items.push([lm[2]]);
          i++;
        } else if (lines[i].trim() !== '' && !startsBlock(lines[i], lines[i + 1])) {
          items[items.length - 1].push(lines[i].trim());
          i++;
        } else if (lines[i].trim() === '' && i + 1 < lines.length && LIST_ITEM.test(lines[i + 1])) {
          i++;
        } else {
          break;
        }
      }
      root.append(h(ordered ? 'ol' : 'ul', {}, items.map((it) => h('li', {}, inline(it.join(' '))))));
    } else {
      const para = [];
      while (i < lines.length && lines[i].trim() !== '' && (para.length === 0 || !startsBlock(lines[i], lines[i + 1]))) {
        para.push(lines[i].trim());
        i++;
      }
      root.append(h('p', {}, inline(para.join(' '))));
    }
  }
  return root;
}
