/**
 * The shape of a SQL text, read with PostgreSQL's lexical rules (strings, E'' strings, quoted
 * identifiers, dollar quotes, nested comments), without a parser: how many statements it holds
 * and the words it starts with. It gives early answers (input schemas, the workflow's check
 * before any change); the rule at run time is PostgreSQL's own parser (see activities/retry-sql.ts).
 */

export interface SqlShape {
  /** Statements with content between top-level semicolons (blank and comment-only ones do not count). */
  statements: number;
  /** The first words of the first statement, lower-case (up to two). */
  leadingWords: string[];
}

/** How long the retried statement may run and wait for a lock (PostgreSQL duration syntax). */
export const RETRY_SQL_LIMITS = { statementTimeout: '30s', lockTimeout: '5s' } as const;

/** Statements that begin, end or split a transaction: the retry's own transaction must stay the only one. */
const TRANSACTION_CONTROL = new Set(['begin', 'start', 'commit', 'end', 'rollback', 'abort', 'savepoint', 'release']);

const IDENT_START = /[A-Za-z_\u0080-\uffff]/;
const IDENT_CONT = /[A-Za-z0-9_$\u0080-\uffff]/;
const DOLLAR_TAG = /^\$(?:[A-Za-z_\u0080-\uffff][A-Za-z0-9_\u0080-\uffff]*)?\$/;

export function sqlShape(text: string): SqlShape {
  let statements = 0;
  let content = false; // the current statement has a token
  let leadingWords: string[] | undefined;
  let words: string[] = []; // leading words of the current statement
  let wordsOpen = true; // no other token yet in the current statement
  const token = (word?: string) => {
    content = true;
    if (word !== undefined && wordsOpen && words.length < 2) words.push(word.toLowerCase());
    else wordsOpen = false;
  };
  const endStatement = () => {
    if (content) {
      statements++;
      leadingWords ??= words;
    }
    content = false;
    words = [];
    wordsOpen = true;
  };
  /** Index after a quoted run opened at `i` by `quote` ('' or "" doubled inside); backslash escapes with `backslash`. */
  const skipQuoted = (i: number, quote: string, backslash: boolean) => {
    let j = i + 1;
    while (j < text.length) {
      const ch = text[j]!;
      if (backslash && ch === '\\') j += 2;
      else if (ch === quote && text[j + 1] === quote) j += 2;
      else if (ch === quote) return j + 1;
      else j++;
    }
    return text.length;
  };

  let i = 0;
  while (i < text.length) {
    const ch = text[i]!;
    if (/\s/.test(ch)) i++;
    else if (ch === '-' && text[i + 1] === '-') {
      const nl = text.indexOf('\n', i);
      i = nl < 0 ? text.length : nl + 1;
    } else if (ch === '/' && text[i + 1] === '*') {
      let depth = 1;
      i += 2;
      while (i < text.length && depth > 0) {
        const pair = text.slice(i, i + 2);
        depth += pair === '/*' ? 1 : pair === '*/' ? -1 : 0;
        i += pair === '/*' || pair === '*/' ? 2 : 1;
      }
    } else if (ch === ';') {
      endStatement();
      i++;
    } else if (ch === "'") {
      token();
      i = skipQuoted(i, "'", false);
    } else if (ch === '"') {
      token();
      i = skipQuoted(i, '"', false);
    } else if (ch === '$') {
      token();
      const tag = DOLLAR_TAG.exec(text.slice(i))?.[0];
      if (tag) {
        const close = text.indexOf(tag, i + tag.length);
        i = close < 0 ? text.length : close + tag.length;
      } else {
        i++; // $1: a parameter
        while (i < text.length && /[0-9]/.test(text[i]!)) i++;
      }
    } else if (IDENT_START.test(ch)) {
      let j = i + 1;
      while (j < text.length && IDENT_CONT.test(text[j]!)) j++;
      const word = text.slice(i, j);
      if ((word === 'e' || word === 'E') && text[j] === "'") {
        token(); // E'…': backslash escapes
        i = skipQuoted(j, "'", true);
      } else {
        token(word);
        i = j;
      }
    } else if (/[0-9]/.test(ch)) {
      token();
      i++;
      while (i < text.length && /[0-9A-Za-z_.]/.test(text[i]!)) i++;
    } else {
      token();
      i++;
    }
  }
  endStatement();
  return { statements, leadingWords: leadingWords ?? [] };
}

/** Why a retrySql cannot be retried as given, in one sentence; undefined when its shape is fine. */
export function retrySqlRefusal(text: string): string | undefined {
  const { statements, leadingWords } = sqlShape(text);
  if (statements === 0)
    return 'retrySql holds no statement (only blanks or comments): give the one statement that was failing.';
  if (statements > 1)
    return `retrySql holds ${statements} statements: give exactly the one statement that was failing (it runs alone, in a transaction that is always rolled back).`;
  const [first, second] = leadingWords;
  if (first && (TRANSACTION_CONTROL.has(first) || (first === 'prepare' && second === 'transaction'))) {
    return `retrySql is transaction control (${leadingWords.join(' ').toUpperCase()}): give the statement that was failing; the retry runs it in a transaction of its own that is always rolled back.`;
  }
  return undefined;
}
