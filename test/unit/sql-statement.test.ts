import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { retrySqlRefusal, sqlShape } from '../../src/util/sql-statement.js';

describe('the shape of a SQL text', () => {
  it.each([
    ['select 1', 1],
    ['select 1;', 1],
    ['select 1;;  ; -- done\n', 1],
    ['select 1; commit; insert into t values (1)', 3],
    ["select 'a;b', 'it''s; fine'", 1],
    ["select E'\\'; commit; --'", 1],
    ["select e'\\\\'; commit", 2],
    ['select "odd;name"""', 1],
    ['select $$;commit;$$', 1],
    ['select $body$ $$;$$ ; $body$', 1],
    ['select $a$;$b$;$a$; select 2', 2],
    ['select $1::int; select 2', 2],
    ['select a$b$c; commit; select $b$', 3], // $ inside an identifier opens no dollar quote
    ['select 1 -- ; commit\n', 1],
    ['select 1 /* ; /* nested ; */ still ; */', 1],
    ['/* only */ -- comments\n', 0],
    ['', 0],
    ["select 'unterminated; commit", 1],
  ])('%j holds %i statement(s)', (text, n) => {
    expect(sqlShape(text).statements).toBe(n);
  });

  it('reads the leading words past comments, lower-case', () => {
    expect(sqlShape("/* a */ -- b\n  PREPARE TRANSACTION 'x'").leadingWords).toEqual(['prepare', 'transaction']);
    expect(sqlShape('(select 1)').leadingWords).toEqual([]);
  });

  it('never counts a semicolon inside a string, a dollar quote or a comment', () => {
    const inner = fc.string({ unit: fc.constantFrom(';', "'", '"', '$', '-', '*', '/', '\\', '\n', 'a', ' ') });
    fc.assert(
      fc.property(inner, (s) => {
        expect(sqlShape(`select '${s.replace(/'/g, "''")}'`).statements).toBe(1);
        expect(sqlShape(`select $q$${s}$q$`).statements).toBe(1); // s has no q
        expect(sqlShape(`select 1 /* ${s.replaceAll('/', '')} */`).statements).toBe(1);
        expect(sqlShape(`select 1 -- ${s.replace(/\n/g, '')}`).statements).toBe(1);
      }),
    );
  });

  it('reads any text to its end without throwing', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 300 }), (s) => {
        expect(sqlShape(s).statements).toBeGreaterThanOrEqual(0);
      }),
    );
  });
});

describe('what retrySql may be', () => {
  it('is one statement that is not transaction control', () => {
    expect(retrySqlRefusal('select name_display from tenants')).toBeUndefined();
    expect(retrySqlRefusal("insert into tenants (name) values ('x;y') returning id;")).toBeUndefined();
    expect(retrySqlRefusal('do $$ begin perform 1; end $$')).toBeUndefined();
    expect(retrySqlRefusal('prepare q as select 1')).toBeUndefined();
  });

  it('refuses several statements, saying how many', () => {
    expect(retrySqlRefusal('select 1; commit; insert into t values (1)')).toBe(
      'retrySql holds 3 statements: give exactly the one statement that was failing (it runs alone, in a transaction that is always rolled back).',
    );
  });

  it.each([
    'commit',
    "COMMIT PREPARED 'x'",
    'end',
    'rollback',
    'abort',
    'begin',
    'start transaction',
    'savepoint a',
    'release a',
    "prepare transaction 'x'",
    '/* c */ Commit;',
  ])('refuses transaction control: %s', (sql) => {
    expect(retrySqlRefusal(sql)).toMatch(
      /^retrySql is transaction control \([A-Z ]+\): give the statement that was failing/,
    );
  });

  it('refuses a text with no statement', () => {
    expect(retrySqlRefusal(' -- nothing\n')).toBe(
      'retrySql holds no statement (only blanks or comments): give the one statement that was failing.',
    );
  });
});
