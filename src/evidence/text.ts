import type { Section } from './view.js';

/** The evidence view as terminal text (`runbook status`) and as Markdown (the incident timeline). */

function columns(head: string[], rows: string[][]): string[] {
  const widths = head.map((h, i) => Math.min(60, Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length))));
  return [head, ...rows].map((r) =>
    r
      .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd(),
  );
}

/** Plain text, each line prefixed with `indent`. */
export function viewText(sections: Section[], indent = ''): string[] {
  if (sections.length === 0) return [`${indent}(no evidence recorded)`];
  const out: string[] = [];
  const more = `${indent}  `;
  for (const s of sections) {
    out.push(`${indent}${s.title}:`);
    if (s.kind === 'facts') out.push(...s.facts.map((f) => `${more}${f.label}: ${f.value}`));
    else if (s.kind === 'list') out.push(...s.items.map((i) => `${more}- ${i}`));
    else if (s.kind === 'table' && s.rows.length)
      out.push(
        ...columns(
          s.columns.map((c) => c.toUpperCase()),
          s.rows,
        ).map((l) => `${more}${l}`),
      );
    else if (s.kind === 'code') out.push(...s.text.split('\n').map((l) => `${more}| ${l}`));
    if (s.note) out.push(`${more}(${s.note})`);
  }
  return out;
}

const cell = (t: string) => t.replace(/\\/g, '\\\\').replace(/\|/g, '\\|').replace(/\n/g, ' ');
/** A fence longer than any run of backticks inside, so a code block cannot be closed by its text. */
const fence = (text: string) => '`'.repeat(Math.max(3, ...[...text.matchAll(/`+/g)].map((m) => m[0].length + 1)));

export function viewMarkdown(sections: Section[]): string[] {
  if (sections.length === 0) return ['_No evidence recorded._'];
  const out: string[] = [];
  for (const s of sections) {
    out.push(`**${s.title}**`, '');
    if (s.kind === 'facts') out.push(...s.facts.map((f) => `- ${f.label}: ${f.value.replace(/\n/g, ' ')}`));
    else if (s.kind === 'list') out.push(...s.items.map((i) => `- ${i.replace(/\n/g, ' ')}`));
    else if (s.kind === 'table' && s.rows.length)
      out.push(
        `| ${s.columns.map(cell).join(' | ')} |`,
        `|${s.columns.map(() => '---').join('|')}|`,
        ...s.rows.map((r) => `| ${r.map(cell).join(' | ')} |`),
      );
    else if (s.kind === 'code') {
      const f = fence(s.text);
      out.push(`${f}${s.language === 'text' ? '' : s.language}`, s.text, f);
    }
    if (s.note) out.push('', s.note);
    out.push('');
  }
  return out;
}
