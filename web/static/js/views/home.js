// Home: open a bucket by name, or pick one used recently in this browser.

import { h, field } from '../dom.js';
import { href, recentBuckets, forgetBucket } from '../ui.js';

export function renderHome(view) {
  document.title = 'Buckets · Key-value gateway';
  const input = h('input', { name: 'bucket', autocomplete: 'off', spellcheck: false, required: true, list: 'recent-buckets' });
  const form = h('form', { class: 'card open-form', 'aria-labelledby': 'open-heading', onsubmit: (ev) => {
    ev.preventDefault();
    if (input.value.trim() !== '') location.hash = href.bucket(input.value);
  } },
  h('h2', { id: 'open-heading' }, 'Open a bucket'),
  h('div', { class: 'inline-fields' },
    field('Bucket name', input, 'Any UTF-8 name. The embedded store creates a bucket on its first write.'),
    h('button', { type: 'submit', class: 'primary' }, 'Open bucket')));

  const recentSection = h('section', { class: 'card', 'aria-labelledby': 'recent-heading' });
  const drawRecent = () => {
    recentSection.replaceChildren(h('h2', { id: 'recent-heading' }, 'Recent buckets'));
    const list = recentBuckets();
    if (!list.length) {
      recentSection.append(h('p', { class: 'muted' }, 'Buckets you open are remembered here, in this browser only.'));
      return;
    }
    recentSection.append(h('ul', { class: 'recent-list' }, list.map((b) => h('li', {},
      h('a', { href: href.bucket(b), class: 'mono' }, b),
      h('button', { type: 'button', class: 'link-button', 'aria-label': `Forget bucket ${b}`, onclick: () => {
        forgetBucket(b);
        drawRecent();
        const first = recentSection.querySelector('a, button');
        if (first) first.focus();
      } }, 'Forget')))));
  };
  drawRecent();

  view.append(
    h('h1', { tabIndex: -1 }, 'Buckets'),
    h('p', { class: 'lead' }, 'Browse and edit the key-value stores behind this gateway: list keys page by page, open a value as text, JSON, hex or base64, upload files, increment counters and run batch operations. ',
      h('a', { href: href.api() }, 'The API reference'), ' describes every route and lets you try it.'),
    form,
    recentSection);
}
